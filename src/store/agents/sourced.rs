//! The agent queries a sync run makes: the agents a source owns (full, narrow or as the
//! source sees them), their counts, and the record of what the source last wrote.

use diesel::prelude::*;

use super::{EMAILS, PHONES, SKILL_GROUPS, to_agent};
use crate::domain::{Agent, MultiValue, OwnedAgent, SourcedAgent, Status, SyncedValues};
use crate::fast_hash::{FastMap, FastSet};
use crate::store::models::{AgentRow, AgentValueRow};
use crate::store::schema::{agent_links, agent_values, agents};
use crate::store::{Db, DbConn};

/// What a sync run sees of a list kept inline in the row (`emails_inline`, `phones_inline`)
/// before its value rows, if any, are read.
fn inline_list(inline: bool, value: Option<String>) -> SyncedValues {
    match value {
        Some(v) if inline => SyncedValues::Work(v),
        _ => SyncedValues::Empty,
    }
}

/// Live agents whose `source` is `source` (or, with `others`, owned by no source matching
/// any of the given prefixes), with their source keys. Two queries whatever the count.
pub fn by_source(
    conn: &mut DbConn,
    source: SourceFilter<'_>,
) -> QueryResult<Vec<(Agent, Option<String>)>> {
    use crate::store::query::LiveAgent;
    let mut rows_q = agents::table.filter(LiveAgent).into_boxed::<Db>();
    let mut values_q = agent_values::table
        .inner_join(agents::table.on(agents::id.eq(agent_values::agent_id)))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .into_boxed::<Db>();
    let links = has_links(conn, source)?;
    rows_q = rows_q.filter(owned_by(source, links));
    values_q = values_q.filter(owned_by(source, links));
    let rows: Vec<AgentRow> = rows_q.select(AgentRow::as_select()).load(conn)?;
    let values: Vec<AgentValueRow> = values_q
        .order((
            agent_values::agent_id,
            agent_values::attr,
            agent_values::position,
        ))
        .select(AgentValueRow::as_select())
        .load(conn)?;
    let mut by_agent = super::values_by_agent(values);
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
    let links = has_links(conn, SourceFilter::Is(source))?;
    use crate::store::query::LiveAgent;
    let live: i64 = agents::table
        .filter(LiveAgent)
        .filter(owned_by(SourceFilter::Is(source), links))
        .count()
        .get_result(conn)?;
    let active: i64 = agents::table
        .filter(owned_by(SourceFilter::Is(source), links))
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
    let mut out = sourced_rows(conn, source)?;
    let joined = joined_by(conn, source)?;
    if !joined.is_empty() {
        for a in &mut out {
            if let Some(j) = joined.get(&a.id) {
                a.key = Some(j.key.clone());
            }
        }
    }
    Ok(out)
}

