//! The SCIM User resource: an agent rendered as JSON, and JSON read into an agent input.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::{AGENT_SCHEMA, ENTERPRISE_SCHEMA, USER_SCHEMA, etag, get_ci, timestamp};
use crate::domain::{Agent, AgentProfile, MultiValue};

/// Renders an agent with its direct groups (`(id, displayName)`).
pub fn to_json(agent: &Agent, groups: &[(String, String)], base_url: &str) -> Value {
    let p = &agent.profile;
    let mut o = Map::new();
    o.insert("schemas".into(), json!([USER_SCHEMA, AGENT_SCHEMA]));
    o.insert("id".into(), json!(agent.id));
    put(&mut o, "externalId", &p.external_id);
    o.insert("userName".into(), json!(p.user_name));
    let mut name = Map::new();
    put(&mut name, "formatted", &p.formatted_name);
    put(&mut name, "familyName", &p.family_name);
    put(&mut name, "givenName", &p.given_name);
    put(&mut name, "middleName", &p.middle_name);
    if !name.is_empty() {
        o.insert("name".into(), Value::Object(name));
    }
    put(&mut o, "displayName", &p.display_name);
    put(&mut o, "nickName", &p.nickname);
    put(&mut o, "title", &p.title);
    put(&mut o, "preferredLanguage", &p.preferred_language);
    o.insert("active".into(), json!(agent.is_active()));
    if !p.emails.is_empty() {
        o.insert("emails".into(), multi_json(&p.emails));
    }
    if !p.phones.is_empty() {
        o.insert("phoneNumbers".into(), multi_json(&p.phones));
    }
    if !p.roles.is_empty() {
        o.insert("roles".into(), multi_json(&p.roles));
    }
    if !groups.is_empty() {
        let list: Vec<Value> = groups
            .iter()
            .map(|(id, name)| {
                json!({
                    "value": id,
                    "$ref": format!("{base_url}/scim/v2/Groups/{id}"),
                    "display": name,
                    "type": "direct",
                })
            })
            .collect();
        o.insert("groups".into(), Value::Array(list));
    }
    let mut ent = Map::new();
    put(&mut ent, "employeeNumber", &p.employee_number);
    put(&mut ent, "department", &p.department);
    if let Some(m) = &p.manager_id {
        ent.insert(
            "manager".into(),
            json!({ "value": m, "$ref": format!("{base_url}/scim/v2/Users/{m}") }),
        );
    }
    if !ent.is_empty() {
        o.insert(ENTERPRISE_SCHEMA.into(), Value::Object(ent));
        if let Some(Value::Array(s)) = o.get_mut("schemas") {
            s.insert(1, json!(ENTERPRISE_SCHEMA));
        }
    }
    let mut ext = Map::new();
    ext.insert("role".into(), json!(agent.role));
    ext.insert("skillGroups".into(), json!(p.skill_groups));
    if let Some(n) = p.max_concurrent_chats {
        ext.insert("maxConcurrentChats".into(), json!(n));
    }
    ext.insert("channels".into(), json!(p.channels));
    ext.insert("loginBlocked".into(), json!(agent.login_blocked));
    o.insert(AGENT_SCHEMA.into(), Value::Object(ext));
    o.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(agent.created_at),
            "lastModified": timestamp(agent.updated_at),
            "location": format!("{base_url}/scim/v2/Users/{}", agent.id),
            "version": etag(agent.version),
        }),
    );
    Value::Object(o)
}

fn put(o: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        o.insert(key.into(), Value::String(v.clone()));
    }
}

fn multi_json(list: &[MultiValue]) -> Value {
    Value::Array(
        list.iter()
            .map(|v| {
                let mut m = Map::new();
                m.insert("value".into(), json!(v.value));
                if let Some(k) = &v.kind {
                    m.insert("type".into(), json!(k));
                }
                m.insert("primary".into(), json!(v.primary));
                if let Some(d) = &v.display {
                    m.insert("display".into(), json!(d));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// What a POST/PUT body (or a patched resource) asks for.
#[derive(Debug, Clone, Default)]
pub struct UserBody {
    pub profile: AgentProfile,
    /// The agent extension was absent: keep the stored role, skill groups, chat limit and
    /// channels (an IdP that does not manage them must not clear them).
    pub keep_agent_settings: bool,
    pub active: Option<bool>,
    pub login_blocked: Option<bool>,
    /// A new password in clear, to be hashed by the caller.
    pub password: Option<String>,
}

/// Reads a User resource. Unknown attributes are ignored; read-only ones (`id`, `meta`,
/// `groups`) are ignored as RFC 7644 §3.5.1 allows; wrong types are `invalidValue`.
pub fn from_json(body: &Value) -> Result<UserBody, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    check_schemas(o)?;
    let mut p = AgentProfile {
        user_name: match get_ci(o, "userName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ScimError::invalid_value("userName is required"));
            }
            Some(_) => return Err(ScimError::invalid_value("userName must be a string")),
        },
        external_id: opt_str(o, "externalId")?,
        display_name: opt_str(o, "displayName")?,
        nickname: opt_str(o, "nickName")?,
        title: opt_str(o, "title")?,
        preferred_language: opt_str(o, "preferredLanguage")?,
        ..AgentProfile::default()
    };
    match get_ci(o, "name") {
        None | Some(Value::Null) => {}
        Some(Value::Object(n)) => {
            p.formatted_name = opt_str(n, "formatted")?;
            p.family_name = opt_str(n, "familyName")?;
            p.given_name = opt_str(n, "givenName")?;
            p.middle_name = opt_str(n, "middleName")?;
        }
        Some(_) => return Err(ScimError::invalid_value("name must be an object")),
    }
    p.emails = multi(o, "emails")?;
    p.phones = multi(o, "phoneNumbers")?;
    let mut out = UserBody {
        active: opt_bool(o, "active")?,
        password: opt_str(o, "password")?,
        ..UserBody::default()
    };
    p.roles = multi(o, "roles")?;
    if let Some(Value::Object(ent)) = get_ci(o, ENTERPRISE_SCHEMA) {
        p.employee_number = opt_str(ent, "employeeNumber")?;
        p.department = opt_str(ent, "department")?;
        p.manager_id = match get_ci(ent, "manager") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => non_empty(s),
            Some(Value::Object(m)) => opt_str(m, "value")?,
            Some(_) => return Err(ScimError::invalid_value("manager must be an object")),
        };
    } else if get_ci(o, ENTERPRISE_SCHEMA).is_some_and(|v| !v.is_null()) {
        return Err(ScimError::invalid_value(format!(
            "{ENTERPRISE_SCHEMA} must be an object"
        )));
    }
    match get_ci(o, AGENT_SCHEMA) {
        Some(Value::Object(ext)) => {
            p.role = opt_str(ext, "role")?;
            p.skill_groups = str_list(ext, "skillGroups")?;
            p.channels = str_list(ext, "channels")?;
            p.max_concurrent_chats = opt_int(ext, "maxConcurrentChats")?;
            out.login_blocked = opt_bool(ext, "loginBlocked")?;
        }
        None | Some(Value::Null) => out.keep_agent_settings = true,
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "{AGENT_SCHEMA} must be an object"
            )));
        }
    }
    out.profile = p;
    Ok(out)
}

