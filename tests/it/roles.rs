//! Roles and permissions through the gateway on both backends: role writes and their rules,
//! the impact of a permission change and its events, per-agent overrides and effective
//! permissions, an agent's role change, and built-in roles following the configuration.

use rollcall::accounts::{AccountError, Accounts, NewRole, RolePatch};
use rollcall::config::Config;
use rollcall::domain::permissions::{Overrides, Provenance};
use rollcall::events::{self, Event};
use rollcall::store::{self, DbConn};

use crate::both;
use crate::harness::{TestDb, TestServer};

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn accounts(s: &TestServer) -> Accounts {
    let _ = s;
    Accounts::from_config(&Config::default())
}

fn actions(conn: &mut DbConn, target: &str) -> Vec<String> {
    rollcall::audit::for_target(conn, target)
        .expect("audit")
        .into_iter()
        .map(|r| r.action)
        .collect()
}

fn new_role(name: &str, perms: &[&str]) -> NewRole {
    NewRole {
        name: name.into(),
        description: format!("{name} role"),
        permissions: keys(perms),
        default_max_concurrent_chats: Some(3),
        default_channels: keys(&["web"]),
    }
}

both!(role_writes_follow_the_rules_and_are_audited, |b| {
    let s = TestServer::start(b);
    let a = accounts(&s);
    let mut conn = s.conn();
    let now = store::now();
    let invalid = |r: Result<_, AccountError>| match r {
        Err(AccountError::InvalidField { message, .. }) => message,
        other => panic!("expected invalid, got {other:?}"),
    };
    let m = invalid(a.create_role(&mut conn, "t", new_role("Night Shift", &[]), now));
    assert!(m.contains("lower-case letters"), "{m}");
    let m = invalid(a.create_role(
        &mut conn,
        "t",
        new_role("night", &["chat.reply", "chat.fly", "moon.walk"]),
        now,
    ));
    assert!(m.contains("\"chat.fly\", \"moon.walk\""), "{m}");
    let mut bad_channel = new_role("night", &["chat.reply"]);
    bad_channel.default_channels = keys(&["web", "pigeon"]);
    let m = invalid(a.create_role(&mut conn, "t", bad_channel, now));
    assert!(m.contains("\"pigeon\""), "{m}");

    let night = a
        .create_role(
            &mut conn,
            "t",
            new_role("night", &["customer.view", "chat.reply"]),
            now,
        )
        .expect("create");
    // Stored in catalog order.
    assert_eq!(night.permissions, keys(&["chat.reply", "customer.view"]));
    assert!(matches!(
        a.create_role(&mut conn, "t", new_role("night", &[]), now),
        Err(AccountError::Conflict(_))
    ));
    let lead = a
        .clone_role(&mut conn, "t", "team_lead", "lead-2", None, now)
        .expect("clone a built-in");
    assert!(!lead.builtin);
    assert!(lead.permissions.contains(&"reports.view_team".to_owned()));
    assert!(matches!(
        a.clone_role(&mut conn, "t", "nobody", "x", None, now),
        Err(AccountError::NotFound(_))
    ));
    // Built-ins are read-only.
    for r in [
        a.update_role(&mut conn, "t", "agent", RolePatch::default(), false, now)
            .map(drop),
        a.delete_role(&mut conn, "t", "admin", now),
    ] {
        match r {
            Err(AccountError::Conflict(m)) => assert!(m.contains("read-only"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }
    // A held role cannot be deleted; the message says by how many.
    let holders = Accounts::new("night", 30);
    rollcall::store::seed::seed_agents(&mut conn, &holders, 2, false).expect("seed");
    match a.delete_role(&mut conn, "t", "night", now) {
        Err(AccountError::Conflict(m)) => assert!(m.contains("held by 2 agents"), "{m}"),
        other => panic!("expected conflict, got {other:?}"),
    }
    a.delete_role(&mut conn, "t", "lead-2", now)
        .expect("delete");
    assert!(
        store::roles::get(&mut conn, "lead-2")
            .expect("get")
            .is_none()
    );
    assert_eq!(actions(&mut conn, "lead-2"), ["role.create", "role.delete"]);
    assert_eq!(actions(&mut conn, "night"), ["role.create"]);
});

both!(
    a_permission_change_says_who_gains_and_loses_and_emits_events,
    |b| {
        let s = TestServer::start(b);
        let a = accounts(&s);
        let mut conn = s.conn();
        let now = store::now();
        a.create_role(
            &mut conn,
            "t",
            new_role("shift", &["chat.reply", "customer.view"]),
            now,
        )
        .expect("create");
        rollcall::store::seed::seed_agents(&mut conn, &Accounts::new("shift", 30), 5, false)
            .expect("seed");
        let ids: Vec<String> = (1..=5)
            .map(|n| {
                store::agents::id_by_user_name(&mut conn, &format!("user{n:06}"))
                    .expect("lookup")
                    .expect("seeded")
            })
            .collect();
        // One agent already has export granted, one has it denied.
        let grant = Overrides {
            grant: keys(&["customer.export"]),
            deny: vec![],
        };
        let deny = Overrides {
            grant: vec![],
            deny: keys(&["customer.export"]),
        };
        a.set_permission_overrides(&mut conn, "t", &ids[0], grant, None, false, now)
            .expect("grant");
        a.set_permission_overrides(&mut conn, "t", &ids[1], deny, None, false, now)
            .expect("deny");
        let before = events::after(&mut conn, 0, 10_000).expect("events").len();

        let patch = RolePatch {
            permissions: Some(keys(&["chat.reply", "customer.export"])),
            ..RolePatch::default()
        };
        let dry = a
            .update_role(&mut conn, "t", "shift", patch.clone(), true, now)
            .expect("dry run");
        let i = &dry.impact;
        assert_eq!((i.holders, i.affected), (5, 5));
        assert_eq!(i.without_overrides.agents, 3);
        assert_eq!(i.without_overrides.gained, keys(&["customer.export"]));
        assert_eq!(i.without_overrides.lost, keys(&["customer.view"]));
        let of = |id: &str| i.with_overrides.iter().find(|x| x.id == id).cloned();
        let granted = of(&ids[0]).expect("granted agent");
        assert_eq!(
            (granted.gained.len(), granted.lost),
            (0, keys(&["customer.view"]))
        );
        let denied = of(&ids[1]).expect("denied agent");
        assert_eq!(
            (denied.gained.len(), denied.lost),
            (0, keys(&["customer.view"]))
        );
        // Nothing was saved.
        let stored = store::roles::get(&mut conn, "shift")
            .expect("get")
            .expect("role");
        assert_eq!(stored.permissions, keys(&["chat.reply", "customer.view"]));
        assert_eq!(
            events::after(&mut conn, 0, 10_000).expect("events").len(),
            before
        );

        let done = a
            .update_role(&mut conn, "t", "shift", patch, false, now)
            .expect("apply");
        assert_eq!(done.impact, dry.impact);
        let new: Vec<_> = events::after(&mut conn, 0, 10_000)
            .expect("events")
            .into_iter()
            .skip(before)
            .collect();
        assert_eq!(new.len(), 6, "{new:?}");
        assert_eq!(
            (new[0].event, new[0].agent_id.as_str()),
            (Event::RoleUpdated, "shift")
        );
        let changed: Vec<&str> = new[1..]
            .iter()
            .filter(|e| e.event == Event::PermissionsChanged)
            .map(|e| e.agent_id.as_str())
            .collect();
        assert_eq!(changed.len(), 5);
        for id in &ids {
            assert!(changed.contains(&id.as_str()), "{id} has its event");
        }
        let plain = new
            .iter()
            .find(|e| e.agent_id == ids[4])
            .and_then(|e| e.payload.clone())
            .expect("payload");
        let v: serde_json::Value = serde_json::from_str(&plain).expect("json");
        assert_eq!(v["gained"], serde_json::json!(["customer.export"]));
        assert_eq!(v["lost"], serde_json::json!(["customer.view"]));
        // The same change again changes nothing and writes nothing.
        let again = RolePatch {
            permissions: Some(keys(&["customer.export", "chat.reply"])),
            ..RolePatch::default()
        };
        let n = events::after(&mut conn, 0, 10_000).expect("events").len();
        a.update_role(&mut conn, "t", "shift", again, false, now)
            .expect("no-op");
        assert_eq!(
            events::after(&mut conn, 0, 10_000).expect("events").len(),
            n
        );
        assert!(matches!(
            rollcall::audit::verify(&mut conn).expect("verify"),
            rollcall::audit::Verdict::Intact { .. }
        ));
    }
);

both!(overrides_and_effective_permissions_with_their_source, |b| {
    let s = TestServer::start(b);
    let a = accounts(&s);
    let user = s.create_user("explain.me");
    let id = user["id"].as_str().expect("id").to_owned();
    let mut conn = s.conn();
    let now = store::now();
    let o = Overrides {
        grant: keys(&["customer.export"]),
        deny: keys(&["chat.transfer"]),
    };
    let (dry, impact) = a
        .set_permission_overrides(&mut conn, "t", &id, o.clone(), None, true, now)
        .expect("dry run");
    assert_eq!(impact.gained, keys(&["customer.export"]));
    assert_eq!(impact.lost, keys(&["chat.transfer"]));
    assert_eq!(dry.overrides, o);
    let stored = a.agent_permissions(&mut conn, &id).expect("read");
    assert!(stored.overrides.is_empty(), "a dry run saves nothing");

    let (p, _) = a
        .set_permission_overrides(&mut conn, "t", &id, o, Some(stored.version), false, now)
        .expect("set");
    let line = |k: &str| p.permissions.iter().find(|e| e.key == k).cloned();
    let export = line("customer.export").expect("granted");
    assert_eq!((export.granted, export.source), (true, Provenance::Grant));
    let transfer = line("chat.transfer").expect("denied");
    assert_eq!(
        (transfer.granted, transfer.source, transfer.in_role),
        (false, Provenance::Deny, true)
    );
    let reply = line("chat.reply").expect("from the role");
    assert_eq!(reply.source, Provenance::Role);
    assert_eq!(
        actions(&mut conn, &id),
        ["agent.create", "agent.update", "agent.permissions_change"]
    );
    // The version moved: an old one is refused.
    assert!(matches!(
        a.set_permission_overrides(
            &mut conn,
            "t",
            &id,
            Overrides::default(),
            Some(stored.version),
            false,
            now
        ),
        Err(AccountError::VersionMismatch { .. })
    ));
    let unknown = Overrides {
        grant: keys(&["customer.export", "warp.drive"]),
        deny: vec![],
    };
    match a.set_permission_overrides(&mut conn, "t", &id, unknown, None, false, now) {
        Err(AccountError::Invalid(m)) => assert!(m.contains("\"warp.drive\""), "{m}"),
        other => panic!("expected invalid, got {other:?}"),
    }
    assert!(matches!(
        a.agent_permissions(&mut conn, "no-such-agent"),
        Err(AccountError::NotFound(_))
    ));
});

both!(
    changing_an_agents_role_previews_and_records_the_change,
    |b| {
        let s = TestServer::start(b);
        let a = accounts(&s);
        let user = s.create_user("mover");
        let id = user["id"].as_str().expect("id").to_owned();
        let mut conn = s.conn();
        let now = store::now();
        let preview = a
            .set_agent_role(&mut conn, "t", &id, "qa_inspector", None, true, None, now)
            .expect("preview");
        assert!(preview.gained.contains(&"qa.review".to_owned()));
        assert!(preview.lost.contains(&"chat.reply".to_owned()));
        assert_eq!(actions(&mut conn, &id), ["agent.create"]);
        let done = a
            .set_agent_role(
                &mut conn,
                "t",
                &id,
                "qa_inspector",
                None,
                false,
                Some("moved to QA"),
                now,
            )
            .expect("move");
        assert_eq!(done, preview);
        assert_eq!(
            actions(&mut conn, &id),
            ["agent.create", "agent.update", "agent.permissions_change"]
        );
        let row = rollcall::accounts::agent_row(&mut conn, &id)
            .expect("row")
            .expect("agent");
        assert_eq!(row.role, "qa_inspector");
        assert!(matches!(
            a.set_agent_role(&mut conn, "t", &id, "nobody", None, false, None, now),
            Err(AccountError::InvalidField { .. })
        ));
    }
);

both!(built_in_roles_follow_the_configuration_at_start_up, |b| {
    let db = TestDb::new(b);
    let config = db.config();
    let pool = rollcall::server::open_store(&config).expect("open");
    let lead_holder = {
        let mut conn = pool.get().expect("conn");
        rollcall::store::seed::seed_agents(&mut conn, &Accounts::new("team_lead", 30), 1, false)
            .expect("seed");
        store::agents::id_by_user_name(&mut conn, "user000001")
            .expect("lookup")
            .expect("seeded")
    };
    let text = format!(
        "[database]\nurl = {:?}\n[[permissions]]\nkey = \"softphone.use\"\ndescription = \"Use the softphone\"\nroles = [\"team_lead\", \"admin\"]\n",
        db.url
    );
    let with_phone = Config::from_parts(&text, Vec::<(String, String)>::new()).expect("config");
    rollcall::server::open_store(&with_phone).expect("reopen");
    let mut conn = pool.get().expect("conn");
    let lead = store::roles::get(&mut conn, "team_lead")
        .expect("get")
        .expect("role");
    assert!(lead.permissions.contains(&"softphone.use".to_owned()));
    let agent = store::roles::get(&mut conn, "agent")
        .expect("get")
        .expect("role");
    assert!(!agent.permissions.contains(&"softphone.use".to_owned()));
    assert_eq!(actions(&mut conn, "team_lead"), ["role.update"]);
    assert_eq!(actions(&mut conn, "admin"), ["role.update"]);
    let holder = actions(&mut conn, &lead_holder);
    assert_eq!(
        holder.last().map(String::as_str),
        Some("agent.permissions_change")
    );
    // Opening again with the same configuration changes nothing.
    rollcall::server::open_store(&with_phone).expect("reopen");
    assert_eq!(actions(&mut conn, "team_lead"), ["role.update"]);
    // A key clashing with Rollcall's own is a configuration error.
    let clash = text.replace("softphone.use", "chat.reply");
    let e = Config::from_parts(&clash, Vec::<(String, String)>::new()).expect_err("clash");
    assert!(e.to_string().contains("Rollcall's own"), "{e}");
    // A group rule naming a role that does not exist stops the start.
    let mut bad = with_phone.clone();
    bad.scim.group_roles = vec![rollcall::config::GroupRoleConfig {
        group: "Leads".into(),
        role: "nobody".into(),
    }];
    let e = rollcall::server::open_store(&bad).expect_err("unknown role");
    assert!(
        e.to_string().contains("role \"nobody\" does not exist"),
        "{e}"
    );
});
