//! `POST /Bulk` (RFC 7644 §3.7): operations run in order (those waiting for a `bulkId`
//! run once it is known), each on its own; `failOnErrors` stops after that many errors.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::auth::ScimCaller;
use super::body::json_body;
use super::error::ApiError;
use super::list::{etag_version, scim_ok};
use super::users::Who;
use super::{AppState, State, groups, users, with_conn};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::project::Projection;
use crate::scim::{BULK_REQUEST, BULK_RESPONSE, etag, get_ci};
use crate::store::DbConn;

struct Op {
    index: usize,
    method: String,
    bulk_id: Option<String>,
    version: Option<i64>,
    path: String,
    data: Option<Value>,
}

pub async fn bulk(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let Value::Object(o) = &body else {
        return Err(ScimError::invalid_syntax("a BulkRequest must be a JSON object").into());
    };
    if let Some(Value::Array(s)) = get_ci(o, "schemas")
        && !s.iter().any(|u| {
            u.as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST))
        })
    {
        return Err(
            ScimError::invalid_value(format!("schemas must contain {BULK_REQUEST}")).into(),
        );
    }
    let fail_on_errors = match get_ci(o, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => n.as_u64(),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "failOnErrors must be a positive integer (got {other}); leave it out for no limit"
            ))
            .into());
        }
    };
    let Some(Value::Array(raw_ops)) = get_ci(o, "Operations") else {
        return Err(ScimError::invalid_syntax("Operations must be a list").into());
    };
    let max = state.config.scim.max_bulk_operations as usize;
    if raw_ops.len() > max {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "a bulk request may hold at most {max} operations (got {})",
                raw_ops.len()
            ),
        )
        .into());
    }
    let mut ops = Vec::with_capacity(raw_ops.len());
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, raw) in raw_ops.iter().enumerate() {
        ops.push(parse_op(index, raw)?);
    }
    for op in &ops {
        if let Some(b) = op.bulk_id.as_deref()
            && let Some(first) = seen.insert(b, op.index)
        {
            return Err(ScimError::invalid_value(format!(
                "operations {first} and {} both use bulkId {b:?}; each bulkId must be unique in a request",
                op.index
            ))
            .into());
        }
    }
    let st = state.clone();
    let results = with_conn(&state, move |conn| {
        let actor = caller.actor();
        let source = format!("scim:{}", caller.0.token_name);
        Ok(run(
            conn,
            &st,
            &Who {
                actor: &actor,
                source: &source,
            },
            ops,
            fail_on_errors,
        ))
    })
    .await?;
    Ok(scim_ok(
        &json!({ "schemas": [BULK_RESPONSE], "Operations": results }),
    ))
}

fn parse_op(index: usize, raw: &Value) -> Result<Op, ApiError> {
    let Value::Object(m) = raw else {
        return Err(
            ScimError::invalid_syntax(format!("operation {index} must be an object")).into(),
        );
    };
    let text = |k: &str| get_ci(m, k).and_then(Value::as_str).map(str::to_owned);
    let method = text("method")
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {index} has no method")))?
        .to_ascii_uppercase();
    let path = text("path")
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {index} has no path")))?;
    let bulk_id = text("bulkId");
    if method == "POST" && bulk_id.is_none() {
        return Err(
            ScimError::invalid_syntax(format!("operation {index}: POST needs a bulkId")).into(),
        );
    }
    Ok(Op {
        index,
        method,
        bulk_id,
        version: text("version").and_then(|v| etag_version(&v)),
        path,
        data: get_ci(m, "data").cloned(),
    })
}

/// Replaces `"bulkId:x"` strings with the id created for `x`; `Err(x)` when `x` is not
/// known yet.
fn resolve(value: &Value, ids: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match s.strip_prefix("bulkId:") {
            Some(b) => Value::String(ids.get(b).cloned().ok_or_else(|| b.to_owned())?),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, ids))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, ids)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

