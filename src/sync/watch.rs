//! `watch = true`: a source kept open (RFC 4533 refreshAndPersist) inside `rollcall serve`,
//! so that a leaver is disabled seconds after the directory says so. Each batch of changes
//! is one recorded run (trigger `watch`) through the same plan, guard and gateway as any
//! other; the cookie is saved only once its batch is applied. Group changes are gathered
//! into as few full runs as they allow (see `FullRunDue`), on a task of their own, so that
//! people's changes keep being applied meanwhile. While the directory is away the watch
//! checks every second, with a TCP connect, whether it is back, and opens again at once
//! when it is; failures of the expensive work (opening, applying) back off from 1 s to 60 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::accounts::Accounts;
use crate::config::{Config, SourceConfig};
use crate::sources::ldap::watch::{Event, WatchError, Watcher, reachable};
use crate::store::Pool;

use super::runner::{RunError, apply_changes, run_source};
use super::{RunOptions, RunStatus, SyncError};

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
/// While the directory is away: how often it is checked, and how long a check may take.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_LIMIT: Duration = Duration::from_secs(2);
/// How long a batch waits for another run of the source to end before trying again.
const BUSY_PAUSE: Duration = Duration::from_millis(500);
/// A full run for group changes starts once they have been quiet this long …
const GROUPS_QUIET: Duration = Duration::from_secs(2);
/// … or this long after the first of them, whichever comes first, …
const GROUPS_MAX_WAIT: Duration = Duration::from_secs(30);
/// … but never sooner than this after the previous one started: a burst of group changes
/// shorter than this costs at most two full runs.
const FULL_SPACING: Duration = Duration::from_secs(15);
/// A full run that found another run of the source in progress is tried again after this …
const FULL_BUSY_RETRY: Duration = Duration::from_secs(2);
/// … and one that failed, after this.
const FULL_RETRY: Duration = Duration::from_secs(60);

/// Watches `cfg` for as long as the task lives. `is_leader` decides, before each connection,
/// whether this node is the one that runs the source.
pub async fn run<L, F>(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
    cfg: SourceConfig,
    mut is_leader: L,
) where
    L: FnMut() -> F,
    F: std::future::Future<Output = bool>,
{
    let Some(settings) = cfg.ldap.clone() else {
        tracing::error!(source = %cfg.name, "watch: no [sources.ldap] settings");
        return;
    };
    let full_runs = spawn_full_runs(pool.clone(), accounts.clone(), config.clone(), cfg.clone());
    let mut pause = FIRST_PAUSE;
    let mut blind = Blind::default();
    let mut opened_before = false;
    loop {
        if !is_leader().await {
            tokio::time::sleep(Duration::from_secs(15)).await;
            continue;
        }
        if blind.is_blind() && !reachable(&settings, PROBE_LIMIT).await {
            tokio::time::sleep(PROBE_EVERY).await;
            continue;
        }
        let stored = match stored_position(&pool, &cfg.name).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(source = %cfg.name, error = %e, "watch: cannot read the stored position");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
                continue;
            }
        };
        let resumed = stored.cookie.is_some();
        let mut watcher = match Watcher::open(&settings, stored.cookie).await {
            Ok(w) => w,
            Err(e) => {
                let answers = reachable(&settings, PROBE_LIMIT).await;
                if blind.lost(Instant::now(), e.to_string(), answers) {
                    tracing::warn!(source = %cfg.name, error = %e, "watch: cannot open; blind until the directory answers");
                } else {
                    tracing::debug!(source = %cfg.name, error = %e, "watch: cannot open");
                }
                // The directory answers but the watch cannot open: that is retried with
                // growing pauses. A directory that does not answer is checked every second.
                if answers {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                } else {
                    tokio::time::sleep(PROBE_EVERY).await;
                }
                continue;
            }
        };
        match blind.back(Instant::now()) {
            Some(was) => {
                tracing::info!(source = %cfg.name, blind_s = format!("{:.1}", was.as_secs_f64()), resumed, "watch: the directory is back; watching again");
            }
            None if !opened_before => {
                tracing::info!(source = %cfg.name, url = %settings.url, resumed, "watch: watching the directory");
            }
            None => {}
        }
        opened_before = true;
        // The group search starts afresh: changes made while no watch was open show only
        // in the fingerprint (a refresh without cookie reads everyone anyway).
        if resumed && stored.groups.is_some_and(|g| g != watcher.groups_digest()) {
            tracing::info!(source = %cfg.name, "watch: the groups changed while the watch was away; a full run is due");
            let _ = full_runs.send(Instant::now());
        }
        let mut applied = false;
        loop {
            match watcher.next().await {
                Ok(Event::Changes(changes)) => {
                    if (changes.full || !is_empty(&changes))
                        && !apply(&pool, &accounts, &config, &cfg, *changes).await
                    {
                        // Not applied (refused, failed): start again from the stored
                        // cookie after a pause, so the batch is not skipped.
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LONGEST_PAUSE);
                        break;
                    }
                    pause = FIRST_PAUSE;
                    applied = true;
                }
                Ok(Event::GroupsChanged) => {
                    tracing::debug!(source = %cfg.name, "watch: group memberships changed");
                    // The receiver ends only with this task.
                    let _ = full_runs.send(Instant::now());
                }
                Err(WatchError::RefreshRequired) => {
                    tracing::info!(source = %cfg.name, "watch: the directory asked for a full refresh");
                    if let Err(e) = forget_cookie(&pool, &cfg.name).await {
                        tracing::warn!(source = %cfg.name, error = %e, "watch: cannot forget the cookie");
                    }
                    break;
                }
                Err(WatchError::Source(e)) => {
                    if blind.lost(Instant::now(), e.to_string(), false) {
                        tracing::warn!(source = %cfg.name, error = %e, "watch interrupted; blind until the directory answers");
                    }
                    // A watch that ends before it applied anything is not opened again at
                    // once (a server that accepts the watch and then drops it).
                    if !applied {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LONGEST_PAUSE);
                    }
                    break;
                }
            }
        }
    }
}

