//! `GET /api/v1/agents` through real HTTP on both backends: filters, search, sort orders,
//! cursors (signed, bound to their query, stable under writes) and parameter problems.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api_framework::{api, assert_problem};
use crate::both;
use crate::harness::{TestServer, q};

/// Agent attributes for [`agent`].
#[derive(Default)]
struct A<'a> {
    user: &'a str,
    display: &'a str,
    given: &'a str,
    family: &'a str,
    number: &'a str,
    department: &'a str,
    role: Option<&'a str>,
    skills: &'a [&'a str],
    channels: &'a [&'a str],
    active: bool,
}

/// Creates an agent through SCIM; returns its id.
fn agent(s: &TestServer, a: A<'_>) -> String {
    let mut ext = json!({"skillGroups": a.skills, "channels": a.channels});
    if let Some(r) = a.role {
        ext["role"] = json!(r);
    }
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": a.user,
            "displayName": a.display,
            "name": {"givenName": a.given, "familyName": a.family},
            "active": a.active,
            "emails": [{"value": format!("{}@example.com", a.user), "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"employeeNumber": a.number, "department": a.department},
            "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": ext,
        })),
    );
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

/// One page: (user names, nextCursor).
fn page(s: &TestServer, token: &str, query: &str) -> (Vec<String>, Option<String>) {
    let (st, _, v) = api(
        s,
        Some(token),
        "GET",
        &format!("/agents?{query}"),
        None,
        &[],
    );
    assert_eq!(st, 200, "{query}: {v}");
    let names = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["userName"].as_str().expect("userName").to_owned())
        .collect();
    assert!(
        v.get("nextCursor").is_some(),
        "nextCursor is always present: {v}"
    );
    (names, v["nextCursor"].as_str().map(str::to_owned))
}

/// Every page of `query` (`limit` a page): the user names in order.
fn all(s: &TestServer, token: &str, query: &str, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let (mut names, mut next) = page(s, token, &format!("{query}&limit={limit}"));
    loop {
        out.append(&mut names);
        match next {
            None => return out,
            Some(c) => {
                (names, next) = page(s, token, &format!("{query}&limit={limit}&cursor={}", q(&c)));
            }
        }
    }
}

fn crew(s: &TestServer) {
    agent(
        s,
        A {
            user: "wang.wei",
            display: "王伟",
            given: "伟",
            family: "王",
            number: "CS-004217",
            department: "Billing",
            role: Some("team_lead"),
            skills: &["vip", "billing"],
            channels: &["wechat"],
            active: true,
        },
    );
    agent(
        s,
        A {
            user: "Li.Na",
            display: "Li Na",
            given: "Na",
            family: "Li",
            number: "CS-000013",
            department: "Returns",
            skills: &["refunds"],
            channels: &["web", "email"],
            active: true,
            ..A::default()
        },
    );
    agent(
        s,
        A {
            user: "owen.sterling",
            display: "Owen STERLING",
            given: "Owen",
            family: "Sterling",
            number: "CS-100002",
            department: "Billing",
            skills: &["billing"],
            channels: &["phone"],
            active: false,
            ..A::default()
        },
    );
    agent(
        s,
        A {
            user: "ana.lima",
            display: "Ana Lima",
            given: "Ana",
            family: "Lima",
            number: "CS-042170",
            department: "VIP Care",
            skills: &["vip"],
            channels: &["web"],
            active: true,
            ..A::default()
        },
    );
}

both!(every_filter_and_search_narrows_the_list, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "read");
    crew(&s);
    for (query, want) in [
        ("", vec!["ana.lima", "Li.Na", "owen.sterling", "wang.wei"]),
        ("status=suspended", vec!["owen.sterling"]),
        ("status=active", vec!["ana.lima", "Li.Na", "wang.wei"]),
        ("role=team_lead", vec!["wang.wei"]),
        ("department=Billing", vec!["owen.sterling", "wang.wei"]),
        ("department=billing", vec![]),
        ("skillGroup=vip", vec!["ana.lima", "wang.wei"]),
        ("channel=web", vec!["ana.lima", "Li.Na"]),
        (
            "source=scim",
            vec!["ana.lima", "Li.Na", "owen.sterling", "wang.wei"],
        ),
        ("source=ldap", vec![]),
        ("q=WANG", vec!["wang.wei"]),
        ("q=%E7%8E%8B", vec!["wang.wei"]),
        ("q=%E7%8E%8B%E4%BC%9F", vec!["wang.wei"]),
        ("q=4217", vec!["ana.lima", "wang.wei"]),
        ("q=li", vec!["ana.lima", "Li.Na", "owen.sterling"]),
        ("q=li.n", vec!["Li.Na"]),
        ("q=sterl", vec!["owen.sterling"]),
        (
            "q=+",
            vec!["ana.lima", "Li.Na", "owen.sterling", "wang.wei"],
        ),
        ("q=billing", vec![]),
        ("q=4217&department=Billing", vec!["wang.wei"]),
        ("skillGroup=billing&status=active", vec!["wang.wei"]),
    ] {
        assert_eq!(all(&s, &t, query, 1), want, "{query}");
        assert_eq!(all(&s, &t, query, 500), want, "{query}");
    }
    // The source an agent was created by, exactly.
    let (_, _, v) = api(&s, Some(&t), "GET", "/agents?q=lima", None, &[]);
    let source = v["items"][0]["source"].as_str().expect("source").to_owned();
    assert_eq!(all(&s, &t, &format!("source={}", q(&source)), 2).len(), 4);
});

