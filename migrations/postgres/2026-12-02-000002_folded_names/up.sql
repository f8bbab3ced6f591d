-- Unique names compare by a key Rollcall computes (domain::names::fold: NFKC, Unicode
-- lower-casing, NFKC), the same on both backends, instead of SQL's lower(), which folds
-- only ASCII on SQLite and on PostgreSQL under the C locale. Rollcall fills the key of
-- existing rows right after this migration. A row whose key turns out to equal a live
-- older one's keeps serving: its *_clash column holds its own id, which leaves it out of
-- the uniqueness rule (the start-up log names both), until it is renamed.
ALTER TABLE agents ADD COLUMN user_name_key TEXT COLLATE "C";
ALTER TABLE agents ADD COLUMN user_name_clash TEXT NOT NULL DEFAULT '';
DROP INDEX agents_user_name_live;
CREATE UNIQUE INDEX agents_user_name_key_live ON agents (user_name_key, user_name_clash)
    WHERE status <> 'deleted';
ALTER TABLE groups ADD COLUMN display_name_key TEXT COLLATE "C";
ALTER TABLE groups ADD COLUMN display_name_clash TEXT NOT NULL DEFAULT '';
DROP INDEX groups_display_name;
CREATE UNIQUE INDEX groups_display_name_key ON groups (display_name_key, display_name_clash);
