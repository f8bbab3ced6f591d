//! The bounds on one request's work: values per multi-valued attribute (create, replace,
//! PATCH), a PATCH's operations × filter comparisons, and the heavy PATCH they stop.

use std::time::Instant;

use rollcall::accounts::{Accounts, AgentInput};
use rollcall::domain::{AgentProfile, MultiValue};
use serde_json::{Value, json};

use crate::both;
use crate::concurrency::Client;
use crate::harness::TestServer;

fn emails(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"value": format!("a{i}@example.com"), "type": "other"}))
            .collect(),
    )
}

fn assert_refused(status: u16, body: &Value, scim_type: &str, words: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["scimType"], json!(scim_type), "{body}");
    assert_eq!(body["status"], json!("400"), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "{detail:?} should say {words:?}");
}

both!(values_per_attribute_are_capped, |b| {
    let s = TestServer::start_with(b, |c| c.scim.max_values_per_attribute = 5);
    let c = Client::of(&s);
    let user = |n: usize| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ana",
            "emails": emails(n),
        })
    };
    let (st, _, v) = c.call("POST", "/Users", Some(user(6)), &[]);
    assert_refused(
        st,
        &v,
        "invalidValue",
        "emails would hold 6 values; at most 5",
    );
    let (st, _, v) = c.call("POST", "/Users", Some(user(5)), &[]);
    assert_eq!(st, 201, "{v}");
    let path = format!("/Users/{}", v["id"].as_str().expect("id"));
    let (st, _, v) = c.call("PUT", &path, Some(user(6)), &[]);
    assert_refused(st, &v, "invalidValue", "at most 5");
    // A PATCH adding a sixth value, one adding a list longer than the cap, and one whose
    // operations add up past it are refused; the user keeps its five.
    let add = |list: Value| json!([{"op": "add", "path": "emails", "value": list}]);
    let (st, v) = c.patch(&path, add(json!([{"value": "new@example.com"}])), &[]);
    assert_refused(st, &v, "invalidValue", "emails would hold 6 values");
    let (st, v) = c.patch(&path, add(emails(40)), &[]);
    assert_refused(st, &v, "invalidValue", "would hold 40 values");
    let (st, v) = c.patch(
        &path,
        json!([
            {"op": "remove", "path": "emails[value eq \"a0@example.com\"]"},
            {"op": "add", "path": "emails", "value": [{"value": "b@example.com"}]},
            {"op": "add", "path": "emails", "value": [{"value": "c@example.com"}]},
        ]),
        &[],
    );
    assert_refused(st, &v, "invalidValue", "emails would hold 6 values");
    let (_, now) = c.get(&path);
    assert_eq!(now["emails"].as_array().map(Vec::len), Some(5));
    // The agent extension's lists are counted too.
    let (st, v) = c.patch(
        &path,
        json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent:skillGroups",
                "value": ["a", "b", "c", "d", "e", "f"]}]),
        &[],
    );
    assert_refused(st, &v, "invalidValue", "at most 5");
});

