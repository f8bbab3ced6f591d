//! Bulk import of agents from a spreadsheet (CSV or xlsx): read, check every row, then
//! write through the gateway — all or nothing, or the valid rows only — and report each
//! problem by line and column. Used by `rollcall import` and `POST /api/v1/imports`.

mod apply;
pub mod cli;
pub mod columns;
mod existing;
pub mod fields;
mod plan;
mod profile;
pub mod read;
pub mod record;
mod report;

use serde::{Deserialize, Serialize};

pub use columns::template;
pub use report::report_csv;

use crate::accounts::{Accounts, known_roles};
use crate::store::DbConn;

/// What happens to valid rows when some rows are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Any refused row: nothing is written (the default).
    AllOrNothing,
    /// The valid rows are written, the refused ones reported.
    ValidOnly,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::AllOrNothing => "all_or_nothing",
            Mode::ValidOnly => "valid_only",
        }
    }
}

/// How an import runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// Check and report what would be created, updated or unchanged; write nothing.
    pub dry_run: bool,
}

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Create,
    Update,
    Unchanged,
    Refused,
}

/// A problem with a row (or the header line): the file's line (CSV: physical line, counting
/// line breaks inside quoted cells; xlsx: the sheet's row number), the column's header as
/// the file spells it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub detail: String,
}

impl RowError {
    pub fn new(line: u64, column: &str, detail: String) -> RowError {
        RowError {
            line,
            column: column.to_owned(),
            detail,
        }
    }
}

/// The counts of an import: data rows, and what became of them (`errors`: rows refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: usize,
}

/// A row of a dry run's preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRow {
    pub line: u64,
    pub user_name: String,
    pub action: ActionKind,
    /// The columns an update changes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changed: Vec<String>,
}

/// An import's result, as the CLI prints it (`--json`) and the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    pub file_name: String,
    /// `csv` or `xlsx`; absent when the file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub mode: Mode,
    pub dry_run: bool,
    /// `done`, or `failed` when nothing could be imported (an unreadable file, or refused
    /// rows under all-or-nothing).
    pub status: String,
    /// Whether agents were written (false for dry runs and refused all-or-nothing imports).
    pub written: bool,
    pub summary: Summary,
    pub errors: Vec<RowError>,
    /// Why the file could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A dry run's per-row preview.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub preview: Vec<PreviewRow>,
}

/// What an import needs besides the file.
pub struct Context<'a> {
    pub accounts: &'a Accounts,
    /// `accounts.channels` from the configuration.
    pub channels: &'a [String],
    /// Who imports, for the audit log (`token:<name>`, `cli:<user>`).
    pub actor: &'a str,
}

/// An import that finished (whatever its verdict): the report, and the report as CSV (empty
/// unless rows were refused).
pub struct Outcome {
    pub report: Report,
    pub report_csv: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
}

/// Progress of the writing phase: (rows written, rows to write).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Runs import `id` (recorded by [`record::begin`]): reads the file, checks every row,
/// writes (unless refused or a dry run) and records the result.
pub fn run(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    id: &str,
    file_name: &str,
    bytes: Vec<u8>,
    opts: Options,
    progress: Option<Progress<'_>>,
) -> Result<Outcome, ImportError> {
    // A small page cache: an import reads and writes each agent once, and the usual cache
    // would only add its size to the peak memory of a large file.
    let result = crate::store::with_small_cache(conn, |conn| {
        run_unrecorded(conn, ctx, id, file_name, bytes, opts, progress)
    });
    let now = crate::store::now();
    match &result {
        Ok(outcome) => {
            let csv = (!outcome.report_csv.is_empty()).then_some(outcome.report_csv.as_slice());
            record::finish(conn, &outcome.report, csv, now)?;
        }
        Err(e) => {
            tracing::error!(import = id, error = %e, "import failed");
            record::fail(conn, id, "internal error; see the server log", now)?;
        }
    }
    result
}

fn run_unrecorded(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    id: &str,
    file_name: &str,
    bytes: Vec<u8>,
    opts: Options,
    progress: Option<Progress<'_>>,
) -> Result<Outcome, ImportError> {
    let mut report = Report {
        id: id.to_owned(),
        file_name: file_name.to_owned(),
        format: None,
        mode: opts.mode,
        dry_run: opts.dry_run,
        status: "failed".into(),
        written: false,
        summary: Summary::default(),
        errors: Vec::new(),
        error: None,
        preview: Vec::new(),
    };
    let read = read::read(file_name, &bytes);
    // The sheet holds its own cells: the file's bytes are not needed any more.
    drop(bytes);
    let sheet = match read {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e.to_string());
            return Ok(Outcome {
                report,
                report_csv: Vec::new(),
            });
        }
    };
    report.format = Some(
        match sheet.kind {
            read::FileKind::Csv => "csv",
            read::FileKind::Xlsx => "xlsx",
        }
        .into(),
    );
    let roles = known_roles(conn)?;
    let rules = plan::Rules {
        channels: ctx.channels,
        roles: &roles,
    };
    let mut planned = plan::plan(conn, &sheet, &rules)?;
    report.summary.rows = sheet.rows.len();
    let held_back = opts.dry_run || (!planned.errors.is_empty() && opts.mode == Mode::AllOrNothing);
    let header_line = sheet.header_line;
    if !held_back {
        record::set_status(conn, id, "applying")?;
        let with = (&sheet, &rules);
        apply::apply(conn, ctx, id, with, &mut planned, opts.mode, progress)?;
        report.written = planned
            .actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Create | ActionKind::Update));
    }
    report.errors = planned.errors;
    let header_refused = report.errors.iter().any(|e| e.line == header_line);
    for a in &planned.actions {
        match a.kind {
            ActionKind::Create => report.summary.created += 1,
            ActionKind::Update => report.summary.updated += 1,
            ActionKind::Unchanged => report.summary.unchanged += 1,
            ActionKind::Refused => report.summary.errors += 1,
        }
    }
    if header_refused {
        report.summary.errors = report.summary.rows;
    }
    if !report.errors.is_empty() && opts.mode == Mode::AllOrNothing && !opts.dry_run {
        // Nothing was written: say what the rows would have done.
        report.summary.created = 0;
        report.summary.updated = 0;
        report.summary.unchanged = 0;
    }
    if opts.dry_run {
        report.preview = planned
            .actions
            .iter()
            .map(|a| PreviewRow {
                line: a.line,
                user_name: a.user_name.clone(),
                action: a.kind,
                changed: a.changed.iter().map(|c| (*c).to_owned()).collect(),
            })
            .collect();
    }
    let done = report.errors.is_empty() || opts.mode == Mode::ValidOnly || opts.dry_run;
    report.status = if done { "done" } else { "failed" }.into();
    let report_csv = if report.errors.is_empty() {
        Vec::new()
    } else {
        report_csv(&sheet, &report.errors)
    };
    Ok(Outcome { report, report_csv })
}
