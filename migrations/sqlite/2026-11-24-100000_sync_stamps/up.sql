-- What the owning sync source last wrote or confirmed for an agent: a digest of the fields it
-- manages, and the agent's version at that moment. While `version` still equals
-- `sync_version` nobody has changed the agent since, so a person whose digest is unchanged
-- needs no closer comparison.
ALTER TABLE agents ADD COLUMN sync_digest TEXT;
ALTER TABLE agents ADD COLUMN sync_version BIGINT;
