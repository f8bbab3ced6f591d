//! The admin agent list: filters, text search over the folded search column, five sort
//! orders and keyset pagination, each page costing the same however many agents there are.
//!
//! How a page is found (docs/architecture.md, "The admin list"):
//! - no search and no filter: the sort order's index from the cursor's position on;
//! - otherwise the sort order is walked from the cursor, checking each agent, for
//!   [`GLANCE`] agents: a term or filter that many agents match fills the page there;
//! - if not, a search term of three characters or more that few agents match (fewer than
//!   [`FEW`] by the trigram index: FTS5 on SQLite, GIN over `rollcall_trigrams` on
//!   PostgreSQL) is answered from those agents, checked by `LIKE`, filtered and sorted;
//! - else (a term of one or two characters, a term or filter of middling frequency) the
//!   walk goes on for at most [`BUDGET`] agents; the page may then hold fewer agents than
//!   asked for, with a cursor to go on from.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::Agent;
use crate::domain::names::fold;
use crate::store::models::AgentRow;
use crate::store::schema::agents;
use crate::store::{DbConn, search};

/// A search term matched by fewer agents than this (by the trigram index) is answered from
/// those agents; a more common one by walking the sort order.
pub const FEW: i64 = 1000;
/// Most agents a page examines in the sort order when a filter or a term has to be checked
/// agent by agent.
pub const BUDGET: i64 = 5_000;
/// Agents examined first, before the search index is asked: a term or filter that many
/// agents match fills the page within them.
pub const GLANCE: i64 = 1_000;
/// Longest search term, in characters.
pub const MAX_TERM: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Sort {
    UserName,
    DisplayName,
    Created,
    Updated,
    AgentNumber,
}

impl Sort {
    pub const ALL: [(&'static str, Sort); 5] = [
        ("userName", Sort::UserName),
        ("displayName", Sort::DisplayName),
        ("created", Sort::Created),
        ("updated", Sort::Updated),
        ("agentNumber", Sort::AgentNumber),
    ];

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, sort)| *sort)
    }

    /// The SQL the rows are ordered by (the expression its index is on).
    fn expr(self, t: &str) -> String {
        match self {
            Sort::UserName => format!("{t}.user_name_key"),
            Sort::DisplayName => format!("{t}.sort_name"),
            Sort::Created => format!("{t}.created_at"),
            Sort::Updated => format!("{t}.updated_at"),
            Sort::AgentNumber => format!("coalesce({t}.employee_number, '')"),
        }
    }

    fn key(self, row: &AgentRow) -> Key {
        match self {
            Sort::UserName => Key::Text(row.user_name_key.clone().unwrap_or_default()),
            Sort::DisplayName => Key::Text(search::sort_name(row)),
            Sort::Created => Key::Time(row.created_at.and_utc().timestamp_micros()),
            Sort::Updated => Key::Time(row.updated_at.and_utc().timestamp_micros()),
            Sort::AgentNumber => Key::Text(row.employee_number.clone().unwrap_or_default()),
        }
    }
}

/// A row's value in the sort order (times in microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Key {
    Text(String),
    Time(i64),
}

/// A keyset position: the last row a page covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub key: Key,
    pub id: String,
}

/// What to list. Filters compare exactly (status, role, department, skill group, channel);
/// `source` matches the source or every source of that kind (`ldap` matches `ldap:corp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    pub status: Option<String>,
    pub role: Option<String>,
    pub department: Option<String>,
    pub skill_group: Option<String>,
    pub channel: Option<String>,
    pub source: Option<String>,
    /// The search term as typed; folded here.
    pub q: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AdminQuery {
    pub filters: Filters,
    pub sort: Sort,
    pub descending: bool,
    pub after: Option<After>,
    pub limit: i64,
}

pub struct AdminPage {
    pub items: Vec<Agent>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<After>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminListError {
    /// A parameter the client sent is not acceptable.
    #[error("{param}: {message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// The statuses an agent in the list can have.
pub const STATUSES: [&str; 3] = ["pending", "active", "suspended"];

/// The folded search term, or why it is refused.
pub fn term(q: &str) -> Result<Option<String>, AdminListError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(None);
    }
    if q.chars().any(char::is_control) {
        return Err(AdminListError::Invalid {
            param: "q",
            message: "the search term contains a control character".into(),
        });
    }
    if q.chars().count() > MAX_TERM {
        return Err(AdminListError::Invalid {
            param: "q",
            message: format!("the search term is longer than {MAX_TERM} characters"),
        });
    }
    Ok(Some(fold(q)))
}

