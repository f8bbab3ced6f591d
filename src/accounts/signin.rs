//! Sign-in through the gateway: what a good or a bad sign-in writes (the session, the
//! failure count and lock, the addresses an agent signs in from), unlocking, and revoking
//! sessions — each with its entry in the audit log, which is also the security log. No
//! password, token or code is ever written to it.
//!
//! These writes leave the agent's `version` and `updated_at` alone: they are not part of the
//! agent as SCIM and the admin API show it, and a sign-in must not make an identity
//! provider's next PATCH fail its `If-Match`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

use super::{AccountError, Accounts, row_of};
use crate::audit::{self, Entry};
use crate::domain::Status;
use crate::store::models::AgentRow;
use crate::store::query::lower_n;
use crate::store::schema::{agent_addresses, agents, sessions};
use crate::store::{DbConn, write_tx};

/// Where a sign-in comes from, for the security log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    /// SHA-256 of the token (hex); the token itself is never stored.
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    /// Signed in with a second factor.
    pub mfa: bool,
}

/// Why a sign-in was refused, as the security log and the API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such user, or a wrong password.
    InvalidCredentials,
    /// A wrong or reused TOTP or recovery code.
    InvalidCode,
    /// Locked after failed sign-ins (the lock ends by itself, or an admin unlocks).
    Locked,
    /// Suspended (disabled) or deleted.
    Disabled,
    /// Waiting for approval.
    Pending,
    /// Forced offline until resumed.
    ForcedOffline,
    /// No password set yet (an activation link or a reset sets one).
    NoPassword,
    /// The client's address made too many failed sign-ins.
    Throttled,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => "invalid_credentials",
            Refusal::InvalidCode => "invalid_code",
            Refusal::Locked => "locked",
            Refusal::Disabled => "disabled",
            Refusal::Pending => "pending",
            Refusal::ForcedOffline => "forced_offline",
            Refusal::NoPassword => "no_password",
            Refusal::Throttled => "throttled",
        }
    }

    /// Whether this refusal counts towards the account's lock (a wrong secret does; a
    /// state of the account does not).
    fn counts(self) -> bool {
        matches!(self, Refusal::InvalidCredentials | Refusal::InvalidCode)
    }

    /// The state that refuses a sign-in of `row` whatever its password, if any.
    pub fn of_state(row: &AgentRow) -> Option<Refusal> {
        match Status::parse(&row.status) {
            Some(Status::Active) if row.login_blocked => Some(Refusal::ForcedOffline),
            Some(Status::Active) => None,
            Some(Status::Pending) => Some(Refusal::Pending),
            _ => Some(Refusal::Disabled),
        }
    }
}

/// What a refused sign-in did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Failed sign-ins in a row, this one included (0 when the refusal does not count).
    pub failures: i32,
    /// The account is locked until then.
    pub locked_until: Option<NaiveDateTime>,
}

/// The live agent a sign-in names: by user name (compared as the gateway folds names) or,
/// failing that, by primary email when exactly one live agent has it.
pub fn find_for_signin(conn: &mut DbConn, login: &str) -> QueryResult<Option<AgentRow>> {
    let live = || {
        agents::table
            .filter(agents::status.ne(Status::Deleted.as_str()))
            .select(AgentRow::as_select())
    };
    let key = crate::domain::names::fold(login);
    if let Some(row) = live()
        .filter(agents::user_name_key.eq(&key))
        .first(conn)
        .optional()?
    {
        return Ok(Some(row));
    }
    if !login.contains('@') {
        return Ok(None);
    }
    let mut by_email: Vec<AgentRow> = live()
        .filter(lower_n(agents::email).eq(login.to_lowercase()))
        .limit(2)
        .load(conn)?;
    Ok(if by_email.len() == 1 {
        by_email.pop()
    } else {
        None
    })
}

