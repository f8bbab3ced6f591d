//! An export's bytes to rows: CSV (UTF-8, a BOM tolerated, the configured delimiter and
//! quote), a JSON array of objects, or NDJSON — each row the values of the columns asked
//! for, with its line (CSV, NDJSON) or record number (JSON array). Objects are read one at a
//! time, so a large export is never held as a tree.

use std::collections::HashMap;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::settings::Format;

/// One row: its line or record number and the values of the columns asked for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub values: Vec<Option<String>>,
    /// Why the row cannot be read (wrong number of fields, not UTF-8, not an object).
    pub broken: Option<String>,
}

/// Why an export cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Columns the mapping names are not in the CSV header (or, JSON, no record has the
    /// employee id).
    MissingColumns(Vec<String>),
    /// Not CSV / JSON as configured, or cut short.
    Malformed(String),
}

/// Reads `bytes` as `format`, handing each row to `on_row`; `columns` are the names asked
/// for (the first is the employee id). Returns the number of rows.
pub fn rows(
    bytes: &[u8],
    format: Format,
    (delimiter, quote): (u8, u8),
    columns: &[String],
    on_row: &mut dyn FnMut(Row),
) -> Result<usize, ReadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match format {
        Format::Csv => csv_rows(bytes, delimiter, quote, columns, on_row),
        Format::Json => json_rows(bytes, columns, on_row),
        Format::Ndjson => ndjson_rows(bytes, columns, on_row),
    }
}

