//! Reading an import file into a sheet of text cells with their line numbers: the format
//! told by content (an xlsx workbook is a zip archive), CSV as UTF-8 with or without a BOM,
//! comma, semicolon or tab separated (told by the header line).

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use csv::StringRecord;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Xlsx,
}

/// One data row: the line it starts on (CSV: the file's physical line, counting line breaks
/// inside quoted fields; xlsx: the sheet's row number) and its cells.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub cells: StringRecord,
}

/// A file read: its header cells (line `header_line`) and its data rows, rows without any
/// text left out. `problems` are cells that could not be read as text (line, cell index,
/// detail).
#[derive(Debug, Clone)]
pub struct Sheet {
    pub kind: FileKind,
    pub header_line: u64,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    pub problems: Vec<(u64, usize, String)>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("the file is empty: it needs a header line (see the template)")]
    Empty,
    #[error(
        "the file is not UTF-8 (first bad byte on line {line}): save it as \"CSV UTF-8\" or as .xlsx"
    )]
    NotUtf8 { line: u64 },
    #[error("the file is UTF-16 text: save it as \"CSV UTF-8\" or as .xlsx")]
    Utf16,
    #[error("legacy .xls workbooks are not read: save it as .xlsx or \"CSV UTF-8\"")]
    Xls,
    #[error("the file is not a readable .xlsx workbook: {0}")]
    BadXlsx(String),
    #[error("the file is not valid CSV: {0}")]
    BadCsv(String),
}

/// Reads `bytes`; `file_name` only breaks a tie (a `.xlsx` name on a file that is no zip
/// archive is an error rather than CSV).
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Sheet, ReadError> {
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(ReadError::Xls);
    }
    if file_name.to_ascii_lowercase().ends_with(".xlsx") {
        return Err(ReadError::BadXlsx("it is not a zip archive".into()));
    }
    read_csv(bytes)
}

fn read_csv(bytes: &[u8]) -> Result<Sheet, ReadError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(ReadError::Utf16);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
                + 1;
            return Err(ReadError::NotUtf8 { line });
        }
    };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let delimiter = delimiter_of(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut header: Option<(u64, Vec<String>)> = None;
    let mut rows = Vec::new();
    let mut record = StringRecord::new();
    // The line a record starts on, counted from its byte offset (the csv crate's own line
    // count leaves out blank lines).
    let (mut counted_to, mut line) = (0usize, 1u64);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ReadError::BadCsv(e.to_string())),
        }
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // The reader's offset can be that of blank lines before the record: a record never
        // starts with a line break, so they are skipped.
        let mut at = record.position().map_or(counted_to, |p| {
            usize::try_from(p.byte()).unwrap_or(counted_to)
        });
        while matches!(text.as_bytes().get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        if at > counted_to {
            line += text.as_bytes()[counted_to..at.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            counted_to = at;
        }
        if header.is_none() {
            header = Some((line, record.iter().map(str::to_owned).collect()));
            continue;
        }
        record.trim();
        // A copy of exactly its size: the reader's buffer grows by doubling, and a large
        // file keeps every row.
        let mut cells = StringRecord::with_capacity(record.as_slice().len(), record.len());
        for f in &record {
            cells.push_field(f);
        }
        rows.push(Row { line, cells });
    }
    let (header_line, headers) = header.ok_or(ReadError::Empty)?;
    Ok(Sheet {
        kind: FileKind::Csv,
        header_line,
        headers,
        rows,
        problems: Vec::new(),
    })
}

