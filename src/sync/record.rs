//! A run's record in `sync_runs`: opened (marking runs whose process died as interrupted),
//! who holds a source, and how the run ended.

use super::*;

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
pub(super) fn finish(conn: &mut DbConn, report: &RunReport) -> Result<(), SyncError> {
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
            sync_runs::source_rows.eq(report.rows.map(|r| i32::try_from(r).unwrap_or(i32::MAX))),
            sync_runs::bad_rows.eq((!report.bad_rows.is_empty())
                .then(|| serde_json::to_string(&report.bad_rows).unwrap_or_default())),
            sync_runs::snapshot_digest.eq(report.snapshot_digest.clone()),
            sync_runs::disputes.eq((!p.disputes.is_empty())
                .then(|| serde_json::to_string(&p.disputes).unwrap_or_default())),
        ))
        .execute(conn)?;
    Ok(())
}
