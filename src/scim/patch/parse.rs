//! Reading a PatchOp request body into operations: the op names (Entra ID's capitalised ones too),
//! paths and values.

use serde_json::Value;

use super::{OpKind, PatchOperation};
use crate::scim::error::ScimError;
use crate::scim::filter::parse_path;
use crate::scim::{PATCH_OP, get_ci};

/// Reads a PatchOp request body.
pub fn parse_patch_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax(
            "a PATCH request must be a JSON object",
        ));
    };
    match get_ci(o, "schemas") {
        None | Some(Value::Null) => {}
        Some(Value::Array(s))
            if s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP))) => {}
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {PATCH_OP}"
            )));
        }
    }
    let ops = match get_ci(o, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => return Err(ScimError::invalid_syntax("Operations is empty")),
        _ => {
            return Err(ScimError::invalid_syntax(
                "Operations must be an array of operations",
            ));
        }
    };
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect()
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let n = index + 1;
    let Value::Object(o) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "operation {n} must be an object"
        )));
    };
    let kind = match get_ci(o, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => OpKind::Add,
        Some("remove") => OpKind::Remove,
        Some("replace") => OpKind::Replace,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: op {other:?} is not add, remove or replace"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: op is missing"
            )));
        }
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            parse_path(s)
                .map_err(|e| ScimError::invalid_path(format!("operation {n}: path {s:?}: {e}")))?,
        ),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {n}: path must be a string"
            )));
        }
    };
    let value = get_ci(o, "value").cloned();
    match kind {
        OpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target(format!(
                "operation {n}: remove needs a path"
            )));
        }
        OpKind::Add | OpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: value is missing"
            )));
        }
        OpKind::Add | OpKind::Replace
            if path.is_none() && !value.as_ref().is_some_and(Value::is_object) =>
        {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: without a path, value must be an object of attributes"
            )));
        }
        _ => {}
    }
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}