fn run(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    ops: Vec<Op>,
    fail_on_errors: Option<u64>,
) -> Vec<Value> {
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut errors = 0u64;
    let mut pending: Vec<Op> = ops;
    loop {
        let mut waiting = Vec::new();
        let before = pending.len();
        for op in pending {
            if fail_on_errors.is_some_and(|n| errors >= n) {
                break;
            }
            let data = match op.data.as_ref().map(|d| resolve(d, &ids)).transpose() {
                Ok(d) => d,
                Err(_) => {
                    waiting.push(op);
                    continue;
                }
            };
            let path = match op.path.split_once("/bulkId:") {
                None => op.path.clone(),
                Some((head, b)) => match ids.get(b) {
                    Some(id) => format!("{head}/{id}"),
                    None => {
                        waiting.push(op);
                        continue;
                    }
                },
            };
            let outcome = execute(conn, st, who, &op, &path, data.as_ref());
            let mut r = json!({ "method": op.method });
            if let Some(b) = &op.bulk_id {
                r["bulkId"] = json!(b);
            }
            match outcome {
                Ok((status, location, version, id)) => {
                    if let (Some(b), Some(id)) = (&op.bulk_id, id) {
                        ids.insert(b.clone(), id);
                    }
                    if let Some(l) = location {
                        r["location"] = json!(l);
                    }
                    if let Some(v) = version {
                        r["version"] = json!(etag(v));
                    }
                    r["status"] = json!(status.to_string());
                }
                Err(ApiError(e)) => {
                    errors += 1;
                    r["status"] = json!(e.status.to_string());
                    r["response"] = e.to_json();
                }
            }
            results.push((op.index, r));
        }
        if waiting.is_empty()
            || waiting.len() == before
            || fail_on_errors.is_some_and(|n| errors >= n)
        {
            // What still waits refers to a bulkId that never resolved (or a cycle).
            if fail_on_errors.is_none_or(|n| errors < n) {
                for op in waiting {
                    let e = ScimError::new(
                        409,
                        Some(ScimType::InvalidValue),
                        "this operation refers to a bulkId that no operation created",
                    );
                    let mut r =
                        json!({ "method": op.method, "status": "409", "response": e.to_json() });
                    if let Some(b) = &op.bulk_id {
                        r["bulkId"] = json!(b);
                    }
                    results.push((op.index, r));
                }
            }
            break;
        }
        pending = waiting;
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

type Done = (u16, Option<String>, Option<i64>, Option<String>);

fn execute(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    op: &Op,
    path: &str,
    data: Option<&Value>,
) -> Result<Done, ApiError> {
    let trimmed = path.trim_matches('/');
    let (kind, id) = match trimmed.split_once('/') {
        Some((k, id)) => (k, Some(id)),
        None => (trimmed, None),
    };
    let need_data = || {
        data.ok_or_else(|| ApiError::from(ScimError::invalid_syntax("this operation needs data")))
    };
    let proj = Projection::default();
    let done = |v: Value, version: i64, status: u16| -> Done {
        let location = v["meta"]["location"].as_str().map(str::to_owned);
        let id = v["id"].as_str().map(str::to_owned);
        (status, location, Some(version), id)
    };
    let user = kind.eq_ignore_ascii_case("Users");
    let group = kind.eq_ignore_ascii_case("Groups");
    match (op.method.as_str(), user, group, id) {
        ("POST", true, _, None) => {
            users::do_create(conn, st, who, need_data()?).map(|(v, ver)| done(v, ver, 201))
        }
        ("POST", _, true, None) => {
            groups::do_create(conn, st, who, need_data()?, &proj).map(|(v, ver)| done(v, ver, 201))
        }
        ("PUT", true, _, Some(id)) => {
            users::do_replace(conn, st, who, id, op.version, need_data()?)
                .map(|(v, ver)| done(v, ver, 200))
        }
        ("PUT", _, true, Some(id)) => {
            groups::do_replace(conn, st, who, id, op.version, need_data()?, &proj)
                .map(|(v, ver)| done(v, ver, 200))
        }
        ("PATCH", true, _, Some(id)) => users::do_patch(
            &mut users::Conns::Held(conn),
            st,
            who,
            id,
            op.version,
            need_data()?,
        )
        .map(|(v, ver)| done(v, ver, 200)),
        ("PATCH", _, true, Some(id)) => {
            groups::do_patch(conn, st, who, id, op.version, need_data()?, &proj)
                .map(|(v, ver)| done(v, ver, 200))
        }
        ("DELETE", true, _, Some(id)) => {
            users::do_delete(conn, st, who, id, op.version).map(|()| {
                (
                    204,
                    Some(format!("{}/scim/v2/Users/{id}", st.base_url)),
                    None,
                    None,
                )
            })
        }
        ("DELETE", _, true, Some(id)) => {
            groups::do_delete(conn, st, who, id, op.version).map(|()| {
                (
                    204,
                    Some(format!("{}/scim/v2/Groups/{id}", st.base_url)),
                    None,
                    None,
                )
            })
        }
        _ => Err(ScimError::invalid_value(format!(
            "unsupported bulk operation {} {path}",
            op.method
        ))
        .into()),
    }
}
