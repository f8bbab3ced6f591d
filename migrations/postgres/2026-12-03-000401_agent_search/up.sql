-- The admin list's search and sort columns, computed by Rollcall on every write of an agent
-- (store::search): search_text holds the folded names, user name, email and agent number,
-- one per line; sort_name the folded display name. Rollcall fills them for existing rows
-- right after this migration.
ALTER TABLE agents ADD COLUMN search_text TEXT COLLATE "C";
ALTER TABLE agents ADD COLUMN sort_name TEXT COLLATE "C" NOT NULL DEFAULT '';
-- The distinct three-character substrings of a text (none spanning a line break), by code
-- point: pg_trgm would split words by the database's locale, which under C drops every
-- character outside ASCII (Chinese names). A GIN index over them finds substrings of three
-- characters or more; the LIKE that follows checks each candidate.
CREATE FUNCTION rollcall_trigrams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT g), '{}'::text[])
    FROM (SELECT substr(t, i, 3) AS g FROM generate_series(1, char_length(t) - 2) AS i) s
    WHERE strpos(g, E'\n') = 0
$$;
CREATE INDEX agents_search ON agents USING gin (rollcall_trigrams(search_text))
    WHERE status <> 'deleted';
-- One index per sort order of the admin list (keyset pagination); creation order has one.
CREATE INDEX agents_live_user_name ON agents (user_name_key, id) WHERE status <> 'deleted';
CREATE INDEX agents_live_sort_name ON agents (sort_name, id) WHERE status <> 'deleted';
CREATE INDEX agents_live_updated ON agents (updated_at, id) WHERE status <> 'deleted';
CREATE INDEX agents_live_number ON agents (coalesce(employee_number, ''), id)
    WHERE status <> 'deleted';
