//! What a careless or hostile client can send: empty and over-long filters, forged cursors,
//! ETag lists, malformed Bulk requests, oversized heads, stalled bodies, malformed HTTP.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Backend, TestServer, exchange, q};

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn scim_type(v: &Value) -> &str {
    v["scimType"].as_str().unwrap_or("")
}

both!(empty_filters_are_invalid, |b| {
    let s = TestServer::start(b);
    s.create_user("empty.filter");
    for query in ["filter=", "filter=%20%20", "filter=%09&count=1", "FILTER="] {
        let (st, v) = s.scim("GET", &format!("/Users?{query}"), None);
        assert_eq!((st, scim_type(&v)), (400, "invalidFilter"), "{query}: {v}");
        let (st, v) = s.scim("GET", &format!("/Groups?{query}"), None);
        assert_eq!((st, scim_type(&v)), (400, "invalidFilter"), "{query}: {v}");
    }
    for filter in ["", "   "] {
        let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": filter})));
        assert_eq!((st, scim_type(&v)), (400, "invalidFilter"), "{v}");
    }
    // No filter at all lists everything.
    let (st, v) = s.scim("GET", "/Users", None);
    assert_eq!((st, v["totalResults"].as_i64()), (200, Some(1)), "{v}");
});

both!(over_long_filters_get_one_answer, |b| {
    let s = TestServer::start(b);
    for n in [101, 500, 1000, 1001, 5000] {
        let f = (0..n)
            .map(|i| format!("userName eq \"u{i}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
        assert_eq!((st, scim_type(&v)), (400, "invalidFilter"), "{n}: {v}");
    }
    let f = (0..100)
        .map(|i| format!("userName eq \"u{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
    assert_eq!(st, 200, "{v}");
});

both!(cursors_are_signed, |b| {
    let s = TestServer::start(b);
    for i in 0..3 {
        s.create_user(&format!("cursor{i}"));
    }
    let (st, p1) = s.scim("GET", "/Users?cursor=&count=1", None);
    assert_eq!(st, 200, "{p1}");
    let next = p1["nextCursor"].as_str().expect("nextCursor").to_owned();
    let (st, p2) = s.scim("GET", &format!("/Users?count=1&cursor={}", q(&next)), None);
    assert_eq!(st, 200, "{p2}");
    assert_ne!(p2["Resources"][0]["id"], p1["Resources"][0]["id"]);

    let (payload, mac) = next.split_once('.').expect("signed cursor");
    let position = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("utf8");
    let (micros, id) = position.split_once('.').expect("position");
    let earlier = format!("{}.{id}", micros.parse::<i64>().expect("micros") - 1);
    let mut flipped = mac.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let forged = [
        // The position altered, the signature kept.
        format!("{}.{mac}", URL_SAFE_NO_PAD.encode(&earlier)),
        // The signature altered.
        format!("{payload}.{}", String::from_utf8(flipped).expect("ascii")),
        // An unsigned position, as cursors were before they were signed.
        payload.to_owned(),
        URL_SAFE_NO_PAD.encode(&earlier),
        "garbage!".to_owned(),
    ];
    for c in forged {
        let (st, v) = s.scim("GET", &format!("/Users?count=1&cursor={}", q(&c)), None);
        assert_eq!((st, scim_type(&v)), (400, "invalidCursor"), "{c}: {v}");
    }

    // A startIndex sent with a cursor is not used, and not echoed either.
    let (st, v) = s.scim("GET", "/Users?cursor=&startIndex=3&count=1", None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["Resources"][0]["id"], p1["Resources"][0]["id"], "{v}");
    assert!(v.get("startIndex").is_none(), "{v}");
    let (_, v) = s.scim("GET", "/Users?startIndex=2&count=1", None);
    assert_eq!(v["startIndex"], 2, "{v}");
});

both!(cursor_key_is_created_once_per_database, |b| {
    let s = TestServer::start(b);
    let mut conn = s.conn();
    let now = rollcall::store::now();
    let first = rollcall::store::keys::get_or_create(&mut conn, "cursor", now).expect("key");
    let again = rollcall::store::keys::get_or_create(&mut conn, "cursor", now).expect("key");
    assert_eq!(first.len(), 32);
    assert_eq!(first, again);
    let other = rollcall::store::keys::get_or_create(&mut conn, "other", now).expect("key");
    assert_ne!(first, other);
});

both!(cursor_key_from_config_is_used, |b| {
    let key = "k".repeat(40);
    let s = TestServer::start_with(b, |c| c.scim.cursor_key = Some(key.clone()));
    s.create_user("keyed0");
    s.create_user("keyed1");
    let (_, p1) = s.scim("GET", "/Users?cursor=&count=1", None);
    let next = p1["nextCursor"].as_str().expect("nextCursor");
    let (st, _) = s.scim("GET", &format!("/Users?count=1&cursor={}", q(next)), None);
    assert_eq!(st, 200);
    // The same position signed with the configured key verifies; with another, it does not.
    let (pos, carried) =
        rollcall::http::cursor::decode_list(key.as_bytes(), next).expect("signed with config key");
    assert!(rollcall::http::cursor::decode(b"another key of at least 32 chars!!", next).is_err());
    assert_eq!(
        rollcall::http::cursor::encode_list(key.as_bytes(), &pos, carried.as_ref()),
        next
    );
});

both!(if_match_accepts_any_listed_tag, |b| {
    let s = TestServer::start(b);
    let u = s.create_user("etag.list");
    let id = u["id"].as_str().expect("id");
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "etag.list", "displayName": "Two"
    });
    let (st, _, v) = s.scim_h(
        "PUT",
        &format!("/Users/{id}"),
        Some(body.clone()),
        &[("If-Match", "W/\"98\", W/\"99\"")],
    );
    assert_eq!(st, 412, "{v}");
    let (st, _, v) = s.scim_h(
        "PUT",
        &format!("/Users/{id}"),
        Some(body),
        &[("If-Match", "W/\"99\", W/\"1\"")],
    );
    assert_eq!(st, 200, "{v}");
    let current = v["meta"]["version"].as_str().expect("version").to_owned();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Three"}]
    });
    let tags = format!("\"7\", {current}");
    let (st, _, v) = s.scim_h(
        "PATCH",
        &format!("/Users/{id}"),
        Some(patch),
        &[("If-Match", &tags)],
    );
    assert_eq!(st, 200, "{v}");
    let current = v["meta"]["version"].as_str().expect("version").to_owned();
    let tags = format!("W/\"1\",{current}");
    let (st, _, v) = s.scim_h(
        "DELETE",
        &format!("/Users/{id}"),
        None,
        &[("If-Match", &tags)],
    );
    assert_eq!(st, 204, "{v}");

    let g = s.create_group("etag-group", &[]);
    let gid = g["id"].as_str().expect("id");
    let gbody = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "etag-group-2"
    });
    let (st, _, v) = s.scim_h(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(gbody.clone()),
        &[("If-Match", "W/\"5\", W/\"6\"")],
    );
    assert_eq!(st, 412, "{v}");
    let (st, _, v) = s.scim_h(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(gbody),
        &[("If-Match", "W/\"5\", W/\"1\"")],
    );
    assert_eq!(st, 200, "{v}");
    let current = v["meta"]["version"].as_str().expect("version").to_owned();
    let tags = format!("W/\"1\", {current}");
    let (st, _, v) = s.scim_h(
        "DELETE",
        &format!("/Groups/{gid}"),
        None,
        &[("If-Match", &tags)],
    );
    assert_eq!(st, 204, "{v}");
});