/// `schemas`, when present, must be a list of strings; URNs Rollcall does not know
/// (Entra's, Google's SCIM 1.0 one) are ignored.
pub fn check_schemas(o: &Map<String, Value>) -> Result<(), ScimError> {
    match get_ci(o, "schemas") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ScimError::invalid_syntax(
            "schemas must be an array of URN strings",
        )),
    }
}

/// Blank strings count as absent; other values are kept exactly as sent.
fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

pub fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>, ScimError> {
    match get_ci(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(non_empty(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ScimError::invalid_value(format!("{key} must be a string"))),
    }
}

/// Booleans, including Entra ID's `"True"`/`"False"` strings.
pub fn opt_bool(o: &Map<String, Value>, key: &str) -> Result<Option<bool>, ScimError> {
    match get_ci(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{key} must be true or false"
        ))),
    }
}

fn opt_int(o: &Map<String, Value>, key: &str) -> Result<Option<i32>, ScimError> {
    let bad = || ScimError::invalid_value(format!("{key} must be an integer"));
    match get_ci(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse::<i32>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn str_list(o: &Map<String, Value>, key: &str) -> Result<Vec<String>, ScimError> {
    match get_ci(o, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                Value::Object(m) => opt_str(m, "value").map(Option::unwrap_or_default),
                _ => Err(ScimError::invalid_value(format!(
                    "{key} must be a list of strings"
                ))),
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.trim().to_owned()]),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{key} must be a list of strings"
        ))),
    }
}

/// A multi-valued complex attribute; a single object (OneLogin) counts as a list of one.
fn multi(o: &Map<String, Value>, key: &str) -> Result<Vec<MultiValue>, ScimError> {
    let items: Vec<&Value> = match get_ci(o, key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(Value::String(s)) => {
            return Ok(vec![MultiValue {
                value: s.clone(),
                ..MultiValue::default()
            }]);
        }
        Some(_) => return Err(ScimError::invalid_value(format!("{key} must be a list"))),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = item else {
            if let Value::String(s) = item {
                out.push(MultiValue {
                    value: s.clone(),
                    ..MultiValue::default()
                });
                continue;
            }
            return Err(ScimError::invalid_value(format!(
                "{key} entries must be objects"
            )));
        };
        let Some(value) = opt_str(m, "value")? else {
            continue;
        };
        out.push(MultiValue {
            value,
            kind: opt_str(m, "type")?,
            primary: opt_bool(m, "primary")?.unwrap_or(false),
            display: opt_str(m, "display")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_okta_style_create() {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "userName": "ana@example.com",
            "name": {"givenName": "Ana", "familyName": "Li"},
            "emails": [{"primary": true, "value": "ana@example.com", "type": "work"}],
            "password": "s3cret!",
            "groups": [],
            "active": true
        });
        let u = from_json(&body).expect("valid");
        assert_eq!(u.profile.user_name, "ana@example.com");
        assert_eq!(u.password.as_deref(), Some("s3cret!"));
        assert_eq!(u.active, Some(true));
        assert!(u.keep_agent_settings);
        assert_eq!(u.profile.emails[0].kind.as_deref(), Some("work"));
    }

    #[test]
    fn reads_onelogin_single_email_and_entra_strings() {
        let body = json!({
            "userName": "bo",
            "emails": {"value": "bo@example.com", "primary": "True"},
            "active": "False",
            "schemas": [USER_SCHEMA, "urn:scim:schemas:core:1.0"]
        });
        let u = from_json(&body).expect("valid");
        assert_eq!(u.profile.emails.len(), 1);
        assert!(u.profile.emails[0].primary);
        assert_eq!(u.active, Some(false));
    }

    #[test]
    fn rejects_missing_user_name_and_bad_types() {
        let e = from_json(&json!({"name": {}})).expect_err("no userName");
        assert_eq!(
            e.scim_type,
            Some(super::super::error::ScimType::InvalidValue)
        );
        assert!(from_json(&json!({"userName": "x", "active": "maybe"})).is_err());
        assert!(from_json(&json!({"userName": 5})).is_err());
        assert!(from_json(&json!([1])).is_err());
    }
}
