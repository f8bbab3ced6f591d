-- The responses of admin API POSTs sent with an `Idempotency-Key`, per caller (`actor`,
-- e.g. `token:ops`): a retry with the same key and body gets the stored response instead of
-- running again. `status` is NULL while the first request runs. Kept 24 hours.
CREATE TABLE idempotency_keys (
    actor TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER,
    response_headers TEXT,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (actor, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
