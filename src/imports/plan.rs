//! Checking every row of a sheet before anything is written: the header, each cell, the
//! gateway's text rules, repeats inside the file, matches and conflicts with existing agents
//! and managers. The result says, per row, create, update, unchanged or refused, and why.

use std::collections::{HashMap, HashSet};

use diesel::QueryResult;

use super::columns::{Column, ERROR_COLUMN};
use super::existing::Existing;
use super::profile::{changed_columns, column_of_attr, profile_of};
use super::read::{Row, Sheet};
use super::{ActionKind, ImportError, RowError};
use crate::accounts::checked_profile;
use crate::csv_out::strip_neutraliser;
use crate::domain::AgentProfile;
use crate::domain::names::fold;
use crate::store::DbConn;

/// What the checks need besides the database.
pub struct Rules<'a> {
    /// The configured channel catalog (`accounts.channels`).
    pub channels: &'a [String],
    /// The role names (the `roles` table).
    pub roles: &'a HashSet<String>,
}

/// Rows whose matched agents are loaded at once.
const LOAD_CHUNK: usize = 1_000;

/// One data row's verdict.
#[derive(Debug)]
pub struct Action {
    pub line: u64,
    pub user_name: String,
    pub kind: ActionKind,
    /// The agent it creates (an id chosen now) or updates.
    pub id: String,
    /// The version read (updates).
    pub version: i64,
    /// The profile to write (create, update).
    pub profile: Option<Packed>,
    /// The columns an update changes.
    pub changed: Vec<&'static str>,
}

/// An update's checked profile, kept as JSON until it is written: held as `AgentProfile`s
/// (a dozen strings each, every one its own allocation) a large file's profiles took a
/// good part of an import's peak memory. A new agent's profile is not kept at all: it is
/// worked out again from its row when it is written (see [`Plan::profile`]).
#[derive(Debug)]
pub struct Packed(Box<[u8]>);

impl Packed {
    fn pack(profile: &AgentProfile) -> serde_json::Result<Packed> {
        Ok(Packed(serde_json::to_vec(profile)?.into_boxed_slice()))
    }

    fn unpack(&self) -> serde_json::Result<AgentProfile> {
        serde_json::from_slice(&self.0)
    }
}

/// Every row's verdict and every problem found, by line.
#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub errors: Vec<RowError>,
    /// What rebuilding a new agent's profile needs besides its row.
    layout: Option<Layout>,
    managers: Vec<Manager>,
}

impl Plan {
    /// The profile that row `i` of `sheet` (the sheet planned) writes, moved out of the
    /// plan: an update's as checked, a new agent's worked out again from its row — the
    /// same steps on the same row, the same profile.
    pub fn profile(
        &mut self,
        i: usize,
        sheet: &Sheet,
        rules: &Rules<'_>,
    ) -> Result<AgentProfile, ImportError> {
        if let Some(packed) = self.actions[i].profile.take() {
            return packed
                .unpack()
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)).into());
        }
        let (Some(layout), Some(row)) = (&self.layout, sheet.rows.get(i)) else {
            return Ok(AgentProfile::default());
        };
        let manager = self.managers.get(i).cloned().flatten();
        let mut errs = Vec::new();
        let profile = profile_of(
            row,
            layout,
            rules,
            AgentProfile::default(),
            manager,
            &mut errs,
        );
        Ok(checked_profile(profile, None)?)
    }
}

/// Where each column is in the file, and its header as the file spells it.
#[derive(Debug)]
pub(super) struct Layout {
    at: HashMap<Column, usize>,
    pub(super) headers: Vec<String>,
}

impl Layout {
    pub(super) fn header(&self, col: Column) -> String {
        self.at
            .get(&col)
            .and_then(|&i| self.headers.get(i))
            .map_or_else(|| col.name().to_owned(), |h| h.trim().to_owned())
    }

    /// The cell of `col` in `row`: `None` when the file has no such column; a cell Rollcall
    /// neutralised in a report it wrote is read back without its `'`.
    pub(super) fn cell<'r>(&self, row: &'r Row, col: Column) -> Option<&'r str> {
        let i = *self.at.get(&col)?;
        Some(strip_neutraliser(row.cells.get(i).unwrap_or("")))
    }
}

