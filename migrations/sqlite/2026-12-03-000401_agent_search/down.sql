DROP INDEX agents_live_number;
DROP INDEX agents_live_updated;
DROP INDEX agents_live_sort_name;
DROP INDEX agents_live_user_name;
DROP TRIGGER agents_search_update;
DROP TRIGGER agents_search_delete;
DROP TABLE agent_search;
ALTER TABLE agents DROP COLUMN sort_name;
ALTER TABLE agents DROP COLUMN search_text;
