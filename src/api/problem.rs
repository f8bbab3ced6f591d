//! The admin API's one error → HTTP mapping: RFC 9457 problem details
//! (`application/problem+json`), with field-level `errors` as RFC 6901 JSON pointers into the
//! request body. Internal errors are logged and answered with a generic 500, never echoed.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::AccountError;
use crate::http::error::ApiError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Problem types Rollcall defines (stable URNs); other problems are `about:blank`, their
/// meaning being the HTTP status.
pub mod types {
    /// The body (or a field of it) breaks a rule; `errors` says where.
    pub const VALIDATION: &str = "urn:rollcall:problem:validation";
    /// The request conflicts with the resource's state (a taken userName, a lifecycle step
    /// that does not apply).
    pub const CONFLICT: &str = "urn:rollcall:problem:conflict";
    /// `If-Match` names another version than the current one.
    pub const VERSION_MISMATCH: &str = "urn:rollcall:problem:version-mismatch";
    /// An `Idempotency-Key` was used before with another request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "urn:rollcall:problem:idempotency-key-reused";
    /// The first request with this `Idempotency-Key` is still running.
    pub const IDEMPOTENCY_IN_PROGRESS: &str = "urn:rollcall:problem:idempotency-in-progress";
    /// Four-eyes approval: the approver created the agent.
    pub const FOUR_EYES: &str = "urn:rollcall:problem:four-eyes";
    /// A sign-in was refused; `reason` says why.
    pub const SIGNIN_REFUSED: &str = "urn:rollcall:problem:signin-refused";
    /// A new password breaks the policy; each of `errors` names the rule (`rule`).
    pub const PASSWORD_POLICY: &str = "urn:rollcall:problem:password-policy";
    /// A one-time link cannot be used; `reason`: `link_invalid`, `link_expired`, `link_used`.
    pub const LINK_REFUSED: &str = "urn:rollcall:problem:link-refused";
    /// A session is no good (`GET /auth/session`, `POST /auth/logout`); `reason` says why.
    pub const SESSION_REFUSED: &str = "urn:rollcall:problem:session-refused";
}

/// One field-level problem: where in the request body, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// RFC 6901 JSON pointer into the request body, e.g. `/email` or `/channels/2`; empty for
    /// the body as a whole.
    #[schema(example = "/channels/1")]
    pub pointer: String,
    pub detail: String,
    /// For a refused password: the policy rule it broke (`min_length`, `max_length`,
    /// `blocklisted`, `contains_user_name`, `contains_email`, `missing_class`, `reused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "min_length")]
    pub rule: Option<&'static str>,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, thiserror::Error)]
#[error("{status} {detail}")]
pub struct Problem {
    /// A URN naming the problem type, or `about:blank` (the status says it all).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "urn:rollcall:problem:validation")]
    pub kind: &'static str,
    /// Short summary of the problem type.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Field-level problems (for 400 and 422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// A machine-readable reason, for sign-in and session problems (`disabled`,
    /// `forced_offline`, `revoked`, `expired`, `locked`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "forced_offline")]
    pub reason: Option<&'static str>,
    /// Headers the answer carries besides the body (rare: kept out of line).
    #[serde(skip)]
    pub headers: Option<Box<ProblemHeaders>>,
}

