//! The sync engine: a source's snapshot becomes a plan (diff against the agents that source
//! owns), the plan passes the guard, then each change goes through the account gateway with
//! its reason. Every run is recorded in `sync_runs`.

mod apply;
mod first;
pub mod guard;
pub mod history;
pub mod launch;
pub mod lock;
pub mod plan;
mod position;
mod record;
pub mod runner;
pub mod scheduler;
pub mod timers;
pub mod watch;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::accounts::{AccountError, Accounts, AgentInput};
use crate::audit::{self, Entry};
use crate::domain::{AgentProfile, OwnedAgent, SourcedAgent};
use crate::sources::{Changes, Position, SourceError, Usn};
use crate::store::agents::{self as agent_store, SourceFilter, owned_agents, sourced_by};
use crate::store::schema::sync_runs;
use crate::store::{DbConn, write_tx};
use apply::{apply, ticker};
pub use first::execute_first;
use guard::GuardConfig;
use plan::{Change, Inputs, Mapping, Plan};
pub use position::{forget_cookie, position, save_position};
use record::finish;
pub use record::{begin, fail, holder};

/// Changes applied per transaction: large enough to be fast, small enough that SCIM writers
/// are not held up for long.
const APPLY_CHUNK: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another run of the source holds its run lock; the second field says which run, when
    /// it is recorded (`" (run 12, started … by pid 42 on host-a)"`).
    #[error("a run of {0} is already in progress{1}")]
    Busy(String, String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// What a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub dry_run: bool,
    pub force: bool,
    pub incremental: bool,
    /// `schedule`, `cli` or `watch`.
    pub trigger: &'static str,
    /// Plan as at this moment instead of now (a dry run testing the lifecycle's rules).
    pub as_of: Option<NaiveDateTime>,
}

impl RunOptions {
    /// A run nobody asked for at the command line: applied, guard in force.
    pub fn unattended(incremental: bool, trigger: &'static str) -> RunOptions {
        RunOptions {
            dry_run: false,
            force: false,
            incremental,
            trigger,
            as_of: None,
        }
    }

