//! The sync engine end to end: a real slapd, a real SQLite file or PostgreSQL database, the
//! `rollcall sync` code path (read, plan, guard, apply, record).

use std::sync::Arc;

use diesel::prelude::*;
use rollcall::config::Config;
use rollcall::domain::{Agent, Status};
use rollcall::store::agents::{SourceFilter, by_source};
use rollcall::store::schema::sync_runs;
use rollcall::sync::runner::run_source;
use rollcall::sync::{RunOptions, RunReport, RunStatus};

use crate::both;
use crate::harness::{Backend, TestDb};
use crate::slapd::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd};

pub(crate) const ORG: &str = "\
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example Support
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups
";

pub(crate) fn person(uid: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid} Test\ngivenName: {uid}\nsn: Test\nmail: {uid}@example.com\nemployeeNumber: E-{uid}\ndepartmentNumber: Support\n{extra}\n"
    )
}

pub(crate) fn group(cn: &str, members: &[&str]) -> String {
    let mut s =
        format!("dn: cn={cn},ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        s.push_str(&format!("member: uid={m},ou=people,dc=example,dc=com\n"));
    }
    s.push('\n');
    s
}

/// A directory with `people` (uids) and a `leads` group holding the first one.
pub(crate) fn directory(people: &[&str]) -> Slapd {
    let slapd = Slapd::start();
    let mut ldif = ORG.to_owned();
    ldif.push('\n');
    for (i, p) in people.iter().enumerate() {
        // Everyone but the first reports to the first (created in the same run).
        let manager = if i == 0 {
            String::new()
        } else {
            format!("manager: uid={},ou=people,{BASE_DN}\n", people[0])
        };
        ldif.push_str(&person(p, &manager));
    }
    ldif.push_str(&group("leads", &people[..1]));
    ldif.push_str(&group("vip", &people[1..]));
    slapd.add_ldif(&ldif);
    slapd
}

pub(crate) struct Env {
    _db: TestDb,
    pub(crate) config: Config,
    pub(crate) pool: rollcall::store::Pool,
    rt: tokio::runtime::Runtime,
}

pub(crate) fn env(backend: Backend, slapd: &Slapd, source_extra: &str) -> Env {
    env_with(backend, slapd, source_extra, "")
}

/// `env` with extra `[sources.ldap]` settings.
pub(crate) fn env_with(
    backend: Backend,
    slapd: &Slapd,
    source_extra: &str,
    ldap_extra: &str,
) -> Env {
    let db = TestDb::new(backend);
    let text = format!(
        r#"
[database]
url = "{db}"
[[sources]]
name = "corp"
kind = "ldap"
schedule = "0 0 * * * *"
{source_extra}
[sources.ldap]
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=people,{BASE_DN}"
group_base_dn = "ou=groups,{BASE_DN}"
disabled_filter = "(employeeType=inactive)"
timeout_secs = 3
{ldap_extra}
[[sources.rules]]
group = "leads"
role = "team_lead"
[[sources.rules]]
group = "cn=vip,ou=groups,{BASE_DN}"
skill_groups = ["vip"]
"#,
        db = db.url,
        url = slapd.url(),
    );
    Env::from_toml(db, &text)
}

impl Env {
    /// An environment for the config in `text` (whose database is `db`).
    pub(crate) fn from_toml(db: TestDb, text: &str) -> Env {
        let config = Config::from_parts(text, Vec::new()).expect("config");
        let pool = rollcall::server::open_store(&config).expect("store");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Env {
            _db: db,
            config,
            pool,
            rt,
        }
    }

    pub(crate) fn run(&self, dry_run: bool, force: bool) -> RunReport {
        self.run_mode(dry_run, force, false)
    }

    pub(crate) fn run_mode(&self, dry_run: bool, force: bool, incremental: bool) -> RunReport {
        let accounts = Arc::new(rollcall::accounts::Accounts::new("agent", 30));
        let opts = RunOptions {
            dry_run,
            force,
            incremental,
            trigger: "cli",
            as_of: None,
        };
        let cfg = self.config.sources[0].clone();
        self.rt
            .block_on(run_source(
                self.pool.clone(),
                accounts,
                Arc::new(self.config.clone()),
                cfg,
                opts,
                None,
            ))
            .expect("run")
    }

    pub(crate) fn agents(&self) -> Vec<Agent> {
        let mut conn = self.pool.get().expect("conn");
        let mut list: Vec<Agent> = by_source(&mut conn, SourceFilter::Is("ldap:corp"))
            .expect("agents")
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        list.sort_by(|a, b| a.profile.user_name.cmp(&b.profile.user_name));
        list
    }

