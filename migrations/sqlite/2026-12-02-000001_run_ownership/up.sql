-- Who runs a source (host/boot id/pid), and at most one applying run per source at a time.
ALTER TABLE sync_runs ADD COLUMN owner TEXT;
-- Runs left `running` by processes that stopped: only the newest of each source could still
-- be going; the next run finds out about that one (it holds the source's run lock).
UPDATE sync_runs
   SET status = 'failed',
       error = 'interrupted: the process running it stopped before it finished'
 WHERE status = 'running'
   AND mode <> 'dry_run'
   AND id NOT IN (SELECT max(id) FROM sync_runs
                   WHERE status = 'running' AND mode <> 'dry_run'
                   GROUP BY source);
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (source)
    WHERE status = 'running' AND mode <> 'dry_run';
