//! `/api/v1/sources` over real HTTP: the configured sources, runs started in the background
//! against a real slapd, a run in progress (409), the history pages and the plan of dry and
//! refused runs.

use rollcall::config::Config;
use rollcall::store::Target;
use rollcall::sync::RunOptions;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Backend, TestDb, TestServer, wait_until};
use crate::slapd::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN};
use crate::sync_ldap::directory;

/// An admin API request: (status, headers, JSON body or Null).
pub(crate) fn api(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let text = body.map(|b| b.to_string());
    let (status, hdrs, text) =
        server.raw(method, &format!("/api/v1{path}"), text.as_deref(), &headers);
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, hdrs, json)
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A server whose one source `corp` reads `ldap_url` (scheduled once a year).
fn server_for(db: &TestDb, ldap_url: &str) -> TestServer {
    let text = format!(
        r#"
[database]
url = "{db}"
pool_size = 4
[server]
workers = 1
[[sources]]
name = "corp"
kind = "ldap"
schedule = "0 0 0 1 1 *"
[sources.ldap]
url = "{ldap_url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=people,{BASE_DN}"
group_base_dn = "ou=groups,{BASE_DN}"
timeout_secs = 3
"#,
        db = db.url,
    );
    let config = Config::from_parts(&text, Vec::new()).expect("config");
    let pool = rollcall::server::open_store(&config).expect("store");
    TestServer::serve(config, pool, "idp")
}

/// Waits for run `id` to end; its JSON.
fn finished(server: &TestServer, token: &str, id: i64) -> Value {
    let mut run = Value::Null;
    wait_until("the run to end", std::time::Duration::from_secs(30), || {
        let (s, _, v) = api(
            server,
            token,
            "GET",
            &format!("/sources/corp/runs/{id}"),
            None,
        );
        assert_eq!(s, 200, "{v}");
        run = v;
        run["status"] != "running"
    });
    run
}

fn start(server: &TestServer, token: &str, body: Value) -> i64 {
    let (s, h, v) = api(server, token, "POST", "/sources/corp/runs", Some(body));
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_i64().expect("run id");
    assert_eq!(
        header(&h, "location"),
        Some(format!("/api/v1/sources/corp/runs/{id}").as_str())
    );
    assert_eq!(v["status"], "running");
    id
}

