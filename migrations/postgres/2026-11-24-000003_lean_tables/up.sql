-- SQLite only (agent_values WITHOUT ROWID, audit_log without AUTOINCREMENT): PostgreSQL
-- keeps its tables as they are.
SELECT 1;