    pub(crate) fn agent(&self, user: &str) -> Agent {
        self.agents()
            .into_iter()
            .find(|a| a.profile.user_name == user)
            .unwrap_or_else(|| panic!("no agent {user}"))
    }

    pub(crate) fn audit(&self, agent: &Agent) -> Vec<(String, String, Option<String>)> {
        let mut conn = self.pool.get().expect("conn");
        rollcall::audit::for_target(&mut conn, &agent.id)
            .expect("audit")
            .into_iter()
            .map(|r| (r.actor, r.action, r.reason))
            .collect()
    }
}

both!(joiners_then_an_idempotent_second_run, |b| {
    let slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, "");
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.plan.count("create"), 3);
    let ana = env.agent("ana");
    assert_eq!(ana.role, "team_lead");
    assert_eq!(ana.profile.department.as_deref(), Some("Support"));
    assert_eq!(ana.profile.employee_number.as_deref(), Some("E-ana"));
    assert_eq!(ana.profile.emails[0].value, "ana@example.com");
    assert_eq!(ana.source, "ldap:corp");
    let bob = env.agent("bob");
    assert_eq!(bob.role, "agent");
    assert_eq!(bob.profile.skill_groups, vec!["vip"]);
    assert_eq!(bob.profile.manager_id.as_deref(), Some(ana.id.as_str()));
    let log = env.audit(&bob);
    assert_eq!(log[0].1, "agent.create");
    assert_eq!(log[0].0, format!("sync:corp#{}", r.run_id));
    assert_eq!(log[0].2.as_deref(), Some("ldap:corp: joined the directory"));
    let again = env.run(false, false);
    assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
    assert_eq!(again.plan.unchanged, 3);
    // The audit entries written many at a time still form one intact chain.
    let mut conn = env.pool.get().expect("conn");
    match rollcall::audit::verify(&mut conn).expect("verify") {
        rollcall::audit::Verdict::Intact { entries } => assert_eq!(entries, 3),
        other => panic!("audit chain: {other:?}"),
    }
});

both!(a_first_run_cut_short_creates_nobody, |b| {
    // A first run applies its creates while it reads; a read that then fails takes them
    // all back. The server cuts the read short (a size limit, which applies to a reader
    // that is not the directory's root).
    let slapd = directory(&["ana", "bob"]);
    let mut ldif = String::from(
        "dn: cn=reader,dc=example,dc=com\nobjectClass: simpleSecurityObject\n\
         objectClass: organizationalRole\ncn: reader\nuserPassword: reader-secret\n\n",
    );
    for i in 0..1_200 {
        ldif.push_str(&person(&format!("p{i:04}"), ""));
    }
    slapd.add_ldif(&ldif);
    let limit = |limit: &str| {
        slapd.modify_config(&format!(
            "dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nreplace: olcSizeLimit\n\
             olcSizeLimit: {limit}\n"
        ))
    };
    limit("size.soft=1100 size.hard=1100 size.pr=1100 size.prtotal=1100");
    let db = TestDb::new(b);
    let text = format!(
        r#"
[database]
url = "{db}"
[[sources]]
name = "corp"
kind = "ldap"
schedule = "0 0 * * * *"
[sources.ldap]
url = "{url}"
bind_dn = "cn=reader,{BASE_DN}"
bind_password = "reader-secret"
base_dn = "ou=people,{BASE_DN}"
group_base_dn = "ou=groups,{BASE_DN}"
page_size = 100
timeout_secs = 3
"#,
        db = db.url,
        url = slapd.url(),
    );
    let env = Env::from_toml(db, &text);
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Failed, "{:?}", r.error);
    assert!(
        r.error.as_deref().unwrap_or("").contains("incomplete"),
        "{:?}",
        r.error
    );
    assert!(env.agents().is_empty());
    let mut conn = env.pool.get().expect("conn");
    match rollcall::audit::verify(&mut conn).expect("verify") {
        rollcall::audit::Verdict::Intact { entries } => assert_eq!(entries, 0),
        other => panic!("audit chain: {other:?}"),
    }
    drop(conn);
    // Once the whole directory can be read, everyone is created.
    limit("size.soft=1000 size.hard=unlimited size.pr=unlimited size.prtotal=unlimited");
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.error);
    assert_eq!(r.plan.count("create"), 1_202);
    assert_eq!(env.agents().len(), 1_202);
});

