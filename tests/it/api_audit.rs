//! `/api/v1/audit` over real HTTP: each filter, paging with opaque cursors, and the chain
//! check (intact, then broken by a tampered row).

use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::api_sources::{api, header};
use crate::both;
use crate::harness::{Backend, TestServer};

/// Every entry the filters in `query` select, following the cursors `limit` at a time.
fn all(server: &TestServer, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/audit?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, _, page) = api(server, token, "GET", &path, None);
        assert_eq!(s, 200, "{path}: {page}");
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit);
        out.extend(items);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn ids(entries: &[Value]) -> Vec<i64> {
    entries.iter().filter_map(|e| e["id"].as_i64()).collect()
}

/// `at` values are RFC 3339 with microseconds; compare as times.
fn at(e: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("rfc 3339")
}

both!(filters_paging_and_verify, |b: Backend| {
    let server = TestServer::start(b);
    let reader = server.token_with("auditor", "read");
    let hr_token = server.token_with("hr", "scim");
    // Entries by two actors on agents and a group.
    let alice = server.create_user("alice");
    let alice_id = alice["id"].as_str().expect("id").to_owned();
    server.create_user("bob");
    let (s, _) = server.scim(
        "PATCH",
        &format!("/Users/{alice_id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        ),
    );
    assert_eq!(s, 200);
    server.create_group("leads", &[&alice_id]);
    let (s, _, _) = server.raw(
        "POST",
        "/scim/v2/Users",
        Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "carol"}).to_string()),
        &[("Authorization", &format!("Bearer {hr_token}")), ("Content-Type", "application/scim+json")],
    );
    assert_eq!(s, 201);

    // Everything, newest first, the same however it is paged.
    let everything = all(&server, &reader, "", 1000);
    let n = everything.len();
    assert!(n >= 5, "{everything:?}");
    let every_id = ids(&everything);
    assert!(every_id.windows(2).all(|w| w[0] > w[1]), "{every_id:?}");
    assert_eq!(ids(&all(&server, &reader, "", 2)), every_id);
    assert_eq!(everything[0]["actor"], "token:hr");
    assert_eq!(everything[0]["action"], "agent.create");
    assert!(
        everything[0]["hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );

    // Each filter selects exactly what it says, paged or not.
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        everything
            .iter()
            .filter(|e| pred(e))
            .filter_map(|e| e["id"].as_i64())
            .collect()
    };
    let target = format!("&target={alice_id}");
    let by_alice = ids(&all(&server, &reader, &target, 1));
    assert_eq!(by_alice, expect(&|e| e["targetId"] == alice_id.as_str()));
    assert_eq!(by_alice.len(), 2, "create and disable");
    assert_eq!(
        ids(&all(&server, &reader, "&actor=token:hr", 10)),
        expect(&|e| e["actor"] == "token:hr")
    );
    assert_eq!(
        ids(&all(&server, &reader, "&action=agent.disable", 10)),
        expect(&|e| e["action"] == "agent.disable")
    );
    let agents_only = expect(&|e| {
        e["action"]
            .as_str()
            .is_some_and(|a| a.starts_with("agent."))
    });
    assert!(agents_only.len() < n, "a group entry is among them");
    assert_eq!(
        ids(&all(&server, &reader, "&action=agent.", 2)),
        agents_only
    );
    assert_eq!(
        ids(&all(&server, &reader, "&action=agent.*", 10)),
        agents_only
    );
    // A wildcard inside the text is no wildcard.
    assert!(all(&server, &reader, "&action=agent_%25", 10).is_empty());
    assert!(all(&server, &reader, "&actor=nobody", 10).is_empty());
    // Times: from is inclusive, to exclusive.
    let mid = &everything[n / 2];
    let from = mid["at"].as_str().expect("at").replace('+', "%2B");
    assert_eq!(
        ids(&all(&server, &reader, &format!("&from={from}"), 3)),
        expect(&|e| at(e) >= at(mid))
    );
    assert_eq!(
        ids(&all(&server, &reader, &format!("&to={from}"), 3)),
        expect(&|e| at(e) < at(mid))
    );
    assert_eq!(
        ids(&all(
            &server,
            &reader,
            &format!("&from={from}&action=agent.&actor=token:idp"),
            1
        )),
        expect(&|e| at(e) >= at(mid)
            && e["actor"] == "token:idp"
            && e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("agent.")))
    );

    for bad in [
        "/audit?from=yesterday",
        "/audit?to=2026-13-01T00:00:00Z",
        "/audit?limit=0",
        "/audit?limit=1001",
        "/audit?cursor=abc",
        "/audit?actor=a%00b",
    ] {
        let (s, h, v) = api(&server, &reader, "GET", bad, None);
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
    }
    // Without a token: 401; a SCIM token is not an admin API token.
    let (s, _, _) = api(&server, "nope", "GET", "/audit", None);
    assert_eq!(s, 401);
    let (s, _, _) = api(&server, &hr_token, "GET", "/audit", None);
    assert_eq!(s, 403);

    // The chain: intact, then broken at the tampered entry.
    let (s, _, v) = api(&server, &reader, "GET", "/audit/verify", None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["intact"], true);
    assert_eq!(v["entries"].as_u64(), Some(n as u64));
    let victim = every_id[n - 2];
    {
        let mut conn = server.conn();
        let drop_guard = match b {
            Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
            Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
        };
        diesel::sql_query(drop_guard)
            .execute(&mut *conn)
            .expect("drop guard");
        diesel::sql_query(format!(
            "UPDATE audit_log SET reason = 'nothing to see' WHERE id = {victim}"
        ))
        .execute(&mut *conn)
        .expect("tamper");
    }
    let (s, _, v) = api(&server, &reader, "GET", "/audit/verify", None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["intact"], false);
    assert_eq!(v["brokenAt"].as_i64(), Some(victim));
    assert!(v["reason"].as_str().unwrap_or("").contains("hash"), "{v}");
});
