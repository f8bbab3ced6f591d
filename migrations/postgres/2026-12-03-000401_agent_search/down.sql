DROP INDEX agents_live_number;
DROP INDEX agents_live_updated;
DROP INDEX agents_live_sort_name;
DROP INDEX agents_live_user_name;
DROP INDEX agents_search;
DROP FUNCTION rollcall_trigrams(text);
ALTER TABLE agents DROP COLUMN sort_name;
ALTER TABLE agents DROP COLUMN search_text;
