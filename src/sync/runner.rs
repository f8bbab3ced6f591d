//! Running a configured source: open the run, read the source (async), then plan, guard and
//! apply on a blocking thread. Used by `rollcall sync` and by the scheduler.

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::config::{Config, LeaverConfig, SourceConfig};
use crate::sources::{Changes, Position, RecordSink, SourceError, SourceRecord};
use crate::store::Pool;
use tracing::Instrument;

use super::plan::{Dated, LeaverPolicy, Mapping, Rule};
use super::{RunOptions, RunReport, SyncError, SyncSource};
use crate::sources::template::Templates;

/// The engine's view of a configured source.
pub fn sync_source(cfg: &SourceConfig, config: &Config) -> SyncSource {
    SyncSource {
        name: cfg.name.clone(),
        tag: cfg.tag(),
        mapping: Mapping {
            rules: cfg
                .rules
                .iter()
                .map(|r| Rule {
                    group: r.group.clone(),
                    role: r.role.clone(),
                    skill_groups: r.skill_groups.clone(),
                })
                .collect(),
            default_role: cfg
                .default_role
                .clone()
                .unwrap_or_else(|| config.accounts.default_role.clone()),
            link_by: cfg.link_by.clone(),
            leaver: match cfg.leaver {
                LeaverConfig::Disable => LeaverPolicy::Disable,
                LeaverConfig::Delete => LeaverPolicy::Delete {
                    after: chrono::Duration::days(i64::from(cfg.delete_after_days)),
                },
            },
            // Checked when the configuration was loaded.
            templates: Templates::parse(&cfg.templates).unwrap_or_default(),
            dated: cfg.hr.as_ref().map(|hr| Dated {
                prehire: chrono::Duration::days(i64::from(hr.prehire_days)),
                activate_at_start: !cfg
                    .require_approval
                    .unwrap_or(config.accounts.require_approval),
                rehire_new: hr.rehire == crate::sources::hr::Rehire::NewAgent,
            }),
            ownership: config.ownership.for_source(&cfg.name),
        },
        guard: cfg.guard.clone(),
        min_rows_percent: cfg
            .hr
            .as_ref()
            .filter(|hr| hr.feed == crate::sources::hr::Feed::Snapshot)
            .map(|hr| hr.min_rows_percent),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("no database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("the run's worker thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Lock(String),
}

/// Runs `cfg` once: reads it (in full, or with `opts.incremental` what changed since the
/// last applied run), plans, guards and applies.
pub async fn run_source(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
    cfg: SourceConfig,
    opts: RunOptions,
    progress: Option<super::Progress>,
) -> Result<RunReport, RunError> {
    let opened = open_run(&pool, &config, &cfg.name, opts).await?;
    run_opened(pool, accounts, config, cfg, opts, progress, opened).await
}

/// A run that is recorded (`running`) and, unless it is a dry run, holds its source's run
/// lock: what [`open_run`] gives and [`run_opened`] carries on.
pub struct OpenedRun {
    pub run_id: i64,
    lock: Option<super::lock::RunLock>,
}

/// Opens a run of `source`: takes its run lock (not for a dry run) and records it. Fails
/// with `SyncError::Busy` when another run holds the lock.
pub async fn open_run(
    pool: &Pool,
    config: &Config,
    source: &str,
    opts: RunOptions,
) -> Result<OpenedRun, RunError> {
    let pool = pool.clone();
    let name = source.to_owned();
    let target = crate::store::Target::parse(&config.database.url)
        .map_err(|e| RunError::Lock(e.to_string()))?;
    tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let lock = if opts.dry_run {
            None
        } else {
            Some(take_lock(&pool, &target, &name)?)
        };
        let mut conn = pool.get()?;
        let owner = super::lock::this_owner();
        let run_id = super::begin(&mut conn, &name, opts, &owner, crate::store::now())?;
        Ok(OpenedRun { run_id, lock })
    })
    .await?
}

