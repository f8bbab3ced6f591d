-- One agent per person across sources: every sync source beyond the agent's own (`agents.source`)
-- that found this person links to the agent here, by its own key. A linked source plans the
-- agent as its own, within the fields `[ownership]` gives it; its record of what it last wrote
-- (`sync_digest` at `sync_version`) is kept here, not on the agent.
CREATE TABLE agent_links (
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    linked_by TEXT NOT NULL,
    linked_at TIMESTAMP NOT NULL,
    sync_digest TEXT,
    sync_version BIGINT,
    PRIMARY KEY (source, source_key)
);
CREATE UNIQUE INDEX agent_links_agent ON agent_links (agent_id, source);

-- People a run could not link because two agents were candidates (JSON): linked to neither,
-- created as neither, until someone settles it.
ALTER TABLE sync_runs ADD COLUMN disputes TEXT;
