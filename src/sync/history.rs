//! Reading recorded runs back: a source's runs newest first, a page at a time (keyset on
//! the run id), one run with its plan, the last run of each source.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::DbConn;
use crate::store::schema::sync_runs;

/// A recorded run without its plan.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sync_runs)]
pub struct RunSummary {
    pub id: i64,
    pub source: String,
    /// `full`, `incremental` or `dry_run`.
    pub mode: String,
    /// `running`, `ok`, `partial`, `refused` or `failed`.
    pub status: String,
    pub forced: bool,
    /// `schedule`, `cli`, `watch` or `api`.
    pub trigger: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub records: i32,
    pub created: i32,
    pub updated: i32,
    pub disabled: i32,
    pub enabled: i32,
    pub deleted: i32,
    pub linked: i32,
    pub error: Option<String>,
}

/// Runs of `source` with an id below `before` (all when `None`), newest first, at most
/// `limit`; and the id the next page starts below, when more follow.
pub fn runs(
    conn: &mut DbConn,
    source: &str,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<RunSummary>, Option<i64>)> {
    let limit = limit.max(1);
    let mut q = sync_runs::table
        .filter(sync_runs::source.eq(source))
        .into_boxed::<crate::store::Db>();
    if let Some(b) = before {
        q = q.filter(sync_runs::id.lt(b));
    }
    let rows: Vec<RunSummary> = q
        .order(sync_runs::id.desc())
        .limit(limit + 1)
        .select(RunSummary::as_select())
        .load(conn)?;
    Ok(crate::store::newest_first_page(rows, limit, |r| r.id))
}

/// Run `id` of `source`, with its plan (JSON text) when one was kept: dry and refused runs.
pub fn run(
    conn: &mut DbConn,
    source: &str,
    id: i64,
) -> QueryResult<Option<(RunSummary, Option<String>)>> {
    sync_runs::table
        .filter(sync_runs::source.eq(source))
        .filter(sync_runs::id.eq(id))
        .select((RunSummary::as_select(), sync_runs::plan))
        .first(conn)
        .optional()
}

/// The latest run of `source`, dry runs included.
pub fn last(conn: &mut DbConn, source: &str) -> QueryResult<Option<RunSummary>> {
    Ok(runs(conn, source, None, 1)?.0.pop())
}
