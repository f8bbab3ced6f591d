//! Outbound events: what happened to an agent, as subscribers are told. An event is the
//! agent's audit entry itself — written in the same transaction as the change, ordered by
//! id, hash-chained — so nothing is written twice and no event can exist without its
//! change or go missing with it. A deliverer keeps, for each subscriber, the id of the last
//! entry it delivered and reads on from there with [`after`].

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::DbConn;
use crate::store::schema::audit_log;

/// What happened to an agent, as announced to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Created,
    Updated,
    Disabled,
    Enabled,
    Deleted,
    ForcedOffline,
    /// A pending agent was approved (now active).
    Approved,
    /// A forced-offline agent may sign in again.
    Resumed,
    /// An agent's effective permissions changed (its role's permissions, its role, its
    /// overrides); the payload says its role and which keys it gained and lost.
    PermissionsChanged,
    /// A role was created, changed or deleted; the event's `agent_id` is the role's name.
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    /// An agent's sign-in sessions were revoked.
    SessionRevoked,
    /// A sync run was refused by its guard; the event's `agent_id` is the source's name.
    SyncRefused,
    /// An agent signed in from an address not seen for it before.
    SigninNewIp,
}

/// What an event is about: the audit entry's target type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Agent,
    Role,
    Source,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Agent => "agent",
            Subject::Role => "role",
            Subject::Source => "source",
        }
    }
}

/// Each event and the audit action that records it. Other agent actions (linking to a
/// source, purging a deleted agent, seeding test data) are bookkeeping, not events. A
/// rejected pending agent (`agent.reject`) is announced as deleted; a refused sync run
/// recorded before 2026-12-03 (`sync.refused`) as a refused run.
const EVENTS: [(Event, &str); 17] = [
    (Event::Created, "agent.create"),
    (Event::Updated, "agent.update"),
    (Event::Disabled, "agent.disable"),
    (Event::Enabled, "agent.enable"),
    (Event::Deleted, "agent.delete"),
    (Event::ForcedOffline, "agent.force_offline"),
    (Event::Approved, "agent.approve"),
    (Event::Resumed, "agent.resume"),
    (Event::Deleted, "agent.reject"),
    (Event::PermissionsChanged, "agent.permissions_change"),
    (Event::RoleCreated, "role.create"),
    (Event::RoleUpdated, "role.update"),
    (Event::RoleDeleted, "role.delete"),
    (Event::SessionRevoked, "session.revoke"),
    (Event::SyncRefused, "sync.refuse"),
    (Event::SyncRefused, "sync.refused"),
    (Event::SigninNewIp, "agent.signin_new_ip"),
];

/// Every event type, as subscribers name them (`agent.created`, …), each once.
pub const TYPES: [&str; 15] = [
    "agent.created",
    "agent.updated",
    "agent.disabled",
    "agent.enabled",
    "agent.deleted",
    "agent.forced_offline",
    "agent.approved",
    "agent.resumed",
    "agent.permissions_changed",
    "agent.signin_new_ip",
    "role.created",
    "role.updated",
    "role.deleted",
    "session.revoked",
    "sync.refused",
];

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "agent.created",
            Event::Updated => "agent.updated",
            Event::Disabled => "agent.disabled",
            Event::Enabled => "agent.enabled",
            Event::Deleted => "agent.deleted",
            Event::ForcedOffline => "agent.forced_offline",
            Event::Approved => "agent.approved",
            Event::Resumed => "agent.resumed",
            Event::PermissionsChanged => "agent.permissions_changed",
            Event::RoleCreated => "role.created",
            Event::RoleUpdated => "role.updated",
            Event::RoleDeleted => "role.deleted",
            Event::SessionRevoked => "session.revoked",
            Event::SyncRefused => "sync.refused",
            Event::SigninNewIp => "agent.signin_new_ip",
        }
    }

    /// The event of a type as subscribers name it.
    pub fn of_type(name: &str) -> Option<Event> {
        EVENTS.iter().map(|(e, _)| *e).find(|e| e.as_str() == name)
    }

    /// What the event is about.
    pub fn subject(self) -> Subject {
        match self {
            Event::RoleCreated | Event::RoleUpdated | Event::RoleDeleted => Subject::Role,
            Event::SyncRefused => Subject::Source,
            _ => Subject::Agent,
        }
    }

    /// The audit actions that record events of these types (every event's when `types` is
    /// empty).
    pub fn actions_of(types: &[String]) -> Vec<&'static str> {
        EVENTS
            .iter()
            .filter(|(e, _)| types.is_empty() || types.iter().any(|t| t == e.as_str()))
            .map(|(_, a)| *a)
            .collect()
    }

    /// The audit action that records this event.
    pub fn action(self) -> &'static str {
        EVENTS
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("", |(_, a)| a)
    }

    /// The event an audit action records, if it is one.
    pub fn of_action(action: &str) -> Option<Event> {
        EVENTS.iter().find(|(_, a)| *a == action).map(|(e, _)| *e)
    }
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The audit entry's id: the event's place in the stream, and a deliverer's cursor.
    pub id: i64,
    pub event: Event,
    /// The agent's id (a role's name for the `role.*` events, a source's for
    /// `sync.refused`).
    pub agent_id: String,
    pub at: NaiveDateTime,
    /// What changed, as the audit entry's `after` (JSON text): the whole agent for a
    /// create, the changed fields for the others.
    pub payload: Option<String>,
}