both!(
    an_edit_to_a_managed_field_is_put_back_by_the_next_run,
    |b| {
        use rollcall::store::schema::agents;
        let slapd = directory(&["ana", "bob"]);
        let env = env(b, &slapd, "");
        env.run(false, false);
        // Unchanged people are recorded as checked: every agent's version carries a digest.
        env.run(false, false);
        let stamped = |env: &Env| -> Vec<(Option<String>, Option<i64>, i64)> {
            let mut conn = env.pool.get().expect("conn");
            agents::table
                .filter(agents::source.eq("ldap:corp"))
                .select((agents::sync_digest, agents::sync_version, agents::version))
                .load(&mut conn)
                .expect("agents")
        };
        for (digest, at, version) in stamped(&env) {
            assert!(digest.is_some());
            assert_eq!(at, Some(version));
        }
        // An admin changes ana's department: the directory still says Support.
        let ana = env.agent("ana");
        let mut profile = ana.profile.clone();
        profile.department = Some("Billing".into());
        {
            let mut conn = env.pool.get().expect("conn");
            rollcall::accounts::Accounts::new("agent", 30)
                .update_agent(
                    &mut conn,
                    "token:admin",
                    &ana.id,
                    None,
                    rollcall::accounts::AgentInput {
                        profile,
                        keep_agent_settings: true,
                        ..Default::default()
                    },
                    None,
                    rollcall::store::now(),
                )
                .expect("update");
        }
        let r = env.run(false, false);
        match &r.plan.changes[..] {
            [
                rollcall::sync::plan::Change::Update {
                    fields, user_name, ..
                },
            ] => {
                assert_eq!(user_name, "ana");
                assert_eq!(fields, &["department"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            env.agent("ana").profile.department.as_deref(),
            Some("Support")
        );
        // The run after that has nothing to do, and leaves every agent recorded again.
        let again = env.run(false, false);
        assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
        for (digest, at, version) in stamped(&env) {
            assert!(digest.is_some());
            assert_eq!(at, Some(version));
        }
    }
);

both!(mover_leaver_disabled_flag_and_returner, |b| {
    let slapd = directory(&[
        "ana", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo",
    ]);
    let env = env(b, &slapd, "[sources.guard]\nmax_disable_percent = 25");
    env.run(false, false);
    // bob moves into the leads group; cy is deleted; dee is marked inactive.
    slapd.modify_ldif(&format!(
        "dn: cn=leads,ou=groups,{BASE_DN}\nchangetype: modify\nadd: member\nmember: uid=bob,ou=people,{BASE_DN}\n\n\
         dn: uid=dee,ou=people,{BASE_DN}\nchangetype: modify\nadd: employeeType\nemployeeType: inactive\n\n\
         dn: uid=cy,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    let bob = env.agent("bob");
    assert_eq!(bob.role, "team_lead");
    // The move, then what it did to his permissions.
    let mut audit = env.audit(&bob);
    let (_, action, _) = audit.pop().expect("entry");
    assert_eq!(action, "agent.permissions_change");
    let (_, action, reason) = audit.pop().expect("entry");
    assert_eq!(action, "agent.update");
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("moved to group leads")),
        "{reason:?}"
    );
    let cy = env.agent("cy");
    assert_eq!(cy.status, Status::Suspended);
    assert!(cy.sessions_revoked_at.is_some());
    assert_eq!(
        cy.disabled_reason.as_deref(),
        Some("ldap:corp: removed from the directory")
    );
    let dee = env.agent("dee");
    assert_eq!(dee.status, Status::Suspended);
    assert_eq!(
        dee.disabled_reason.as_deref(),
        Some("ldap:corp: disabled in the directory")
    );
    // dee is active again in the directory: re-enabled.
    slapd.modify_ldif(&format!(
        "dn: uid=dee,ou=people,{BASE_DN}\nchangetype: modify\ndelete: employeeType\n"
    ));
    let r = env.run(false, false);
    assert_eq!(r.plan.count("enable"), 1, "{:?}", r.plan.changes);
    assert_eq!(env.agent("dee").status, Status::Active);
    assert_eq!(env.agent("cy").status, Status::Suspended);
});

both!(guard_refuses_mass_removal_and_empty_results, |b| {
    let people = [
        "ana", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo",
    ];
    let slapd = directory(&people);
    let env = env(b, &slapd, "");
    env.run(false, false);
    let mut ldif = String::new();
    for p in &people[..3] {
        ldif.push_str(&format!(
            "dn: uid={p},ou=people,{BASE_DN}\nchangetype: delete\n\n"
        ));
    }
    slapd.modify_ldif(&ldif);
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Refused);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("max_disable_percent")),
        "{r:?}"
    );
    assert!(
        env.agents().iter().all(|a| a.status == Status::Active),
        "nothing changed"
    );
    {
        let mut conn = env.pool.get().expect("conn");
        let (status, plan): (String, Option<String>) = sync_runs::table
            .filter(sync_runs::id.eq(r.run_id))
            .select((sync_runs::status, sync_runs::plan))
            .first(&mut conn)
            .expect("run row");
        assert_eq!(status, "refused");
        assert!(plan.is_some_and(|p| p.contains("removed from the directory")));
        let recent = rollcall::audit::recent(&mut conn, 1).expect("audit");
        assert_eq!(recent[0].action, "sync.refuse");
        assert_eq!(recent[0].target_type, "source");
    }
    // --force applies it once, deliberately.
    let r = env.run(false, true);
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(
        env.agents()
            .iter()
            .filter(|a| a.status == Status::Suspended)
            .count(),
        3
    );
    // A filter that matches nobody looks like everyone left: refused.
    let mut cfg = env.config.clone();
    let mut src = cfg.sources[0].clone();
    if let Some(l) = src.ldap.as_mut() {
        l.user_filter = "(uid=nobody-at-all)".into();
    }
    cfg.sources[0] = src;
    let env2 = Env { config: cfg, ..env };
    let r = env2.run(false, false);
    assert_eq!(r.status, RunStatus::Refused);
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("no one")),
        "{r:?}"
    );
});

