//! An agent's second factor through the gateway: starting and confirming a TOTP enrolment
//! (with its recovery codes), using a code at sign-in — the last accepted time step is
//! moved forward in the same transaction, so a code is never accepted twice, even by two
//! nodes at once — and an admin removing it. Secrets arrive sealed and codes as hashes: the
//! gateway never sees either in the clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::{AccountError, Accounts, row_of};
use crate::audit::{self, Entry};
use crate::store::schema::{agent_mfa, recovery_codes};
use crate::store::{DbConn, write_tx};

/// A second factor that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    /// A recovery code, now used; how many are left.
    RecoveryCode {
        left: usize,
    },
}

/// The sealed secret and the last accepted step of agent `id`'s confirmed enrolment.
pub fn confirmed_totp(conn: &mut DbConn, id: &str) -> QueryResult<Option<(String, i64)>> {
    agent_mfa::table
        .filter(agent_mfa::agent_id.eq(id))
        .filter(agent_mfa::confirmed_at.is_not_null())
        .select((agent_mfa::secret, agent_mfa::last_step))
        .first(conn)
        .optional()
}

impl Accounts {
    /// Starts (or restarts) agent `id`'s TOTP enrolment with `sealed_secret`; refused while a
    /// confirmed one exists (an admin removes it first).
    pub fn start_totp(
        &self,
        conn: &mut DbConn,
        id: &str,
        sealed_secret: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            row_of(conn, id)?;
            if confirmed_totp(conn, id)?.is_some() {
                return Err(AccountError::Conflict(
                    "a second factor is already enrolled; an admin must remove it first".into(),
                ));
            }
            diesel::delete(agent_mfa::table.filter(agent_mfa::agent_id.eq(id))).execute(conn)?;
            diesel::insert_into(agent_mfa::table)
                .values((
                    agent_mfa::agent_id.eq(id),
                    agent_mfa::secret.eq(sealed_secret),
                    agent_mfa::last_step.eq(0i64),
                    agent_mfa::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Confirms agent `id`'s started enrolment when `check(sealed secret)` accepts the code
    /// (returning its step), storing `recovery_hashes`; `agent.mfa_enroll`. The agent's
    /// `session` it was confirmed in now counts as signed in with a second factor. False
    /// when the code was wrong.
    pub fn confirm_totp(
        &self,
        conn: &mut DbConn,
        id: &str,
        session: Option<&str>,
        check: impl FnOnce(&str) -> Option<u64>,
        recovery_hashes: &[String],
        now: NaiveDateTime,
    ) -> Result<bool, AccountError> {
        write_tx(conn, |conn| {
            let started: Option<String> = agent_mfa::table
                .filter(agent_mfa::agent_id.eq(id))
                .filter(agent_mfa::confirmed_at.is_null())
                .select(agent_mfa::secret)
                .first(conn)
                .optional()?;
            let Some(sealed) = started else {
                return Err(AccountError::Conflict(
                    "no enrolment was started (or it is already confirmed)".into(),
                ));
            };
            let Some(step) = check(&sealed) else {
                return Ok(false);
            };
            diesel::update(agent_mfa::table.filter(agent_mfa::agent_id.eq(id)))
                .set((
                    agent_mfa::confirmed_at.eq(now),
                    agent_mfa::last_step.eq(i64::try_from(step).unwrap_or(i64::MAX)),
                ))
                .execute(conn)?;
            if let Some(session) = session {
                use crate::store::schema::sessions;
                diesel::update(
                    sessions::table
                        .filter(sessions::id.eq(session))
                        .filter(sessions::agent_id.eq(id)),
                )
                .set(sessions::mfa.eq(true))
                .execute(conn)?;
            }
            diesel::delete(recovery_codes::table.filter(recovery_codes::agent_id.eq(id)))
                .execute(conn)?;
            for h in recovery_hashes {
                diesel::insert_into(recovery_codes::table)
                    .values((
                        recovery_codes::agent_id.eq(id),
                        recovery_codes::code_hash.eq(h),
                    ))
                    .execute(conn)?;
            }
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor: &format!("agent:{id}"),
                    action: "agent.mfa_enroll",
                    target_type: "agent",
                    target_id: id,
                    before: None,
                    after: Some(
                        json!({ "factor": "totp", "recoveryCodes": recovery_hashes.len() }),
                    ),
                    reason: None,
                },
            )?;
            Ok(true)
        })
    }

    /// A second factor at sign-in: `totp(sealed secret, last step)` gives the step a TOTP
    /// code matched (after the last one accepted), else `recovery` (the code's hash) is
    /// looked up among the unused recovery codes. The step or the code is used up in this
    /// transaction. `None` when neither was accepted.
    pub fn use_second_factor(
        &self,
        conn: &mut DbConn,
        id: &str,
        totp: impl FnOnce(&str, u64) -> Option<u64>,
        recovery: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Option<Factor>, AccountError> {
        write_tx(conn, |conn| {
            let Some((sealed, last)) = confirmed_totp(conn, id)? else {
                return Ok(None);
            };
            if let Some(step) = totp(&sealed, u64::try_from(last).unwrap_or(0)) {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                // Compare-and-set: another node accepting the same code meanwhile wins.
                let moved = diesel::update(
                    agent_mfa::table
                        .filter(agent_mfa::agent_id.eq(id))
                        .filter(agent_mfa::last_step.lt(step)),
                )
                .set(agent_mfa::last_step.eq(step))
                .execute(conn)?;
                return Ok((moved == 1).then_some(Factor::Totp));
            }
            let Some(hash) = recovery else {
                return Ok(None);
            };
            let used = diesel::update(
                recovery_codes::table
                    .filter(recovery_codes::agent_id.eq(id))
                    .filter(recovery_codes::code_hash.eq(hash))
                    .filter(recovery_codes::used_at.is_null()),
            )
            .set(recovery_codes::used_at.eq(now))
            .execute(conn)?;
            if used == 0 {
                return Ok(None);
            }
            let left: i64 = recovery_codes::table
                .filter(recovery_codes::agent_id.eq(id))
                .filter(recovery_codes::used_at.is_null())
                .count()
                .get_result(conn)?;
            Ok(Some(Factor::RecoveryCode {
                left: usize::try_from(left).unwrap_or(0),
            }))
        })
    }

    /// Removes agent `id`'s second factor and recovery codes (`agent.mfa_remove`).
    pub fn remove_mfa(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            row_of(conn, id)?;
            let removed = diesel::delete(agent_mfa::table.filter(agent_mfa::agent_id.eq(id)))
                .execute(conn)?;
            diesel::delete(recovery_codes::table.filter(recovery_codes::agent_id.eq(id)))
                .execute(conn)?;
            if removed == 0 {
                return Err(AccountError::NotFound(format!(
                    "second factor of agent {id}"
                )));
            }
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.mfa_remove",
                    target_type: "agent",
                    target_id: id,
                    before: Some(json!({ "factor": "totp" })),
                    after: None,
                    reason: Some(reason),
                },
            )?;
            Ok(())
        })
    }
}
