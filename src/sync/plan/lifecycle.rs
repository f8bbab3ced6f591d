//! Disabling, enabling and deleting: whether a person's agent is to be disabled or enabled
//! again, and what happens to an agent whose person left the source.

use chrono::NaiveDateTime;

use super::{Change, LeaverPolicy, Mapping, Plan};
use crate::domain::{OwnedAgent, Status};

/// Whether a person's agent is to be disabled (`Some(false)`) or enabled again
/// (`Some(true)`): a source re-enables only agents it suspended itself.
pub(super) fn lifecycle(
    source: &str,
    disabled: bool,
    status: Status,
    disabled_reason: &Option<String>,
) -> Option<bool> {
    match (disabled, status) {
        (true, Status::Active | Status::Pending) => Some(false),
        (false, Status::Suspended) if is_mine(source, disabled_reason) => Some(true),
        _ => None,
    }
}
/// Whether a suspension reason is `source`'s own ("ldap:corp: …").
fn is_mine(source: &str, reason: &Option<String>) -> bool {
    reason
        .as_deref()
        .is_some_and(|r| r.starts_with(source) && r[source.len()..].starts_with(": "))
}

/// What happens to an owned agent whose person left the source.
pub(super) fn leaver(
    plan: &mut Plan,
    source: &str,
    mapping: &Mapping,
    now: NaiveDateTime,
    a: &OwnedAgent,
) {
    let tag = |what: &str| format!("{source}: {what}");
    let mine = is_mine(source, &a.disabled_reason);
    let user_name = a.user_name.clone();
    match (mapping.leaver, a.status) {
        (LeaverPolicy::Delete { after }, Status::Suspended)
            if mine && a.disabled_at.is_some_and(|t| now - t >= after) =>
        {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag(&format!(
                    "removed from the directory {} days ago",
                    after.num_days()
                )),
            });
        }
        (LeaverPolicy::Delete { after }, Status::Active | Status::Pending) if after.is_zero() => {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag("removed from the directory"),
            });
        }
        (_, Status::Active | Status::Pending) => {
            plan.changes.push(Change::Disable {
                agent_id: a.id.clone(),
                user_name,
                reason: tag("removed from the directory"),
            });
        }
        _ => plan.unchanged += 1,
    }
}
