DROP INDEX agents_external_id;
CREATE INDEX agents_external_id ON agents (external_id);
DROP INDEX agents_deleted;
CREATE INDEX agents_status ON agents (status);
INSERT INTO agent_values (agent_id, attr, position, value, kind, is_primary, display)
    SELECT id, 'emails', 0, email, 'work', TRUE, NULL FROM agents WHERE emails_inline AND email IS NOT NULL;
INSERT INTO agent_values (agent_id, attr, position, value, kind, is_primary, display)
    SELECT id, 'phoneNumbers', 0, phone, 'work', TRUE, NULL FROM agents WHERE phones_inline AND phone IS NOT NULL;
DROP INDEX agents_email;
ALTER TABLE agents DROP COLUMN phones_inline;
ALTER TABLE agents DROP COLUMN emails_inline;
