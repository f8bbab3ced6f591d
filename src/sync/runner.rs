//! Running a configured source: open the run, read the source (async), then plan, guard and
//! apply on a blocking thread. Used by `rollcall sync` and by the scheduler.

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::config::{Config, LeaverConfig, SourceConfig};
use crate::store::Pool;

use super::plan::{LeaverPolicy, Mapping, Rule};
use super::{RunOptions, RunReport, SyncError, SyncSource};

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
        },
        guard: cfg.guard.clone(),
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
}

/// Runs `cfg` once.
pub async fn run_source(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
    cfg: SourceConfig,
    opts: RunOptions,
    progress: Option<super::Progress>,
) -> Result<RunReport, RunError> {
    let src = sync_source(&cfg, &config);
    let mut opts = opts;
    // An incremental run needs a previous run to start from; without one it is a full run.
    let since = if opts.incremental {
        let pool = pool.clone();
        let name = src.name.clone();
        let cursor = tokio::task::spawn_blocking(move || -> Result<_, RunError> {
            let mut conn = pool.get()?;
            Ok(super::cursor(&mut conn, &name)?)
        })
        .await??;
        let overlap = chrono::Duration::seconds(
            i64::try_from(cfg.incremental_overlap_secs).unwrap_or(i64::MAX / 2_000),
        );
        cursor.map(|c| c - overlap)
    } else {
        None
    };
    opts.incremental = since.is_some();
    let run_id = {
        let pool = pool.clone();
        let name = src.name.clone();
        tokio::task::spawn_blocking(move || -> Result<i64, RunError> {
            let mut conn = pool.get()?;
            Ok(super::begin(&mut conn, &name, opts, crate::store::now())?)
        })
        .await??
    };
    let started_at = crate::store::now();
    let result = read_and_apply(
        pool.clone(),
        accounts,
        cfg,
        src,
        run_id,
        since,
        opts,
        progress,
    )
    .await;
    if let Ok(report) = &result
        && !opts.dry_run
        && matches!(
            report.status,
            super::RunStatus::Ok | super::RunStatus::Partial
        )
    {
        let (pool, name, full) = (pool.clone(), report.source.clone(), !opts.incremental);
        let saved = tokio::task::spawn_blocking(move || -> Result<(), RunError> {
            let mut conn = pool.get()?;
            Ok(super::save_cursor(
                &mut conn,
                &name,
                started_at,
                full,
                crate::store::now(),
            )?)
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::warn!(run = run_id, "could not save the incremental position");
        }
    }
    if let Err(e) = &result {
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
    result
}

#[allow(clippy::too_many_arguments)]
async fn read_and_apply(
    pool: Pool,
    accounts: Arc<Accounts>,
    cfg: SourceConfig,
    src: super::SyncSource,
    run_id: i64,
    since: Option<chrono::NaiveDateTime>,
    opts: RunOptions,
    progress: Option<super::Progress>,
) -> Result<RunReport, RunError> {
    let started = std::time::Instant::now();
    // Read the source and load the agents it owns at the same time.
    let loading = {
        let pool = pool.clone();
        let src = src.clone();
        tokio::task::spawn_blocking(move || -> Result<super::Loaded, RunError> {
            let mut conn = pool.get()?;
            Ok(super::load(&mut conn, &src)?)
        })
    };
    let snapshot = match since {
        Some(t) => crate::sources::fetch_changed(&cfg, t).await,
        None => crate::sources::fetch(&cfg).await,
    };
    let loaded = loading.await??;
    if let Ok(s) = &snapshot {
        tracing::info!(source = %cfg.name, records = s.records.len(), skipped = s.skipped, elapsed_ms = started.elapsed().as_millis() as u64, "source read");
    }
    let report = tokio::task::spawn_blocking(move || -> Result<RunReport, RunError> {
        let mut conn = pool.get()?;
        Ok(super::execute(
            &mut conn,
            &accounts,
            &src,
            run_id,
            snapshot,
            Some(loaded),
            opts,
            progress,
            crate::store::now(),
        )?)
    })
    .await??;
    tracing::info!(
        source = %report.source,
        run = report.run_id,
        status = report.status.as_str(),
        created = report.plan.count("create"),
        updated = report.plan.count("update"),
        disabled = report.plan.count("disable"),
        enabled = report.plan.count("enable"),
        deleted = report.plan.count("delete"),
        error = report.error.as_deref().unwrap_or(""),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sync run finished"
    );
    Ok(report)
}