fn sourced_rows(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<SourcedAgent>> {
    use crate::store::query::LiveAgent;
    use diesel::connection::DefaultLoadingMode;
    let mut rows_q = agents::table.filter(LiveAgent).into_boxed::<Db>();
    let mut count_q = agents::table.filter(LiveAgent).into_boxed::<Db>();
    let mut values_q = agent_values::table
        .inner_join(agents::table.on(agents::id.eq(agent_values::agent_id)))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .filter(agent_values::attr.eq_any([EMAILS, PHONES, SKILL_GROUPS]))
        .into_boxed::<Db>();
    let links = has_links(conn, source)?;
    rows_q = rows_q.filter(owned_by(source, links));
    count_q = count_q.filter(owned_by(source, links));
    values_q = values_q.filter(owned_by(source, links));
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
        Option<String>,
        String,
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
            agents::external_id,
            agents::source,
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
            external_id,
            source,
        ) = row?;
        out.push(SourcedAgent {
            external_id,
            source,
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

/// Whether the source `filter` names has joined any agent (`agent_links`): when not, its
/// queries need not look there.
fn has_links(conn: &mut DbConn, filter: SourceFilter<'_>) -> QueryResult<bool> {
    let s = match filter {
        SourceFilter::Is(s)
        | SourceFilter::Candidates(s)
        | SourceFilter::Keys(s, _)
        | SourceFilter::Ids(s, _) => s,
    };
    diesel::select(diesel::dsl::exists(
        agent_links::table.filter(agent_links::source.eq(s)),
    ))
    .get_result(conn)
}

/// The condition on `agents` that `filter` stands for, usable in any query that has the
/// `agents` table in its FROM clause. A source's agents are those it created or took over
/// (`agents.source`) and, when it has `links`, those it joined (`agent_links`).
fn owned_by<'a, QS: 'a>(
    filter: SourceFilter<'a>,
    links: bool,
) -> Box<dyn BoxableExpression<QS, Db, SqlType = diesel::sql_types::Bool> + 'a>
where
    agents::source: SelectableExpression<QS>,
    agents::id: SelectableExpression<QS>,
    diesel::dsl::AssumeNotNull<agents::source_key>: SelectableExpression<QS>,
{
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    // `agents.id` among the agents `s` joined: raw SQL, because a subquery does not box
    // for any FROM clause.
    let joined = |s: &str| {
        sql::<Bool>("agents.id IN (SELECT agent_id FROM agent_links WHERE source = ")
            .bind::<Text, _>(s.to_owned())
            .sql(")")
    };
    match filter {
        SourceFilter::Is(s) if links => Box::new(agents::source.eq(s.to_owned()).or(joined(s))),
        SourceFilter::Is(s) => Box::new(agents::source.eq(s.to_owned())),
        SourceFilter::Candidates(s) if links => Box::new(
            agents::source
                .ne(s.to_owned())
                .and(diesel::dsl::not(joined(s))),
        ),
        SourceFilter::Candidates(s) => Box::new(agents::source.ne(s.to_owned())),
        // The agents it made only: `owned_agents` adds those it joined.
        SourceFilter::Keys(s, keys) => Box::new(
            agents::source
                .eq(s.to_owned())
                .and(agents::source_key.assume_not_null().eq_any(keys.to_vec())),
        ),
        SourceFilter::Ids(s, ids) if links => Box::new(
            agents::source
                .eq(s.to_owned())
                .or(joined(s))
                .and(agents::id.eq_any(ids.to_vec())),
        ),
        SourceFilter::Ids(s, ids) => Box::new(
            agents::source
                .eq(s.to_owned())
                .and(agents::id.eq_any(ids.to_vec())),
        ),
    }
}

/// The keys and records of what it wrote of the agents a source joined (`agent_links`)
/// among those `filter` selects, by agent id: what a run reads in place of the agent's own `source_key` and `sync_digest`.
pub fn joined_by(
    conn: &mut DbConn,
    filter: SourceFilter<'_>,
) -> QueryResult<FastMap<String, Joined>> {
    let mut q = agent_links::table.into_boxed::<Db>();
    match filter {
        SourceFilter::Is(s) => q = q.filter(agent_links::source.eq(s.to_owned())),
        SourceFilter::Ids(s, ids) => {
            q = q
                .filter(agent_links::source.eq(s.to_owned()))
                .filter(agent_links::agent_id.eq_any(ids.to_vec()));
        }
        // A filter that selects no joined agents.
        SourceFilter::Keys(..) | SourceFilter::Candidates(_) => return Ok(FastMap::default()),
    }
    let rows: Vec<(String, String, Option<String>, Option<i64>)> = q
        .select((
            agent_links::agent_id,
            agent_links::source_key,
            agent_links::sync_digest,
            agent_links::sync_version,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, key, digest, version)| {
            (
                id,
                Joined {
                    key,
                    digest,
                    version,
                },
            )
        })
        .collect())
}

/// Of the agents `filter` selects that the source made, those another source joined.
fn shared_ids(conn: &mut DbConn, filter: SourceFilter<'_>) -> QueryResult<FastSet<String>> {
    let mut q = agent_links::table
        .inner_join(agents::table)
        .select(agent_links::agent_id)
        .into_boxed::<Db>();
    match filter {
        SourceFilter::Is(s) => q = q.filter(agents::source.eq(s.to_owned())),
        SourceFilter::Keys(s, keys) => {
            q = q
                .filter(agents::source.eq(s.to_owned()))
                .filter(agents::source_key.eq_any(keys.to_vec()));
        }
        SourceFilter::Ids(s, ids) => {
            q = q
                .filter(agents::source.eq(s.to_owned()))
                .filter(agents::id.eq_any(ids.to_vec()));
        }
        SourceFilter::Candidates(_) => return Ok(FastSet::default()),
    }
    Ok(q.load::<String>(conn)?.into_iter().collect())
}

/// A source's link to an agent it joined.
#[derive(Debug, Clone)]
pub struct Joined {
    pub key: String,
    pub digest: Option<String>,
    pub version: Option<i64>,
}

/// The live agents `source` selects, as a full run first needs them (see [`OwnedAgent`]):
/// one narrow query, no values.
pub fn owned_agents(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<OwnedAgent>> {
    let mut out = owned_rows(conn, source)?;
    if let SourceFilter::Keys(s, keys) = source {
        // Those it joined under these keys.
        let ids: Vec<String> = agent_links::table
            .filter(agent_links::source.eq(s))
            .filter(agent_links::source_key.eq_any(keys))
            .select(agent_links::agent_id)
            .load(conn)?;
        if !ids.is_empty() {
            out.extend(owned_rows(conn, SourceFilter::Ids(s, &ids))?);
        }
    }
    Ok(out)
}

fn owned_rows(conn: &mut DbConn, source: SourceFilter<'_>) -> QueryResult<Vec<OwnedAgent>> {
    let links = has_links(conn, source)?;
    let joined = joined_by(conn, source)?;
    use crate::store::query::LiveAgent;
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
        .filter(owned_by(source, links))
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
            joined: false,
            shared: false,
            offered: digest.clone(),
            digest: digest.filter(|_| at == Some(version)),
        });
    }
    let shared = shared_ids(conn, source)?;
    if !joined.is_empty() || !shared.is_empty() {
        for o in &mut out {
            o.shared = shared.contains(&o.id);
            if let Some(j) = joined.get(&o.id) {
                o.key = Some(j.key.clone());
                o.joined = true;
                o.shared = true;
                o.offered = j.digest.clone();
                o.digest = j.digest.clone().filter(|_| j.version == Some(o.version));
            }
        }
    }
    Ok(out)
}

