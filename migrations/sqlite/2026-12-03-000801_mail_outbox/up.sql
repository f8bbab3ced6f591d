-- The mail outbox: one row per message Rollcall must send (activation, password reset,
-- account disabled), written in the transaction of the change that asked for it and sent
-- afterwards by the mail sender. `parameters` holds the template's values (JSON); the sender
-- claims a row by writing `claimed_by` / `claimed_until` (a lease) in one UPDATE, so two
-- nodes never send the same mail at the same time.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT,
    recipient TEXT NOT NULL,
    -- the language asked for (a BCP 47 tag); NULL: `mail.default_language`
    language TEXT,
    template TEXT NOT NULL,
    parameters TEXT NOT NULL,
    -- pending | sending | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    -- when an operator last asked for another try (the give-up age counts from it)
    retried_at TIMESTAMP
);
-- The sender's query: mails not yet sent or given up, by when they are due.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at, id)
    WHERE status IN ('pending', 'sending');
CREATE INDEX mail_outbox_status ON mail_outbox (status, id);