both!(sort_orders_both_ways, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "admin");
    crew(&s);
    let asc = |sort: &str| all(&s, &t, &format!("sort={sort}"), 3);
    let desc = |sort: &str| all(&s, &t, &format!("sort={sort}&order=desc"), 3);
    let created = ["wang.wei", "Li.Na", "owen.sterling", "ana.lima"];
    for (sort, want) in [
        (
            "userName",
            vec!["ana.lima", "Li.Na", "owen.sterling", "wang.wei"],
        ),
        (
            "displayName",
            vec!["ana.lima", "Li.Na", "owen.sterling", "wang.wei"],
        ),
        (
            "agentNumber",
            vec!["Li.Na", "wang.wei", "ana.lima", "owen.sterling"],
        ),
        ("created", created.to_vec()),
        ("updated", created.to_vec()),
    ] {
        assert_eq!(asc(sort), want, "{sort}");
        let mut rev = want.clone();
        rev.reverse();
        assert_eq!(desc(sort), rev, "{sort} desc");
    }
    // A change moves an agent to the end of `updated`, not of `created`.
    let (_, _, v) = api(&s, Some(&t), "GET", "/agents?q=wang", None, &[]);
    let id = v["items"][0]["id"].as_str().expect("id").to_owned();
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Zed Wang"}]}),
        ),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        asc("updated"),
        ["Li.Na", "owen.sterling", "ana.lima", "wang.wei"]
    );
    assert_eq!(asc("created"), created);
    assert_eq!(
        asc("displayName"),
        ["ana.lima", "Li.Na", "owen.sterling", "wang.wei"]
    );
    assert_eq!(asc("displayName").len(), 4);
    assert_eq!(all(&s, &t, "q=zed", 5), ["wang.wei"]);
});

both!(cursor_pages_visit_everyone_once_while_agents_change, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "read");
    let mut ids = HashMap::new();
    for i in 0..30 {
        let u = format!("walker{i:02}");
        ids.insert(
            u.clone(),
            agent(
                &s,
                A {
                    user: &u,
                    display: &u,
                    given: "W",
                    family: &u,
                    number: &format!("N{i}"),
                    department: "Ops",
                    active: true,
                    ..A::default()
                },
            ),
        );
    }
    for sort in ["created", "created&order=desc"] {
        let mut seen: Vec<String> = Vec::new();
        let (mut names, mut next) = page(&s, &t, &format!("sort={sort}&limit=4"));
        let mut round = 0;
        loop {
            seen.append(&mut names);
            let Some(c) = next else { break };
            // Between pages: a new agent, a rename of one already seen and of one not yet.
            round += 1;
            let new = format!("late{round:02}{}", sort.len());
            agent(
                &s,
                A {
                    user: &new,
                    display: &new,
                    given: "L",
                    family: &new,
                    number: "L",
                    department: "Ops",
                    active: true,
                    ..A::default()
                },
            );
            for who in [
                format!("walker{:02}", round),
                format!("walker{:02}", 29 - round),
            ] {
                let id = &ids[&who];
                let (st, v) = s.scim(
                    "PATCH",
                    &format!("/Users/{id}"),
                    Some(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName",
                                    "value": format!("Renamed {round}")}]})),
                );
                assert_eq!(st, 200, "{v}");
            }
            (names, next) = page(&s, &t, &format!("sort={sort}&limit=4&cursor={}", q(&c)));
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{sort}: an agent came twice: {seen:?}"
        );
        for u in ids.keys() {
            assert!(seen.contains(u), "{sort}: {u} was never listed");
        }
        if sort == "created" {
            // Agents created during the walk come after the cursor: listed too.
            assert!(seen.iter().filter(|u| u.starts_with("late")).count() >= round - 1);
        }
    }
});