/// `s` with `LIKE`'s wildcards escaped (`\` escapes).
fn escape_like(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p
}

/// `LIKE` pattern matching `term` anywhere.
fn contains_pattern(term: &str) -> String {
    format!("%{}%", escape_like(term))
}

enum Param {
    Text(String),
    Time(NaiveDateTime),
    Int(i64),
}

/// SQL text and its parameters, with the backend's placeholders.
struct Sql {
    pg: bool,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn new(pg: bool) -> Sql {
        Sql {
            pg,
            text: String::new(),
            params: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        if self.pg {
            let n = self.params.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.bind(Param::Text(s.to_owned()))
    }

    fn key(&mut self, k: &Key) -> &mut Self {
        match k {
            Key::Text(s) => self.bind(Param::Text(s.clone())),
            Key::Time(m) => self.bind(Param::Time(
                DateTime::from_timestamp_micros(*m)
                    .unwrap_or_default()
                    .naive_utc(),
            )),
        }
    }
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

macro_rules! run {
    ($conn:expr, $sql:expr, $ty:ty, $backend:ty) => {{
        let mut q = diesel::sql_query($sql.text.clone()).into_boxed::<$backend>();
        for p in &$sql.params {
            q = match p {
                Param::Text(s) => q.bind::<Text, _>(s.clone()),
                Param::Time(t) => q.bind::<Timestamp, _>(*t),
                Param::Int(i) => q.bind::<BigInt, _>(*i),
            };
        }
        q.load::<$ty>($conn)
    }};
}

fn ids(conn: &mut DbConn, sql: &Sql) -> QueryResult<Vec<String>> {
    let hits = match conn {
        DbConn::Sqlite(c) => run!(c, sql, Hit, diesel::sqlite::Sqlite)?,
        DbConn::Pg(c) => run!(c, sql, Hit, diesel::pg::Pg)?,
    };
    Ok(hits.into_iter().map(|h| h.id).collect())
}

fn count(conn: &mut DbConn, sql: &Sql) -> QueryResult<i64> {
    let rows = match conn {
        DbConn::Sqlite(c) => run!(c, sql, Count, diesel::sqlite::Sqlite)?,
        DbConn::Pg(c) => run!(c, sql, Count, diesel::pg::Pg)?,
    };
    Ok(rows.first().map_or(0, |c| c.n))
}

/// `K > key OR (K = key AND id > id)` (or `<` descending), written so that the index range
/// serves it.
fn keyset(sql: &mut Sql, q: &AdminQuery, t: &str, after: &After, inclusive_upto: bool) {
    let k = q.sort.expr(t);
    // Past the position (`after`), or up to and including it (the walk's bound).
    let forward = q.descending == inclusive_upto;
    let (wide, strict, id_cmp) = match (forward, inclusive_upto) {
        (true, false) => (">=", ">", ">"),
        (false, false) => ("<=", "<", "<"),
        (true, true) => (">=", ">", ">="),
        (false, true) => ("<=", "<", "<="),
    };
    sql.push(&format!(" AND {k} {wide} "))
        .key(&after.key)
        .push(&format!(" AND ({k} {strict} "))
        .key(&after.key)
        .push(&format!(" OR {t}.id {id_cmp} "))
        .text(&after.id)
        .push(")");
}

/// The filters (and the term's `LIKE`) on alias `t`.
fn filters(sql: &mut Sql, f: &Filters, term: Option<&str>, t: &str) {
    for (col, v) in [
        ("status", &f.status),
        ("role", &f.role),
        ("department", &f.department),
    ] {
        if let Some(v) = v {
            sql.push(&format!(" AND {t}.{col} = ")).text(v);
        }
    }
    if let Some(src) = &f.source {
        sql.push(&format!(" AND ({t}.source = "))
            .text(src)
            .push(&format!(" OR {t}.source LIKE "))
            .text(&format!("{}:%", escape_like(src)))
            .push(" ESCAPE '\\')");
    }
    for (attr, v) in [
        (crate::store::agents::SKILL_GROUPS, &f.skill_group),
        (crate::store::agents::CHANNELS, &f.channel),
    ] {
        if let Some(v) = v {
            sql.push(&format!(
                " AND EXISTS (SELECT 1 FROM agent_values v WHERE v.agent_id = {t}.id \
                 AND v.attr = '{attr}' AND v.value = "
            ))
            .text(v)
            .push(")");
        }
    }
    if let Some(term) = term {
        sql.push(&format!(" AND {t}.search_text LIKE "))
            .text(&contains_pattern(term))
            .push(" ESCAPE '\\'");
    }
}

fn order(q: &AdminQuery, t: &str) -> String {
    let dir = if q.descending { "DESC" } else { "ASC" };
    format!(" ORDER BY {} {dir}, {t}.id {dir}", q.sort.expr(t))
}

/// The trigram index's condition for `term` (three characters or more) on alias `t`.
fn indexed(sql: &mut Sql, term: &str, t: &str) {
    if sql.pg {
        sql.push(&format!(
            " AND rollcall_trigrams({t}.search_text) @> ARRAY["
        ));
        for (i, g) in search::trigrams(term).iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(g);
        }
        sql.push("]::text[]");
    } else {
        sql.push(&format!(
            " AND {t}.rowid IN (SELECT rowid FROM agent_search WHERE agent_search MATCH "
        ))
        .text(&format!("\"{}\"", term.replace('"', "\"\"")))
        .push(")");
    }
}

/// How many live agents the trigram index offers for `term`, counting up to [`FEW`].
fn candidates(conn: &mut DbConn, term: &str) -> QueryResult<i64> {
    let mut sql = Sql::new(matches!(conn, DbConn::Pg(_)));
    sql.push("SELECT count(*) AS n FROM (SELECT t.id FROM agents t WHERE t.status <> 'deleted'");
    indexed(&mut sql, term, "t");
    sql.push(" LIMIT ").bind(Param::Int(FEW)).push(") s");
    count(conn, &sql)
}

/// One page of the admin list.
pub fn list(conn: &mut DbConn, q: &AdminQuery) -> Result<AdminPage, AdminListError> {
    let term = match &q.filters.q {
        Some(raw) => term(raw)?,
        None => None,
    };
    if let Some(s) = &q.filters.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(AdminListError::Invalid {
            param: "status",
            message: format!("must be one of {}", STATUSES.join(", ")),
        });
    }
    let limit = q.limit.clamp(1, 500);
    let filtered = term.is_some()
        || [
            &q.filters.status,
            &q.filters.role,
            &q.filters.department,
            &q.filters.skill_group,
            &q.filters.channel,
            &q.filters.source,
        ]
        .iter()
        .any(|f| f.is_some());
    let term = term.as_deref();
    let (found, bound) = if !filtered {
        walk(conn, q, None, limit, None)?
    } else {
        // A short walk first: a common term or filter fills the page within it.
        let (found, bound) = walk(conn, q, term, limit, Some(GLANCE))?;
        if found.len() as i64 > limit || bound.is_none() {
            (found, bound)
        } else if let Some(t) = term.filter(|t| t.chars().count() >= 3)
            && candidates(conn, t)? < FEW
        {
            (few(conn, q, t, limit)?, None)
        } else {
            walk(conn, q, term, limit, Some(BUDGET))?
        }
    };
    let mut rows = load_rows(conn, &found)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.last().map(|r| After {
            key: q.sort.key(r),
            id: r.id.clone(),
        })
    } else {
        bound
    };
    let items = crate::store::agents::with_values(conn, rows)?;
    Ok(AdminPage { items, next })
}

