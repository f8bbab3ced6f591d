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
}

/// Each event and the audit action that records it. Other agent actions (linking to a
/// source, purging a deleted agent, seeding test data) are bookkeeping, not events. A
/// rejected pending agent (`agent.reject`) is announced as deleted.
const EVENTS: [(Event, &str); 9] = [
    (Event::Created, "agent.create"),
    (Event::Updated, "agent.update"),
    (Event::Disabled, "agent.disable"),
    (Event::Enabled, "agent.enable"),
    (Event::Deleted, "agent.delete"),
    (Event::ForcedOffline, "agent.force_offline"),
    (Event::Approved, "agent.approve"),
    (Event::Resumed, "agent.resume"),
    (Event::Deleted, "agent.reject"),
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
        }
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
    pub agent_id: String,
    pub at: NaiveDateTime,
    /// What changed, as the audit entry's `after` (JSON text): the whole agent for a
    /// create, the changed fields for the others.
    pub payload: Option<String>,
}

/// Up to `limit` events after the one with id `cursor` (0: from the start), oldest first.
pub fn after(conn: &mut DbConn, cursor: i64, limit: i64) -> QueryResult<Vec<EventRecord>> {
    let actions: Vec<&str> = EVENTS.iter().map(|(_, a)| *a).collect();
    let rows: Vec<(i64, String, String, NaiveDateTime, Option<String>)> = audit_log::table
        .filter(audit_log::id.gt(cursor))
        .filter(audit_log::target_type.eq("agent"))
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
        .load(conn)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_one_action_and_back() {
        for (e, a) in EVENTS {
            if a != "agent.reject" {
                assert_eq!(e.action(), a);
            }
            assert_eq!(Event::of_action(a), Some(e));
        }
        assert_eq!(Event::Deleted.action(), "agent.delete");
        assert_eq!(Event::of_action("agent.link"), None);
        assert_eq!(Event::of_action("agent.purge"), None);
    }
}