fn csv_rows(
    bytes: &[u8],
    delimiter: u8,
    quote: u8,
    columns: &[String],
    on_row: &mut dyn FnMut(Row),
) -> Result<usize, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| ReadError::Malformed(format!("the header line cannot be read: {e}")))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(ReadError::Malformed(
            "the export is empty (no header line)".into(),
        ));
    }
    let names: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    let by_name: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .rev()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| !by_name.contains_key(c.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(ReadError::MissingColumns(missing));
    }
    let index: Vec<usize> = columns.iter().map(|c| by_name[c.as_str()]).collect();
    let mut record = csv::ByteRecord::new();
    let mut count = 0;
    // Lines are counted here: the reader's own count is off after blank lines.
    let (mut counted_to, mut line) = (0usize, 1usize);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ReadError::Malformed(format!("after line {line}: {e}"))),
        }
        let mut at = record.position().map_or(counted_to, |p| p.byte() as usize);
        while bytes.get(at).is_some_and(|b| *b == b'\n' || *b == b'\r') {
            at += 1;
        }
        let at = at.min(bytes.len()).max(counted_to);
        line += bytes[counted_to..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        counted_to = at;
        // A line of nothing but separators is not a person.
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        count += 1;
        let mut row = Row {
            line,
            values: Vec::with_capacity(index.len()),
            broken: None,
        };
        if record.len() != names.len() {
            row.broken = Some(format!(
                "{} fields where the header has {}",
                record.len(),
                names.len()
            ));
        }
        for &i in &index {
            let value = match record.get(i).map(std::str::from_utf8) {
                Some(Ok(v)) => non_empty(v),
                Some(Err(_)) => {
                    row.broken = Some(format!("column {:?} is not UTF-8", names[i]));
                    None
                }
                None => None,
            };
            row.values.push(value);
        }
        on_row(row);
    }
    Ok(count)
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A JSON value as text: strings as they are, numbers and booleans written out; `null`,
/// objects and arrays are no value.
fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => non_empty(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `a.b` looks into nested objects.
fn lookup<'v>(
    object: &'v serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'v serde_json::Value> {
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut v = object.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// The row of one JSON value (which should be an object).
fn json_row(line: usize, value: serde_json::Value, columns: &[String], seen_id: &mut bool) -> Row {
    match value {
        serde_json::Value::Object(object) => {
            let values: Vec<Option<String>> = columns
                .iter()
                .map(|c| lookup(&object, c).and_then(text_of))
                .collect();
            *seen_id |= lookup(&object, &columns[0]).is_some();
            Row {
                line,
                values,
                broken: None,
            }
        }
        _ => Row {
            line,
            values: vec![None; columns.len()],
            broken: Some("not a JSON object".into()),
        },
    }
}

fn json_rows(
    bytes: &[u8],
    columns: &[String],
    on_row: &mut dyn FnMut(Row),
) -> Result<usize, ReadError> {
    struct Each<'c, 'f> {
        columns: &'c [String],
        on_row: &'f mut dyn FnMut(Row),
        seen_id: bool,
    }
    impl<'de> Visitor<'de> for &mut Each<'_, '_> {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while let Some(value) = seq.next_element::<serde_json::Value>()? {
                n += 1;
                let row = json_row(n, value, self.columns, &mut self.seen_id);
                (self.on_row)(row);
            }
            Ok(n)
        }
    }
    impl<'de> DeserializeSeed<'de> for &mut Each<'_, '_> {
        type Value = usize;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
            d.deserialize_seq(self)
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::Malformed("the export is empty".into()));
    }
    let mut each = Each {
        columns,
        on_row,
        seen_id: false,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let n = (&mut each)
        .deserialize(&mut de)
        .and_then(|n| de.end().map(|()| n))
        .map_err(|e| ReadError::Malformed(format!("not a JSON array of objects: {e}")))?;
    if n > 0 && !each.seen_id {
        return Err(ReadError::MissingColumns(vec![columns[0].clone()]));
    }
    Ok(n)
}

fn ndjson_rows(
    bytes: &[u8],
    columns: &[String],
    on_row: &mut dyn FnMut(Row),
) -> Result<usize, ReadError> {
    let mut n = 0;
    let mut seen_id = false;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n += 1;
        let row = match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) => json_row(i + 1, v, columns, &mut seen_id),
            Err(e) => Row {
                line: i + 1,
                values: vec![None; columns.len()],
                broken: Some(format!("not JSON: {e}")),
            },
        };
        on_row(row);
    }
    if n > 0 && !seen_id {
        return Err(ReadError::MissingColumns(vec![columns[0].clone()]));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], format: Format, cols: &[&str]) -> Result<Vec<Row>, ReadError> {
        let cols: Vec<String> = cols.iter().map(|c| (*c).to_owned()).collect();
        let mut out = Vec::new();
        rows(bytes, format, (b',', b'"'), &cols, &mut |r| out.push(r))?;
        Ok(out)
    }

    #[test]
    fn csv_with_bom_quotes_and_lines() {
        let text = "\u{feff}Employee ID,Name,Dept\n1001,\"Wang, Wei\",售前\n\n1002,Li Na,\n";
        let rows = read(text.as_bytes(), Format::Csv, &["Employee ID", "Dept"]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].values,
            vec![Some("1001".into()), Some("售前".into())]
        );
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].values[1], None);
    }

    #[test]
    fn csv_missing_columns_and_short_rows() {
        let e = read(b"id,name\n1,a\n", Format::Csv, &["id", "dept"]).unwrap_err();
        assert_eq!(e, ReadError::MissingColumns(vec!["dept".into()]));
        let rows = read(b"id,name\n1,a\n2\n", Format::Csv, &["id", "name"]).unwrap();
        assert!(rows[1].broken.as_deref().unwrap().contains("1 fields"));
        assert!(matches!(
            read(b"", Format::Csv, &["id"]),
            Err(ReadError::Malformed(_))
        ));
    }

    #[test]
    fn json_array_and_ndjson() {
        let text = br#"[{"id": 7, "org": {"dept": "QA"}}, {"id": "8", "org": null}, 3]"#;
        let rows = read(text, Format::Json, &["id", "org.dept"]).unwrap();
        assert_eq!(rows[0].values, vec![Some("7".into()), Some("QA".into())]);
        assert_eq!(rows[1].values, vec![Some("8".into()), None]);
        assert_eq!(rows[2].line, 3);
        assert!(rows[2].broken.is_some());
        assert!(matches!(
            read(br#"[{"id": 1}"#, Format::Json, &["id"]),
            Err(ReadError::Malformed(_))
        ));
        assert_eq!(
            read(br#"[{"emp": 1}]"#, Format::Json, &["id"]).unwrap_err(),
            ReadError::MissingColumns(vec!["id".into()])
        );
        let rows = read(b"{\"id\":\"a\"}\n\n{oops\n", Format::Ndjson, &["id"]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 3);
        assert!(rows[1].broken.is_some());
    }
}
