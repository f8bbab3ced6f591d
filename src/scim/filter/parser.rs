//! The filter grammar: a recursive-descent parser over the filter text, bounded in depth and
//! in comparisons.

use serde_json::Number;

use super::path::{is_attr_name, split_attr_path};
use super::{AttrPath, CompValue, CompareOp, Filter, ParseError};

/// Deepest nesting of parentheses, `not` and brackets a filter may have. Keeps a hostile
/// filter from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// Most comparisons a filter may hold. `a pr or b pr or …` builds a tree as deep as it is
/// long, so its length is bounded too.
const MAX_LEAVES: usize = 1000;

/// Parses a filter (`filter=` query parameter, or `filter` of a search request).
pub fn parse_filter(input: &str) -> Result<Filter, ParseError> {
    let mut p = Parser {
        src: input,
        pos: 0,
        depth: 0,
        leaves: 0,
    };
    let f = p.or_expr()?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(p.error("unexpected input after the end of the filter"));
    }
    Ok(f)
}
/// A recursive-descent parser over the filter text. Positions are byte offsets.
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) pos: usize,
    pub(super) depth: usize,
    pub(super) leaves: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: self.pos,
        }
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    pub(super) fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    pub(super) fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Consumes `word` (any case) when it is followed by a space, a bracket or the end.
    fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let Some(head) = rest.get(..word.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(word) {
            return false;
        }
        match rest[word.len()..].chars().next() {
            None => {}
            Some(c) if c.is_whitespace() || matches!(c, '(' | ')' | ']') => {}
            Some(_) => return false,
        }
        self.pos += word.len();
        true
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("filter nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    pub(super) fn or_expr(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and_expr()?;
        loop {
            self.skip_ws();
            if self.eat_keyword("or") {
                let right = self.and_expr()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        loop {
            self.skip_ws();
            if self.eat_keyword("and") {
                let right = self.unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        self.skip_ws();
        if self.eat_keyword("not") {
            self.enter()?;
            self.skip_ws();
            if !self.rest().starts_with('(') {
                return Err(self.error("expected '(' after not"));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat("(") {
            self.enter()?;
            let inner = self.or_expr()?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.error("expected ')'"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.attr_expr()
    }

    /// `attrPath pr`, `attrPath op value`, or `attr[filter]` (optionally `.sub op value`).
    fn attr_expr(&mut self) -> Result<Filter, ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error("expected an attribute name"));
        }
        let path = split_attr_path(&self.src[start..start + len], start)?;
        self.pos += len;
        if self.eat("[") {
            if path.sub_attr.is_some() {
                return Err(self.error("a value filter must follow a multi-valued attribute"));
            }
            self.enter()?;
            let inner = self.or_expr()?;
            self.skip_ws();
            if !self.eat("]") {
                return Err(self.error("expected ']'"));
            }
            self.depth -= 1;
            // `emails[type eq "work"].value eq "x"`: a comparison on the selected elements.
            if self.rest().starts_with('.') {
                let sub_start = self.pos + 1;
                let sub_len = self.src[sub_start..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"'))
                    .unwrap_or(self.src.len() - sub_start);
                let sub = &self.src[sub_start..sub_start + sub_len];
                if !is_attr_name(sub) {
                    return Err(ParseError {
                        message: format!("invalid sub-attribute name {sub:?}"),
                        position: sub_start,
                    });
                }
                self.pos = sub_start + sub_len;
                let sub_path = AttrPath {
                    urn: None,
                    attr: sub.to_owned(),
                    sub_attr: None,
                };
                let cond = self.comparison(sub_path)?;
                return Ok(Filter::ValuePath(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(cond))),
                ));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ParseError> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(self.error(format!("filter has more than {MAX_LEAVES} comparisons")));
        }
        self.skip_ws();
        if self.eat_keyword("pr") {
            return Ok(Filter::Present(path));
        }
        let op_at = self.pos;
        let word_len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(self.rest().len());
        let op = match self.rest()[..word_len].to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            "" => {
                return Err(
                    self.error("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
                );
            }
            other => {
                return Err(ParseError {
                    message: format!("unknown operator {other:?}"),
                    position: op_at,
                });
            }
        };
        self.pos += word_len;
        if !self.rest().starts_with(char::is_whitespace) {
            return Err(self.error("expected a space before the comparison value"));
        }
        self.skip_ws();
        let value = self.value()?;
        Ok(Filter::Compare(path, op, value))
    }

    fn value(&mut self) -> Result<CompValue, ParseError> {
        let rest = self.rest();
        if rest.starts_with('"') {
            let end = string_end(rest).ok_or_else(|| self.error("unterminated string"))?;
            // Written raw or escaped, a control character is refused by name.
            let s: Result<String, _> = serde_json::from_str(&rest[..end]);
            let checked = match &s {
                Ok(s) => crate::domain::names::filter_value_ok(s),
                Err(_) => crate::domain::names::filter_value_ok(&rest[..end]),
            };
            if let Err(c) = checked {
                return Err(self.error(format!(
                    "a filter value contains U+{:04X}, a control character (rule: no \
                     control characters)",
                    u32::from(c)
                )));
            }
            let s = s.map_err(|_| self.error("invalid escape in string"))?;
            self.pos += end;
            return Ok(CompValue::Str(s));
        }
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']'))
            .unwrap_or(rest.len());
        let token = &rest[..len];
        let value = if token.eq_ignore_ascii_case("true") {
            CompValue::Bool(true)
        } else if token.eq_ignore_ascii_case("false") {
            CompValue::Bool(false)
        } else if token.eq_ignore_ascii_case("null") {
            CompValue::Null
        } else if let Ok(n) = serde_json::from_str::<Number>(token) {
            CompValue::Num(n)
        } else if token.is_empty() {
            return Err(self.error("expected a value"));
        } else {
            return Err(self.error(format!(
                "invalid value {token:?}: strings must be in double quotes"
            )));
        };
        self.pos += len;
        Ok(value)
    }
}

/// The byte length of the JSON string literal at the start of `s` (quotes included).
fn string_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}
