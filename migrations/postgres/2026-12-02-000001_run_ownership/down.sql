DROP INDEX sync_runs_one_running;
ALTER TABLE sync_runs DROP COLUMN owner;
