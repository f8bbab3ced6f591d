ALTER TABLE sync_runs DROP COLUMN disputes;
DROP TABLE agent_links;
