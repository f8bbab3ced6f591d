-- The agent's preferred language (a BCP 47 tag such as zh-CN; SCIM preferredLanguage): the
-- language of the mail it gets.
ALTER TABLE agents ADD COLUMN preferred_language TEXT;
