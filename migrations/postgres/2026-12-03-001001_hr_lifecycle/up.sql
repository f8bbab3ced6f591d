-- When an agent starts and leaves, as an HR source dates them (one row per agent, written by
-- that source's runs through the gateway): the lifecycle timers activate a pre-hire at
-- `starts_at` and disable a leaver at `leaves_at`, each once (`*_done_at`), across restarts.
CREATE TABLE agent_schedule (
    agent_id TEXT PRIMARY KEY NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    starts_at TIMESTAMP,
    start_note TEXT,
    start_done_at TIMESTAMP,
    leaves_at TIMESTAMP,
    leave_note TEXT,
    leave_done_at TIMESTAMP,
    terminated_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX agent_schedule_starts ON agent_schedule (starts_at)
    WHERE start_done_at IS NULL AND starts_at IS NOT NULL;
CREATE INDEX agent_schedule_leaves ON agent_schedule (leaves_at)
    WHERE leave_done_at IS NULL AND leaves_at IS NOT NULL;
CREATE INDEX agent_schedule_source ON agent_schedule (source, agent_id);

-- An export already processed: its HTTP validators and content digest, and when the plan
-- of that same content changes with time alone (a pre-hire window opening).
ALTER TABLE source_state ADD COLUMN export_etag TEXT;
ALTER TABLE source_state ADD COLUMN export_last_modified TEXT;
ALTER TABLE source_state ADD COLUMN export_digest TEXT;
ALTER TABLE source_state ADD COLUMN replan_at TIMESTAMP;

-- What a run read: rows, bad rows (JSON, by line or record number) and the snapshot's digest.
ALTER TABLE sync_runs ADD COLUMN source_rows INTEGER;
ALTER TABLE sync_runs ADD COLUMN bad_rows TEXT;
ALTER TABLE sync_runs ADD COLUMN snapshot_digest TEXT;
