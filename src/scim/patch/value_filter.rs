//! Add, replace and remove through a value filter (`emails[type eq "work"].value`), creating the
//! element when nothing matches.

use serde_json::{Map, Value};

use super::OpKind;
use super::apply::take;
use super::attribute::{coerce, is_primary, merge_into, set_sub, settle_primary, sub_def};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter, matches_element};
use crate::scim::schema::AttrDef;

/// The element a filter made only of `and`-joined `eq` comparisons describes
/// (`type eq "work"` → `{"type": "work"}`), for `add`/`replace` that match nothing.
fn element_from_filter(def: &AttrDef, f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::And(a, b) => element_from_filter(def, a, out) && element_from_filter(def, b, out),
        Filter::Compare(p, CompareOp::Eq, v) if p.sub_attr.is_none() && p.urn.is_none() => {
            let Some(sub) = def.sub(&p.attr) else {
                return false;
            };
            let json = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return false,
            };
            match coerce(sub, &json, true) {
                Ok(v) => {
                    out.insert(sub.name.to_owned(), v);
                    true
                }
                Err(_) => false,
            }
        }
        _ => false,
    }
}

pub(super) fn filtered(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    filter: &Filter,
    sub: Option<&str>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "{} is not multi-valued",
            def.name
        )));
    }
    let sdef = sub.map(|s| sub_def(def, s)).transpose()?;
    let case_exact = |name: &str| def.sub(name).is_some_and(|s| s.case_exact);
    let mut list = match take(m, def.name) {
        Some(Value::Array(list)) => list,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let hits: Vec<usize> = (0..list.len())
        .filter(|&i| matches_element(filter, &list[i], &case_exact))
        .collect();
    let result = (|| {
        match (op, sdef) {
            (OpKind::Remove, None) => {
                let mut hit = vec![false; list.len()];
                for &i in &hits {
                    hit[i] = true;
                }
                let mut i = 0;
                list.retain(|_| {
                    i += 1;
                    !hit[i - 1]
                });
            }
            (OpKind::Remove, Some(s)) => {
                for &i in &hits {
                    set_sub(&mut list[i], s, op, &Value::Null);
                }
            }
            (_, Some(s)) => {
                let v = coerce(s, value.unwrap_or(&Value::Null), true)?;
                if hits.is_empty() {
                    let mut el = Map::new();
                    if !element_from_filter(def, filter, &mut el) {
                        return Err(ScimError::no_target(format!(
                            "no {} element matches the filter",
                            def.name
                        )));
                    }
                    if !v.is_null() {
                        el.insert(s.name.to_owned(), v);
                    }
                    list.push(Value::Object(el));
                    let last = list.len() - 1;
                    settle_primary(&mut list, last);
                } else {
                    for &i in &hits {
                        set_sub(&mut list[i], s, op, &v);
                    }
                    if let Some(&i) = hits.iter().find(|&&i| is_primary(&list[i])) {
                        settle_primary(&mut list, i);
                    }
                }
            }
            (_, None) => {
                let v = coerce(def, value.unwrap_or(&Value::Null), false)?;
                if !v.is_object() {
                    return Err(ScimError::invalid_value(format!(
                        "the value for a filtered {} path must be an object",
                        def.name
                    )));
                }
                if hits.is_empty() {
                    let mut el = Map::new();
                    // RFC 7644 §3.5.2.3: a replace whose filter matches nothing fails.
                    if op == OpKind::Replace {
                        return Err(ScimError::no_target(format!(
                            "no {} element matches the filter",
                            def.name
                        )));
                    }
                    element_from_filter(def, filter, &mut el);
                    let mut el = Value::Object(el);
                    merge_into(&mut el, v);
                    list.push(el);
                    let last = list.len() - 1;
                    settle_primary(&mut list, last);
                } else {
                    for &i in &hits {
                        if op == OpKind::Replace {
                            list[i] = v.clone();
                        } else {
                            merge_into(&mut list[i], v.clone());
                        }
                    }
                    if let Some(&i) = hits.iter().find(|&&i| is_primary(&list[i])) {
                        settle_primary(&mut list, i);
                    }
                }
            }
        }
        Ok(())
    })();
    if !list.is_empty() {
        m.insert(def.name.to_owned(), Value::Array(list));
    }
    result
}
