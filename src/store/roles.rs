//! Role rows and the reads about who holds a role: counts, and the holders in pages of
//! (id, user name, overrides) so that a role held by 100,000 agents is never loaded whole.

use std::collections::HashMap;

use diesel::prelude::*;

use super::DbConn;
use super::models::RoleRow;
use super::schema::{agents, roles};
use crate::domain::Status;
use crate::domain::roles::Role;

/// The stored text of a list of keys or channels.
pub fn list_text(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub fn to_role(row: RoleRow) -> Role {
    Role {
        permissions: parse_list(&row.permissions),
        default_channels: parse_list(&row.default_channels),
        name: row.name,
        description: row.description,
        builtin: row.builtin,
        default_max_concurrent_chats: row.default_max_chats,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub fn to_row(role: &Role) -> RoleRow {
    RoleRow {
        name: role.name.clone(),
        description: role.description.clone(),
        permissions: list_text(&role.permissions),
        builtin: role.builtin,
        default_max_chats: role.default_max_concurrent_chats,
        default_channels: list_text(&role.default_channels),
        created_at: role.created_at,
        updated_at: role.updated_at,
    }
}

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<Role>> {
    Ok(roles::table
        .filter(roles::name.eq(name))
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?
        .map(to_role))
}

/// Every role, by name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Role>> {
    Ok(roles::table
        .order(roles::name)
        .select(RoleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(to_role)
        .collect())
}

pub fn insert(conn: &mut DbConn, role: &Role) -> QueryResult<()> {
    diesel::insert_into(roles::table)
        .values(to_row(role))
        .execute(conn)
        .map(drop)
}

/// Writes every field but the name and the creation time.
pub fn update(conn: &mut DbConn, role: &Role) -> QueryResult<()> {
    diesel::update(roles::table.filter(roles::name.eq(&role.name)))
        .set((
            roles::description.eq(&role.description),
            roles::permissions.eq(list_text(&role.permissions)),
            roles::default_max_chats.eq(role.default_max_concurrent_chats),
            roles::default_channels.eq(list_text(&role.default_channels)),
            roles::updated_at.eq(role.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn delete(conn: &mut DbConn, name: &str) -> QueryResult<()> {
    diesel::delete(roles::table.filter(roles::name.eq(name)))
        .execute(conn)
        .map(drop)
}

/// How many agents hold each role: (live, deleted but not yet purged).
pub fn holder_counts(conn: &mut DbConn) -> QueryResult<HashMap<String, (i64, i64)>> {
    let rows: Vec<(String, String, i64)> = agents::table
        .group_by((agents::role, agents::status))
        .select((agents::role, agents::status, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out: HashMap<String, (i64, i64)> = HashMap::new();
    for (role, status, n) in rows {
        let e = out.entry(role).or_default();
        if status == Status::Deleted.as_str() {
            e.1 += n;
        } else {
            e.0 += n;
        }
    }
    Ok(out)
}

/// (live holders, deleted holders awaiting the purge) of one role.
pub fn holders_of(conn: &mut DbConn, name: &str) -> QueryResult<(i64, i64)> {
    let live: i64 = agents::table
        .filter(agents::role.eq(name))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .count()
        .get_result(conn)?;
    let all: i64 = agents::table
        .filter(agents::role.eq(name))
        .count()
        .get_result(conn)?;
    Ok((live, all - live))
}

/// Live holders of `name` with no overrides.
pub fn plain_holders(conn: &mut DbConn, name: &str) -> QueryResult<i64> {
    agents::table
        .filter(agents::role.eq(name))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .filter(agents::permission_overrides.eq("{}"))
        .count()
        .get_result(conn)
}

/// One holder as the impact of a change needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub user_name: String,
    /// `agents.permission_overrides` (`{}`: none).
    pub overrides: String,
}

/// Live holders of `name` with overrides (they may each be affected differently).
pub fn holders_with_overrides(conn: &mut DbConn, name: &str) -> QueryResult<Vec<Holder>> {
    Ok(agents::table
        .filter(agents::role.eq(name))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .filter(agents::permission_overrides.ne("{}"))
        .order(agents::id)
        .select((agents::id, agents::user_name, agents::permission_overrides))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, user_name, overrides)| Holder {
            id,
            user_name,
            overrides,
        })
        .collect())
}

/// Up to `limit` ids of live holders of `name` with no overrides, after id `after`.
pub fn plain_holder_ids(
    conn: &mut DbConn,
    name: &str,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<String>> {
    agents::table
        .filter(agents::role.eq(name))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .filter(agents::permission_overrides.eq("{}"))
        .filter(agents::id.gt(after))
        .order(agents::id)
        .limit(limit)
        .select(agents::id)
        .load(conn)
}
