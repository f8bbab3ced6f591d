//! Attribute paths (`[urn:]attr[.sub]`) and PATCH paths (`attr[valFilter].sub`).

use super::parser::Parser;
use super::{AttrPath, ParseError, PatchPath};

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
/// `ALPHA *(ALPHA / DIGIT / "-" / "_")`, or `$ref`.
pub(super) fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits `[urn:]attr[.sub]`. The URN is everything up to the last `:` (a URN may contain
/// dots, as in `…:enterprise:2.0:User`); the attribute part may not.
pub(super) fn split_attr_path(s: &str, offset: usize) -> Result<AttrPath, ParseError> {
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