both!(
    bulk_refuses_bad_fail_on_errors_and_duplicate_bulk_ids,
    |b| {
        let s = TestServer::start(b);
        let user = |n: &str| {
            json!({"method": "POST", "path": "/Users", "bulkId": n,
        "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": n}})
        };
        for bad in [json!(0), json!(-1), json!(1.5), json!("3"), json!(true)] {
            let (st, v) = s.scim(
                "POST",
                "/Bulk",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "failOnErrors": bad, "Operations": [user("b1")]
                })),
            );
            assert_eq!((st, scim_type(&v)), (400, "invalidValue"), "{bad}: {v}");
        }
        let (st, v) = s.scim(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [user("dup"), user("other"), user("dup")]
            })),
        );
        assert_eq!((st, scim_type(&v)), (400, "invalidValue"), "{v}");
        let detail = v["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("\"dup\"") && detail.contains("0 and 2"),
            "{detail}"
        );
        // Nothing of the refused requests was created.
        let (_, list) = s.scim("GET", "/Users", None);
        assert_eq!(list["totalResults"], 0, "{list}");
    }
);

#[test]
fn oversized_heads_get_a_scim_431() {
    let s = TestServer::start(Backend::Sqlite);
    let auth = format!("Bearer {}", s.token);
    let big = "x".repeat(40 * 1024);
    let (st, _, body) = s.raw(
        "GET",
        "/scim/v2/Users",
        None,
        &[("Authorization", &auth), ("X-Padding", &big)],
    );
    assert_eq!(st, 431, "{body}");
    assert!(
        body.contains(ERROR) && body.contains("request head"),
        "{body}"
    );
    // Unauthenticated too: the limit comes before authentication.
    let (st, _, body) = s.raw("GET", &format!("/scim/v2/Users?filter={big}"), None, &[]);
    assert_eq!(st, 431, "{body}");
    assert!(body.contains(ERROR), "{body}");
    // Just under the limit is served.
    let ok = "x".repeat(20 * 1024);
    let (st, _, body) = s.raw(
        "GET",
        "/scim/v2/Users",
        None,
        &[("Authorization", &auth), ("X-Padding", &ok)],
    );
    assert_eq!(st, 200, "{body}");
}

