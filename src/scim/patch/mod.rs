//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON document, with the quirks of real
//! identity providers: Entra ID's capitalised ops and `"True"`/`"False"` strings, path-less
//! values with dotted or URN keys, `add` through a value filter that matches nothing (creates
//! the element), member removal by value list. Group membership changes are split off first
//! so the store can apply them without loading the group. Pure: no I/O.
//!
//! `parse` reads the request, `members` splits a Group's membership changes off, `apply`
//! runs the operations (the caps, path-less values, the dispatch by path), `attribute` and
//! `value_filter` change the targets.

use serde_json::Value;

use super::filter::PatchPath;

mod apply;
mod attribute;
mod members;
mod parse;
#[cfg(test)]
mod tests;
mod value_filter;

pub use apply::apply_patch;
pub use members::split_member_ops;
pub use parse::parse_patch_request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A change to a group's member list, by member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}
