-- Rollcall schema, PostgreSQL flavour. Keep in step with ../../sqlite/.

CREATE TABLE roles (
    name TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL DEFAULT '[]',
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    default_max_chats INTEGER NOT NULL DEFAULT 5,
    default_channels TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY NOT NULL,
    external_id TEXT,
    user_name TEXT NOT NULL,
    display_name TEXT,
    given_name TEXT,
    family_name TEXT,
    middle_name TEXT,
    formatted_name TEXT,
    nickname TEXT,
    title TEXT,
    email TEXT,
    phone TEXT,
    employee_number TEXT,
    department TEXT,
    manager_id TEXT,
    role TEXT NOT NULL REFERENCES roles(name),
    permission_overrides TEXT NOT NULL DEFAULT '{}',
    max_concurrent_chats INTEGER,
    status TEXT NOT NULL,
    login_blocked BOOLEAN NOT NULL DEFAULT FALSE,
    sessions_revoked_at TIMESTAMP,
    password_hash TEXT,
    password_changed_at TIMESTAMP,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    source TEXT NOT NULL,
    source_key TEXT,
    last_seen_at TIMESTAMP,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    purge_after TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX agents_user_name_live ON agents (lower(user_name)) WHERE status <> 'deleted';
CREATE INDEX agents_external_id ON agents (external_id);
CREATE INDEX agents_live_created ON agents (created_at, id) WHERE status <> 'deleted';
CREATE INDEX agents_status ON agents (status);
CREATE INDEX agents_employee_number ON agents (employee_number);
CREATE INDEX agents_source ON agents (source, source_key);
CREATE INDEX agents_purge ON agents (purge_after) WHERE purge_after IS NOT NULL;

-- Multi-valued attributes: emails, phoneNumbers, skillGroups, channels.
CREATE TABLE agent_values (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    attr TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    kind TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    display TEXT,
    PRIMARY KEY (agent_id, attr, position)
);
CREATE INDEX agent_values_lookup ON agent_values (attr, lower(value));

CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    external_id TEXT,
    display_name TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX groups_display_name ON groups (lower(display_name));
CREATE INDEX groups_external_id ON groups (external_id);
CREATE INDEX groups_created ON groups (created_at, id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);

CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_agent ON sessions (agent_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_id, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMP
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id);
