//! Applying a plan through the gateway: creates many per statement, other changes one by
//! one, 500 per transaction, each transaction recording what the run has applied so far.

use super::*;

/// Who the audit log names for the changes of a run.
pub(super) fn actor(src: &SyncSource, run_id: i64) -> String {
    format!("sync:{}#{run_id}", src.name)
}

/// Creates checked and rendered, with the user names their failures are reported under and
/// the schedules written with them (HR sources).
pub(super) struct CreateBatch {
    pub(super) user_names: Vec<String>,
    schedules: Vec<Option<(String, Box<crate::domain::Schedule>)>>,
    prepared: crate::accounts::PreparedCreates,
}

/// A create as the apply takes it: the user name its failure is reported under, the
/// gateway's input, the schedule to write with it.
pub(super) type CreateItem = (String, AgentInput, Option<Box<crate::domain::Schedule>>);

/// Checks and renders creates.
pub(super) fn prepare_creates(
    accounts: &Accounts,
    known: &std::collections::HashSet<String>,
    src: &SyncSource,
    actor: &str,
    creates: impl Iterator<Item = CreateItem>,
    now: NaiveDateTime,
) -> CreateBatch {
    let mut user_names = Vec::new();
    let mut inputs = Vec::new();
    let mut schedules = Vec::new();
    for (user, input, schedule) in creates {
        let id = input.id.clone().unwrap_or_default();
        user_names.push(user);
        schedules.push(schedule.map(|s| (id, s)));
        inputs.push(input);
    }
    CreateBatch {
        user_names,
        schedules,
        prepared: accounts.prepare_creates(known, actor, &src.tag, inputs, now),
    }
}

/// A create's user name, gateway input and schedule, taking its profile (a run that applies
/// as it reads lets go of what it wrote). `None` for other changes, or one already taken.
pub(super) fn take_create(change: &mut Change) -> Option<CreateItem> {
    let Change::Create {
        profile, schedule, ..
    } = change
    else {
        return None;
    };
    let profile = profile.take()?;
    let schedule = schedule.take();
    create_item(change, *profile, schedule)
}

/// A create's user name, gateway input and schedule, with copies of its profile and
/// schedule.
fn copy_create(change: &Change) -> Option<CreateItem> {
    match change {
        Change::Create {
            profile: Some(profile),
            schedule,
            ..
        } => create_item(change, (**profile).clone(), schedule.clone()),
        _ => None,
    }
}

fn create_item(
    change: &Change,
    profile: AgentProfile,
    schedule: Option<Box<crate::domain::Schedule>>,
) -> Option<CreateItem> {
    let Change::Create {
        id,
        key,
        user_name,
        reason,
        digest,
        pending,
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
        pending: *pending,
        ..AgentInput::default()
    };
    Some((user_name.clone(), input, schedule))
}

/// Writes a batch of creates; what could not be created comes back as failures.
pub(super) fn write_batch(
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
        schedules,
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
    let mut dated: Vec<(&str, &crate::domain::Schedule)> = Vec::new();
    for ((user, result), schedule) in user_names.iter().zip(outcome).zip(schedules.iter()) {
        match result {
            Some(e) => {
                tracing::warn!(source = %src.name, user = %user, error = %e, "create not applied");
                failures.push((user.clone(), "create".to_owned(), e.to_string()));
            }
            None => {
                if let Some((id, s)) = schedule {
                    dated.push((id.as_str(), &**s));
                }
            }
        }
    }
    // The new agents' start and leaving moments, in the creates' transaction.
    if !dated.is_empty() {
        accounts.insert_schedules(conn, &src.tag, &dated, now)?;
    }
    tick(user_names.len());
    Ok(failures)
}

/// Changes that could not be applied: (user name, action, error).
pub(super) type Failures = Vec<(String, String, String)>;

