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