both!(a_patch_s_filter_comparisons_are_capped, |b| {
    let s = TestServer::start_with(b, |c| c.scim.max_patch_terms = 20);
    let c = Client::of(&s);
    let path = format!("/Users/{}", c.create_user("bob"));
    let title = |i: usize| json!({"op": "replace", "path": "title", "value": format!("t{i}")});
    let (st, v) = c.patch(&path, Value::Array((0..21).map(title).collect()), &[]);
    assert_refused(
        st,
        &v,
        "tooMany",
        "asks for 21 operations and value-filter comparisons",
    );
    let (st, v) = c.patch(&path, Value::Array((0..20).map(title).collect()), &[]);
    assert_eq!(st, 200, "{v}");
    // Ten comparisons each: two operations fit, three do not.
    let filter: Vec<String> = (0..10)
        .map(|i| format!("value eq \"x{i}@example.com\""))
        .collect();
    let remove = json!({"op": "remove", "path": format!("emails[{}]", filter.join(" or "))});
    let (st, v) = c.patch(&path, json!([remove.clone(), remove.clone()]), &[]);
    assert_eq!(st, 200, "{v}");
    let (st, v) = c.patch(&path, json!([remove.clone(), remove.clone(), remove]), &[]);
    assert_refused(st, &v, "tooMany", "at most 20");
    // A group's non-member operations count; its member changes (rows in SQL) do not.
    let group = s.create_group("desk", &[]);
    let gpath = format!("/Groups/{}", group["id"].as_str().expect("id"));
    let names = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("desk{i}")}))
            .collect()
    };
    let (st, v) = c.patch(&gpath, names(21), &[]);
    assert_refused(st, &v, "tooMany", "at most 20");
    let mut ops = names(20);
    if let Value::Array(list) = &mut ops {
        list.extend(
            (0..30).map(|_| json!({"op": "remove", "path": "members[value eq \"nobody\"]"})),
        );
    }
    let (st, v) = c.patch(&gpath, ops, &[]);
    assert_eq!(st, 200, "{v}");
});

both!(a_heavy_patch_is_refused_and_none_holds_a_connection, |b| {
    // The shape measured against Rollcall: 300 removals with 100-term value filters (about
    // 800 KB) against a user holding 10,000 emails (stored before the cap, through the
    // gateway). One database connection in the pool: a PATCH that held it while computing
    // would keep every other request waiting.
    let s = TestServer::start_with(b, |c| c.database.pool_size = 1);
    let c = Client::of(&s);
    let profile = AgentProfile {
        user_name: "heavy".into(),
        emails: (0..10_000)
            .map(|i| MultiValue {
                value: format!("mail{i}@example.com"),
                kind: Some("other".into()),
                ..MultiValue::default()
            })
            .collect(),
        ..AgentProfile::default()
    };
    let agent = {
        let mut conn = s.conn();
        Accounts::new("agent", 30)
            .create_agent(
                &mut conn,
                "admin:test",
                "admin",
                AgentInput {
                    profile,
                    ..AgentInput::default()
                },
                rollcall::store::now(),
            )
            .expect("create")
    };
    let other = format!("/Users/{}", c.create_user("other"));
    let path = format!("/Users/{}", agent.id);
    let removals = |n: usize| -> Value {
        (0..n)
            .map(|op| {
                let terms: Vec<String> = (0..100)
                    .map(|t| format!("value eq \"{op}.{t}@x.io\""))
                    .collect();
                json!({"op": "remove", "path": format!("emails[{}]", terms.join(" or "))})
            })
            .collect()
    };
    let body = json!({"schemas": [crate::concurrency::PATCH_OP], "Operations": removals(300)});
    let started = Instant::now();
    let (st, _, v) = c.call("PATCH", &path, Some(body), &[]);
    let took = started.elapsed();
    eprintln!("{b:?}: heavy PATCH answered {st} in {took:?}");
    assert_refused(st, &v, "tooMany", "asks for 30000 operations");
    assert!(took.as_secs() < 5, "refused in {took:?}");
    // Within the cap (10 × 100 comparisons over the 10,000 emails, matching none): the
    // document is computed while the connection serves other requests.
    let (done, during) = std::thread::scope(|scope| {
        let patch = scope.spawn(|| c.patch(&path, removals(10), &[]));
        let mut during = 0;
        while !patch.is_finished() {
            let (st, _, v) = c.call("GET", &other, None, &[]);
            assert_eq!(st, 200, "{v}");
            if !patch.is_finished() {
                during += 1;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        (patch.join().expect("PATCH thread"), during)
    });
    eprintln!("{b:?}: {during} GETs answered while a 1,000-comparison PATCH ran");
    assert_eq!(done.0, 200, "{}", done.1);
    assert!(
        during >= 10,
        "only {during} GETs were answered while the PATCH ran"
    );
});
