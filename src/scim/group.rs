//! The SCIM Group resource.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::user::{check_schemas, opt_str};
use super::{GROUP_SCHEMA, etag, get_ci, timestamp};
use crate::domain::{Group, Member};

/// Renders a group; `members` is `None` when they were not loaded (excluded).
pub fn to_json(group: &Group, members: Option<&[Member]>, base_url: &str) -> Value {
    let mut o = Map::new();
    o.insert("schemas".into(), json!([GROUP_SCHEMA]));
    o.insert("id".into(), json!(group.id));
    if let Some(e) = &group.external_id {
        o.insert("externalId".into(), json!(e));
    }
    o.insert("displayName".into(), json!(group.display_name));
    if let Some(members) = members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let kind = m.kind.as_str();
                // RFC 7643 §8.7.1 defines value, $ref and type for members; names are
                // read from the members themselves.
                json!({
                    "value": m.id,
                    "$ref": format!("{base_url}/scim/v2/{kind}s/{}", m.id),
                    "type": kind,
                })
            })
            .collect();
        o.insert("members".into(), Value::Array(list));
    }
    o.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(group.created_at),
            "lastModified": timestamp(group.updated_at),
            "location": format!("{base_url}/scim/v2/Groups/{}", group.id),
            "version": etag(group.version),
        }),
    );
    Value::Object(o)
}

/// What a POST/PUT Group body asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBody {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member ids; `None` when the body has no `members` attribute.
    pub members: Option<Vec<String>>,
}

pub fn from_json(body: &Value) -> Result<GroupBody, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax("a Group must be a JSON object"));
    };
    check_schemas(o)?;
    let display_name = opt_str(o, "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let members = match get_ci(o, "members") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(member_ids(items)?),
        Some(v @ Value::Object(_)) => Some(member_ids(std::slice::from_ref(v))?),
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    };
    Ok(GroupBody {
        display_name,
        external_id: opt_str(o, "externalId")?,
        members,
    })
}

/// Member ids from `[{"value": "…", "$ref": null, "type": "User"}, …]`.
pub fn member_ids(items: &[Value]) -> Result<Vec<String>, ScimError> {
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(m) => match opt_str(m, "value")? {
                Some(id) => ids.push(id),
                None => {
                    return Err(ScimError::invalid_value(
                        "each member needs a value (its id)",
                    ));
                }
            },
            Value::String(s) => ids.push(s.clone()),
            _ => {
                return Err(ScimError::invalid_value(
                    "members must be objects with a value",
                ));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_with_null_ref_and_ignores_unknown_urns() {
        let g = from_json(&json!({
            "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Tier 2",
            "members": [{"$ref": null, "value": "a1"}, {"value": "b2", "type": "User"}]
        }))
        .expect("valid");
        assert_eq!(g.members, Some(vec!["a1".to_string(), "b2".to_string()]));
        assert!(from_json(&json!({"displayName": ""})).is_err());
        assert!(
            from_json(&json!({"displayName": "x", "members": [{"display": "no id"}]})).is_err()
        );
    }
}
