//! Agent rows and their multi-valued attributes: loading one agent, inserting, replacing.
//! Bulk inserts live in `bulk`, the queries a sync run makes in `sourced`.

use std::collections::HashMap;

use diesel::prelude::*;

use super::DbConn;
use super::models::{AgentRow, AgentValueRow};
use super::schema::{agent_values, agents};
use crate::domain::{Agent, AgentProfile, MultiValue, Status};

mod bulk;
mod sourced;

pub use bulk::{INSERT_CHUNK, insert_rows, insert_value_rows};
pub use sourced::{
    AgentLink, SourceFilter, by_source, count_by_source, links_of, owned_agents, sourced_by, stamp,
};

pub const EMAILS: &str = "emails";
pub const PHONES: &str = "phoneNumbers";
pub const SKILL_GROUPS: &str = "skillGroups";
pub const CHANNELS: &str = "channels";
pub const ROLES: &str = "roles";

/// Whether `id` can name a row at all: PostgreSQL refuses to compare a text holding NUL
/// (an id from a URL may), SQLite would compare it and find nothing.
pub fn may_exist(id: &str) -> bool {
    !id.contains('\0')
}

/// Live (not deleted) agent by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<Agent>> {
    if !may_exist(id) {
        return Ok(None);
    }
    let row = agents::table
        .filter(agents::id.eq(id))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(row) => Ok(with_values(conn, vec![row])?.pop()),
        None => Ok(None),
    }
}

/// The row of a live agent, for the gateway's read-modify-write.
pub fn get_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<AgentRow>> {
    if !may_exist(id) {
        return Ok(None);
    }
    agents::table
        .filter(agents::id.eq(id))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()
}

/// Id of a live agent holding `user_name` (compared by `domain::names::fold`).
pub fn id_by_user_name(conn: &mut DbConn, user_name: &str) -> QueryResult<Option<String>> {
    agents::table
        .filter(agents::user_name_key.eq(crate::domain::names::fold(user_name)))
        .filter(super::list::live())
        .select(agents::id)
        .first(conn)
        .optional()
}

/// Attaches multi-valued attributes (one query for all rows) and converts to [`Agent`].
pub fn with_values(conn: &mut DbConn, rows: Vec<AgentRow>) -> QueryResult<Vec<Agent>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    // One id (a lookup, a probe) is the common case: `=` keeps the statement cacheable,
    // where SQLite's `IN (?, …)` is prepared afresh each time.
    let mut q = agent_values::table.into_boxed::<super::Db>();
    q = match ids.as_slice() {
        [one] => q.filter(agent_values::agent_id.eq(*one)),
        many => q.filter(agent_values::agent_id.eq_any(many)),
    };
    let values: Vec<AgentValueRow> = q
        .order((
            agent_values::agent_id,
            agent_values::attr,
            agent_values::position,
        ))
        .select(AgentValueRow::as_select())
        .load(conn)?;
    let mut by_agent = values_by_agent(values);
    Ok(rows
        .into_iter()
        .map(|row| {
            let values = by_agent.remove(&row.id).unwrap_or_default();
            to_agent(row, values)
        })
        .collect())
}

/// Value rows (in agent order) gathered per agent id.
pub(super) fn values_by_agent(values: Vec<AgentValueRow>) -> HashMap<String, Vec<AgentValueRow>> {
    let mut by_agent: HashMap<String, Vec<AgentValueRow>> = HashMap::new();
    for v in values {
        by_agent.entry(v.agent_id.clone()).or_default().push(v);
    }
    by_agent
}

