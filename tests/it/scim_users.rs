//! Users: CRUD, filters translated to SQL, pagination, sorting, projections, ETags, errors.

use serde_json::{Value, json};

use crate::both;
use crate::harness::{TestServer, q};

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["userName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

both!(create_get_replace_delete, |b| {
    let s = TestServer::start(b);
    let u = s.create_user("ana");
    let id = u["id"].as_str().expect("id").to_owned();
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(u["meta"]["resourceType"], "User");
    assert!(
        u["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&id))
    );

    let (st, got) = s.scim("GET", &format!("/Users/{id}"), None);
    assert_eq!(st, 200);
    assert_eq!(got["userName"], "ana");
    assert_eq!(got["emails"][0]["value"], "ana@example.com");

    // Full replace: omitted attributes are cleared.
    let (st, put) = s.scim(
        "PUT",
        &format!("/Users/{id}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ana", "title": "Lead", "active": true})),
    );
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["title"], "Lead");
    assert!(put.get("emails").is_none(), "emails cleared by PUT: {put}");
    assert!(put.get("name").is_none());
    assert_eq!(put["meta"]["version"], "W/\"2\"");

    let (st, _) = s.scim("DELETE", &format!("/Users/{id}"), None);
    assert_eq!(st, 204);
    let (st, err) = s.scim("GET", &format!("/Users/{id}"), None);
    assert_eq!(st, 404);
    assert_eq!(
        err["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(err["status"], "404");
    // The row is kept, marked deleted, and the audit log says who did it.
    let mut conn = s.conn();
    let row = rollcall::accounts::agent_row(&mut conn, &id)
        .expect("query")
        .expect("row kept");
    assert_eq!(row.status, "deleted");
    assert!(row.purge_after.is_some());
    let log = rollcall::audit::for_target(&mut conn, &id).expect("audit");
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("token:idp", "agent.create"),
            ("token:idp", "agent.update"),
            ("token:idp", "agent.delete")
        ]
    );
    // The same userName can be used again after deletion.
    s.create_user("ana");
});

both!(user_name_is_unique_case_insensitively, |b| {
    let s = TestServer::start(b);
    s.create_user("Bob");
    let (st, err) = s.scim("POST", "/Users", Some(json!({"userName": "bob"})));
    assert_eq!(st, 409);
    assert_eq!(err["scimType"], "uniqueness");
});

both!(client_supplied_id_is_ignored, |b| {
    let s = TestServer::start(b);
    let a = s.create_user("a1");
    let a_id = a["id"].as_str().expect("id");
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({"id": a_id, "userName": "b1"})),
    );
    assert_eq!(st, 201);
    assert_ne!(v["id"], a["id"]);
    let (st, v) = s.scim(
        "PUT",
        &format!("/Users/{}", v["id"].as_str().expect("id")),
        Some(json!({"id": a_id, "userName": "b1", "title": "x"})),
    );
    assert_eq!(st, 200);
    assert_ne!(v["id"], a["id"]);
    let (_, a_again) = s.scim("GET", &format!("/Users/{a_id}"), None);
    assert_eq!(a_again["userName"], "a1");
});

both!(active_false_suspends_and_revokes_sessions, |b| {
    let s = TestServer::start(b);
    let u = s.create_user("carl");
    let id = u["id"].as_str().expect("id");
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["active"], false);
    let mut conn = s.conn();
    let row = rollcall::accounts::agent_row(&mut conn, id)
        .expect("q")
        .expect("row");
    assert_eq!(row.status, "suspended");
    assert!(row.sessions_revoked_at.is_some());
    assert!(row.disabled_at.is_some());
    let log = rollcall::audit::for_target(&mut conn, id).expect("audit");
    assert_eq!(log.last().map(|r| r.action.as_str()), Some("agent.disable"));
    // And back.
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": true}]})),
    );
    assert_eq!(st, 200);
    assert_eq!(v["active"], true);
    let (_, list) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("active eq false")),
        None,
    );
    assert_eq!(list["totalResults"], 0);
});

