-- Directory and HR sync: one row per run, and each source's incremental position.
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    mode TEXT NOT NULL,            -- full | incremental | dry_run
    status TEXT NOT NULL,          -- running | ok | failed | refused
    forced BOOLEAN NOT NULL DEFAULT 0,
    trigger TEXT NOT NULL,         -- schedule | cli | watch
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    records INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    linked INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    plan TEXT                      -- the plan as JSON, kept for dry and refused runs
);
CREATE INDEX sync_runs_source ON sync_runs (source, id);

CREATE TABLE source_state (
    source TEXT PRIMARY KEY NOT NULL,
    cursor TEXT,
    cursor_kind TEXT,
    last_full_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

