//! Admin API agent endpoints over real HTTP: create, read, PATCH with If-Match, delete,
//! lifecycle steps, body errors as problems with pointers, the channel catalog from every
//! door, skill groups and channels.

use serde_json::{Value, json};

use crate::api_framework::{api, assert_problem, header};
use crate::both;
use crate::harness::TestServer;

fn actions(s: &TestServer, id: &str) -> Vec<(String, String, Option<String>)> {
    let mut conn = s.conn();
    rollcall::audit::for_target(&mut conn, id)
        .expect("audit")
        .into_iter()
        .map(|r| (r.actor, r.action, r.reason))
        .collect()
}

pub fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let (st, _, v) = api(
        s,
        Some(token),
        "POST",
        "/agents",
        Some(&body.to_string()),
        &[],
    );
    assert_eq!(st, 201, "{v}");
    v
}

both!(create_read_patch_delete, |b| {
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let reader = s.token_with("viewer", "read");
    let body = json!({
        "userName": "ana.lima", "givenName": "Ana", "familyName": "Lima", "nickname": "Nana",
        "email": "ana@example.com", "employeeNumber": "A-100", "department": "Support",
        "skillGroups": ["billing"], "channels": ["web", "email"], "maxConcurrentChats": 3
    });
    let (st, h, v) = api(
        &s,
        Some(&admin),
        "POST",
        "/agents",
        Some(&body.to_string()),
        &[],
    );
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(header(&h, "etag"), Some("W/\"1\""));
    assert_eq!(
        header(&h, "location"),
        Some(format!("{}/api/v1/agents/{id}", s.base).as_str())
    );
    assert_eq!(v["status"], "active");
    assert_eq!(v["source"], "admin");
    assert_eq!(v["employeeNumber"], "A-100");
    assert_eq!(v["channels"], json!(["web", "email"]));
    assert_eq!(v["role"], "agent");

    // A read token may read, not write.
    let (st, _, got) = api(
        &s,
        Some(&reader),
        "GET",
        &format!("/agents/{id}"),
        None,
        &[],
    );
    assert_eq!((st, &got), (200, &v));
    let (st, h, p) = api(
        &s,
        Some(&reader),
        "POST",
        "/agents",
        Some(&body.to_string()),
        &[],
    );
    assert_problem(st, &h, &p, 403);

    // The same userName (in another case) is taken.
    let again = json!({"userName": "ANA.LIMA"}).to_string();
    let (st, h, p) = api(&s, Some(&admin), "POST", "/agents", Some(&again), &[]);
    assert_problem(st, &h, &p, 409);

    // PATCH: present fields change, null clears, absent ones stay.
    let patch = json!({"title": "Lead", "nickname": null, "channels": ["phone"]}).to_string();
    let path = format!("/agents/{id}");
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "PATCH",
        &path,
        Some(&patch),
        &[("If-Match", "W/\"7\"")],
    );
    assert_problem(st, &h, &p, 412);
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "PATCH",
        &path,
        Some(&patch),
        &[("If-Match", "W/\"1\"")],
    );
    assert_eq!(st, 200, "{p}");
    assert_eq!(header(&h, "etag"), Some("W/\"2\""));
    assert_eq!(p["title"], "Lead");
    assert!(p["nickname"].is_null(), "{p}");
    assert_eq!(p["channels"], json!(["phone"]));
    assert_eq!(p["givenName"], "Ana");
    assert_eq!(p["email"], "ana@example.com");
    assert_eq!(p["skillGroups"], json!(["billing"]));
    assert_eq!(p["maxConcurrentChats"], 3);
    // A PATCH that changes nothing writes nothing.
    let (st, _, same) = api(&s, Some(&admin), "PATCH", &path, Some(&patch), &[]);
    assert_eq!((st, &same["version"]), (200, &json!(2)));
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "PATCH",
        "/agents/nobody",
        Some(&patch),
        &[],
    );
    assert_problem(st, &h, &p, 404);

    // Delete (soft: the row waits for the purge), with a reason; then gone.
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "DELETE",
        &path,
        None,
        &[("If-Match", "W/\"1\"")],
    );
    assert_problem(st, &h, &p, 412);
    let (st, _, _) = api(
        &s,
        Some(&admin),
        "DELETE",
        &format!("{path}?reason=left%20us"),
        None,
        &[],
    );
    assert_eq!(st, 204);
    let (st, h, p) = api(&s, Some(&reader), "GET", &path, None, &[]);
    assert_problem(st, &h, &p, 404);
    let mut conn = s.conn();
    let row = rollcall::accounts::agent_row(&mut conn, &id)
        .expect("q")
        .expect("row kept");
    assert_eq!(row.status, "deleted");
    assert!(row.purge_after.is_some());
    let log = actions(&s, &id);
    let who: Vec<(&str, &str)> = log
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        who,
        vec![
            ("token:ops", "agent.create"),
            ("token:ops", "agent.update"),
            ("token:ops", "agent.delete")
        ]
    );
    assert_eq!(log[2].2.as_deref(), Some("left us"));
});