both!(outage_changes_nothing_and_dry_run_changes_nothing, |b| {
    let mut slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, "");
    let dry = env.run(true, false);
    assert_eq!(dry.plan.count("create"), 3);
    assert!(env.agents().is_empty(), "a dry run creates nothing");
    env.run(false, false);
    slapd.stop();
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.error.is_some());
    assert!(env.agents().iter().all(|a| a.status == Status::Active));
    slapd.start_again();
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Ok);
    assert!(r.plan.changes.is_empty());
});

both!(a_taken_user_name_fails_that_create_only, |b| {
    let slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, "");
    let accounts = rollcall::accounts::Accounts::new("agent", 30);
    crate::harness::add_agent(&env.pool, &accounts, "token:entra", "scim:entra", "BOB");
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Partial, "{r:?}");
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].0, "bob");
    assert!(
        r.failures[0].2.contains("already taken"),
        "{:?}",
        r.failures
    );
    let names: Vec<String> = env
        .agents()
        .into_iter()
        .map(|a| a.profile.user_name)
        .collect();
    assert_eq!(names, vec!["ana", "cy"]);
    // cy's manager (ana) was created in the same statement batch.
    assert_eq!(
        env.agent("cy").profile.manager_id,
        Some(env.agent("ana").id)
    );
});