/// A spell of blindness: from the first failure of the watch until it is open again.
#[derive(Debug, Default)]
struct Blind {
    since: Option<Instant>,
    /// The last error worth a warning in this spell.
    warned: Option<String>,
}

impl Blind {
    fn is_blind(&self) -> bool {
        self.since.is_some()
    }

    /// Records a failure; true when it deserves a warning: the first of a spell, or, from a
    /// directory that answers (a bind refused, a search failing), an error not yet warned of.
    /// A directory that stays away is worth one warning however long it stays away.
    fn lost(&mut self, now: Instant, error: String, answers: bool) -> bool {
        let first = self.since.is_none();
        self.since.get_or_insert(now);
        if first || (answers && self.warned.as_deref() != Some(error.as_str())) {
            self.warned = Some(error);
            return true;
        }
        false
    }

    /// The watch is open again: how long it was blind, if it was.
    fn back(&mut self, now: Instant) -> Option<Duration> {
        self.warned = None;
        self.since.take().map(|since| now.duration_since(since))
    }
}

/// When the full run that group changes call for is due. Changes are gathered until they
/// have been quiet for `GROUPS_QUIET`, or for at most `GROUPS_MAX_WAIT` after the first;
/// full runs start at least `FULL_SPACING` apart, and changes that arrive while one runs
/// are folded into the next.
#[derive(Debug, Default)]
struct FullRunDue {
    /// The first and last change not yet covered by a run, and how many there were.
    first: Option<Instant>,
    last: Option<Instant>,
    changes: usize,
    /// When the last run started, and the one before it.
    last_start: Option<Instant>,
    previous_start: Option<Instant>,
    not_before: Option<Instant>,
}

impl FullRunDue {
    fn changed(&mut self, at: Instant) {
        self.first.get_or_insert(at);
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        self.changes += 1;
    }

    /// When the next full run should start; `None`: none is due.
    fn at(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        let mut at = (last + GROUPS_QUIET).min(first + GROUPS_MAX_WAIT);
        if let Some(start) = self.last_start {
            at = at.max(start + FULL_SPACING);
        }
        if let Some(not_before) = self.not_before {
            at = at.max(not_before);
        }
        Some(at)
    }

    /// A run starts now and covers every change so far; returns how many.
    fn start(&mut self, now: Instant) -> usize {
        self.first = None;
        self.last = None;
        self.not_before = None;
        self.previous_start = self.last_start.replace(now);
        std::mem::take(&mut self.changes)
    }

