//! Agent rows and their multi-valued attributes: loading, inserting, replacing.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::DbConn;
use super::models::{AgentRow, AgentValueRow};
use super::multi_insert::{self, BindRow, RowOut};
use super::schema::{agent_values, agents};
use super::times::{SqliteTime, SqliteTimes};
use crate::domain::{
    Agent, AgentProfile, MultiValue, OwnedAgent, SourcedAgent, Status, SyncedValues,
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
    let mut by_agent: HashMap<String, Vec<AgentValueRow>> = HashMap::new();
    for v in values {
        by_agent.entry(v.agent_id.clone()).or_default().push(v);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let values = by_agent.remove(&row.id).unwrap_or_default();
            to_agent(row, values)
        })
        .collect())
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

/// What a sync run sees of a list kept inline in the row (`emails_inline`, `phones_inline`)
/// before its value rows, if any, are read.
fn inline_list(inline: bool, value: Option<String>) -> SyncedValues {
    match value {
        Some(v) if inline => SyncedValues::Work(v),
        _ => SyncedValues::Empty,
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
    diesel::insert_into(agents::table)
        .values(row)
        .execute(conn)?;
    insert_values(conn, values)
}

/// Rows per multi-row INSERT on PostgreSQL: well under the 65,535 bound parameters for the
/// widest table, and few round trips.
pub const INSERT_CHUNK: usize = 200;

/// Writes many agent rows, leaving out any that would break a uniqueness rule (a user name
/// taken by a live agent): returns, per row in order, whether it was written. Nothing is
/// rolled back, so this needs no savepoint inside a caller's transaction.
/// PostgreSQL: multi-row statements (one round trip per chunk) that return the ids written.
/// SQLite: runs of plain rows through `multi_insert` (a statement of a fixed number of rows,
/// prepared once), other rows one by one (`insert_one`).
pub fn insert_rows(
    conn: &mut DbConn,
    rows: &[(&AgentRow, Option<&str>)],
) -> QueryResult<Vec<bool>> {
    let mut written = Vec::with_capacity(rows.len());
    match conn {
        DbConn::Sqlite(c) => {
            let mut times = SqliteTimes::default();
            let mut at = 0;
            while at < rows.len() {
                // A run of plain rows goes in through multi-row statements; a row that sets
                // more than the usual columns goes in alone.
                let run = rows[at..]
                    .iter()
                    .take_while(|(row, _)| is_plain(row))
                    .count();
                if run == 0 {
                    let (row, digest) = rows[at];
                    written.push(insert_one(c, row, digest)?);
                    at += 1;
                    continue;
                }
                let plain: Vec<PlainAgent<'_>> = rows[at..at + run]
                    .iter()
                    .map(|&(row, digest)| PlainAgent::new(row, digest, &mut times))
                    .collect();
                multi_insert::insert_each(c, &plain, |c, batch, n| {
                    if n == batch.len() {
                        written.extend(std::iter::repeat_n(true, n));
                        return Ok(());
                    }
                    // A clash left some out; the ids are new, so a row holding one of
                    // them is a row this statement wrote.
                    let ids: Vec<&str> = batch.iter().map(|p| p.row.id.as_str()).collect();
                    let present: std::collections::HashSet<String> = agents::table
                        .filter(agents::id.eq_any(&ids))
                        .select(agents::id)
                        .load(c)?
                        .into_iter()
                        .collect();
                    written.extend(batch.iter().map(|p| present.contains(&p.row.id)));
                    Ok(())
                })?;
                at += run;
            }
        }
        DbConn::Pg(c) => {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let owned: Vec<NewAgent> = chunk
                    .iter()
                    .map(|(row, digest)| NewAgent {
                        row: (*row).clone(),
                        sync_digest: digest.map(str::to_owned),
                        sync_version: digest.map(|_| row.version),
                    })
                    .collect();
                let ids: std::collections::HashSet<String> = diesel::insert_into(agents::table)
                    .values(&owned)
                    .on_conflict_do_nothing()
                    .returning(agents::id)
                    .get_results::<String>(c)?
                    .into_iter()
                    .collect();
                written.extend(chunk.iter().map(|(row, _)| ids.contains(&row.id)));
            }
        }
    }
    Ok(written)
}

