//! `Idempotency-Key` on admin API POSTs: a retry returns the stored response and creates
//! once, another body with the same key is a 422, concurrent retries run once, keys expire.

use serde_json::json;

use crate::api_framework::{api, assert_problem, header};
use crate::both;
use crate::harness::TestServer;

fn agents_named(s: &TestServer, name: &str) -> usize {
    let (st, v) = s.scim(
        "GET",
        &format!(
            "/Users?filter={}",
            crate::harness::q(&format!("userName eq \"{name}\""))
        ),
        None,
    );
    assert_eq!(st, 200, "{v}");
    v["totalResults"].as_u64().expect("total") as usize
}

both!(retry_returns_the_stored_response_and_creates_once, |b| {
    let s = TestServer::start(b);
    let ops = s.token_with("ops", "admin");
    let other = s.token_with("other", "admin");
    let body = json!({"userName": "uma", "title": "Agent"}).to_string();
    let key = [("Idempotency-Key", "create-uma-1")];
    let (st1, h1, v1) = api(&s, Some(&ops), "POST", "/agents", Some(&body), &key);
    assert_eq!(st1, 201, "{v1}");
    assert_eq!(header(&h1, "idempotent-replayed"), None);
    // The same body with other key order and spacing is the same request.
    let same = "{ \"title\": \"Agent\",  \"userName\": \"uma\" }";
    let (st2, h2, v2) = api(&s, Some(&ops), "POST", "/agents", Some(same), &key);
    assert_eq!((st2, &v2), (201, &v1));
    assert_eq!(header(&h2, "location"), header(&h1, "location"));
    assert_eq!(header(&h2, "etag"), Some("W/\"1\""));
    assert_eq!(header(&h2, "content-type"), Some("application/json"));
    assert_eq!(header(&h2, "idempotent-replayed"), Some("true"));
    assert_eq!(agents_named(&s, "uma"), 1);

    // Another body with the key: 422; another endpoint with it too.
    let changed = json!({"userName": "uma", "title": "Lead"}).to_string();
    let (st, h, p) = api(&s, Some(&ops), "POST", "/agents", Some(&changed), &key);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["type"], "urn:rollcall:problem:idempotency-key-reused");
    let id = v1["id"].as_str().expect("id");
    let (st, h, p) = api(
        &s,
        Some(&ops),
        "POST",
        &format!("/agents/{id}/disable"),
        Some(&body),
        &key,
    );
    assert!(st == 422, "{st} {p}");
    assert_eq!(header(&h, "content-type"), Some("application/problem+json"));

    // Keys are per caller: another token's same key is a new request (here: a conflict,
    // which is stored and replayed too).
    let (st, _, p1) = api(&s, Some(&other), "POST", "/agents", Some(&body), &key);
    assert_eq!(st, 409, "{p1}");
    let (st, h, p2) = api(&s, Some(&other), "POST", "/agents", Some(&body), &key);
    assert_eq!((st, &p2), (409, &p1));
    assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
    assert_eq!(header(&h, "idempotent-replayed"), Some("true"));

    // A lifecycle step replays too: the second disable is not run (one audit entry).
    let reason = json!({"reason": "holiday"}).to_string();
    let k2 = [("Idempotency-Key", "disable-uma")];
    let path = format!("/agents/{id}/disable");
    let (st, _, d1) = api(&s, Some(&ops), "POST", &path, Some(&reason), &k2);
    assert_eq!(st, 200, "{d1}");
    let (st, _, d2) = api(&s, Some(&ops), "POST", &path, Some(&reason), &k2);
    assert_eq!((st, &d2), (200, &d1));
    let mut conn = s.conn();
    let disables = rollcall::audit::for_target(&mut conn, id)
        .expect("audit")
        .iter()
        .filter(|e| e.action == "agent.disable")
        .count();
    assert_eq!(disables, 1);

    let (st, h, p) = api(
        &s,
        Some(&ops),
        "POST",
        "/agents",
        Some(&body),
        &[("Idempotency-Key", "")],
    );
    assert_problem(st, &h, &p, 400);
});

both!(concurrent_retries_run_once, |b| {
    let s = TestServer::start(b);
    let ops = s.token_with("ops", "admin");
    let body = json!({"userName": "vera"}).to_string();
    let results: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (st, _, v) = api(
                        &s,
                        Some(&ops),
                        "POST",
                        "/agents",
                        Some(&body),
                        &[("Idempotency-Key", "vera-once")],
                    );
                    (st, v)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    // Each is the stored 201 or "still running" (409); never a second agent, never the
    // userName conflict a second run would meet.
    for (st, v) in &results {
        assert!(
            *st == 201
                || (*st == 409 && v["type"] == "urn:rollcall:problem:idempotency-in-progress"),
            "{st} {v}"
        );
    }
    assert!(results.iter().any(|(st, _)| *st == 201));
    assert_eq!(agents_named(&s, "vera"), 1);
});

both!(keys_expire_after_a_day, |b| {
    let s = TestServer::start(b);
    let ops = s.token_with("ops", "admin");
    let body = json!({"userName": "wes"}).to_string();
    let key = [("Idempotency-Key", "k-wes")];
    let (st, _, _) = api(&s, Some(&ops), "POST", "/agents", Some(&body), &key);
    assert_eq!(st, 201);
    let mut conn = s.conn();
    let now = rollcall::store::now();
    assert_eq!(rollcall::api::idempotency::purge(&mut conn, now), 0);
    // A day later the purge removes it, and the key is free again (here: the userName is
    // taken, so the new run answers 409 instead of replaying the 201).
    let later = now + chrono::Duration::hours(25);
    assert_eq!(rollcall::api::idempotency::purge(&mut conn, later), 1);
    drop(conn);
    let (st, h, p) = api(&s, Some(&ops), "POST", "/agents", Some(&body), &key);
    assert_problem(st, &h, &p, 409);
    assert_eq!(p["type"], "urn:rollcall:problem:conflict");
});