/// Records that `source` wrote or confirmed `digest` for each agent, at the version it has
/// now; an agent changed since (another version) keeps its old record. For an agent the
/// source joined, the record is kept with the link.
pub fn stamp(conn: &mut DbConn, source: &str, stamps: &[(&str, &str, i64)]) -> QueryResult<()> {
    for (id, digest, version) in stamps {
        let n = diesel::update(agents::table)
            .filter(agents::id.eq(id))
            .filter(agents::source.eq(source))
            .filter(agents::version.eq(version))
            .set((
                agents::sync_digest.eq(digest),
                agents::sync_version.eq(version),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::update(agent_links::table)
                .filter(agent_links::source.eq(source))
                .filter(agent_links::agent_id.eq(id))
                .set((
                    agent_links::sync_digest.eq(digest),
                    agent_links::sync_version.eq(version),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Which agents [`by_source`] loads.
#[derive(Debug, Clone, Copy)]
pub enum SourceFilter<'a> {
    /// Created, taken over or joined by this source.
    Is(&'a str),
    /// Live agents this source could link to: not its own, not joined by it.
    Candidates(&'a str),
    /// Owned by this source, with one of these keys (at most a few hundred: one `IN` list).
    Keys(&'a str, &'a [String]),
    /// Owned by this source, with one of these ids (at most a few hundred).
    Ids(&'a str, &'a [String]),
}

/// A sync source that joined an agent (`agent_links`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentLink {
    pub source: String,
    pub source_key: String,
    pub linked_by: String,
    pub linked_at: chrono::NaiveDateTime,
}

/// The sync sources that joined agent `id`, besides its own.
pub fn links_of(conn: &mut DbConn, id: &str) -> QueryResult<Vec<AgentLink>> {
    let rows: Vec<(String, String, String, chrono::NaiveDateTime)> = agent_links::table
        .filter(agent_links::agent_id.eq(id))
        .order(agent_links::source)
        .select((
            agent_links::source,
            agent_links::source_key,
            agent_links::linked_by,
            agent_links::linked_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(source, source_key, linked_by, linked_at)| AgentLink {
            source,
            source_key,
            linked_by,
            linked_at,
        })
        .collect())
}