/// A plain agent row (see `is_plain`) with its timestamps as SQLite text, for multi-row
/// inserts: the columns a new agent usually sets.
struct PlainAgent<'a> {
    row: &'a AgentRow,
    digest: Option<&'a str>,
    sync_version: Option<i64>,
    last_seen_at: Option<SqliteTime>,
    created_at: SqliteTime,
    updated_at: SqliteTime,
}

impl<'a> PlainAgent<'a> {
    fn new(row: &'a AgentRow, digest: Option<&'a str>, times: &mut SqliteTimes) -> Self {
        PlainAgent {
            row,
            digest,
            sync_version: digest.map(|_| row.version),
            last_seen_at: times.opt(row.last_seen_at),
            created_at: times.of(row.created_at),
            updated_at: times.of(row.updated_at),
        }
    }
}

impl BindRow for PlainAgent<'_> {
    const HEAD: &'static str = "INSERT OR IGNORE INTO agents (id, external_id, user_name, \
        display_name, given_name, family_name, middle_name, formatted_name, nickname, title, \
        email, phone, employee_number, department, manager_id, role, status, source, \
        source_key, last_seen_at, created_at, updated_at, sync_digest, sync_version, \
        emails_inline, phones_inline, user_name_key) VALUES ";
    type Marker = AgentRow;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        let r = self.row;
        out.bind::<Text, _>(&r.id)?;
        out.bind::<Nullable<Text>, _>(&r.external_id)?;
        out.bind::<Text, _>(&r.user_name)?;
        for text in [
            &r.display_name,
            &r.given_name,
            &r.family_name,
            &r.middle_name,
            &r.formatted_name,
            &r.nickname,
            &r.title,
            &r.email,
            &r.phone,
            &r.employee_number,
            &r.department,
            &r.manager_id,
        ] {
            out.bind::<Nullable<Text>, _>(text)?;
        }
        out.bind::<Text, _>(&r.role)?;
        out.bind::<Text, _>(&r.status)?;
        out.bind::<Text, _>(&r.source)?;
        out.bind::<Nullable<Text>, _>(&r.source_key)?;
        out.bind::<Nullable<Timestamp>, _>(&self.last_seen_at)?;
        out.bind::<Timestamp, _>(&self.created_at)?;
        out.bind::<Timestamp, _>(&self.updated_at)?;
        out.bind::<Nullable<Text>, _>(&self.digest)?;
        out.bind::<Nullable<BigInt>, _>(&self.sync_version)?;
        out.bind::<Bool, _>(&r.emails_inline)?;
        out.bind::<Bool, _>(&r.phones_inline)?;
        out.bind::<Nullable<Text>, _>(&r.user_name_key)?;
        Ok(())
    }
}

/// One agent row on SQLite that sets more than a plain row's columns (plain rows go
/// through `PlainAgent`); false when a clash left it out. Such rows are rare (an agent
/// created suspended, say), so the derived insert, whose SQL is rebuilt per row, will do.
fn insert_one(
    c: &mut diesel::SqliteConnection,
    row: &AgentRow,
    digest: Option<&str>,
) -> QueryResult<bool> {
    let new = NewAgent {
        row: row.clone(),
        sync_digest: digest.map(str::to_owned),
        sync_version: digest.map(|_| row.version),
    };
    let n = diesel::insert_or_ignore_into(agents::table)
        .values(&new)
        .execute(c)?;
    Ok(n == 1)
}

/// Whether every column a plain row (`PlainAgent`) leaves out holds its default.
fn is_plain(row: &AgentRow) -> bool {
    row.permission_overrides == "{}"
        && row.max_concurrent_chats.is_none()
        && !row.login_blocked
        && row.sessions_revoked_at.is_none()
        && row.password_hash.is_none()
        && row.password_changed_at.is_none()
        && !row.must_change_password
        && row.failed_logins == 0
        && row.locked_until.is_none()
        && row.disabled_at.is_none()
        && row.disabled_reason.is_none()
        && row.purge_after.is_none()
        && row.version == 1
        && row.user_name_clash.is_empty()
}

