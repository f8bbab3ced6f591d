//! Approval of new agents: per door (`[accounts] require_approval`, `[accounts.approval]`),
//! approve and reject through the admin API, the four-eyes rule.

use serde_json::json;

use crate::api_agents::create;
use crate::api_framework::{api, assert_problem};
use crate::both;
use crate::harness::TestServer;

both!(admin_door_needs_approval_scim_does_not, |b| {
    let s = TestServer::start_with(b, |c| {
        c.accounts.require_approval = true;
        c.accounts.approval.scim = Some(false);
    });
    let ops = s.token_with("ops", "admin");
    let lead = s.token_with("lead", "admin");
    let v = create(&s, &ops, json!({"userName": "pia"}));
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["status"], "pending");
    assert!(v["disabledAt"].is_null());
    // SCIM's door is configured not to need approval.
    let u = s.create_user("quin");
    assert_eq!(u["active"], true);
    // SCIM sees a pending agent as inactive, and `active: true` does not approve it.
    let (st, got) = s.scim("GET", &format!("/Users/{id}"), None);
    assert_eq!((st, &got["active"]), (200, &json!(false)));
    let (st, got) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": true}]}),
        ),
    );
    assert_eq!(st, 200, "{got}");
    let step = |tok: &str, id: &str, name: &str, reason: &str| {
        let body = json!({ "reason": reason }).to_string();
        api(
            &s,
            Some(tok),
            "POST",
            &format!("/agents/{id}/{name}"),
            Some(&body),
            &[],
        )
    };
    let (_, _, v) = api(&s, Some(&ops), "GET", &format!("/agents/{id}"), None, &[]);
    assert_eq!(v["status"], "pending");
    // Enable is not approval.
    let (st, h, p) = step(&ops, &id, "enable", "go");
    assert_problem(st, &h, &p, 409);

    // Without four-eyes the creator may approve.
    let (st, _, v) = step(&ops, &id, "approve", "checked the contract");
    assert_eq!((st, v["status"].as_str()), (200, Some("active")), "{v}");
    let (st, h, p) = step(&lead, &id, "approve", "again");
    assert_problem(st, &h, &p, 409);

    // Reject: the pending agent is deleted, with its reason.
    let r = create(&s, &ops, json!({"userName": "rex"}));
    let rid = r["id"].as_str().expect("id").to_owned();
    let (st, _, _) = step(&lead, &rid, "reject", "unknown person");
    assert_eq!(st, 204);
    let (st, h, p) = api(&s, Some(&ops), "GET", &format!("/agents/{rid}"), None, &[]);
    assert_problem(st, &h, &p, 404);
    let mut conn = s.conn();
    let row = rollcall::accounts::agent_row(&mut conn, &rid)
        .expect("q")
        .expect("row");
    assert_eq!(row.status, "deleted");
    assert_eq!(row.disabled_reason.as_deref(), Some("unknown person"));
    let log = rollcall::audit::for_target(&mut conn, &id).expect("audit");
    let approve = log
        .iter()
        .find(|e| e.action == "agent.approve")
        .expect("approve entry");
    assert_eq!(approve.actor, "token:ops");
    assert_eq!(approve.reason.as_deref(), Some("checked the contract"));
    let log = rollcall::audit::for_target(&mut conn, &rid).expect("audit");
    let reject = log
        .iter()
        .find(|e| e.action == "agent.reject")
        .expect("reject entry");
    assert_eq!(
        (reject.actor.as_str(), reject.reason.as_deref()),
        ("token:lead", Some("unknown person"))
    );
    let events: Vec<(String, &str)> = rollcall::events::after(&mut conn, 0, 100)
        .expect("events")
        .iter()
        .map(|e| (e.agent_id.clone(), e.event.as_str()))
        .collect();
    assert!(
        events.contains(&(id.clone(), "agent.approved")),
        "{events:?}"
    );
    assert!(
        events.contains(&(rid.clone(), "agent.deleted")),
        "{events:?}"
    );
});

both!(four_eyes_keeps_creators_from_approving, |b| {
    let s = TestServer::start_with(b, |c| {
        c.accounts.approval.admin = Some(true);
        c.accounts.approval.four_eyes = true;
    });
    let ops = s.token_with("ops", "admin");
    let lead = s.token_with("lead", "admin");
    // The default (no approval) holds for SCIM.
    assert_eq!(s.create_user("sam")["active"], true);
    let v = create(&s, &ops, json!({"userName": "tia"}));
    assert_eq!(v["status"], "pending");
    let path = format!("/agents/{}/approve", v["id"].as_str().expect("id"));
    let body = json!({"reason": "ok"}).to_string();
    let (st, h, p) = api(&s, Some(&ops), "POST", &path, Some(&body), &[]);
    assert_problem(st, &h, &p, 403);
    assert_eq!(p["type"], "urn:rollcall:problem:four-eyes");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("token:ops")),
        "{p}"
    );
    let (st, _, v) = api(&s, Some(&lead), "POST", &path, Some(&body), &[]);
    assert_eq!((st, v["status"].as_str()), (200, Some("active")), "{v}");
});

both!(
    a_sync_source_can_require_approval_on_both_create_paths,
    |b| {
        let s = TestServer::start(b);
        let mut accounts = rollcall::accounts::Accounts::new("agent", 30);
        accounts.approval.doors.insert("ldap:hr".into(), true);
        let input = crate::harness::named;
        let now = rollcall::store::now();
        let mut conn = s.conn();
        // One by one (incremental runs) and in bulk (a first run).
        let one = accounts
            .create_agent(&mut conn, "sync:hr", "ldap:hr", input("hr1"), now)
            .expect("create");
        assert_eq!(one.status, rollcall::domain::Status::Pending);
        let out = accounts
            .create_agents(&mut conn, "sync:hr", "ldap:hr", vec![input("hr2")], now)
            .expect("bulk");
        assert!(out.iter().all(Option::is_none), "{out:?}");
        let other = accounts
            .create_agent(&mut conn, "sync:corp", "ldap:corp", input("corp1"), now)
            .expect("create");
        assert_eq!(other.status, rollcall::domain::Status::Active);
        drop(conn);
        let ops = s.token_with("ops", "admin");
        let (st, _, v) = api(
            &s,
            Some(&ops),
            "GET",
            &format!("/agents/{}", one.id),
            None,
            &[],
        );
        assert_eq!(
            (st, v["status"].as_str(), v["source"].as_str()),
            (200, Some("pending"), Some("ldap:hr"))
        );
        let (st, v) = s.scim(
            "GET",
            &format!("/Users?filter={}", crate::harness::q("userName eq \"hr2\"")),
            None,
        );
        assert_eq!(st, 200);
        assert_eq!(v["Resources"][0]["active"], false, "{v}");
        let body = json!({"reason": "HR confirmed"}).to_string();
        let (st, _, v) = api(
            &s,
            Some(&ops),
            "POST",
            &format!("/agents/{}/approve", one.id),
            Some(&body),
            &[],
        );
        assert_eq!((st, v["status"].as_str()), (200, Some("active")), "{v}");
    }
);