    /// The run that started at `now` did not cover its `changes`: try again after `pause`.
    /// `started` says whether it ran at all (and so counts for the spacing).
    fn again(&mut self, now: Instant, changes: usize, pause: Duration, started: bool) {
        if !started {
            self.last_start = self.previous_start;
        }
        self.first = Some(self.first.map_or(now, |f| f.min(now)));
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        self.changes += changes;
        self.not_before = Some(now + pause);
    }
}

/// Starts the task that runs the full runs group changes call for; send it the time of each
/// change. It ends when the sender is dropped (after the run in progress, if any).
fn spawn_full_runs(
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
    cfg: SourceConfig,
) -> mpsc::UnboundedSender<Instant> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    tokio::spawn(async move {
        let mut due = FullRunDue::default();
        loop {
            let at = due.at();
            tokio::select! {
                // Every change already sent is counted before a run starts.
                biased;
                change = rx.recv() => match change {
                    Some(at) => due.changed(at),
                    None => return,
                },
                () = sleep_until(at), if at.is_some() => {
                    let now = Instant::now();
                    let changes = due.start(now);
                    tracing::info!(source = %cfg.name, changes, "watch: group memberships changed; full run");
                    let opts = RunOptions::unattended(false, "watch");
                    let ran = run_source(pool.clone(), accounts.clone(), config.clone(), cfg.clone(), opts, None).await;
                    match ran {
                        Err(RunError::Sync(SyncError::Busy(..))) => {
                            due.again(now, changes, FULL_BUSY_RETRY, false);
                        }
                        Err(e) => {
                            tracing::warn!(source = %cfg.name, error = %e, retry_in_s = FULL_RETRY.as_secs(), "watch: full run did not start");
                            due.again(now, changes, FULL_RETRY, true);
                        }
                        Ok(report) if report.status == RunStatus::Failed => {
                            tracing::warn!(source = %cfg.name, run = report.run_id, reason = report.error.as_deref().unwrap_or(""), retry_in_s = FULL_RETRY.as_secs(), "watch: full run failed");
                            due.again(now, changes, FULL_RETRY, true);
                        }
                        // A refused run is recorded with its plan; the next one will be
                        // refused too until someone looks, so it is not retried here.
                        Ok(_) => {}
                    }
                }
            }
        }
    });
    tx
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn is_empty(changes: &crate::sources::Changes) -> bool {
    changes.snapshot.records.is_empty()
        && changes.gone.is_empty()
        && changes.present.is_none()
        && changes.snapshot.position.cookie.is_none()
}

/// Applies one batch, waiting while another run of the source is in progress; true when
/// it was applied. A batch the guard refuses is recorded as refused and its cookie is not
/// saved.
async fn apply(
    pool: &Pool,
    accounts: &Arc<Accounts>,
    config: &Config,
    cfg: &SourceConfig,
    changes: crate::sources::Changes,
) -> bool {
    loop {
        match apply_changes(pool.clone(), accounts.clone(), config, cfg, changes.clone()).await {
            Err(RunError::Sync(SyncError::Busy(..))) => tokio::time::sleep(BUSY_PAUSE).await,
            Err(e) => {
                tracing::warn!(source = %cfg.name, error = %e, "watch: batch not applied");
                return false;
            }
            Ok(report) => match report.status {
                RunStatus::Ok | RunStatus::Partial => return true,
                RunStatus::Refused | RunStatus::Failed => {
                    tracing::warn!(source = %cfg.name, run = report.run_id, status = report.status.as_str(), reason = report.error.as_deref().unwrap_or(""), "watch: batch not applied");
                    return false;
                }
            },
        }
    }
}

async fn stored_position(pool: &Pool, source: &str) -> Result<crate::sources::Position, RunError> {
    let (pool, source) = (pool.clone(), source.to_owned());
    tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let mut conn = pool.get()?;
        Ok(super::position(&mut conn, &source)?)
    })
    .await?
}

