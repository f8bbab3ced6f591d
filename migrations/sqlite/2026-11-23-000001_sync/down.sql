DROP TABLE source_state;
DROP TABLE sync_runs;