/// Reads the header: every header must name a column (or be the `error` column of a report
/// Rollcall wrote), none twice, and `user name` must be there.
fn layout(sheet: &Sheet) -> Result<Layout, Vec<RowError>> {
    let mut at: HashMap<Column, usize> = HashMap::new();
    let mut errors = Vec::new();
    let line = sheet.header_line;
    for (i, h) in sheet.headers.iter().enumerate() {
        if h.trim().is_empty() || h.trim().eq_ignore_ascii_case(ERROR_COLUMN) {
            continue;
        }
        match Column::from_header(h) {
            Some(c) => {
                if let Some(&first) = at.get(&c) {
                    errors.push(RowError::new(
                        line,
                        h.trim(),
                        format!(
                            "column {:?} is also given as {:?}",
                            c.name(),
                            sheet.headers[first].trim()
                        ),
                    ));
                } else {
                    at.insert(c, i);
                }
            }
            None => errors.push(RowError::new(
                line,
                h.trim(),
                format!(
                    "unknown column; columns: {} (see the template)",
                    Column::ALL.map(Column::name).join(", ")
                ),
            )),
        }
    }
    if !at.contains_key(&Column::UserName) {
        errors.push(RowError::new(
            line,
            Column::UserName.name(),
            "the column is missing".into(),
        ));
    }
    if errors.is_empty() {
        Ok(Layout {
            at,
            headers: sheet.headers.clone(),
        })
    } else {
        Err(errors)
    }
}

/// Checks every row of `sheet` against the file, the rules and the database.
pub fn plan(conn: &mut DbConn, sheet: &Sheet, rules: &Rules<'_>) -> QueryResult<Plan> {
    let layout = match layout(sheet) {
        Ok(l) => l,
        Err(errors) => {
            return Ok(Plan {
                errors,
                ..Plan::default()
            });
        }
    };
    let mut existing = Existing::load(conn)?;
    let mut errs: Vec<Vec<RowError>> = vec![Vec::new(); sheet.rows.len()];
    for (line, index, detail) in &sheet.problems {
        if let Some(i) = sheet.rows.iter().position(|r| r.line == *line) {
            let header = sheet.headers.get(*index).map_or("", |h| h.trim());
            errs[i].push(RowError::new(*line, header, detail.clone()));
        }
    }
    let targets = match_rows(sheet, &layout, &existing, &mut errs);
    let managers = resolve_managers(sheet, &layout, &existing, &targets, &mut errs);
    // The index has served (matches, managers): only the matched agents are read from here.
    existing = Existing::default();
    let mut actions = Vec::with_capacity(sheet.rows.len());
    for (i, row) in sheet.rows.iter().enumerate() {
        // The agents rows match, loaded a chunk of rows at a time: a re-import of a large
        // file never holds every agent at once.
        if i % LOAD_CHUNK == 0 {
            let matched: HashSet<String> = targets[i..(i + LOAD_CHUNK).min(targets.len())]
                .iter()
                .flatten()
                .filter(|t| !t.new)
                .map(|t| t.id.clone())
                .collect();
            existing.agents.clear();
            existing.load_matched(conn, &matched)?;
        }
        let target = targets[i].as_ref();
        let current = target.and_then(|t| existing.agents.get(&t.id));
        let user_name = layout.cell(row, Column::UserName).unwrap_or("").to_owned();
        let mut action = Action {
            line: row.line,
            user_name,
            kind: ActionKind::Refused,
            id: target.map(|t| t.id.clone()).unwrap_or_default(),
            version: current.map_or(0, |a| a.version),
            profile: None,
            changed: Vec::new(),
        };
        if let Some(t) = target
            && (t.new || current.is_some())
        {
            let base = current.map(|a| a.profile.clone()).unwrap_or_default();
            let profile = profile_of(row, &layout, rules, base, managers[i].clone(), &mut errs[i]);
            if current.is_none() {
                let named = profile
                    .display_name
                    .as_deref()
                    .is_some_and(|d| !d.trim().is_empty());
                if !named {
                    errs[i].push(RowError::new(
                        row.line,
                        &layout.header(Column::DisplayName),
                        "required for a new agent".into(),
                    ));
                }
            }
            match checked_profile(profile, current.map(|a| &a.profile)) {
                Ok(p) => {
                    match current {
                        None => action.kind = ActionKind::Create,
                        Some(a) => {
                            action.changed = changed_columns(&a.profile, &p);
                            action.kind = if action.changed.is_empty() {
                                ActionKind::Unchanged
                            } else {
                                ActionKind::Update
                            };
                        }
                    }
                    // An unchanged row is not written: its profile is not kept.
                    if action.kind == ActionKind::Update {
                        action.profile = Some(Packed::pack(&p).map_err(pack_error)?);
                    }
                }
                Err(e) => {
                    let detail = e.to_string();
                    let col = column_of_attr(&detail);
                    errs[i].push(RowError::new(row.line, &layout.header(col), detail));
                }
            }
        }
        actions.push(action);
    }
    refuse_reports_of_refused(sheet, &layout, &targets, &managers, &mut errs);
    for (a, e) in actions.iter_mut().zip(&errs) {
        if !e.is_empty() {
            a.kind = ActionKind::Refused;
            a.profile = None;
        }
    }
    let mut errors: Vec<RowError> = errs.into_iter().flatten().collect();
    let order: HashMap<String, usize> = Column::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| (layout.header(*c), i))
        .collect();
    errors.sort_by_key(|e| (e.line, order.get(&e.column).copied().unwrap_or(usize::MAX)));
    Ok(Plan {
        actions,
        errors,
        layout: Some(layout),
        managers,
    })
}

