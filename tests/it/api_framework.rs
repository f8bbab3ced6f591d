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
            // Routed: the handler's token check answers, not the 404/405 of the fallback
            // (sign-in takes no token: its body check answers).
            let want = if PUBLIC.contains(&format!("{m} {path}").as_str()) {
                422
            } else {
                401
            };
            assert_eq!(st, want, "{m} {path} is documented but not routed: {v}");
            checked += 1;
        }
    }
    assert!(checked >= 1);
    // And the other way: every endpoint the server has is in the document — the list below
    // is the API's whole surface, so a route added without its entry (or an entry without
    // its line here) fails.
    let mut documented: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |m| format!("{} {path}", m.to_ascii_uppercase()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<String> = ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
    expected.sort();
    assert_eq!(documented, expected);
    for e in ENDPOINTS {
        let (m, path) = e.split_once(' ').expect("method and path");
        let concrete = path.replace("{id}", "x").replace("{name}", "x");
        let body = (m != "GET" && m != "DELETE").then_some("{}");
        let (st, _, v) = s.raw(m, &concrete, body, &[("Content-Type", "application/json")]);
        let want = if PUBLIC.contains(e) { 422 } else { 401 };
        assert_eq!(st, want, "{e}: {v}");
    }
});

/// The endpoints that take no token (a sign-in's credentials are in its body).
const PUBLIC: &[&str] = &[
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/password/forgot",
    "POST /api/v1/auth/password/link",
];

/// Every endpoint of the admin API (besides the document and its page).
const ENDPOINTS: &[&str] = &[
    "GET /api/v1/agents",
    "POST /api/v1/agents",
    "GET /api/v1/agents/{id}",
    "PATCH /api/v1/agents/{id}",
    "DELETE /api/v1/agents/{id}",
    "POST /api/v1/agents/{id}/approve",
    "POST /api/v1/agents/{id}/reject",
    "POST /api/v1/agents/{id}/disable",
    "POST /api/v1/agents/{id}/enable",
    "POST /api/v1/agents/{id}/force-offline",
    "POST /api/v1/agents/{id}/resume",
    "GET /api/v1/agents/{id}/permissions",
    "PUT /api/v1/agents/{id}/permission-overrides",
    "GET /api/v1/skill-groups",
    "GET /api/v1/channels",
    "GET /api/v1/roles",
    "POST /api/v1/roles",
    "GET /api/v1/roles/{name}",
    "PATCH /api/v1/roles/{name}",
    "DELETE /api/v1/roles/{name}",
    "POST /api/v1/roles/{name}/clone",
    "GET /api/v1/permissions",
    "GET /api/v1/sources",
    "GET /api/v1/sources/{name}",
    "GET /api/v1/sources/{name}/runs",
    "POST /api/v1/sources/{name}/runs",
    "GET /api/v1/sources/{name}/runs/{id}",
    "GET /api/v1/audit",
    "GET /api/v1/audit/verify",
    "POST /api/v1/imports",
    "GET /api/v1/imports/template",
    "GET /api/v1/imports/{id}",
    "GET /api/v1/imports/{id}/report.csv",
    "POST /api/v1/auth/login",
    "GET /api/v1/auth/session",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/mfa/totp",
    "POST /api/v1/auth/mfa/totp/confirm",
    "POST /api/v1/auth/password",
    "POST /api/v1/auth/password/forgot",
    "POST /api/v1/auth/password/link",
    "GET /api/v1/agents/{id}/signin",
    "POST /api/v1/agents/{id}/unlock",
    "POST /api/v1/agents/{id}/revoke-sessions",
    "POST /api/v1/agents/{id}/remove-mfa",
    "POST /api/v1/agents/{id}/password-reset",
    "GET /api/v1/mail/outbox",
    "POST /api/v1/mail/outbox/{id}/retry",
    "GET /api/v1/webhooks",
    "POST /api/v1/webhooks",
    "GET /api/v1/webhooks/{id}",
    "PATCH /api/v1/webhooks/{id}",
    "DELETE /api/v1/webhooks/{id}",
    "POST /api/v1/webhooks/{id}/secrets",
    "DELETE /api/v1/webhooks/{id}/secrets/previous",
    "GET /api/v1/webhooks/{id}/deliveries",
    "GET /api/v1/webhooks/{id}/backlog",
    "POST /api/v1/webhooks/{id}/replay",
];

both!(the_document_has_an_interactive_page, |b| {
    let s = TestServer::start(b);
    let (st, h, page) = s.raw("GET", "/api/v1/docs", None, &[]);
    assert_eq!(st, 200);
    assert!(header(&h, "content-type").is_some_and(|c| c.starts_with("text/html")));
    // Every asset the page names is served from the binary: no other host is involved.
    let assets: Vec<&str> = page
        .split('"')
        .filter(|p| p.starts_with("/api/v1/docs/"))
        .collect();
    assert_eq!(assets.len(), 3, "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    for a in assets {
        let (st, h, body) = s.raw("GET", a, None, &[]);
        assert_eq!(st, 200, "{a}");
        assert!(!body.is_empty(), "{a}");
        assert!(header(&h, "content-type").is_some(), "{a}");
        if a.ends_with("start.js") {
            assert!(body.contains("/api/v1/openapi.json"), "{body}");
        }
    }
    let (st, h, text) = s.raw("POST", "/api/v1/docs", Some("{}"), &[]);
    let v: Value = serde_json::from_str(&text).expect("problem");
    assert_problem(st, &h, &v, 405);
    assert_eq!(header(&h, "allow"), Some("GET"));
});

/// PostgreSQL only: its database can be closed to connections while the server runs.
#[test]
fn database_down_is_503() {
    let s = TestServer::start(crate::harness::Backend::Postgres);
    let admin = s.token_with("ops", "admin");
    let u = s.create_user("yara");
    let path = format!("/agents/{}", u["id"].as_str().expect("id"));
    let (st, _, _) = api(&s, Some(&admin), "GET", &path, None, &[]);
    assert_eq!(st, 200);
    let name = s
        .pool
        .get()
        .ok()
        .and_then(|mut c| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Db {
                #[diesel(sql_type = diesel::sql_types::Text)]
                name: String,
            }
            diesel::sql_query("SELECT current_database() AS name")
                .get_result::<Db>(&mut c)
                .ok()
        })
        .expect("database name")
        .name;
    let admin_url = std::env::var("ROLLCALL_TEST_PG_URL").expect("pg url");
    let mut root =
        rollcall::store::connect(&rollcall::store::Target::parse(&admin_url).expect("url"))
            .expect("connect");
    let run = |root: &mut rollcall::store::DbConn, sql: &str| {
        use diesel::RunQueryDsl;
        diesel::sql_query(sql).execute(root).expect(sql);
    };
    run(
        &mut root,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    );
    run(
        &mut root,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    // The token is cached; the read fails on the closed connection or finds no new one.
    let (st, h, v) = api(&s, Some(&admin), "GET", &path, None, &[]);
    assert_problem(st, &h, &v, 503);
    assert!(!v.to_string().contains("terminat"), "internals echoed: {v}");
    run(
        &mut root,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    // The database back: the pool drops the connections its server closed and answers
    // again (they were handed out to fail until retired by age, up to 30 minutes).
    crate::harness::wait_until(
        "the API answers again",
        std::time::Duration::from_secs(10),
        || api(&s, Some(&admin), "GET", &path, None, &[]).0 == 200,
    );
    for _ in 0..20 {
        let (st, _, v) = api(&s, Some(&admin), "GET", &path, None, &[]);
        assert_eq!(st, 200, "{v}");
    }
}
