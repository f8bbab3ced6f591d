//! The sync engine: a source's snapshot becomes a plan (diff against the agents that source
//! owns), the plan passes the guard, then each change goes through the account gateway with
//! its reason. Every run is recorded in `sync_runs`.

pub mod guard;
pub mod lock;
pub mod plan;
pub mod runner;
pub mod scheduler;
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
use guard::GuardConfig;
use plan::{Change, Inputs, Mapping, Plan};

/// Source prefixes of agents owned by a sync source (never linked by another one).
pub const SYNC_PREFIXES: &[&str] = &["ldap:", "hr:"];

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
}

impl RunOptions {
    /// A run nobody asked for at the command line: applied, guard in force.
    pub fn unattended(incremental: bool, trigger: &'static str) -> RunOptions {
        RunOptions {
            dry_run: false,
            force: false,
            incremental,
            trigger,
        }
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
}

/// Opens a run and returns its id. A run that applies must hold the source's run lock
/// ([`lock::try_lock`]) for its whole life: any other applying run of the source still
/// recorded as `running` then belongs to a process that is gone, and is marked `failed`
/// ("interrupted") here first. Dry runs take no lock; one left `running` by a process of
/// this machine that no longer exists is marked the same way. `owner` is
/// [`lock::this_owner`].
pub fn begin(
    conn: &mut DbConn,
    source: &str,
    opts: RunOptions,
    owner: &str,
    now: NaiveDateTime,
) -> Result<i64, SyncError> {
    let mode = if opts.dry_run {
        "dry_run"
    } else if opts.incremental {
        "incremental"
    } else {
        "full"
    };
    let begun = write_tx(conn, |conn| {
        let running: Vec<(i64, String, Option<String>, NaiveDateTime)> = sync_runs::table
            .filter(sync_runs::source.eq(source))
            .filter(sync_runs::status.eq("running"))
            .select((
                sync_runs::id,
                sync_runs::mode,
                sync_runs::owner,
                sync_runs::started_at,
            ))
            .load(conn)?;
        for (id, run_mode, run_owner, started_at) in running {
            let dry = run_mode == "dry_run";
            let gone = match &run_owner {
                Some(o) if dry => lock::is_dead_here(o),
                _ => !dry && !opts.dry_run,
            };
            if !gone {
                continue;
            }
            let who = run_owner
                .as_deref()
                .map(lock::describe_owner)
                .unwrap_or_else(|| "its process".to_owned());
            let why = format!(
                "interrupted: {who} stopped before the run finished (found at {} UTC)",
                now.format("%Y-%m-%d %H:%M:%S")
            );
            tracing::warn!(source, run = id, started_at = %started_at, owner = %who, "a run of the source was interrupted; marked failed");
            diesel::update(sync_runs::table.filter(sync_runs::id.eq(id)))
                .set((
                    sync_runs::status.eq(RunStatus::Failed.as_str()),
                    sync_runs::error.eq(Some(why)),
                ))
                .execute(conn)?;
        }
        let id = diesel::insert_into(sync_runs::table)
            .values((
                sync_runs::source.eq(source),
                sync_runs::mode.eq(mode),
                sync_runs::status.eq("running"),
                sync_runs::forced.eq(opts.force),
                sync_runs::trigger.eq(opts.trigger),
                sync_runs::started_at.eq(now),
                sync_runs::owner.eq(owner),
            ))
            .returning(sync_runs::id)
            .get_result(conn);
        match id {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Err(SyncError::Busy(source.to_owned(), String::new())),
            other => Ok(other?),
        }
    });
    match begun {
        // Another process that skipped the lock (the unique index stopped it): say which
        // run is in the way, read after the failed transaction has ended.
        Err(SyncError::Busy(source, _)) => {
            let holder = holder(conn, &source)?;
            Err(SyncError::Busy(source, holder))
        }
        other => other,
    }
}

/// The applying run of `source` recorded as `running`, as people read it: ` (run 12,
/// started 2026-12-02 10:00:01 UTC by pid 42 on host-a)`; empty when there is none.
pub fn holder(conn: &mut DbConn, source: &str) -> Result<String, SyncError> {
    let run: Option<(i64, NaiveDateTime, Option<String>)> = sync_runs::table
        .filter(sync_runs::source.eq(source))
        .filter(sync_runs::status.eq("running"))
        .filter(sync_runs::mode.ne("dry_run"))
        .select((sync_runs::id, sync_runs::started_at, sync_runs::owner))
        .order(sync_runs::id.desc())
        .first(conn)
        .optional()?;
    Ok(match run {
        Some((id, started_at, owner)) => format!(
            " (run {id}, started {} UTC{})",
            started_at.format("%Y-%m-%d %H:%M:%S"),
            owner
                .map(|o| format!(" by {}", lock::describe_owner(&o)))
                .unwrap_or_default()
        ),
        None => String::new(),
    })
}

/// The agents a run compares the source with.
pub struct Loaded {
    owned: Vec<OwnedAgent>,
    linkable: Vec<SourcedAgent>,
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
            sourced_by(conn, SourceFilter::NotLike(SYNC_PREFIXES))?
        };
        Ok(Loaded {
            owned,
            linkable,
            totals: None,
        })
    })
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
        sourced_by(conn, SourceFilter::NotLike(SYNC_PREFIXES))?
    };
    let totals = Some(agent_store::count_by_source(conn, &src.tag)?);
    Ok(Loaded {
        owned,
        linkable,
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
    let changes = match read {
        Ok(c) => c,
        Err(e) => return failed(conn, report, &e),
    };
    let Loaded {
        owned,
        linkable,
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
    });
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
    let changes = match read {
        Ok(c) => c,
        Err(e) => return failed(conn, report, &e),
    };
    report.method = changes.method;
    report.note = changes.note;
    report.plan_was_full = true;
    report.plan = planner.finish(&changes.gone, true, &mut |ids| {
        sourced_by(conn, SourceFilter::Ids(&src.tag, ids))
    })?;
    conclude(conn, accounts, src, report, true, opts, progress, now)
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
            failures: Vec::new(),
        }
    }
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

