//! CSV that Rollcall writes (import template, import reports, exports): UTF-8 with a BOM,
//! and every cell neutralised against formula injection — the one place that does it.

use std::borrow::Cow;

/// A cell safe to open in a spreadsheet program: one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be taken as a formula (or hide one), so it gets a leading `'`,
/// which spreadsheets show as text. Import files accept the mark back (see
/// [`strip_neutraliser`]).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The inverse of [`neutralise`] for a cell read back from a file Rollcall wrote: `'` before
/// one of the characters it guards is dropped.
pub fn strip_neutraliser(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest)
            if matches!(
                rest.chars().next(),
                Some('=' | '+' | '-' | '@' | '\t' | '\r')
            ) =>
        {
            rest
        }
        _ => cell,
    }
}

/// A whole CSV document: a BOM, the header line, then each row; every cell neutralised,
/// fields quoted when they need it, lines ended by CRLF.
pub fn to_csv<H, R, C>(headers: &[H], rows: impl IntoIterator<Item = R>) -> Vec<u8>
where
    H: AsRef<str>,
    R: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut out = "\u{FEFF}".as_bytes().to_vec();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(&mut out);
    // Writing to a Vec cannot fail; an error here would be a bug in the csv crate.
    let _ = w.write_record(headers.iter().map(|h| neutralise(h.as_ref()).into_owned()));
    for row in rows {
        let _ = w.write_record(row.into_iter().map(|c| neutralise(c.as_ref()).into_owned()));
    }
    let _ = w.flush();
    drop(w);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_a_quote() {
        for s in ["=1+1", "+86 10", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(s), format!("'{s}"));
            assert_eq!(strip_neutraliser(&neutralise(s)), s);
        }
        for s in ["alice", "", "1=1", "'quoted", "李雷"] {
            assert_eq!(neutralise(s), s);
            assert_eq!(strip_neutraliser(s), s);
        }
    }

    #[test]
    fn a_document_has_bom_quotes_and_neutralised_cells() {
        let doc = to_csv(&["a", "b"], [vec!["=cmd|' /C calc'!A0", "x,y"]]);
        let text = String::from_utf8(doc).expect("utf-8");
        assert_eq!(text, "\u{FEFF}a,b\r\n'=cmd|' /C calc'!A0,\"x,y\"\r\n");
    }
}