/// The agent a row is about.
/// A profile that serde cannot write as JSON (it always can: strings, numbers, lists).
fn pack_error(e: serde_json::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// Reports `detail` on row `j` (the first) and row `i` (its repeat), under `header`.
fn on_both(
    errs: &mut [Vec<RowError>],
    sheet: &Sheet,
    (j, i): (usize, usize),
    header: &str,
    detail: String,
) {
    errs[j].push(RowError::new(sheet.rows[j].line, header, detail.clone()));
    errs[i].push(RowError::new(sheet.rows[i].line, header, detail));
}

#[derive(Debug, Clone)]
struct Target {
    id: String,
    new: bool,
}

/// Finds each row's agent (by user name, else by agent number), and reports missing user
/// names, repeats inside the file and conflicts with existing agents.
fn match_rows(
    sheet: &Sheet,
    layout: &Layout,
    existing: &Existing,
    errs: &mut [Vec<RowError>],
) -> Vec<Option<Target>> {
    let un_header = layout.header(Column::UserName);
    let num_header = layout.header(Column::AgentNumber);
    let mut first_name: HashMap<String, usize> = HashMap::new();
    let mut first_number: HashMap<&str, usize> = HashMap::new();
    let mut first_target: HashMap<String, usize> = HashMap::new();
    let mut targets = Vec::with_capacity(sheet.rows.len());
    for (i, row) in sheet.rows.iter().enumerate() {
        let line = row.line;
        let name = layout.cell(row, Column::UserName).unwrap_or("");
        let number = layout
            .cell(row, Column::AgentNumber)
            .filter(|n| !n.is_empty());
        if name.is_empty() {
            errs[i].push(RowError::new(line, &un_header, "required".into()));
            targets.push(None);
            continue;
        }
        let key = fold(name);
        if let Some(&j) = first_name.get(&key) {
            let detail = format!(
                "user name {name:?} is on lines {} and {line}",
                sheet.rows[j].line
            );
            on_both(errs, sheet, (j, i), &un_header, detail);
        } else {
            first_name.insert(key.clone(), i);
        }
        if let Some(n) = number {
            if let Some(&j) = first_number.get(n) {
                let detail = format!(
                    "agent number {n:?} is on lines {} and {line}",
                    sheet.rows[j].line
                );
                on_both(errs, sheet, (j, i), &num_header, detail);
            } else {
                first_number.insert(n, i);
            }
        }
        let by_name = existing.by_key.get(&key).map(|(id, _)| id);
        let by_number = number.and_then(|n| existing.by_number.get(n));
        let target = match (by_name, by_number) {
            (Some(id), Some(holders)) if !holders.contains(id) => {
                let others: Vec<&str> = holders
                    .iter()
                    .filter_map(|h| existing.names.get(h).map(String::as_str))
                    .collect();
                errs[i].push(RowError::new(
                    line,
                    &num_header,
                    format!(
                        "agent number {:?} belongs to {}, not to {name:?}",
                        number.unwrap_or(""),
                        quoted(&others)
                    ),
                ));
                None
            }
            (Some(id), _) => Some(Target {
                id: id.clone(),
                new: false,
            }),
            (None, Some(holders)) if holders.len() == 1 => Some(Target {
                id: holders[0].clone(),
                new: false,
            }),
            (None, Some(holders)) => {
                let names: Vec<&str> = holders
                    .iter()
                    .filter_map(|h| existing.names.get(h).map(String::as_str))
                    .collect();
                errs[i].push(RowError::new(
                    line,
                    &num_header,
                    format!(
                        "agent number {:?} is held by several agents ({}): give one of their user names",
                        number.unwrap_or(""),
                        quoted(&names)
                    ),
                ));
                None
            }
            (None, None) => Some(Target {
                id: uuid::Uuid::now_v7().to_string(),
                new: true,
            }),
        };
        if let Some(t) = &target
            && !t.new
        {
            if let Some(&j) = first_target.get(&t.id) {
                let held = existing.names.get(&t.id).map_or("", String::as_str);
                let detail = format!(
                    "lines {} and {line} are both about the agent {held:?}",
                    sheet.rows[j].line
                );
                on_both(errs, sheet, (j, i), &un_header, detail);
            } else {
                first_target.insert(t.id.clone(), i);
            }
        }
        targets.push(target);
    }
    targets
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row's manager: `Some(None)` to clear it, `Some(Some((id, line)))` for a manager (with
/// the file line that creates or updates it), `None` when the file has no manager column.
pub(super) type Manager = Option<Option<(String, Option<usize>)>>;

/// Finds each row's manager by user name, else agent number: first among the file's rows,
/// then among existing agents.
fn resolve_managers(
    sheet: &Sheet,
    layout: &Layout,
    existing: &Existing,
    targets: &[Option<Target>],
    errs: &mut [Vec<RowError>],
) -> Vec<Manager> {
    let header = layout.header(Column::Manager);
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut by_number: HashMap<&str, usize> = HashMap::new();
    for (i, row) in sheet.rows.iter().enumerate() {
        if targets[i].is_none() {
            continue;
        }
        if let Some(n) = layout.cell(row, Column::UserName) {
            by_key.entry(fold(n)).or_insert(i);
        }
        if let Some(n) = layout
            .cell(row, Column::AgentNumber)
            .filter(|n| !n.is_empty())
        {
            by_number.entry(n).or_insert(i);
        }
    }
    let mut out = Vec::with_capacity(sheet.rows.len());
    for (i, row) in sheet.rows.iter().enumerate() {
        let Some(cell) = layout.cell(row, Column::Manager) else {
            out.push(None);
            continue;
        };
        if cell.is_empty() {
            out.push(Some(None));
            continue;
        }
        let in_file = by_key
            .get(&fold(cell))
            .or_else(|| by_number.get(cell))
            .copied();
        let found = match in_file {
            Some(j) => targets[j].as_ref().map(|t| (t.id.clone(), Some(j))),
            None => existing
                .by_key
                .get(&fold(cell))
                .map(|(id, _)| (id.clone(), None))
                .or_else(|| match existing.by_number.get(cell).map(Vec::as_slice) {
                    Some([one]) => Some((one.clone(), None)),
                    _ => None,
                }),
        };
        match found {
            Some((id, _)) if targets[i].as_ref().is_some_and(|t| t.id == id) => {
                errs[i].push(RowError::new(
                    row.line,
                    &header,
                    "an agent cannot be their own manager".into(),
                ));
                out.push(None);
            }
            Some(m) => out.push(Some(Some(m))),
            None => {
                errs[i].push(RowError::new(
                    row.line,
                    &header,
                    format!(
                        "no agent with user name or agent number {cell:?}, in the file or in Rollcall"
                    ),
                ));
                out.push(None);
            }
        }
    }
    out
}

/// A row whose manager is created by a refused row is refused too (its manager would not
/// exist), until no more change.
fn refuse_reports_of_refused(
    sheet: &Sheet,
    layout: &Layout,
    targets: &[Option<Target>],
    managers: &[Manager],
    errs: &mut [Vec<RowError>],
) {
    let header = layout.header(Column::Manager);
    loop {
        let mut more = false;
        for (i, manager) in managers.iter().enumerate() {
            if let Some(Some((_, Some(j)))) = manager
                && errs[i].is_empty()
                && !errs[*j].is_empty()
                && targets[*j].as_ref().is_none_or(|t| t.new)
            {
                let detail = format!(
                    "the manager's own row (line {}) is refused",
                    sheet.rows[*j].line
                );
                errs[i].push(RowError::new(sheet.rows[i].line, &header, detail));
                more = true;
            }
        }
        if !more {
            break;
        }
    }
}
