//! Limits on what a client may send before its request is handled: the size of the request
//! head (431 with a SCIM error body). The body's size and read time are bounded where it is
//! read (`body`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use super::State;
use super::error::ApiError;
use crate::scim::error::ScimError;

/// The size of a request head as sent: request line and header lines with their line ends.
pub fn head_size(req: &ServiceRequest) -> usize {
    let line = req.method().as_str().len()
        + 1
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    line + headers + 2
}

/// Answers a request whose head is larger than `server.max_head_bytes` with 431 and a SCIM
/// error body, before any handler (or authentication) runs.
pub async fn head_limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let limit = req
        .app_data::<State>()
        .map_or(32 * 1024, |s| s.config.server.max_head_bytes);
    let size = head_size(&req);
    if size > limit {
        let resp = ApiError(ScimError::new(
            431,
            None,
            format!("the request head is {size} bytes; at most {limit} are accepted"),
        ))
        .error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