/// The page from the few agents the trigram index offers for `term`: checked by `LIKE`,
/// filtered and sorted (materialised, so that no planner walks the sort order instead).
fn few(conn: &mut DbConn, q: &AdminQuery, term: &str, limit: i64) -> QueryResult<Vec<String>> {
    let mut sql = Sql::new(matches!(conn, DbConn::Pg(_)));
    sql.push(&format!(
        "WITH c AS MATERIALIZED (SELECT t.id AS id, {} AS k FROM agents t \
         WHERE t.status <> 'deleted'",
        q.sort.expr("t")
    ));
    indexed(&mut sql, term, "t");
    filters(&mut sql, &q.filters, Some(term), "t");
    if let Some(a) = &q.after {
        keyset(&mut sql, q, "t", a, false);
    }
    let dir = if q.descending { "DESC" } else { "ASC" };
    sql.push(&format!(
        ") SELECT c.id AS id FROM c ORDER BY c.k {dir}, c.id {dir} LIMIT "
    ))
    .bind(Param::Int(limit + 1));
    ids(conn, &sql)
}

/// The page found by walking the sort order from the cursor, checking each agent, examining
/// at most `budget` agents (none: no bound); returns the ids and the last agent examined
/// when the budget ended the walk.
fn walk(
    conn: &mut DbConn,
    q: &AdminQuery,
    term: Option<&str>,
    limit: i64,
    budget: Option<i64>,
) -> Result<(Vec<String>, Option<After>), AdminListError> {
    let bound = match budget {
        Some(b) => walk_bound(conn, q, b)?,
        None => None,
    };
    let mut sql = Sql::new(matches!(conn, DbConn::Pg(_)));
    sql.push("SELECT t.id AS id FROM agents t WHERE t.status <> 'deleted'");
    if let Some(a) = &q.after {
        keyset(&mut sql, q, "t", a, false);
    }
    if let Some(b) = &bound {
        keyset(&mut sql, q, "t", b, true);
    }
    filters(&mut sql, &q.filters, term, "t");
    sql.push(&order(q, "t"))
        .push(" LIMIT ")
        .bind(Param::Int(limit + 1));
    Ok((ids(conn, &sql)?, bound))
}

