//! `Idempotency-Key` for every POST of the admin API: [`idempotent`] wraps a handler's work.
//! The first request with a key claims it (a row in `idempotency_keys`, per caller) before it
//! runs and stores its response; a retry with the same key and body gets that response again
//! (`Idempotent-Replayed: true`) without running; the same key with another body or endpoint
//! is a 422; a retry while the first still runs is a 409. Keys expire after 24 hours.

use std::future::Future;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::Duration;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::problem::{Problem, types};
use crate::http::State;
use crate::store::idempotency::{self as store, Claim, IdempotencyRow};

pub const HEADER: &str = "Idempotency-Key";

/// The `Idempotency-Key` header as documented: put `IdempotencyKey` in a POST's
/// `#[utoipa::path(params(...))]`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Any unique text (a UUID): a retry with the same key and body gets the first response
    /// instead of running again; kept 24 hours, per token.
    #[serde(rename = "Idempotency-Key")]
    #[param(
        pattern = "^[!-~]([ -~]{0,253}[!-~])?$",
        max_length = 255,
        min_length = 1
    )]
    pub key: Option<String>,
}
pub const REPLAYED: &str = "Idempotent-Replayed";

/// How long a key (and its stored response) is kept.
pub fn lifetime() -> Duration {
    Duration::hours(24)
}

/// Response headers a replay repeats.
const KEPT: [&str; 3] = ["content-type", "location", "etag"];

/// Runs `run` at most once per `Idempotency-Key` of `actor` (when the request has one) and
/// answers retries with its stored response. `body` is the request's JSON (compared
/// canonically: key order and white space do not matter). `run` is spawned, so a client
/// that hangs up does not leave its key claimed with nothing stored.
pub async fn idempotent<Fut>(
    req: &HttpRequest,
    state: &State,
    actor: &str,
    body: &Value,
    run: Fut,
) -> Result<HttpResponse, Problem>
where
    Fut: Future<Output = Result<HttpResponse, Problem>> + 'static,
{
    run_once(req, state, actor, body_hash(body), run).await
}

/// [`idempotent`] for a body that is not JSON (a CSV or spreadsheet upload): compared byte
/// for byte.
pub async fn idempotent_bytes<Fut>(
    req: &HttpRequest,
    state: &State,
    actor: &str,
    body: &[u8],
    run: Fut,
) -> Result<HttpResponse, Problem>
where
    Fut: Future<Output = Result<HttpResponse, Problem>> + 'static,
{
    run_once(req, state, actor, hex::encode(Sha256::digest(body)), run).await
}

async fn run_once<Fut>(
    req: &HttpRequest,
    state: &State,
    actor: &str,
    hash: String,
    run: Fut,
) -> Result<HttpResponse, Problem>
where
    Fut: Future<Output = Result<HttpResponse, Problem>> + 'static,
{
    let Some(key) = key_of(req)? else {
        return run.await;
    };
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let now = crate::store::now();
    let claim = {
        let (actor, key, method, path, hash) = (
            actor.to_owned(),
            key.clone(),
            method.clone(),
            path.clone(),
            hash.clone(),
        );
        super::db(state, move |conn| {
            Ok(store::claim(
                conn,
                &actor,
                &key,
                &method,
                &path,
                &hash,
                now,
                now - lifetime(),
            )?)
        })
        .await?
    };
    if let Claim::Taken(row) = claim {
        return replay(&row, &method, &path, &hash);
    }
    let state = state.clone();
    let actor = actor.to_owned();
    let task = actix_web::rt::spawn(async move {
        let resp = match run.await {
            Ok(r) => r,
            Err(p) => p.error_response(),
        };
        let status = resp.status();
        let (head, body) = resp.into_parts();
        let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
        // An answer marked `no-store` holds a secret shown once (an initial password): its
        // status and headers are kept for a retry, its body is not.
        let secret = head
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("no-store"));
        let text = if secret {
            serde_json::json!({
                "detail": "the first answer held a secret shown once; it is not repeated"
            })
            .to_string()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let headers = kept_headers(head.headers());
        let outcome = super::db(&state, move |conn| {
            if status.is_server_error() {
                // Nothing is known to have changed: a retry may run again.
                Ok(store::release(conn, &actor, &key)?)
            } else {
                Ok(store::complete(
                    conn,
                    &actor,
                    &key,
                    i32::from(status.as_u16()),
                    &headers,
                    &text,
                )?)
            }
        })
        .await;
        if let Err(e) = outcome {
            tracing::error!(status = e.status, "could not store an idempotent response");
        }
        head.set_body(actix_web::body::BoxBody::new(bytes))
    });
    task.await.map_err(|e| {
        tracing::error!(error = %e, "idempotent request task failed");
        Problem::internal()
    })
}

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters. Only on POST.
fn key_of(req: &HttpRequest) -> Result<Option<String>, Problem> {
    if req.method() != Method::POST {
        return Ok(None);
    }
    let Some(v) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let ok = v.to_str().ok().map(str::trim).filter(|k| {
        !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    });
    match ok {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(Problem::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

fn replay(
    row: &IdempotencyRow,
    method: &str,
    path: &str,
    hash: &str,
) -> Result<HttpResponse, Problem> {
    if row.method != method || row.path != path || row.body_hash != hash {
        return Err(Problem::typed(
            422,
            types::IDEMPOTENCY_KEY_REUSED,
            "Idempotency-Key reused",
            format!(
                "this Idempotency-Key was used for another request ({} {}) or body; use a new key",
                row.method, row.path
            ),
        ));
    }
    let Some(status) = row.status else {
        return Err(Problem::typed(
            409,
            types::IDEMPOTENCY_IN_PROGRESS,
            "Request in progress",
            "the first request with this Idempotency-Key is still running; retry later",
        ));
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(Problem::internal)?;
    let mut resp = HttpResponse::build(status);
    let headers: Map<String, Value> = row
        .response_headers
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    for (name, value) in headers {
        if let (Ok(n), Some(Ok(v))) = (
            HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            resp.insert_header((n, v));
        }
    }
    resp.insert_header((REPLAYED, "true"));
    Ok(resp.body(row.response_body.clone().unwrap_or_default()))
}

fn kept_headers(h: &header::HeaderMap) -> String {
    let mut out = Map::new();
    for name in KEPT {
        if let Some(v) = h.get(name).and_then(|v| v.to_str().ok()) {
            out.insert(name.to_owned(), Value::String(v.to_owned()));
        }
    }
    Value::Object(out).to_string()
}

/// SHA-256 of the body with object keys sorted (so key order and spacing do not count).
pub fn body_hash(body: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(body, &mut s);
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Deletes keys older than [`lifetime`]; returns how many (the purge loop calls it).
pub fn purge(conn: &mut crate::store::DbConn, now: chrono::NaiveDateTime) -> usize {
    match store::purge(conn, now - lifetime()) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not purge idempotency keys");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_not_values() {
        let a = body_hash(&json!({"a": 1, "b": [1, {"x": "y", "w": null}]}));
        let b = body_hash(&json!({"b": [1, {"w": null, "x": "y"}], "a": 1}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            body_hash(&json!({"a": 2, "b": [1, {"x": "y", "w": null}]}))
        );
        assert_ne!(body_hash(&json!([1, 2])), body_hash(&json!([2, 1])));
    }
}
