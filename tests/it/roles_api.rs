//! The roles and permissions endpoints of the admin API over real HTTP on both backends:
//! roles as data, built-ins read-only, the `?dry_run=true` impact, events, the catalog,
//! effective permissions and overrides, problem details for every refusal.

use serde_json::{Value, json};

use crate::api_framework::{api, assert_problem, header};
use crate::both;
use crate::harness::TestServer;

fn start(b: crate::harness::Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.permissions = vec![rollcall::config::PermissionConfig {
            key: "softphone.use".into(),
            description: "Use the softphone".into(),
            roles: vec!["agent".into(), "admin".into()],
        }];
    })
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

both!(roles_are_data_over_the_api, |b| {
    let s = start(b);
    let admin = s.token_with("ops", "admin");
    let reader = s.token_with("viewer", "read");
    let t = Some(admin.as_str());

    let (st, _, list) = api(&s, Some(&reader), "GET", "/roles", None, &[]);
    assert_eq!(st, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(5));
    let (st, _, cat) = api(&s, Some(&reader), "GET", "/permissions", None, &[]);
    assert_eq!(st, 200);
    let phone = cat
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["key"] == "softphone.use")
        .cloned()
        .expect("config key in the catalog");
    assert_eq!(
        (phone["builtin"].as_bool(), phone["defaultRoles"].clone()),
        (Some(false), json!(["agent", "admin"]))
    );
    let (_, _, agent) = api(&s, Some(&reader), "GET", "/roles/agent", None, &[]);
    assert!(names(&agent["permissions"]).contains(&"softphone.use".to_owned()));

    // Create: the rules, as problem details.
    let body = json!({"name": "night_shift", "description": "Nights", "permissions": ["chat.reply", "customer.view"], "defaultMaxConcurrentChats": 3, "defaultChannels": ["web"]});
    let (st, h, v) = api(
        &s,
        Some(&reader),
        "POST",
        "/roles",
        Some(&body.to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 403);
    for (bad, says, pointer) in [
        (
            json!({"name": "Night Shift"}),
            "lower-case letters",
            "/name",
        ),
        (
            json!({"name": "x", "permissions": ["chat.reply", "beam.up"]}),
            "\"beam.up\"",
            "/permissions",
        ),
        (
            json!({"name": "x", "defaultChannels": ["fax"]}),
            "\"fax\"",
            "/defaultChannels",
        ),
        (
            json!({"name": "x", "defaultMaxConcurrentChats": -1}),
            "between 0 and",
            "/defaultMaxConcurrentChats",
        ),
    ] {
        let (st, h, v) = api(&s, t, "POST", "/roles", Some(&bad.to_string()), &[]);
        assert_problem(st, &h, &v, 422);
        assert!(v["detail"].as_str().unwrap_or("").contains(says), "{v}");
        assert_eq!(v["errors"][0]["pointer"], pointer, "{v}");
    }
    let (st, h, v) = api(
        &s,
        t,
        "POST",
        "/roles",
        Some(&json!({"nam": "x"}).to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 422);
    let key = [("Idempotency-Key", "create-night-1")];
    let (st, h, created) = api(&s, t, "POST", "/roles", Some(&body.to_string()), &key);
    assert_eq!(st, 201, "{created}");
    assert_eq!(header(&h, "location"), Some("/api/v1/roles/night_shift"));
    assert_eq!(created["builtin"], false);
    // A retry with the same key answers the same; without it, a conflict.
    let (st, _, again) = api(&s, t, "POST", "/roles", Some(&body.to_string()), &key);
    assert_eq!((st, &again), (201, &created));
    let (st, h, v) = api(&s, t, "POST", "/roles", Some(&body.to_string()), &[]);
    assert_problem(st, &h, &v, 409);

    // Clone a built-in template.
    let (st, _, lead) = api(
        &s,
        t,
        "POST",
        "/roles/team_lead/clone",
        Some(&json!({"name": "lead-emea"}).to_string()),
        &[],
    );
    assert_eq!(st, 201, "{lead}");
    assert!(names(&lead["permissions"]).contains(&"reports.view_team".to_owned()));
    let (st, h, v) = api(
        &s,
        t,
        "POST",
        "/roles/nobody/clone",
        Some(&json!({"name": "y"}).to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 404);

    // Built-ins are read-only.
    let (st, h, v) = api(
        &s,
        t,
        "PATCH",
        "/roles/agent",
        Some(&json!({"description": "x"}).to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 409);
    assert!(
        v["detail"].as_str().unwrap_or("").contains("read-only"),
        "{v}"
    );
    let (st, h, v) = api(&s, t, "DELETE", "/roles/admin", None, &[]);
    assert_problem(st, &h, &v, 409);

    // Holders: one plain, one with a deny of export.
    let u1 = s.create_user("night.one");
    let u2 = s.create_user("night.two");
    let (id1, id2) = (
        u1["id"].as_str().expect("id"),
        u2["id"].as_str().expect("id"),
    );
    {
        let mut conn = s.conn();
        let a = rollcall::accounts::Accounts::new("agent", 30);
        for id in [id1, id2] {
            a.set_agent_role(
                &mut conn,
                "t",
                id,
                "night_shift",
                None,
                false,
                None,
                rollcall::store::now(),
            )
            .expect("move");
        }
    }
    let (st, _, v) = api(
        &s,
        t,
        "PUT",
        &format!("/agents/{id2}/permission-overrides"),
        Some(&json!({"deny": ["customer.export"]}).to_string()),
        &[],
    );
    assert_eq!(st, 200, "{v}");

    // PATCH ?dry_run=true: the impact, nothing saved.
    let change = json!({"permissions": ["chat.reply", "customer.export"]}).to_string();
    let (st, _, dry) = api(
        &s,
        t,
        "PATCH",
        "/roles/night_shift?dry_run=true",
        Some(&change),
        &[],
    );
    assert_eq!(st, 200, "{dry}");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["impact"]["holders"], 2);
    assert_eq!(
        dry["impact"]["withoutOverrides"],
        json!({"agents": 1, "gained": ["customer.export"], "lost": ["customer.view"]})
    );
    assert_eq!(
        dry["impact"]["withOverrides"],
        json!([{"id": id2, "userName": "night.two", "gained": [], "lost": ["customer.view"]}])
    );
    let (_, _, still) = api(&s, t, "GET", "/roles/night_shift", None, &[]);
    assert_eq!(
        names(&still["permissions"]),
        ["chat.reply", "customer.view"]
    );
    let (st, h, v) = api(
        &s,
        t,
        "PATCH",
        "/roles/night_shift?dry_run=maybe",
        Some(&change),
        &[],
    );
    assert_problem(st, &h, &v, 400);
    let before = {
        let mut conn = s.conn();
        rollcall::events::after(&mut conn, 0, 10_000)
            .expect("events")
            .len()
    };
    let (st, _, done) = api(&s, t, "PATCH", "/roles/night_shift", Some(&change), &[]);
    assert_eq!(st, 200, "{done}");
    assert_eq!(
        (done["dryRun"].as_bool(), done["impact"].clone()),
        (Some(false), dry["impact"].clone())
    );
    let mut conn = s.conn();
    let new: Vec<(String, String)> = rollcall::events::after(&mut conn, 0, 10_000)
        .expect("events")
        .into_iter()
        .skip(before)
        .map(|e| (e.event.as_str().to_owned(), e.agent_id))
        .collect();
    assert_eq!(
        new[0],
        ("role.updated".to_owned(), "night_shift".to_owned())
    );
    let mut agents: Vec<&str> = new[1..]
        .iter()
        .map(|(e, id)| {
            assert_eq!(e, "agent.permissions_changed");
            id.as_str()
        })
        .collect();
    agents.sort_unstable();
    let mut want = vec![id1, id2];
    want.sort_unstable();
    assert_eq!(agents, want);

    // Effective permissions with provenance.
    let (st, h, p) = api(
        &s,
        Some(&reader),
        "GET",
        &format!("/agents/{id2}/permissions"),
        None,
        &[],
    );
    assert_eq!(st, 200, "{p}");
    assert!(header(&h, "etag").is_some());
    let export = p["permissions"]
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["key"] == "customer.export")
        .cloned()
        .expect("shown");
    assert_eq!(
        export,
        json!({"key": "customer.export", "granted": false, "source": "deny", "inRole": true})
    );
    let (st, h, v) = api(
        &s,
        Some(&reader),
        "GET",
        "/agents/nope/permissions",
        None,
        &[],
    );
    assert_problem(st, &h, &v, 404);

    // Overrides: a dry run, unknown keys, If-Match.
    let grant = json!({"grant": ["audit.view"]}).to_string();
    let path = format!("/agents/{id1}/permission-overrides");
    let (st, _, d) = api(
        &s,
        t,
        "PUT",
        &format!("{path}?dry_run=true"),
        Some(&grant),
        &[],
    );
    assert_eq!(
        (st, d["dryRun"].as_bool(), d["impact"]["gained"].clone()),
        (200, Some(true), json!(["audit.view"]))
    );
    let (_, _, p1) = api(
        &s,
        t,
        "GET",
        &format!("/agents/{id1}/permissions"),
        None,
        &[],
    );
    assert_eq!(p1["overrides"], json!({"grant": [], "deny": []}));
    let (st, h, v) = api(
        &s,
        t,
        "PUT",
        &path,
        Some(&json!({"grant": ["warp.drive"]}).to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 422);
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("\"warp.drive\""),
        "{v}"
    );
    let (st, h, v) = api(
        &s,
        t,
        "PUT",
        &path,
        Some(&grant),
        &[("If-Match", "W/\"999\"")],
    );
    assert_problem(st, &h, &v, 412);
    let (st, _, v) = api(&s, t, "PUT", &path, Some(&grant), &[]);
    assert_eq!(st, 200, "{v}");

    // Delete: refused while held (how many is said), then allowed.
    let (st, h, v) = api(&s, t, "DELETE", "/roles/night_shift", None, &[]);
    assert_problem(st, &h, &v, 409);
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("held by 2 agents"),
        "{v}"
    );
    let (st, _, _) = api(&s, t, "DELETE", "/roles/lead-emea", None, &[]);
    assert_eq!(st, 204);
    let (st, h, v) = api(&s, t, "GET", "/roles/lead-emea", None, &[]);
    assert_problem(st, &h, &v, 404);

    // Every route is in the OpenAPI document.
    let (_, _, doc) = api(&s, None, "GET", "/openapi.json", None, &[]);
    for p in [
        "/api/v1/roles",
        "/api/v1/roles/{name}",
        "/api/v1/roles/{name}/clone",
        "/api/v1/permissions",
        "/api/v1/agents/{id}/permissions",
        "/api/v1/agents/{id}/permission-overrides",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
});

both!(an_agents_role_change_previews_its_impact, |b| {
    let s = start(b);
    let admin = s.token_with("ops", "admin");
    let t = Some(admin.as_str());
    let u = s.create_user("role.mover");
    let id = u["id"].as_str().expect("id");
    let path = format!("/agents/{id}");
    let body = json!({"role": "qa_inspector"}).to_string();
    let (st, _, v) = api(
        &s,
        t,
        "PATCH",
        &format!("{path}?dry_run=true"),
        Some(&body),
        &[],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["dryRun"].as_bool(), v["role"].as_str()),
        (Some(true), Some("qa_inspector"))
    );
    assert!(
        names(&v["impact"]["gained"]).contains(&"qa.review".to_owned()),
        "{v}"
    );
    assert!(
        names(&v["impact"]["lost"]).contains(&"softphone.use".to_owned()),
        "{v}"
    );
    let (_, _, still) = api(&s, t, "GET", &path, None, &[]);
    assert_eq!(still["role"], "agent");
    let (st, h, v) = api(
        &s,
        t,
        "PATCH",
        &format!("{path}?dry_run=true"),
        Some(&json!({"role": "nobody"}).to_string()),
        &[],
    );
    assert_problem(st, &h, &v, 422);
    let (st, h, v) = api(
        &s,
        t,
        "PATCH",
        &format!("{path}?dry_run=true"),
        Some(&body),
        &[("If-Match", "W/\"99\"")],
    );
    assert_problem(st, &h, &v, 412);
    // Saved: the agent update, then its permission event.
    let (st, _, v) = api(&s, t, "PATCH", &path, Some(&body), &[]);
    assert_eq!((st, v["role"].as_str()), (200, Some("qa_inspector")), "{v}");
    let mut conn = s.conn();
    let actions: Vec<String> = rollcall::audit::for_target(&mut conn, id)
        .expect("audit")
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        ["agent.create", "agent.update", "agent.permissions_change"]
    );
});
