//! An agent's start and leaving moments (`agent_schedule`), as its HR source states them:
//! written with the agents a run creates (their `agent.create` entry names the start), or
//! changed with an `agent.schedule` entry; a moment already past when it is written is
//! marked done (the run itself acted on it), the others are the lifecycle timers' work
//! (`sync::timers`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::{AccountError, Accounts};
use crate::audit::{self, Entry};
use crate::domain::Schedule;
use crate::fast_hash::FastMap;
use crate::store::multi_insert::{self, BindRow, RowOut};
use crate::store::schema::agent_schedule as sch;
use crate::store::times::{SqliteTime, SqliteTimes};
use crate::store::{DbConn, write_tx};
use diesel::sql_types::{Nullable, Text, Timestamp};

/// Rows per insert statement (PostgreSQL).
const INSERT_CHUNK: usize = 500;

/// A schedule row as SQLite's multi-row insert binds it.
struct ScheduleBind<'a> {
    agent_id: &'a str,
    source: &'a str,
    schedule: &'a Schedule,
    starts_at: Option<SqliteTime>,
    start_done_at: Option<SqliteTime>,
    leaves_at: Option<SqliteTime>,
    leave_done_at: Option<SqliteTime>,
    terminated_at: Option<SqliteTime>,
    updated_at: SqliteTime,
}

/// Names the schedules' multi-row statement for diesel's statement cache.
struct ScheduleMarker;

impl BindRow for ScheduleBind<'_> {
    const HEAD: &'static str = "INSERT INTO agent_schedule (agent_id, source, starts_at, \
        start_note, start_done_at, leaves_at, leave_note, leave_done_at, terminated_at, \
        updated_at) VALUES ";
    type Marker = ScheduleMarker;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        out.bind::<Text, _>(self.agent_id)?;
        out.bind::<Text, _>(self.source)?;
        out.bind::<Nullable<Timestamp>, _>(&self.starts_at)?;
        out.bind::<Nullable<Text>, _>(&self.schedule.start_note)?;
        out.bind::<Nullable<Timestamp>, _>(&self.start_done_at)?;
        out.bind::<Nullable<Timestamp>, _>(&self.leaves_at)?;
        out.bind::<Nullable<Text>, _>(&self.schedule.leave_note)?;
        out.bind::<Nullable<Timestamp>, _>(&self.leave_done_at)?;
        out.bind::<Nullable<Timestamp>, _>(&self.terminated_at)?;
        out.bind::<Timestamp, _>(&self.updated_at)?;
        Ok(())
    }
}

type Row = (
    String,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDateTime>,
);

fn schedule_of((_, starts_at, start_note, leaves_at, leave_note, terminated_at): Row) -> Schedule {
    Schedule {
        starts_at,
        start_note,
        leaves_at,
        leave_note,
        terminated: terminated_at.is_some(),
    }
}

/// The schedules of the agents `source` dates, by agent id.
pub fn schedules_of(conn: &mut DbConn, source: &str) -> QueryResult<FastMap<String, Schedule>> {
    let rows: Vec<Row> = sch::table
        .filter(sch::source.eq(source))
        .select((
            sch::agent_id,
            sch::starts_at,
            sch::start_note,
            sch::leaves_at,
            sch::leave_note,
            sch::terminated_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.0.clone(), schedule_of(row)))
        .collect())
}

/// When a moment counts as done on writing: already past.
fn done_if_past(at: Option<NaiveDateTime>, now: NaiveDateTime) -> Option<NaiveDateTime> {
    at.filter(|t| *t <= now).map(|_| now)
}

/// The leaving moment of a terminated person (now, when the export gave no date).
fn terminated_at(s: &Schedule, now: NaiveDateTime) -> Option<NaiveDateTime> {
    s.terminated.then(|| s.leaves_at.unwrap_or(now))
}

