//! An agent's sign-in state as admins see it: failures in a row, the lock, when it last
//! signed in, and its live sessions (never their tokens).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::DbConn;
use crate::store::schema::{agents, sessions};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigninState {
    pub agent_id: String,
    /// Failed sign-ins in a row.
    pub failed_signins: i32,
    /// Locked after failed sign-ins until then (absent: not locked).
    pub locked_until: Option<DateTime<Utc>>,
    pub last_signin_at: Option<DateTime<Utc>>,
    /// Live sessions, newest first.
    pub sessions: Vec<SessionSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// As last written by the nodes (every `sessions.touch_interval_secs`).
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub mfa: bool,
}

type Row = (
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    NaiveDateTime,
    Option<String>,
    Option<String>,
    bool,
);

/// Agent `id`'s sign-in state at `now`; `None` when there is no live agent `id`.
pub fn signin_state(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<SigninState>> {
    let Some(row) = crate::store::agents::get_row(conn, id)? else {
        return Ok(None);
    };
    let revoked_all = row.sessions_revoked_at;
    let rows: Vec<Row> = sessions::table
        .filter(sessions::agent_id.eq(id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::created_at.desc())
        .limit(1000)
        .select((
            sessions::id,
            sessions::created_at,
            sessions::last_used_at,
            sessions::expires_at,
            sessions::client_ip,
            sessions::user_agent,
            sessions::mfa,
        ))
        .load(conn)?;
    let last_signin: Option<NaiveDateTime> = agents::table
        .filter(agents::id.eq(id))
        .select(agents::last_seen_at)
        .first(conn)?;
    let sessions = rows
        .into_iter()
        .filter(|r| revoked_all.is_none_or(|t| r.1 > t))
        .map(|(id, created, used, expires, ip, ua, mfa)| SessionSummary {
            id,
            created_at: created.and_utc(),
            last_used_at: used.map(|t| t.and_utc()),
            expires_at: expires.and_utc(),
            client_ip: ip,
            user_agent: ua,
            mfa,
        })
        .collect();
    Ok(Some(SigninState {
        agent_id: row.id,
        failed_signins: row.failed_logins,
        locked_until: row.locked_until.filter(|t| *t > now).map(|t| t.and_utc()),
        last_signin_at: last_signin.map(|t| t.and_utc()),
        sessions,
    }))
}