/// The headers a few problems carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProblemHeaders {
    /// `Allow`, of a 405.
    pub allow: Option<String>,
    /// `Retry-After` (seconds), of a 429 or 503.
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of type `about:blank`: the title is the status's reason phrase.
    pub fn new(status: u16, detail: impl Into<String>) -> Problem {
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        Problem::typed(status, "about:blank", title, detail)
    }

    pub fn typed(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            title,
            status,
            detail: detail.into(),
            errors: Vec::new(),
            reason: None,
            headers: None,
        }
    }

    /// A problem with a machine-readable `reason`.
    pub fn with_reason(mut self, reason: &'static str) -> Problem {
        self.reason = Some(reason);
        self
    }

    /// Asks the client to wait `secs` seconds (`Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.headers.get_or_insert_with(Box::default).retry_after = Some(secs.max(1));
        self
    }

    /// Adds a field-level problem.
    pub fn field(mut self, pointer: impl Into<String>, detail: impl Into<String>) -> Problem {
        self.errors.push(FieldProblem {
            pointer: pointer.into(),
            detail: detail.into(),
            rule: None,
        });
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(401, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>, allow: String) -> Problem {
        let mut p = Problem::new(405, detail);
        p.headers.get_or_insert_with(Box::default).allow = Some(allow);
        p
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::typed(409, types::CONFLICT, "Conflict", detail)
    }

    pub fn precondition_failed(current: i64) -> Problem {
        Problem::typed(
            412,
            types::VERSION_MISMATCH,
            "Version mismatch",
            format!("If-Match does not match the current version W/\"{current}\""),
        )
    }

    /// A 422 for the body as a whole (no pointer) or, with [`Problem::field`], for fields.
    pub fn invalid(detail: impl Into<String>) -> Problem {
        Problem::typed(422, types::VALIDATION, "Invalid request body", detail)
    }

    /// A 422 for one field.
    pub fn invalid_field(pointer: impl Into<String>, detail: impl Into<String>) -> Problem {
        let detail = detail.into();
        Problem::invalid(detail.clone()).field(pointer, detail)
    }

    pub fn unavailable() -> Problem {
        Problem::new(503, "the database is not reachable; try again")
    }

    pub fn internal() -> Problem {
        Problem::new(500, "internal error; the server log has the details")
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        resp.content_type(PROBLEM_JSON);
        match self.status {
            401 => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"rollcall\""));
            }
            // The rest of the body may still be on its way: it is not read.
            408 | 413 => {
                resp.force_close();
            }
            _ => {}
        }
        if let Some(h) = &self.headers {
            if let Some(allow) = &h.allow {
                resp.insert_header((header::ALLOW, allow.clone()));
            }
            if let Some(secs) = h.retry_after {
                resp.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
        }
        resp.body(self.to_json())
    }
}

impl From<AccountError> for Problem {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound(what) => Problem::not_found(format!("{what} not found")),
            AccountError::Conflict(msg) => Problem::conflict(msg),
            AccountError::VersionMismatch { current } => Problem::precondition_failed(current),
            AccountError::Invalid(msg) => Problem::invalid(msg),
            AccountError::InvalidField { pointer, message } => {
                Problem::invalid_field(pointer, message)
            }
            AccountError::FourEyes(msg) => {
                Problem::typed(403, types::FOUR_EYES, "Four-eyes rule", msg)
            }
            AccountError::Db(d) => d.into(),
        }
    }
}

impl From<diesel::result::Error> for Problem {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        tracing::error!(error = %e, "database error");
        match e {
            // The database went away under the connection: worth a retry.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Problem::unavailable(),
            _ => Problem::internal(),
        }
    }
}

/// Errors of the shared HTTP layer (authentication, body reading): same status and detail.
/// Their 500s carry the generic text already.
impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Problem::new(e.0.status, e.0.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_mapping() {
        let p = Problem::from(AccountError::InvalidField {
            pointer: "/channels/1".into(),
            message: "channel \"fax\" is not in the catalog".into(),
        });
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
        assert_eq!(v["type"], types::VALIDATION);
        assert_eq!(v["status"], 422);
        assert_eq!(v["errors"][0]["pointer"], "/channels/1");
        assert!(v.get("allow").is_none());

        let p = Problem::from(AccountError::VersionMismatch { current: 4 });
        assert_eq!(p.status, 412);
        assert!(p.detail.contains("W/\"4\""));
        let p = Problem::new(404, "no such thing");
        assert_eq!((p.kind, p.title), ("about:blank", "Not Found"));
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
        assert!(v.get("errors").is_none(), "no empty errors list: {v}");
    }

    #[test]
    fn database_errors_are_not_echoed() {
        let p = Problem::from(AccountError::Db(diesel::result::Error::QueryBuilderError(
            "secret table name".into(),
        )));
        assert_eq!(p.status, 500);
        assert!(!p.to_json().contains("secret"));
    }
}
