//! Incremental sync against a real slapd: RFC 4533 content sync (present and delete phases,
//! the cookie saved only after an applied run), a group change turning an incremental run
//! into a full one, Active Directory's uSNChanged with the domain controller's
//! invocationId, and `watch = true` (refreshAndPersist) applying changes as they happen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rollcall::domain::Status;
use rollcall::store::schema::sync_runs;
use rollcall::sync::RunStatus;

use crate::both;
use crate::harness::TestDb;
use crate::slapd::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd};
use crate::sync_ldap::{Env, ORG, directory, env};

const INCREMENTAL: &str =
    "full_schedule = \"0 0 3 * * *\"\n[sources.guard]\nmax_disable_percent = 40";

impl Env {
    fn position(&self) -> rollcall::sources::Position {
        let mut conn = self.pool.get().expect("conn");
        rollcall::sync::position(&mut conn, &self.config.sources[0].name).expect("position")
    }

    fn mode_and_trigger(&self, run: i64) -> (String, String) {
        let mut conn = self.pool.get().expect("conn");
        sync_runs::table
            .filter(sync_runs::id.eq(run))
            .select((sync_runs::mode, sync_runs::trigger))
            .first(&mut conn)
            .expect("run")
    }
}

fn dn(uid: &str) -> String {
    format!("uid={uid},ou=people,{BASE_DN}")
}

both!(content_sync_sees_changes_and_removals, |b| {
    let slapd = directory(&["ana", "bob", "cy", "dee"]);
    let env = env(b, &slapd, INCREMENTAL);
    // No cookie yet: the first content sync reads everyone and is recorded as a full run.
    let first = env.run_mode(false, false, true);
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    assert_eq!(first.method, "syncrepl");
    assert_eq!(first.note.as_deref(), Some("no sync cookie yet"));
    assert_eq!(first.plan.count("create"), 4);
    assert_eq!(env.mode_and_trigger(first.run_id).0, "full");
    let cookie1 = env.position().cookie.expect("a cookie is saved");
    let ana = env.agent("ana");

    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Senior Agent\n\n\
         dn: {}\nchangetype: delete\n",
        dn("bob"),
        dn("cy")
    ));
    let inc = env.run_mode(false, false, true);
    assert_eq!(inc.status, RunStatus::Ok, "{inc:?}");
    assert_eq!((inc.method, inc.note.as_deref()), ("syncrepl", None));
    assert_eq!(env.mode_and_trigger(inc.run_id).0, "incremental");
    assert_eq!(inc.plan.records, 1, "only bob changed: {:?}", inc.plan);
    assert_eq!(inc.plan.count("update"), 1);
    // The deletion is seen without a full read.
    assert_eq!(inc.plan.count("disable"), 1, "{:?}", inc.plan.changes);
    let bob = env.agent("bob");
    assert_eq!(bob.profile.title.as_deref(), Some("Senior Agent"));
    // Bob's manager was not among the changed entries; he keeps pointing at her.
    assert_eq!(bob.profile.manager_id.as_deref(), Some(ana.id.as_str()));
    let cy = env.agent("cy");
    assert_eq!(cy.status, Status::Suspended);
    assert_eq!(
        env.audit(&cy).last().and_then(|e| e.2.clone()).as_deref(),
        Some("ldap:corp: removed from the directory")
    );
    let cookie2 = env.position().cookie.expect("cookie");
    assert_ne!(cookie1, cookie2, "the cookie moves after an applied run");

    // Nothing changed: an empty plan.
    let idle = env.run_mode(false, false, true);
    assert_eq!(idle.plan.records, 0);
    assert!(idle.plan.changes.is_empty(), "{:?}", idle.plan.changes);
    let cookie3 = env.position().cookie.expect("cookie");

    // Two of the four leave at once: over the 40 % guard. The run is refused, the cookie
    // stays, and the next run sees the same removals again.
    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: delete\n\ndn: {}\nchangetype: delete\n",
        dn("ana"),
        dn("bob")
    ));
    let refused = env.run_mode(false, false, true);
    assert_eq!(refused.status, RunStatus::Refused, "{refused:?}");
    assert_eq!(env.position().cookie.as_ref(), Some(&cookie3));
    let again = env.run_mode(false, false, true);
    assert_eq!(again.status, RunStatus::Refused);
    assert_eq!(again.plan.count("disable"), 2);
    assert_eq!(env.agent("ana").status, Status::Active);
    let forced = env.run_mode(false, true, true);
    assert_eq!(forced.status, RunStatus::Ok, "{forced:?}");
    assert_eq!(env.agent("ana").status, Status::Suspended);
    assert_ne!(env.position().cookie.as_ref(), Some(&cookie3));
});

