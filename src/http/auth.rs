//! Bearer-token authentication: the token behind a request (SCIM and the admin API), and the
//! SCIM caller's scope check.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use super::error::ApiError;
use super::{State, with_conn};
use crate::auth::{Principal, Scope};

/// A caller allowed to use SCIM: a token with scope `scim` (or `read`, for reads only).
pub struct ScimCaller(pub Principal);

impl ScimCaller {
    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

pub(crate) fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header must be: Bearer <token>",
        ));
    }
    Ok(token.to_owned())
}

/// The principal behind the request's bearer token (401 when there is none, or it is
/// unknown, expired or revoked). Scopes are for the caller to check.
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let token = bearer(req)?;
    let state = req
        .app_data::<State>()
        .cloned()
        .ok_or_else(ApiError::internal)?;
    let principal = match state.tokens.cached(&token) {
        Some(p) => p,
        None => {
            let st = state.clone();
            with_conn(&state, move |conn| {
                st.tokens.authenticate(conn, &token).map_err(ApiError::from)
            })
            .await?
        }
    };
    principal.ok_or_else(|| ApiError::unauthorized("the token is unknown, expired or revoked"))
}

impl FromRequest for ScimCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            let read_only = req.method() == actix_web::http::Method::GET;
            if principal.has(Scope::Scim) || (read_only && principal.has(Scope::Read)) {
                Ok(ScimCaller(principal))
            } else {
                Err(ApiError::forbidden(
                    "this token's scope does not allow SCIM provisioning",
                ))
            }
        })
    }
}
