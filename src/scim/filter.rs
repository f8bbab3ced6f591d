//! SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2 and §3.5.2): the AST and its
//! parser. Pure: no I/O. Translation to SQL lives in the store.

use serde_json::{Number, Value};

/// `[urn ":"] attr ["." subAttr]`. Names keep the client's spelling; compare them with
/// `eq_ignore_ascii_case`. `urn` is the schema URN prefix when the client wrote one
/// (e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value: JSON string, number, boolean or null.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath compareOp compValue`
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath "[" valFilter "]"`: some element of the multi-valued complex attribute
    /// `attr` matches `filter`, whose paths name sub-attributes of that element.
    ValuePath(AttrPath, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// A PATCH `path` (RFC 7644 §3.5.2): `attrPath` or `valuePath ["." subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when the path is a plain `attr.sub`).
    pub attr: AttrPath,
    /// The value filter between brackets, if any.
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets (`emails[type eq "work"].value` → `value`).
    pub sub_attr: Option<String>,
}

/// Why a filter or path did not parse; `position` is a character offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
}

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

/// Parses an attribute path (`attributes=`, `sortBy=`): `[urn:]attr[.sub]`.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ParseError> {
    let trimmed = input.trim();
    let offset = input.len() - input.trim_start().len();
    split_attr_path(trimmed, offset)
}

/// Parses a PATCH `path`: `attrPath`, or `attr[valFilter]` optionally followed by `.subAttr`.
pub fn parse_path(input: &str) -> Result<PatchPath, ParseError> {
    let s = input.trim();
    let offset = input.len() - input.trim_start().len();
    let Some(open) = s.find('[') else {
        return Ok(PatchPath {
            attr: split_attr_path(s, offset)?,
            filter: None,
            sub_attr: None,
        });
    };
    let attr = split_attr_path(&s[..open], offset)?;
    if attr.sub_attr.is_some() {
        return Err(ParseError {
            message: "a value filter must follow a multi-valued attribute, not a sub-attribute"
                .into(),
            position: offset + open,
        });
    }
    let mut p = Parser {
        src: s,
        pos: open + 1,
        depth: 1,
        leaves: 0,
    };
    let filter = p.or_expr().map_err(|e| ParseError {
        position: e.position + offset,
        ..e
    })?;
    p.skip_ws();
    if !p.eat("]") {
        return Err(ParseError {
            message: "expected ']'".into(),
            position: offset + p.pos,
        });
    }
    let rest = &s[p.pos..];
    let sub_attr = if rest.is_empty() {
        None
    } else if let Some(name) = rest.strip_prefix('.') {
        if !is_attr_name(name) {
            return Err(ParseError {
                message: format!("invalid sub-attribute name {name:?}"),
                position: offset + p.pos + 1,
            });
        }
        Some(name.to_owned())
    } else {
        return Err(ParseError {
            message: "unexpected input after ']'".into(),
            position: offset + p.pos,
        });
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub_attr,
    })
}

/// Whether a JSON element of a multi-valued attribute matches a value filter (the part
/// between brackets). Used by PATCH to pick the elements a path targets. `case_exact` says
/// whether a sub-attribute compares case-sensitively.
pub fn matches_element(
    filter: &Filter,
    element: &Value,
    case_exact: &dyn Fn(&str) -> bool,
) -> bool {
    match filter {
        Filter::And(a, b) => {
            matches_element(a, element, case_exact) && matches_element(b, element, case_exact)
        }
        Filter::Or(a, b) => {
            matches_element(a, element, case_exact) || matches_element(b, element, case_exact)
        }
        Filter::Not(a) => !matches_element(a, element, case_exact),
        Filter::ValuePath(..) => false,
        Filter::Present(path) => match element_field(element, path) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        },
        Filter::Compare(path, op, expected) => {
            let exact = case_exact(&path.attr);
            match element_field(element, path) {
                None | Some(Value::Null) => match (op, expected) {
                    (CompareOp::Eq, CompValue::Null) => true,
                    (CompareOp::Ne, CompValue::Null) => false,
                    (CompareOp::Ne, _) => true,
                    _ => false,
                },
                Some(actual) => compare_json(actual, *op, expected, exact),
            }
        }
    }
}

/// A sub-attribute of an element; an element that is a bare string is its own `value`.
fn element_field<'a>(element: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match element {
        Value::Object(m) => {
            let v = super::get_ci(m, &path.attr)?;
            match &path.sub_attr {
                None => Some(v),
                Some(sub) => match v {
                    Value::Object(inner) => super::get_ci(inner, sub),
                    _ => None,
                },
            }
        }
        other if path.attr.eq_ignore_ascii_case("value") && path.sub_attr.is_none() => Some(other),
        _ => None,
    }
}

