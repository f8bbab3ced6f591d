//! The lifecycle timers: at a moment an HR source dated — a pre-hire's start, a leaver's
//! leaving — the agent is activated, or disabled with its sessions revoked, within seconds,
//! whether or not a sync runs then. The moments live in `agent_schedule`, so a restart
//! loses none: those that fell due while the daemon was stopped are applied when it starts.
//! With several nodes only the elected one acts, and each moment is marked done in the
//! transaction that acts on it, so it is acted on once.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::SyncError;
use crate::accounts::{AccountError, Accounts};
use crate::config::Config;
use crate::domain::Status;
use crate::store::schema::{agent_schedule as sch, agents};
use crate::store::{DbConn, Pool, write_tx};

/// Longest the timers sleep: a moment is acted on at most this late (plus the work).
pub const CHECK_EVERY: Duration = Duration::from_secs(15);

/// Moments acted on per transaction.
const CHUNK: i64 = 500;

/// The advisory lock key electing the node that runs the timers (`rc-timer` in ASCII).
const TIMERS_LOCK: i64 = 0x7263_2d74_696d_6572;

/// What the timers did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub activated: usize,
    pub disabled: usize,
    /// Pre-hires whose leaving came before their start: never anyone's account.
    pub deleted: usize,
    /// Moments due with nothing to do (the agent was already in that state, or a source
    /// asks an admin to approve its pre-hires).
    pub nothing: usize,
    pub failed: usize,
}

impl Tally {
    pub fn acted(&self) -> usize {
        self.activated + self.disabled + self.deleted
    }
}

/// The sources whose pre-hires are activated at their start (no admin approval asked for),
/// by tag.
pub fn activating_sources(config: &Config) -> Vec<String> {
    config
        .sources
        .iter()
        .filter(|s| s.hr.is_some())
        .filter(|s| {
            !s.require_approval
                .unwrap_or(config.accounts.require_approval)
        })
        .map(|s| s.tag())
        .collect()
}

/// A dated moment: an agent's start or its leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Start,
    Leave,
}

/// A moment due: the agent, the source that dated it, the date as written, the agent's
/// status now.
type Due = (String, String, Option<String>, String);

/// Up to [`CHUNK`] moments of a kind due at `now` and not acted on, earliest first.
fn due(conn: &mut DbConn, moment: Moment, now: NaiveDateTime) -> QueryResult<Vec<Due>> {
    let dated = sch::table.inner_join(agents::table);
    match moment {
        Moment::Start => dated
            .filter(sch::start_done_at.is_null())
            .filter(sch::starts_at.le(now))
            .select((sch::agent_id, sch::source, sch::start_note, agents::status))
            .order(sch::starts_at)
            .limit(CHUNK)
            .load(conn),
        Moment::Leave => dated
            .filter(sch::leave_done_at.is_null())
            .filter(sch::leaves_at.le(now))
            .select((sch::agent_id, sch::source, sch::leave_note, agents::status))
            .order(sch::leaves_at)
            .limit(CHUNK)
            .load(conn),
    }
}

/// Acts on every moment due at `now`: starts first, then leavings, [`CHUNK`] per
/// transaction.
pub fn apply_due(
    conn: &mut DbConn,
    accounts: &Accounts,
    activating: &[String],
    now: NaiveDateTime,
) -> Result<Tally, SyncError> {
    let mut tally = Tally::default();
    for moment in [Moment::Start, Moment::Leave] {
        loop {
            let due = due(conn, moment, now)?;
            if due.is_empty() {
                break;
            }
            write_tx(conn, |conn| -> Result<(), SyncError> {
                // Marked first: a moment another node got to is left to it.
                let ids: Vec<String> = due.iter().map(|d| d.0.clone()).collect();
                let marked: std::collections::HashSet<String> = accounts
                    .mark_schedules_done(conn, &ids, moment == Moment::Start, now)?
                    .into_iter()
                    .collect();
                let mine = due.iter().filter(|d| marked.contains(&d.0));
                if moment == Moment::Start {
                    for d in mine {
                        act(conn, accounts, activating, moment, d, now, &mut tally)?;
                    }
                    return Ok(());
                }
                // Leavers still active are disabled together; the rest one by one.
                let (active, rest): (Vec<&Due>, Vec<&Due>) =
                    mine.partition(|d| d.3 == Status::Active.as_str());
                disable_leavers(conn, accounts, &active, now, &mut tally)?;
                for d in rest {
                    act(conn, accounts, activating, moment, d, now, &mut tally)?;
                }
                Ok(())
            })?;
            crate::faults::pause_point("timers.applied_chunk");
        }
    }
    Ok(tally)
}

/// Disables the active agents whose leaving moment is due (marked done already), in
/// multi-row statements.
fn disable_leavers(
    conn: &mut DbConn,
    accounts: &Accounts,
    due: &[&Due],
    now: NaiveDateTime,
    tally: &mut Tally,
) -> Result<(), SyncError> {
    let said: Vec<(String, String)> = due
        .iter()
        .map(|(_, source, note, _)| {
            let note = note.as_deref().unwrap_or("leaving date");
            (
                format!("lifecycle:{source}"),
                format!("{source}: left: {note}"),
            )
        })
        .collect();
    let items: Vec<crate::accounts::Disabling<'_>> = due
        .iter()
        .zip(&said)
        .map(|(d, (actor, reason))| crate::accounts::Disabling {
            id: &d.0,
            actor,
            reason,
        })
        .collect();
    let done = accounts.disable_many(conn, &items, now)?;
    let n = done.iter().filter(|d| **d).count();
    tally.disabled += n;
    tally.nothing += done.len() - n;
    Ok(())
}

