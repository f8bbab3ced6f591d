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