impl Accounts {
    /// A good sign-in of agent `id`: opens `session`, clears the failure count and any
    /// lock, stores `rehash` (the password hashed again with the current parameters) when
    /// given, remembers the address. Audited as `agent.signin`, and `agent.signin_new_ip`
    /// when the agent had signed in before but never from this address.
    pub fn signed_in(
        &self,
        conn: &mut DbConn,
        id: &str,
        session: &NewSession,
        rehash: Option<&str>,
        client: Client<'_>,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let row = row_of(conn, id)?;
            if let Some(refusal) = Refusal::of_state(&row) {
                // Changed while the password was being checked.
                return Err(AccountError::Invalid(refusal.code().into()));
            }
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(&session.id),
                    sessions::agent_id.eq(id),
                    sessions::token_hash.eq(&session.token_hash),
                    sessions::created_at.eq(now),
                    sessions::expires_at.eq(session.expires_at),
                    sessions::last_used_at.eq(now),
                    sessions::client_ip.eq(client.ip),
                    sessions::user_agent.eq(client.user_agent),
                    sessions::mfa.eq(session.mfa),
                ))
                .execute(conn)?;
            let target = agents::table.filter(agents::id.eq(id));
            match rehash {
                Some(hash) => diesel::update(target)
                    .set((
                        agents::failed_logins.eq(0),
                        agents::locked_until.eq(None::<NaiveDateTime>),
                        agents::last_seen_at.eq(now),
                        agents::password_hash.eq(hash),
                    ))
                    .execute(conn)?,
                None => diesel::update(target)
                    .set((
                        agents::failed_logins.eq(0),
                        agents::locked_until.eq(None::<NaiveDateTime>),
                        agents::last_seen_at.eq(now),
                    ))
                    .execute(conn)?,
            };
            let new_address = match client.ip {
                Some(ip) => remember_address(conn, id, ip, now)?,
                None => false,
            };
            let actor = format!("agent:{id}");
            let after = json!({
                "session": session.id,
                "ip": client.ip,
                "userAgent": client.user_agent,
                "mfa": session.mfa,
                "expiresAt": session.expires_at,
                "rehashed": rehash.is_some(),
            });
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor: &actor,
                    action: "agent.signin",
                    target_type: "agent",
                    target_id: id,
                    before: None,
                    after: Some(after),
                    reason: None,
                },
            )?;
            if new_address {
                audit::append(
                    conn,
                    Entry {
                        at: now,
                        actor: &actor,
                        action: "agent.signin_new_ip",
                        target_type: "agent",
                        target_id: id,
                        before: None,
                        after: Some(json!({
                            "ip": client.ip,
                            "userAgent": client.user_agent,
                            "session": session.id,
                        })),
                        reason: None,
                    },
                )?;
            }
            Ok(())
        })
    }

    /// A refused sign-in. For a known agent and a refusal that counts (a wrong password or
    /// code) the failure count goes up and, past the threshold, the account is locked for
    /// `lock_for(failures)` (`agent.lock`, once per lock). Audited as `agent.signin_failed`
    /// with the reason; an unknown `login` is recorded against the name tried
    /// (target type `login`).
    #[allow(clippy::too_many_arguments)]
    pub fn signin_failed(
        &self,
        conn: &mut DbConn,
        id: Option<&str>,
        login: &str,
        refusal: Refusal,
        lock_for: impl Fn(u32) -> std::time::Duration,
        client: Client<'_>,
        now: NaiveDateTime,
    ) -> Result<Failure, AccountError> {
        write_tx(conn, |conn| {
            let mut failure = Failure {
                failures: 0,
                locked_until: None,
            };
            let mut newly_locked = false;
            if let Some(id) = id {
                let row = row_of(conn, id)?;
                failure.locked_until = row.locked_until.filter(|t| *t > now);
                if refusal.counts() {
                    failure.failures = row.failed_logins.saturating_add(1);
                    let lock = lock_for(u32::try_from(failure.failures).unwrap_or(0));
                    if !lock.is_zero() {
                        let until =
                            now + Duration::from_std(lock).unwrap_or_else(|_| Duration::hours(1));
                        newly_locked = failure.locked_until.is_none();
                        failure.locked_until = Some(until);
                    }
                    diesel::update(agents::table.filter(agents::id.eq(id)))
                        .set((
                            agents::failed_logins.eq(failure.failures),
                            agents::locked_until.eq(failure.locked_until),
                        ))
                        .execute(conn)?;
                }
            }
            let (target_type, target_id) = match id {
                Some(id) => ("agent", id.to_owned()),
                None => ("login", login.chars().take(256).collect()),
            };
            let after = json!({
                "reason": refusal.code(),
                "login": login.chars().take(256).collect::<String>(),
                "ip": client.ip,
                "userAgent": client.user_agent,
                "failures": failure.failures,
                "lockedUntil": failure.locked_until,
            });
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor: "anonymous",
                    action: "agent.signin_failed",
                    target_type,
                    target_id: &target_id,
                    before: None,
                    after: Some(after),
                    reason: Some(refusal.code()),
                },
            )?;
            if newly_locked && let Some(id) = id {
                audit::append(
                    conn,
                    Entry {
                        at: now,
                        actor: "system",
                        action: "agent.lock",
                        target_type: "agent",
                        target_id: id,
                        before: None,
                        after: Some(json!({
                            "failures": failure.failures,
                            "lockedUntil": failure.locked_until,
                            "ip": client.ip,
                        })),
                        reason: Some("too many failed sign-ins"),
                    },
                )?;
            }
            Ok(failure)
        })
    }

    /// Clears agent `id`'s failure count and lock (`agent.unlock`).
    pub fn unlock(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let row = row_of(conn, id)?;
            diesel::update(agents::table.filter(agents::id.eq(id)))
                .set((
                    agents::failed_logins.eq(0),
                    agents::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.unlock",
                    target_type: "agent",
                    target_id: id,
                    before: Some(json!({
                        "failures": row.failed_logins,
                        "lockedUntil": row.locked_until,
                    })),
                    after: Some(json!({ "failures": 0, "lockedUntil": null })),
                    reason: Some(reason),
                },
            )?;
            Ok(())
        })
    }

    /// Revokes agent `id`'s live sessions — one (`session`) or all — and says how many
    /// (`session.revoke`, listing them; nothing is written when none was live).
    pub fn revoke_sessions(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        session: Option<&str>,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<usize, AccountError> {
        write_tx(conn, |conn| {
            row_of(conn, id)?;
            let revoked = end_sessions(conn, id, session, None, reason, now)?;
            if revoked.is_empty()
                && let Some(s) = session
            {
                return Err(AccountError::NotFound(format!("live session {s}")));
            }
            audit_revoke(conn, actor, id, &revoked, reason, now)?;
            Ok(revoked.len())
        })
    }
}