both!(sources_runs_and_history, |b: Backend| {
    let slapd = directory(&["ana", "bob", "cy"]);
    let db = TestDb::new(b);
    let server = server_for(&db, &slapd.url());
    let admin = server.token_with("ops", "admin");
    let reader = server.token_with("viewer", "read");

    let (s, _, v) = api(&server, &reader, "GET", "/sources", None);
    assert_eq!(s, 200, "{v}");
    let corp = &v["items"][0];
    assert_eq!(corp["name"], "corp");
    assert_eq!(corp["kind"], "ldap");
    assert_eq!(corp["tag"], "ldap:corp");
    assert_eq!(corp["schedule"], "0 0 0 1 1 *");
    assert!(corp["lastRun"].is_null(), "{corp}");
    assert!(
        corp["nextRunAt"]
            .as_str()
            .is_some_and(|t| t.contains("-01-01T00:00:00")),
        "{corp}"
    );

    // Reading is not running: a read token may not start a run.
    let (s, _, _) = api(
        &server,
        &reader,
        "POST",
        "/sources/corp/runs",
        Some(json!({})),
    );
    assert_eq!(s, 403);
    let (s, _, _) = api(
        &server,
        &admin,
        "POST",
        "/sources/nope/runs",
        Some(json!({})),
    );
    assert_eq!(s, 404);
    let (s, _, v) = api(
        &server,
        &admin,
        "POST",
        "/sources/corp/runs",
        Some(json!({"mode": "sideways"})),
    );
    assert_eq!(s, 422, "{v}");

    // A dry run: planned, nothing created, the plan kept with the run.
    let dry = start(&server, &admin, json!({"dry_run": true}));
    let run = finished(&server, &reader, dry);
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["mode"], "dry_run");
    assert_eq!(run["trigger"], "api");
    let planned: Vec<&str> = run["plan"]["changes"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|c| c["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(planned, ["create", "create", "create"], "{run}");

    // A full run applies: three agents, no plan kept (the audit log has the changes).
    let full = start(&server, &admin, json!({"mode": "full"}));
    let run = finished(&server, &reader, full);
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["counts"]["created"], 3);
    assert_eq!(run["counts"]["records"], 3);
    assert!(run["plan"].is_null(), "{run}");
    assert!(run["finishedAt"].is_string());

    // Two of three leave: the guard (10 %) refuses; the plan says what it would have done.
    slapd.modify_ldif(&format!(
        "dn: uid=bob,ou=people,{BASE_DN}\nchangetype: delete\n\ndn: uid=cy,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    let refused = start(&server, &admin, json!({}));
    let run = finished(&server, &reader, refused);
    assert_eq!(run["status"], "refused", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap_or("")
            .contains("max_disable_percent"),
        "{run}"
    );
    let mut would: Vec<(String, String)> = run["plan"]["changes"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or("").to_owned(),
                c["user_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    would.sort();
    assert_eq!(
        would,
        [
            ("disable".to_owned(), "bob".to_owned()),
            ("disable".to_owned(), "cy".to_owned())
        ]
    );
    let (_, _, src) = api(&server, &reader, "GET", "/sources/corp", None);
    assert_eq!(src["lastRun"]["id"], refused);
    assert_eq!(src["lastRun"]["status"], "refused");

    // History: newest first, two a page, an opaque cursor to the rest.
    let (s, _, page) = api(&server, &reader, "GET", "/sources/corp/runs?limit=2", None);
    assert_eq!(s, 200, "{page}");
    let ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(ids, [refused, full]);
    let cursor = page["nextCursor"].as_str().expect("a next page").to_owned();
    let (s, _, page) = api(
        &server,
        &reader,
        "GET",
        &format!("/sources/corp/runs?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(s, 200, "{page}");
    let ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(ids, [dry]);
    assert!(page.get("nextCursor").is_none_or(Value::is_null), "{page}");
    for bad in [
        "/sources/corp/runs?cursor=junk",
        "/sources/corp/runs?limit=0",
        "/sources/corp/runs?limit=x",
    ] {
        let (s, h, v) = api(&server, &reader, "GET", bad, None);
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
    }
    for missing in [
        "/sources/corp/runs/999999",
        "/sources/corp/runs/abc",
        "/sources/nope/runs",
        "/sources/nope",
    ] {
        let (s, _, _) = api(&server, &reader, "GET", missing, None);
        assert_eq!(s, 404, "{missing}");
    }
});

both!(a_run_in_progress_is_a_409, |b: Backend| {
    let db = TestDb::new(b);
    // Nothing listens there: a run that starts fails at once.
    let server = server_for(&db, "ldap://127.0.0.1:9");
    let admin = server.token_with("ops", "admin");

    // Another process's run: it holds the lock and is recorded as running.
    let target = Target::parse(&db.url).expect("url");
    let lock = rollcall::sync::lock::try_lock(&target, "corp")
        .expect("lock")
        .expect("free");
    let other = {
        let mut conn = server.conn();
        rollcall::sync::begin(
            &mut conn,
            "corp",
            RunOptions::unattended(false, "schedule"),
            &rollcall::sync::lock::this_owner(),
            rollcall::store::now(),
        )
        .expect("begin")
    };
    let (s, h, v) = api(
        &server,
        &admin,
        "POST",
        "/sources/corp/runs",
        Some(json!({"mode": "incremental"})),
    );
    assert_eq!(s, 409, "{v}");
    assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
    let detail = v["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("already in progress") && detail.contains(&format!("run {other}")),
        "{v}"
    );
    // A dry run changes nothing and takes no lock: it may run beside it.
    let dry = start(&server, &admin, json!({"dry_run": true}));
    let run = finished(&server, &admin, dry);
    assert_eq!(run["status"], "failed", "{run}");

    // The other process dies: the next run starts and marks its run interrupted.
    drop(lock);
    let next = start(&server, &admin, json!({}));
    let run = finished(&server, &admin, next);
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap_or("").contains("127.0.0.1:9"),
        "{run}"
    );
    let (_, _, old) = api(
        &server,
        &admin,
        "GET",
        &format!("/sources/corp/runs/{other}"),
        None,
    );
    assert_eq!(old["status"], "failed");
    assert!(
        old["error"].as_str().unwrap_or("").contains("interrupted"),
        "{old}"
    );
});
