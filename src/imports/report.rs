//! The report as CSV: the file's own rows with an `error` column added (every problem of
//! the row, `column: detail`, joined by ` | `), so a person can fix the rows and upload the
//! file again. Written through the shared formula-safe CSV writer.

use std::collections::HashMap;

use super::RowError;
use super::columns::ERROR_COLUMN;
use super::read::Sheet;
use crate::csv_out;

/// The report CSV of `sheet` with `errors`. Problems of the header line go on every row
/// (every row was refused for them). A file that already has an `error` column (a report
/// uploaded again) gets it replaced.
pub fn report_csv(sheet: &Sheet, errors: &[RowError]) -> Vec<u8> {
    let keep: Vec<usize> = (0..sheet.headers.len())
        .filter(|&i| !sheet.headers[i].trim().eq_ignore_ascii_case(ERROR_COLUMN))
        .collect();
    let mut by_line: HashMap<u64, Vec<String>> = HashMap::new();
    for e in errors {
        by_line
            .entry(e.line)
            .or_default()
            .push(format!("{}: {}", e.column, e.detail));
    }
    let header_problems: Vec<String> = by_line
        .get(&sheet.header_line)
        .map(|v| {
            v.iter()
                .map(|p| format!("line {}: {p}", sheet.header_line))
                .collect()
        })
        .unwrap_or_default();
    let mut headers: Vec<&str> = keep.iter().map(|&i| sheet.headers[i].as_str()).collect();
    headers.push(ERROR_COLUMN);
    let width = keep.len();
    let rows = sheet.rows.iter().map(|row| {
        let mut cells: Vec<String> = keep
            .iter()
            .map(|&i| row.cells.get(i).unwrap_or("").to_owned())
            .collect();
        // Cells beyond the header are kept, after the named ones.
        cells.extend(
            row.cells
                .iter()
                .skip(sheet.headers.len())
                .map(str::to_owned),
        );
        let mut problems = header_problems.clone();
        if let Some(p) = by_line.get(&row.line) {
            problems.extend(p.iter().cloned());
        }
        cells.insert(width, problems.join(" | "));
        cells
    });
    csv_out::to_csv(&headers, rows)
}
