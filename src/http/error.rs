//! The one place errors become HTTP responses: SCIM error JSON (RFC 7644 §3.12). Internal
//! errors are logged and never echoed to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, http::header};

use crate::accounts::AccountError;
use crate::scim::error::{ScimError, ScimType};
use crate::store::list::ListError;

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub ScimError);

impl ApiError {
    pub fn internal() -> Self {
        ApiError(ScimError::internal())
    }

    pub fn unavailable() -> Self {
        ApiError(ScimError::new(
            503,
            None,
            "the database is not reachable; try again",
        ))
    }

    pub fn unauthorized(detail: &str) -> Self {
        ApiError(ScimError::new(401, None, detail))
    }

    pub fn forbidden(detail: &str) -> Self {
        ApiError(ScimError::new(403, None, detail))
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        tracing::error!(error = %e, "database error");
        ApiError::internal()
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Scim(s) => ApiError(s),
            ListError::Db(d) => d.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound(what) => {
                ApiError(ScimError::not_found(format!("{what} not found")))
            }
            AccountError::Conflict(msg) => ApiError(ScimError::conflict(msg)),
            AccountError::VersionMismatch { current } => ApiError(ScimError::precondition_failed(
                format!("If-Match does not match the current version W/\"{current}\""),
            )),
            AccountError::Invalid(msg) => ApiError(ScimError::invalid_value(msg)),
            AccountError::InvalidField { message, .. } => {
                ApiError(ScimError::invalid_value(message))
            }
            AccountError::FourEyes(msg) => ApiError(ScimError::new(403, None, msg)),
            AccountError::Db(d) => d.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        resp.content_type(SCIM_JSON);
        if self.0.status == 408 {
            // The rest of the body may still be on its way: it is not read.
            resp.force_close();
        }
        if self.0.status == 401 {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"rollcall\""));
        }
        resp.body(self.0.to_json().to_string())
    }
}

/// A 400 `invalidSyntax` for a body that is not JSON.
pub fn bad_json(e: &serde_json::Error) -> ApiError {
    ApiError(ScimError::bad_request(
        ScimType::InvalidSyntax,
        format!("request body is not valid JSON: {e}"),
    ))
}
