//! The gateway's bulk creates (a directory's first sync): checked and rendered without a
//! connection, then written with multi-row statements — the same rows, audit entries and
//! events as one `create_agent` each.

use std::collections::HashSet;

use chrono::NaiveDateTime;

use super::{
    AccountError, Accounts, AgentInput, check_channels, check_text, known_roles, new_row,
    normalise, snapshot,
};
use crate::audit::{self, TextEntry};
use crate::store::models::{AgentRow, AgentValueRow};
use crate::store::{DbConn, agents as agent_store, join_write_tx};

/// Creates checked and rendered, ready to be written by [`Accounts::write_creates`]: made
/// without a connection, so a bulk writer can prepare the next batch on one thread while the
/// previous one is written on another.
#[derive(Debug, Default)]
pub struct PreparedCreates {
    /// Per input in order: `None`, or the error that keeps it out.
    outcome: Vec<Option<AccountError>>,
    ready: Vec<Ready>,
}

/// One create ready to insert.
#[derive(Debug)]
struct Ready {
    /// Its place among the inputs.
    index: usize,
    row: AgentRow,
    values: Vec<AgentValueRow>,
    /// The audit entry's `after` (and the event's payload).
    snapshot: String,
    reason: Option<String>,
    digest: Option<String>,
}

impl Accounts {
    /// Creates many agents at once (a directory's first sync): multi-row statements in one
    /// transaction, the same rows, audit entries and events as [`Accounts::create_agent`].
    /// Returns, per input in order, `None` when it was created or the error that kept it out;
    /// one input's error does not keep the others out.
    pub fn create_agents(
        &self,
        conn: &mut DbConn,
        actor: &str,
        source: &str,
        inputs: Vec<AgentInput>,
        now: NaiveDateTime,
    ) -> Result<Vec<Option<AccountError>>, AccountError> {
        let known = known_roles(conn)?;
        let mut prepared = self.prepare_creates(&known, actor, source, inputs, now);
        self.write_creates(conn, actor, &mut prepared, now)
    }

    /// The part of [`Accounts::create_agents`] that needs no connection: checks each input
    /// (`known` are the role names, from [`known_roles`]), builds its row and value rows and
    /// renders its snapshot.
    pub fn prepare_creates(
        &self,
        known: &HashSet<String>,
        actor: &str,
        source: &str,
        inputs: Vec<AgentInput>,
        now: NaiveDateTime,
    ) -> PreparedCreates {
        let mut outcome: Vec<Option<AccountError>> = Vec::with_capacity(inputs.len());
        let mut ready: Vec<Ready> = Vec::with_capacity(inputs.len());
        for (i, mut input) in inputs.into_iter().enumerate() {
            let checked = check_text(&input.profile, None)
                .and_then(|()| check_channels(self.catalog(), &input.profile, None));
            let profile = match checked.and_then(|()| normalise(std::mem::take(&mut input.profile)))
            {
                Ok(p) => p,
                Err(e) => {
                    outcome.push(Some(e));
                    continue;
                }
            };
            let role = profile.role.clone().or_else(|| {
                let mut named = profile
                    .roles
                    .iter()
                    .filter(|r| r.primary)
                    .chain(profile.roles.iter().filter(|r| !r.primary));
                named
                    .find(|r| known.contains(&r.value))
                    .map(|r| r.value.clone())
            });
            let role = role.unwrap_or_else(|| self.default_role.clone());
            if !known.contains(&role) {
                let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
                names.sort_unstable();
                outcome.push(Some(AccountError::Invalid(format!(
                    "unknown role {role:?}; roles: {}",
                    names.join(", ")
                ))));
                continue;
            }
            let id = input
                .id
                .take()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let pending = self.approval.required(source) || input.pending;
            let row = new_row(&profile, &id, role, &input, source, actor, now, pending);
            let values = agent_store::value_rows(&id, &profile);
            let snapshot = snapshot::text(&profile, &row);
            outcome.push(None);
            ready.push(Ready {
                index: i,
                row,
                values,
                snapshot,
                reason: input.reason,
                digest: input.source_digest,
            });
        }
        PreparedCreates { outcome, ready }
    }

    /// Writes what [`Accounts::prepare_creates`] made: rows, values and audit entries, inside
    /// the caller's write transaction when there is one (then an error must end it). An input
    /// whose user name is taken is left out and reported as a conflict.
    pub fn write_creates(
        &self,
        conn: &mut DbConn,
        actor: &str,
        prepared: &mut PreparedCreates,
        now: NaiveDateTime,
    ) -> Result<Vec<Option<AccountError>>, AccountError> {
        let PreparedCreates { outcome, ready } = prepared;
        let mut outcome = std::mem::take(outcome);
        // No savepoint: a clash leaves its row out instead of failing the statement, and any
        // other error ends the caller's transaction too.
        join_write_tx(conn, |conn| -> Result<(), AccountError> {
            let rows: Vec<(&AgentRow, Option<&str>)> = ready
                .iter()
                .map(|c| (&c.row, c.digest.as_deref()))
                .collect();
            let written = agent_store::insert_rows(conn, &rows)?;
            let mut created: Vec<&Ready> = Vec::with_capacity(ready.len());
            for (item, ok) in ready.iter().zip(written) {
                if ok {
                    created.push(item);
                } else {
                    outcome[item.index] = Some(AccountError::Conflict(format!(
                        "userName {:?} is already taken",
                        item.row.user_name
                    )));
                }
            }
            let values: Vec<&AgentValueRow> =
                created.iter().flat_map(|c| c.values.iter()).collect();
            agent_store::insert_value_rows(conn, &values)?;
            let entries: Vec<TextEntry<'_>> = created
                .iter()
                .map(|c| TextEntry {
                    at: now,
                    actor,
                    action: "agent.create",
                    target_type: "agent",
                    target_id: &c.row.id,
                    before: None,
                    after: Some(&c.snapshot),
                    reason: c.reason.as_deref(),
                })
                .collect();
            audit::append_many(conn, &entries)?;
            let rows: Vec<&AgentRow> = created.iter().map(|c| &c.row).collect();
            self.first_links(conn, actor, &rows, now)?;
            Ok(())
        })?;
        Ok(outcome)
    }
}
