//! SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2 and §3.5.2): the AST and its
//! parser. Pure: no I/O. Translation to SQL lives in the store.
//!
//! `parser` reads filters, `path` attribute and PATCH paths, `matching` applies a value
//! filter to a JSON element (for PATCH).

mod matching;
mod parser;
mod path;
#[cfg(test)]
mod tests;

pub use matching::{compare_text, matches_element};
pub use parser::parse_filter;
pub use path::{parse_attr_path, parse_path};

use serde_json::Number;

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