both!(filters_are_answered_from_sql, |b| {
    let s = TestServer::start(b);
    for (n, dept, title) in [
        ("ana", "Sales", "Agent"),
        ("bob", "Support", "Lead"),
        ("cy", "support", "Agent"),
        ("dee", "Billing", "QA"),
    ] {
        let (st, v) = s.scim(
            "POST",
            "/Users",
            Some(json!({
                "userName": n, "title": title, "displayName": format!("{n} display"),
                "emails": [{"value": format!("{n}@corp.example"), "type": "work", "primary": true}, {"value": format!("{n}@home.example"), "type": "home"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": dept, "employeeNumber": format!("E-{n}")},
                "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"maxConcurrentChats": n.len() as i64 * 2, "skillGroups": ["vip", n], "channels": ["web"]}
            })),
        );
        assert_eq!(st, 201, "{v}");
    }
    let cases: &[(&str, &[&str])] = &[
        ("userName eq \"ANA\"", &["ana"]),
        ("userName ne \"ana\"", &["bob", "cy", "dee"]),
        ("userName sw \"b\"", &["bob"]),
        ("userName ew \"e\"", &["dee"]),
        ("displayName co \"Y DIS\"", &["cy"]),
        ("title pr and title eq \"agent\"", &["ana", "cy"]),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"support\"",
            &["bob", "cy"],
        ),
        (
            "emails[type eq \"work\" and value ew \"@corp.example\"]",
            &["ana", "bob", "cy", "dee"],
        ),
        ("emails[type eq \"home\" and value sw \"d\"]", &["dee"]),
        ("emails.value eq \"bob@home.example\"", &["bob"]),
        (
            "emails[type eq \"work\" and primary eq true]",
            &["ana", "bob", "cy", "dee"],
        ),
        (
            "not (userName eq \"ana\") and (title eq \"Lead\" or title eq \"QA\")",
            &["bob", "dee"],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent:maxConcurrentChats gt 4",
            &["ana", "bob", "dee"],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent:skillGroups eq \"cy\"",
            &["cy"],
        ),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\" and userName eq \"cy\"",
            &["cy"],
        ),
        ("externalId pr", &[]),
        (
            "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent:role eq \"agent\" and userName lt \"bz\"",
            &["ana", "bob"],
        ),
    ];
    for (filter, want) in cases {
        let (st, list) = s.scim(
            "GET",
            &format!("/Users?sortBy=userName&filter={}", q(filter)),
            None,
        );
        assert_eq!(st, 200, "{filter}: {list}");
        assert_eq!(ids(&list), *want, "filter {filter}");
        assert_eq!(list["totalResults"], want.len(), "filter {filter}");
    }
    // Unsupported attribute and broken syntax: 400 invalidFilter.
    for bad in [
        "nosuch eq \"x\"",
        "userName eq",
        "(userName eq \"x\"",
        "userName xx \"a\"",
    ] {
        let (st, err) = s.scim("GET", &format!("/Users?filter={}", q(bad)), None);
        assert_eq!(st, 400, "{bad}");
        assert_eq!(err["scimType"], "invalidFilter", "{bad}: {err}");
    }
    // POST /.search gives the same answers.
    let (st, list) = s.scim(
        "POST",
        "/Users/.search",
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "title eq \"agent\"", "sortBy": "userName", "attributes": ["userName"]})),
    );
    assert_eq!(st, 200);
    assert_eq!(ids(&list), vec!["ana", "cy"]);
    assert!(list["Resources"][0].get("emails").is_none());
});

