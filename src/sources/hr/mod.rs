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

pub use settings::{Feed, HrSettings};

use super::{BadRow, Changes, ExportMark, Position, Snapshot, SourceError, SourceRecord};
use export::Got;
use read::ReadError;

/// Bad rows listed in a refusal's reason (the run record keeps them all).
const REASON_EXAMPLES: usize = 3;

/// Reads the export. An export already processed (`from.export`: the server answered `304`,
/// or the same bytes) is not planned again until its `replan_at`; the changes are then
/// empty, with method `unchanged`.
pub async fn fetch_changes(settings: &HrSettings, from: Position) -> Result<Changes, SourceError> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        read_export(&settings, from.export, chrono::Utc::now().naive_utc())
    })
    .await
    .map_err(|e| SourceError::Search(format!("the reading thread failed: {e}")))?
}

/// [`fetch_changes`] at `now`, on the calling thread.
pub fn read_export(
    settings: &HrSettings,
    last: Option<ExportMark>,
    now: chrono::NaiveDateTime,
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
    let mut people = People::default();
    let rows = read::rows(
        &bytes,
        settings.format(),
        (delimiter, quote),
        &mapper.columns,
        &mut |row| people.take(&mapper, &row),
    )
    .map_err(|e| match e {
        ReadError::MissingColumns(cols) => SourceError::Refused(format!(
            "the export lacks columns the mapping names: {} (see [sources.hr.fields])",
            cols.join(", ")
        )),
        ReadError::Malformed(why) => {
            SourceError::Refused(format!("the export cannot be read: {why}"))
        }
    })?;
    drop(bytes);
    let (records, bad, held) = people.finish();
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
    let prehire = chrono::Duration::days(i64::from(settings.prehire_days));
    let replan_at = records
        .iter()
        .filter_map(|r| r.employment.as_ref()?.starts_at)
        .map(|start| start - prehire)
        .filter(|t| *t > now)
        .min();
    let snapshot = Snapshot {
        records,
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

/// People gathered row by row: good ones, bad rows, and employee ids seen more than once
/// (every row of such an id is bad: which one is right cannot be known).
#[derive(Default)]
struct People {
    records: Vec<SourceRecord>,
    lines: Vec<usize>,
    by_key: HashMap<String, usize>,
    duplicates: HashMap<String, Vec<usize>>,
    bad: Vec<BadRow>,
    held: HashSet<String>,
}

impl People {
    fn take(&mut self, mapper: &person::Mapper, row: &read::Row) {
        match mapper.person(row) {
            Ok(r) => {
                if let Some(&first) = self.by_key.get(&r.key) {
                    let lines = self
                        .duplicates
                        .entry(r.key.clone())
                        .or_insert_with(|| vec![self.lines[first]]);
                    lines.push(row.line);
                    return;
                }
                self.by_key.insert(r.key.clone(), self.records.len());
                self.lines.push(row.line);
                self.records.push(r);
            }
            Err(error) => {
                let key = mapper.key(row);
                if let Some(k) = &key {
                    self.held.insert(k.clone());
                }
                self.bad.push(BadRow {
                    line: row.line,
                    key,
                    error,
                });
            }
        }
    }

    fn finish(mut self) -> (Vec<SourceRecord>, Vec<BadRow>, HashSet<String>) {
        if !self.duplicates.is_empty() {
            let dup = std::mem::take(&mut self.duplicates);
            for (key, lines) in &dup {
                for line in lines {
                    self.bad.push(BadRow {
                        line: *line,
                        key: Some(key.clone()),
                        error: format!(
                            "employee id {key:?} is on {} rows (lines {})",
                            lines.len(),
                            lines
                                .iter()
                                .map(usize::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
                self.held.insert(key.clone());
            }
            self.records.retain(|r| !dup.contains_key(&r.key));
        }
        self.bad.sort_by_key(|b| b.line);
        (self.records, self.bad, self.held)
    }
}
