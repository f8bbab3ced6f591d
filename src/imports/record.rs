//! The `imports` table: one record per import — who, which file, its status
//! (`validating | applying | done | failed`), mode, counts, the report (JSON) and, when rows
//! were refused, the report as CSV.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{Mode, Options, Report};
use crate::store::DbConn;
use crate::store::schema::imports;

/// An import as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = imports)]
pub struct ImportRecord {
    pub id: String,
    pub actor: String,
    pub file_name: String,
    pub status: String,
    pub mode: String,
    pub dry_run: bool,
    pub row_count: i32,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub errors: i32,
    pub report: Option<String>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

/// Records a new import (status `validating`) and returns its id.
pub fn begin(
    conn: &mut DbConn,
    actor: &str,
    file_name: &str,
    opts: Options,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(imports::table)
        .values((
            imports::id.eq(&id),
            imports::actor.eq(actor),
            imports::file_name.eq(file_name),
            imports::status.eq("validating"),
            imports::mode.eq(opts.mode.as_str()),
            imports::dry_run.eq(opts.dry_run),
            imports::row_count.eq(0),
            imports::created.eq(0),
            imports::updated.eq(0),
            imports::unchanged.eq(0),
            imports::errors.eq(0),
            imports::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn set_status(conn: &mut DbConn, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(imports::table.find(id))
        .set(imports::status.eq(status))
        .execute(conn)
        .map(drop)
}

/// Records the result; `csv` is the report as CSV (kept when rows were refused).
pub fn finish(
    conn: &mut DbConn,
    report: &Report,
    csv: Option<&[u8]>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let s = &report.summary;
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let json = serde_json::to_string(report).unwrap_or_default();
    diesel::update(imports::table.find(&report.id))
        .set((
            imports::status.eq(&report.status),
            imports::row_count.eq(count(s.rows)),
            imports::created.eq(count(s.created)),
            imports::updated.eq(count(s.updated)),
            imports::unchanged.eq(count(s.unchanged)),
            imports::errors.eq(count(s.errors)),
            imports::report.eq(json),
            imports::report_csv.eq(csv.map(|b| String::from_utf8_lossy(b).into_owned())),
            imports::error.eq(&report.error),
            imports::finished_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Marks an import failed (an internal error; `error` is what a client may see).
pub fn fail(conn: &mut DbConn, id: &str, error: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(imports::table.find(id))
        .set((
            imports::status.eq("failed"),
            imports::error.eq(error),
            imports::finished_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// An import by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<ImportRecord>> {
    if id.contains('\0') {
        return Ok(None);
    }
    imports::table
        .find(id)
        .select(ImportRecord::as_select())
        .first(conn)
        .optional()
}

/// The report CSV of an import whose rows were refused.
pub fn report_csv(conn: &mut DbConn, id: &str) -> QueryResult<Option<String>> {
    if id.contains('\0') {
        return Ok(None);
    }
    Ok(imports::table
        .find(id)
        .select(imports::report_csv)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

impl ImportRecord {
    pub fn mode(&self) -> Mode {
        if self.mode == Mode::ValidOnly.as_str() {
            Mode::ValidOnly
        } else {
            Mode::AllOrNothing
        }
    }
}
