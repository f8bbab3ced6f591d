//! An HR export as a source (`kind = "hr"`): a CSV or JSON file or URL of people with their
//! employment status and dates. `settings` is `[sources.hr]`, `export` gets the bytes (an
//! unchanged export is not read again), `read` turns them into rows, `person` a row into a
//! person. A read that cannot be trusted — columns missing, no rows, not the format, too many
//! bad rows — is refused, never handed on as a shorter list.

pub mod export;
pub mod person;
pub mod read;
pub mod settings;

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

pub use settings::{Feed, HrSettings, Rehire};

use super::{BadRow, Changes, ExportMark, Position, Snapshot, SourceError, SourceRecord};
use export::Got;
use read::ReadError;

/// Bad rows listed in a refusal's reason (the run record keeps them all).
const REASON_EXAMPLES: usize = 3;

/// People handed to a sink per page.
const PAGE: usize = 1_000;

/// Reads the export. An export already processed (`from.export`: the server answered `304`,
/// or the same bytes) is not planned again until its `replan_at`; the changes are then
/// empty, with method `unchanged`.
pub async fn fetch_changes(
    settings: &HrSettings,
    from: Position,
    now: chrono::NaiveDateTime,
) -> Result<Changes, SourceError> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut records = Vec::new();
        let mut changes = read_export(&settings, from.export, now, &mut |r| records.push(r))?;
        changes.snapshot.records = records;
        Ok(changes)
    })
    .await
    .map_err(|e| SourceError::Search(format!("the reading thread failed: {e}")))?
}

/// [`fetch_changes`], handing the people to `sink` a page at a time as they are read (the
/// changes returned have no records). A read refused at its end has handed people over
/// already: the engine applies nothing of a refused read.
pub async fn fetch_into(
    settings: &HrSettings,
    from: Position,
    now: chrono::NaiveDateTime,
    sink: super::RecordSink,
) -> Result<Changes, SourceError> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut page = Vec::with_capacity(PAGE);
        let mut gone = false;
        let changes = read_export(&settings, from.export, now, &mut |r| {
            page.push(r);
            if page.len() == PAGE && !gone {
                let full = std::mem::replace(&mut page, Vec::with_capacity(PAGE));
                gone = sink.send(full).is_err();
            }
        })?;
        if !page.is_empty() && !gone {
            gone = sink.send(page).is_err();
        }
        if gone {
            return Err(SourceError::Search("the run stopped reading".into()));
        }
        Ok(changes)
    })
    .await
    .map_err(|e| SourceError::Search(format!("the reading thread failed: {e}")))?
}

/// Reads the export at `now` on the calling thread, handing each person to `sink`.
pub fn read_export(
    settings: &HrSettings,
    last: Option<ExportMark>,
    now: chrono::NaiveDateTime,
    sink: &mut dyn FnMut(SourceRecord),
) -> Result<Changes, SourceError> {
    let replan_due = last
        .as_ref()
        .is_some_and(|m| m.replan_at.is_some_and(|t| t <= now));
    let conditional = last.as_ref().filter(|_| !replan_due);
    let (bytes, etag, last_modified) = match export::get(settings, conditional)? {
        Got::NotModified => return Ok(unchanged(last)),
        Got::Body {
            bytes,
            etag,
            last_modified,
        } => (bytes, etag, last_modified),
    };
    let digest = hex::encode(Sha256::digest(&bytes));
    if !replan_due
        && last
            .as_ref()
            .is_some_and(|m| m.digest.as_deref() == Some(&digest))
    {
        return Ok(unchanged(last));
    }
    let mapper = person::Mapper::new(settings).map_err(SourceError::Config)?;
    let delimiter = u8::try_from(settings.delimiter).unwrap_or(b',');
    let quote = u8::try_from(settings.quote).unwrap_or(b'"');
    let refused = |e: ReadError| match e {
        ReadError::MissingColumns(cols) => SourceError::Refused(format!(
            "the export lacks columns the mapping names: {} (see [sources.hr.fields])",
            cols.join(", ")
        )),
        ReadError::Malformed(why) => {
            SourceError::Refused(format!("the export cannot be read: {why}"))
        }
    };
    // First the employee ids alone (with their effective dates, when mapped): an id on two
    // rows in force at once is nobody's (which row is right cannot be known), and people
    // are handed on as they are read.
    let mut people = People::default();
    // When time alone changes this export's plan: the first pre-hire window to open, the
    // first row to take effect.
    let mut replan_at: Option<chrono::NaiveDateTime> = None;
    let mut later = |at: chrono::NaiveDateTime| {
        if at > now && replan_at.is_none_or(|t| at < t) {
            replan_at = Some(at);
        }
    };
    if mapper.is_dated() {
        let mut dated: HashMap<String, Vec<(usize, Option<chrono::NaiveDateTime>)>> =
            HashMap::new();
        read::rows(
            &bytes,
            settings.format(),
            (delimiter, quote),
            &mapper.columns,
            &mut |row| {
                let Some(Some(key)) = row.values.first() else {
                    return;
                };
                match mapper.effective(&row) {
                    Ok(at) => dated.entry(key.clone()).or_default().push((row.line, at)),
                    Err(error) => people.bad_line(row.line, key, error),
                }
            },
        )
        .map_err(refused)?;
        for (key, rows) in dated {
            people.in_force(key, rows, now, &mut later);
        }
    } else {
        let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
        read::rows(
            &bytes,
            settings.format(),
            (delimiter, quote),
            &mapper.columns[..1],
            &mut |row| {
                if let Some(Some(key)) = row.values.first() {
                    seen.entry(key.clone()).or_default().push(row.line);
                }
            },
        )
        .map_err(refused)?;
        seen.retain(|_, lines| lines.len() > 1);
        people.duplicates = seen;
    }
    let prehire = chrono::Duration::days(i64::from(settings.prehire_days));
    let rows = read::rows(
        &bytes,
        settings.format(),
        (delimiter, quote),
        &mapper.columns,
        &mut |row| {
            if let Some(r) = people.take(&mapper, &row) {
                if let Some(start) = r.employment.as_ref().and_then(|e| e.starts_at) {
                    later(start - prehire);
                }
                sink(r);
            }
        },
    )
    .map_err(refused)?;
    drop(bytes);
    let (bad, held) = people.finish();
    if rows == 0 && settings.feed == Feed::Snapshot {
        return Err(SourceError::Refused("the export has no rows".into()));
    }
    let share = bad.len() as f64 * 100.0 / rows.max(1) as f64;
    if !bad.is_empty() && share > settings.max_bad_rows_percent {
        let examples: Vec<String> = bad
            .iter()
            .take(REASON_EXAMPLES)
            .map(|b| format!("line {}: {}", b.line, b.error))
            .collect();
        return Err(SourceError::Refused(format!(
            "{} of {rows} rows are bad ({share:.1}%); the limit is {}% (max_bad_rows_percent): {}",
            bad.len(),
            settings.max_bad_rows_percent,
            examples.join("; ")
        )));
    }
    let snapshot = Snapshot {
        records: Vec::new(),
        skipped: bad.len(),
        position: Position {
            export: Some(ExportMark {
                etag,
                last_modified,
                digest: Some(digest.clone()),
                replan_at,
            }),
            ..Position::default()
        },
        rows,
        bad,
        held,
        digest: Some(digest),
    };
    let full = settings.feed == Feed::Snapshot;
    Ok(Changes {
        snapshot,
        full,
        method: if full { "snapshot" } else { "delta" },
        ..Changes::default()
    })
}