both!(pagination_sorting_and_projection, |b| {
    let s = TestServer::start(b);
    for i in 0..25 {
        s.create_user(&format!("u{i:02}"));
    }
    let (_, p1) = s.scim(
        "GET",
        "/Users?startIndex=1&count=10&sortBy=userName&sortOrder=descending",
        None,
    );
    assert_eq!(p1["totalResults"], 25);
    assert_eq!(p1["itemsPerPage"], 10);
    assert_eq!(p1["startIndex"], 1);
    assert_eq!(ids(&p1)[0], "u24");
    let (_, p3) = s.scim("GET", "/Users?startIndex=21&count=10&sortBy=userName", None);
    assert_eq!(ids(&p3), vec!["u20", "u21", "u22", "u23", "u24"]);
    let (_, zero) = s.scim("GET", "/Users?count=0", None);
    assert_eq!(zero["totalResults"], 25);
    assert_eq!(zero["Resources"].as_array().map(Vec::len), Some(0));
    // Index pages in default order cover everyone exactly once.
    let mut seen = Vec::new();
    for start in [1, 8, 15, 22] {
        let (_, p) = s.scim("GET", &format!("/Users?startIndex={start}&count=7"), None);
        seen.extend(ids(&p));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
    // attributes / excludedAttributes
    let (_, only) = s.scim(
        "GET",
        "/Users?count=1&attributes=userName,name.familyName",
        None,
    );
    let r = &only["Resources"][0];
    assert!(r.get("id").is_some() && r.get("userName").is_some());
    assert!(r.get("emails").is_none() && r.get("meta").is_none());
    assert!(r["name"].get("givenName").is_none() && r["name"].get("familyName").is_some());
    let (_, ex) = s.scim("GET", "/Users?count=1&excludedAttributes=emails,meta", None);
    assert!(ex["Resources"][0].get("emails").is_none());
    assert!(ex["Resources"][0].get("userName").is_some());
    let (st, err) = s.scim("GET", "/Users?sortBy=nosuch", None);
    assert_eq!((st, err["scimType"].as_str()), (400, Some("invalidValue")));
});

both!(cursor_pagination_is_stable_under_writes, |b| {
    let s = TestServer::start(b);
    for i in 0..12 {
        s.create_user(&format!("c{i:02}"));
    }
    let (st, p1) = s.scim("GET", "/Users?cursor=&count=5", None);
    assert_eq!(st, 200, "{p1}");
    let first = ids(&p1);
    assert_eq!(first.len(), 5);
    let next = p1["nextCursor"].as_str().expect("nextCursor").to_owned();
    // Concurrent writes: a new user and a deleted one from the first page.
    s.create_user("late");
    let (_, listing) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("userName eq \"c00\"")),
        None,
    );
    let c00 = listing["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.scim("DELETE", &format!("/Users/{c00}"), None);
    let mut rest = Vec::new();
    let mut cursor = Some(next);
    while let Some(c) = cursor {
        let (st, p) = s.scim("GET", &format!("/Users?count=5&cursor={}", q(&c)), None);
        assert_eq!(st, 200);
        rest.extend(ids(&p));
        cursor = p["nextCursor"].as_str().map(str::to_owned);
    }
    let mut all = first.clone();
    all.extend(rest.clone());
    let expected: Vec<String> = (0..12)
        .map(|i| format!("c{i:02}"))
        .chain(["late".to_string()])
        .collect();
    assert_eq!(all, expected, "no user skipped or repeated");
    let (st, err) = s.scim("GET", "/Users?cursor=garbage!", None);
    assert_eq!((st, err["scimType"].as_str()), (400, Some("invalidCursor")));
});

both!(etags_if_match_and_if_none_match, |b| {
    let s = TestServer::start(b);
    let u = s.create_user("etag");
    let id = u["id"].as_str().expect("id");
    let (st, hdrs, _) = s.scim_h("GET", &format!("/Users/{id}"), None, &[]);
    assert_eq!(st, 200);
    assert!(hdrs.iter().any(|(k, v)| k == "etag" && v == "W/\"1\""));
    let (st, _, _) = s.scim_h(
        "GET",
        &format!("/Users/{id}"),
        None,
        &[("If-None-Match", "W/\"1\"")],
    );
    assert_eq!(st, 304);
    let body = json!({"userName": "etag", "title": "x"});
    let (st, _, err) = s.scim_h(
        "PUT",
        &format!("/Users/{id}"),
        Some(body.clone()),
        &[("If-Match", "W/\"7\"")],
    );
    assert_eq!(st, 412, "{err}");
    let (st, _, _) = s.scim_h(
        "PUT",
        &format!("/Users/{id}"),
        Some(body),
        &[("If-Match", "W/\"1\"")],
    );
    assert_eq!(st, 200);
    let (st, _, _) = s.scim_h(
        "DELETE",
        &format!("/Users/{id}"),
        None,
        &[("If-Match", "W/\"1\"")],
    );
    assert_eq!(st, 412);
});

