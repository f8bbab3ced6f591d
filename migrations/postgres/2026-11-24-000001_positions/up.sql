-- Where incremental reads start, per method: RFC 4533 cookie, Active Directory USN with the
-- domain controller's invocationId, and the fingerprint of the group memberships read.
ALTER TABLE source_state ADD COLUMN sync_cookie TEXT;
ALTER TABLE source_state ADD COLUMN usn_invocation_id TEXT;
ALTER TABLE source_state ADD COLUMN usn_highest BIGINT;
ALTER TABLE source_state ADD COLUMN groups_digest TEXT;