both!(content_sync_with_a_session_log_lists_deletions, |b| {
    let slapd = directory(&["ana", "bob", "cy", "dee"]);
    // With a session log covering the cookie, syncprov answers with the deleted entries (a
    // delete phase) instead of listing everyone still present. The log must have started
    // before the cookie was handed out: a first deletion starts it.
    slapd.modify_config(
        "dn: olcOverlay={1}syncprov,olcDatabase={1}mdb,cn=config\nchangetype: modify\n\
         add: olcSpSessionlog\nolcSpSessionlog: 100\n",
    );
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", dn("dee")));
    let env = env(b, &slapd, INCREMENTAL.replace("40", "50").as_str());
    assert_eq!(env.run_mode(false, false, true).plan.count("create"), 3);
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", dn("cy")));
    let inc = env.run_mode(false, false, true);
    assert_eq!(inc.status, RunStatus::Ok, "{inc:?}");
    assert_eq!(inc.plan.records, 0);
    assert_eq!(inc.plan.count("disable"), 1, "{:?}", inc.plan.changes);
    assert_eq!(env.agent("cy").status, Status::Suspended);
    assert_eq!(env.agent("bob").status, Status::Active);
});

both!(a_group_change_makes_the_next_incremental_run_full, |b| {
    let slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, INCREMENTAL);
    env.run_mode(false, false, true);
    assert_eq!(env.agent("bob").role, "agent");
    // Bob joins the leads: only the group entry changes, not his.
    slapd.modify_ldif(&format!(
        "dn: cn=leads,ou=groups,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {}\n",
        dn("bob")
    ));
    let inc = env.run_mode(false, false, true);
    assert_eq!(inc.status, RunStatus::Ok, "{inc:?}");
    assert_eq!(inc.note.as_deref(), Some("group memberships changed"));
    assert_eq!(env.mode_and_trigger(inc.run_id).0, "full");
    let bob = env.agent("bob");
    assert_eq!(bob.role, "team_lead");
    // The move, then what it did to his permissions.
    let audit = env.audit(&bob);
    assert_eq!(
        audit.last().map(|e| e.1.as_str()),
        Some("agent.permissions_change")
    );
    assert!(
        audit
            .iter()
            .rev()
            .nth(1)
            .and_then(|e| e.2.clone())
            .is_some_and(|r| r.contains("moved to group leads")),
        "{:?}",
        env.audit(&bob)
    );
    // Back to reading changes only.
    let next = env.run_mode(false, false, true);
    assert_eq!((next.method, next.note.as_deref()), ("syncrepl", None));
    assert!(next.plan.changes.is_empty(), "{:?}", next.plan.changes);
});

both!(active_directory_incremental_runs_follow_usn_changed, |b| {
    let mut slapd = Slapd::start();
    slapd.add_ldif(ORG);
    slapd.add_ldif(include_str!("../fixtures/ldap/ad.ldif"));
    let ntds = format!("cn=NTDS Settings,ou=ad,{BASE_DN}");
    slapd.add_ldif(&format!(
        "dn: {ntds}\nobjectClass: organizationalRole\nobjectClass: nTDSDSA\ncn: NTDS Settings\n\
         invocationId: dc1-database-1\n"
    ));
    let root_dse = |usn: u32| format!("dn:\nhighestCommittedUSN: {usn}\ndsServiceName: {ntds}\n");
    slapd.set_root_dse(&root_dse(100));
    let db = TestDb::new(b);
    let text = format!(
        r#"
[database]
url = "{db}"
[[sources]]
name = "ad"
kind = "ldap"
schedule = "0 */5 * * * *"
full_schedule = "0 0 3 * * *"
[sources.ldap]
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=ad,{BASE_DN}"
flavour = "active_directory"
timeout_secs = 3
"#,
        db = db.url,
        url = slapd.url(),
    );
    let env = Env::from_toml(db, &text);
    let first = env.run_mode(false, false, true);
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    assert_eq!(first.note.as_deref(), Some("no previous USN"));
    let everyone = first.plan.records;
    assert!(everyone >= 3, "{:?}", first.plan);
    let usn = env.position().usn.expect("USN saved");
    assert_eq!(
        (usn.invocation_id.as_str(), usn.highest),
        ("dc1-database-1", 100)
    );

    // Ann changes; AD gives her entry a higher uSNChanged.
    slapd.modify_ldif(&format!(
        "dn: CN=Ann Active,OU=Users,ou=ad,{BASE_DN}\nchangetype: modify\nreplace: title\n\
         title: Team Lead\n-\nreplace: uSNChanged\nuSNChanged: 150\n"
    ));
    slapd.set_root_dse(&root_dse(150));
    let inc = env.run_mode(false, false, true);
    assert_eq!(inc.status, RunStatus::Ok, "{inc:?}");
    assert_eq!((inc.method, inc.note.as_deref()), ("usn", None));
    assert_eq!(inc.plan.records, 1, "only Ann: {:?}", inc.plan);
    assert_eq!(inc.plan.count("update"), 1);
    assert_eq!(env.mode_and_trigger(inc.run_id).0, "incremental");
    assert_eq!(env.position().usn.map(|u| u.highest), Some(150));

    let idle = env.run_mode(false, false, true);
    assert_eq!(idle.plan.records, 0, "{:?}", idle.plan);

    // Another domain controller (or a restored one): its USNs mean nothing here.
    slapd.modify_ldif(&format!(
        "dn: {ntds}\nchangetype: modify\nreplace: invocationId\ninvocationId: dc1-database-2\n"
    ));
    let moved = env.run_mode(false, false, true);
    assert_eq!(moved.status, RunStatus::Ok, "{moved:?}");
    assert!(
        moved
            .note
            .as_deref()
            .is_some_and(|n| n.contains("invocationId")),
        "{:?}",
        moved.note
    );
    assert_eq!(moved.plan.records, everyone);
    assert_eq!(env.mode_and_trigger(moved.run_id).0, "full");
    assert_eq!(
        env.position().usn.map(|u| u.invocation_id).as_deref(),
        Some("dc1-database-2")
    );
});