    /// The moment the run plans for: `as_of`, else now.
    pub fn now(&self) -> NaiveDateTime {
        self.as_of.unwrap_or_else(crate::store::now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Applied (or, for a dry run, planned).
    Ok,
    /// Applied, but some changes failed (listed in the report).
    Partial,
    /// The guard refused the plan; nothing changed.
    Refused,
    /// The source could not be read; nothing changed.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Refused => "refused",
            RunStatus::Failed => "failed",
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub source: String,
    pub status: RunStatus,
    pub dry_run: bool,
    /// How the source was read: `full`, or the incremental method (`syncrepl`, `usn`,
    /// `modify_timestamp`).
    pub method: &'static str,
    /// Why an incremental run read everyone, when it did.
    pub note: Option<String>,
    /// The plan compared everyone (a full read): `last_full_at` moves.
    #[serde(skip)]
    pub plan_was_full: bool,
    pub plan: Plan,
    /// Why the run failed or was refused.
    pub error: Option<String>,
    /// An export's rows read, good and bad.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// An export's rows skipped, by line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_rows: Vec<crate::sources::BadRow>,
    /// The SHA-256 of the export read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_digest: Option<String>,
    /// Changes that could not be applied: (user name, action, error).
    pub failures: Vec<(String, String, String)>,
}

/// Called after each applied chunk with (changes applied, changes planned).
pub type Progress = std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>;

/// A configured source as the engine sees it.
#[derive(Debug, Clone)]
pub struct SyncSource {
    /// The configured name (`corp`).
    pub name: String,
    /// The `source` of the agents it owns (`ldap:corp`).
    pub tag: String,
    pub mapping: Mapping,
    pub guard: GuardConfig,
    /// An HR snapshot with fewer rows than this share of the last good run's is refused.
    pub min_rows_percent: Option<f64>,
}

/// The agents a run compares the source with.
pub struct Loaded {
    owned: Vec<OwnedAgent>,
    linkable: Vec<SourcedAgent>,
    /// The schedules of the agents an HR source dates.
    schedules: crate::fast_hash::FastMap<String, crate::domain::Schedule>,
    /// When only some owned agents were loaded: how many the source owns (live, active),
    /// for the guard's shares.
    totals: Option<(usize, usize)>,
}

impl Loaded {
    /// A planner for a full run of `src` against these agents.
    pub fn planner(self, src: &SyncSource, now: NaiveDateTime) -> plan::Planner<'_> {
        plan::Planner::new(Inputs {
            source: &src.tag,
            mapping: &src.mapping,
            owned: self.owned,
            linkable: self.linkable,
            manager_keys: std::collections::HashMap::new(),
            now,
        })
        .with_schedules(self.schedules)
    }
}

/// Loads the agents `src` owns (and, with `link_by`, those it may claim). The runner does
/// this while the source is being read.
pub fn load(conn: &mut DbConn, src: &SyncSource) -> Result<Loaded, SyncError> {
    crate::store::with_small_cache(conn, |conn| {
        let owned = owned_agents(conn, SourceFilter::Is(&src.tag))?;
        let linkable = if src.mapping.link_by.is_empty() {
            Vec::new()
        } else {
            sourced_by(conn, SourceFilter::Candidates(&src.tag))?
        };
        Ok(Loaded {
            owned,
            linkable,
            schedules: schedules_of(conn, src)?,
            totals: None,
        })
    })
}

/// The schedules of the agents an HR source dates (none for a directory).
fn schedules_of(
    conn: &mut DbConn,
    src: &SyncSource,
) -> Result<crate::fast_hash::FastMap<String, crate::domain::Schedule>, SyncError> {
    if src.mapping.dated.is_none() {
        return Ok(Default::default());
    }
    Ok(crate::accounts::schedule::schedules_of(conn, &src.tag)?)
}

/// Loads the owned agents a read concerns: all of them after a read that saw everyone,
/// otherwise only those it names (changed or gone people, managers), so that a small
/// change costs little however many agents the source owns.
pub fn load_concerned(
    conn: &mut DbConn,
    src: &SyncSource,
    changes: &Changes,
) -> Result<Loaded, SyncError> {
    if changes.full || changes.present.is_some() {
        return load(conn, src);
    }
    let mut keys: Vec<String> = changes
        .snapshot
        .records
        .iter()
        .map(|r| r.key.clone())
        .chain(changes.gone.iter().cloned())
        .chain(changes.manager_keys.values().cloned())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut owned = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        owned.extend(owned_agents(conn, SourceFilter::Keys(&src.tag, chunk))?);
    }
    let linkable = if src.mapping.link_by.is_empty() || changes.snapshot.records.is_empty() {
        Vec::new()
    } else {
        sourced_by(conn, SourceFilter::Candidates(&src.tag))?
    };
    let totals = Some(agent_store::count_by_source(conn, &src.tag)?);
    Ok(Loaded {
        owned,
        linkable,
        schedules: schedules_of(conn, src)?,
        totals,
    })
}

