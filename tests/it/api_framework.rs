//! The admin API framework: problem details, token scopes, unknown routes and methods, and
//! the OpenAPI document covering every route.

use serde_json::Value;

use crate::both;
use crate::harness::TestServer;

/// A request to the admin API; returns (status, headers, JSON body or Null).
pub fn api(
    s: &TestServer,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    headers.extend_from_slice(extra);
    let (st, hdrs, text) = s.raw(method, &format!("/api/v1{path}"), body, &headers);
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (st, hdrs, json)
}

pub fn header<'a>(hdrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hdrs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks an RFC 9457 problem: content type, status member, type and title present.
pub fn assert_problem(st: u16, hdrs: &[(String, String)], body: &Value, want: u16) {
    assert_eq!(st, want, "{body}");
    assert_eq!(
        header(hdrs, "content-type"),
        Some("application/problem+json"),
        "{body}"
    );
    assert_eq!(body["status"], want, "{body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    assert!(body["detail"].is_string(), "{body}");
}

both!(problems_for_tokens_routes_and_methods, |b| {
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let reader = s.token_with("viewer", "read");
    let scim_only = s.token.clone();

    let (st, h, v) = api(&s, None, "GET", "/agents/x", None, &[]);
    assert_problem(st, &h, &v, 401);
    assert!(header(&h, "www-authenticate").is_some());
    let (st, h, v) = api(&s, Some("rc_nope"), "GET", "/agents/x", None, &[]);
    assert_problem(st, &h, &v, 401);
    let (st, h, v) = api(&s, Some(&scim_only), "GET", "/agents/x", None, &[]);
    assert_problem(st, &h, &v, 403);
    let (st, h, v) = api(&s, Some(&reader), "GET", "/agents/x", None, &[]);
    assert_problem(st, &h, &v, 404);
    let (st, h, v) = api(&s, Some(&admin), "GET", "/nothing/here", None, &[]);
    assert_problem(st, &h, &v, 404);
    let (st, h, v) = api(&s, Some(&admin), "PUT", "/agents/x", Some("{}"), &[]);
    assert_problem(st, &h, &v, 405);
    let allow = header(&h, "allow").expect("Allow");
    assert!(allow.contains("GET"), "{allow}");
    assert!(!allow.contains("PUT"), "{allow}");

    // An agent made over SCIM reads back with its ETag.
    let u = s.create_user("ana");
    let id = u["id"].as_str().expect("id");
    let (st, h, v) = api(
        &s,
        Some(&reader),
        "GET",
        &format!("/agents/{id}"),
        None,
        &[],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(header(&h, "etag"), Some("W/\"1\""));
    assert_eq!(v["userName"], "ana");
    assert_eq!(v["email"], "ana@example.com");
    assert_eq!(v["status"], "active");
    assert_eq!(v["source"], "scim:idp");
    assert_eq!(v["version"], 1);
});

both!(every_documented_route_is_routed, |b| {
    let s = TestServer::start(b);
    let (st, h, doc) = api(&s, None, "GET", "/openapi.json", None, &[]);
    assert_eq!(st, 200, "{doc}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert!(doc["components"]["schemas"]["AgentView"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/api/v1/agents/{id}"), "{paths:?}");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            let m = method.to_ascii_uppercase();
            let body = (m != "GET" && m != "DELETE").then_some("{}");
            let (st, _, v) = s.raw(&m, &concrete, body, &[("Content-Type", "application/json")]);
            // Routed: the handler's token check answers, not the 404/405 of the fallback.
            assert_eq!(st, 401, "{m} {path} is documented but not routed: {v}");
            checked += 1;
        }
    }
    assert!(checked >= 1);
});