/// `actual op expected` on two texts, ignoring case unless `case_exact` (RFC 7644 §3.4.2.2).
pub fn compare_text(actual: &str, op: CompareOp, expected: &str, case_exact: bool) -> bool {
    let (a, e) = if case_exact {
        (actual.to_owned(), expected.to_owned())
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    match op {
        CompareOp::Eq => a == e,
        CompareOp::Ne => a != e,
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        CompareOp::Gt => a > e,
        CompareOp::Ge => a >= e,
        CompareOp::Lt => a < e,
        CompareOp::Le => a <= e,
    }
}

fn compare_json(actual: &Value, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => return compare_text(a, op, e, case_exact),
        (Value::Bool(a), CompValue::Bool(e)) => Some(a.cmp(e)),
        (Value::Bool(a), CompValue::Str(e)) if e.eq_ignore_ascii_case("true") => Some(a.cmp(&true)),
        (Value::Bool(a), CompValue::Str(e)) if e.eq_ignore_ascii_case("false") => {
            Some(a.cmp(&false))
        }
        (Value::Number(a), CompValue::Num(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e),
            _ => None,
        },
        (Value::String(a), CompValue::Bool(e)) => {
            if a.eq_ignore_ascii_case("true") {
                Some(true.cmp(e))
            } else if a.eq_ignore_ascii_case("false") {
                Some(false.cmp(e))
            } else {
                None
            }
        }
        _ => None,
    };
    match (op, ordering) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Ne, None) => true,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

