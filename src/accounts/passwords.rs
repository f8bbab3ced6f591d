//! Passwords through the gateway: an agent changing its own, an admin resetting one (a
//! one-time link or a random initial password to be changed at first sign-in), the
//! self-service reset request, and a link (`links`) used to choose one. Each writes the
//! password, the history the classic policy compares against, the failure count and lock,
//! the sessions it ends, the mail it sends (to the outbox) and its audit entries in one
//! transaction. Passwords arrive hashed and links as their token's hash: the gateway never
//! sees either in the clear, and neither is ever written to the audit log.
//!
//! Like sign-in bookkeeping, these writes leave the agent's `version` alone (SCIM never
//! shows a password).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::links::{IssuedLink, LinkPurpose, LinkRefusal, live_link, usable};
use super::signin::{audit_revoke, end_sessions};
use super::{AccountError, Accounts, row_of};
use crate::audit::{self, Entry};
use crate::store::models::AgentRow;
use crate::store::schema::{agents, credential_links, password_history};
use crate::store::{DbConn, write_tx};

/// How an admin resets a password.
#[derive(Debug, Clone)]
pub enum ResetMethod {
    /// The password is cleared and a reset link issued.
    Link,
    /// This hash (of a random password shown once to the admin) replaces the password, to be
    /// changed at the next sign-in.
    InitialPassword(String),
}

/// Agent `id`'s password hashes, newest first: the current one, then up to `n` earlier.
pub fn password_hashes(conn: &mut DbConn, id: &str, n: usize) -> QueryResult<Vec<String>> {
    let current: Option<Option<String>> = agents::table
        .filter(agents::id.eq(id))
        .select(agents::password_hash)
        .first(conn)
        .optional()?;
    let mut out: Vec<String> = current.flatten().into_iter().collect();
    if n > 0 {
        let earlier: Vec<String> = password_history::table
            .filter(password_history::agent_id.eq(id))
            .order(password_history::changed_at.desc())
            .select(password_history::password_hash)
            .limit(i64::try_from(n).unwrap_or(i64::MAX))
            .load(conn)?;
        out.extend(earlier);
    }
    Ok(out)
}

