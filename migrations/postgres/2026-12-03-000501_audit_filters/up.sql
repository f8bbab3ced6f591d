-- The filters of GET /api/v1/audit stay index walks on a large log: by actor and by action
-- (exact, or a prefix such as `agent.`: `text_pattern_ops` lets LIKE 'agent.%' use the
-- index whatever the database's collation), newest first; and by time.
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action text_pattern_ops, id);
CREATE INDEX audit_log_at ON audit_log (at);
