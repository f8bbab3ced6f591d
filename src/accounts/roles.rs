//! Roles as the gateway sees them: the names an agent can be given, the built-in roles
//! created at start-up, and the checks on the role an agent is given.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::AccountError;
use crate::domain::AgentProfile;
use crate::store::DbConn;
use crate::store::schema::roles;

/// The names of the roles an agent can be given.
pub fn known_roles(conn: &mut DbConn) -> QueryResult<HashSet<String>> {
    Ok(roles::table
        .select(roles::name)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Creates the built-in roles that are missing (idempotent).
pub fn ensure_builtin_roles(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let mut created = 0;
    for t in crate::domain::roles::BUILTIN_ROLES {
        let exists: i64 = roles::table
            .filter(roles::name.eq(t.name))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            diesel::insert_into(roles::table)
                .values(crate::store::models::RoleRow {
                    name: t.name.into(),
                    description: t.description.into(),
                    permissions: json!(t.permissions).to_string(),
                    builtin: true,
                    default_max_chats: t.default_max_chats,
                    default_channels: json!(t.default_channels).to_string(),
                    created_at: now,
                    updated_at: now,
                })
                .execute(conn)?;
            created += 1;
        }
    }
    Ok(created)
}

/// The first of the IdP-stated `roles` (primary first) that names a Rollcall role.
pub(super) fn role_named_in(
    conn: &mut DbConn,
    profile: &AgentProfile,
) -> QueryResult<Option<String>> {
    let mut candidates: Vec<&str> = profile
        .roles
        .iter()
        .filter(|r| r.primary)
        .map(|r| r.value.as_str())
        .collect();
    candidates.extend(
        profile
            .roles
            .iter()
            .filter(|r| !r.primary)
            .map(|r| r.value.as_str()),
    );
    for c in candidates {
        let found: Option<String> = roles::table
            .filter(roles::name.eq(c))
            .select(roles::name)
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

pub(super) fn ensure_role(conn: &mut DbConn, role: &str) -> Result<(), AccountError> {
    // No role has a NUL, and PostgreSQL refuses to compare text holding one.
    if !crate::store::agents::may_exist(role) {
        return Err(unknown_role(conn, role));
    }
    let n: i64 = roles::table
        .filter(roles::name.eq(role))
        .count()
        .get_result(conn)?;
    if n == 0 {
        return Err(unknown_role(conn, role));
    }
    Ok(())
}

pub(super) fn unknown_role(conn: &mut DbConn, role: &str) -> AccountError {
    let known: Vec<String> = roles::table
        .select(roles::name)
        .order(roles::name)
        .load(conn)
        .unwrap_or_default();
    AccountError::InvalidField {
        pointer: "/role".into(),
        message: format!("unknown role {role:?}; roles: {}", known.join(", ")),
    }
}

impl super::Accounts {
    /// At start-up (`serve`, `sync`, the CLI): creates the missing built-in roles, brings
    /// the stored built-ins to their templates plus the configuration's `[[permissions]]`
    /// (a `role.update` by `system` and the holders' events when they differ), and checks
    /// that every `[[scim.group_roles]]` rule names an existing role. Returns the names of
    /// the built-in roles it changed. Takes the write lock only when something differs.
    pub fn prepare_roles(
        &self,
        conn: &mut DbConn,
        now: NaiveDateTime,
    ) -> Result<Vec<String>, AccountError> {
        ensure_builtin_roles(conn, now)?;
        let mut changed = Vec::new();
        for t in crate::domain::roles::BUILTIN_ROLES {
            if self.builtin_drift(conn, t)?.is_some() {
                changed.push(t.name.to_owned());
            }
        }
        if !changed.is_empty() {
            crate::store::write_tx(conn, |conn| {
                for name in &changed {
                    let Some(t) = crate::domain::roles::BUILTIN_ROLES
                        .iter()
                        .find(|t| t.name == name)
                    else {
                        continue;
                    };
                    if let Some((current, desired)) = self.builtin_drift(conn, t)? {
                        self.write_role_change(
                            conn,
                            "system",
                            &current,
                            desired,
                            false,
                            Some("a built-in role follows its template and the configuration"),
                            now,
                        )?;
                    }
                }
                Ok::<_, AccountError>(())
            })?;
        }
        for (i, r) in self.access.group_roles.iter().enumerate() {
            if crate::store::roles::get(conn, &r.role)?.is_none() {
                return Err(AccountError::Invalid(format!(
                    "scim.group_roles[{i}] (group {:?}): role {:?} does not exist; roles: {}",
                    r.group,
                    r.role,
                    known_roles(conn)?
                        .into_iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(changed)
    }

    /// The stored built-in role and what it should be, when they differ.
    fn builtin_drift(
        &self,
        conn: &mut DbConn,
        t: &crate::domain::roles::RoleTemplate,
    ) -> QueryResult<Option<(crate::domain::roles::Role, crate::domain::roles::Role)>> {
        let Some(current) = crate::store::roles::get(conn, t.name)? else {
            return Ok(None);
        };
        let catalog = &self.access.catalog;
        let desired = crate::domain::roles::Role {
            description: t.description.to_owned(),
            permissions: catalog.builtin_permissions(t.name).unwrap_or_default(),
            default_max_concurrent_chats: t.default_max_chats,
            default_channels: t.default_channels.iter().map(|c| (*c).to_owned()).collect(),
            ..current.clone()
        };
        let held: HashSet<&String> = current.permissions.iter().collect();
        let wanted: HashSet<&String> = desired.permissions.iter().collect();
        let same = held == wanted
            && current.description == desired.description
            && current.default_max_concurrent_chats == desired.default_max_concurrent_chats
            && current.default_channels == desired.default_channels;
        Ok((!same).then_some((current, desired)))
    }
}
