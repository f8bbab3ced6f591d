//! Disabling, enabling and deleting: whether a person's agent is to be disabled or enabled
//! again (by the directory's flag, or by where an HR record's employment stands at the moment
//! planned for), and what happens to an agent whose person left the source.

use chrono::NaiveDateTime;

use super::{Change, LeaverPolicy, Mapping, Plan};
use crate::domain::{OwnedAgent, Status};
use crate::sources::{Phase, SourceRecord};

/// The lifecycle change a person's agent needs, if any: by the record's employment at `now`
/// (HR), else by the directory's disabled flag.
pub(super) fn life_change(
    source: &str,
    mapping: &Mapping,
    now: NaiveDateTime,
    r: &SourceRecord,
    agent_id: &str,
    status: Status,
    disabled_reason: &Option<String>,
) -> Option<Change> {
    let tag = |what: &str| format!("{source}: {what}");
    let (agent_id, user_name) = (agent_id.to_owned(), r.user_name.clone());
    let (Some(e), Some(dated)) = (&r.employment, &mapping.dated) else {
        return match lifecycle(source, r.disabled, status, disabled_reason)? {
            false => Some(Change::Disable {
                agent_id,
                user_name,
                reason: tag("disabled in the directory"),
            }),
            true => Some(Change::Enable {
                agent_id,
                user_name,
                reason: tag("enabled in the directory again"),
            }),
        };
    };
    let leave_note = || e.leave_note.as_deref().unwrap_or("terminated");
    match (e.phase(now, dated.prehire), status) {
        (Phase::Working, Status::Suspended) if is_mine(source, disabled_reason) => {
            let back_from_leave = disabled_reason
                .as_deref()
                .is_some_and(|r| r.ends_with(": on leave"));
            Some(Change::Enable {
                agent_id,
                user_name,
                reason: tag(if back_from_leave {
                    "back from leave"
                } else {
                    "rehired"
                }),
            })
        }
        (Phase::Working, Status::Pending) if dated.activate_at_start => Some(Change::Activate {
            agent_id,
            user_name,
            reason: tag(&format!(
                "start {} reached",
                e.start_note.as_deref().unwrap_or("date")
            )),
        }),
        (Phase::OnLeave, Status::Active) => Some(Change::Disable {
            agent_id,
            user_name,
            reason: tag("on leave"),
        }),
        (Phase::Left, Status::Active) => Some(Change::Disable {
            agent_id,
            user_name,
            reason: tag(&format!("left: {}", leave_note())),
        }),
        (Phase::Left, Status::Pending) => Some(Change::Delete {
            agent_id,
            user_name,
            reason: tag(&format!("left before the start: {}", leave_note())),
        }),
        (Phase::Rescinded, Status::Pending) => Some(Change::Delete {
            agent_id,
            user_name,
            reason: tag("hire rescinded before the start"),
        }),
        (Phase::Rescinded, Status::Active) => Some(Change::Disable {
            agent_id,
            user_name,
            reason: tag("hire rescinded"),
        }),
        _ => None,
    }
}

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
/// Whether an HR person is back after a termination and gets a new agent
/// (`rehire = "new_agent"`): working again, their agent suspended by this source for
/// anything but leave.
pub(super) fn is_new_rehire(
    source: &str,
    mapping: &Mapping,
    now: NaiveDateTime,
    r: &SourceRecord,
    status: Status,
    disabled_reason: &Option<String>,
) -> bool {
    let (Some(e), Some(dated)) = (&r.employment, &mapping.dated) else {
        return false;
    };
    dated.rehire_new
        && status == Status::Suspended
        && is_mine(source, disabled_reason)
        && !disabled_reason
            .as_deref()
            .is_some_and(|r| r.ends_with(": on leave"))
        && e.phase(now, dated.prehire) == Phase::Working
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
    let gone = if mapping.dated.is_some() {
        "no longer in the export"
    } else {
        "removed from the directory"
    };
    if mapping.dated.is_some() && a.status == Status::Pending {
        // A pre-hire that disappeared before the start was never anyone's account.
        plan.changes.push(Change::Delete {
            agent_id: a.id.clone(),
            user_name,
            reason: tag(&format!("{gone} before the start")),
        });
        return;
    }
    match (mapping.leaver, a.status) {
        (LeaverPolicy::Delete { after }, Status::Suspended)
            if mine && a.disabled_at.is_some_and(|t| now - t >= after) =>
        {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag(&format!("{gone} {} days ago", after.num_days())),
            });
        }
        (LeaverPolicy::Delete { after }, Status::Active | Status::Pending) if after.is_zero() => {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag(gone),
            });
        }
        (_, Status::Active | Status::Pending) => {
            plan.changes.push(Change::Disable {
                agent_id: a.id.clone(),
                user_name,
                reason: tag(gone),
            });
        }
        _ => plan.unchanged += 1,
    }
}