/// Carries on a run [`open_run`] opened: reads the source, plans, guards and applies.
pub async fn run_opened(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
    cfg: SourceConfig,
    opts: RunOptions,
    progress: Option<super::Progress>,
    opened: OpenedRun,
) -> Result<RunReport, RunError> {
    // An export's position says which export was processed last (read again only when it
    // changed); a run planned for another moment reads it whatever it is.
    let dated = cfg.kind == crate::config::SourceKind::Hr;
    let from = if opts.incremental || dated {
        let (reader, name) = (pool.clone(), cfg.name.clone());
        let from = tokio::task::spawn_blocking(move || -> Result<_, RunError> {
            let mut conn = reader.get()?;
            Ok(super::position(&mut conn, &name)?)
        })
        .await
        .map_err(RunError::from)
        .and_then(|r| r);
        match from {
            Ok(mut from) => {
                let overlap = chrono::Duration::seconds(
                    i64::try_from(cfg.incremental_overlap_secs).unwrap_or(i64::MAX / 2_000),
                );
                from.since = from.since.map(|c| c - overlap);
                if opts.as_of.is_some() || opts.force {
                    from.export = None;
                }
                Some(from)
            }
            Err(e) => return Err(end_failed(&pool, opened, e).await),
        }
    } else {
        None
    };
    let source = cfg.clone();
    let read = match from {
        Some(from) if !dated => Read::Whole(Box::pin(async move {
            crate::sources::fetch_changes(&source, from, opts.now()).await
        })),
        // A full read (and any export's) hands its people over page by page, to be planned
        // as they come.
        from => Read::Streamed(Box::new(move |sink| {
            Box::pin(async move {
                crate::sources::fetch_into(&source, from.unwrap_or_default(), opts.now(), sink)
                    .await
            })
        })),
    };
    run_with_opened(pool, accounts, &config, &cfg, opts, read, progress, opened).await
}

/// Records a run that could not start reading as failed, lets its lock go, and returns the
/// error.
async fn end_failed(pool: &Pool, opened: OpenedRun, e: RunError) -> RunError {
    let (pool, error, run_id) = (pool.clone(), e.to_string(), opened.run_id);
    let _ = tokio::task::spawn_blocking(move || -> Result<(), RunError> {
        let mut conn = pool.get()?;
        Ok(super::fail(&mut conn, run_id, &error, crate::store::now())?)
    })
    .await;
    if let Some(lock) = opened.lock {
        let _ = tokio::task::spawn_blocking(move || lock.release()).await;
    }
    e
}

/// A read as the runner gets it: the changes at once, or (a full read) people handed to a
/// sink as they are read and the rest of the changes at the end.
pub enum Read {
    Whole(ReadFuture),
    Streamed(Box<dyn FnOnce(RecordSink) -> ReadFuture + Send>),
}

type ReadFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Changes, SourceError>> + Send>>;

/// Applies changes already read (the watch's batches) as one run.
pub async fn apply_changes(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: &Config,
    cfg: &SourceConfig,
    changes: Changes,
) -> Result<RunReport, RunError> {
    let opts = RunOptions::unattended(!changes.full, "watch");
    let read = Read::Whole(Box::pin(async { Ok(changes) }));
    run_with(pool, accounts, config, cfg, opts, read, None).await
}

