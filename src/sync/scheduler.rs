//! Runs each enabled source on its cron schedule inside `rollcall serve`. Runs of one source
//! never overlap (each holds the source's run lock, see [`super::lock`]). With
//! PostgreSQL and several nodes, only the node holding the scheduler lock runs schedules.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::accounts::Accounts;
use crate::config::Config;
use crate::store::{DbConn, Pool};

use super::RunOptions;
use super::SyncError;
use super::runner::{RunError, run_source};

/// The advisory lock key electing the scheduling node (`rollcall` in ASCII).
const LEADER_LOCK: i64 = 0x726f_6c6c_6361_6c6c;

/// Starts one task per enabled source. Returns the tasks (abort them to stop).
pub fn start(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    // One leader connection for the whole process: a PostgreSQL advisory lock belongs to a
    // session, so tasks each trying on a connection of their own would shut each other out.
    let leader: Leader = Arc::new(tokio::sync::Mutex::new(None));
    for cfg in config.sources.iter().filter(|s| s.enabled) {
        let (schedule, full) = match (cfg.cron(), cfg.full_cron()) {
            (Ok(s), Ok(f)) => (s, f),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(source = %cfg.name, error = %e, "not scheduled");
                continue;
            }
        };
        // With a full schedule, `schedule` runs are incremental.
        let incremental = full.is_some();
        let ctx = (pool.clone(), accounts.clone(), config.clone(), cfg.clone());
        if cfg.watch {
            let (pool, accounts, config, cfg) = ctx.clone();
            let leader_pool = pool.clone();
            let held = leader.clone();
            tasks.push(tokio::spawn(super::watch::run(
                pool,
                accounts,
                config,
                cfg,
                move || {
                    let (pool, held) = (leader_pool.clone(), held.clone());
                    async move { is_leader(&pool, &mut *held.lock().await).await }
                },
            )));
        }
        tasks.push(tokio::spawn(run_on(
            schedule,
            incremental,
            ctx.clone(),
            leader.clone(),
        )));
        if let Some(full) = full {
            tasks.push(tokio::spawn(run_on(full, false, ctx, leader.clone())));
        }
    }
    tasks
}

/// The connection holding the scheduler lock, shared by every task of the process.
type Leader = Arc<tokio::sync::Mutex<Option<crate::store::PooledConn>>>;

type Context = (
    Pool,
    Arc<Accounts>,
    Arc<Config>,
    crate::config::SourceConfig,
);

/// Runs the source at every time of `schedule`, for as long as the task lives.
async fn run_on(schedule: cron::Schedule, incremental: bool, ctx: Context, leader: Leader) {
    let (pool, accounts, config, cfg) = ctx;
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            tracing::warn!(source = %cfg.name, "the schedule has no future run");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tracing::debug!(source = %cfg.name, next = %next, incremental, "next run");
        tokio::time::sleep(wait).await;
        if !is_leader(&pool, &mut *leader.lock().await).await {
            tracing::debug!(source = %cfg.name, "another node runs the schedules");
            continue;
        }
        let opts = RunOptions::unattended(incremental, "schedule");
        // An incremental run that finds another run of the source in progress is skipped
        // (that run covers it). A full run waits for it instead: full runs are what catches
        // leavers, and their schedule often coincides with the incremental one.
        let waiting_since = tokio::time::Instant::now();
        let mut waited = false;
        loop {
            let ran = run_source(
                pool.clone(),
                accounts.clone(),
                config.clone(),
                cfg.clone(),
                opts,
                None,
            )
            .await;
            match ran {
                Err(RunError::Sync(e @ SyncError::Busy(..)))
                    if !incremental && waiting_since.elapsed() < FULL_RUN_PATIENCE =>
                {
                    if !waited {
                        tracing::warn!(source = %cfg.name, reason = %e, "scheduled full run waits for the run in progress");
                        waited = true;
                    }
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                Err(e) => {
                    tracing::warn!(source = %cfg.name, incremental, error = %e, "scheduled run did not start");
                    break;
                }
                Ok(_) => {
                    if waited {
                        tracing::info!(source = %cfg.name, waited_s = waiting_since.elapsed().as_secs(), "scheduled full run started after waiting");
                    }
                    break;
                }
            }
        }
    }
}

/// How long a scheduled full run waits for another run of its source to end.
const FULL_RUN_PATIENCE: Duration = Duration::from_secs(3600);
/// How often a waiting full run tries again. A run whose process died no longer holds the
/// source's lock, so waiting is only ever for a live run.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// SQLite is one node: always the leader. On PostgreSQL a session advisory lock, held on a
/// connection kept for the purpose, elects one node; if that connection breaks, the lock
/// is gone and another node takes over at its next tick.
async fn is_leader(pool: &Pool, held: &mut Option<crate::store::PooledConn>) -> bool {
    is_leader_on(pool, held, LEADER_LOCK).await
}

/// The election of [`is_leader`] under another advisory lock `key`, for another kind of
/// work that one node does at a time (the webhook deliverer): `held` is the caller's own
/// connection, kept while it leads.
pub(crate) async fn is_leader_on(
    pool: &Pool,
    held: &mut Option<crate::store::PooledConn>,
    key: i64,
) -> bool {
    let pool = pool.clone();
    let current = held.take();
    let (conn, leader) = tokio::task::spawn_blocking(move || {
        let mut conn = match current {
            Some(c) => c,
            None => match pool.get() {
                Ok(c) => c,
                Err(_) => return (None, false),
            },
        };
        let leader = try_lock(&mut conn, key);
        (Some(conn), leader)
    })
    .await
    .unwrap_or((None, false));
    if leader {
        *held = conn;
    }
    leader
}

/// Lets go of the leadership [`is_leader_on`] took on `conn` under `key` (before the
/// connection goes back to the pool).
pub(crate) fn release_leader(conn: &mut DbConn, key: i64) {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    if let DbConn::Pg(pg) = conn {
        let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(key)
            .execute(pg);
    }
}

fn try_lock(conn: &mut DbConn, key: i64) -> bool {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Bool};
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    match conn {
        DbConn::Sqlite(_) => true,
        DbConn::Pg(pg) => diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(key)
            .get_result::<Locked>(pg)
            .map(|r| r.locked)
            .unwrap_or(false),
    }
}
