//! The store on its own: the audit chain, append-only protection, the purge.

use chrono::{Duration, Utc};
use diesel::RunQueryDsl;

use crate::both;
use crate::harness::TestServer;

both!(audit_chain_verifies_and_log_is_append_only, |b| {
    let s = TestServer::start(b);
    for i in 0..5 {
        s.create_user(&format!("au{i}"));
    }
    let mut conn = s.conn();
    match rollcall::audit::verify(&mut conn).expect("verify") {
        rollcall::audit::Verdict::Intact { entries } => assert_eq!(entries, 5),
        other => panic!("expected intact chain, got {other:?}"),
    }
    let tamper = diesel::sql_query("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
        .execute(&mut *conn);
    assert!(tamper.is_err(), "audit_log must refuse updates");
    let delete = diesel::sql_query("DELETE FROM audit_log").execute(&mut *conn);
    assert!(delete.is_err(), "audit_log must refuse deletes");
});

both!(tampering_is_detected, |b| {
    let s = TestServer::start(b);
    for i in 0..3 {
        s.create_user(&format!("tp{i}"));
    }
    let mut conn = s.conn();
    let drop_guard = match b {
        crate::harness::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        crate::harness::Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
    };
    diesel::sql_query(drop_guard)
        .execute(&mut *conn)
        .expect("drop guard");
    diesel::sql_query("UPDATE audit_log SET actor = 'someone-else' WHERE id = (SELECT MIN(id) + 1 FROM audit_log)")
        .execute(&mut *conn)
        .expect("tamper");
    match rollcall::audit::verify(&mut conn).expect("verify") {
        rollcall::audit::Verdict::Broken { .. } => {}
        other => panic!("tampering not detected: {other:?}"),
    }
});

both!(deleted_agents_are_purged_after_grace, |b| {
    let s = TestServer::start(b);
    let u = s.create_user("gone");
    let id = u["id"].as_str().expect("id").to_owned();
    s.scim("DELETE", &format!("/Users/{id}"), None);
    let accounts = rollcall::accounts::Accounts::new("agent", 30);
    let mut conn = s.conn();
    let now = Utc::now().naive_utc();
    assert_eq!(
        accounts.purge(&mut conn, now).expect("purge"),
        0,
        "inside the grace period"
    );
    assert_eq!(
        accounts
            .purge(&mut conn, now + Duration::days(31))
            .expect("purge"),
        1
    );
    assert!(
        rollcall::accounts::agent_row(&mut conn, &id)
            .expect("q")
            .is_none()
    );
    let log = rollcall::audit::recent(&mut conn, 1).expect("audit");
    assert_eq!(log[0].action, "agent.purge");
    assert_eq!(log[0].actor, "system");
});

both!(events_are_the_agent_entries_of_the_audit_log, |b| {
    use rollcall::events::{Event, after};
    let s = TestServer::start(b);
    let u = s.create_user("ev");
    let id = u["id"].as_str().expect("id").to_owned();
    let patch = |ops: serde_json::Value| {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": ops,
        });
        let (status, v) = s.scim("PATCH", &format!("/Users/{id}"), Some(body));
        assert_eq!(status, 200, "{v}");
    };
    patch(serde_json::json!([{"op": "replace", "path": "title", "value": "Lead"}]));
    patch(serde_json::json!([{"op": "replace", "path": "active", "value": false}]));
    patch(serde_json::json!([{"op": "replace", "path": "active", "value": true}]));
    s.scim("DELETE", &format!("/Users/{id}"), None);
    s.create_user("other");
    let mut conn = s.conn();
    let events = after(&mut conn, 0, 100).expect("events");
    let kinds: Vec<Event> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            Event::Created,
            Event::Updated,
            Event::Disabled,
            Event::Enabled,
            Event::Deleted,
            Event::Created
        ]
    );
    assert!(events[..5].iter().all(|e| e.agent_id == id));
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    // Each payload is what the audit log recorded for the change.
    let log = rollcall::audit::for_target(&mut conn, &id).expect("audit");
    for (e, entry) in events[..5].iter().zip(&log) {
        assert_eq!(e.id, entry.id);
        assert_eq!(e.payload, entry.after);
    }
    let title: serde_json::Value =
        serde_json::from_str(events[1].payload.as_deref().expect("payload")).expect("json");
    assert_eq!(title["title"], "Lead");
    // A deliverer reads on from its cursor.
    let rest = after(&mut conn, events[3].id, 100).expect("events");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].event, Event::Deleted);
    assert_eq!(after(&mut conn, events[5].id, 100).expect("events"), []);
    assert_eq!(after(&mut conn, 0, 2).expect("events").len(), 2);
});