/// The last agent a walk may examine: `budget` agents on from the cursor in the sort order
/// (an index-only read), or `None` when fewer remain.
fn walk_bound(
    conn: &mut DbConn,
    q: &AdminQuery,
    budget: i64,
) -> Result<Option<After>, AdminListError> {
    let mut sql = Sql::new(matches!(conn, DbConn::Pg(_)));
    sql.push("SELECT t.id AS id FROM agents t WHERE t.status <> 'deleted'");
    if let Some(a) = &q.after {
        keyset(&mut sql, q, "t", a, false);
    }
    sql.push(&order(q, "t"))
        .push(" LIMIT 1 OFFSET ")
        .bind(Param::Int(budget - 1));
    let found = ids(conn, &sql)?;
    Ok(load_rows(conn, &found)?.first().map(|r| After {
        key: q.sort.key(r),
        id: r.id.clone(),
    }))
}

/// The rows of `ids`, in that order.
fn load_rows(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<AgentRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<AgentRow> = agents::table
        .filter(agents::id.eq_any(ids))
        .select(AgentRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_fold_and_refuse() {
        assert_eq!(term("  WANG ").expect("ok"), Some("wang".into()));
        assert_eq!(term("Ｗａｎｇ").expect("ok"), Some("wang".into()));
        assert_eq!(term("王").expect("ok"), Some("王".into()));
        assert_eq!(term("   ").expect("ok"), None);
        assert!(matches!(
            term("a\u{0}b"),
            Err(AdminListError::Invalid { param: "q", .. })
        ));
        assert!(term(&"x".repeat(MAX_TERM + 1)).is_err());
    }

    #[test]
    fn like_patterns_escape() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn sorts_parse() {
        assert_eq!(Sort::parse("DisplayName"), Some(Sort::DisplayName));
        assert_eq!(Sort::parse("agentNumber"), Some(Sort::AgentNumber));
        assert_eq!(Sort::parse("salary"), None);
    }

    #[test]
    fn placeholders_per_backend() {
        let q = AdminQuery {
            filters: Filters::default(),
            sort: Sort::UserName,
            descending: true,
            after: None,
            limit: 5,
        };
        let after = After {
            key: Key::Text("m".into()),
            id: "i".into(),
        };
        let mut pg = Sql::new(true);
        keyset(&mut pg, &q, "t", &after, false);
        assert_eq!(
            pg.text,
            " AND t.user_name_key <= $1 AND (t.user_name_key < $2 OR t.id < $3)"
        );
        let mut lite = Sql::new(false);
        keyset(&mut lite, &q, "t", &after, true);
        assert_eq!(
            lite.text,
            " AND t.user_name_key >= ? AND (t.user_name_key > ? OR t.id >= ?)"
        );
    }
}