/// `session.revoke` for the sessions `ended` (the chat platform hears `session.revoked`);
/// nothing when none was live.
pub(super) fn audit_revoke(
    conn: &mut DbConn,
    actor: &str,
    id: &str,
    ended: &[String],
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    if ended.is_empty() {
        return Ok(());
    }
    audit::append(
        conn,
        Entry {
            at: now,
            actor,
            action: "session.revoke",
            target_type: "agent",
            target_id: id,
            before: None,
            after: Some(json!({ "sessions": ended })),
            reason: Some(reason),
        },
    )?;
    Ok(())
}

/// Marks agent `id`'s live sessions (or the one named; all but `except`) revoked; their ids.
pub(super) fn end_sessions(
    conn: &mut DbConn,
    id: &str,
    session: Option<&str>,
    except: Option<&str>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let mut live = sessions::table
        .filter(sessions::agent_id.eq(id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(sessions::id)
        .into_boxed();
    if let Some(s) = session {
        live = live.filter(sessions::id.eq(s));
    }
    if let Some(s) = except {
        live = live.filter(sessions::id.ne(s));
    }
    let ids: Vec<String> = live.load(conn)?;
    if !ids.is_empty() {
        diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
            .set((
                sessions::revoked_at.eq(now),
                sessions::revoked_reason.eq(reason),
            ))
            .execute(conn)?;
    }
    Ok(ids)
}

/// Records a sign-in from `ip`; true when the agent had signed in before, but never from
/// there (a first sign-in ever is not "new").
fn remember_address(
    conn: &mut DbConn,
    id: &str,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let known = diesel::update(
        agent_addresses::table
            .filter(agent_addresses::agent_id.eq(id))
            .filter(agent_addresses::address.eq(ip)),
    )
    .set(agent_addresses::last_seen_at.eq(now))
    .execute(conn)?;
    if known > 0 {
        return Ok(false);
    }
    let before: i64 = agent_addresses::table
        .filter(agent_addresses::agent_id.eq(id))
        .count()
        .get_result(conn)?;
    diesel::insert_into(agent_addresses::table)
        .values((
            agent_addresses::agent_id.eq(id),
            agent_addresses::address.eq(ip),
            agent_addresses::first_seen_at.eq(now),
            agent_addresses::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(before > 0)
}
