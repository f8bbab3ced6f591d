//! An agent's lifecycle steps, each `POST /api/v1/agents/{id}/<step>` with
//! `{"reason": "…"}`: disable, enable, approve, reject, force-offline, resume. All through
//! the gateway, audited with the reason.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};

use super::input::Reason;
use super::view::{self, AgentView};
use crate::accounts::{AccountError, AgentInput};
use crate::api::auth::Admin;
use crate::api::body::Json;
use crate::api::idempotency::{IdempotencyKey, idempotent};
use crate::api::problem::Problem;
use crate::domain::Status;
use crate::http::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Disable,
    Enable,
    Approve,
    Reject,
    ForceOffline,
    Resume,
}

async fn step(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: String,
    body: Json<Reason>,
    step: Step,
) -> Result<HttpResponse, Problem> {
    let reason = body.value.text()?;
    let actor = admin.actor();
    let st = state.clone();
    let who = actor.clone();
    idempotent(&req, &state, &actor, &body.raw, async move {
        let s = st.clone();
        let agent = crate::api::db(&st, move |conn| {
            let a = &s.accounts;
            let now = crate::store::now();
            let (actor, id, reason) = (who.as_str(), id.as_str(), reason.as_str());
            Ok(match step {
                Step::Disable => Some(a.set_active(conn, actor, id, false, reason, now)?),
                Step::Enable => Some(a.update_agent_with(
                    conn,
                    actor,
                    id,
                    None,
                    Some(reason),
                    now,
                    |current| {
                        if current.status == Status::Pending {
                            return Err(AccountError::Conflict(format!(
                                "agent {id} is pending approval: approve it instead"
                            )));
                        }
                        let mut profile = current.profile.clone();
                        profile.role = Some(current.role.clone());
                        Ok(AgentInput {
                            profile,
                            active: Some(true),
                            ..AgentInput::default()
                        })
                    },
                )?),
                Step::Approve => Some(a.approve(conn, actor, id, Some(reason), now)?),
                Step::Reject => {
                    a.reject(conn, actor, id, reason, now)?;
                    None
                }
                Step::ForceOffline => {
                    Some(a.set_login_blocked(conn, actor, id, true, reason, now)?)
                }
                Step::Resume => Some(a.set_login_blocked(conn, actor, id, false, reason, now)?),
            })
        })
        .await?;
        Ok(match agent {
            Some(agent) => view::respond(StatusCode::OK, &agent),
            None => HttpResponse::NoContent().finish(),
        })
    })
    .await
}

macro_rules! step_endpoint {
    ($name:ident, $path:literal, $step:expr, $summary:literal, $ok:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "agents",
            request_body = Reason,
            params(
                ("id" = String, Path, description = "The agent's id"),
                IdempotencyKey,
            ),
            responses(
                (status = 200, description = $ok, body = AgentView),
                (status = 204, description = "Done (reject: the agent is deleted)"),
                (status = 400, description = "Malformed JSON or empty body; a bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "The token's scope is not admin; or the four-eyes rule", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The step does not apply to the agent's status", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Missing or empty reason; Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            req: HttpRequest,
            state: State,
            admin: Admin,
            id: web::Path<String>,
            body: Json<Reason>,
        ) -> Result<HttpResponse, Problem> {
            step(req, state, admin, id.into_inner(), body, $step).await
        }
    };
}

step_endpoint!(
    disable_agent,
    "/agents/{id}/disable",
    Step::Disable,
    "Suspends an agent (sessions revoked).",
    "The agent, suspended"
);
step_endpoint!(
    enable_agent,
    "/agents/{id}/enable",
    Step::Enable,
    "Re-activates a suspended agent (a pending one needs approve).",
    "The agent, active"
);
step_endpoint!(
    approve_agent,
    "/agents/{id}/approve",
    Step::Approve,
    "Approves a pending agent: it becomes active.",
    "The agent, active"
);
step_endpoint!(
    reject_agent,
    "/agents/{id}/reject",
    Step::Reject,
    "Rejects a pending agent: it is deleted (grace period, then purged).",
    "Not used: a rejected agent is gone (204)"
);
step_endpoint!(
    force_offline_agent,
    "/agents/{id}/force-offline",
    Step::ForceOffline,
    "Signs an agent out everywhere and blocks sign-in until resumed.",
    "The agent, loginBlocked"
);
step_endpoint!(
    resume_agent,
    "/agents/{id}/resume",
    Step::Resume,
    "Lets a forced-offline agent sign in again.",
    "The agent, no longer loginBlocked"
);