impl Accounts {
    /// Agent `id` changed its own password (having proved the current one): `hash` replaces
    /// it, the old one goes to the history, and every other session ends (`keep`, the one
    /// it changed it from, stays). Audited `agent.password_change`.
    pub fn change_password(
        &self,
        conn: &mut DbConn,
        id: &str,
        hash: &str,
        keep: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let row = row_of(conn, id)?;
            let actor = format!("agent:{id}");
            let ended = self.store_password(conn, &row, Some(hash), false, keep, now)?;
            audit_password(
                conn,
                &actor,
                "agent.password_change",
                id,
                json!({ "via": "self", "sessionsEnded": ended.len() }),
                None,
                now,
            )?;
            audit_revoke(conn, &actor, id, &ended, "password changed", now)?;
            Ok(())
        })
    }

    /// An admin resets agent `id`'s password: by link (the password is cleared and a reset
    /// link mailed; `None` mail when the agent has no email) or to an initial password that
    /// must be changed at the next sign-in. Every session ends and any lock is lifted.
    /// Audited `agent.password_reset` (the method, never the password or link).
    pub fn reset_password(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        method: ResetMethod,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Option<IssuedLink>, AccountError> {
        write_tx(conn, |conn| {
            let row = row_of(conn, id)?;
            if !usable(&row) {
                return Err(AccountError::Conflict(format!(
                    "agent {id} is {}: enable it before resetting its password",
                    row.status
                )));
            }
            let (hash, must_change, label) = match &method {
                ResetMethod::Link => (None, false, "link"),
                ResetMethod::InitialPassword(h) => (Some(h.as_str()), true, "initial_password"),
            };
            let ended = self.store_password(conn, &row, hash, must_change, None, now)?;
            let link = match method {
                ResetMethod::Link => {
                    Some(self.write_link(conn, actor, &row, LinkPurpose::Reset, now)?)
                }
                ResetMethod::InitialPassword(_) => None,
            };
            audit_password(
                conn,
                actor,
                "agent.password_reset",
                id,
                json!({
                    "method": label,
                    "mustChange": must_change,
                    "linkExpiresAt": link.as_ref().map(|l| l.expires_at),
                    "mail": link.as_ref().and_then(|l| l.mail_id),
                    "sessionsEnded": ended.len(),
                }),
                reason,
                now,
            )?;
            audit_revoke(conn, actor, id, &ended, "password reset", now)?;
            Ok(link)
        })
    }

    /// Self-service: mails agent `row`'s reset link, unless one was sent within
    /// `reset_interval` or the agent has no email or cannot sign in anyway. Leaves the
    /// password, sessions and lock as they are: anyone may ask for anyone. Audited
    /// `agent.password_reset_request` with the client; `None` when nothing was sent.
    pub fn request_reset(
        &self,
        conn: &mut DbConn,
        id: &str,
        client: super::Client<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<IssuedLink>, AccountError> {
        write_tx(conn, |conn| {
            let row = row_of(conn, id)?;
            if !usable(&row) || row.email.as_deref().is_none_or(str::is_empty) {
                return Ok(None);
            }
            let last: Option<NaiveDateTime> = credential_links::table
                .filter(credential_links::agent_id.eq(id))
                .filter(credential_links::purpose.eq(LinkPurpose::Reset.as_str()))
                .select(diesel::dsl::max(credential_links::created_at))
                .first(conn)?;
            if last.is_some_and(|t| now - t < self.links.reset_interval) {
                return Ok(None);
            }
            let link =
                self.write_link(conn, &format!("agent:{id}"), &row, LinkPurpose::Reset, now)?;
            audit_password(
                conn,
                "anonymous",
                "agent.password_reset_request",
                id,
                json!({
                    "ip": client.ip,
                    "userAgent": client.user_agent,
                    "linkExpiresAt": link.expires_at,
                    "mail": link.mail_id,
                }),
                None,
                now,
            )?;
            Ok(Some(link))
        })
    }

    /// Uses the link whose token hashes to `token_hash` (once: a second use is refused even
    /// when two arrive together) to set the password to `hash`. Lifts any lock — a reset
    /// works while locked — and ends every session. Audited `agent.password_change` with
    /// the link's purpose. The refusal when the link cannot be used.
    pub fn use_link(
        &self,
        conn: &mut DbConn,
        token_hash: &str,
        hash: &str,
        now: NaiveDateTime,
    ) -> Result<Result<String, LinkRefusal>, AccountError> {
        write_tx(conn, |conn| {
            let link = match live_link(conn, token_hash, now)? {
                Ok(l) => l,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let used = diesel::update(
                credential_links::table
                    .filter(credential_links::token_hash.eq(token_hash))
                    .filter(credential_links::used_at.is_null()),
            )
            .set(credential_links::used_at.eq(now))
            .execute(conn)?;
            if used == 0 {
                return Ok(Err(LinkRefusal::Used));
            }
            let id = link.agent.id.clone();
            let actor = format!("agent:{id}");
            let ended = self.store_password(conn, &link.agent, Some(hash), false, None, now)?;
            let via = match link.purpose {
                LinkPurpose::Activation => "activation_link",
                LinkPurpose::Reset => "reset_link",
            };
            audit_password(
                conn,
                &actor,
                "agent.password_change",
                &id,
                json!({
                    "via": via,
                    "unlocked": link.agent.locked_until.is_some_and(|t| t > now),
                    "sessionsEnded": ended.len(),
                }),
                None,
                now,
            )?;
            audit_revoke(conn, &actor, &id, &ended, "password reset", now)?;
            Ok(Ok(id))
        })
    }

    /// Writes `hash` (or clears the password) with the must-change flag, moves the old hash
    /// to the history (keeping `links.history`), lifts any lock and ends the sessions but
    /// `keep`; the ids of those ended.
    fn store_password(
        &self,
        conn: &mut DbConn,
        row: &AgentRow,
        hash: Option<&str>,
        must_change: bool,
        keep: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Vec<String>, AccountError> {
        let id = row.id.as_str();
        if let Some(old) = &row.password_hash
            && self.links.history > 0
        {
            // One entry per instant: a second change within the same microsecond replaces it.
            diesel::delete(
                password_history::table
                    .filter(password_history::agent_id.eq(id))
                    .filter(password_history::changed_at.eq(now)),
            )
            .execute(conn)?;
            diesel::insert_into(password_history::table)
                .values((
                    password_history::agent_id.eq(id),
                    password_history::changed_at.eq(now),
                    password_history::password_hash.eq(old),
                ))
                .execute(conn)?;
            let stale: Vec<NaiveDateTime> = password_history::table
                .filter(password_history::agent_id.eq(id))
                .order(password_history::changed_at.desc())
                .select(password_history::changed_at)
                .offset(i64::try_from(self.links.history).unwrap_or(i64::MAX))
                .load(conn)?;
            if !stale.is_empty() {
                diesel::delete(
                    password_history::table
                        .filter(password_history::agent_id.eq(id))
                        .filter(password_history::changed_at.eq_any(&stale)),
                )
                .execute(conn)?;
            }
        }
        diesel::update(agents::table.filter(agents::id.eq(id)))
            .set((
                agents::password_hash.eq(hash),
                agents::password_changed_at.eq(hash.map(|_| now)),
                agents::must_change_password.eq(must_change),
                agents::failed_logins.eq(0),
                agents::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        let ended = end_sessions(conn, id, None, keep, "password changed", now)?;
        Ok(ended)
    }
}

pub(super) fn audit_password(
    conn: &mut DbConn,
    actor: &str,
    action: &str,
    id: &str,
    after: serde_json::Value,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    audit::append(
        conn,
        Entry {
            at: now,
            actor,
            action,
            target_type: "agent",
            target_id: id,
            before: None,
            after: Some(after),
            reason,
        },
    )?;
    Ok(())
}
