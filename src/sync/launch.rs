//! Runs asked for while the daemon serves (`POST /api/v1/sources/{name}/runs`): opened at
//! once — recorded, with the source's run lock taken, so the caller gets the run's id or
//! learns that another run is in progress — then carried on in the background on the
//! server's own runtime, not on the HTTP worker that asked.

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::config::Config;
use crate::store::Pool;

use super::RunOptions;
use super::runner::{RunError, open_run, run_opened};

/// Starts runs of configured sources in the background.
#[derive(Clone)]
pub struct Launcher {
    runtime: tokio::runtime::Handle,
    pool: Pool,
    accounts: Arc<Accounts>,
    config: Arc<Config>,
}

impl Launcher {
    /// Runs started later go on `runtime` (the server's main one).
    pub fn new(
        runtime: tokio::runtime::Handle,
        pool: Pool,
        accounts: Arc<Accounts>,
        config: Arc<Config>,
    ) -> Launcher {
        Launcher {
            runtime,
            pool,
            accounts,
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens a run of the source named `source` and carries it on in the background; its
    /// id. `Ok(None)`: no such source. Fails with `SyncError::Busy` when a run of the
    /// source is in progress.
    pub async fn start(&self, source: &str, opts: RunOptions) -> Result<Option<i64>, RunError> {
        let Some(cfg) = self
            .config
            .sources
            .iter()
            .find(|s| s.name == source)
            .cloned()
        else {
            return Ok(None);
        };
        let opened = open_run(&self.pool, &self.config, &cfg.name, opts).await?;
        let run_id = opened.run_id;
        let (pool, accounts, config) = (
            self.pool.clone(),
            self.accounts.clone(),
            self.config.clone(),
        );
        self.runtime.spawn(async move {
            // The run records its own outcome (and a failure) in `sync_runs`.
            if let Err(e) = run_opened(pool, accounts, config, cfg, opts, None, opened).await {
                tracing::warn!(run = run_id, error = %e, "a requested run failed");
            }
        });
        Ok(Some(run_id))
    }
}
