//! A session's verdict read from the database: the session by its token's hash, its agent,
//! the agent's role — and, for a good one, the answer the chat platform gets.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::cache::{Reason, Required, Valid, Verdict};
use crate::accounts::Accounts;
use crate::config::SessionsConfig;
use crate::domain::permissions::{Overrides, effective_set};
use crate::domain::{AgentProfile, Status};
use crate::store::schema::sessions;
use crate::store::{DbConn, StoreError, agents as agent_store, roles as role_store};

/// What `GET /api/v1/auth/session` answers for a good session: who the agent is and what
/// it may do, so the chat platform needs nothing else to route and authorise.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnswer {
    pub session: SessionInfo,
    pub agent: SessionAgent,
    /// The agent's role.
    #[schema(example = "team_lead")]
    pub role: String,
    /// Effective permissions: the role's, plus the agent's grants, minus its denies.
    pub permissions: Vec<String>,
    pub skill_groups: Vec<String>,
    pub channels: Vec<String>,
    pub max_concurrent_chats: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The absolute end; the session also ends after `idleTimeoutSecs` unused.
    pub expires_at: DateTime<Utc>,
    pub idle_timeout_secs: u64,
    /// Signed in with a second factor.
    pub mfa: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAgent {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    /// The agent number.
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
}

type SessionFields = (
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    bool,
);

/// The agent the session belongs to (empty when there is none) and the verdict at `now`.
pub fn verdict(
    conn: &mut DbConn,
    accounts: &Accounts,
    config: &SessionsConfig,
    credentials: &crate::credentials::Credentials,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<(String, Verdict), StoreError> {
    let found: Option<SessionFields> = sessions::table
        .filter(sessions::token_hash.eq(token_hash))
        .select((
            sessions::id,
            sessions::agent_id,
            sessions::created_at,
            sessions::expires_at,
            sessions::revoked_at,
            sessions::last_used_at,
            sessions::mfa,
        ))
        .first(conn)
        .optional()?;
    let Some((id, agent_id, created_at, expires_at, revoked_at, last_used_at, mfa)) = found else {
        return Ok((String::new(), Verdict::Refused(Reason::Invalid)));
    };
    let refused = |reason| Ok((agent_id.clone(), Verdict::Refused(reason)));
    // One read of the agent's row (a deleted one is not found: `get_row` reads live agents).
    let Some(row) = agent_store::get_row(conn, &agent_id)? else {
        return refused(Reason::Deleted);
    };
    match Status::parse(&row.status) {
        Some(Status::Active) => {}
        _ => return refused(Reason::Disabled),
    }
    if row.login_blocked {
        return refused(Reason::ForcedOffline);
    }
    if revoked_at.is_some() || row.sessions_revoked_at.is_some_and(|t| t >= created_at) {
        return refused(Reason::Revoked);
    }
    let idle =
        chrono::Duration::seconds(i64::try_from(config.idle_timeout_secs).unwrap_or(i64::MAX / 2));
    let last_used = last_used_at.unwrap_or(created_at);
    if now >= expires_at || now - last_used >= idle {
        return refused(Reason::Expired);
    }
    let required = required_step(credentials, &row, mfa, now);
    let overrides = Overrides::parse(&row.permission_overrides);
    let Some(agent) = agent_store::with_values(conn, vec![row])?.pop() else {
        return refused(Reason::Deleted);
    };
    let role_keys = role_store::get(conn, &agent.role)?
        .map(|r| r.permissions)
        .unwrap_or_default();
    let permissions = effective_set(&accounts.access.catalog, &role_keys, &overrides);
    let p = &agent.profile;
    let answer = SessionAnswer {
        session: SessionInfo {
            id: id.clone(),
            created_at: created_at.and_utc(),
            expires_at: expires_at.and_utc(),
            idle_timeout_secs: config.idle_timeout_secs,
            mfa,
        },
        agent: SessionAgent {
            id: agent.id.clone(),
            user_name: p.user_name.clone(),
            display_name: p.display_name.clone(),
            nickname: p.nickname.clone(),
            email: AgentProfile::primary_of(&p.emails).map(str::to_owned),
            employee_number: p.employee_number.clone(),
            department: p.department.clone(),
            title: p.title.clone(),
        },
        role: agent.role.clone(),
        permissions: permissions.into_iter().collect(),
        skill_groups: p.skill_groups.clone(),
        channels: p.channels.clone(),
        max_concurrent_chats: p.max_concurrent_chats,
    };
    let body = serde_json::to_vec(&answer).map_err(|e| StoreError::Task(e.to_string()))?;
    Ok((
        agent_id.clone(),
        Verdict::Valid(Arc::new(Valid {
            session_id: id,
            agent_id,
            expires_at,
            body: body.into(),
            last_used: AtomicI64::new(last_used.and_utc().timestamp_micros()),
            required,
        })),
    ))
}

/// The step the agent of `row` must take before a session (`mfa`: opened with a second
/// factor) is good for work, if any.
fn required_step(
    credentials: &crate::credentials::Credentials,
    row: &crate::store::models::AgentRow,
    mfa: bool,
    now: NaiveDateTime,
) -> Option<Required> {
    use crate::credentials::policy::Expiry;
    if row.must_change_password {
        return Some(Required::PasswordChange);
    }
    let profile = credentials.policies.profile_for(&row.role);
    if let Some(changed) = row.password_changed_at
        && credentials.policies.expiry(profile, changed, now) == Expiry::Expired
    {
        return Some(Required::PasswordExpired);
    }
    if !mfa && credentials.mfa_required(&row.role) {
        return Some(Required::MfaEnrollment);
    }
    None
}