/// `ALPHA *(ALPHA / DIGIT / "-" / "_")`, or `$ref`.
fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits `[urn:]attr[.sub]`. The URN is everything up to the last `:` (a URN may contain
/// dots, as in `…:enterprise:2.0:User`); the attribute part may not.
fn split_attr_path(s: &str, offset: usize) -> Result<AttrPath, ParseError> {
    let err = |message: String, at: usize| ParseError {
        message,
        position: offset + at,
    };
    if s.is_empty() {
        return Err(err("expected an attribute name".into(), 0));
    }
    let (urn, rest, rest_at) = match s.rfind(':') {
        Some(i) => {
            let urn = &s[..i];
            if !urn.to_ascii_lowercase().starts_with("urn:") {
                return Err(err(format!("{s:?} is not an attribute path"), 0));
            }
            (Some(urn.to_owned()), &s[i + 1..], i + 1)
        }
        None => (None, s, 0),
    };
    let (attr, sub_attr) = match rest.split_once('.') {
        Some((a, sub)) => (a, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(attr) {
        return Err(err(format!("invalid attribute name {attr:?}"), rest_at));
    }
    if let Some(sub) = sub_attr
        && !is_attr_name(sub)
    {
        return Err(err(
            format!("invalid sub-attribute name {sub:?}"),
            rest_at + attr.len() + 1,
        ));
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_owned(),
        sub_attr: sub_attr.map(str::to_owned),
    })
}

/// A recursive-descent parser over the filter text. Positions are byte offsets.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    leaves: usize,
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

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
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

    fn or_expr(&mut self) -> Result<Filter, ParseError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(attr: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }

    fn cmp(attr: &str, op: CompareOp, v: CompValue) -> Filter {
        Filter::Compare(path(attr), op, v)
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.into())
    }

    #[test]
    fn parses_simple_comparisons_case_insensitively() {
        assert_eq!(
            parse_filter(r#"userName eq "ana""#),
            Ok(cmp("userName", CompareOp::Eq, s("ana")))
        );
        assert_eq!(
            parse_filter(r#"userName EQ "ana""#),
            Ok(cmp("userName", CompareOp::Eq, s("ana")))
        );
        assert_eq!(parse_filter("title pr"), Ok(Filter::Present(path("title"))));
        assert_eq!(
            parse_filter("meta.lastModified gt \"2011-05-13T04:42:34Z\""),
            Ok(Filter::Compare(
                AttrPath {
                    urn: None,
                    attr: "meta".into(),
                    sub_attr: Some("lastModified".into())
                },
                CompareOp::Gt,
                s("2011-05-13T04:42:34Z")
            ))
        );
        assert_eq!(
            parse_filter("active eq True"),
            Ok(cmp("active", CompareOp::Eq, CompValue::Bool(true)))
        );
        assert_eq!(
            parse_filter("x eq null"),
            Ok(cmp("x", CompareOp::Eq, CompValue::Null))
        );
        assert_eq!(
            parse_filter("n ge 10"),
            Ok(cmp("n", CompareOp::Ge, CompValue::Num(Number::from(10))))
        );
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let f = parse_filter(r#"a eq "1" or b eq "2" and not (c pr)"#).expect("parses");
        assert_eq!(
            f,
            Filter::Or(
                Box::new(cmp("a", CompareOp::Eq, s("1"))),
                Box::new(Filter::And(
                    Box::new(cmp("b", CompareOp::Eq, s("2"))),
                    Box::new(Filter::Not(Box::new(Filter::Present(path("c"))))),
                )),
            )
        );
        let g = parse_filter(r#"(a eq "1" or b eq "2") and c pr"#).expect("parses");
        assert!(matches!(g, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
    }

    #[test]
    fn value_paths_and_urns() {
        let f = parse_filter(r#"emails[type eq "work" and primary eq true].value co "@x""#);
        assert!(matches!(f, Ok(Filter::ValuePath(ref p, _)) if p.attr == "emails"));
        let f = parse_filter(r#"emails[type eq "work" and primary eq true]"#).expect("parses");
        let Filter::ValuePath(p, inner) = f else {
            panic!("value path expected")
        };
        assert_eq!(p, path("emails"));
        assert!(matches!(*inner, Filter::And(..)));
        let f = parse_filter(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Support""#,
        )
        .expect("parses");
        let Filter::Compare(p, ..) = f else {
            panic!("comparison expected")
        };
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr, "department");
        let p = parse_attr_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .expect("parses");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
    }

    #[test]
    fn strings_keep_escapes_and_keywords_inside() {
        assert_eq!(
            parse_filter(r#"displayName eq "a \"q\" and b""#),
            Ok(cmp("displayName", CompareOp::Eq, s("a \"q\" and b")))
        );
        assert_eq!(
            parse_filter(r#"displayName eq "日本 ]) or""#),
            Ok(cmp("displayName", CompareOp::Eq, s("日本 ]) or")))
        );
    }

    #[test]
    fn rejects_malformed_filters_with_a_position() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName eq ana",
            "userName zz \"a\"",
            "userName eq \"a",
            "(userName eq \"a\"",
            "userName eq \"a\")",
            "emails[type eq \"work\"",
            "not userName pr",
            "userName eq \"a\" and",
            "1abc eq \"a\"",
            "a.b.c eq \"x\"",
            "userName eq \"\\q\"",
            "userName eq\"a\"",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?} should not parse");
        }
        let e = parse_filter("userName zz \"a\"").expect_err("bad op");
        assert_eq!(e.position, 9);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_filter(&deep).is_err());
        let nots = "not (".repeat(10_000);
        assert!(parse_filter(&nots).is_err());
        let long = vec!["a pr"; 100_000].join(" or ");
        assert!(parse_filter(&long).is_err());
        let ok = format!("{}a pr{}", "(".repeat(20), ")".repeat(20));
        assert!(parse_filter(&ok).is_ok());
    }

    #[test]
    fn patch_paths() {
        let p = parse_path(r#"members[value eq "2819c223"]"#).expect("parses");
        assert_eq!(p.attr, path("members"));
        assert_eq!(p.filter, Some(cmp("value", CompareOp::Eq, s("2819c223"))));
        assert_eq!(p.sub_attr, None);
        let p = parse_path(r#"emails[type eq "work"].value"#).expect("parses");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        let p = parse_path("name.givenName").expect("parses");
        assert_eq!(p.attr.sub_attr.as_deref(), Some("givenName"));
        assert!(p.filter.is_none());
        assert!(parse_path("emails[type eq \"work\"]x").is_err());
        assert!(parse_path("emails[type eq \"work\"").is_err());
        assert!(parse_path("").is_err());
        assert!(parse_path("na me").is_err());
    }

    #[test]
    fn element_matching_honours_case_exactness() {
        let el = serde_json::json!({"type": "Work", "value": "A@x.com", "primary": true});
        let f = parse_filter(r#"type eq "work" and primary eq true"#).expect("parses");
        assert!(matches_element(&f, &el, &|_| false));
        assert!(!matches_element(&f, &el, &|_| true));
        let f = parse_filter(r#"value sw "a@" and not (display pr)"#).expect("parses");
        assert!(matches_element(&f, &el, &|_| false));
        let bare = Value::String("abc".into());
        let f = parse_filter(r#"value eq "abc""#).expect("parses");
        assert!(matches_element(&f, &bare, &|_| true));
    }

    /// Mutated filters (bytes dropped, duplicated, swapped, multi-byte characters spliced in)
    /// must parse or fail, never panic.
    #[test]
    fn mutated_input_never_panics() {
        let seeds = [
            r#"emails[type eq "work" and primary eq true].value co "@x""#,
            r#"not (userName sw "a\"b") or (title pr and meta.created gt "2020-01-01T00:00:00Z")"#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
            r#"members[value eq "日本"]"#,
        ];
        let pieces = [
            "(", ")", "[", "]", "\"", "\\", " ", ".", ":", "é", "日", "not", "eq", "pr",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in seeds {
            for _ in 0..2_000 {
                let mut chars: Vec<String> = seed.chars().map(String::from).collect();
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % (chars.len() + 1);
                    match next() % 3 {
                        0 if !chars.is_empty() => {
                            chars.remove(at.min(chars.len() - 1));
                        }
                        1 => chars.insert(at, pieces[(next() as usize) % pieces.len()].to_owned()),
                        _ => chars.truncate(at),
                    }
                }
                let text: String = chars.concat();
                let _ = parse_filter(&text);
                let _ = parse_path(&text);
                let _ = parse_attr_path(&text);
            }
        }
    }
}
