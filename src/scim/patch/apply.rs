//! Applying operations to a resource document: the caps per operation, path-less values, and the
//! dispatch of a path to its target.

use serde_json::{Map, Value};

use super::attribute::{sub_attribute, whole_attribute};
use super::value_filter::filtered;
use super::{OpKind, PatchOperation};
use crate::scim::error::ScimError;
use crate::scim::filter::{PatchPath, parse_attr_path};
use crate::scim::limits;
use crate::scim::schema::{Mutability, ResourceKind};

/// Applies operations, in order, to a resource document (as rendered by `to_json`).
/// Either all apply or an error is returned; the caller discards the document on error.
/// No list in an operation's value, and no multi-valued attribute after an operation, may
/// hold more than `max_values` values (an attribute stored longer may shrink or stay).
pub fn apply_patch(
    kind: ResourceKind,
    doc: &mut Value,
    ops: &[PatchOperation],
    max_values: usize,
) -> Result<(), ScimError> {
    let before = limits::value_counts(doc);
    for op in ops {
        if let Some(v) = &op.value {
            limits::check_value_lists(v, max_values)?;
        }
        let Value::Object(root) = &mut *doc else {
            return Err(ScimError::internal());
        };
        match &op.path {
            Some(path) => apply_at(kind, root, op.op, path, op.value.as_ref(), true)?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_syntax(
                        "without a path, value must be an object",
                    ));
                };
                apply_pathless(kind, root, op.op, None, values)?;
            }
        }
        limits::check_values(doc, max_values, &before)?;
    }
    Ok(())
}

/// A path-less add/replace: every key of `values` is a target (`"name.givenName"`,
/// `"urn:…:enterprise:2.0:User:department"`, or an extension URN with an object).
fn apply_pathless(
    kind: ResourceKind,
    root: &mut Map<String, Value>,
    op: OpKind,
    urn: Option<&str>,
    values: &Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, value) in values {
        // Clients echo these (scim2-tester, some IdPs send a whole extension object with
        // its own `schemas`); they are not attributes to change.
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        if urn.is_none()
            && let Some(ext) = kind.extension(key)
        {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    ext.id
                )));
            };
            apply_pathless(kind, root, op, Some(ext.id), inner)?;
            continue;
        }
        let mut attr = parse_attr_path(key)
            .map_err(|e| ScimError::invalid_path(format!("attribute {key:?}: {e}")))?;
        if attr.urn.is_none() {
            attr.urn = urn.map(str::to_owned);
        }
        let path = PatchPath {
            attr,
            filter: None,
            sub_attr: None,
        };
        apply_at(kind, root, op, &path, Some(value), false)?;
    }
    Ok(())
}

fn path_text(path: &PatchPath) -> String {
    let mut s = String::new();
    if let Some(u) = &path.attr.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&path.attr.attr);
    if let Some(sub) = &path.attr.sub_attr {
        s.push('.');
        s.push_str(sub);
    }
    if path.filter.is_some() {
        s.push_str("[…]");
    }
    if let Some(sub) = &path.sub_attr {
        s.push('.');
        s.push_str(sub);
    }
    s
}

fn apply_at(
    kind: ResourceKind,
    root: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    explicit: bool,
) -> Result<(), ScimError> {
    // A path naming a whole extension: `urn:…:enterprise:2.0:User`.
    if let Some(urn) = &path.attr.urn
        && path.filter.is_none()
        && path.attr.sub_attr.is_none()
        && let Some(ext) = kind.extension(&format!("{urn}:{}", path.attr.attr))
    {
        return match (op, value) {
            (OpKind::Remove, _) => {
                remove_ci(root, ext.id);
                Ok(())
            }
            (_, Some(Value::Object(inner))) => apply_pathless(kind, root, op, Some(ext.id), inner),
            _ => Err(ScimError::invalid_value(format!(
                "{} must be an object",
                ext.id
            ))),
        };
    }
    if path.attr.attr.eq_ignore_ascii_case("schemas") && path.attr.urn.is_none() {
        return Ok(());
    }
    let (schema, def) = kind
        .lookup(path.attr.urn.as_deref(), &path.attr.attr)
        .ok_or_else(|| ScimError::invalid_path(format!("no attribute {:?}", path_text(path))))?;
    if def.mutability == Mutability::ReadOnly {
        if !explicit && matches!(def.name, "id" | "meta") {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("{} is read-only", def.name)));
    }
    let whole = path.filter.is_none() && path.attr.sub_attr.is_none();
    if def.required && whole && (op == OpKind::Remove || value.is_some_and(Value::is_null)) {
        return Err(ScimError::invalid_value(format!(
            "{} is required and cannot be removed",
            def.name
        )));
    }
    let change =
        |container: &mut Map<String, Value>| match (&path.filter, path.attr.sub_attr.as_deref()) {
            (None, None) => whole_attribute(container, def, op, value),
            (None, Some(sub)) => sub_attribute(container, def, sub, op, value),
            (Some(filter), None) => {
                filtered(container, def, filter, path.sub_attr.as_deref(), op, value)
            }
            (Some(_), Some(_)) => Err(ScimError::invalid_path(format!(
                "{} puts a value filter after a sub-attribute",
                path_text(path)
            ))),
        };
    // Core and common attributes live in the resource itself; extension attributes in the
    // extension's object, created when absent.
    match schema.filter(|s| s.id != kind.core().id) {
        None => change(root),
        Some(ext) => {
            let mut inner = match remove_ci(root, ext.id) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            let result = change(&mut inner);
            root.insert(ext.id.to_owned(), Value::Object(inner));
            result
        }
    }
}

pub(super) fn key_ci(m: &Map<String, Value>, key: &str) -> Option<String> {
    if m.contains_key(key) {
        return Some(key.to_owned());
    }
    m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

pub(super) fn remove_ci(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = key_ci(m, key)?;
    m.remove(&k)
}

/// Takes the attribute out of `m` under its canonical name (merging a differently-cased key).
pub(super) fn take(m: &mut Map<String, Value>, name: &str) -> Option<Value> {
    remove_ci(m, name).filter(|v| !v.is_null())
}