/// Up to `limit` events after the one with id `cursor` (0: from the start), oldest first.
pub fn after(conn: &mut DbConn, cursor: i64, limit: i64) -> QueryResult<Vec<EventRecord>> {
    let actions = Event::actions_of(&[]);
    after_in(conn, cursor, None, limit, &actions)
}

/// Up to `limit` events recorded by `actions` after `cursor` and up to `upto` (when given),
/// oldest first. A reader that wants to skip what it does not subscribe to reads
/// [`last_id`] first and passes it as `upto`: when fewer than `limit` come back, everything
/// up to it was read.
pub fn after_in(
    conn: &mut DbConn,
    cursor: i64,
    upto: Option<i64>,
    limit: i64,
    actions: &[&str],
) -> QueryResult<Vec<EventRecord>> {
    let mut query = audit_log::table
        .filter(audit_log::id.gt(cursor))
        .filter(audit_log::target_type.eq_any(["agent", "role", "source"]))
        .filter(audit_log::action.eq_any(actions))
        .order(audit_log::id.asc())
        .limit(limit)
        .select((
            audit_log::id,
            audit_log::action,
            audit_log::target_id,
            audit_log::at,
            audit_log::after,
        ))
        .into_boxed();
    if let Some(upto) = upto {
        query = query.filter(audit_log::id.le(upto));
    }
    let rows: Vec<(i64, String, String, NaiveDateTime, Option<String>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, action, agent_id, at, payload)| {
            Event::of_action(&action).map(|event| EventRecord {
                id,
                event,
                agent_id,
                at,
                payload,
            })
        })
        .collect())
}

/// The event with id `id`, if that audit entry is one.
pub fn one(conn: &mut DbConn, id: i64) -> QueryResult<Option<EventRecord>> {
    let actions = Event::actions_of(&[]);
    Ok(after_in(conn, id.saturating_sub(1), Some(id), 1, &actions)?.pop())
}

/// The id of the audit log's last entry (0 when it is empty).
pub fn last_id(conn: &mut DbConn) -> QueryResult<i64> {
    use diesel::dsl::max;
    Ok(audit_log::table
        .select(max(audit_log::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// How many events recorded by `actions` come after `cursor`, and the first of them.
pub fn waiting(
    conn: &mut DbConn,
    cursor: i64,
    actions: &[&str],
) -> QueryResult<(i64, Option<(i64, NaiveDateTime)>)> {
    let count: i64 = audit_log::table
        .filter(audit_log::id.gt(cursor))
        .filter(audit_log::target_type.eq_any(["agent", "role", "source"]))
        .filter(audit_log::action.eq_any(actions))
        .count()
        .get_result(conn)?;
    let first = audit_log::table
        .filter(audit_log::id.gt(cursor))
        .filter(audit_log::target_type.eq_any(["agent", "role", "source"]))
        .filter(audit_log::action.eq_any(actions))
        .order(audit_log::id.asc())
        .select((audit_log::id, audit_log::at))
        .first(conn)
        .optional()?;
    Ok((count, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_one_action_and_back() {
        for (e, a) in EVENTS {
            if a != "agent.reject" && a != "sync.refused" {
                assert_eq!(e.action(), a);
            }
            assert_eq!(Event::of_action(a), Some(e));
        }
        assert_eq!(Event::Deleted.action(), "agent.delete");
        assert_eq!(Event::of_action("agent.link"), None);
        assert_eq!(Event::of_action("agent.purge"), None);
        assert_eq!(Event::SyncRefused.action(), "sync.refuse");
        assert_eq!(Event::of_action("sync.refused"), Some(Event::SyncRefused));
    }

    #[test]
    fn every_type_is_listed_once_and_reads_back() {
        let mut seen = std::collections::HashSet::new();
        for (e, _) in EVENTS {
            assert!(TYPES.contains(&e.as_str()), "{}", e.as_str());
            assert_eq!(Event::of_type(e.as_str()), Some(e));
            seen.insert(e.as_str());
        }
        assert_eq!(seen.len(), TYPES.len());
        assert_eq!(Event::SyncRefused.subject(), Subject::Source);
        assert_eq!(Event::RoleCreated.subject(), Subject::Role);
        assert_eq!(Event::SessionRevoked.subject(), Subject::Agent);
        let only = Event::actions_of(&["agent.deleted".to_owned()]);
        assert_eq!(only, ["agent.delete", "agent.reject"]);
        assert_eq!(Event::actions_of(&[]).len(), EVENTS.len());
    }
}