/// Waits until `done` holds, for at most 30 s (a deadline for a broken watch, not a
/// measurement: `scripts/bench-ldap` times the watch).
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    crate::harness::wait_until(what, Duration::from_secs(30), done);
}

both!(watch_applies_changes_as_they_happen, |b| {
    let mut slapd = directory(&["ana", "bob", "cy"]);
    let env = env(
        b,
        &slapd,
        "watch = true\n[sources.guard]\nmax_disable_percent = 50",
    );
    let watch_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let task = watch_rt.spawn(rollcall::sync::watch::run(
        env.pool.clone(),
        Arc::new(rollcall::accounts::Accounts::new("agent", 30)),
        Arc::new(env.config.clone()),
        env.config.sources[0].clone(),
        || async { true },
    ));
    // The refresh: no cookie yet, so everyone is created. The cookie comes with the end of
    // the refresh, after the agents are written: it is kept a moment later.
    wait_for("everyone created and the cookie kept", || {
        env.agents().len() == 3 && env.position().cookie.is_some()
    });

    // A leaver, by the disabled flag.
    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nadd: employeeType\nemployeeType: inactive\n",
        dn("bob")
    ));
    wait_for("bob disabled", || {
        env.agent("bob").status == Status::Suspended
    });
    let bob = env.agent("bob");
    let last = env.audit(&bob).pop().expect("audit entry");
    assert_eq!(
        last.2.as_deref(),
        Some("ldap:corp: disabled in the directory")
    );
    let run: i64 = last
        .0
        .rsplit('#')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("run id in the actor");
    assert_eq!(
        env.mode_and_trigger(run),
        ("incremental".into(), "watch".into())
    );

    // A leaver, by deletion.
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", dn("cy")));
    wait_for("cy disabled", || {
        env.agent("cy").status == Status::Suspended
    });

    // A group change (not visible on ana's entry): a full run follows.
    slapd.modify_ldif(&format!(
        "dn: cn=vip,ou=groups,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {}\n",
        dn("ana")
    ));
    wait_for("ana in the vip skill group", || {
        env.agent("ana").profile.skill_groups == ["vip"]
    });

    // The directory restarts: the watch reconnects and resumes from its cookie.
    slapd.stop();
    std::thread::sleep(Duration::from_millis(500));
    slapd.start_again();
    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Head of Support\n",
        dn("ana")
    ));
    wait_for("ana's new title after the restart", || {
        env.agent("ana").profile.title.as_deref() == Some("Head of Support")
    });
    assert_eq!(env.agent("bob").status, Status::Suspended);
    task.abort();
});

both!(an_outage_during_an_incremental_run_changes_nothing, |b| {
    let mut slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, INCREMENTAL);
    env.run_mode(false, false, true);
    let before = env.position();
    slapd.stop();
    let failed = env.run_mode(false, false, true);
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    assert!(failed.error.is_some());
    assert_eq!(
        env.position(),
        before,
        "no position is saved by a failed run"
    );
    assert!(env.agents().iter().all(|a| a.status == Status::Active));
    slapd.start_again();
    let next = env.run_mode(false, false, true);
    assert_eq!(next.status, RunStatus::Ok, "{next:?}");
    assert!(next.plan.changes.is_empty(), "{:?}", next.plan.changes);
});

both!(both_schedules_of_a_source_run_inside_serve, |b| {
    let slapd = directory(&["ana", "bob"]);
    let toml = crate::sync_ldap::source_toml(&slapd, "* * * * * *").replacen(
        "schedule = \"* * * * * *\"",
        // Incremental runs on even seconds, full runs on odd ones.
        "schedule = \"0/2 * * * * *\"\nfull_schedule = \"1/2 * * * * *\"",
        1,
    );
    let sources = rollcall::config::Config::from_parts(&toml, Vec::new())
        .expect("config")
        .sources;
    let s = crate::harness::TestServer::start_with(b, |c| c.sources = sources);
    // Each schedule has a task of its own; on PostgreSQL both must pass the leader check
    // (one advisory lock per process, not per task).
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let modes: Vec<String> = {
            let mut conn = s.conn();
            sync_runs::table
                .filter(sync_runs::status.eq("ok"))
                .select(sync_runs::mode)
                .load(&mut *conn)
                .expect("runs")
        };
        let full = modes.iter().filter(|m| *m == "full").count();
        let incremental = modes.iter().filter(|m| *m == "incremental").count();
        if full >= 2 && incremental >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both schedules should run: {modes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
});
