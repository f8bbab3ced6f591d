ALTER TABLE agents DROP COLUMN sync_version;
ALTER TABLE agents DROP COLUMN sync_digest;
