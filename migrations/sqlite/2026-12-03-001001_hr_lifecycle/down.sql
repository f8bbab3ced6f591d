ALTER TABLE sync_runs DROP COLUMN snapshot_digest;
ALTER TABLE sync_runs DROP COLUMN bad_rows;
ALTER TABLE sync_runs DROP COLUMN source_rows;
ALTER TABLE source_state DROP COLUMN replan_at;
ALTER TABLE source_state DROP COLUMN export_digest;
ALTER TABLE source_state DROP COLUMN export_last_modified;
ALTER TABLE source_state DROP COLUMN export_etag;
DROP TABLE agent_schedule;