both!(body_errors_are_problems_with_pointers, |b| {
    let s = TestServer::start_with(b, |c| c.scim.max_payload_bytes = 4096);
    let admin = s.token_with("ops", "admin");
    let post = |body: &str| api(&s, Some(&admin), "POST", "/agents", Some(body), &[]);

    let (st, h, p) = post("{\"userName\": ");
    assert_problem(st, &h, &p, 400);
    let (st, h, p) = post(r#"{"userName": "a", "maxConcurrentChats": "many"}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/maxConcurrentChats");
    let (st, h, p) = post(r#"{"userName": "a", "colour": "blue"}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/colour");
    let (st, h, p) = post(r#"{"givenName": "a"}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/userName");
    let (st, h, p) = post(r#"{"userName": "a", "channels": ["web", "fax"]}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["type"], "urn:rollcall:problem:validation");
    assert_eq!(p["errors"][0]["pointer"], "/channels/1");
    assert!(
        p["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("fax"))
    );
    let (st, h, p) = post(r#"{"userName": "a", "role": "wizard"}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/role");
    let (st, h, p) = post(r#"{"userName": "  "}"#);
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/userName");
    let big = json!({"userName": "a", "title": "x".repeat(5000)}).to_string();
    let (st, h, p) = post(&big);
    assert_problem(st, &h, &p, 413);
    let auth = format!("Bearer {admin}");
    let (st, h, text) = s.raw(
        "POST",
        "/api/v1/agents",
        Some("userName=a"),
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
    );
    let p: Value = serde_json::from_str(&text).expect("problem json");
    assert_problem(st, &h, &p, 415);

    let v = create(&s, &admin, json!({"userName": "bo"}));
    let path = format!("/agents/{}", v["id"].as_str().expect("id"));
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "PATCH",
        &path,
        Some(r#"{"userName": null}"#),
        &[],
    );
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/userName");
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "PATCH",
        &path,
        Some(r#"{"channels": ["app", "telex"]}"#),
        &[],
    );
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/channels/1");
});

both!(lifecycle_steps_are_audited_with_reasons, |b| {
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let v = create(&s, &admin, json!({"userName": "cy"}));
    let id = v["id"].as_str().expect("id").to_owned();
    let step = |name: &str, reason: &str| {
        let body = json!({ "reason": reason }).to_string();
        api(
            &s,
            Some(&admin),
            "POST",
            &format!("/agents/{id}/{name}"),
            Some(&body),
            &[],
        )
    };
    let (st, _, v) = step("disable", "on leave");
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["disabledReason"].as_str()),
        (Some("suspended"), Some("on leave"))
    );
    let (st, _, v) = step("enable", "back");
    assert_eq!((st, v["status"].as_str()), (200, Some("active")));
    assert!(v["disabledAt"].is_null());
    let (st, _, v) = step("force-offline", "shared password");
    assert_eq!((st, v["loginBlocked"].as_bool()), (200, Some(true)));
    let (st, _, v) = step("resume", "password changed");
    assert_eq!((st, v["loginBlocked"].as_bool()), (200, Some(false)));
    let (st, h, p) = step("disable", "  ");
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/reason");
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "POST",
        &format!("/agents/{id}/disable"),
        Some("{}"),
        &[],
    );
    assert_problem(st, &h, &p, 422);
    assert_eq!(p["errors"][0]["pointer"], "/reason");
    let (st, h, p) = step("approve", "ok");
    assert_problem(st, &h, &p, 409);
    let (st, h, p) = step("reject", "no");
    assert_problem(st, &h, &p, 409);
    let (st, h, p) = api(
        &s,
        Some(&admin),
        "GET",
        &format!("/agents/{id}/disable"),
        None,
        &[],
    );
    assert_problem(st, &h, &p, 405);
    assert_eq!(header(&h, "allow"), Some("POST"));

    let log = actions(&s, &id);
    let got: Vec<(&str, Option<&str>)> = log[1..]
        .iter()
        .map(|(_, a, r)| (a.as_str(), r.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("agent.disable", Some("on leave")),
            ("agent.enable", Some("back")),
            ("agent.force_offline", Some("shared password")),
            ("agent.resume", Some("password changed")),
        ]
    );
    let mut conn = s.conn();
    let events: Vec<&str> = rollcall::events::after(&mut conn, 0, 100)
        .expect("events")
        .iter()
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        events,
        vec![
            "agent.created",
            "agent.disabled",
            "agent.enabled",
            "agent.forced_offline",
            "agent.resumed"
        ]
    );
});

both!(
    channel_catalog_holds_for_every_door_but_never_blocks_old_data,
    |b| {
        let s = TestServer::start(b);
        let admin = s.token_with("ops", "admin");
        // SCIM: the existing invalidValue error.
        let (st, v) = s.scim(
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dee",
                "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"channels": ["fax"]}
            })),
        );
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["scimType"], "invalidValue");
        // An agent holding a channel from before the catalog changed (written without one).
        let mut conn = s.conn();
        let old = rollcall::accounts::Accounts::new("agent", 30)
            .create_agent(
                &mut conn,
                "token:old",
                "admin",
                rollcall::accounts::AgentInput {
                    profile: rollcall::domain::AgentProfile {
                        user_name: "old".into(),
                        channels: vec!["fax".into(), "web".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                rollcall::store::now(),
            )
            .expect("create");
        drop(conn);
        let path = format!("/agents/{}", old.id);
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "POST",
            &format!("{path}/disable"),
            Some(r#"{"reason": "x"}"#),
            &[],
        );
        assert_eq!(st, 200, "{v}");
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "PATCH",
            &path,
            Some(r#"{"title": "Old hand"}"#),
            &[],
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["channels"], json!(["fax", "web"]));
        let (st, v) = s.scim(
            "PATCH",
            &format!("/Users/{}", old.id),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Older hand"}]
            })),
        );
        assert_eq!(st, 200, "{v}");

        // Listings: skill groups in use, and the catalog with counts.
        create(
            &s,
            &admin,
            json!({"userName": "e1", "skillGroups": ["vip", "billing"], "channels": ["web"]}),
        );
        create(
            &s,
            &admin,
            json!({"userName": "e2", "skillGroups": ["vip"]}),
        );
        let reader = s.token_with("viewer", "read");
        let (st, _, v) = api(&s, Some(&reader), "GET", "/skill-groups", None, &[]);
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v["items"],
            json!([{"name": "billing", "agents": 1}, {"name": "vip", "agents": 2}])
        );
        let (st, _, v) = api(&s, Some(&reader), "GET", "/channels", None, &[]);
        assert_eq!(st, 200, "{v}");
        let items = v["items"].as_array().expect("items");
        let web = items.iter().find(|i| i["name"] == "web").expect("web");
        assert_eq!(
            (web["agents"].as_i64(), web["inCatalog"].as_bool()),
            (Some(2), Some(true))
        );
        let fax = items
            .iter()
            .find(|i| i["name"] == "fax")
            .expect("fax listed");
        assert_eq!(
            (fax["agents"].as_i64(), fax["inCatalog"].as_bool()),
            (Some(1), Some(false))
        );
        assert!(
            items
                .iter()
                .any(|i| i["name"] == "ticket" && i["agents"] == 0)
        );
    }
);