both!(cursors_are_signed_and_bound_to_their_query, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "read");
    crew(&s);
    let (_, next) = page(&s, &t, "limit=1&department=Billing");
    let c = next.expect("a second page");
    let (_, next) = page(
        &s,
        &t,
        &format!("limit=1&department=Billing&cursor={}", q(&c)),
    );
    assert!(next.is_none());
    let mut tampered = c.clone().into_bytes();
    let i = tampered.len() / 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for (query, words) in [
        (
            format!("limit=1&department=Billing&cursor={}", q(&tampered)),
            "cursor",
        ),
        (
            format!("limit=1&department=Billing&cursor={}", q(&c[..c.len() - 2])),
            "cursor",
        ),
        (
            format!("limit=1&department=Returns&cursor={}", q(&c)),
            "another query",
        ),
        (
            format!("limit=1&department=Billing&sort=created&cursor={}", q(&c)),
            "another query",
        ),
        (
            format!("limit=1&department=Billing&order=desc&cursor={}", q(&c)),
            "another query",
        ),
        ("limit=1&cursor=not-a-cursor".to_owned(), "cursor"),
    ] {
        let (st, h, v) = api(&s, Some(&t), "GET", &format!("/agents?{query}"), None, &[]);
        assert_problem(st, &h, &v, 400);
        assert!(
            v["detail"].as_str().unwrap_or("").contains(words),
            "{query}: {v}"
        );
    }
    // A SCIM cursor is not an admin list cursor.
    let (_, p1) = s.scim("GET", "/Users?cursor=&count=1", None);
    let scim = p1["nextCursor"].as_str().expect("SCIM cursor");
    let (st, h, v) = api(
        &s,
        Some(&t),
        "GET",
        &format!("/agents?cursor={}", q(scim)),
        None,
        &[],
    );
    assert_problem(st, &h, &v, 400);
});

both!(bad_parameters_are_problems_naming_them, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "admin");
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("sort=salary", "sort"),
        ("order=sideways", "order"),
        ("status=deleted", "status"),
        ("status=", "status"),
        ("colour=red", "colour"),
        ("q=a%01b", "q"),
        ("role=a%00b", "role"),
        ("source=x%00", "source"),
        ("department=%0A", "department"),
        (&format!("q={}", "x".repeat(101)), "q"),
        ("limit=5&limit=6", "limit"),
    ] {
        let (st, h, v) = api(&s, Some(&t), "GET", &format!("/agents?{query}"), None, &[]);
        assert_problem(st, &h, &v, 400);
        assert!(
            v["detail"].as_str().unwrap_or("").contains(param),
            "{query}: {v}"
        );
    }
    // A SCIM token may not read the admin list; no token is a 401.
    let scim = s.token_with("another-idp", "scim");
    let (st, h, v) = api(&s, Some(&scim), "GET", "/agents", None, &[]);
    assert_problem(st, &h, &v, 403);
    let (st, h, v) = api(&s, None, "GET", "/agents", None, &[]);
    assert_problem(st, &h, &v, 401);
});

both!(pages_hold_fifty_by_default_and_up_to_five_hundred, |b| {
    let s = TestServer::start(b);
    let t = s.token_with("ops", "read");
    let mut c = s.conn();
    let accounts = rollcall::accounts::Accounts::new("agent", 30);
    rollcall::store::seed::seed_agents(&mut c, &accounts, 620, true).expect("seed");
    let (names, next) = page(&s, &t, "");
    assert_eq!(names.len(), 50);
    assert!(next.is_some());
    let (names, next) = page(&s, &t, "limit=500");
    assert_eq!(names.len(), 500);
    let (rest, end) = page(
        &s,
        &t,
        &format!("limit=500&cursor={}", q(&next.expect("next"))),
    );
    assert_eq!((rest.len(), end), (120, None));
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    // The view is the one GET /api/v1/agents/{id} returns.
    let (_, _, v) = api(&s, Some(&t), "GET", "/agents?limit=1", None, &[]);
    let item = &v["items"][0];
    let (st, _, one) = api(
        &s,
        Some(&t),
        "GET",
        &format!("/agents/{}", item["id"].as_str().expect("id")),
        None,
        &[],
    );
    assert_eq!(st, 200);
    assert_eq!(item, &one);
    let _: &Value = item;
});
