ALTER TABLE source_state DROP COLUMN groups_digest;
ALTER TABLE source_state DROP COLUMN usn_highest;
ALTER TABLE source_state DROP COLUMN usn_invocation_id;
ALTER TABLE source_state DROP COLUMN sync_cookie;
