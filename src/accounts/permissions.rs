//! An agent's permissions through the gateway: its effective permissions with where each
//! comes from, setting its grants and denies, and changing its role — each change with a
//! dry run that says what it would gain and lose.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::role_changes::AgentImpact;
use super::{AccountError, Accounts, AgentInput, at_version, ensure_role, row_of, write_next};
use crate::audit::{self, Entry};
use crate::domain::permissions::{
    Effective, Overrides, change_for, diff, effective, effective_set,
};
use crate::store::models::AgentRow;
use crate::store::{DbConn, roles as role_store, write_tx};

/// An agent's effective permissions: the "why can this agent …?" answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPermissions {
    pub id: String,
    pub user_name: String,
    pub role: String,
    pub overrides: Overrides,
    /// Every key the agent has, and every key denied to it, with its source.
    pub permissions: Vec<Effective>,
    /// The agent's version (its ETag).
    pub version: i64,
}

impl Accounts {
    fn role_keys(&self, conn: &mut DbConn, role: &str) -> Result<Vec<String>, AccountError> {
        Ok(role_store::get(conn, role)?
            .map(|r| r.permissions)
            .unwrap_or_default())
    }

    fn permissions_of(
        &self,
        conn: &mut DbConn,
        row: &AgentRow,
    ) -> Result<AgentPermissions, AccountError> {
        let overrides = Overrides::parse(&row.permission_overrides);
        let keys = self.role_keys(conn, &row.role)?;
        Ok(AgentPermissions {
            id: row.id.clone(),
            user_name: row.user_name.clone(),
            role: row.role.clone(),
            permissions: effective(&self.access.catalog, &keys, &overrides),
            overrides,
            version: row.version,
        })
    }

    /// The effective permissions of live agent `id`.
    pub fn agent_permissions(
        &self,
        conn: &mut DbConn,
        id: &str,
    ) -> Result<AgentPermissions, AccountError> {
        let row = row_of(conn, id)?;
        self.permissions_of(conn, &row)
    }

    /// Replaces agent `id`'s grants and denies. With `dry_run` nothing is written. Returns
    /// the permissions after the change and what the agent gains and loses. Audited as an
    /// `agent.update` (and an `agent.permissions_change` when its effective permissions
    /// change).
    #[allow(clippy::too_many_arguments)]
    pub fn set_permission_overrides(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        overrides: Overrides,
        expected_version: Option<i64>,
        dry_run: bool,
        now: NaiveDateTime,
    ) -> Result<(AgentPermissions, AgentImpact), AccountError> {
        let overrides = overrides
            .checked(&self.access.catalog)
            .map_err(AccountError::Invalid)?;
        let run = |conn: &mut DbConn| {
            let mut row = row_of(conn, id)?;
            at_version(&row, expected_version)?;
            let keys = self.role_keys(conn, &row.role)?;
            let before = Overrides::parse(&row.permission_overrides);
            let catalog = &self.access.catalog;
            let change = diff(
                catalog,
                &effective_set(catalog, &keys, &before),
                &effective_set(catalog, &keys, &overrides),
            );
            let impact = AgentImpact {
                id: row.id.clone(),
                user_name: row.user_name.clone(),
                gained: change.gained.clone(),
                lost: change.lost.clone(),
            };
            let text = overrides.to_text();
            if dry_run || text == row.permission_overrides {
                row.permission_overrides = text;
                return Ok((self.permissions_of(conn, &row)?, impact));
            }
            let read = row.version;
            row.permission_overrides = text;
            write_next(conn, &mut row, read, now)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.update",
                    target_type: "agent",
                    target_id: id,
                    before: Some(json!({ "permissionOverrides": before })),
                    after: Some(json!({ "permissionOverrides": overrides })),
                    reason: None,
                },
            )?;
            self.record_permission_change(
                conn,
                actor,
                id,
                &row.role,
                &change,
                "the agent's permission overrides changed",
                now,
            )?;
            Ok((self.permissions_of(conn, &row)?, impact))
        };
        if dry_run {
            run(conn)
        } else {
            write_tx(conn, run)
        }
    }

    /// What agent `id` would gain and lose if it held `role` instead of its own.
    pub fn role_move_impact(
        &self,
        conn: &mut DbConn,
        id: &str,
        role: &str,
    ) -> Result<AgentImpact, AccountError> {
        let row = row_of(conn, id)?;
        ensure_role(conn, role)?;
        let before = self.role_keys(conn, &row.role)?;
        let after = self.role_keys(conn, role)?;
        let o = Overrides::parse(&row.permission_overrides);
        let change = change_for(&self.access.catalog, &before, &after, &o);
        Ok(AgentImpact {
            id: row.id,
            user_name: row.user_name,
            gained: change.gained,
            lost: change.lost,
        })
    }

    /// Gives agent `id` the role `role`, keeping everything else (with `dry_run`: only
    /// what it would gain and lose). For the admin API's agent PATCH and the CLI; the
    /// change is an `agent.update` (and an `agent.permissions_change` when the effective
    /// permissions change).
    #[allow(clippy::too_many_arguments)]
    pub fn set_agent_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        role: &str,
        expected_version: Option<i64>,
        dry_run: bool,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<AgentImpact, AccountError> {
        if dry_run {
            return self.role_move_impact(conn, id, role);
        }
        write_tx(conn, |conn| {
            let impact = self.role_move_impact(conn, id, role)?;
            self.update_agent_with(conn, actor, id, expected_version, reason, now, |current| {
                let mut profile = current.profile.clone();
                profile.role = Some(role.to_owned());
                Ok(AgentInput {
                    profile,
                    ..AgentInput::default()
                })
            })?;
            Ok(impact)
        })
    }

    /// After agent `id` moved from role `from` to `to` inside the caller's transaction:
    /// records what that did to its permissions.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn note_role_move(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        from: &str,
        to: &str,
        overrides: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        let before = self.role_keys(conn, from)?;
        let after = self.role_keys(conn, to)?;
        let change = change_for(
            &self.access.catalog,
            &before,
            &after,
            &Overrides::parse(overrides),
        );
        let reason = format!("role changed from {from} to {to}");
        self.record_permission_change(conn, actor, id, to, &change, &reason, now)
    }
}
