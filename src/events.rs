//! Outbound events, written to the outbox in the same transaction as the change.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::store::DbConn;
use crate::store::schema::outbox;

/// What happened to an agent, as announced to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Created,
    Updated,
    Disabled,
    Enabled,
    Deleted,
    ForcedOffline,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "agent.created",
            Event::Updated => "agent.updated",
            Event::Disabled => "agent.disabled",
            Event::Enabled => "agent.enabled",
            Event::Deleted => "agent.deleted",
            Event::ForcedOffline => "agent.forced_offline",
        }
    }
}

pub fn enqueue(
    conn: &mut DbConn,
    event: Event,
    agent_id: &str,
    payload: &Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::event.eq(event.as_str()),
            outbox::agent_id.eq(agent_id),
            outbox::payload.eq(payload.to_string()),
            outbox::created_at.eq(now),
            outbox::attempts.eq(0),
        ))
        .execute(conn)
        .map(drop)
}

/// An outbox row to write.
#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewEvent<'a> {
    event: &'a str,
    agent_id: &'a str,
    payload: &'a str,
    created_at: NaiveDateTime,
    attempts: i32,
}

/// Enqueues one event per `(agent id, payload as JSON text)` with multi-row statements.
pub fn enqueue_many(
    conn: &mut DbConn,
    event: Event,
    items: &[(&str, &str)],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let rows: Vec<NewEvent<'_>> = items
        .iter()
        .map(|(agent_id, payload)| NewEvent {
            event: event.as_str(),
            agent_id,
            payload,
            created_at: now,
            attempts: 0,
        })
        .collect();
    // Multi-row statements on PostgreSQL; a single-row statement prepared once on SQLite
    // (see `store::agents::insert_rows`).
    match conn {
        DbConn::Sqlite(c) => {
            for row in &rows {
                diesel::insert_into(outbox::table)
                    .values((
                        outbox::event.eq(row.event),
                        outbox::agent_id.eq(row.agent_id),
                        outbox::payload.eq(row.payload),
                        outbox::created_at.eq(row.created_at),
                        outbox::attempts.eq(row.attempts),
                    ))
                    .execute(c)?;
            }
        }
        DbConn::Pg(c) => {
            for chunk in rows.chunks(800) {
                diesel::insert_into(outbox::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}
