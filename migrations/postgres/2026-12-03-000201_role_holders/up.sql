-- Who holds a role, found without reading the agents: counts, the holders with overrides,
-- and the rest in id order (the impact of a role's change, its events, deleting a role).
CREATE INDEX agents_role_holders ON agents (role, permission_overrides, id);
