//! Group membership changes split off a Group PATCH, as member ids, so the store can apply them
//! without loading the group.

use serde_json::Value;

use super::{MemberChange, OpKind, PatchOperation};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::get_ci;

fn is_members(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("members")
        && path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(crate::scim::GROUP_SCHEMA))
}

/// Separates a Group PATCH's membership changes (applied by id in the store) from the rest.
pub fn split_member_ops(
    ops: Vec<PatchOperation>,
) -> Result<(Vec<MemberChange>, Vec<PatchOperation>), ScimError> {
    let mut changes = Vec::new();
    let mut rest = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) if is_members(&path.attr) => {
                if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
                    return Err(ScimError::invalid_path(
                        "members can only be changed as a whole",
                    ));
                }
                changes.push(member_change(
                    op.op,
                    path.filter.as_ref(),
                    op.value.as_ref(),
                )?);
            }
            Some(_) => rest.push(op),
            None => {
                let Some(Value::Object(mut value)) = op.value else {
                    rest.push(op);
                    continue;
                };
                let key = value
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("members"))
                    .cloned();
                if let Some(key) = key {
                    let members = value.remove(&key).unwrap_or(Value::Null);
                    changes.push(member_change(op.op, None, Some(&members))?);
                }
                if !value.is_empty() {
                    rest.push(PatchOperation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(value)),
                    });
                }
            }
        }
    }
    Ok((changes, rest))
}

fn member_change(
    op: OpKind,
    filter: Option<&Filter>,
    value: Option<&Value>,
) -> Result<MemberChange, ScimError> {
    if let Some(f) = filter {
        if op != OpKind::Remove {
            return Err(ScimError::invalid_path(
                "a members filter can only be used to remove members",
            ));
        }
        let mut ids = Vec::new();
        collect_value_eq(f, &mut ids)?;
        return Ok(MemberChange::Remove(ids));
    }
    match op {
        OpKind::Remove => match value {
            None | Some(Value::Null) => Ok(MemberChange::RemoveAll),
            Some(v) => Ok(MemberChange::Remove(member_ids(v)?)),
        },
        OpKind::Add => Ok(MemberChange::Add(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
        OpKind::Replace => Ok(MemberChange::Replace(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
    }
}

/// `value eq "a" or value eq "b"` → `[a, b]`.
fn collect_value_eq(f: &Filter, ids: &mut Vec<String>) -> Result<(), ScimError> {
    match f {
        Filter::Or(a, b) => {
            collect_value_eq(a, ids)?;
            collect_value_eq(b, ids)
        }
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(id))
            if p.attr.eq_ignore_ascii_case("value") && p.sub_attr.is_none() && p.urn.is_none() =>
        {
            ids.push(id.clone());
            Ok(())
        }
        _ => Err(ScimError::invalid_filter(
            "a members filter must be value eq \"id\" (optionally joined with or)",
        )),
    }
}

/// Member ids from `[{"value": id, …}]`, a single such object, or bare id strings.
fn member_ids(v: &Value) -> Result<Vec<String>, ScimError> {
    let one = |item: &Value| -> Result<String, ScimError> {
        match item {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::Object(m) => match get_ci(m, "value") {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                _ => Err(ScimError::invalid_value(
                    "each member needs a value (the member's id)",
                )),
            },
            _ => Err(ScimError::invalid_value(
                "members must be objects with a value",
            )),
        }
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}