#[test]
fn stalled_bodies_time_out_with_408() {
    let s = TestServer::start_with(Backend::Sqlite, |c| c.server.body_timeout_secs = 1);
    let head = |extra: &str| {
        format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\n{extra}\r\n",
            s.token
        )
    };
    // Stalls short of its Content-Length.
    let started = Instant::now();
    let mut c = s.tcp();
    let req = format!("{}{{\"userName\":", head("Content-Length: 100\r\n"));
    let resp = exchange(&mut c, req.as_bytes());
    let took = started.elapsed();
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains(ERROR), "{resp}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    // A chunked body that never ends.
    let mut c = s.tcp();
    let req = format!("{}5\r\n{{\"use\r\n", head("Transfer-Encoding: chunked\r\n"));
    let resp = exchange(&mut c, req.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains(ERROR), "{resp}");
    // The server still answers.
    let (st, _) = s.scim("GET", "/Users", None);
    assert_eq!(st, 200);
}

/// Every secret a test flow used — bearer tokens (valid, wrong, sent as a query
/// parameter), passwords — stays out of the log; malformed HTTP is not logged as an error.
#[test]
fn the_log_holds_no_secrets_and_no_client_noise_errors() {
    crate::harness::captured_log();
    let s = TestServer::start(Backend::Sqlite);
    let auth = format!("Bearer {}", s.token);
    let password = "Correct-Horse-Battery-Staple-91";
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "log.secret", "password": password
        })),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().expect("id");
    let second_password = "Another-Secret-Passphrase-42";
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": second_password}]
    });
    let (st, v) = s.scim("PATCH", &format!("/Users/{id}"), Some(patch));
    assert_eq!(st, 200, "{v}");
    // A token in the query string is refused, and not logged either.
    let (st, _, _) = s.raw(
        "GET",
        &format!("/scim/v2/Users?access_token={}&count=1", s.token),
        None,
        &[],
    );
    assert_eq!(st, 401);
    let (st, _, _) = s.raw(
        "GET",
        &format!("/scim/v2/Users?Password={password}&api_key={second_password}"),
        None,
        &[("Authorization", &auth)],
    );
    assert_eq!(st, 200);
    let wrong = "rc_wrong_token_value_that_must_not_be_logged";
    let (st, _, _) = s.raw(
        "GET",
        "/scim/v2/Users",
        None,
        &[("Authorization", &format!("Bearer {wrong}"))],
    );
    assert_eq!(st, 401);
    // Malformed HTTP from an unauthenticated client.
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ] {
        let resp = exchange(&mut s.tcp(), garbage);
        assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    }

    // The access log lines are written when each response is done: wait for the last.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut log = crate::harness::captured_log();
    while !log.contains("api_key=[redacted]") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        log = crate::harness::captured_log();
    }
    assert!(
        log.contains("access_token=[redacted]&count=1"),
        "access log line missing"
    );
    assert!(
        log.contains("Password=[redacted]&api_key=[redacted]"),
        "access log line missing"
    );
    for secret in [s.token.as_str(), password, second_password, wrong] {
        assert!(!log.contains(secret), "the log holds a secret: {secret}");
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("ERROR") && l.contains("stream error")),
        "malformed HTTP logged as an error"
    );
}