both!(active_directory_fixture_through_the_engine, |b| {
    let slapd = Slapd::start();
    slapd.add_ldif(ORG);
    slapd.add_ldif(include_str!("../fixtures/ldap/ad.ldif"));
    let db = TestDb::new(b);
    let text = format!(
        r#"
[database]
url = "{db}"
[[sources]]
name = "ad"
kind = "ldap"
schedule = "0 0 * * * *"
[sources.guard]
max_disable_percent = 50
[sources.ldap]
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=ad,{BASE_DN}"
flavour = "active_directory"
timeout_secs = 3
[[sources.rules]]
group = "Tier2"
role = "senior_agent"
"#,
        db = db.url,
        url = slapd.url(),
    );
    let env = Env::from_toml(db, &text);
    let r = env.run(false, false);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    let agents = |env: &Env| -> Vec<(String, String, Status)> {
        let mut conn = env.pool.get().expect("conn");
        let mut v: Vec<(String, String, Status)> =
            by_source(&mut conn, SourceFilter::Is("ldap:ad"))
                .expect("agents")
                .into_iter()
                .map(|(a, _)| (a.profile.user_name, a.role, a.status))
                .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Disabled (514) and expired accounts are not created; Tier2 gives senior_agent; the
    // others get the default role.
    assert_eq!(
        agents(&env),
        vec![
            (
                "ann.active".to_string(),
                "senior_agent".to_string(),
                Status::Active
            ),
            (
                "fay.future".to_string(),
                "senior_agent".to_string(),
                Status::Active
            ),
            ("gus.guid".to_string(), "agent".to_string(), Status::Active),
        ]
    );
    // Ann's account is disabled in AD (userAccountControl 514): her agent follows.
    slapd.modify_ldif(&format!(
        "dn: CN=Ann Active,OU=Users,ou=ad,{BASE_DN}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n"
    ));
    let r = env.run(false, false);
    assert_eq!(r.plan.count("disable"), 1, "{:?}", r.plan.changes);
    assert_eq!(agents(&env)[0].2, Status::Suspended);
});

/// The `[[sources]]` of `env()`, for a server or a config file of its own.
pub(crate) fn source_toml(slapd: &Slapd, schedule: &str) -> String {
    format!(
        r#"
[[sources]]
name = "corp"
kind = "ldap"
schedule = "{schedule}"
[sources.ldap]
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=people,{BASE_DN}"
group_base_dn = "ou=groups,{BASE_DN}"
timeout_secs = 3
[[sources.rules]]
group = "leads"
role = "team_lead"
"#,
        url = slapd.url()
    )
}

both!(the_scheduler_runs_sources_inside_serve, |b| {
    let slapd = directory(&["ana", "bob"]);
    let sources = Config::from_parts(&source_toml(&slapd, "* * * * * *"), Vec::new())
        .expect("config")
        .sources;
    let s = crate::harness::TestServer::start_with(b, |c| c.sources = sources);
    let found = (0..100).any(|_| {
        let (_, v) = s.scim(
            "GET",
            &format!("/Users?filter={}", crate::harness::q("userName eq \"ana\"")),
            None,
        );
        if v["totalResults"] == 1 {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    assert!(found, "a scheduled run created ana within 10 s");
    let mut conn = s.conn();
    let triggers: Vec<String> = sync_runs::table
        .select(sync_runs::trigger)
        .load(&mut *conn)
        .expect("runs");
    assert!(triggers.iter().all(|t| t == "schedule") && !triggers.is_empty());
});

#[test]
fn the_sync_command_prints_plans_and_fails_on_refusal() {
    let slapd = directory(&[
        "ana", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo",
    ]);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[log]\nlevel = \"warn\"\n{}",
            dir.path().join("r.db").display(),
            source_toml(&slapd, "0 0 * * * *")
        ),
    )
    .expect("write config");
    let rollcall = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("run rollcall")
    };
    let dry = rollcall(&["sync", "corp", "--dry-run", "--json"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("json");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["plan"]["changes"].as_array().map(Vec::len), Some(10));
    assert_eq!(report["plan"]["changes"][0]["action"], "create");
    let run = rollcall(&["sync", "corp"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("did create 10"));
    // Half the directory gone: refused, exit status non-zero, reason on stderr.
    let mut ldif = String::new();
    for p in ["ana", "bob", "cy", "dee", "eve"] {
        ldif.push_str(&format!(
            "dn: uid={p},ou=people,{BASE_DN}\nchangetype: delete\n\n"
        ));
    }
    slapd.modify_ldif(&ldif);
    let refused = rollcall(&["sync", "corp"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("refused") && err.contains("--force"), "{err}");
    let listing = rollcall(&["sources"]);
    let out = String::from_utf8_lossy(&listing.stdout);
    assert!(out.contains("corp") && out.contains("refused"), "{out}");
}

both!(incremental_runs_read_only_what_changed, |b| {
    let slapd = directory(&["ana", "bob", "cy"]);
    let env = env_with(
        b,
        &slapd,
        "full_schedule = \"0 0 3 * * *\"\nincremental_overlap_secs = 0\n[sources.guard]\nmax_disable_percent = 50",
        "incremental = \"modify_timestamp\"",
    );
    // No previous run: an incremental request is a full run.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let first = env.run_mode(false, false, true);
    assert_eq!(first.plan.count("create"), 3);
    let mode = |run: i64| -> String {
        let mut conn = env.pool.get().expect("conn");
        sync_runs::table
            .filter(sync_runs::id.eq(run))
            .select(sync_runs::mode)
            .first(&mut conn)
            .expect("run")
    };
    assert_eq!(mode(first.run_id), "full");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    slapd.modify_ldif(&format!(
        "dn: uid=bob,ou=people,{BASE_DN}\nchangetype: modify\nreplace: title\ntitle: Senior Agent\n\n\
         dn: uid=cy,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    let inc = env.run_mode(false, false, true);
    assert_eq!(mode(inc.run_id), "incremental");
    assert_eq!(inc.plan.records, 1, "only bob changed: {:?}", inc.plan);
    assert_eq!(inc.plan.count("update"), 1);
    assert_eq!(
        env.agent("bob").profile.title.as_deref(),
        Some("Senior Agent")
    );
    // Removals are not visible incrementally; the full run catches them.
    assert_eq!(inc.plan.count("disable"), 0);
    assert_eq!(env.agent("cy").status, Status::Active);
    let full = env.run(false, false);
    assert_eq!(full.plan.count("disable"), 1, "{:?}", full.plan.changes);
    assert_eq!(env.agent("cy").status, Status::Suspended);
});