/// An agent row with what its owning source wrote (see `OwnedAgent::digest`).
#[derive(Insertable)]
#[diesel(table_name = agents)]
struct NewAgent {
    #[diesel(embed)]
    row: AgentRow,
    sync_digest: Option<String>,
    sync_version: Option<i64>,
}

impl BindRow for &AgentValueRow {
    const HEAD: &'static str = "INSERT INTO agent_values \
        (agent_id, attr, position, value, kind, is_primary, display) VALUES ";
    type Marker = AgentValueRow;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        out.bind::<Text, _>(&self.agent_id)?;
        out.bind::<Text, _>(&self.attr)?;
        out.bind::<Integer, _>(&self.position)?;
        out.bind::<Text, _>(&self.value)?;
        out.bind::<Nullable<Text>, _>(&self.kind)?;
        out.bind::<Bool, _>(&self.is_primary)?;
        out.bind::<Nullable<Text>, _>(&self.display)?;
        Ok(())
    }
}

/// Writes many value rows (as [`insert_rows`], multi-row statements on both backends).
pub fn insert_value_rows(conn: &mut DbConn, values: &[&AgentValueRow]) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => multi_insert::insert_all(c, values)?,
        DbConn::Pg(c) => {
            for chunk in values.chunks(INSERT_CHUNK * 4) {
                let owned: Vec<AgentValueRow> = chunk.iter().map(|v| (*v).clone()).collect();
                diesel::insert_into(agent_values::table)
                    .values(&owned)
                    .execute(c)?;
            }
        }
    }
    Ok(())
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

/// Writes `row` over the stored one if that one is still at version `read` (compare and
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
    .set(row)
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

/// Live agents whose `source` is `source` (or, with `others`, owned by no source matching
/// any of the given prefixes), with their source keys. Two queries whatever the count.
pub fn by_source(
    conn: &mut DbConn,
    source: SourceFilter<'_>,
) -> QueryResult<Vec<(Agent, Option<String>)>> {
    use super::query::LiveAgent;
    let mut rows_q = agents::table.filter(LiveAgent).into_boxed::<super::Db>();
    let mut values_q = agent_values::table
        .inner_join(agents::table.on(agents::id.eq(agent_values::agent_id)))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .into_boxed::<super::Db>();
    rows_q = rows_q.filter(owned_by(source));
    values_q = values_q.filter(owned_by(source));
    let rows: Vec<AgentRow> = rows_q.select(AgentRow::as_select()).load(conn)?;
    let values: Vec<AgentValueRow> = values_q
        .order((
            agent_values::agent_id,
            agent_values::attr,
            agent_values::position,
        ))
        .select(AgentValueRow::as_select())
        .load(conn)?;
    let mut by_agent: HashMap<String, Vec<AgentValueRow>> = HashMap::new();
    for v in values {
        by_agent.entry(v.agent_id.clone()).or_default().push(v);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let key = row.source_key.clone();
            let values = by_agent.remove(&row.id).unwrap_or_default();
            (to_agent(row, values), key)
        })
        .collect())
}

/// How many live agents `source` owns, and how many of them are active.
pub fn count_by_source(conn: &mut DbConn, source: &str) -> QueryResult<(usize, usize)> {
    use super::query::LiveAgent;
    let live: i64 = agents::table
        .filter(LiveAgent)
        .filter(agents::source.eq(source))
        .count()
        .get_result(conn)?;
    let active: i64 = agents::table
        .filter(agents::source.eq(source))
        .filter(agents::status.eq(Status::Active.as_str()))
        .count()
        .get_result(conn)?;
    Ok((
        usize::try_from(live).unwrap_or(0),
        usize::try_from(active).unwrap_or(0),
    ))
}

/// What a sync run compares with its source: the live agents [`by_source`] would return, as
/// [`SourcedAgent`]s (only the columns and values a source manages, read as a stream: no
/// full rows held on the way).
pub fn sourced_by(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<SourcedAgent>> {
    // One snapshot for the agents and their values: a read transaction (on PostgreSQL at
    // REPEATABLE READ, where each statement would otherwise see its own).
    use diesel::connection::TransactionManager;
    let nested = <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some();
    conn.transaction(|conn| {
        if !nested && let DbConn::Pg(_) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(conn)?;
        }
        sourced_by_in(conn, source)
    })
}

