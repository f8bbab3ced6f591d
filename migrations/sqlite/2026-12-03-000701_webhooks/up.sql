-- Webhook endpoints: where events are delivered (Standard Webhooks), signed with their
-- secrets (JSON list of `whsec_…`, newest first, at most two during a rotation), and how
-- far delivery got: `cursor` is the id of the last audit entry delivered or skipped, and
-- the head event's retry state (`attempts` failed so far, `next_attempt_at`,
-- `failing_since`). `replay_event` is one event asked to be delivered again.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    secrets TEXT NOT NULL,
    -- JSON list of event types; empty: every event
    events TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    -- config | api
    origin TEXT NOT NULL,
    cursor BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    failing_since TIMESTAMP,
    replay_event BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Every delivery attempt: the HTTP status, or the error when there was no answer.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
