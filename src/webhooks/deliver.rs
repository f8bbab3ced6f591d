//! The deliverer, started by `server::serve_until`: one task per enabled endpoint reads the
//! events after the endpoint's cursor, POSTs those it subscribes to over
//! `concurrency` lanes — each event in the lane of what it is about (an agent, a role, a
//! source), each lane one request at a time, so an agent's events arrive in order — and
//! moves the cursor past an event only once it and every event before it got a 2xx.
//! A failure stops its lane; the endpoint is held at the first event that failed, which
//! is tried again after a back-off (events other lanes delivered after it are sent again
//! with it)
//! (`backoff`) until it succeeds; an endpoint failing for `disable_after_secs`, or
//! answering 410 Gone, is disabled — its cursor stays, so re-enabling it resumes where it
//! stopped and nothing is lost. Delivery is at least once: a crash between a 2xx and the
//! cursor's write sends those events again (the same `webhook-id`, for receivers that
//! de-duplicate). A commit in this process wakes the tasks at once; other nodes' commits
//! are seen at the next poll. On PostgreSQL one node delivers: the one holding the
//! deliverer's advisory lock (the sync scheduler's election, under its own key).

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::endpoints::{self, EndpointPatch};
use super::send::{Attempt, http_agent, send, send_lanes};
use super::{Endpoint, backoff, get};
use crate::config::WebhookDeliveryConfig;
use crate::events::{self, EventRecord};
use crate::store::models::NewWebhookDelivery;
use crate::store::schema::{webhook_deliveries as wd, webhook_endpoints as we};
use crate::store::{self, DbConn, Pool, commits};

/// The advisory lock electing the delivering node (`rc-hooks` in ASCII).
pub const LEADER_LOCK: i64 = 0x7263_2d68_6f6f_6b73;
/// Most events read at once.
const BATCH: i64 = 500;
/// The audit actor of the deliverer's own changes (disabling an endpoint).
pub const ACTOR: &str = "webhooks";

/// How the deliverer works (from `[webhook_delivery]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub poll: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_backoff: Duration,
    pub disable_after: Duration,
    /// Lanes (requests in flight) per endpoint.
    pub lanes: usize,
}

impl Settings {
    pub fn of(c: &WebhookDeliveryConfig) -> Settings {
        Settings {
            poll: Duration::from_millis(c.poll_ms.max(1)),
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            connect_timeout: Duration::from_secs(c.connect_timeout_secs.max(1)),
            max_backoff: Duration::from_secs(c.max_backoff_secs.max(1)),
            disable_after: Duration::from_secs(c.disable_after_secs),
            lanes: c.concurrency.max(1),
        }
    }
}

/// Starts the deliverer; abort the task to stop it (its endpoint tasks stop with it).
pub fn start(pool: Pool, settings: Settings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(supervise(pool, settings))
}

/// The endpoint tasks; aborted when dropped (when the deliverer is aborted).
#[derive(Default)]
struct Workers(HashMap<i64, tokio::task::JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, h) in self.0.drain() {
            h.abort();
        }
    }
}

/// Keeps one task per enabled endpoint while this node is the delivering one.
async fn supervise(pool: Pool, settings: Settings) {
    let mut leader = None;
    let mut workers = Workers::default();
    loop {
        // No endpoint: nothing to lead. Give the lock (and its connection) back, so that a
        // node without webhooks keeps its whole pool.
        if !any_enabled(&pool).await {
            if let Some(conn) = leader.take() {
                release(conn).await;
            }
            workers = Workers::default();
            tokio::time::sleep(settings.poll).await;
            continue;
        }
        let leads = crate::sync::scheduler::is_leader_on(&pool, &mut leader, LEADER_LOCK).await;
        // SQLite is one node: no lock to hold, so no connection to keep out of the pool.
        if matches!(leader.as_deref(), Some(DbConn::Sqlite(_))) {
            leader = None;
        }
        if leads {
            let p = pool.clone();
            let ids = tokio::task::spawn_blocking(move || {
                let mut conn = p.get().ok()?;
                super::enabled_ids(&mut conn).ok()
            })
            .await
            .ok()
            .flatten();
            if let Some(ids) = ids {
                workers.0.retain(|id, h| {
                    let keep = ids.contains(id) && !h.is_finished();
                    if !keep {
                        h.abort();
                    }
                    keep
                });
                for id in ids {
                    workers
                        .0
                        .entry(id)
                        .or_insert_with(|| tokio::spawn(work(pool.clone(), settings.clone(), id)));
                }
            }
        } else if !workers.0.is_empty() {
            tracing::info!("another node delivers webhooks");
            workers = Workers::default();
        }
        tokio::time::sleep(settings.poll).await;
    }
}