/// The separator the header line uses most: `,`, `;` or a tab (quoted text not counted).
fn delimiter_of(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

fn read_xlsx(bytes: &[u8]) -> Result<Sheet, ReadError> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| ReadError::BadXlsx(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(ReadError::BadXlsx(e.to_string())),
        None => return Err(ReadError::BadXlsx("it has no worksheet".into())),
    };
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut header: Option<(u64, Vec<String>)> = None;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let line = u64::from(first_row) + i as u64 + 1;
        // Columns left of the used range are empty cells of the sheet.
        let mut record = StringRecord::new();
        for _ in 0..first_col {
            record.push_field("");
        }
        for (j, cell) in cells.iter().enumerate() {
            match cell_text(cell) {
                Ok(t) => record.push_field(t.trim()),
                Err(detail) => {
                    problems.push((line, first_col as usize + j, detail));
                    record.push_field("");
                }
            }
        }
        if record.iter().all(str::is_empty) && problems.last().is_none_or(|(l, _, _)| *l != line) {
            continue;
        }
        if header.is_none() {
            header = Some((line, record.iter().map(str::to_owned).collect()));
            continue;
        }
        rows.push(Row {
            line,
            cells: record,
        });
    }
    let (header_line, headers) = header.ok_or(ReadError::Empty)?;
    Ok(Sheet {
        kind: FileKind::Xlsx,
        header_line,
        headers,
        rows,
        problems,
    })
}

/// A cell as text: numbers that are whole (an agent number, a phone number typed as a
/// number) without a decimal point.
fn cell_text(cell: &Data) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => return Err(format!("the cell holds a spreadsheet error ({e})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(s: &Sheet) -> Vec<(u64, Vec<String>)> {
        s.rows
            .iter()
            .map(|r| (r.line, r.cells.iter().map(str::to_owned).collect()))
            .collect()
    }

    #[test]
    fn csv_with_bom_semicolons_and_quoted_newlines() {
        let text = "\u{FEFF}用户名;显示名\nli.lei;\"李\n雷\"\n\n wang ;王芳\n";
        let s = read("people.csv", text.as_bytes()).expect("read");
        assert_eq!(s.headers, vec!["用户名", "显示名"]);
        assert_eq!(s.header_line, 1);
        assert_eq!(
            cells(&s),
            vec![
                (2, vec!["li.lei".to_owned(), "李\n雷".to_owned()]),
                (5, vec!["wang".to_owned(), "王芳".to_owned()]),
            ]
        );
    }

    #[test]
    fn delimiter_from_the_header_line_only() {
        assert_eq!(delimiter_of("a,b,c\nx;y;z;w;v"), b',');
        assert_eq!(delimiter_of("a;b;\"c,d,e\"\n"), b';');
        assert_eq!(delimiter_of("a\tb\n"), b'\t');
        assert_eq!(delimiter_of("one"), b',');
    }

    #[test]
    fn clear_errors_for_what_cannot_be_read() {
        let latin1 = b"user name\nj\xF6rg\n";
        assert_eq!(
            read("x.csv", latin1).unwrap_err(),
            ReadError::NotUtf8 { line: 2 }
        );
        assert_eq!(
            read("x.csv", &[0xFF, 0xFE, b'a', 0]).unwrap_err(),
            ReadError::Utf16
        );
        assert_eq!(read("x.csv", b"").unwrap_err(), ReadError::Empty);
        assert!(matches!(
            read("x.xlsx", b"user name\n").unwrap_err(),
            ReadError::BadXlsx(_)
        ));
        assert!(matches!(
            read("x.csv", b"PK\x03\x04broken").unwrap_err(),
            ReadError::BadXlsx(_)
        ));
        assert_eq!(
            read("x.xls", &[0xD0, 0xCF, 0x11, 0xE0, 0, 0]).unwrap_err(),
            ReadError::Xls
        );
    }

    #[test]
    fn whole_numbers_lose_the_decimal_point() {
        assert_eq!(cell_text(&Data::Float(1001.0)).as_deref(), Ok("1001"));
        assert_eq!(cell_text(&Data::Float(2.5)).as_deref(), Ok("2.5"));
        assert_eq!(cell_text(&Data::Int(7)).as_deref(), Ok("7"));
    }
}
