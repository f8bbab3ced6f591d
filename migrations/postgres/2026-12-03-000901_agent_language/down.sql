ALTER TABLE agents DROP COLUMN preferred_language;
