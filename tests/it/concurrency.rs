//! Concurrent writers on one user or group, through real HTTP (and through the gateway for
//! admin and sync writes): every write answered 2xx is kept, `If-Match` has exactly one
//! winner, and a disable is never undone by an unrelated update.

use std::sync::{Arc, Barrier};

use chrono::Utc;
use rollcall::accounts::Accounts;
use serde_json::{Value, json};

use crate::both;
use crate::harness::TestServer;

pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client that can be handed to other threads.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) token: String,
}

impl Client {
    pub(crate) fn of(s: &TestServer) -> Client {
        Client {
            base: s.base.clone(),
            token: s.token.clone(),
        }
    }

    /// A SCIM request; returns (status, ETag, JSON body or Null).
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Option<String>, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}/scim/v2{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/scim+json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(b) => agent.run(req.body(b.to_string()).expect("request")),
            None => agent.run(req.body(()).expect("request")),
        };
        let mut resp = result.expect("HTTP exchange");
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, etag, json)
    }

    pub(crate) fn patch(&self, path: &str, ops: Value, extra: &[(&str, &str)]) -> (u16, Value) {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let (s, _, v) = self.call("PATCH", path, Some(body), extra);
        (s, v)
    }

    pub(crate) fn get(&self, path: &str) -> (Option<String>, Value) {
        let (s, etag, v) = self.call("GET", path, None, &[]);
        assert_eq!(s, 200, "GET {path}: {v}");
        (etag, v)
    }

    pub(crate) fn create_user(&self, user_name: &str) -> String {
        let (s, _, v) = self.call(
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "name": {"givenName": "Test", "familyName": user_name},
                "active": true
            })),
            &[],
        );
        assert_eq!(s, 201, "create {user_name}: {v}");
        v["id"].as_str().expect("id").to_owned()
    }
}

/// Runs `f(0..n)` on `n` threads released together; the results in order.
pub(crate) fn race<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let gate = Arc::new(Barrier::new(n));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let gate = gate.clone();
                let f = &f;
                scope.spawn(move || {
                    gate.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racing thread"))
            .collect()
    })
}

/// Eight attributes a PATCH can change independently: (PATCH path, JSON pointer).
pub(crate) const ATTRS: [(&str, &str); 8] = [
    ("title", "/title"),
    ("nickName", "/nickName"),
    ("displayName", "/displayName"),
    ("name.givenName", "/name/givenName"),
    ("name.familyName", "/name/familyName"),
    ("name.middleName", "/name/middleName"),
    ("externalId", "/externalId"),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/department",
    ),
];

/// One round of eight PATCHes of different attributes, sent to `clients` in turn; returns
/// how many of the eight changes the user no longer shows.
pub(crate) fn attribute_round(clients: &[Client], id: &str, round: usize) -> usize {
    let path = format!("/Users/{id}");
    let statuses = race(ATTRS.len(), |i| {
        let value = format!("r{round}-{i}");
        let c = &clients[i % clients.len()];
        c.patch(
            &path,
            json!([{"op": "replace", "path": ATTRS[i].0, "value": value}]),
            &[],
        )
    });
    for (s, v) in &statuses {
        assert_eq!(*s, 200, "{v}");
    }
    let (_, user) = clients[0].get(&path);
    ATTRS
        .iter()
        .enumerate()
        .filter(|(i, (_, ptr))| user.pointer(ptr) != Some(&json!(format!("r{round}-{i}"))))
        .count()
}

