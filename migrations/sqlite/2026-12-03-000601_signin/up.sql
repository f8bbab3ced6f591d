-- Sign-in: sessions the chat platform checks, one-time links (activation, password reset),
-- the password history the classic policy compares against, TOTP enrolment and recovery
-- codes, and the addresses each agent signed in from.

-- A session's token is never stored, only its SHA-256 (token_hash, unique). Idle expiry
-- counts from last_used_at (written by the nodes every few seconds, not per check);
-- absolute expiry is expires_at.
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;
ALTER TABLE sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT 0;

-- Single-use links: the SHA-256 of the token only. purpose: activation | reset.
CREATE TABLE credential_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX credential_links_agent ON credential_links (agent_id);

-- Earlier password hashes, newest first by changed_at (the classic policy's history).
CREATE TABLE password_history (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    changed_at TIMESTAMP NOT NULL,
    password_hash TEXT NOT NULL,
    PRIMARY KEY (agent_id, changed_at)
);

-- TOTP: the secret sealed with the configured key; last_step is the last time step whose
-- code was accepted (a code is never accepted twice); confirmed_at is NULL until the agent
-- proved the enrolment with a first code.
CREATE TABLE agent_mfa (
    agent_id TEXT PRIMARY KEY NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP
);

CREATE TABLE recovery_codes (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (agent_id, code_hash)
);

-- Where each agent signed in from: a first sign-in from an address is an
-- agent.signin_new_ip event.
CREATE TABLE agent_addresses (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, address)
);