both!(bad_requests_get_scim_errors, |b| {
    let s = TestServer::start_with(b, |c| c.scim.max_payload_bytes = 2048);
    let auth = format!("Bearer {}", s.token);
    let (st, hdrs, body) = s.raw("GET", "/scim/v2/Users", None, &[]);
    assert_eq!(st, 401);
    assert!(
        hdrs.iter()
            .any(|(k, v)| k == "www-authenticate" && v.starts_with("Bearer"))
    );
    assert!(body.contains("urn:ietf:params:scim:api:messages:2.0:Error"));
    let (st, _, _) = s.raw(
        "GET",
        "/scim/v2/Users",
        None,
        &[("Authorization", "Bearer rc_wrong")],
    );
    assert_eq!(st, 401);
    let (st, _, body) = s.raw(
        "POST",
        "/scim/v2/Users",
        Some("{\"userName\": "),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
    );
    assert_eq!(st, 400);
    assert!(body.contains("invalidSyntax"), "{body}");
    let (st, _, _) = s.raw(
        "POST",
        "/scim/v2/Users",
        Some("userName=x"),
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
    );
    assert_eq!(st, 415);
    let big = json!({"userName": "big", "title": "x".repeat(4096)}).to_string();
    let (st, _, body) = s.raw(
        "POST",
        "/scim/v2/Users",
        Some(&big),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
    );
    assert_eq!(st, 413, "{body}");
    let (st, err) = s.scim(
        "POST",
        "/Users",
        Some(json!({"userName": "x", "active": "perhaps"})),
    );
    assert_eq!((st, err["scimType"].as_str()), (400, Some("invalidValue")));
    let (st, err) = s.scim(
        "POST",
        "/Users",
        Some(json!({"displayName": "no user name"})),
    );
    assert_eq!((st, err["scimType"].as_str()), (400, Some("invalidValue")));
    let (st, err) = s.scim("POST", "/Users", Some(json!({"userName": "r", "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"role": "pilot"}})));
    assert_eq!(st, 400);
    assert!(err["detail"].as_str().is_some_and(|d| d.contains("pilot")));
    // A read-only token can list but not create.
    let read = s.token_with("auditor", "read");
    let rauth = format!("Bearer {read}");
    let (st, _, _) = s.raw("GET", "/scim/v2/Users", None, &[("Authorization", &rauth)]);
    assert_eq!(st, 200);
    let (st, _, _) = s.raw(
        "POST",
        "/scim/v2/Users",
        Some("{\"userName\":\"z\"}"),
        &[
            ("Authorization", &rauth),
            ("Content-Type", "application/scim+json"),
        ],
    );
    assert_eq!(st, 403);
    // Unknown ids and endpoints.
    let (st, _) = s.scim("GET", "/Users/00000000-0000-0000-0000-000000000000", None);
    assert_eq!(st, 404);
    let (st, _) = s.scim("GET", "/Nope", None);
    assert_eq!(st, 404);
});

both!(password_is_hashed_never_returned, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({"userName": "pw", "password": "Secr3t!pass", "groups": []})),
    );
    assert_eq!(st, 201);
    assert!(v.get("password").is_none());
    let mut conn = s.conn();
    let row = rollcall::accounts::agent_row(&mut conn, v["id"].as_str().expect("id"))
        .expect("q")
        .expect("row");
    let hash = row.password_hash.expect("hash stored");
    assert!(hash.starts_with("$argon2id$"));
    assert!(rollcall::auth::verify_password("Secr3t!pass", &hash));
});

both!(idp_roles_round_trip_and_select_a_rollcall_role, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim("POST", "/Users", Some(json!({"userName": "roles1",
        "roles": [{"value": "Contoso Support", "type": "WindowsAzureActiveDirectoryRole"}, {"value": "team_lead", "primary": true}]})));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["roles"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"]["role"],
        "team_lead"
    );
    let (st, v2) = s.scim(
        "POST",
        "/Users",
        Some(json!({"userName": "roles2", "roles": [{"value": "Only IdP knows"}]})),
    );
    assert_eq!(st, 201);
    assert_eq!(
        v2["urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"]["role"],
        "agent"
    );
    assert_eq!(v2["roles"][0]["value"], "Only IdP knows");
    let (_, found) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("roles[value eq \"contoso support\"]")),
        None,
    );
    assert_eq!(ids(&found), vec!["roles1"]);
});

