//! Add, replace and remove on a whole attribute or a sub-attribute: values coerced to the
//! attribute's type, one primary kept.

use serde_json::{Map, Value};

use super::OpKind;
use super::apply::{key_ci, remove_ci, take};
use crate::scim::error::ScimError;
use crate::scim::get_ci;
use crate::scim::schema::{AttrDef, AttrType, Mutability};

/// A value made to fit the attribute's type: `"True"` → `true`, `"5"` → `5`, a single object
/// for a multi-valued attribute → a list of one.
pub(super) fn coerce(def: &AttrDef, value: &Value, whole: bool) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued && whole {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if !item.is_null() {
                out.push(coerce(def, item, false)?);
            }
        }
        return Ok(Value::Array(out));
    }
    let bad = |what: &str| ScimError::invalid_value(format!("{} must be {what}", def.name));
    Ok(match def.ty {
        AttrType::Boolean => match value {
            Value::Bool(_) => value.clone(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("an integer"))?,
            _ => return Err(bad("an integer")),
        },
        AttrType::String | AttrType::Reference | AttrType::DateTime => match value {
            Value::String(_) | Value::Number(_) => value.clone(),
            Value::Object(_) if def.multi_valued => value.clone(),
            _ => return Err(bad("a string")),
        },
        AttrType::Complex => match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    match def.sub(k) {
                        Some(sub) => {
                            out.insert(sub.name.to_owned(), coerce(sub, v, true)?);
                        }
                        None => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                Value::Object(out)
            }
            // A bare value for a complex attribute (`manager: "id"`, `emails: ["a@x"]`).
            Value::String(_) | Value::Number(_) => value.clone(),
            _ => return Err(bad("an object")),
        },
    })
}

pub(super) fn is_primary(v: &Value) -> bool {
    v.get("primary").and_then(Value::as_bool) == Some(true)
}

/// At most one element may be primary: the one at `keep` wins.
pub(super) fn settle_primary(list: &mut [Value], keep: usize) {
    if !list.get(keep).is_some_and(is_primary) {
        return;
    }
    for (i, el) in list.iter_mut().enumerate() {
        if i != keep
            && let Value::Object(m) = el
            && m.get("primary").and_then(Value::as_bool) == Some(true)
        {
            m.insert("primary".into(), Value::Bool(false));
        }
    }
}

/// The comparable identity of a multi-value element: its `value`, or itself.
fn element_key(v: &Value) -> Value {
    match v {
        Value::Object(m) => get_ci(m, "value").cloned().unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

fn same_element(def: &AttrDef, a: &Value, b: &Value) -> bool {
    let case_exact = def.sub("value").map_or(def.case_exact, |s| s.case_exact);
    match (element_key(a), element_key(b)) {
        (Value::String(x), Value::String(y)) if !case_exact => x.eq_ignore_ascii_case(&y),
        (x, y) => x == y,
    }
}

pub(super) fn whole_attribute(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let current = take(m, def.name);
    let new = match op {
        OpKind::Remove => match (def.multi_valued, value, current) {
            // Remove only the listed elements (Entra ID's way of removing some values).
            (true, Some(v), Some(Value::Array(mut list))) if !v.is_null() => {
                let Value::Array(gone) = coerce(def, v, true)? else {
                    return Ok(());
                };
                list.retain(|el| !gone.iter().any(|g| same_element(def, el, g)));
                Some(Value::Array(list))
            }
            _ => None,
        },
        OpKind::Add | OpKind::Replace => {
            let v = coerce(def, value.unwrap_or(&Value::Null), true)?;
            match (op, def.multi_valued, current, v) {
                (_, _, _, Value::Null) if op == OpKind::Replace => None,
                (_, _, current, Value::Null) => current,
                (OpKind::Add, true, Some(Value::Array(mut list)), Value::Array(new)) => {
                    for item in new {
                        if let Some(i) = list.iter().position(|el| same_element(def, el, &item)) {
                            merge_into(&mut list[i], item);
                            settle_primary(&mut list, i);
                        } else {
                            list.push(item);
                            let last = list.len() - 1;
                            settle_primary(&mut list, last);
                        }
                    }
                    Some(Value::Array(list))
                }
                (_, true, _, Value::Array(mut new)) => {
                    if let Some(first) = new.iter().position(is_primary) {
                        settle_primary(&mut new, first);
                    }
                    Some(Value::Array(new))
                }
                // A single-valued complex attribute: the given sub-attributes replace or add.
                (_, false, Some(mut cur @ Value::Object(_)), new @ Value::Object(_)) => {
                    merge_into(&mut cur, new);
                    Some(cur)
                }
                (_, _, _, new) => Some(new),
            }
        }
    };
    if let Some(v) = new {
        m.insert(def.name.to_owned(), v);
    }
    Ok(())
}

/// Sets each key of `new` on `target` (both objects); otherwise replaces `target`.
pub(super) fn merge_into(target: &mut Value, new: Value) {
    match (target, new) {
        (Value::Object(t), Value::Object(n)) => {
            for (k, v) in n {
                if let Some(existing) = key_ci(t, &k) {
                    t.remove(&existing);
                }
                if !v.is_null() {
                    t.insert(k, v);
                }
            }
        }
        (t, n) => *t = n,
    }
}

pub(super) fn sub_def(def: &AttrDef, sub: &str) -> Result<&'static AttrDef, ScimError> {
    if def.ty != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "{} has no sub-attributes",
            def.name
        )));
    }
    let s = def.sub(sub).ok_or_else(|| {
        ScimError::invalid_path(format!("{} has no sub-attribute {sub:?}", def.name))
    })?;
    if s.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!(
            "{}.{} is read-only",
            def.name, s.name
        )));
    }
    Ok(s)
}

/// Sets (or removes, for `remove` or a null value) one sub-attribute of an object element.
pub(super) fn set_sub(el: &mut Value, sub: &AttrDef, op: OpKind, value: &Value) {
    if !el.is_object() {
        // A bare value promoted to an object keeps its value.
        let old = std::mem::take(el);
        let mut m = Map::new();
        if !old.is_null() {
            m.insert("value".into(), old);
        }
        *el = Value::Object(m);
    }
    if let Value::Object(m) = el {
        remove_ci(m, sub.name);
        if op != OpKind::Remove && !value.is_null() {
            m.insert(sub.name.to_owned(), value.clone());
        }
    }
}

pub(super) fn sub_attribute(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    sub: &str,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let sdef = sub_def(def, sub)?;
    let v = match op {
        OpKind::Remove => Value::Null,
        _ => coerce(sdef, value.unwrap_or(&Value::Null), true)?,
    };
    let current = take(m, def.name);
    let new = if def.multi_valued {
        let mut list = match current {
            Some(Value::Array(list)) => list,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        if list.is_empty() && op != OpKind::Remove && !v.is_null() {
            list.push(Value::Object(Map::new()));
        }
        for el in &mut list {
            set_sub(el, sdef, op, &v);
        }
        (!list.is_empty()).then_some(Value::Array(list))
    } else {
        let mut obj = match current {
            Some(o @ Value::Object(_)) => o,
            Some(other) => {
                let mut o = Map::new();
                o.insert("value".into(), other);
                Value::Object(o)
            }
            None => Value::Object(Map::new()),
        };
        set_sub(&mut obj, sdef, op, &v);
        obj.as_object()
            .is_some_and(|o| !o.is_empty())
            .then_some(obj)
    };
    if let Some(v) = new {
        m.insert(def.name.to_owned(), v);
    }
    Ok(())
}
