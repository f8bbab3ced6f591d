//! Long `and` filters over multi-valued attributes (`groups.value`, `roles`, `skillGroups`,
//! `channels`, group `members`): right answers, at a cost that grows linearly with the
//! number of terms. Timings are printed (`--nocapture`), never asserted;
//! `ROLLCALL_FILTER_COST_AGENTS` sets how many agents are created (default 200).

use std::time::Instant;

use serde_json::{Value, json};

use crate::both;
use crate::harness::TestServer;

const AGENT_EXT: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent";
const TERMS: usize = 100;

fn bulk(s: &TestServer, ops: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in ops.chunks(500) {
        let (st, v) = s.scim(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": chunk
            })),
        );
        assert_eq!(st, 200, "{v}");
        for r in v["Operations"].as_array().expect("operations") {
            assert_eq!(r["status"], "201", "{r}");
            out.push(r.clone());
        }
    }
    out
}

/// The id at the end of a Bulk result's `location`.
fn id_of(result: &Value) -> String {
    let loc = result["location"].as_str().expect("location");
    loc.rsplit('/').next().expect("id").to_owned()
}

fn timed(s: &TestServer, path: &str, filter: &str) -> (u16, Value, f64) {
    let started = Instant::now();
    let (st, v) = s.scim("POST", path, Some(json!({"filter": filter, "count": 10})));
    (st, v, started.elapsed().as_secs_f64() * 1000.0)
}

both!(long_and_filters_over_multi_valued_attributes, |b| {
    let agents: usize = std::env::var("ROLLCALL_FILTER_COST_AGENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    // The made-up values serve as channels too: the catalog holds them.
    let s = TestServer::start_with(b, |c| {
        c.accounts.channels = (0..TERMS)
            .map(|k| format!("v{k}"))
            .chain((0..agents).map(|i| format!("w{i}")))
            .collect();
    });
    // Agent 0 has every value v0…v99; agents 1…99 have v<i> and, when odd, v<i+1>; the
    // others values of their own.
    let user = |i: usize| {
        let values: Vec<String> = match i {
            0 => (0..TERMS).map(|k| format!("v{k}")).collect(),
            i if i < TERMS => (i..=i + i % 2).map(|k| format!("v{}", k % TERMS)).collect(),
            i => vec![format!("w{i}")],
        };
        json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", AGENT_EXT],
            "userName": format!("cost{i:05}"),
            "roles": values.iter().map(|v| json!({"value": v})).collect::<Vec<_>>(),
            "emails": values.iter().map(|v| json!({"value": format!("{v}@example.com")})).collect::<Vec<_>>(),
            AGENT_EXT: {"skillGroups": values, "channels": values}
        }})
    };
    assert!(
        agents > TERMS,
        "ROLLCALL_FILTER_COST_AGENTS must be above {TERMS}"
    );
    let users = bulk(&s, (0..agents).map(user).collect());
    let user_ids: Vec<String> = users.iter().map(id_of).collect();
    let first = id_of(&users[0]);
    let second = id_of(&users[1]);
    let groups = bulk(
        &s,
        (0..TERMS)
            .map(|g| {
                let mut members = vec![json!({"value": first})];
                if g == 0 {
                    members = user_ids[..TERMS]
                        .iter()
                        .map(|u| json!({"value": u}))
                        .collect();
                } else if g % 2 == 0 {
                    members.push(json!({"value": second}));
                }
                json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{g}"), "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": format!("cost-group-{g}"), "members": members
                }})
            })
            .collect(),
    );
    let group_ids: Vec<String> = groups.iter().map(id_of).collect();

    let and =
        |term: &dyn Fn(usize) -> String| (0..TERMS).map(term).collect::<Vec<_>>().join(" and ");
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "skillGroups",
            "/Users/.search",
            and(&|k| format!("skillGroups eq \"v{k}\"")),
        ),
        (
            "channels",
            "/Users/.search",
            and(&|k| format!("channels eq \"V{k}\"")),
        ),
        (
            "roles",
            "/Users/.search",
            and(&|k| format!("roles.value eq \"v{k}\"")),
        ),
        (
            "roles[]",
            "/Users/.search",
            and(&|k| format!("roles[value eq \"v{k}\"]")),
        ),
        (
            "emails",
            "/Users/.search",
            and(&|k| format!("emails.value eq \"v{k}@example.com\"")),
        ),
        (
            "groups.value",
            "/Users/.search",
            and(&|k| format!("groups.value eq \"{}\"", group_ids[k])),
        ),
        (
            "members.value",
            "/Groups/.search",
            and(&|k| format!("members.value eq \"{}\"", user_ids[k])),
        ),
    ];
    // Chains under `or` or `not` are not grouped: there PostgreSQL keeps each sub-select as
    // a sub-plan of its own, which costs linearly too.
    // (99 terms and one more comparison: the most a filter may hold.)
    let nested = |path: &str, inner: String| {
        let shorter = inner
            .rsplit_once(" and ")
            .map_or(inner.as_str(), |(head, _)| head);
        let other = if path == "/Groups/.search" {
            "displayName"
        } else {
            "userName"
        };
        format!("({shorter}) or {other} eq \"nobody\"")
    };
    let cases: Vec<(String, &str, String)> = cases
        .into_iter()
        .flat_map(|(name, path, f)| {
            [
                (name.to_owned(), path, f.clone()),
                (
                    format!("{name} (99 terms, under or)"),
                    path,
                    nested(path, f),
                ),
            ]
        })
        .collect();
    for (name, path, filter) in &cases {
        let (st, v, ms) = timed(&s, path, filter);
        assert_eq!(st, 200, "{name}: {v}");
        assert_eq!(v["totalResults"].as_u64(), Some(1), "{name}: {v}");
        let expected = if *path == "/Groups/.search" {
            &group_ids[0]
        } else {
            &first
        };
        assert_eq!(v["Resources"][0]["id"], expected.as_str(), "{name}");
        println!("{b:?} {agents} agents: and chain over {name}: {ms:.0} ms");
    }
    // Mixed: terms on one attribute with other conditions, `not`, and a term that no
    // agent has — the grouping must not change what matches.
    let even_groups = (0..TERMS)
        .step_by(2)
        .map(|k| format!("groups.value eq \"{}\"", group_ids[k]))
        .collect::<Vec<_>>()
        .join(" and ");
    let (st, v) = s.scim(
        "POST",
        "/Users/.search",
        Some(json!({"filter": even_groups})),
    );
    assert_eq!((st, v["totalResults"].as_u64()), (200, Some(2)), "{v}");
    let f = format!(
        "{even_groups} and not (groups.value eq \"{}\")",
        group_ids[1]
    );
    let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
    assert_eq!((st, v["totalResults"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["Resources"][0]["id"], second.as_str());
    let f = "skillGroups eq \"v1\" and skillGroups eq \"v2\" and userName sw \"cost\" and skillGroups sw \"v\"";
    let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
    assert_eq!(st, 200, "{v}");
    // Agent 0 (all values) and agent 1 (v1, v2).
    assert_eq!(v["totalResults"].as_u64(), Some(2), "{v}");
    let f = "skillGroups eq \"v1\" and skillGroups eq \"nobody\"";
    let (_, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
    assert_eq!(v["totalResults"].as_u64(), Some(0), "{v}");
    let f = "(skillGroups eq \"v1\" and channels eq \"v2\") or (roles.value eq \"v50\" and roles.value eq \"v51\")";
    let (_, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": f})));
    assert_eq!(v["totalResults"].as_u64(), Some(2), "{v}");
});