// A list of one primary work email (or phone) is kept in the agent's row alone; any other
// list in value rows. Both read back as sent and answer the same filters.
both!(inline_work_values_read_and_filter_like_rows, |b| {
    let s = TestServer::start(b);
    let people = [
        // (userName, emails, phoneNumbers)
        (
            "ina",
            json!([{"value": "ina@corp.example", "type": "work", "primary": true}]),
            json!([{"value": "+1 555 0100", "type": "work", "primary": true}]),
        ),
        (
            "hom",
            json!([{"value": "hom@home.example", "type": "home", "primary": true}]),
            json!([]),
        ),
        (
            "dis",
            json!([{"value": "dis@corp.example", "type": "work", "primary": true, "display": "Dis at work"}]),
            json!([{"value": "+1 555 0199", "type": "mobile", "primary": false}]),
        ),
        (
            "two",
            json!([{"value": "two@corp.example", "type": "work", "primary": true}, {"value": "two@home.example", "type": "home", "primary": false}]),
            json!([]),
        ),
    ];
    for (n, emails, phones) in &people {
        let (st, v) = s.scim(
            "POST",
            "/Users",
            Some(json!({"userName": n, "emails": emails, "phoneNumbers": phones})),
        );
        assert_eq!(st, 201, "{v}");
        let (_, got) = s.scim(
            "GET",
            &format!("/Users/{}", v["id"].as_str().unwrap()),
            None,
        );
        assert_eq!(got["emails"], *emails, "{n}");
        if phones.as_array().is_some_and(|p| !p.is_empty()) {
            assert_eq!(got["phoneNumbers"], *phones, "{n}");
        }
    }
    // Only the lists that are not one primary work value have rows.
    {
        use diesel::prelude::*;
        use rollcall::store::schema::{agent_values, agents};
        let mut conn = s.conn();
        let mut rows: Vec<(String, String)> = agent_values::table
            .inner_join(agents::table.on(agents::id.eq(agent_values::agent_id)))
            .filter(agent_values::attr.eq_any(["emails", "phoneNumbers"]))
            .select((agents::user_name, agent_values::attr))
            .load(&mut *conn)
            .unwrap();
        rows.sort();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            rows,
            [
                ("dis", "emails"),
                ("dis", "phoneNumbers"),
                ("hom", "emails"),
                ("two", "emails"),
                ("two", "emails"),
            ]
        );
    }
    let cases: &[(&str, &[&str])] = &[
        ("emails.value eq \"INA@corp.example\"", &["ina"]),
        ("emails eq \"ina@corp.example\"", &["ina"]),
        ("emails[type eq \"work\"]", &["dis", "ina", "two"]),
        ("emails[type eq \"home\"]", &["hom", "two"]),
        ("emails[type ne \"work\"]", &["hom", "two"]),
        (
            "emails[type sw \"WO\" and value ew \"@corp.example\"]",
            &["dis", "ina", "two"],
        ),
        ("emails[display pr]", &["dis"]),
        (
            "emails[display ne \"x\" and type eq \"work\"]",
            &["dis", "ina", "two"],
        ),
        ("emails[primary eq false]", &["two"]),
        ("emails[primary eq true and value co \"ina\"]", &["ina"]),
        (
            "emails.type eq \"work\" and not (emails[type eq \"home\"])",
            &["dis", "ina"],
        ),
        ("emails pr", &["dis", "hom", "ina", "two"]),
        ("phoneNumbers eq \"+1 555 0100\"", &["ina"]),
        ("phoneNumbers[type eq \"work\"]", &["ina"]),
        ("phoneNumbers pr", &["dis", "ina"]),
        ("not (phoneNumbers pr)", &["hom", "two"]),
    ];
    for (filter, want) in cases {
        let (st, list) = s.scim(
            "GET",
            &format!("/Users?sortBy=userName&filter={}", q(filter)),
            None,
        );
        assert_eq!(st, 200, "{filter}: {list}");
        assert_eq!(ids(&list), *want, "filter {filter}");
    }
    // A PATCH that turns the inline list into two values, then back into one.
    let (_, list) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("userName eq \"ina\"")),
        None,
    );
    let id = list["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "ina@home.example", "type": "home"}]}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["emails"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, list) = s.scim(
        "GET",
        &format!(
            "/Users?filter={}",
            q("emails[type eq \"home\"] and userName eq \"ina\"")
        ),
        None,
    );
    assert_eq!(ids(&list), ["ina"]);
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "remove", "path": "emails[type eq \"home\"]"}]}),
        ),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["emails"],
        json!([{"value": "ina@corp.example", "type": "work", "primary": true}])
    );
    let (_, list) = s.scim(
        "GET",
        &format!(
            "/Users?filter={}",
            q("emails[type eq \"home\"] and userName eq \"ina\"")
        ),
        None,
    );
    assert_eq!(ids(&list), Vec::<String>::new());
    let (_, list) = s.scim(
        "GET",
        &format!(
            "/Users?filter={}",
            q("emails.value eq \"ina@corp.example\"")
        ),
        None,
    );
    assert_eq!(ids(&list), ["ina"]);
});