/// Whether any endpoint is enabled (a failed read counts as yes: the loop then goes on as
/// before and reads again).
async fn any_enabled(pool: &Pool) -> bool {
    let p = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = p.get().ok()?;
        super::enabled_ids(&mut conn)
            .ok()
            .map(|ids| !ids.is_empty())
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(true)
}

/// Releases the delivering node's advisory lock before its connection goes back to the
/// pool (a session lock outlives the checkout otherwise).
async fn release(conn: crate::store::PooledConn) {
    let _ = tokio::task::spawn_blocking(move || {
        let mut conn = conn;
        if let DbConn::Pg(pg) = &mut *conn {
            use diesel::RunQueryDsl;
            let _ =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({LEADER_LOCK})")).execute(pg);
        }
    })
    .await;
}

/// What an endpoint's task does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read again now: there may be more.
    More,
    /// Nothing to send: wait for a commit or the poll interval.
    Idle,
    /// The head event waits for its next attempt.
    Wait(Duration),
    /// Disabled or deleted.
    Stop,
}

/// One endpoint's delivery, for as long as it is enabled.
async fn work(pool: Pool, settings: Settings, id: i64) {
    let agent = http_agent(&settings);
    loop {
        let seen = commits::count();
        let (p, a, s) = (pool.clone(), agent.clone(), settings.clone());
        let step = tokio::task::spawn_blocking(move || cycle(&p, &a, &s, id)).await;
        match step {
            Ok(Ok(Step::Stop)) => return,
            Ok(Ok(Step::More)) => {}
            Ok(Ok(Step::Idle)) => {
                commits::wait_past(seen, settings.poll).await;
            }
            Ok(Ok(Step::Wait(d))) => tokio::time::sleep(d.min(settings.poll)).await,
            Ok(Err(e)) => {
                tracing::warn!(webhook = id, error = %e, "webhook delivery failed to read or record");
                tokio::time::sleep(settings.poll).await;
            }
            Err(e) => {
                tracing::error!(webhook = id, error = %e, "webhook delivery task failed");
                tokio::time::sleep(settings.poll).await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CycleError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("{0}")]
    Webhook(#[from] super::WebhookError),
}

/// Reads what the endpoint has to send, sends it, records it.
fn cycle(pool: &Pool, agent: &ureq::Agent, s: &Settings, id: i64) -> Result<Step, CycleError> {
    let mut conn = pool.get()?;
    let Some(ep) = get(&mut conn, id)? else {
        return Ok(Step::Stop);
    };
    if !ep.enabled {
        return Ok(Step::Stop);
    }
    let now = store::now();
    if let Some(next) = ep.next_attempt_at
        && next > now
    {
        return Ok(Step::Wait((next - now).to_std().unwrap_or(Duration::ZERO)));
    }
    let keys = ep.keys();
    if let Some(event_id) = ep.replay_event {
        let event = events::one(&mut conn, event_id)?;
        drop(conn);
        let attempt = event.map(|ev| send(agent, &ep, &keys, &ev, ep.attempts + 1));
        let mut conn = pool.get()?;
        return conclude_replay(&mut conn, &ep, event_id, attempt, s);
    }
    let upto = events::last_id(&mut conn)?;
    let batch = events::after_in(&mut conn, ep.cursor, Some(upto), BATCH, &ep.actions())?;
    drop(conn);
    let full = batch.len() as i64 == BATCH;
    let head = batch.first().map(|ev| ev.id);
    // What another lane already delivered while this endpoint was held is not sent again.
    let to_send: Vec<EventRecord> = batch
        .iter()
        .filter(|ev| !ep.sent_ahead.contains(&ev.id))
        .cloned()
        .collect();
    let attempts = send_lanes(agent, &ep, &keys, &to_send, head, s.lanes);
    // The cursor moves past each event that got a 2xx, up to the first that did not (or
    // was not tried: its lane stopped, or ran out of time); the ones delivered past that
    // are remembered.
    let mut delivered: std::collections::BTreeSet<i64> = attempts
        .iter()
        .filter(|a| a.ok())
        .map(|a| a.event_id)
        .collect();
    delivered.extend(ep.sent_ahead.iter().copied());
    let mut moved_to = ep.cursor;
    let mut complete = !full;
    for ev in &batch {
        if !delivered.contains(&ev.id) {
            complete = false;
            break;
        }
        moved_to = ev.id;
    }
    let ahead: String = delivered
        .range(moved_to + 1..)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if complete {
        // Everything up to `upto` was read: what was not sent is not subscribed to.
        moved_to = upto;
    }
    if moved_to == ep.cursor && attempts.is_empty() {
        return Ok(Step::Idle);
    }
    let mut conn = pool.get()?;
    conclude(&mut conn, &ep, attempts, moved_to, &ahead, s)
}

fn insert_attempts(conn: &mut DbConn, ep: i64, attempts: &[Attempt]) -> QueryResult<()> {
    for chunk in attempts.chunks(1000) {
        let rows: Vec<NewWebhookDelivery> = chunk
            .iter()
            .map(|a| NewWebhookDelivery {
                endpoint_id: ep,
                event_id: a.event_id,
                attempt: a.number,
                at: a.at,
                status: a.status.map(i32::from),
                error: a.error.clone(),
                duration_ms: a.millis,
            })
            .collect();
        match conn {
            // PostgreSQL: one statement for the lot (a round trip each would cost more
            // than the sends).
            DbConn::Pg(pg) => {
                diesel::insert_into(wd::table).values(&rows).execute(pg)?;
            }
            DbConn::Sqlite(_) => {
                for row in rows {
                    diesel::insert_into(wd::table).values(row).execute(conn)?;
                }
            }
        }
    }
    Ok(())
}

/// The retry state after a failed attempt at the head event: attempts so far, since when
/// it fails, and when to try next — or why to give up.
fn after_failure(
    ep: &Endpoint,
    head_moved: bool,
    failed: &Attempt,
    s: &Settings,
    now: NaiveDateTime,
) -> Result<(i32, NaiveDateTime, Duration), String> {
    if failed.status == Some(410) {
        return Err(format!(
            "the receiver answered 410 Gone for event {}",
            failed.event_id
        ));
    }
    let (attempts, since) = if head_moved {
        (1, now)
    } else {
        (ep.attempts + 1, ep.failing_since.unwrap_or(now))
    };
    let failing_for = (now - since).to_std().unwrap_or(Duration::ZERO);
    if failing_for >= s.disable_after {
        return Err(format!(
            "failing since {} (last: {} for event {})",
            since
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            failed.describe(),
            failed.event_id
        ));
    }
    let pause = backoff::random_delay(u32::try_from(attempts).unwrap_or(1), s.max_backoff);
    Ok((attempts, since, pause))
}

/// Records the attempts and moves the cursor (unless someone moved it meanwhile: a replay).
fn conclude(
    conn: &mut DbConn,
    ep: &Endpoint,
    attempts: Vec<Attempt>,
    moved_to: i64,
    ahead: &str,
    s: &Settings,
) -> Result<Step, CycleError> {
    let now = store::now();
    store::write_tx(conn, |conn| -> Result<Step, CycleError> {
        insert_attempts(conn, ep.id, &attempts)?;
        let Some(cur) = get(conn, ep.id)? else {
            return Ok(Step::Stop);
        };
        if cur.cursor != ep.cursor || cur.replay_event.is_some() || !cur.enabled {
            return Ok(Step::More);
        }
        // The first event that failed holds the endpoint (a later one may have failed in
        // another lane; it is sent again with it).
        let failed = attempts.iter().find(|a| !a.ok());
        let Some(failed) = failed else {
            diesel::update(we::table.find(ep.id))
                .set((
                    we::cursor.eq(moved_to),
                    we::sent_ahead.eq(ahead),
                    we::attempts.eq(0),
                    we::next_attempt_at.eq(None::<NaiveDateTime>),
                    we::failing_since.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            return Ok(Step::More);
        };
        match after_failure(ep, moved_to != ep.cursor, failed, s, now) {
            Ok((n, since, pause)) => {
                diesel::update(we::table.find(ep.id))
                    .set((
                        we::cursor.eq(moved_to),
                        we::sent_ahead.eq(ahead),
                        we::attempts.eq(n),
                        we::next_attempt_at.eq(Some(now + pause)),
                        we::failing_since.eq(Some(since)),
                    ))
                    .execute(conn)?;
                Ok(Step::Wait(pause))
            }
            Err(reason) => {
                diesel::update(we::table.find(ep.id))
                    .set((we::cursor.eq(moved_to), we::sent_ahead.eq(ahead)))
                    .execute(conn)?;
                disable(conn, ep.id, &reason, now)?;
                Ok(Step::Stop)
            }
        }
    })
}

/// Records the attempt at a replayed event; clears the replay once it got through (or the
/// event is gone).
fn conclude_replay(
    conn: &mut DbConn,
    ep: &Endpoint,
    event_id: i64,
    attempt: Option<Attempt>,
    s: &Settings,
) -> Result<Step, CycleError> {
    let now = store::now();
    store::write_tx(conn, |conn| -> Result<Step, CycleError> {
        if let Some(a) = &attempt {
            insert_attempts(conn, ep.id, std::slice::from_ref(a))?;
        }
        let Some(cur) = get(conn, ep.id)? else {
            return Ok(Step::Stop);
        };
        if cur.replay_event != Some(event_id) || !cur.enabled {
            return Ok(Step::More);
        }
        let failed = attempt.as_ref().filter(|a| !a.ok());
        let Some(failed) = failed else {
            diesel::update(we::table.find(ep.id))
                .set((
                    we::replay_event.eq(None::<i64>),
                    we::attempts.eq(0),
                    we::next_attempt_at.eq(None::<NaiveDateTime>),
                    we::failing_since.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            return Ok(Step::More);
        };
        match after_failure(ep, false, failed, s, now) {
            Ok((n, since, pause)) => {
                diesel::update(we::table.find(ep.id))
                    .set((
                        we::attempts.eq(n),
                        we::next_attempt_at.eq(Some(now + pause)),
                        we::failing_since.eq(Some(since)),
                    ))
                    .execute(conn)?;
                Ok(Step::Wait(pause))
            }
            Err(reason) => {
                disable(conn, ep.id, &reason, now)?;
                Ok(Step::Stop)
            }
        }
    })
}

fn disable(conn: &mut DbConn, id: i64, reason: &str, now: NaiveDateTime) -> Result<(), CycleError> {
    tracing::warn!(webhook = id, reason, "webhook endpoint disabled");
    endpoints::update(
        conn,
        ACTOR,
        id,
        EndpointPatch {
            enabled: Some(false),
            ..EndpointPatch::default()
        },
        Some(reason),
        now,
    )?;
    Ok(())
}
