//! An agent's own password under `/api/v1/auth/password`: changing it (with the session —
//! also one opened with an initial or expired password, which must change it first), asking
//! for a reset link by mail, and using a link (activation or reset) to choose one. Every new
//! password is checked against the policy of the agent's role; a refusal names each rule
//! it broke.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, post};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Client, SignedIn, client_ip, hashing_problem, record_failure, refused, user_agent};
use crate::accounts::{LINK_PREFIX, LinkRefusal, Refusal, find_for_signin, live_link};
use crate::api::body::Json;
use crate::api::problem::{Problem, types};
use crate::credentials::policy::{Candidate, Violation};
use crate::http::State;
use crate::store::models::AgentRow;

/// `{"currentPassword": "…", "newPassword": "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `{"login": "…"}`: the user name or email of the account whose password was forgotten.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(example = "ana.lima")]
    pub login: String,
}

/// `{"token": "…", "newPassword": "…"}`: a link's token and the password chosen with it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkUse {
    /// The token from the link (after `token=`).
    #[schema(example = "rcl_Xq3…")]
    pub token: String,
    pub new_password: String,
}

fn policy_refused(violations: Vec<Violation>, profile: &str) -> Problem {
    let mut p = Problem::typed(
        422,
        types::PASSWORD_POLICY,
        "Password refused",
        format!(
            "the new password breaks the {profile} password policy: {}",
            violations
                .iter()
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    for v in violations {
        p = p.field("/newPassword", v.message);
        if let Some(last) = p.errors.last_mut() {
            last.rule = Some(v.rule);
        }
    }
    p
}

fn link_refused(refusal: LinkRefusal) -> Problem {
    let (status, detail) = match refusal {
        LinkRefusal::Invalid => (400, "the link is not valid (ask for a new one)"),
        LinkRefusal::Expired => (410, "the link has expired (ask for a new one)"),
        LinkRefusal::Used => (410, "the link was already used (ask for a new one)"),
    };
    Problem::typed(status, types::LINK_REFUSED, "Link refused", detail).with_reason(refusal.code())
}

/// `password` checked against the policy of `row`'s role (its history and second factor
/// read from the database), then hashed: the hash, or the problem naming every rule broken.
async fn checked_hash(
    state: &State,
    row: &AgentRow,
    password: &str,
    current: Option<&str>,
) -> Result<String, Problem> {
    let policies = &state.credentials.policies;
    let profile = policies.profile_for(&row.role);
    let n = policies.history_len(profile);
    let id = row.id.clone();
    let (has_mfa, history) = crate::api::read(state, move |conn| {
        let mfa = crate::accounts::confirmed_totp(conn, &id)?.is_some();
        let history = if n > 0 {
            crate::accounts::password_hashes(conn, &id, n)?
        } else {
            Vec::new()
        };
        Ok((mfa, history))
    })
    .await?;
    let candidate = Candidate {
        password,
        user_name: &row.user_name,
        email: row.email.as_deref(),
        has_mfa,
    };
    let mut violations = policies
        .check_all(profile, &state.credentials.hasher, &candidate, &history)
        .await
        .map_err(hashing_problem)?;
    if current == Some(password) && !violations.iter().any(|v| v.rule == "reused") {
        violations.push(Violation {
            rule: "reused",
            message: "not the current password".into(),
        });
    }
    if !violations.is_empty() {
        return Err(policy_refused(violations, profile.as_str()));
    }
    state
        .credentials
        .hasher
        .hash(password)
        .await
        .map_err(hashing_problem)
}

/// Change the signed-in agent's password
///
/// Needs the current password. The new one must pass the policy of the agent's role (each
/// rule broken is named in `errors[].rule`). Every other session of the agent ends; this one
/// stays and, when it was opened with an initial, reset or expired password, becomes good
/// for work. A wrong current password counts as a failed sign-in. Audited
/// `agent.password_change`.
#[utoipa::path(
    tag = "Sign-in",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "The session is no good; `reason` says why", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The current password is wrong (`reason`: `invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy; `errors[].rule` names each rule", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/password")]
pub async fn change_password(
    req: HttpRequest,
    state: State,
    agent: SignedIn,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, Problem> {
    let session = agent.0;
    let PasswordChange {
        current_password,
        new_password,
    } = body.value;
    if current_password.len() > 1024 || new_password.len() > 4096 {
        return Err(Problem::invalid("a password is too long"));
    }
    let id = session.agent_id.clone();
    let row = crate::api::read(&state, move |conn| {
        crate::store::agents::get_row(conn, &id)?
            .ok_or_else(|| Problem::not_found("the agent is gone"))
    })
    .await?;
    let (good, _) = super::verify(&state, &current_password, row.password_hash.as_deref()).await?;
    if !good {
        let ip = client_ip(&req, &state).map(|i| i.to_string());
        let ua = user_agent(&req);
        record_failure(
            &state,
            Some(row.id.clone()),
            &row.user_name,
            Refusal::InvalidCredentials,
            &ip,
            &ua,
        )
        .await?;
        return Err(refused(
            403,
            Refusal::InvalidCredentials,
            "the current password is wrong",
        ));
    }
    let hash = checked_hash(&state, &row, &new_password, Some(&current_password)).await?;
    let st = state.clone();
    let keep = session.session_id.clone();
    crate::api::db(&state, move |conn| {
        st.accounts
            .change_password(conn, &row.id, &hash, Some(&keep), crate::store::now())
            .map_err(Problem::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password-reset link
///
/// When the user name or email names an agent with an email that may sign in (also a locked
/// one), a reset link is mailed to it — at most one per `auth.links.reset_interval_secs`.
/// The answer is the same whether or not it does, so it tells nothing about which accounts
/// exist; every request counts towards the client address's throttle. The password and
/// sessions stay as they are until the link is used. Audited
/// `agent.password_reset_request`.
#[utoipa::path(
    tag = "Sign-in",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "A link is on its way if the account exists and has an email"),
        (status = 429, description = "Too many requests from this address (`reason`: `throttled`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password/forgot")]
pub async fn forgot_password(
    req: HttpRequest,
    state: State,
    body: Json<ResetRequest>,
) -> Result<HttpResponse, Problem> {
    let login = body.value.login;
    let ip = client_ip(&req, &state);
    if let Some(ip) = ip {
        if let Some(wait) = state.throttle.refused(ip, Instant::now()) {
            return Err(refused(
                429,
                Refusal::Throttled,
                "too many requests from this address",
            )
            .retry_after(wait));
        }
        state.throttle.failed(ip, Instant::now());
    }
    if !login.trim().is_empty() && login.len() <= 256 && !login.contains('\0') {
        let ip = ip.map(|i| i.to_string());
        let ua = user_agent(&req);
        let st = state.clone();
        crate::api::db(&state, move |conn| {
            if let Some(row) = find_for_signin(conn, &login)? {
                let client = Client {
                    ip: ip.as_deref(),
                    user_agent: ua.as_deref(),
                };
                st.accounts
                    .request_reset(conn, &row.id, client, crate::store::now())?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "detail": "if the account exists and has an email, a link to choose a new password is on its way"
    })))
}

/// Choose a password with a link
///
/// Uses an activation or reset link's token (once: a second use is refused) to set the
/// agent's password. The password must pass the policy of the agent's role. Any lock is
/// lifted and every session of the agent ends. Audited `agent.password_change`.
#[utoipa::path(
    tag = "Sign-in",
    request_body = LinkUse,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 400, description = "No such link (`reason`: `link_invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link expired or was used (`reason`: `link_expired`, `link_used`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy; `errors[].rule` names each rule", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password/link")]
pub async fn use_link(state: State, body: Json<LinkUse>) -> Result<HttpResponse, Problem> {
    let LinkUse {
        token,
        new_password,
    } = body.value;
    if !token.starts_with(LINK_PREFIX) || token.len() > 200 {
        return Err(link_refused(LinkRefusal::Invalid));
    }
    if new_password.len() > 4096 {
        return Err(Problem::invalid("the password is too long"));
    }
    let token_hash = crate::auth::token_hash(&token);
    let th = token_hash.clone();
    let link = crate::api::read(&state, move |conn| {
        Ok(live_link(conn, &th, crate::store::now())?)
    })
    .await?
    .map_err(link_refused)?;
    let hash = checked_hash(&state, &link.agent, &new_password, None).await?;
    let st = state.clone();
    crate::api::db(&state, move |conn| {
        st.accounts
            .use_link(conn, &token_hash, &hash, crate::store::now())
            .map_err(Problem::from)
    })
    .await?
    .map_err(link_refused)?;
    Ok(HttpResponse::NoContent().finish())
}
