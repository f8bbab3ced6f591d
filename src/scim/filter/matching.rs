//! Matching a value filter against a JSON element of a multi-valued attribute, and the
//! comparison of text and JSON values it uses.

use serde_json::Value;

use super::{AttrPath, CompValue, CompareOp, Filter};

/// Whether a JSON element of a multi-valued attribute matches a value filter (the part
/// between brackets). Used by PATCH to pick the elements a path targets. `case_exact` says
/// whether a sub-attribute compares case-sensitively.
pub fn matches_element(
    filter: &Filter,
    element: &Value,
    case_exact: &dyn Fn(&str) -> bool,
) -> bool {
    match filter {
        Filter::And(a, b) => {
            matches_element(a, element, case_exact) && matches_element(b, element, case_exact)
        }
        Filter::Or(a, b) => {
            matches_element(a, element, case_exact) || matches_element(b, element, case_exact)
        }
        Filter::Not(a) => !matches_element(a, element, case_exact),
        Filter::ValuePath(..) => false,
        Filter::Present(path) => match element_field(element, path) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        },
        Filter::Compare(path, op, expected) => {
            let exact = case_exact(&path.attr);
            match element_field(element, path) {
                None | Some(Value::Null) => match (op, expected) {
                    (CompareOp::Eq, CompValue::Null) => true,
                    (CompareOp::Ne, CompValue::Null) => false,
                    (CompareOp::Ne, _) => true,
                    _ => false,
                },
                Some(actual) => compare_json(actual, *op, expected, exact),
            }
        }
    }
}

/// A sub-attribute of an element; an element that is a bare string is its own `value`.
fn element_field<'a>(element: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match element {
        Value::Object(m) => {
            let v = crate::scim::get_ci(m, &path.attr)?;
            match &path.sub_attr {
                None => Some(v),
                Some(sub) => match v {
                    Value::Object(inner) => crate::scim::get_ci(inner, sub),
                    _ => None,
                },
            }
        }
        other if path.attr.eq_ignore_ascii_case("value") && path.sub_attr.is_none() => Some(other),
        _ => None,
    }
}

/// `actual op expected` on two texts, ignoring case unless `case_exact` (RFC 7644 §3.4.2.2).
pub fn compare_text(actual: &str, op: CompareOp, expected: &str, case_exact: bool) -> bool {
    let (a, e) = if case_exact {
        (actual.to_owned(), expected.to_owned())
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    match op {
        CompareOp::Eq => a == e,
        CompareOp::Ne => a != e,
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        CompareOp::Gt => a > e,
        CompareOp::Ge => a >= e,
        CompareOp::Lt => a < e,
        CompareOp::Le => a <= e,
    }
}

fn compare_json(actual: &Value, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => return compare_text(a, op, e, case_exact),
        (Value::Bool(a), CompValue::Bool(e)) => Some(a.cmp(e)),
        (Value::Bool(a), CompValue::Str(e)) if e.eq_ignore_ascii_case("true") => Some(a.cmp(&true)),
        (Value::Bool(a), CompValue::Str(e)) if e.eq_ignore_ascii_case("false") => {
            Some(a.cmp(&false))
        }
        (Value::Number(a), CompValue::Num(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e),
            _ => None,
        },
        (Value::String(a), CompValue::Bool(e)) => {
            if a.eq_ignore_ascii_case("true") {
                Some(true.cmp(e))
            } else if a.eq_ignore_ascii_case("false") {
                Some(false.cmp(e))
            } else {
                None
            }
        }
        _ => None,
    };
    match (op, ordering) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Ne, None) => true,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}
