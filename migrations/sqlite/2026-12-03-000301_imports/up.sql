-- One row per bulk import of agents (`rollcall import`, `POST /api/v1/imports`): who, which
-- file, how far it got, its counts and its report (JSON), and the report as CSV (the
-- original rows with an `error` column) when any row was refused.
CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    actor TEXT NOT NULL,
    file_name TEXT NOT NULL,
    -- validating | applying | done | failed
    status TEXT NOT NULL,
    -- all_or_nothing | valid_only
    mode TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    row_count INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    report TEXT,
    report_csv TEXT,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX imports_created_at ON imports (created_at);
