-- Secrets the Rollcall nodes sharing this database agree on, created once by whichever node
-- needs one first (the key that signs list cursors: `cursor`). Hex text.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
