DROP INDEX groups_display_name_key;
ALTER TABLE groups DROP COLUMN display_name_clash;
ALTER TABLE groups DROP COLUMN display_name_key;
CREATE UNIQUE INDEX groups_display_name ON groups (lower(display_name));
DROP INDEX agents_user_name_key_live;
ALTER TABLE agents DROP COLUMN user_name_clash;
ALTER TABLE agents DROP COLUMN user_name_key;
CREATE UNIQUE INDEX agents_user_name_live ON agents (lower(user_name)) WHERE status <> 'deleted';