/// One round of a disable racing three unrelated PATCHes; the disable is a SCIM PATCH, or
/// an admin's suspension through the gateway when `admin` is given. Returns (whether the
/// user ended active, how many of the three unrelated changes were lost).
pub(crate) fn disable_round(
    clients: &[Client],
    admin: Option<&rollcall::store::Pool>,
    id: &str,
    round: usize,
) -> (bool, usize) {
    let path = format!("/Users/{id}");
    let (s, v) = clients[0].patch(
        &path,
        json!([{"op": "replace", "path": "active", "value": true}]),
        &[],
    );
    assert_eq!(s, 200, "{v}");
    let others = ["title", "nickName", "displayName"];
    race(4, |i| {
        let c = &clients[i % clients.len()];
        if i == 0 {
            match admin {
                Some(pool) => {
                    let mut conn = pool.get().expect("conn");
                    let now = Utc::now().naive_utc();
                    Accounts::new("agent", 30)
                        .set_active(&mut conn, "admin:test", id, false, "left", now)
                        .expect("suspend");
                }
                None => {
                    let (s, v) = c.patch(
                        &path,
                        json!([{"op": "replace", "path": "active", "value": false}]),
                        &[],
                    );
                    assert_eq!(s, 200, "{v}");
                }
            }
        } else {
            let value = format!("r{round}-{i}");
            let (s, v) = c.patch(
                &path,
                json!([{"op": "replace", "path": others[i - 1], "value": value}]),
                &[],
            );
            assert_eq!(s, 200, "{v}");
        }
    });
    let (_, user) = clients[0].get(&path);
    let lost = (1..4)
        .filter(|&i| user[others[i - 1]] != json!(format!("r{round}-{i}")))
        .count();
    (user["active"] == json!(true), lost)
}

/// `If-Match` with one ETag sent `n` times at once, each PATCH a change (a PATCH that changes
/// nothing may rightly succeed at the version it names): (answers 200, answers 412).
pub(crate) fn if_match_round(
    clients: &[Client],
    path: &str,
    n: usize,
    round: usize,
) -> (usize, usize) {
    let (etag, _) = clients[0].get(path);
    let etag = etag.expect("ETag");
    let statuses = race(n, |i| {
        let c = &clients[i % clients.len()];
        let value = format!("r{round}-{i}");
        let ops = if path.starts_with("/Groups") {
            json!([{"op": "replace", "path": "externalId", "value": value}])
        } else {
            json!([{"op": "replace", "path": "title", "value": value}])
        };
        c.patch(path, ops, &[("If-Match", etag.as_str())]).0
    });
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 412).count();
    assert_eq!(ok + refused, n, "only 200 or 412: {statuses:?}");
    (ok, refused)
}

fn version_of(v: &Value) -> i64 {
    v["meta"]["version"]
        .as_str()
        .and_then(|t| t.trim_start_matches("W/").trim_matches('"').parse().ok())
        .expect("meta.version")
}

both!(
    concurrent_patches_of_different_attributes_are_all_kept,
    |b| {
        let s = TestServer::start(b);
        let c = Client::of(&s);
        let id = c.create_user("ana");
        let rounds = 5;
        let lost: usize = (0..rounds)
            .map(|r| attribute_round(std::slice::from_ref(&c), &id, r))
            .sum();
        eprintln!(
            "{b:?}: {lost} of {} concurrent attribute changes lost",
            rounds * ATTRS.len()
        );
        assert_eq!(lost, 0);
    }
);

/// Eight PUTs of one user at once, sent to `clients` in turn, each a change: each answers 200
/// and makes a version of its own, and the user ends as one of them left it (not a mix).
pub(crate) fn put_round(clients: &[Client], id: &str, user_name: &str, round: usize) {
    let path = format!("/Users/{id}");
    let (_, before) = clients[0].get(&path);
    let n = 8;
    let statuses = race(n, |i| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "title": format!("t{round}-{i}"),
            "nickName": format!("n{round}-{i}"),
            "active": true
        });
        clients[i % clients.len()]
            .call("PUT", &path, Some(body), &[])
            .0
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, after) = clients[0].get(&path);
    let title = after["title"].as_str().expect("title");
    assert_eq!(
        after["nickName"].as_str().map(|n| &n[1..]),
        Some(&title[1..]),
        "one PUT's state, not a mix: {after}"
    );
    assert_eq!(version_of(&after), version_of(&before) + n as i64);
}

/// A new group, then at once: each of `users` added by a PATCH of its own, a rename and a
/// new external id, sent to `clients` in turn. Every change is kept.
pub(crate) fn group_round(clients: &[Client], users: &[String], round: usize) {
    let (st, _, group) = clients[0].call(
        "POST",
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("team{round}"),
        })),
        &[],
    );
    assert_eq!(st, 201, "{group}");
    let path = format!("/Groups/{}", group["id"].as_str().expect("id"));
    let statuses = race(users.len() + 2, |i| {
        let ops = match i {
            i if i < users.len() => {
                json!([{"op": "add", "path": "members", "value": [{"value": users[i]}]}])
            }
            i if i == users.len() => {
                json!([{"op": "replace", "path": "displayName", "value": format!("team{round}-renamed")}])
            }
            _ => json!([{"op": "replace", "path": "externalId", "value": format!("x{round}")}]),
        };
        clients[i % clients.len()].patch(&path, ops, &[])
    });
    for (st, v) in &statuses {
        assert!(*st == 200, "{st}: {v}");
    }
    let (_, g) = clients[0].get(&path);
    let members = g["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, users.len(), "{g}");
    assert_eq!(g["displayName"], json!(format!("team{round}-renamed")));
    assert_eq!(g["externalId"], json!(format!("x{round}")));
}

