//! The gateway's lifecycle steps an admin takes: approving or rejecting a pending agent
//! (with the optional four-eyes rule), forcing an agent offline and letting it back.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{AccountError, Accounts, row_of, write_next};
use crate::audit::{self, Entry};
use crate::domain::{Agent, Status};
use crate::store::schema::audit_log;
use crate::store::{DbConn, agents as agent_store, write_tx};

impl Accounts {
    /// Activates a pending agent (audited `agent.approve`). With the four-eyes rule, the
    /// approver must not be the actor of the agent's `agent.create` entry.
    pub fn approve(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        write_tx(conn, |conn| {
            let mut row = row_of(conn, id)?;
            if row.status != Status::Pending.as_str() {
                return Err(AccountError::Conflict(format!(
                    "agent {id} is not pending approval (status {})",
                    row.status
                )));
            }
            if self.approval.four_eyes && creator(conn, id)?.as_deref() == Some(actor) {
                return Err(AccountError::FourEyes(format!(
                    "four-eyes rule: {actor} created agent {id} and cannot also approve it"
                )));
            }
            let read = row.version;
            row.status = Status::Active.as_str().into();
            write_next(conn, &mut row, read, now)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.approve",
                    target_type: "agent",
                    target_id: id,
                    before: Some(json!({ "status": Status::Pending.as_str() })),
                    after: Some(json!({ "status": Status::Active.as_str() })),
                    reason,
                },
            )?;
            self.first_link(conn, actor, &row, None, now)?;
            agent_store::get(conn, id)?.ok_or_else(|| AccountError::NotFound(id.to_owned()))
        })
    }

    /// Refuses a pending agent: deleted like [`Accounts::delete_agent`] (grace period, then
    /// purged), audited `agent.reject` with the reason.
    pub fn reject(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        self.remove(
            conn,
            actor,
            id,
            None,
            Some(reason),
            now,
            "agent.reject",
            |row| {
                if row.status == Status::Pending.as_str() {
                    Ok(())
                } else {
                    Err(AccountError::Conflict(format!(
                        "agent {id} is not pending approval (status {})",
                        row.status
                    )))
                }
            },
        )
    }

    /// Blocks sign-in and revokes the agent's sessions (`agent.force_offline`), or lifts the
    /// block (`agent.resume`), keeping the profile as it is.
    pub fn set_login_blocked(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        blocked: bool,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        self.step(conn, actor, id, reason, now, |input| {
            input.login_blocked = Some(blocked)
        })
    }
}

/// The actor of the agent's `agent.create` entry.
fn creator(conn: &mut DbConn, id: &str) -> diesel::QueryResult<Option<String>> {
    use diesel::prelude::*;
    audit_log::table
        .filter(audit_log::target_type.eq("agent"))
        .filter(audit_log::target_id.eq(id))
        .filter(audit_log::action.eq("agent.create"))
        .order(audit_log::id.asc())
        .select(audit_log::actor)
        .first(conn)
        .optional()
}
