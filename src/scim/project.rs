//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5 and §3.9) applied to a rendered
//! resource.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, parse_attr_path};

/// Which attributes to return.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    include: Vec<AttrPath>,
    exclude: Vec<AttrPath>,
}

/// Attributes returned whatever the client asks.
const ALWAYS: &[&str] = &["id", "schemas"];

impl Projection {
    /// Parses the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>, ScimError> {
            s.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        parse_attr_path(s).map_err(|e| {
                            ScimError::invalid_value(format!("bad attribute name {s:?}: {e}"))
                        })
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
        };
        Ok(Projection {
            include: list(attributes)?,
            exclude: list(excluded)?,
        })
    }

    pub fn from_lists(include: Vec<AttrPath>, exclude: Vec<AttrPath>) -> Self {
        Projection { include, exclude }
    }

    /// Whether the top-level attribute `name` (e.g. `members`) will be returned; lets the
    /// server skip loading it.
    pub fn wants(&self, name: &str) -> bool {
        if !self.include.is_empty() {
            return self
                .include
                .iter()
                .any(|p| p.urn.is_none() && p.attr.eq_ignore_ascii_case(name));
        }
        !self
            .exclude
            .iter()
            .any(|p| p.urn.is_none() && p.sub_attr.is_none() && p.attr.eq_ignore_ascii_case(name))
    }

    pub fn apply(&self, resource: &mut Value) {
        let Value::Object(obj) = resource else { return };
        if !self.include.is_empty() {
            let mut kept = Map::new();
            for (key, value) in std::mem::take(obj) {
                if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&key)) {
                    kept.insert(key, value);
                    continue;
                }
                if key.starts_with("urn:") {
                    // Extension object: keep the requested attributes of it.
                    let wanted: Vec<&AttrPath> = self
                        .include
                        .iter()
                        .filter(|p| {
                            p.urn
                                .as_deref()
                                .is_some_and(|u| u.eq_ignore_ascii_case(&key))
                        })
                        .collect();
                    let whole = self
                        .include
                        .iter()
                        .any(|p| p.urn.is_none() && p.attr.eq_ignore_ascii_case(&key));
                    if whole {
                        kept.insert(key, value);
                    } else if !wanted.is_empty()
                        && let Value::Object(ext) = value
                    {
                        let sub: Map<String, Value> = ext
                            .into_iter()
                            .filter(|(k, _)| wanted.iter().any(|p| p.attr.eq_ignore_ascii_case(k)))
                            .collect();
                        if !sub.is_empty() {
                            kept.insert(key, Value::Object(sub));
                        }
                    }
                    continue;
                }
                let matching: Vec<&AttrPath> = self
                    .include
                    .iter()
                    .filter(|p| {
                        p.attr.eq_ignore_ascii_case(&key)
                            && p.urn
                                .as_deref()
                                .is_none_or(|u| u.to_ascii_lowercase().contains(":core:"))
                    })
                    .collect();
                if matching.is_empty() {
                    continue;
                }
                if matching.iter().any(|p| p.sub_attr.is_none()) {
                    kept.insert(key, value);
                } else {
                    let subs: Vec<&str> = matching
                        .iter()
                        .filter_map(|p| p.sub_attr.as_deref())
                        .collect();
                    kept.insert(key, keep_subs(value, &subs));
                }
            }
            *obj = kept;
        }
        for p in &self.exclude {
            let target: Option<&mut Map<String, Value>> = match &p.urn {
                Some(urn) if !urn.to_ascii_lowercase().contains(":core:") => obj
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(urn))
                    .and_then(|(_, v)| v.as_object_mut()),
                _ => Some(&mut *obj),
            };
            let Some(target) = target else { continue };
            let Some(key) = target
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&p.attr))
                .cloned()
            else {
                continue;
            };
            if p.urn.is_none() && ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&key)) {
                continue;
            }
            match &p.sub_attr {
                None => {
                    target.remove(&key);
                }
                Some(sub) => drop_sub(target.get_mut(&key), sub),
            }
        }
    }
}

fn keep_subs(value: Value, subs: &[&str]) -> Value {
    let filter = |m: Map<String, Value>| -> Map<String, Value> {
        m.into_iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .collect()
    };
    match value {
        Value::Object(m) => Value::Object(filter(m)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Object(m) => Value::Object(filter(m)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn drop_sub(value: Option<&mut Value>, sub: &str) {
    let strip = |m: &mut Map<String, Value>| {
        if let Some(k) = m.keys().find(|k| k.eq_ignore_ascii_case(sub)).cloned() {
            m.remove(&k);
        }
    };
    match value {
        Some(Value::Object(m)) => strip(m),
        Some(Value::Array(items)) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "schemas": ["s"], "id": "1", "userName": "ana",
            "name": {"givenName": "Ana", "familyName": "Li"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "7"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keep_id_schemas_and_requested() {
        let mut v = sample();
        Projection::parse(Some("userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None)
            .expect("parse")
            .apply(&mut v);
        assert_eq!(
            v,
            json!({"schemas": ["s"], "id": "1", "userName": "ana", "name": {"givenName": "Ana"},
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}})
        );
    }

    #[test]
    fn excluded_attributes_never_drop_id() {
        let mut v = sample();
        let p = Projection::parse(None, Some("emails,id,name.familyName")).expect("parse");
        assert!(!p.wants("emails"));
        assert!(p.wants("members"));
        p.apply(&mut v);
        assert!(v.get("emails").is_none());
        assert_eq!(v["id"], "1");
        assert_eq!(v["name"], json!({"givenName": "Ana"}));
    }
}
