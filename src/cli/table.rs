//! Human-readable tables for the command line: columns aligned by display width, so that a
//! name in Chinese or Japanese (two columns a character) lines up with Latin ones.

use unicode_width::UnicodeWidthStr;

/// Rows of cells under a header.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The width of `s` on a terminal: wide (CJK) characters take two columns, combining marks
/// none. Control characters (which a name never holds) count as one, as printed by `clean`.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// A cell as it is printed: control characters (a line break would break the table) shown
/// as `?`.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|c| clean(c.as_ref())).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text: two spaces between columns, no padding after the last one.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if i + 1 < line.len() {
                    text.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("张伟"), 4);
        assert_eq!(width("ｶﾀｶﾅ"), 4); // half-width katakana: one column each
        assert_eq!(width("e\u{301}"), 1); // a combining accent takes none
    }

    #[test]
    fn columns_align_by_display_width() {
        let mut t = Table::new(["NAME", "ROLE"]);
        t.row(["张伟", "agent"]);
        t.row(["alice", "supervisor"]);
        t.row(["王小明明", "agent"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME      ROLE");
        assert_eq!(lines[1], "张伟      agent");
        assert_eq!(lines[2], "alice     supervisor");
        assert_eq!(lines[3], "王小明明  agent");
        // The second column starts at the same display column on every line.
        for l in &lines {
            let first = l.split("  ").next().unwrap_or("");
            let rest = &l[first.len()..];
            let pad = rest.len() - rest.trim_start().len();
            assert_eq!(width(first) + pad, 10, "{l:?}");
        }
    }

    #[test]
    fn control_characters_do_not_break_lines() {
        let mut t = Table::new(["A", "B"]);
        t.row(["x\ny", "z"]);
        assert_eq!(t.render(), "A    B\nx?y  z\n");
    }
}
