//! `watch = true`: a source kept open (RFC 4533 refreshAndPersist) inside `rollcall serve`,
//! so that a leaver is disabled seconds after the directory says so. Each batch of changes
//! is one recorded run (trigger `watch`) through the same plan, guard and gateway as any
//! other; the cookie is saved only once its batch is applied. A group change starts a full
//! run. A lost connection is opened again with growing pauses (1 s doubling to 60 s).

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::config::{Config, SourceConfig};
use crate::sources::ldap::watch::{Event, WatchError, Watcher};
use crate::store::Pool;

use super::runner::{RunError, apply_changes, run_source};
use super::{RunOptions, RunStatus, SyncError};

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
/// How long a batch waits for another run of the source to end before trying again.
const BUSY_PAUSE: Duration = Duration::from_millis(500);

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
    let mut pause = FIRST_PAUSE;
    loop {
        if !is_leader().await {
            tokio::time::sleep(Duration::from_secs(15)).await;
            continue;
        }
        let cookie = match stored_cookie(&pool, &cfg.name).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = %cfg.name, error = %e, "watch: cannot read the stored position");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
                continue;
            }
        };
        let mut watcher = match Watcher::open(&settings, cookie).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(source = %cfg.name, error = %e, retry_in_s = pause.as_secs(), "watch: cannot open");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
                continue;
            }
        };
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
                }
                Ok(Event::GroupsChanged) => {
                    tracing::info!(source = %cfg.name, "watch: group memberships changed; full run");
                    let opts = RunOptions::unattended(false, "watch");
                    let ran = run_source(
                        pool.clone(),
                        accounts.clone(),
                        config.clone(),
                        cfg.clone(),
                        opts,
                        None,
                    )
                    .await;
                    if let Err(e) = ran {
                        tracing::warn!(source = %cfg.name, error = %e, "watch: full run did not start");
                    }
                }
                Err(WatchError::RefreshRequired) => {
                    tracing::info!(source = %cfg.name, "watch: the directory asked for a full refresh");
                    if let Err(e) = forget_cookie(&pool, &cfg.name).await {
                        tracing::warn!(source = %cfg.name, error = %e, "watch: cannot forget the cookie");
                    }
                    break;
                }
                Err(WatchError::Source(e)) => {
                    tracing::warn!(source = %cfg.name, error = %e, retry_in_s = pause.as_secs(), "watch interrupted");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                    break;
                }
            }
        }
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

async fn stored_cookie(pool: &Pool, source: &str) -> Result<Option<Vec<u8>>, RunError> {
    let (pool, source) = (pool.clone(), source.to_owned());
    tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let mut conn = pool.get()?;
        Ok(super::position(&mut conn, &source)?.cookie)
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
