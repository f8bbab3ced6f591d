//! SCIM groups that give a role (`[[scim.group_roles]]`), over real SCIM HTTP on both
//! backends: joining and leaving through Group POST, PATCH, PUT and DELETE, precedence by
//! rule order, names compared folded, renames, and the audit entries.

use serde_json::{Value, json};

use rollcall::config::GroupRoleConfig;

use crate::both;
use crate::harness::TestServer;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn start(b: crate::harness::Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.scim.group_roles = vec![
            GroupRoleConfig {
                group: "QA Team".into(),
                role: "qa_inspector".into(),
            },
            GroupRoleConfig {
                // Compared folded: the IdP's "SUPPORT LEADS" is this group.
                group: "support leads".into(),
                role: "team_lead".into(),
            },
        ];
    })
}

fn role_of(s: &TestServer, id: &str) -> String {
    let mut conn = s.conn();
    rollcall::accounts::agent_row(&mut conn, id)
        .expect("row")
        .expect("agent")
        .role
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn patch(s: &TestServer, group: &str, ops: Value) {
    let (st, body) = s.scim(
        "PATCH",
        &format!("/Groups/{group}"),
        Some(json!({"schemas": [PATCH], "Operations": ops})),
    );
    assert!(st == 200 || st == 204, "PATCH: {st} {body}");
}

both!(joining_and_leaving_a_mapped_group_moves_the_role, |b| {
    let s = start(b);
    let ann = id(&s.create_user("ann"));
    let bob = id(&s.create_user("bob"));
    let cat = id(&s.create_user("cat"));
    assert_eq!(role_of(&s, &ann), "agent");

    // POST: members of a new mapped group get its role; the name matches folded.
    let leads = id(&s.create_group("SUPPORT LEADS", &[&ann]));
    assert_eq!(role_of(&s, &ann), "team_lead");
    // PATCH add.
    patch(
        &s,
        &leads,
        json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]),
    );
    assert_eq!(role_of(&s, &bob), "team_lead");
    // In two mapped groups: the first rule in the configuration wins.
    let qa = id(&s.create_group("QA Team", &[&bob]));
    assert_eq!(role_of(&s, &bob), "qa_inspector");
    // PATCH remove: ann leaves the last mapped group and gets the default role.
    patch(
        &s,
        &leads,
        json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
    );
    assert_eq!(role_of(&s, &ann), "agent");
    // DELETE of the QA group: bob falls back to the next rule that holds him.
    let (st, _) = s.scim("DELETE", &format!("/Groups/{qa}"), None);
    assert_eq!(st, 204);
    assert_eq!(role_of(&s, &bob), "team_lead");
    // PUT replacing the members: bob out, cat in.
    let (st, body) = s.scim(
        "PUT",
        &format!("/Groups/{leads}"),
        Some(json!({"schemas": [GROUP], "displayName": "SUPPORT LEADS", "members": [{"value": cat}]})),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(role_of(&s, &bob), "agent");
    assert_eq!(role_of(&s, &cat), "team_lead");
    // A rename out of the mapped name: its members leave the rule.
    patch(
        &s,
        &leads,
        json!([{"op": "replace", "path": "displayName", "value": "Former leads"}]),
    );
    assert_eq!(role_of(&s, &cat), "agent");

    // Each move is an audited agent update naming the group, with its permission event.
    let mut conn = s.conn();
    let entries = rollcall::audit::for_target(&mut conn, &bob).expect("audit");
    let updates: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "agent.update")
        .collect();
    assert_eq!(updates.len(), 4, "{entries:?}");
    assert!(
        updates[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("\"support leads\""),
        "{:?}",
        updates[0].reason
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "agent.permissions_change"),
        "{entries:?}"
    );
});

both!(unmapped_groups_leave_roles_alone, |b| {
    let s = start(b);
    let dan = id(&s.create_user("dan"));
    // A role set explicitly stays while the agent is in no mapped group.
    {
        let mut conn = s.conn();
        let a = rollcall::accounts::Accounts::new("agent", 30);
        a.set_agent_role(
            &mut conn,
            "t",
            &dan,
            "senior_agent",
            None,
            false,
            None,
            rollcall::store::now(),
        )
        .expect("set role");
    }
    let other = id(&s.create_group("Night owls", &[&dan]));
    patch(&s, &other, json!([{"op": "remove", "path": "members"}]));
    let (st, _) = s.scim("DELETE", &format!("/Groups/{other}"), None);
    assert_eq!(st, 204);
    assert_eq!(role_of(&s, &dan), "senior_agent");
});
