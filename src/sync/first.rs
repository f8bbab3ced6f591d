//! A source's first run: created while it is read, in one transaction that commits only
//! when the read ended well and the guard passed.

use super::apply::{CreateBatch, actor, prepare_creates, take_create, write_batch};
use super::*;

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
        Refused(String, Box<Plan>),
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
            let mut changes = outcome().map_err(Stop::Read)?;
            method = changes.method;
            report.read(&mut changes.snapshot);
            if !opts.force
                && let Some(why) = shrunk(conn, src, &changes)?
            {
                return Err(Stop::Refused(why, Box::default()));
            }
            let mut planner = planner;
            planner.hold(&changes.snapshot.held);
            report.plan_was_full = changes.full;
            let plan = planner.finish(&changes.gone, changes.full, &mut |ids| {
                sourced_by(conn, SourceFilter::Ids(&src.tag, ids))
            })?;
            if let Some(why) = guard::check(&plan, &src.guard, changes.full) {
                if !opts.force {
                    return Err(Stop::Refused(why, Box::new(plan)));
                }
                tracing::warn!(source = %src.name, reason = %why, "guard overridden with --force");
            }
            failures.extend(apply(
                conn,
                accounts,
                src,
                run_id,
                &plan.changes[done..],
                (&plan.stamps, &plan.schedules),
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
        Err(Stop::Read(e)) => read_failed(conn, src, report, e, opts, now),
        Err(Stop::Refused(why, plan)) => {
            report.plan = *plan;
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
