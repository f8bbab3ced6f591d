//! Request bodies of the admin API: [`Json`] reads one (size and time limits and JSON syntax
//! by `http::body`), then fits it to the endpoint's type, turning serde's complaint into a
//! 422 with the JSON pointer of the field; [`Patch`] tells an absent field from `null`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::problem::Problem;
use crate::http::State;

/// A JSON request body of type `T`, with the parsed document it came from (what an
/// `Idempotency-Key` compares).
#[derive(Debug)]
pub struct Json<T> {
    pub value: T,
    pub raw: Value,
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = web::Payload::from_request(&req, payload);
        Box::pin(async move {
            let payload = payload.await.map_err(|_| Problem::internal())?;
            let limit = req
                .app_data::<State>()
                .map_or(1024 * 1024, |s| s.config.scim.max_payload_bytes);
            let raw = crate::http::body::json_body(&req, payload, limit)
                .await
                .map_err(|e| match e.0.status {
                    415 => Problem::new(415, "Content-Type must be application/json"),
                    400 => Problem::bad_request(e.0.detail),
                    _ => Problem::from(e),
                })?;
            let value = fit(&raw)?;
            Ok(Json { value, raw })
        })
    }
}

/// Deserialises `raw` into `T`; a value of the wrong type, a missing or an unknown field is
/// a 422 naming the field by its JSON pointer.
pub fn fit<T: DeserializeOwned>(raw: &Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let mut pointer = pointer_of(e.path());
        let inner = e.into_inner().to_string();
        // Serde names a missing or unknown field in its message, at the object's path.
        for prefix in ["unknown field `", "missing field `"] {
            if let Some(rest) = inner.strip_prefix(prefix)
                && let Some((name, _)) = rest.split_once('`')
            {
                let last = format!("/{}", escape(name));
                if !pointer.ends_with(&last) {
                    pointer.push_str(&last);
                }
            }
        }
        Problem::invalid_field(pointer, inner)
    })
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// RFC 6901 escaping of one reference token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A field of a partial update: absent (leave it), `null` (clear it) or a value (set it).
/// Use with `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Patch<T> {
    /// The new value given the current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Set(v) => Some(v),
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Set(v),
        })
    }
}

/// As `null` when absent or null (for documentation defaults), else the value.
impl<T: serde::Serialize> serde::Serialize for Patch<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Set(v) => v.serialize(s),
            Patch::Absent | Patch::Null => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        user_name: String,
        #[serde(default)]
        channels: Vec<String>,
        #[serde(default)]
        title: Patch<String>,
    }

    #[test]
    fn pointers_name_the_field() {
        let e = fit::<Body>(&json!({"userName": 5})).expect_err("wrong type");
        assert_eq!((e.status, e.errors[0].pointer.as_str()), (422, "/userName"));
        let e = fit::<Body>(&json!({"userName": "a", "channels": ["web", 7]})).expect_err("");
        assert_eq!(e.errors[0].pointer, "/channels/1");
        let e = fit::<Body>(&json!({"userName": "a", "a/b": 1})).expect_err("unknown");
        assert_eq!(e.errors[0].pointer, "/a~1b");
        let e = fit::<Body>(&json!({})).expect_err("missing");
        assert_eq!(e.errors[0].pointer, "/userName");
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let b: Body = fit(&json!({"userName": "a"})).expect("ok");
        assert_eq!(b.title, Patch::Absent);
        let b: Body = fit(&json!({"userName": "a", "title": null})).expect("ok");
        assert_eq!(b.title, Patch::Null);
        assert_eq!(b.title.apply(Some("x".to_owned())), None);
        let b: Body = fit(&json!({"userName": "a", "title": "Lead"})).expect("ok");
        assert_eq!(b.title.apply(None), Some("Lead".to_owned()));
    }
}