// Bulk creates (a directory's first run): rows with only the usual columns and rows with
// others set take different statements; a taken user name is reported and leaves the rest
// in; every created agent has its audit entry, and the chain verifies.
both!(bulk_creates_write_both_row_shapes_and_report_clashes, |b| {
    use rollcall::accounts::{AccountError, Accounts, AgentInput};
    use rollcall::domain::{AgentProfile, MultiValue, Status};
    let s = TestServer::start(b);
    s.create_user("taken");
    let accounts = Accounts::new("agent", 30);
    let input = |name: &str| AgentInput {
        profile: AgentProfile {
            user_name: name.to_owned(),
            emails: vec![MultiValue {
                value: format!("{name}@example.com"),
                kind: Some("work".into()),
                primary: true,
                display: None,
            }],
            ..AgentProfile::default()
        },
        source_key: Some(format!("key-{name}")),
        ..AgentInput::default()
    };
    let mut blocked = input("blocked");
    blocked.login_blocked = Some(true);
    blocked.active = Some(false);
    let mut chats = input("chats");
    chats.profile.max_concurrent_chats = Some(7);
    let inputs = vec![
        input("plain"),
        blocked,
        input("TAKEN"),
        chats,
        input("plain"),
    ];
    let mut conn = s.conn();
    let now = rollcall::store::now();
    let outcome = accounts
        .create_agents(&mut conn, "test", "ldap:bulk", inputs, now)
        .expect("create_agents");
    let verdicts: Vec<&str> = outcome
        .iter()
        .map(|o| match o {
            None => "created",
            Some(AccountError::Conflict(_)) => "conflict",
            Some(_) => "other",
        })
        .collect();
    assert_eq!(
        verdicts,
        ["created", "created", "conflict", "created", "conflict"]
    );
    let agents = rollcall::store::agents::by_source(
        &mut conn,
        rollcall::store::agents::SourceFilter::Is("ldap:bulk"),
    )
    .expect("by_source");
    // (user name, status, login blocked, chat limit, emails, source key)
    type Seen = (String, Status, bool, Option<i32>, usize, Option<String>);
    let mut got: Vec<Seen> = agents
        .into_iter()
        .map(|(a, key)| {
            (
                a.profile.user_name,
                a.status,
                a.login_blocked,
                a.profile.max_concurrent_chats,
                a.profile.emails.len(),
                key,
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (
                "blocked".into(),
                Status::Suspended,
                true,
                None,
                1,
                Some("key-blocked".into())
            ),
            (
                "chats".into(),
                Status::Active,
                false,
                Some(7),
                1,
                Some("key-chats".into())
            ),
            (
                "plain".into(),
                Status::Active,
                false,
                None,
                1,
                Some("key-plain".into())
            ),
        ]
    );
    match rollcall::audit::verify(&mut conn).expect("verify") {
        // One entry for "taken", three for the bulk creates.
        rollcall::audit::Verdict::Intact { entries } => assert_eq!(entries, 4),
        other => panic!("expected intact chain, got {other:?}"),
    }
});

// A first run's creates in bulk: runs of plain rows go in through multi-row statements of
// a fixed size (`store::multi_insert::ROWS`, 64: here two of them, then the rest of that run
// and the rows after the two that set a chat limit one by one; the value rows and audit
// entries also fill more than one statement). Clashes inside a multi-row statement (a live agent's
// name, and two rows of one batch that differ only in case) are told apart from the rows
// written, in order, and every written agent has its values and audit entry.
both!(
    bulk_creates_through_multi_row_statements_keep_order_and_clashes,
    |b| {
        use rollcall::accounts::{AccountError, Accounts, AgentInput};
        use rollcall::domain::{AgentProfile, MultiValue};
        let s = TestServer::start(b);
        s.create_user("taken");
        let accounts = Accounts::new("agent", 30);
        let email = |name: &str, kind: &str, primary: bool| MultiValue {
            value: format!("{name}@{kind}.example.com"),
            kind: Some(kind.into()),
            primary,
            display: None,
        };
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for i in 0..200usize {
            let name = match i {
                5 => "TAKEN".to_owned(),
                20 => "User-003".to_owned(),
                _ => format!("user-{i:03}"),
            };
            let mut emails = vec![email(&name, "work", true)];
            if i.is_multiple_of(3) {
                emails.push(email(&name, "home", false));
            }
            let mut input = AgentInput {
                profile: AgentProfile {
                    user_name: name.clone(),
                    emails,
                    ..AgentProfile::default()
                },
                source_key: Some(format!("key-{i}")),
                ..AgentInput::default()
            };
            if i == 140 || i == 141 {
                input.profile.max_concurrent_chats = Some(3);
            }
            inputs.push(input);
            expected.push(!matches!(i, 5 | 20));
        }
        let mut conn = s.conn();
        let now = rollcall::store::now();
        let outcome = accounts
            .create_agents(&mut conn, "test", "ldap:bulk", inputs, now)
            .expect("create_agents");
        let verdicts: Vec<bool> = outcome
            .iter()
            .map(|o| match o {
                None => true,
                Some(AccountError::Conflict(_)) => false,
                Some(other) => panic!("unexpected outcome {other:?}"),
            })
            .collect();
        assert_eq!(verdicts, expected);
        let agents = rollcall::store::agents::by_source(
            &mut conn,
            rollcall::store::agents::SourceFilter::Is("ldap:bulk"),
        )
        .expect("by_source");
        assert_eq!(agents.len(), 198);
        for (agent, key) in &agents {
            let i: usize = key.as_deref().expect("key")[4..].parse().expect("index");
            assert_eq!(agent.profile.user_name, format!("user-{i:03}"));
            let kinds: Vec<&str> = agent
                .profile
                .emails
                .iter()
                .map(|e| e.kind.as_deref().unwrap_or(""))
                .collect();
            let want: &[&str] = if i.is_multiple_of(3) {
                &["work", "home"]
            } else {
                &["work"]
            };
            assert_eq!(kinds, want, "emails of {}", agent.profile.user_name);
            let chats = if i == 140 || i == 141 { Some(3) } else { None };
            assert_eq!(agent.profile.max_concurrent_chats, chats);
            let log = rollcall::audit::for_target(&mut conn, &agent.id).expect("audit");
            assert_eq!(log.len(), 1, "audit entries of {}", agent.profile.user_name);
            assert_eq!(log[0].action, "agent.create");
        }
        match rollcall::audit::verify(&mut conn).expect("verify") {
            rollcall::audit::Verdict::Intact { entries } => assert_eq!(entries, 199),
            other => panic!("expected intact chain, got {other:?}"),
        }
    }
);

/// `PRAGMA page_size` of the database behind `conn`.
fn page_size(conn: &mut rollcall::store::DbConn) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT page_size FROM pragma_page_size())",
    ))
    .get_result(conn)
    .expect("page size")
}

#[test]
fn new_sqlite_files_get_8_kib_pages_and_existing_ones_keep_theirs() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    use rollcall::store::{self, Target};

    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = dir.path().join("fresh.db");
    let mut conn =
        store::connect(&Target::parse(&format!("sqlite://{}", fresh.display())).expect("url"))
            .expect("connect");
    store::migrate(&mut conn).expect("migrate");
    assert_eq!(page_size(&mut conn), 8192);

    // A file an earlier Rollcall made with SQLite's default pages, holding an agent.
    let old = dir.path().join("old.db");
    {
        let mut c =
            diesel::sqlite::SqliteConnection::establish(old.to_str().expect("path")).expect("open");
        c.batch_execute("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('still here');")
            .expect("old file");
    }
    let mut conn =
        store::connect(&Target::parse(&format!("sqlite://{}", old.display())).expect("url"))
            .expect("connect");
    assert_eq!(page_size(&mut conn), 4096);
    store::migrate(&mut conn).expect("migrate the old file");
    let kept: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "(SELECT x FROM kept)",
    ))
    .get_result(&mut conn)
    .expect("kept row");
    assert_eq!(kept, "still here");
    assert_eq!(page_size(&mut conn), 4096);
}
