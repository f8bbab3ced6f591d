-- Cheaper writes for the two tables every agent change touches most.
-- agent_values: stored in its primary-key B-tree (WITHOUT ROWID) instead of a rowid table
-- plus a separate primary-key index: one B-tree fewer per value written.
CREATE TABLE agent_values_new (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    attr TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    kind TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT 0,
    display TEXT,
    PRIMARY KEY (agent_id, attr, position)
) WITHOUT ROWID;
INSERT INTO agent_values_new (agent_id, attr, position, value, kind, is_primary, display)
    SELECT agent_id, attr, position, value, kind, is_primary, display FROM agent_values;
DROP TABLE agent_values;
ALTER TABLE agent_values_new RENAME TO agent_values;
CREATE INDEX agent_values_lookup ON agent_values (attr, lower(value));

-- audit_log: entries are never deleted (the triggers refuse it), so a plain INTEGER PRIMARY
-- KEY hands out the same ids as AUTOINCREMENT without updating sqlite_sequence per entry.
CREATE TABLE audit_log_new (
    id INTEGER PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_log_new (id, at, actor, action, target_type, target_id, before, after, reason, prev_hash, hash)
    SELECT id, at, actor, action, target_type, target_id, before, after, reason, prev_hash, hash FROM audit_log;
DROP TRIGGER audit_log_no_update;
DROP TRIGGER audit_log_no_delete;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
DELETE FROM sqlite_sequence WHERE name = 'audit_log';
CREATE INDEX audit_log_target ON audit_log (target_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