both!(concurrent_puts_each_apply_whole, |b| {
    let s = TestServer::start(b);
    let c = Client::of(&s);
    let id = c.create_user("bob");
    for round in 0..3 {
        put_round(std::slice::from_ref(&c), &id, "bob", round);
    }
});

both!(if_match_has_exactly_one_winner, |b| {
    let s = TestServer::start(b);
    let c = Client::of(&s);
    let id = c.create_user("cy");
    let group = s.create_group("desk", &[]);
    let gid = group["id"].as_str().expect("id");
    for round in 0..5 {
        let (ok, refused) =
            if_match_round(std::slice::from_ref(&c), &format!("/Users/{id}"), 8, round);
        assert_eq!((ok, refused), (1, 7), "user, round {round}");
        let (ok, refused) = if_match_round(
            std::slice::from_ref(&c),
            &format!("/Groups/{gid}"),
            4,
            round,
        );
        assert_eq!((ok, refused), (1, 3), "group, round {round}");
    }
});

both!(a_disable_racing_unrelated_updates_stays, |b| {
    let s = TestServer::start(b);
    let c = Client::of(&s);
    let id = c.create_user("dee");
    let rounds = 10;
    let (mut active, mut lost) = (0, 0);
    for round in 0..rounds {
        // Even rounds: an IdP's `active: false`; odd rounds: an admin's suspension.
        let admin = (round % 2 == 1).then_some(&s.pool);
        let (a, l) = disable_round(std::slice::from_ref(&c), admin, &id, round);
        active += usize::from(a);
        lost += l;
    }
    eprintln!("{b:?}: active after {active} of {rounds} rounds; {lost} unrelated changes lost");
    assert_eq!((active, lost), (0, 0));
});

both!(concurrent_group_patches_are_all_kept, |b| {
    let s = TestServer::start(b);
    let c = Client::of(&s);
    let users: Vec<String> = (0..8).map(|i| c.create_user(&format!("u{i}"))).collect();
    for round in 0..3 {
        group_round(std::slice::from_ref(&c), &users, round);
    }
});

both!(a_write_from_a_stale_read_is_refused_by_the_store, |b| {
    // The second line of defence: agent and group updates compare and set on the version
    // read, so a writer that read before another one committed writes nothing.
    let s = TestServer::start(b);
    let c = Client::of(&s);
    let id = c.create_user("eve");
    let group = s.create_group("floor", &[]);
    let gid = group["id"].as_str().expect("id");
    let mut conn = s.conn();
    let mut row = rollcall::accounts::agent_row(&mut conn, &id)
        .expect("read")
        .expect("row");
    let stale = row.version;
    let (st, v) = c.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
        &[],
    );
    assert_eq!(st, 200, "{v}");
    row.title = Some("Stale".into());
    row.version = stale + 1;
    let written = rollcall::store::agents::update(&mut conn, &row, stale, None).expect("update");
    assert!(!written, "a stale version writes nothing");
    let (_, user) = c.get(&format!("/Users/{id}"));
    assert_eq!(user["title"], json!("Lead"));
    let mut grow = rollcall::store::groups::get(&mut conn, gid)
        .expect("read")
        .expect("group");
    let stale = grow.version;
    let (st, v) = c.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "replace", "path": "displayName", "value": "floor-2"}]),
        &[],
    );
    assert_eq!(st, 200, "{v}");
    grow.display_name = "stale".into();
    grow.version = stale + 1;
    let written = rollcall::store::groups::update(&mut conn, &grow, stale).expect("update");
    assert!(!written);
    let (_, g) = c.get(&format!("/Groups/{gid}"));
    assert_eq!(g["displayName"], json!("floor-2"));
});