/// Plans a run from a snapshot (or the error reading it), guards it, applies it unless it
/// is a dry run, and records the result.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    run_id: i64,
    read: Result<Changes, SourceError>,
    loaded: Option<Loaded>,
    opts: RunOptions,
    progress: Option<Progress>,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError> {
    let mut report = RunReport::new(run_id, src, opts);
    let mut changes = match read {
        Ok(c) => c,
        Err(e) => return read_failed(conn, src, report, e, opts, now),
    };
    report.read(&mut changes.snapshot);
    if !opts.force
        && let Some(why) = shrunk(conn, src, &changes)?
    {
        return refuse(conn, src, report, why, opts, now);
    }
    let Loaded {
        owned,
        linkable,
        schedules,
        totals,
    } = match loaded {
        Some(l) => l,
        None => load_concerned(conn, src, &changes)?,
    };
    report.method = changes.method;
    report.note = changes.note.clone();
    report.plan_was_full = changes.full;
    let records = &changes.snapshot.records;
    // A source that listed everyone still there (RFC 4533 present phase) makes every
    // other owned agent a leaver, as a full read does.
    let mut gone = changes.gone;
    if let Some(present) = &changes.present {
        let read: std::collections::HashSet<&str> =
            records.iter().map(|r| r.key.as_str()).collect();
        gone.extend(
            owned
                .iter()
                .filter_map(|o| o.key.as_deref())
                .filter(|k| !present.contains(*k) && !read.contains(*k))
                .map(str::to_owned),
        );
    }
    // The guard's "nobody there" check applies to reads that saw everyone: a full read, or
    // a present phase that listed nobody and changed nobody.
    let complete = changes.full
        || (changes.present.as_ref().is_some_and(|p| p.is_empty()) && records.is_empty());
    let mut planner = plan::Planner::new(Inputs {
        source: &src.tag,
        mapping: &src.mapping,
        owned,
        linkable,
        manager_keys: changes.manager_keys,
        now,
    })
    .with_schedules(schedules);
    planner.hold(&changes.snapshot.held);
    // The plan takes the records apart: what the apply needs moves into it, the rest is
    // freed as planning goes.
    planner.push_all(changes.snapshot.records);
    report.plan = planner.finish(&gone, changes.full, &mut |ids| {
        sourced_by(conn, SourceFilter::Ids(&src.tag, ids))
    })?;
    if let Some((owned, active)) = totals {
        report.plan.owned = owned;
        report.plan.owned_active = active;
    }
    conclude(conn, accounts, src, report, complete, opts, progress, now)
}