/// Takes the run lock of `source`, or says which run holds it. A lock held with no run
/// recorded as `running` belongs to a run starting or just ending: that is tried again for
/// up to a second before it counts as busy.
fn take_lock(
    pool: &Pool,
    target: &crate::store::Target,
    source: &str,
) -> Result<super::lock::RunLock, RunError> {
    let mut tries = 0;
    loop {
        match super::lock::try_lock(target, source) {
            Ok(Some(lock)) => return Ok(lock),
            Ok(None) => {
                let mut conn = pool.get()?;
                let holder = super::holder(&mut conn, source)?;
                tries += 1;
                if !holder.is_empty() || tries >= 20 {
                    return Err(SyncError::Busy(source.to_owned(), holder).into());
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(RunError::Lock(e.to_string())),
        }
    }
}

/// One recorded run: open it, read (with the owned agents loaded meanwhile), plan, guard,
/// apply, then save where the next incremental run starts — or record why it failed.
async fn run_with(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: &Config,
    cfg: &SourceConfig,
    opts: RunOptions,
    read: Read,
    progress: Option<super::Progress>,
) -> Result<RunReport, RunError> {
    // A run that applies holds the source's run lock until it has ended, recorded and saved
    // its position; its process dying releases it at once.
    let opened = open_run(&pool, config, &cfg.name, opts).await?;
    run_with_opened(pool, accounts, config, cfg, opts, read, progress, opened).await
}

#[allow(clippy::too_many_arguments)]
async fn run_with_opened(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: &Config,
    cfg: &SourceConfig,
    opts: RunOptions,
    read: Read,
    progress: Option<super::Progress>,
    opened: OpenedRun,
) -> Result<RunReport, RunError> {
    let src = sync_source(cfg, config);
    let OpenedRun { run_id, lock } = opened;
    let started_at = crate::store::now();
    let span = tracing::info_span!("sync_run", source = %src.name, run = run_id);
    let result = read_and_apply(pool.clone(), accounts, src, run_id, read, opts, progress)
        .instrument(span)
        .await;
    match &result {
        Ok((report, position))
            if !opts.dry_run
                && matches!(
                    report.status,
                    super::RunStatus::Ok | super::RunStatus::Partial
                ) =>
        {
            let (pool, name) = (pool.clone(), report.source.clone());
            let full = report.plan_was_full;
            let position = position.clone();
            // The watch's batches carry no start time of their own: keep the stored one.
            let at = (opts.trigger != "watch").then_some(started_at);
            let saved = tokio::task::spawn_blocking(move || -> Result<(), RunError> {
                let mut conn = pool.get()?;
                Ok(super::save_position(
                    &mut conn,
                    &name,
                    at,
                    full,
                    &position,
                    crate::store::now(),
                )?)
            })
            .await;
            if !matches!(saved, Ok(Ok(()))) {
                tracing::warn!(run = run_id, "could not save the incremental position");
            }
        }
        Ok(_) => {}
        Err(e) => {
            // The run could not finish: record it as failed rather than leave it `running`.
            let (pool, error) = (pool.clone(), e.to_string());
            let recorded = tokio::task::spawn_blocking(move || -> Result<(), RunError> {
                let mut conn = pool.get()?;
                Ok(super::fail(&mut conn, run_id, &error, crate::store::now())?)
            })
            .await;
            if !matches!(recorded, Ok(Ok(()))) {
                tracing::error!(run = run_id, "could not record the failed run");
            }
        }
    }
    if let Some(lock) = lock {
        let _ = tokio::task::spawn_blocking(move || lock.release()).await;
    }
    result.map(|(report, _)| report)
}

async fn read_and_apply(
    pool: Pool,
    accounts: Arc<Accounts>,
    src: super::SyncSource,
    run_id: i64,
    read: Read,
    opts: RunOptions,
    progress: Option<super::Progress>,
) -> Result<(RunReport, Position), RunError> {
    let read = match read {
        Read::Whole(read) => read,
        Read::Streamed(read) => {
            return read_and_plan(pool, accounts, src, run_id, read, opts, progress).await;
        }
    };
    let started = std::time::Instant::now();
    // A full run loads the agents the source owns while the source is being read; an
    // incremental one loads only those its changes concern, once they are known.
    let loading = (!opts.incremental).then(|| {
        let pool = pool.clone();
        let src = src.clone();
        tokio::task::spawn_blocking(move || -> Result<super::Loaded, RunError> {
            let mut conn = pool.get()?;
            Ok(super::load(&mut conn, &src)?)
        })
    });
    let read = read.await;
    let loaded = match loading {
        Some(task) => Some(task.await??),
        None => None,
    };
    let position = match &read {
        Ok(c) => {
            tracing::info!(source = %src.name, method = c.method, full = c.full, records = c.snapshot.records.len(), skipped = c.snapshot.skipped, elapsed_ms = started.elapsed().as_millis() as u64, "source read");
            c.snapshot.position.clone()
        }
        Err(_) => Position::default(),
    };
    let report = tokio::task::spawn_blocking(move || -> Result<RunReport, RunError> {
        let mut conn = pool.get()?;
        Ok(super::execute(
            &mut conn,
            &accounts,
            &src,
            run_id,
            read,
            loaded,
            opts,
            progress,
            opts.now(),
        )?)
    })
    .await??;
    log_finished(&report, started);
    Ok((report, position))
}

/// A full run planned while it is read: a worker loads the owned agents, then compares each
/// page of people as the source delivers it; when the read ends it guards and applies the
/// plan. A read that fails part-way leaves the plan unapplied, as any failed read does.
async fn read_and_plan(
    pool: Pool,
    accounts: Arc<Accounts>,
    src: super::SyncSource,
    run_id: i64,
    read: Box<dyn FnOnce(RecordSink) -> ReadFuture + Send>,
    opts: RunOptions,
    progress: Option<super::Progress>,
) -> Result<(RunReport, Position), RunError> {
    let started = std::time::Instant::now();
    // A few pages in flight: the reader runs ahead of the planner by that much at most.
    let (sink, pages) = std::sync::mpsc::sync_channel::<Vec<SourceRecord>>(4);
    let (done, outcome) = std::sync::mpsc::channel::<Result<Changes, SourceError>>();
    let worker = tokio::task::spawn_blocking(move || -> Result<RunReport, RunError> {
        let mut conn = pool.get()?;
        let loaded = super::load(&mut conn, &src)?;
        let mut planner = loaded.planner(&src, opts.now());
        tracing::debug!(
            owned = planner.owned(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "owned agents loaded"
        );
        let outcome = move || {
            outcome
                .recv()
                .unwrap_or_else(|_| Err(SourceError::Search("read abandoned".into())))
        };
        if planner.is_first() && !opts.dry_run {
            let pages = pages
                .into_iter()
                .inspect(|_| crate::faults::pause_point("sync.reading"));
            return Ok(super::execute_first(
                &mut conn,
                &accounts,
                &src,
                run_id,
                pages,
                outcome,
                planner,
                opts,
                progress,
                opts.now(),
            )?);
        }
        // Ends when the reader drops the sink: the read is over, one way or another.
        for page in pages {
            planner.push_all(page);
            crate::faults::pause_point("sync.reading");
        }
        let read = outcome();
        Ok(super::execute_streamed(
            &mut conn,
            &accounts,
            &src,
            run_id,
            read,
            planner,
            opts,
            progress,
            opts.now(),
        )?)
    });
    let read = read(sink).await;
    let position = match &read {
        Ok(c) => {
            tracing::info!(
                method = c.method,
                skipped = c.snapshot.skipped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "source read"
            );
            c.snapshot.position.clone()
        }
        Err(_) => Position::default(),
    };
    // The worker may have stopped already (no database): then it reports why.
    let _ = done.send(read);
    let report = worker.await??;
    log_finished(&report, started);
    Ok((report, position))
}

fn log_finished(report: &RunReport, started: std::time::Instant) {
    tracing::info!(
        source = %report.source,
        run = report.run_id,
        status = report.status.as_str(),
        method = report.method,
        created = report.plan.count("create"),
        updated = report.plan.count("update"),
        disabled = report.plan.count("disable"),
        enabled = report.plan.count("enable"),
        deleted = report.plan.count("delete"),
        error = report.error.as_deref().unwrap_or(""),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sync run finished"
    );
}