fn sourced_by_in(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<SourcedAgent>> {
    use super::query::LiveAgent;
    use diesel::connection::DefaultLoadingMode;
    let mut rows_q = agents::table.filter(LiveAgent).into_boxed::<super::Db>();
    let mut count_q = agents::table.filter(LiveAgent).into_boxed::<super::Db>();
    let mut values_q = agent_values::table
        .inner_join(agents::table.on(agents::id.eq(agent_values::agent_id)))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .filter(agent_values::attr.eq_any([EMAILS, PHONES, SKILL_GROUPS]))
        .into_boxed::<super::Db>();
    rows_q = rows_q.filter(owned_by(source));
    count_q = count_q.filter(owned_by(source));
    values_q = values_q.filter(owned_by(source));
    let count: i64 = count_q.count().get_result(conn)?;
    let mut out: Vec<SourcedAgent> = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    type Columns = (
        String,
        Option<String>,
        i64,
        String,
        Option<chrono::NaiveDateTime>,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        bool,
    );
    // Both queries list agents in the same order, so values are matched to their agent
    // by walking the two lists side by side.
    let rows = rows_q
        .order((agents::source, agents::source_key, agents::id))
        .select((
            agents::id,
            agents::source_key,
            agents::version,
            agents::status,
            agents::disabled_at,
            agents::disabled_reason,
            agents::role,
            agents::user_name,
            agents::given_name,
            agents::family_name,
            agents::display_name,
            agents::nickname,
            agents::title,
            agents::employee_number,
            agents::department,
            agents::manager_id,
            agents::email,
            agents::phone,
            agents::emails_inline,
            agents::phones_inline,
        ))
        .load_iter::<Columns, DefaultLoadingMode>(conn)?;
    for row in rows {
        let (
            id,
            key,
            version,
            status,
            disabled_at,
            disabled_reason,
            role,
            user_name,
            given_name,
            family_name,
            display_name,
            nickname,
            title,
            employee_number,
            department,
            manager_id,
            email,
            phone,
            emails_inline,
            phones_inline,
        ) = row?;
        out.push(SourcedAgent {
            id,
            key,
            version,
            status: Status::parse(&status).unwrap_or(Status::Suspended),
            disabled_at,
            disabled_reason,
            role,
            user_name,
            given_name,
            family_name,
            display_name,
            nickname,
            title,
            employee_number,
            department,
            manager_id,
            emails: inline_list(emails_inline, email),
            phones: inline_list(phones_inline, phone),
            skill_groups: Vec::new(),
        });
    }
    let values = values_q
        .select((
            agent_values::agent_id,
            agent_values::attr,
            agent_values::value,
            agent_values::kind,
            agent_values::is_primary,
            agent_values::display,
        ))
        .order((
            agents::source,
            agents::source_key,
            agents::id,
            agent_values::attr,
            agent_values::position,
        ))
        .load_iter::<(String, String, String, Option<String>, bool, Option<String>), DefaultLoadingMode>(
            conn,
        )?;
    // One agent's values at a time (the rows come grouped by agent).
    type Pending = (String, Vec<MultiValue>, Vec<MultiValue>, Vec<String>);
    let mut current: Option<Pending> = None;
    // Where the walk through `out` is.
    let mut at = 0;
    let mut flush = |out: &mut Vec<SourcedAgent>, done: Option<Pending>| {
        let Some((id, emails, phones, skills)) = done else {
            return;
        };
        let Some(found) = out[at..].iter().position(|a| a.id == id) else {
            // Not among the rows (read in the same transaction, so this does not happen).
            return;
        };
        at += found;
        let agent = &mut out[at];
        // Rows make the whole list; an inline list has none.
        if !emails.is_empty() {
            agent.emails = SyncedValues::of(emails);
        }
        if !phones.is_empty() {
            agent.phones = SyncedValues::of(phones);
        }
        agent.skill_groups = skills;
    };
    for v in values {
        let (agent_id, attr, value, kind, primary, display) = v?;
        if current.as_ref().is_none_or(|c| c.0 != agent_id) {
            flush(&mut out, current.take());
            current = Some((agent_id, Vec::new(), Vec::new(), Vec::new()));
        }
        let Some((_, emails, phones, skills)) = current.as_mut() else {
            continue;
        };
        let mv = || MultiValue {
            value,
            kind,
            primary,
            display,
        };
        match attr.as_str() {
            EMAILS => emails.push(mv()),
            PHONES => phones.push(mv()),
            SKILL_GROUPS => skills.push(mv().value),
            _ => {}
        }
    }
    flush(&mut out, current.take());
    Ok(out)
}

/// The condition on `agents` that `filter` stands for, usable in any query that has the
/// `agents` table in its FROM clause.
fn owned_by<'a, QS: 'a>(
    filter: SourceFilter<'a>,
) -> Box<dyn BoxableExpression<QS, super::Db, SqlType = diesel::sql_types::Bool> + 'a>
where
    agents::source: SelectableExpression<QS>,
    agents::id: SelectableExpression<QS>,
    diesel::dsl::AssumeNotNull<agents::source_key>: SelectableExpression<QS>,
{
    match filter {
        SourceFilter::Is(s) => Box::new(agents::source.eq(s.to_owned())),
        SourceFilter::NotLike(prefixes) => {
            let mut cond: Box<dyn BoxableExpression<QS, super::Db, SqlType = _> + 'a> =
                Box::new(agents::source.is_not_null());
            for p in prefixes {
                cond = Box::new(cond.and(agents::source.not_like(format!("{p}%"))));
            }
            cond
        }
        SourceFilter::Keys(s, keys) => Box::new(
            agents::source
                .eq(s.to_owned())
                .and(agents::source_key.assume_not_null().eq_any(keys.to_vec())),
        ),
        SourceFilter::Ids(s, ids) => Box::new(
            agents::source
                .eq(s.to_owned())
                .and(agents::id.eq_any(ids.to_vec())),
        ),
    }
}

/// The live agents `source` selects, as a full run first needs them (see [`OwnedAgent`]):
/// one narrow query, no values.
pub fn owned_agents(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<OwnedAgent>> {
    use super::query::LiveAgent;
    use diesel::connection::DefaultLoadingMode;
    type Columns = (
        String,
        Option<String>,
        i64,
        String,
        Option<chrono::NaiveDateTime>,
        Option<String>,
        String,
        Option<String>,
        Option<i64>,
    );
    let rows = agents::table
        .filter(LiveAgent)
        .filter(owned_by(source))
        .select((
            agents::id,
            agents::source_key,
            agents::version,
            agents::status,
            agents::disabled_at,
            agents::disabled_reason,
            agents::user_name,
            agents::sync_digest,
            agents::sync_version,
        ))
        .load_iter::<Columns, DefaultLoadingMode>(conn)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, key, version, status, disabled_at, disabled_reason, user_name, digest, at) = row?;
        out.push(OwnedAgent {
            id,
            key,
            version,
            status: Status::parse(&status).unwrap_or(Status::Suspended),
            disabled_at,
            disabled_reason,
            user_name,
            digest: digest.filter(|_| at == Some(version)),
        });
    }
    Ok(out)
}

/// Records that the owning source wrote or confirmed `digest` for each agent, at the version
/// it has now; an agent changed since (another version) keeps its old record.
pub fn stamp(conn: &mut DbConn, stamps: &[(&str, &str, i64)]) -> QueryResult<()> {
    for (id, digest, version) in stamps {
        diesel::update(agents::table)
            .filter(agents::id.eq(id))
            .filter(agents::version.eq(version))
            .set((
                agents::sync_digest.eq(digest),
                agents::sync_version.eq(version),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Which agents [`by_source`] loads.
#[derive(Debug, Clone, Copy)]
pub enum SourceFilter<'a> {
    Is(&'a str),
    NotLike(&'a [&'a str]),
    /// Owned by this source, with one of these keys (at most a few hundred: one `IN` list).
    Keys(&'a str, &'a [String]),
    /// Owned by this source, with one of these ids (at most a few hundred).
    Ids(&'a str, &'a [String]),
}
