//! Bounds on the work one request may ask for: the values a multi-valued attribute may hold,
//! and the operations and value-filter comparisons of one PATCH. Pure: no I/O.

use serde_json::Value;

use super::error::{ScimError, ScimType};
use super::filter::Filter;
use super::patch::PatchOperation;

/// The comparisons in a filter: `type eq "work" and value co "x"` counts 2,
/// `emails[type eq "work"]` counts 2 (the path and its element filter).
pub fn filter_terms(f: &Filter) -> usize {
    match f {
        Filter::Present(_) | Filter::Compare(..) => 1,
        Filter::ValuePath(_, inner) => 1 + filter_terms(inner),
        Filter::And(a, b) | Filter::Or(a, b) => filter_terms(a) + filter_terms(b),
        Filter::Not(a) => filter_terms(a),
    }
}

/// The work a PATCH asks for: per operation, the comparisons in its value filter, or 1.
pub fn patch_terms(ops: &[PatchOperation]) -> usize {
    ops.iter()
        .map(|op| {
            op.path
                .as_ref()
                .and_then(|p| p.filter.as_ref())
                .map_or(1, |f| filter_terms(f).max(1))
        })
        .sum()
}

/// Refuses a PATCH asking for more than `max` (see [`patch_terms`]).
pub fn check_patch(ops: &[PatchOperation], max: usize) -> Result<(), ScimError> {
    let terms = patch_terms(ops);
    if terms > max {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!(
                "this PATCH asks for {terms} operations and value-filter comparisons ({} \
                 operations); at most {max} are accepted in one request",
                ops.len()
            ),
        ));
    }
    Ok(())
}

/// How many values each multi-valued attribute of a resource document holds: the lists at
/// the top level (but `schemas`) and in extension objects (`urn:…:attr`).
pub fn value_counts(doc: &Value) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let Value::Object(root) = doc else {
        return out;
    };
    for (key, value) in root {
        match value {
            Value::Array(list) if !key.eq_ignore_ascii_case("schemas") => {
                out.push((key.clone(), list.len()));
            }
            Value::Object(ext) if key.len() > 4 && key[..4].eq_ignore_ascii_case("urn:") => {
                for (attr, v) in ext {
                    if let Value::Array(list) = v {
                        out.push((format!("{key}:{attr}"), list.len()));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Refuses a document with a multi-valued attribute holding more than `max` values, unless
/// it held no fewer before the change (`before`, from [`value_counts`]: a list stored before
/// the cap may shrink or stay, never grow).
pub fn check_values(doc: &Value, max: usize, before: &[(String, usize)]) -> Result<(), ScimError> {
    for (name, n) in value_counts(doc) {
        if n <= max {
            continue;
        }
        let had = before
            .iter()
            .find(|(b, _)| b.eq_ignore_ascii_case(&name))
            .map_or(0, |(_, n)| *n);
        if n > had {
            return Err(too_many_values(&name, n, max));
        }
    }
    Ok(())
}

/// Refuses a request value carrying a list longer than `max` anywhere in it (checked before
/// the value is applied, so that merging it costs at most `max` comparisons per element).
pub fn check_value_lists(value: &Value, max: usize) -> Result<(), ScimError> {
    match value {
        Value::Array(list) if list.len() > max => {
            Err(too_many_values("a list in the request", list.len(), max))
        }
        Value::Array(list) => list.iter().try_for_each(|v| check_value_lists(v, max)),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| match v {
            Value::Array(list) if list.len() > max => Err(too_many_values(k, list.len(), max)),
            _ => check_value_lists(v, max),
        }),
        _ => Ok(()),
    }
}

fn too_many_values(name: &str, n: usize, max: usize) -> ScimError {
    let name = name.rsplit(':').next().unwrap_or(name);
    ScimError::invalid_value(format!(
        "{name} would hold {n} values; at most {max} are accepted per multi-valued attribute"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::patch::parse_patch_request;

    fn ops(v: Value) -> Vec<PatchOperation> {
        parse_patch_request(&v).expect("valid PATCH")
    }

    #[test]
    fn terms_count_filter_comparisons_or_one_per_operation() {
        let p = ops(json!({"Operations": [
            {"op": "replace", "path": "title", "value": "x"},
            {"op": "remove", "path": "emails[value eq \"a\" or value eq \"b\" or value eq \"c\"]"},
            {"op": "add", "value": {"nickName": "n"}},
            {"op": "replace", "path": "emails[type eq \"work\" and not (primary eq false)].value", "value": "v"},
        ]}));
        assert_eq!(patch_terms(&p), 1 + 3 + 1 + 2);
        assert!(check_patch(&p, 7).is_ok());
        let err = check_patch(&p, 6).expect_err("over the cap");
        assert_eq!(err.status, 400);
        assert!(err.detail.contains("at most 6"), "{}", err.detail);
    }

    #[test]
    fn value_lists_may_not_grow_past_the_cap() {
        let doc = json!({
            "schemas": ["a", "b", "c"],
            "emails": [1, 2, 3],
            "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"skillGroups": [1, 2]},
        });
        assert!(check_values(&doc, 3, &[]).is_ok());
        let err = check_values(&doc, 2, &[]).expect_err("emails over 2");
        assert!(
            err.detail.starts_with("emails would hold 3 values"),
            "{}",
            err.detail
        );
        // Stored before the cap: may stay or shrink, not grow.
        assert!(check_values(&doc, 2, &[("emails".into(), 3)]).is_ok());
        assert!(check_values(&doc, 2, &[("emails".into(), 2)]).is_err());
        let err = check_values(&doc, 1, &[("emails".into(), 3)]).expect_err("skillGroups");
        assert!(
            err.detail.starts_with("skillGroups would hold 2"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn request_lists_are_bounded_at_any_depth() {
        assert!(check_value_lists(&json!({"emails": [1, 2]}), 2).is_ok());
        assert!(check_value_lists(&json!([1, 2, 3]), 2).is_err());
        let nested = json!({"urn:x:Agent": {"channels": [1, 2, 3]}});
        let err = check_value_lists(&nested, 2).expect_err("nested list");
        assert!(
            err.detail.starts_with("channels would hold 3"),
            "{}",
            err.detail
        );
    }
}
