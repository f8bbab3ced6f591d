CREATE TABLE agent_values_old (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    attr TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    kind TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT 0,
    display TEXT,
    PRIMARY KEY (agent_id, attr, position)
);
INSERT INTO agent_values_old (agent_id, attr, position, value, kind, is_primary, display)
    SELECT agent_id, attr, position, value, kind, is_primary, display FROM agent_values;
DROP TABLE agent_values;
ALTER TABLE agent_values_old RENAME TO agent_values;
CREATE INDEX agent_values_lookup ON agent_values (attr, lower(value));

CREATE TABLE audit_log_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO audit_log_old (id, at, actor, action, target_type, target_id, before, after, reason, prev_hash, hash)
    SELECT id, at, actor, action, target_type, target_id, before, after, reason, prev_hash, hash FROM audit_log;
DROP TRIGGER audit_log_no_update;
DROP TRIGGER audit_log_no_delete;
DROP TABLE audit_log;
ALTER TABLE audit_log_old RENAME TO audit_log;
CREATE INDEX audit_log_target ON audit_log (target_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