async fn forget_cookie(pool: &Pool, source: &str) -> Result<(), RunError> {
    let (pool, source) = (pool.clone(), source.to_owned());
    tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let mut conn = pool.get()?;
        Ok(super::forget_cookie(&mut conn, &source)?)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_of_group_changes_waits_for_quiet() {
        let t0 = Instant::now();
        let mut due = FullRunDue::default();
        assert_eq!(due.at(), None);
        for i in 0..100 {
            due.changed(t0 + i * S / 10);
        }
        // The last change came at 9.9 s: the run is due 2 s later.
        assert_eq!(due.at(), Some(t0 + 99 * S / 10 + GROUPS_QUIET));
        assert_eq!(due.start(t0 + 12 * S), 100);
        assert_eq!(due.at(), None);
    }

    #[test]
    fn a_steady_trickle_does_not_postpone_the_run_forever() {
        let t0 = Instant::now();
        let mut due = FullRunDue::default();
        for i in 0..100 {
            due.changed(t0 + i * S);
        }
        assert_eq!(due.at(), Some(t0 + GROUPS_MAX_WAIT));
    }

    #[test]
    fn full_runs_start_at_least_the_spacing_apart_and_fold_what_came_meanwhile() {
        let t0 = Instant::now();
        let mut due = FullRunDue::default();
        due.changed(t0);
        let first = due.at().expect("due");
        assert_eq!(first, t0 + GROUPS_QUIET);
        due.start(first);
        // Changes during and after the run: one follow-up, not before the spacing.
        for i in 1..=5 {
            due.changed(first + i * S);
        }
        assert_eq!(due.at(), Some(first + FULL_SPACING));
        assert_eq!(due.start(first + FULL_SPACING), 5);
        assert_eq!(due.at(), None);
    }

    #[test]
    fn a_burst_within_the_spacing_costs_at_most_two_runs() {
        // Changes at irregular times over 10 s; simulate the task: a run starts whenever
        // one is due.
        let t0 = Instant::now();
        let times: Vec<Instant> = [0, 100, 2500, 2600, 5200, 7900, 8000, 9999]
            .iter()
            .map(|ms| t0 + Duration::from_millis(*ms))
            .collect();
        let mut due = FullRunDue::default();
        let mut runs = 0;
        let mut next = times.iter().peekable();
        let mut now = t0;
        loop {
            let change = next.peek().copied().copied();
            match (change, due.at()) {
                (Some(c), Some(at)) if at < c => {
                    now = at;
                    due.start(now);
                    runs += 1;
                }
                (Some(c), _) => {
                    now = c;
                    due.changed(c);
                    next.next();
                }
                (None, Some(at)) => {
                    now = at.max(now);
                    due.start(now);
                    runs += 1;
                }
                (None, None) => break,
            }
        }
        assert_eq!(runs, 2);
    }

    #[test]
    fn a_busy_source_is_tried_again_soon_and_does_not_count_for_the_spacing() {
        let t0 = Instant::now();
        let mut due = FullRunDue::default();
        due.changed(t0);
        let start = t0 + GROUPS_QUIET;
        let n = due.start(start);
        due.again(start, n, FULL_BUSY_RETRY, false);
        assert_eq!(due.at(), Some(start + FULL_BUSY_RETRY));
        assert_eq!(due.last_start, None);
        assert_eq!(due.start(start + FULL_BUSY_RETRY), 1);
        // A failed run is retried after its pause, and counted.
        due.again(start + FULL_BUSY_RETRY, 1, FULL_RETRY, true);
        assert_eq!(due.at(), Some(start + FULL_BUSY_RETRY + FULL_RETRY));
    }

    #[test]
    fn one_warning_per_spell_of_blindness() {
        let t0 = Instant::now();
        let mut blind = Blind::default();
        assert!(!blind.is_blind());
        assert!(blind.lost(t0, "connection reset".into(), false));
        for i in 1..100 {
            assert!(!blind.lost(t0 + i * S, "cannot connect: refused".into(), false));
        }
        // The directory answers but refuses the bind: worth telling, once.
        assert!(blind.lost(t0 + 100 * S, "bind refused".into(), true));
        assert!(!blind.lost(t0 + 101 * S, "bind refused".into(), true));
        assert_eq!(blind.back(t0 + 102 * S), Some(102 * S));
        assert!(!blind.is_blind());
        assert_eq!(blind.back(t0 + 103 * S), None);
        // A new spell warns again.
        assert!(blind.lost(t0 + 200 * S, "connection reset".into(), false));
    }
}
