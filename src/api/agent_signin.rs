//! An agent's sign-in as admins manage it: `GET /api/v1/agents/{id}/signin` (failures, the
//! lock, live sessions), `POST …/unlock`, `POST …/revoke-sessions`, `POST …/remove-mfa` and
//! `POST …/password-reset`, through the gateway and into the security log.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::body::Json;
use super::problem::Problem;
use crate::http::State;
use crate::sessions::listing::{SigninState, signin_state};

pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(get_signin)
        .service(unlock)
        .service(revoke_sessions)
        .service(remove_mfa)
        .service(reset_password);
}

/// How to reset a password.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetHow {
    /// Clear the password and mail a one-time link to choose a new one.
    #[default]
    Link,
    /// Set a random password, answered once, to be changed at the next sign-in.
    InitialPassword,
}

/// `{"method": "link", "reason": "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    #[serde(default)]
    pub method: ResetHow,
    /// Why: kept in the security log.
    #[schema(
        example = "forgot it, called the help desk",
        min_length = 1,
        pattern = "\\S"
    )]
    pub reason: String,
}

/// What a reset gave.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetDone {
    /// `link` or `initial_password`.
    pub method: &'static str,
    /// The random password (shown once), for `initial_password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
    /// The link (also mailed when the agent has an email), for `link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether a mail with the link was queued (false: the agent has no email).
    pub mailed: bool,
}

/// `{"reason": "…", "session": "…"}`: which sessions to end, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why: kept in the security log.
    #[schema(example = "lost phone", min_length = 1, pattern = "\\S")]
    pub reason: String,
    /// One session's id; absent: every live session of the agent.
    #[serde(default)]
    pub session: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many sessions were ended.
    pub revoked: usize,
}

/// Agent `id`'s sign-in state, or 404.
fn state_of(
    conn: &mut crate::store::DbConn,
    id: &str,
    now: chrono::NaiveDateTime,
) -> Result<SigninState, Problem> {
    signin_state(conn, id, now)?.ok_or_else(|| Problem::not_found(format!("agent {id} not found")))
}

/// An agent's sign-in state: failed sign-ins in a row, the lock, the last sign-in and its
/// live sessions.
#[utoipa::path(
    tag = "Sign-in",
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent's sign-in state", body = SigninState),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/agents/{id}/signin")]
async fn get_signin(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let found = super::read(&state, move |conn| state_of(conn, &id, crate::store::now())).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Unlock an agent locked after failed sign-ins (`agent.unlock`, with the reason).
#[utoipa::path(
    tag = "Sign-in",
    params(("id" = String, Path, description = "The agent's id")),
    request_body = super::agents::input::Reason,
    responses(
        (status = 200, description = "Unlocked; the agent's sign-in state", body = SigninState),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/agents/{id}/unlock")]
async fn unlock(
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<super::agents::input::Reason>,
) -> Result<HttpResponse, Problem> {
    let reason = body.value.text()?;
    let (id, actor, st) = (id.into_inner(), admin.actor(), state.clone());
    let found = super::db(&state, move |conn| {
        let now = crate::store::now();
        st.accounts.unlock(conn, &actor, &id, &reason, now)?;
        state_of(conn, &id, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// End an agent's sessions: one (`session`) or all. The chat platform's next check of each
/// is refused with `revoked` (`session.revoke` in the security log, and its event).
#[utoipa::path(
    tag = "Sign-in",
    params(("id" = String, Path, description = "The agent's id")),
    request_body = RevokeBody,
    responses(
        (status = 200, description = "How many sessions were ended", body = Revoked),
        (status = 404, description = "No such agent, or no such live session", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/agents/{id}/revoke-sessions")]
async fn revoke_sessions(
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<RevokeBody>,
) -> Result<HttpResponse, Problem> {
    let reason = super::agents::input::reason_text(&body.value.reason)?;
    let session = body.value.session.clone();
    let (id, actor, st) = (id.into_inner(), admin.actor(), state.clone());
    let revoked = super::db(&state, move |conn| {
        Ok(st.accounts.revoke_sessions(
            conn,
            &actor,
            &id,
            session.as_deref(),
            &reason,
            crate::store::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// Remove an agent's second factor (a lost phone): its TOTP enrolment and recovery codes go
/// (`agent.mfa_remove`, with the reason); it signs in with its password alone until it
/// enrols again.
#[utoipa::path(
    tag = "Sign-in",
    params(("id" = String, Path, description = "The agent's id")),
    request_body = super::agents::input::Reason,
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such agent, or it has no second factor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/agents/{id}/remove-mfa")]
async fn remove_mfa(
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<super::agents::input::Reason>,
) -> Result<HttpResponse, Problem> {
    let reason = body.value.text()?;
    let (id, actor, st) = (id.into_inner(), admin.actor(), state.clone());
    super::db(&state, move |conn| {
        Ok(st
            .accounts
            .remove_mfa(conn, &actor, &id, &reason, crate::store::now())?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reset an agent's password: clear it and mail a one-time link (`link`, the default; the
/// link is also answered, for an agent without email), or set a random password answered
/// once that must be changed at the next sign-in (`initial_password`). Every session of the
/// agent ends, any lock is lifted (`agent.password_reset` with the reason, and
/// `session.revoke`).
#[utoipa::path(
    tag = "Sign-in",
    params(("id" = String, Path, description = "The agent's id")),
    request_body = ResetBody,
    responses(
        (status = 200, description = "Reset", body = ResetDone),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The agent is disabled", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/agents/{id}/password-reset")]
async fn reset_password(
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<ResetBody>,
) -> Result<HttpResponse, Problem> {
    use crate::accounts::ResetMethod;
    let reason = super::agents::input::reason_text(&body.value.reason)?;
    let id = id.into_inner();
    let (method, initial) = match body.value.method {
        ResetHow::Link => (ResetMethod::Link, None),
        ResetHow::InitialPassword => {
            let lookup = id.clone();
            let role = super::read(&state, move |conn| {
                crate::store::agents::get_row(conn, &lookup)?
                    .map(|r| r.role)
                    .ok_or_else(|| Problem::not_found(format!("agent {lookup} not found")))
            })
            .await?;
            let policies = &state.credentials.policies;
            let password = policies.generate(policies.profile_for(&role));
            let hash = state
                .credentials
                .hasher
                .hash(&password)
                .await
                .map_err(|_| Problem::unavailable())?;
            (ResetMethod::InitialPassword(hash), Some(password))
        }
    };
    let (actor, st) = (admin.actor(), state.clone());
    let link = super::db(&state, move |conn| {
        Ok(st.accounts.reset_password(
            conn,
            &actor,
            &id,
            method,
            Some(&reason),
            crate::store::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ResetDone {
            method: if initial.is_some() {
                "initial_password"
            } else {
                "link"
            },
            initial_password: initial,
            mailed: link.as_ref().is_some_and(|l| l.mail_id.is_some()),
            link_expires_at: link.as_ref().map(|l| l.expires_at.and_utc()),
            link: link.map(|l| l.url),
        }))
}