/// Records a run the guard refused (with an audit entry saying why, unless it was a dry
/// run); nothing of its plan is applied.
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
    if !opts.dry_run {
        let actor = format!("sync:{}#{run_id}", src.name);
        write_tx(conn, |conn| {
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor: &actor,
                    action: "sync.refused",
                    target_type: "source",
                    target_id: &src.name,
                    before: None,
                    after: Some(serde_json::json!({
                        "run": run_id,
                        "wouldDisableOrDelete": report.plan.removals(),
                        "owned": report.plan.owned,
                    })),
                    reason: Some(&why),
                },
            )
        })?;
    }
    report.error = Some(why);
    finish(conn, &report)?;
    Ok(report)
}

/// A source's first run (it owns no agents, and none can be linked), applied while it is
/// read: the people are created a chunk at a time as they are planned, all in one
/// transaction that commits only once the read has ended well and the guard has passed —
/// a failed or refused run still changes nothing. On SQLite the transaction holds the
/// database's one write lock until then, so other writers wait for the read.
///
/// Two threads share the work: this one writes (it holds the connection), a second one
/// plans each page as it arrives and prepares its creates (rows, values, snapshots), so
/// that the next chunk is ready when the last one is written.
#[allow(clippy::too_many_arguments)]
pub fn execute_first<P>(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    run_id: i64,
    pages: P,
    outcome: impl FnOnce() -> Result<Changes, SourceError>,
    planner: plan::Planner<'_>,
    opts: RunOptions,
    progress: Option<Progress>,
    now: NaiveDateTime,
) -> Result<RunReport, SyncError>
where
    P: IntoIterator<Item = Vec<crate::sources::SourceRecord>>,
    P::IntoIter: Send,
{
    /// Why the transaction was rolled back.
    enum Stop {
        Read(SourceError),
        Refused(String, Plan),
        Db(SyncError),
    }
    impl From<diesel::result::Error> for Stop {
        fn from(e: diesel::result::Error) -> Stop {
            Stop::Db(e.into())
        }
    }
    impl From<SyncError> for Stop {
        fn from(e: SyncError) -> Stop {
            Stop::Db(e)
        }
    }
    let mut report = RunReport::new(run_id, src, opts);
    report.plan_was_full = true;
    let mut method = "full";
    let mut tick = ticker(progress, 0);
    let actor = actor(src, run_id);
    let pages = pages.into_iter();
    let applied = crate::store::with_large_cache(conn, |conn| {
        write_tx(conn, |conn| -> Result<(), Stop> {
            let known = crate::accounts::known_roles(conn)?;
            let (batches, prepared) = std::sync::mpsc::sync_channel::<CreateBatch>(2);
            // Written batches go back to the preparing thread, which made them, to be freed
            // there: off the writer's path, and each allocation freed by its own thread.
            let (spent, written) = std::sync::mpsc::channel::<CreateBatch>();
            let (planner, done, mut failures) = std::thread::scope(|scope| {
                let preparer = scope.spawn(|| {
                    // Taken by value: a receiver may not be shared between threads.
                    let written = written;
                    let prepare = |changes: &mut [Change]| {
                        written.try_iter().for_each(drop);
                        let creates = changes.iter_mut().filter_map(take_create);
                        prepare_creates(accounts, &known, src, &actor, creates, now)
                    };
                    plan_ahead(planner, pages, batches, prepare)
                });
                let mut failures = Vec::new();
                let mut error = None;
                for mut batch in prepared.iter() {
                    let result =
                        write_batch(conn, accounts, src, &actor, &mut batch, &mut tick, now);
                    let _ = spent.send(batch);
                    crate::faults::pause_point("sync.applied_chunk");
                    match result {
                        Ok(f) => failures.extend(f),
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                // A preparer waiting to hand over a batch sees the writer gone and stops.
                drop(prepared);
                let (planner, done) = preparer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                match error {
                    Some(e) => Err(Stop::Db(e)),
                    None => Ok((planner, done, failures)),
                }
            })?;
            let changes = outcome().map_err(Stop::Read)?;
            method = changes.method;
            let plan = planner.finish(&changes.gone, true, &mut |ids| {
                sourced_by(conn, SourceFilter::Ids(&src.tag, ids))
            })?;
            if let Some(why) = guard::check(&plan, &src.guard, true) {
                if !opts.force {
                    return Err(Stop::Refused(why, plan));
                }
                tracing::warn!(source = %src.name, reason = %why, "guard overridden with --force");
            }
            failures.extend(apply(
                conn,
                accounts,
                src,
                run_id,
                &plan.changes[done..],
                &plan.stamps,
                &mut tick,
                now,
            )?);
            // Recorded in the transaction that creates the agents: a process stopped right
            // after the commit still leaves a true record of what it did.
            report.method = method;
            report.plan = plan;
            report.failures = failures;
            if !report.failures.is_empty() {
                report.status = RunStatus::Partial;
                report.error = Some(format!("{} changes failed", report.failures.len()));
            }
            finish(conn, &report)?;
            Ok(())
        })
    });
    crate::faults::pause_point("sync.committed");
    report.method = method;
    match applied {
        Ok(()) => Ok(report),
        Err(Stop::Read(e)) => failed(conn, report, &e),
        Err(Stop::Refused(why, plan)) => {
            report.plan = plan;
            refuse(conn, src, report, why, opts, now)
        }
        Err(Stop::Db(e)) => Err(e),
    }
}

/// The preparing side of a first run: plans each page and hands each `APPLY_CHUNK` or more
/// creates planned, as `prepare` makes them into a batch, to the writer. Returns the planner
/// and how many of its changes were handed over. Stops early when the writer has stopped.
fn plan_ahead<'p>(
    mut planner: plan::Planner<'p>,
    pages: impl Iterator<Item = Vec<crate::sources::SourceRecord>>,
    batches: std::sync::mpsc::SyncSender<CreateBatch>,
    prepare: impl Fn(&mut [Change]) -> CreateBatch,
) -> (plan::Planner<'p>, usize) {
    // `batches` is owned here, so the writer's loop ends when this does.
    let mut done = 0;
    for page in pages {
        planner.push_all(page);
        // Creates only (a first run plans nothing else before the end).
        let ready = planner.changes()[done..]
            .iter()
            .take_while(|c| matches!(c, Change::Create { .. }))
            .count();
        if ready >= APPLY_CHUNK {
            let upto = done + ready;
            let batch = prepare(planner.changes_mut(done..upto));
            done = upto;
            if batches.send(batch).is_err() {
                break; // the writer stopped: it says why
            }
        }
    }
    (planner, done)
}

/// Who the audit log names for the changes of a run.
fn actor(src: &SyncSource, run_id: i64) -> String {
    format!("sync:{}#{run_id}", src.name)
}

/// Creates checked and rendered, with the user names their failures are reported under.
struct CreateBatch {
    user_names: Vec<String>,
    prepared: crate::accounts::PreparedCreates,
}

/// Checks and renders creates, given with the user names their failures are reported under.
fn prepare_creates(
    accounts: &Accounts,
    known: &std::collections::HashSet<String>,
    src: &SyncSource,
    actor: &str,
    creates: impl Iterator<Item = (String, AgentInput)>,
    now: NaiveDateTime,
) -> CreateBatch {
    let (user_names, inputs): (Vec<String>, Vec<AgentInput>) = creates.unzip();
    CreateBatch {
        user_names,
        prepared: accounts.prepare_creates(known, actor, &src.tag, inputs, now),
    }
}

/// A create's user name and gateway input, taking its profile (a run that applies as it
/// reads lets go of what it wrote). `None` for other changes, or one already taken.
fn take_create(change: &mut Change) -> Option<(String, AgentInput)> {
    let Change::Create { profile, .. } = change else {
        return None;
    };
    let profile = profile.take()?;
    create_item(change, *profile)
}

/// A create's user name and gateway input, with a copy of its profile.
fn copy_create(change: &Change) -> Option<(String, AgentInput)> {
    match change {
        Change::Create {
            profile: Some(profile),
            ..
        } => create_item(change, (**profile).clone()),
        _ => None,
    }
}

fn create_item(change: &Change, profile: AgentProfile) -> Option<(String, AgentInput)> {
    let Change::Create {
        id,
        key,
        user_name,
        reason,
        digest,
        ..
    } = change
    else {
        return None;
    };
    let input = AgentInput {
        id: Some(id.clone()),
        profile,
        source_key: Some(key.clone()),
        reason: Some(reason.clone()),
        source_digest: Some(digest.clone()),
        ..AgentInput::default()
    };
    Some((user_name.clone(), input))
}

/// Writes a batch of creates; what could not be created comes back as failures.
fn write_batch(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    actor: &str,
    batch: &mut CreateBatch,
    tick: &mut dyn FnMut(usize),
    now: NaiveDateTime,
) -> Result<Failures, SyncError> {
    let CreateBatch {
        user_names,
        prepared,
    } = batch;
    let outcome = match accounts.write_creates(conn, actor, prepared, now) {
        Ok(o) => o,
        Err(AccountError::Db(e)) => return Err(e.into()),
        Err(e) => {
            // Not a database failure: report it against every create of the batch.
            user_names
                .iter()
                .map(|_| Some(AccountError::Invalid(e.to_string())))
                .collect()
        }
    };
    let mut failures = Vec::new();
    for (user, result) in user_names.iter().zip(outcome) {
        if let Some(e) = result {
            tracing::warn!(source = %src.name, user = %user, error = %e, "create not applied");
            failures.push((user.clone(), "create".to_owned(), e.to_string()));
        }
    }
    tick(user_names.len());
    Ok(failures)
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
            &report.plan.stamps,
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

/// Changes that could not be applied: (user name, action, error).
type Failures = Vec<(String, String, String)>;

/// Calls `progress` with the changes applied so far out of `total`.
fn ticker(progress: Option<Progress>, total: usize) -> impl FnMut(usize) {
    let mut done = 0;
    move |n: usize| {
        done += n;
        if let Some(p) = &progress {
            p(done, total.max(done));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    run_id: i64,
    changes: &[Change],
    stamps: &[plan::Stamp],
    tick: &mut dyn FnMut(usize),
    now: NaiveDateTime,
) -> Result<Failures, SyncError> {
    let actor = actor(src, run_id);
    let mut failures = Vec::new();
    // Creates first, many per statement (a directory's first run is all creates); the
    // others one by one. Creates depend on nothing else in the plan: ids, managers included,
    // were chosen while planning.
    let (creates, others): (Vec<&Change>, Vec<&Change>) = changes
        .iter()
        .partition(|c| matches!(c, Change::Create { .. }));
    // What has been applied so far, recorded with each chunk in its own transaction: a run
    // whose process stops part-way leaves a record of what it did.
    let mut applied = Tally::default();
    if !creates.is_empty() {
        let known = crate::accounts::known_roles(conn)?;
        for chunk in creates.chunks(APPLY_CHUNK) {
            let items = chunk.iter().filter_map(|c| copy_create(c));
            let mut batch = prepare_creates(accounts, &known, src, &actor, items, now);
            // Inside a first run's one transaction this joins it (no savepoint to pay for).
            crate::store::join_write_tx(conn, |conn| -> Result<(), SyncError> {
                let failed = write_batch(conn, accounts, src, &actor, &mut batch, tick, now)?;
                applied.created += batch.user_names.len() - failed.len();
                failures.extend(failed);
                applied.record(conn, run_id)
            })?;
            crate::faults::pause_point("sync.applied_chunk");
        }
    }
    for chunk in others.chunks(APPLY_CHUNK) {
        write_tx(conn, |conn| -> Result<(), SyncError> {
            for change in chunk {
                match apply_one(conn, accounts, src, &actor, change, now) {
                    Ok(()) => applied.add(change),
                    Err(AccountError::Db(e)) if !is_constraint(&e) => return Err(e.into()),
                    Err(e) => {
                        tracing::warn!(source = %src.name, user = change.user_name(), action = change.action(), error = %e, "change not applied");
                        failures.push((
                            change.user_name().to_owned(),
                            change.action().to_owned(),
                            e.to_string(),
                        ));
                    }
                }
            }
            applied.record(conn, run_id)
        })?;
        tick(chunk.len());
        crate::faults::pause_point("sync.applied_chunk");
    }
    // What the source confirmed for agents that needed no change.
    for chunk in stamps.chunks(APPLY_CHUNK) {
        let stamps: Vec<(&str, &str, i64)> = chunk
            .iter()
            .map(|s| (s.agent_id.as_str(), s.digest.as_str(), s.version))
            .collect();
        write_tx(conn, |conn| agent_store::stamp(conn, &stamps))?;
    }
    Ok(failures)
}

/// Changes applied so far in a run, by kind.
#[derive(Debug, Default)]
struct Tally {
    created: usize,
    updated: usize,
    disabled: usize,
    enabled: usize,
    deleted: usize,
    linked: usize,
}

impl Tally {
    fn add(&mut self, change: &Change) {
        match change {
            Change::Create { .. } => self.created += 1,
            Change::Update { .. } => self.updated += 1,
            Change::Disable { .. } => self.disabled += 1,
            Change::Enable { .. } => self.enabled += 1,
            Change::Delete { .. } => self.deleted += 1,
            Change::Link { .. } => self.linked += 1,
        }
    }

    /// Writes the counts into the run's record (still `running`).
    fn record(&self, conn: &mut DbConn, run_id: i64) -> Result<(), SyncError> {
        let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
        diesel::update(sync_runs::table.filter(sync_runs::id.eq(run_id)))
            .set((
                sync_runs::created.eq(n(self.created)),
                sync_runs::updated.eq(n(self.updated)),
                sync_runs::disabled.eq(n(self.disabled)),
                sync_runs::enabled.eq(n(self.enabled)),
                sync_runs::deleted.eq(n(self.deleted)),
                sync_runs::linked.eq(n(self.linked)),
            ))
            .execute(conn)?;
        Ok(())
    }
}

fn is_constraint(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(kind, _) if matches!(
        kind,
        diesel::result::DatabaseErrorKind::UniqueViolation
            | diesel::result::DatabaseErrorKind::ForeignKeyViolation
            | diesel::result::DatabaseErrorKind::CheckViolation
            | diesel::result::DatabaseErrorKind::NotNullViolation
    ))
}

fn apply_one(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    actor: &str,
    change: &Change,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    match change {
        Change::Create {
            id,
            key,
            profile: Some(profile),
            reason,
            ..
        } => {
            let input = AgentInput {
                id: Some(id.clone()),
                profile: (**profile).clone(),
                source_key: Some(key.clone()),
                reason: Some(reason.clone()),
                ..AgentInput::default()
            };
            accounts
                .create_agent(conn, actor, &src.tag, input, now)
                .map(|_| ())
        }
        // Applied already, while the source was read.
        Change::Create { profile: None, .. } => Ok(()),
        Change::Link {
            agent_id,
            key,
            reason,
            ..
        } => accounts.link_agent(conn, actor, agent_id, &src.tag, key, reason, now),
        Change::Update {
            agent_id,
            profile,
            reason,
            ..
        } => {
            // The plan holds only the fields the source manages; the rest stays as it is
            // inside the write transaction (an admin's or an IdP's change made since the plan
            // read the agent is kept).
            accounts
                .update_agent_with(conn, actor, agent_id, None, Some(reason), now, |current| {
                    Ok(AgentInput {
                        profile: plan::with_managed(current.profile.clone(), (**profile).clone()),
                        ..AgentInput::default()
                    })
                })
                .map(|_| ())
        }
        Change::Disable {
            agent_id, reason, ..
        } => accounts
            .set_active(conn, actor, agent_id, false, reason, now)
            .map(|_| ()),
        Change::Enable {
            agent_id, reason, ..
        } => accounts
            .set_active(conn, actor, agent_id, true, reason, now)
            .map(|_| ()),
        Change::Delete {
            agent_id, reason, ..
        } => accounts.delete_agent(conn, actor, agent_id, None, Some(reason), now),
    }
}

/// Where the next incremental run of `source` starts, as the last successful run left it.
/// `since` is that run's start (the caller takes the overlap off).
pub fn position(conn: &mut DbConn, source: &str) -> Result<Position, SyncError> {
    Ok(stored(conn, source)?.0)
}

/// The stored position of `source` and its last full run.
fn stored(conn: &mut DbConn, source: &str) -> Result<(Position, Option<NaiveDateTime>), SyncError> {
    use crate::store::schema::source_state as st;
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let row: Option<Row> = st::table
        .filter(st::source.eq(source))
        .select((
            st::cursor,
            st::sync_cookie,
            st::usn_invocation_id,
            st::usn_highest,
            st::groups_digest,
            st::last_full_at,
        ))
        .first(conn)
        .optional()?;
    let Some((since, cookie, invocation_id, highest, groups, last_full)) = row else {
        return Ok((Position::default(), None));
    };
    use base64::Engine as _;
    let position = Position {
        since: since.and_then(|t| NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").ok()),
        cookie: cookie.and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok()),
        usn: match (invocation_id, highest) {
            (Some(invocation_id), Some(highest)) => Some(Usn {
                invocation_id,
                highest,
            }),
            _ => None,
        },
        groups,
    };
    Ok((position, last_full))
}

/// Records where the next incremental run starts, after a run was applied: `at` is when
/// that run began reading; the parts of `next` the read did not produce (`None`) keep
/// their stored value.
pub fn save_position(
    conn: &mut DbConn,
    source: &str,
    at: Option<NaiveDateTime>,
    full: bool,
    next: &Position,
    now: NaiveDateTime,
) -> Result<(), SyncError> {
    use crate::store::schema::source_state as st;
    use base64::Engine as _;
    write_tx(conn, |conn| -> Result<(), SyncError> {
        let (old, last_full) = stored(conn, source)?;
        let since = at.or(old.since);
        let cookie = next.cookie.clone().or(old.cookie);
        let usn = next.usn.clone().or(old.usn);
        let groups = next.groups.clone().or(old.groups);
        diesel::delete(st::table.filter(st::source.eq(source))).execute(conn)?;
        diesel::insert_into(st::table)
            .values((
                st::source.eq(source),
                st::cursor.eq(since.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())),
                st::cursor_kind.eq(Some("modify_timestamp")),
                st::last_full_at.eq(if full { at.or(Some(now)) } else { last_full }),
                st::updated_at.eq(now),
                st::sync_cookie
                    .eq(cookie.map(|c| base64::engine::general_purpose::STANDARD.encode(c))),
                st::usn_invocation_id.eq(usn.as_ref().map(|u| u.invocation_id.clone())),
                st::usn_highest.eq(usn.as_ref().map(|u| u.highest)),
                st::groups_digest.eq(groups),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Forgets the content-sync cookie of `source` (the server no longer accepts it).
pub fn forget_cookie(conn: &mut DbConn, source: &str) -> Result<(), SyncError> {
    use crate::store::schema::source_state as st;
    diesel::update(st::table.filter(st::source.eq(source)))
        .set(st::sync_cookie.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// Marks a run that could not finish (database error, worker failure) as failed.
pub fn fail(
    conn: &mut DbConn,
    run_id: i64,
    error: &str,
    now: NaiveDateTime,
) -> Result<(), SyncError> {
    diesel::update(sync_runs::table.filter(sync_runs::id.eq(run_id)))
        .set((
            sync_runs::status.eq(RunStatus::Failed.as_str()),
            sync_runs::finished_at.eq(Some(now)),
            sync_runs::error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records how a run ended, at the time it ended.
fn finish(conn: &mut DbConn, report: &RunReport) -> Result<(), SyncError> {
    let now = crate::store::now();
    let p = &report.plan;
    let count = |action: &str| i32::try_from(p.count(action)).unwrap_or(i32::MAX);
    let keep_plan = report.dry_run || report.status == RunStatus::Refused;
    let plan_json = keep_plan.then(|| serde_json::to_string(p).unwrap_or_default());
    if !report.dry_run && report.note.is_some() {
        // An incremental run that had to read everyone is recorded as the full run it was.
        diesel::update(sync_runs::table.filter(sync_runs::id.eq(report.run_id)))
            .set(sync_runs::mode.eq("full"))
            .execute(conn)?;
    }
    diesel::update(sync_runs::table.filter(sync_runs::id.eq(report.run_id)))
        .set((
            sync_runs::status.eq(report.status.as_str()),
            sync_runs::finished_at.eq(Some(now)),
            sync_runs::records.eq(i32::try_from(p.records).unwrap_or(i32::MAX)),
            sync_runs::created.eq(count("create")),
            sync_runs::updated.eq(count("update")),
            sync_runs::disabled.eq(count("disable")),
            sync_runs::enabled.eq(count("enable")),
            sync_runs::deleted.eq(count("delete")),
            sync_runs::linked.eq(count("link")),
            sync_runs::error.eq(report.error.clone()),
            sync_runs::plan.eq(plan_json),
        ))
        .execute(conn)?;
    Ok(())
}
