//! SCIM 2.0 protocol (RFC 7643/7644): resources, schemas, filters, PATCH, projections and
//! errors. Pure: no HTTP, no database.

pub mod error;
pub mod filter;
pub mod group;
pub mod limits;
pub mod patch;
pub mod project;
pub mod schema;
pub mod user;

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const AGENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `2026-01-31T12:00:00.123Z`
pub fn timestamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The weak ETag of a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Case-insensitive key lookup in a JSON object.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A list response (RFC 7644 §3.4.2).
pub fn list_response(
    total: i64,
    start_index: Option<i64>,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let mut body = serde_json::json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(i) = start_index {
        body["startIndex"] = i.into();
    }
    if let Some(c) = next_cursor {
        body["nextCursor"] = Value::String(c);
    }
    body
}