impl Accounts {
    /// Records the schedules of agents created in this transaction: rows only (each agent's
    /// `agent.create` entry states its start and leaving dates).
    pub fn insert_schedules(
        &self,
        conn: &mut DbConn,
        source: &str,
        items: &[(&str, &Schedule)],
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        let c = match conn {
            DbConn::Sqlite(c) => {
                let mut times = SqliteTimes::default();
                let rows: Vec<ScheduleBind<'_>> = items
                    .iter()
                    .map(|(id, s)| ScheduleBind {
                        agent_id: id,
                        source,
                        schedule: s,
                        starts_at: times.opt(s.starts_at),
                        start_done_at: times.opt(done_if_past(s.starts_at, now)),
                        leaves_at: times.opt(s.leaves_at),
                        leave_done_at: times.opt(done_if_past(s.leaves_at, now)),
                        terminated_at: times.opt(terminated_at(s, now)),
                        updated_at: times.of(now),
                    })
                    .collect();
                multi_insert::insert_all(c, &rows)?;
                return Ok(());
            }
            DbConn::Pg(c) => c,
        };
        for chunk in items.chunks(INSERT_CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(id, s)| {
                    (
                        sch::agent_id.eq(*id),
                        sch::source.eq(source),
                        sch::starts_at.eq(s.starts_at),
                        sch::start_note.eq(s.start_note.as_deref()),
                        sch::start_done_at.eq(done_if_past(s.starts_at, now)),
                        sch::leaves_at.eq(s.leaves_at),
                        sch::leave_note.eq(s.leave_note.as_deref()),
                        sch::leave_done_at.eq(done_if_past(s.leaves_at, now)),
                        sch::terminated_at.eq(terminated_at(s, now)),
                        sch::updated_at.eq(now),
                    )
                })
                .collect();
            diesel::insert_into(sch::table).values(&rows).execute(c)?;
        }
        Ok(())
    }

    /// Changes an agent's schedule: the row and an `agent.schedule` entry saying what it
    /// was and is, in one transaction. A moment that moves is to be acted on again.
    #[allow(clippy::too_many_arguments)]
    pub fn set_schedule(
        &self,
        conn: &mut DbConn,
        actor: &str,
        agent_id: &str,
        source: &str,
        wanted: &Schedule,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            type Done = (Option<NaiveDateTime>, Option<NaiveDateTime>);
            // One read: the schedule and when its moments were acted on.
            let stored: Option<(Row, Done)> = sch::table
                .filter(sch::agent_id.eq(agent_id))
                .select((
                    (
                        sch::agent_id,
                        sch::starts_at,
                        sch::start_note,
                        sch::leaves_at,
                        sch::leave_note,
                        sch::terminated_at,
                    ),
                    (sch::start_done_at, sch::leave_done_at),
                ))
                .first(conn)
                .optional()?;
            let was_terminated = stored.as_ref().and_then(|(row, _)| row.5);
            let (current, (start_done, leave_done)) = match stored {
                Some((row, done)) => (Some(schedule_of(row)), done),
                None => (None, (None, None)),
            };
            let before = current.as_ref();
            if before == Some(wanted) {
                return Ok(());
            }
            let start_done = match before {
                Some(b) if b.starts_at == wanted.starts_at => start_done,
                _ => done_if_past(wanted.starts_at, now),
            };
            let leave_done = match before {
                Some(b) if b.leaves_at == wanted.leaves_at => leave_done,
                _ => done_if_past(wanted.leaves_at, now),
            };
            let terminated = match before {
                Some(b) if b.terminated && wanted.terminated && b.leaves_at == wanted.leaves_at => {
                    was_terminated
                }
                _ => terminated_at(wanted, now),
            };
            diesel::delete(sch::table.filter(sch::agent_id.eq(agent_id))).execute(conn)?;
            diesel::insert_into(sch::table)
                .values((
                    sch::agent_id.eq(agent_id),
                    sch::source.eq(source),
                    sch::starts_at.eq(wanted.starts_at),
                    sch::start_note.eq(wanted.start_note.as_deref()),
                    sch::start_done_at.eq(start_done),
                    sch::leaves_at.eq(wanted.leaves_at),
                    sch::leave_note.eq(wanted.leave_note.as_deref()),
                    sch::leave_done_at.eq(leave_done),
                    sch::terminated_at.eq(terminated),
                    sch::updated_at.eq(now),
                ))
                .execute(conn)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.schedule",
                    target_type: "agent",
                    target_id: agent_id,
                    before: before.map(|b| json!(b)),
                    after: Some(json!(wanted)),
                    reason: Some(reason),
                },
            )?;
            Ok(())
        })
    }

    /// Marks these agents' start (or leaving) acted on, where no one has yet: a node that
    /// got to a moment first keeps it. Returns the agents marked now.
    pub fn mark_schedules_done(
        &self,
        conn: &mut DbConn,
        agent_ids: &[String],
        start: bool,
        now: NaiveDateTime,
    ) -> QueryResult<Vec<String>> {
        if start {
            diesel::update(
                sch::table
                    .filter(sch::agent_id.eq_any(agent_ids))
                    .filter(sch::start_done_at.is_null()),
            )
            .set(sch::start_done_at.eq(Some(now)))
            .returning(sch::agent_id)
            .get_results(conn)
        } else {
            diesel::update(
                sch::table
                    .filter(sch::agent_id.eq_any(agent_ids))
                    .filter(sch::leave_done_at.is_null()),
            )
            .set(sch::leave_done_at.eq(Some(now)))
            .returning(sch::agent_id)
            .get_results(conn)
        }
    }
}