/// Calls `progress` with the changes applied so far out of `total`.
pub(super) fn ticker(progress: Option<Progress>, total: usize) -> impl FnMut(usize) {
    let mut done = 0;
    move |n: usize| {
        done += n;
        if let Some(p) = &progress {
            p(done, total.max(done));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    run_id: i64,
    changes: &[Change],
    (stamps, schedules): (&[plan::Stamp], &[plan::ScheduleSet]),
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
    // A rehire's old agent lets go of its user name before the new agent takes it.
    let (releases, others): (Vec<&Change>, Vec<&Change>) = others
        .into_iter()
        .partition(|c| matches!(c, Change::Release { .. }));
    // What has been applied so far, recorded with each chunk in its own transaction: a run
    // whose process stops part-way leaves a record of what it did.
    let mut applied = Tally::default();
    let one_by_one = |conn: &mut DbConn,
                      applied: &mut Tally,
                      failures: &mut Failures,
                      tick: &mut dyn FnMut(usize),
                      changes: &[&Change]|
     -> Result<(), SyncError> {
        for chunk in changes.chunks(APPLY_CHUNK) {
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
        Ok(())
    };
    one_by_one(conn, &mut applied, &mut failures, tick, &releases)?;
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
    one_by_one(conn, &mut applied, &mut failures, tick, &others)?;
    // What the source confirmed for agents that needed no change.
    for chunk in stamps.chunks(APPLY_CHUNK) {
        let stamps: Vec<(&str, &str, i64)> = chunk
            .iter()
            .map(|s| (s.agent_id.as_str(), s.digest.as_str(), s.version))
            .collect();
        write_tx(conn, |conn| agent_store::stamp(conn, &src.tag, &stamps))?;
    }
    failures.extend(apply_schedules(
        conn, accounts, src, &actor, schedules, now,
    )?);
    Ok(failures)
}

/// Records the start and leaving moments the plan states for existing agents, one by one
/// with their `agent.schedule` entry (new agents' are written with their creates).
fn apply_schedules(
    conn: &mut DbConn,
    accounts: &Accounts,
    src: &SyncSource,
    actor: &str,
    changed: &[plan::ScheduleSet],
    now: NaiveDateTime,
) -> Result<Failures, SyncError> {
    let mut failures = Vec::new();
    for chunk in changed.chunks(APPLY_CHUNK) {
        write_tx(conn, |conn| -> Result<(), SyncError> {
            for s in chunk {
                let reason = format!("{}: dates in the export changed", src.tag);
                match accounts.set_schedule(
                    conn,
                    actor,
                    &s.agent_id,
                    &src.tag,
                    &s.schedule,
                    &reason,
                    now,
                ) {
                    Ok(()) => {}
                    Err(AccountError::Db(e)) if !is_constraint(&e) => return Err(e.into()),
                    Err(e) => {
                        failures.push((s.user_name.clone(), "schedule".to_owned(), e.to_string()))
                    }
                }
            }
            Ok(())
        })?;
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
            Change::Enable { .. } | Change::Activate { .. } => self.enabled += 1,
            Change::Delete { .. } => self.deleted += 1,
            Change::Link { .. } => self.linked += 1,
            // Counted as the create that follows it.
            Change::Release { .. } => {}
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
        // Creates are written in batches (`write_batch`), never one by one.
        Change::Create { .. } => Ok(()),
        Change::Link {
            agent_id,
            key,
            by,
            reason,
            ..
        } => accounts.link_agent(
            conn,
            actor,
            agent_id,
            &src.tag,
            key,
            by.as_str(),
            reason,
            now,
        ),
        Change::Update {
            agent_id,
            fields,
            profile,
            reason,
            digest,
            ..
        } => {
            // Only the fields the plan found changed and the source may write; the rest
            // stays as it is inside the write transaction (an admin's or an IdP's change
            // made since the plan read the agent is kept).
            let agent = accounts.update_agent_with(
                conn,
                actor,
                agent_id,
                None,
                Some(reason),
                now,
                |current| {
                    Ok(AgentInput {
                        profile: plan::with_fields(
                            current.profile.clone(),
                            (**profile).clone(),
                            fields,
                        ),
                        ..AgentInput::default()
                    })
                },
            )?;
            // What the source wrote, at the version it made: the next run need not compare.
            agent_store::stamp(conn, &src.tag, &[(agent_id, digest, agent.version)])?;
            Ok(())
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
        Change::Activate {
            agent_id, reason, ..
        } => accounts
            .approve(conn, actor, agent_id, Some(reason), now)
            .map(|_| ()),
        Change::Delete {
            agent_id, reason, ..
        } => accounts.delete_agent(conn, actor, agent_id, None, Some(reason), now),
        Change::Release {
            agent_id, reason, ..
        } => accounts.release_agent(conn, actor, agent_id, reason, now),
    }
}