/// Finishes a full run whose people were planned as they were read (`planner`, see
/// [`runner`]): `read` is the read's outcome, without records. A failed read discards the
/// plan and changes nothing.
#[allow(clippy::too_many_arguments)]
pub fn execute_streamed(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    run_id: i64,
    read: Result<Changes, SourceError>,
    planner: plan::Planner<'_>,
    opts: RunOptions,
    progress: Option<Progress>,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError> {
    let mut report = RunReport::new(run_id, src, opts);
    let mut changes = match read {
        Ok(c) => c,
        Err(e) => return read_failed(conn, src, report, e, opts, now),
    };
    report.read(&mut changes.snapshot);
    if !opts.force
        && let Some(why) = shrunk(conn, src, &changes)?
    {
        return refuse(conn, src, report, why, opts, now);
    }
    report.method = changes.method;
    report.note = changes.note;
    report.plan_was_full = changes.full;
    let mut planner = planner;
    planner.hold(&changes.snapshot.held);
    report.plan = planner.finish(&changes.gone, changes.full, &mut |ids| {
        sourced_by(conn, SourceFilter::Ids(&src.tag, ids))
    })?;
    let complete = report.plan_was_full;
    conclude(conn, accounts, src, report, complete, opts, progress, now)
}

impl RunReport {
    fn new(run_id: i64, src: &SyncSource, opts: RunOptions) -> RunReport {
        RunReport {
            run_id,
            source: src.name.clone(),
            status: RunStatus::Ok,
            dry_run: opts.dry_run,
            method: "full",
            note: None,
            plan_was_full: false,
            plan: Plan::default(),
            error: None,
            rows: None,
            bad_rows: Vec::new(),
            snapshot_digest: None,
            failures: Vec::new(),
        }
    }

    /// Takes what an export's read says about itself (rows, bad rows, digest).
    pub(crate) fn read(&mut self, snapshot: &mut crate::sources::Snapshot) {
        if snapshot.digest.is_some() {
            self.rows = Some(snapshot.rows);
            self.bad_rows = std::mem::take(&mut snapshot.bad);
            self.snapshot_digest = snapshot.digest.clone();
        }
    }
}

/// Records a run whose source could not be read: refused (with its `sync.refuse` entry)
/// when what was read cannot be trusted, failed otherwise.
fn read_failed(
    conn: &mut DbConn,
    src: &SyncSource,
    report: RunReport,
    e: SourceError,
    opts: RunOptions,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError> {
    match e {
        SourceError::Refused(why) => refuse(conn, src, report, why, opts, now),
        other => failed(conn, report, &other),
    }
}

/// Why a snapshot export is refused as cut short: fewer rows than `min_rows_percent` of the
/// last good run's.
fn shrunk(
    conn: &mut DbConn,
    src: &SyncSource,
    changes: &Changes,
) -> Result<Option<String>, SyncError> {
    let (Some(share), true) = (src.min_rows_percent, changes.full) else {
        return Ok(None);
    };
    let last: Option<Option<i32>> = sync_runs::table
        .filter(sync_runs::source.eq(&src.name))
        .filter(sync_runs::status.eq_any(["ok", "partial"]))
        .filter(sync_runs::mode.ne("dry_run"))
        .filter(sync_runs::source_rows.is_not_null())
        .select(sync_runs::source_rows)
        .order(sync_runs::id.desc())
        .first(conn)
        .optional()?;
    let Some(Some(last)) = last else {
        return Ok(None);
    };
    let rows = changes.snapshot.rows;
    let least = f64::from(last) * share / 100.0;
    Ok(((rows as f64) < least).then(|| {
        format!(
            "the export has {rows} rows; the last good run read {last}, and fewer than {share}% of that (min_rows_percent) looks like a file cut short"
        )
    }))
}

/// Records a run whose source could not be read.
fn failed(
    conn: &mut DbConn,
    mut report: RunReport,
    e: &SourceError,
) -> Result<RunReport, SyncError> {
    report.status = RunStatus::Failed;
    report.error = Some(e.to_string());
    finish(conn, &report)?;
    Ok(report)
}

/// Records a run the guard refused — with an audit entry `sync.refuse` saying why (the
/// `sync.refused` event), in the same transaction as the run's record, unless it was a dry
/// run; nothing of its plan is applied.
fn refuse(
    conn: &mut DbConn,
    src: &SyncSource,
    mut report: RunReport,
    why: String,
    opts: RunOptions,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError> {
    let run_id = report.run_id;
    report.status = RunStatus::Refused;
    report.error = Some(why.clone());
    if opts.dry_run {
        finish(conn, &report)?;
        return Ok(report);
    }
    let actor = format!("sync:{}#{run_id}", src.name);
    write_tx(conn, |conn| -> Result<(), SyncError> {
        audit::append(
            conn,
            Entry {
                at: now,
                actor: &actor,
                action: "sync.refuse",
                target_type: "source",
                target_id: &src.name,
                before: None,
                after: Some(serde_json::json!({
                    "source": src.name,
                    "run": run_id,
                    "why": why,
                    "wouldDisableOrDelete": report.plan.removals(),
                    "owned": report.plan.owned,
                })),
                reason: Some(&why),
            },
        )?;
        finish(conn, &report)
    })?;
    Ok(report)
}

/// Guards the planned run, applies it unless it is a dry run or refused, and records it.
#[allow(clippy::too_many_arguments)]
fn conclude(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    mut report: RunReport,
    complete: bool,
    opts: RunOptions,
    progress: Option<Progress>,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError> {
    let run_id = report.run_id;
    if let Some(why) = guard::check(&report.plan, &src.guard, complete) {
        if !opts.force {
            return refuse(conn, src, report, why, opts, now);
        }
        tracing::warn!(source = %src.name, reason = %why, "guard overridden with --force");
    }
    if !opts.dry_run {
        let mut tick = ticker(progress, report.plan.changes.len());
        report.failures = apply(
            conn,
            accounts,
            src,
            run_id,
            &report.plan.changes,
            (&report.plan.stamps, &report.plan.schedules),
            &mut tick,
            now,
        )?;
        if !report.failures.is_empty() {
            report.status = RunStatus::Partial;
            report.error = Some(format!("{} changes failed", report.failures.len()));
        }
        crate::faults::pause_point("sync.committed");
    }
    finish(conn, &report)?;
    Ok(report)
}
