//! Reading request bodies: content type, size limit (413), read time limit (408), JSON
//! syntax (400).

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web;
use futures_util::StreamExt;
use serde_json::Value;

use super::error::{ApiError, bad_json};
use crate::scim::error::ScimError;

/// Reads a JSON body of at most `limit` bytes.
pub async fn json_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/scim+json" && essence != "application/json" {
            return Err(ApiError(ScimError::new(
                415,
                None,
                format!("Content-Type must be application/scim+json (got {essence:?})"),
            )));
        }
    }
    let too_large = || {
        ApiError(ScimError::new(
            413,
            None,
            format!("request body is larger than the maximum payload size of {limit} bytes"),
        ))
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let timeout = req
        .app_data::<super::State>()
        .map_or(20, |s| s.config.server.body_timeout_secs);
    let read = async {
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError(ScimError::invalid_syntax(format!(
                    "could not read the request body: {e}"
                )))
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    // A body that stalls, or a chunked body that never ends, would hold the connection
    // for as long as the client likes.
    let buf = tokio::time::timeout(std::time::Duration::from_secs(timeout), read)
        .await
        .map_err(|_| {
            ApiError(ScimError::new(
                408,
                None,
                format!("the request body did not arrive within {timeout} s"),
            ))
        })??;
    if buf.is_empty() {
        return Err(ApiError(ScimError::invalid_syntax("request body is empty")));
    }
    serde_json::from_slice(&buf).map_err(|e| bad_json(&e))
}
