//! The folded keys of unique names (`agents.user_name_key`, `groups.display_name_key`) for
//! rows written before Rollcall computed them: filled right after the SQL migrations,
//! reporting names that now clash instead of failing.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{agents, groups};
use super::{DbConn, write_tx};
use crate::domain::Status;
use crate::domain::names::fold;

/// Two rows whose names fold to the same key. The later one (by creation) keeps serving
/// but is left out of the uniqueness rule (`*_clash` holds its id) until it is renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClash {
    /// `agents` or `groups`.
    pub table: &'static str,
    pub key: String,
    /// (id, name) of the row that keeps the name.
    pub kept: (String, String),
    /// (id, name) of the row left out of the uniqueness rule.
    pub left_out: (String, String),
}

/// Pure-ASCII names fold to their ASCII lower case, which SQL computes alike on both
/// backends (`lower` of a `C`-collated text on PostgreSQL). Such names cannot clash with
/// one another: the index they had, on `lower(name)`, kept them apart already.
const SQLITE_ASCII_AGENTS: &str = "UPDATE agents SET user_name_key = lower(user_name) \
    WHERE user_name_key IS NULL AND user_name NOT GLOB '*[^ -~]*'";
const PG_ASCII_AGENTS: &str = "UPDATE agents SET user_name_key = lower(user_name COLLATE \"C\") \
    WHERE user_name_key IS NULL AND user_name ~ '^[ -~]*$'";
const SQLITE_ASCII_GROUPS: &str = "UPDATE groups SET display_name_key = lower(display_name) \
    WHERE display_name_key IS NULL AND display_name NOT GLOB '*[^ -~]*'";
const PG_ASCII_GROUPS: &str = "UPDATE groups SET display_name_key = \
    lower(display_name COLLATE \"C\") \
    WHERE display_name_key IS NULL AND display_name ~ '^[ -~]*$'";

/// Fills every missing key, in one write transaction; logs and returns the clashes.
/// Costs one scan for the missing keys when none are missing.
pub fn fill(conn: &mut DbConn) -> QueryResult<Vec<NameClash>> {
    let missing_agents: i64 = agents::table
        .filter(agents::user_name_key.is_null())
        .count()
        .get_result(conn)?;
    let missing_groups: i64 = groups::table
        .filter(groups::display_name_key.is_null())
        .count()
        .get_result(conn)?;
    if missing_agents == 0 && missing_groups == 0 {
        return Ok(Vec::new());
    }
    let clashes = write_tx(conn, |conn| -> QueryResult<Vec<NameClash>> {
        let (agents_sql, groups_sql) = match conn {
            DbConn::Sqlite(_) => (SQLITE_ASCII_AGENTS, SQLITE_ASCII_GROUPS),
            DbConn::Pg(_) => (PG_ASCII_AGENTS, PG_ASCII_GROUPS),
        };
        diesel::sql_query(agents_sql).execute(conn)?;
        diesel::sql_query(groups_sql).execute(conn)?;
        let mut clashes = fill_agents(conn)?;
        clashes.extend(fill_groups(conn)?);
        Ok(clashes)
    })?;
    for c in &clashes {
        tracing::warn!(
            table = c.table,
            kept_id = %c.kept.0,
            kept_name = %c.kept.1,
            other_id = %c.left_out.0,
            other_name = %c.left_out.1,
            key = %c.key,
            "two names are now the same name (compared case-insensitively in any script); \
             both keep serving, the later is outside the uniqueness rule until renamed"
        );
    }
    Ok(clashes)
}

/// The later of two rows, by (creation, id).
fn later<'a>(
    a: &'a (String, String, NaiveDateTime),
    b: &'a (String, String, NaiveDateTime),
) -> bool {
    (b.2, &b.0) > (a.2, &a.0)
}

fn fill_agents(conn: &mut DbConn) -> QueryResult<Vec<NameClash>> {
    let rows: Vec<(String, String, String, NaiveDateTime)> = agents::table
        .filter(agents::user_name_key.is_null())
        .order((agents::created_at, agents::id))
        .select((
            agents::id,
            agents::user_name,
            agents::status,
            agents::created_at,
        ))
        .load(conn)?;
    let mut clashes = Vec::new();
    for (id, name, status, created) in rows {
        let key = fold(&name);
        let mut clash = String::new();
        if status != Status::Deleted.as_str() {
            let holder: Option<(String, String, NaiveDateTime)> = agents::table
                .filter(agents::user_name_key.eq(&key))
                .filter(agents::user_name_clash.eq(""))
                .filter(super::query::LiveAgent)
                .select((agents::id, agents::user_name, agents::created_at))
                .first(conn)
                .optional()?;
            if let Some(holder) = holder {
                let this = (id.clone(), name.clone(), created);
                let (kept, left_out) = if later(&holder, &this) {
                    clash = id.clone();
                    (holder, this)
                } else {
                    diesel::update(agents::table.filter(agents::id.eq(&holder.0)))
                        .set(agents::user_name_clash.eq(&holder.0))
                        .execute(conn)?;
                    (this, holder)
                };
                clashes.push(NameClash {
                    table: "agents",
                    key: key.clone(),
                    kept: (kept.0, kept.1),
                    left_out: (left_out.0, left_out.1),
                });
            }
        }
        diesel::update(agents::table.filter(agents::id.eq(&id)))
            .set((
                agents::user_name_key.eq(&key),
                agents::user_name_clash.eq(&clash),
            ))
            .execute(conn)?;
    }
    Ok(clashes)
}

fn fill_groups(conn: &mut DbConn) -> QueryResult<Vec<NameClash>> {
    let rows: Vec<(String, String, NaiveDateTime)> = groups::table
        .filter(groups::display_name_key.is_null())
        .order((groups::created_at, groups::id))
        .select((groups::id, groups::display_name, groups::created_at))
        .load(conn)?;
    let mut clashes = Vec::new();
    for (id, name, created) in rows {
        let key = fold(&name);
        let mut clash = String::new();
        let holder: Option<(String, String, NaiveDateTime)> = groups::table
            .filter(groups::display_name_key.eq(&key))
            .filter(groups::display_name_clash.eq(""))
            .select((groups::id, groups::display_name, groups::created_at))
            .first(conn)
            .optional()?;
        if let Some(holder) = holder {
            let this = (id.clone(), name.clone(), created);
            let (kept, left_out) = if later(&holder, &this) {
                clash = id.clone();
                (holder, this)
            } else {
                diesel::update(groups::table.filter(groups::id.eq(&holder.0)))
                    .set(groups::display_name_clash.eq(&holder.0))
                    .execute(conn)?;
                (this, holder)
            };
            clashes.push(NameClash {
                table: "groups",
                key: key.clone(),
                kept: (kept.0, kept.1),
                left_out: (left_out.0, left_out.1),
            });
        }
        diesel::update(groups::table.filter(groups::id.eq(&id)))
            .set((
                groups::display_name_key.eq(&key),
                groups::display_name_clash.eq(&clash),
            ))
            .execute(conn)?;
    }
    Ok(clashes)
}
