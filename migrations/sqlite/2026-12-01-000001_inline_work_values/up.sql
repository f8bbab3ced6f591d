-- An email or phone list that is just the agent's own `email` / `phone`, as its one primary
-- work value without display (what directory sources write, and what most IdPs send), is
-- kept in that column alone: `emails_inline` / `phones_inline` say so, and agent_values
-- holds rows only for other lists. Two value rows and two index entries fewer per agent.
ALTER TABLE agents ADD COLUMN emails_inline BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN phones_inline BOOLEAN NOT NULL DEFAULT 0;
UPDATE agents SET emails_inline = 1
WHERE email IS NOT NULL
  AND (SELECT count(*) FROM agent_values v WHERE v.agent_id = agents.id AND v.attr = 'emails') = 1
  AND EXISTS (SELECT 1 FROM agent_values v WHERE v.agent_id = agents.id AND v.attr = 'emails'
              AND v.is_primary AND v.kind = 'work' AND v.display IS NULL AND v.value = agents.email);
UPDATE agents SET phones_inline = 1
WHERE phone IS NOT NULL
  AND (SELECT count(*) FROM agent_values v WHERE v.agent_id = agents.id AND v.attr = 'phoneNumbers') = 1
  AND EXISTS (SELECT 1 FROM agent_values v WHERE v.agent_id = agents.id AND v.attr = 'phoneNumbers'
              AND v.is_primary AND v.kind = 'work' AND v.display IS NULL AND v.value = agents.phone);
DELETE FROM agent_values WHERE attr = 'emails'
  AND agent_id IN (SELECT id FROM agents WHERE emails_inline);
DELETE FROM agent_values WHERE attr = 'phoneNumbers'
  AND agent_id IN (SELECT id FROM agents WHERE phones_inline);
-- Filters on emails look at the column too (phone filters are rare enough to scan).
CREATE INDEX agents_email ON agents (lower(email));
-- Deleted agents are few: a partial index finds them (the count a list page answers with)
-- without an entry for every live agent, as the index of all statuses had.
DROP INDEX agents_status;
CREATE INDEX agents_deleted ON agents (id) WHERE status = 'deleted';
-- Agents a directory creates have no externalId: index only the agents that have one.
DROP INDEX agents_external_id;
CREATE INDEX agents_external_id ON agents (external_id) WHERE external_id IS NOT NULL;