/// Builds the domain agent from its row and value rows.
pub fn to_agent(row: AgentRow, values: Vec<AgentValueRow>) -> Agent {
    let mut profile = AgentProfile {
        user_name: row.user_name,
        external_id: row.external_id,
        display_name: row.display_name,
        given_name: row.given_name,
        family_name: row.family_name,
        middle_name: row.middle_name,
        formatted_name: row.formatted_name,
        nickname: row.nickname,
        preferred_language: row.preferred_language,
        title: row.title,
        employee_number: row.employee_number,
        department: row.department,
        manager_id: row.manager_id,
        role: Some(row.role.clone()),
        max_concurrent_chats: row.max_concurrent_chats,
        ..AgentProfile::default()
    };
    if row.emails_inline
        && let Some(email) = &row.email
    {
        profile.emails.push(work_value(email));
    }
    if row.phones_inline
        && let Some(phone) = &row.phone
    {
        profile.phones.push(work_value(phone));
    }
    for v in values {
        let mv = MultiValue {
            value: v.value,
            kind: v.kind,
            primary: v.is_primary,
            display: v.display,
        };
        match v.attr.as_str() {
            EMAILS => profile.emails.push(mv),
            PHONES => profile.phones.push(mv),
            ROLES => profile.roles.push(mv),
            SKILL_GROUPS => profile.skill_groups.push(mv.value),
            CHANNELS => profile.channels.push(mv.value),
            _ => {}
        }
    }
    Agent {
        id: row.id,
        profile,
        role: row.role,
        status: Status::parse(&row.status).unwrap_or(Status::Suspended),
        login_blocked: row.login_blocked,
        sessions_revoked_at: row.sessions_revoked_at,
        has_password: row.password_hash.is_some(),
        source: row.source,
        disabled_at: row.disabled_at,
        disabled_reason: row.disabled_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

/// The one primary work value of an inline list (see [`AgentProfile::lone_work`]).
fn work_value(value: &str) -> MultiValue {
    MultiValue {
        value: value.to_owned(),
        kind: Some("work".to_owned()),
        primary: true,
        display: None,
    }
}

/// Rows of `agent_values` for a profile. An email or phone list that is one primary work
/// value is kept in the agent's row alone (`emails_inline`, `phones_inline`): no rows.
pub fn value_rows(agent_id: &str, profile: &AgentProfile) -> Vec<AgentValueRow> {
    let mut rows = Vec::new();
    let mut push = |attr: &str, list: Vec<MultiValue>| {
        for (i, v) in list.into_iter().enumerate() {
            rows.push(AgentValueRow {
                agent_id: agent_id.to_owned(),
                attr: attr.to_owned(),
                position: i32::try_from(i).unwrap_or(i32::MAX),
                value: v.value,
                kind: v.kind,
                is_primary: v.primary,
                display: v.display,
            });
        }
    };
    if AgentProfile::lone_work(&profile.emails).is_none() {
        push(EMAILS, profile.emails.clone());
    }
    if AgentProfile::lone_work(&profile.phones).is_none() {
        push(PHONES, profile.phones.clone());
    }
    push(ROLES, profile.roles.clone());
    let plain = |list: &[String]| {
        list.iter()
            .map(|s| MultiValue {
                value: s.clone(),
                ..MultiValue::default()
            })
            .collect::<Vec<_>>()
    };
    push(SKILL_GROUPS, plain(&profile.skill_groups));
    push(CHANNELS, plain(&profile.channels));
    rows
}

pub fn insert(conn: &mut DbConn, row: &AgentRow, values: &[AgentValueRow]) -> QueryResult<()> {
    if let DbConn::Sqlite(c) = conn {
        let last = super::search::last_rowid(c)?;
        diesel::insert_into(agents::table)
            .values((row, super::search::columns(row)))
            .execute(c)?;
        super::search::index_new_rows(c, last)?;
    } else {
        diesel::insert_into(agents::table)
            .values((row, super::search::columns(row)))
            .execute(conn)?;
    }
    insert_values(conn, values)
}

fn insert_values(conn: &mut DbConn, values: &[AgentValueRow]) -> QueryResult<()> {
    // One statement per row: multi-row INSERT is not portable through the multi-backend.
    for v in values {
        diesel::insert_into(agent_values::table)
            .values(v)
            .execute(conn)?;
    }
    Ok(())
}

/// Writes `row` (with its search columns, see `store::search`) over the stored one if that one is still at version `read` (compare and
/// set); replaces the multi-valued attributes when given. `false`: the stored row has another
/// version (a writer that did not hold the write lock got in between) and nothing was
/// written.
pub fn update(
    conn: &mut DbConn,
    row: &AgentRow,
    read: i64,
    values: Option<&[AgentValueRow]>,
) -> QueryResult<bool> {
    let n = diesel::update(
        agents::table
            .filter(agents::id.eq(&row.id))
            .filter(agents::version.eq(read)),
    )
    .set((row, super::search::columns(row)))
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    if let Some(values) = values {
        diesel::delete(agent_values::table.filter(agent_values::agent_id.eq(&row.id)))
            .execute(conn)?;
        insert_values(conn, values)?;
    }
    Ok(true)
}

/// Deletes rows whose grace period ended; returns how many.
pub fn purge_deleted(conn: &mut DbConn, now: chrono::NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        agents::table
            .filter(agents::status.eq(Status::Deleted.as_str()))
            .filter(agents::purge_after.le(now)),
    )
    .execute(conn)
}