/// The changes of an export already processed: none.
fn unchanged(last: Option<ExportMark>) -> Changes {
    Changes {
        snapshot: Snapshot {
            position: Position {
                export: last,
                ..Position::default()
            },
            ..Snapshot::default()
        },
        full: false,
        method: "unchanged",
        note: Some("the export is the one already processed".into()),
        ..Changes::default()
    }
}

/// Rows gathered one by one: the bad ones, employee ids on more than one row in force
/// (every row of such an id is bad), and rows not in force (another date's).
#[derive(Default)]
struct People {
    duplicates: HashMap<String, Vec<usize>>,
    /// Lines of rows whose effective date has not come, or that a later one replaced.
    not_in_force: HashSet<usize>,
    bad: Vec<BadRow>,
    held: HashSet<String>,
}

impl People {
    fn bad_line(&mut self, line: usize, key: &str, error: String) {
        self.bad.push(BadRow {
            line,
            key: Some(key.to_owned()),
            error,
        });
        self.not_in_force.insert(line);
        self.held.insert(key.to_owned());
    }

    /// Of an id's rows (line, effective moment), keeps the one in force at `now`: the
    /// latest that has taken effect (a row without a date has always held). Two in force
    /// at once make the id's rows bad; an id with only future rows is held (it is not a
    /// leaver). Each future moment goes to `later`.
    fn in_force(
        &mut self,
        key: String,
        mut rows: Vec<(usize, Option<chrono::NaiveDateTime>)>,
        now: chrono::NaiveDateTime,
        later: &mut impl FnMut(chrono::NaiveDateTime),
    ) {
        for (_, at) in &rows {
            if let Some(at) = at.filter(|at| *at > now) {
                later(at);
            }
        }
        rows.sort_by_key(|(line, at)| (*at, *line));
        let current: Vec<&(usize, Option<chrono::NaiveDateTime>)> = rows
            .iter()
            .filter(|(_, at)| at.is_none_or(|at| at <= now))
            .collect();
        let Some(&&(line, at)) = current.last() else {
            // Only changes to come: nothing to plan yet, nothing to take away.
            self.held.insert(key);
            self.not_in_force.extend(rows.iter().map(|(l, _)| *l));
            return;
        };
        let ties = current.iter().filter(|(_, a)| *a == at).count();
        if ties > 1 {
            self.duplicates
                .insert(key, rows.iter().map(|(l, _)| *l).collect());
            return;
        }
        self.not_in_force
            .extend(rows.iter().map(|(l, _)| *l).filter(|l| *l != line));
    }

    /// The person of a row, or `None` with the row recorded as bad (or, for a row not in
    /// force, passed over).
    fn take(&mut self, mapper: &person::Mapper, row: &read::Row) -> Option<SourceRecord> {
        if self.not_in_force.contains(&row.line) {
            return None;
        }
        let key = mapper.key(row);
        if let Some(k) = &key
            && let Some(lines) = self.duplicates.get(k)
        {
            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
            self.bad.push(BadRow {
                line: row.line,
                key: Some(k.clone()),
                error: format!(
                    "employee id {k:?} is on {} rows (lines {})",
                    lines.len(),
                    lines.join(", ")
                ),
            });
            self.held.insert(k.clone());
            return None;
        }
        match mapper.person(row) {
            Ok(r) => Some(r),
            Err(error) => {
                if let Some(k) = &key {
                    self.held.insert(k.clone());
                }
                self.bad.push(BadRow {
                    line: row.line,
                    key,
                    error,
                });
                None
            }
        }
    }

    fn finish(self) -> (Vec<BadRow>, HashSet<String>) {
        (self.bad, self.held)
    }
}