/// Acts on one moment (marked done already).
fn act(
    conn: &mut DbConn,
    accounts: &Accounts,
    activating: &[String],
    moment: Moment,
    (id, source, note, status): &Due,
    now: NaiveDateTime,
    tally: &mut Tally,
) -> Result<(), SyncError> {
    let actor = format!("lifecycle:{source}");
    let status = Status::parse(status);
    let result = match (moment, status) {
        (Moment::Start, Some(Status::Pending)) if activating.contains(source) => {
            let reason = format!(
                "{source}: start {} reached",
                note.as_deref().unwrap_or("date")
            );
            accounts
                .approve(conn, &actor, id, Some(&reason), now)
                .map(|_| tally.activated += 1)
        }
        (Moment::Leave, Some(Status::Active)) => {
            let note = note.as_deref().unwrap_or("leaving date");
            let reason = format!("{source}: left: {note}");
            accounts
                .set_active(conn, &actor, id, false, &reason, now)
                .map(|_| tally.disabled += 1)
        }
        (Moment::Leave, Some(Status::Pending)) => {
            let note = note.as_deref().unwrap_or("leaving date");
            let reason = format!("{source}: left before the start: {note}");
            accounts
                .delete_agent(conn, &actor, id, None, Some(&reason), now)
                .map(|()| tally.deleted += 1)
        }
        _ => {
            tally.nothing += 1;
            Ok(())
        }
    };
    if let Err(e) = result {
        let what = match moment {
            Moment::Start => "activate",
            Moment::Leave => "disable",
        };
        tally.failed += failure(e, id, what)?;
    }
    Ok(())
}

/// A moment that could not be acted on: logged (the moment stays done; the next run of its
/// source plans the agent again). A database failure ends the transaction.
fn failure(e: AccountError, id: &str, what: &str) -> Result<usize, SyncError> {
    match e {
        AccountError::Db(e) => Err(SyncError::Db(e)),
        other => {
            tracing::warn!(agent = id, action = what, error = %other, "lifecycle moment not applied");
            Ok(1)
        }
    }
}

/// The next moment not yet acted on.
pub fn next_due(conn: &mut DbConn) -> QueryResult<Option<NaiveDateTime>> {
    let start: Option<NaiveDateTime> = sch::table
        .filter(sch::start_done_at.is_null())
        .select(diesel::dsl::min(sch::starts_at))
        .first(conn)?;
    let leave: Option<NaiveDateTime> = sch::table
        .filter(sch::leave_done_at.is_null())
        .select(diesel::dsl::min(sch::leaves_at))
        .first(conn)?;
    Ok(match (start, leave) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Starts the timers in `rollcall serve`: at once (moments that fell due while stopped),
/// then at each next moment, and at least every [`CHECK_EVERY`]. A connection is taken only
/// for a moment: to look for the next moment, and — when one is due — to act as the elected
/// node (PostgreSQL's advisory lock on that connection, let go of afterwards).
pub fn start(pool: Pool, accounts: Arc<Accounts>, config: &Config) -> tokio::task::JoinHandle<()> {
    let activating = activating_sources(config);
    tokio::spawn(async move {
        loop {
            let mut wait = CHECK_EVERY;
            let reader = pool.clone();
            let next = tokio::task::spawn_blocking(move || -> Option<NaiveDateTime> {
                let mut conn = reader.get().ok()?;
                next_due(&mut conn).ok().flatten()
            })
            .await
            .ok()
            .flatten();
            let now = crate::store::now();
            if next.is_some_and(|t| t <= now) {
                let mut held = None;
                if super::scheduler::is_leader_on(&pool, &mut held, TIMERS_LOCK).await
                    && let Some(conn) = held.take()
                {
                    let (accounts, activating) = (accounts.clone(), activating.clone());
                    let outcome = tokio::task::spawn_blocking(move || {
                        let mut conn = conn;
                        let now = crate::store::now();
                        let done = apply_due(&mut conn, &accounts, &activating, now);
                        super::scheduler::release_leader(&mut conn, TIMERS_LOCK);
                        done
                    })
                    .await;
                    match outcome {
                        Ok(Ok(tally)) if tally.acted() + tally.failed > 0 => tracing::info!(
                            activated = tally.activated,
                            disabled = tally.disabled,
                            deleted = tally.deleted,
                            failed = tally.failed,
                            "lifecycle moments applied"
                        ),
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "lifecycle timers failed; trying again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => tracing::error!(error = %e, "lifecycle timers' worker failed"),
                    }
                    // Look for the next moment at once.
                    continue;
                }
            } else if let Some(next) = next {
                let until = (next - now).to_std().unwrap_or_default();
                wait = wait.min(until.max(Duration::from_millis(100)));
            }
            tokio::time::sleep(wait).await;
        }
    })
}
