//! What a change of a role's permissions does to its holders, and the events that record
//! it. Holders without overrides are one group (a count and one change); only holders with
//! overrides are read one by one. Writing the events pages through the plain holders by
//! id, so a role held by 100,000 agents is never loaded whole.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::{AccountError, Accounts};
use crate::audit::{self, TextEntry};
use crate::domain::permissions::{Change, Overrides, change_for};
use crate::domain::roles::Role;
use crate::store::{DbConn, roles as role_store};

/// The audit action of an agent whose effective permissions changed (the event
/// `agent.permissions_changed`).
pub const PERMISSIONS_CHANGE: &str = "agent.permissions_change";

/// Events are written in chunks of this many entries.
const CHUNK: i64 = 2000;

/// Who gains and who loses which permission when a role's permissions change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleImpact {
    pub role: String,
    /// Live agents holding the role.
    pub holders: i64,
    /// Holders whose effective permissions change.
    pub affected: i64,
    /// The holders without overrides: all affected alike.
    pub without_overrides: GroupImpact,
    /// The holders with overrides whose effective permissions change, each with its own
    /// change.
    pub with_overrides: Vec<AgentImpact>,
}

/// One group of holders affected alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupImpact {
    pub agents: i64,
    pub gained: Vec<String>,
    pub lost: Vec<String>,
}

/// What a change does to one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentImpact {
    pub id: String,
    pub user_name: String,
    pub gained: Vec<String>,
    pub lost: Vec<String>,
}

impl Accounts {
    /// What giving `role` the permissions `after` does to its live holders.
    pub(super) fn role_impact(
        &self,
        conn: &mut DbConn,
        role: &Role,
        after: &[String],
    ) -> Result<RoleImpact, AccountError> {
        let catalog = &self.access.catalog;
        let (holders, _) = role_store::holders_of(conn, &role.name)?;
        let plain = change_for(catalog, &role.permissions, after, &Overrides::default());
        let mut impact = RoleImpact {
            role: role.name.clone(),
            holders,
            ..RoleImpact::default()
        };
        if catalog.ordered(role.permissions.iter().map(String::as_str))
            == catalog.ordered(after.iter().map(String::as_str))
        {
            return Ok(impact);
        }
        let plain_count = role_store::plain_holders(conn, &role.name)?;
        if !plain.is_empty() {
            impact.affected += plain_count;
        }
        impact.without_overrides = GroupImpact {
            agents: plain_count,
            gained: plain.gained,
            lost: plain.lost,
        };
        for h in role_store::holders_with_overrides(conn, &role.name)? {
            let o = Overrides::parse(&h.overrides);
            let change = change_for(catalog, &role.permissions, after, &o);
            if !change.is_empty() {
                impact.affected += 1;
                impact.with_overrides.push(AgentImpact {
                    id: h.id,
                    user_name: h.user_name,
                    gained: change.gained,
                    lost: change.lost,
                });
            }
        }
        Ok(impact)
    }

    /// One `agent.permissions_change` entry per affected holder. Inside the caller's
    /// transaction.
    pub(super) fn write_permission_events(
        &self,
        conn: &mut DbConn,
        actor: &str,
        impact: &RoleImpact,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        let reason = format!("the permissions of role {} changed", impact.role);
        let rendered: Vec<(String, String)> = impact
            .with_overrides
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    payload(
                        &impact.role,
                        &Change {
                            gained: a.gained.clone(),
                            lost: a.lost.clone(),
                        },
                    ),
                )
            })
            .collect();
        for chunk in rendered.chunks(CHUNK as usize) {
            let entries: Vec<TextEntry<'_>> = chunk
                .iter()
                .map(|(id, after)| entry(actor, id, after, &reason, now))
                .collect();
            audit::append_many(conn, &entries)?;
        }
        let g = &impact.without_overrides;
        if g.agents == 0 || (g.gained.is_empty() && g.lost.is_empty()) {
            return Ok(());
        }
        let after = payload(
            &impact.role,
            &Change {
                gained: g.gained.clone(),
                lost: g.lost.clone(),
            },
        );
        let mut last = String::new();
        loop {
            let ids = role_store::plain_holder_ids(conn, &impact.role, &last, CHUNK)?;
            let Some(tail) = ids.last() else { break };
            let entries: Vec<TextEntry<'_>> = ids
                .iter()
                .map(|id| entry(actor, id, &after, &reason, now))
                .collect();
            audit::append_many(conn, &entries)?;
            last = tail.clone();
        }
        Ok(())
    }

    /// Records that agent `id`'s effective permissions changed (when `change` is not
    /// empty). Inside the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_permission_change(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        role: &str,
        change: &Change,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        if change.is_empty() {
            return Ok(());
        }
        let after = payload(role, change);
        audit::append_many(conn, &[entry(actor, id, &after, reason, now)])?;
        Ok(())
    }
}

fn entry<'a>(
    actor: &'a str,
    id: &'a str,
    after: &'a str,
    reason: &'a str,
    now: NaiveDateTime,
) -> TextEntry<'a> {
    TextEntry {
        at: now,
        actor,
        action: PERMISSIONS_CHANGE,
        target_type: "agent",
        target_id: id,
        before: None,
        after: Some(after),
        reason: Some(reason),
    }
}

/// The event's payload: the agent's role and what it gained and lost.
fn payload(role: &str, change: &Change) -> String {
    serde_json::json!({ "role": role, "gained": change.gained, "lost": change.lost }).to_string()
}
