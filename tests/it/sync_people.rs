//! One agent per person across sources, against a real slapd and a real HR export: a
//! directory and an HR source describing the same people link to the same agents, each
//! writes the fields `[ownership]` gives it, the most restrictive status wins, alternate
//! runs settle (no flapping), and a person two agents could be is linked to neither and
//! reported.

use std::sync::Arc;

use rollcall::config::Config;
use rollcall::domain::{Agent, Status};
use rollcall::sync::runner::run_source;
use rollcall::sync::{RunOptions, RunReport, RunStatus};

use crate::both;
use crate::harness::{Backend, TestDb};
use crate::slapd::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd};
use crate::sync_hr::{FIELDS, Row, csv, day, row};
use crate::sync_ldap::directory;

struct Env {
    _db: TestDb,
    _dir: tempfile::TempDir,
    export: std::path::PathBuf,
    text: String,
    config: Config,
    pool: rollcall::store::Pool,
    rt: tokio::runtime::Runtime,
}

/// `corp` (the directory) and `people` (HR) describing the same team: HR owns department
/// and title, the directory role, skill groups and email; both own status, only HR enables.
fn env(backend: Backend, slapd: &Slapd) -> Env {
    let db = TestDb::new(backend);
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export.csv");
    let text = format!(
        r#"
[database]
url = "{db}"
[auth.new_agents]
first_password = "none"

[ownership]
enable = ["people"]
[ownership.fields]
department = ["people", "corp"]
title = ["people"]
role = ["corp"]
skill_groups = ["corp"]
email = ["corp", "people"]
status = ["people", "corp"]

[[sources]]
name = "corp"
kind = "ldap"
schedule = "0 0 * * * *"
link_by = ["employee_number", "email"]
guard = {{ max_disable_percent = 50.0 }}
[sources.ldap]
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
base_dn = "ou=people,{BASE_DN}"
group_base_dn = "ou=groups,{BASE_DN}"
disabled_filter = "(employeeType=inactive)"
timeout_secs = 3
[[sources.rules]]
group = "leads"
role = "team_lead"
[[sources.rules]]
group = "cn=vip,ou=groups,{BASE_DN}"
skill_groups = ["vip"]

[[sources]]
name = "people"
kind = "hr"
schedule = "0 0 0 1 1 *"
link_by = ["employee_number", "email"]
guard = {{ max_disable_percent = 50.0 }}
[sources.hr]
path = "{path}"
time_zone = "Asia/Shanghai"
min_rows_percent = 50
{FIELDS}
"#,
        db = db.url,
        url = slapd.url(),
        path = export.display(),
    );
    let config = Config::from_parts(&text, Vec::new()).expect("config");
    let pool = rollcall::server::open_store(&config).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Env {
        _db: db,
        _dir: dir,
        export,
        text,
        config,
        pool,
        rt,
    }
}

impl Env {
    fn run(&self, source: &str) -> RunReport {
        self.run_with(source, false)
    }

    /// A run that reads the export even when it has not changed.
    fn run_forced(&self, source: &str) -> RunReport {
        self.run_with(source, true)
    }

    fn run_with(&self, source: &str, force: bool) -> RunReport {
        let cfg = self
            .config
            .sources
            .iter()
            .find(|s| s.name == source)
            .expect("source")
            .clone();
        let accounts = Arc::new(rollcall::accounts::Accounts::from_config(&self.config));
        let opts = RunOptions {
            dry_run: false,
            force,
            incremental: false,
            trigger: "cli",
            as_of: None,
        };
        let report = self
            .rt
            .block_on(run_source(
                self.pool.clone(),
                accounts,
                Arc::new(self.config.clone()),
                cfg,
                opts,
                None,
            ))
            .expect("run");
        assert_eq!(report.status, RunStatus::Ok, "{source}: {report:?}");
        report
    }

    fn export(&self, rows: &[Row]) {
        std::fs::write(&self.export, csv(rows)).expect("export");
    }

    /// Every live agent, by user name.
    fn agents(&self) -> Vec<Agent> {
        let mut all = all_agents(&self.pool);
        all.retain(|a| a.status != Status::Deleted);
        all.sort_by(|a, b| a.profile.user_name.cmp(&b.profile.user_name));
        all
    }

    fn agent(&self, number: &str) -> Agent {
        self.agents()
            .into_iter()
            .find(|a| a.profile.employee_number.as_deref() == Some(number))
            .unwrap_or_else(|| panic!("no agent {number}"))
    }

    /// `rollcall <args> --json` through the binary.
    fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("rollcall.toml");
        std::fs::write(&config, &self.text).expect("config");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .arg("--json")
            .output()
            .expect("rollcall");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }
}

fn all_agents(pool: &rollcall::store::Pool) -> Vec<Agent> {
    use diesel::prelude::*;
    use rollcall::store::schema::agents;
    let mut conn = pool.get().expect("conn");
    let rows = agents::table
        .select(rollcall::store::models::AgentRow::as_select())
        .load(&mut conn)
        .expect("rows");
    rollcall::store::agents::with_values(&mut conn, rows).expect("agents")
}

/// The HR export of the directory's people (employee numbers `E-<uid>`), HR-only `dan`.
fn export_rows() -> Vec<Row> {
    let mut ana = row("E-ana", "Ana", "Lin");
    ana.dept = "售前";
    let mut bo = row("E-bo", "Bo", "Wu");
    bo.dept = "售后";
    let cy = row("E-cy", "Cy", "Chen");
    let dan = row("E-dan", "Dan", "Zhao");
    vec![ana, bo, cy, dan]
}

both!(
    a_directory_and_hr_share_one_agent_per_person_without_flapping,
    |b| {
        let slapd = directory(&["ana", "bo", "cy"]);
        let env = env(b, &slapd);
        let first = env.run("corp");
        assert_eq!(first.plan.count("create"), 3);
        let made: Vec<String> = env.agents().iter().map(|a| a.id.clone()).collect();

        env.export(&export_rows());
        let hr = env.run("people");
        assert_eq!(hr.plan.count("link"), 3, "{:?}", hr.plan.changes);
        assert_eq!(
            hr.plan.count("create"),
            1,
            "only the person the directory lacks"
        );
        assert!(hr.plan.disputes.is_empty());
        let agents = env.agents();
        assert_eq!(agents.len(), 4, "one agent per person");
        let ana = env.agent("E-ana");
        assert!(made.contains(&ana.id), "the directory's agent, linked");
        assert_eq!(ana.source, "ldap:corp", "still the directory's own");
        assert_eq!(
            ana.profile.department.as_deref(),
            Some("售前"),
            "HR owns it"
        );
        assert_eq!(ana.profile.title.as_deref(), Some("Agent"), "HR owns it");
        assert_eq!(ana.role, "team_lead", "the directory owns the role");
        assert_eq!(
            ana.profile.user_name, "ana",
            "the directory's; HR fills empty only"
        );
        assert_eq!(env.agent("E-dan").source, "hr:people");

        // Alternate runs: every run of each has an empty plan from now on, and the values stay.
        for round in 0..3 {
            for source in ["corp", "people"] {
                let r = env.run(source);
                assert!(
                    r.plan.changes.is_empty(),
                    "round {round}, {source}: {:?}",
                    r.plan.changes
                );
            }
        }
        let ana = env.agent("E-ana");
        assert_eq!(ana.profile.department.as_deref(), Some("售前"));
        assert_eq!(ana.role, "team_lead");

        // Where each field came from, and which sources hold the agent.
        let shown = env.cli_json(&["agents", "show", "ana"]);
        let prov = &shown["provenance"];
        assert_eq!(prov["department"]["source"], "people", "{shown:#}");
        assert_eq!(prov["department"]["runId"], hr.run_id);
        assert_eq!(prov["role"]["source"], "corp", "{shown:#}");
        assert_eq!(prov["role"]["runId"], first.run_id);
        assert_eq!(shown["sources"][0]["source"], "hr:people");
        assert_eq!(shown["sources"][0]["sourceKey"], "E-ana");
        assert_eq!(shown["sources"][0]["linkedBy"], "employee_number");

        // HR terminates Bo: disabled although the directory still has him enabled, and the
        // directory does not enable him again.
        let mut rows = export_rows();
        rows[1].status = "Terminated";
        rows[1].term = day(-1);
        rows[1].why = "Resigned";
        env.export(&rows);
        let r = env.run("people");
        assert_eq!(r.plan.count("disable"), 1, "{:?}", r.plan.changes);
        assert_eq!(env.agent("E-bo").status, Status::Suspended);
        assert!(env.run("corp").plan.changes.is_empty());
        assert_eq!(
            env.agent("E-bo").status,
            Status::Suspended,
            "most restrictive wins"
        );

        // The directory disables Cy; HR, still showing her active, does not lift another
        // source's suspension, and the directory may disable but not enable.
        slapd.modify_ldif(&format!(
        "dn: uid=cy,ou=people,{BASE_DN}\nchangetype: modify\nadd: employeeType\nemployeeType: inactive\n"
    ));
        assert_eq!(env.run("corp").plan.count("disable"), 1);
        assert!(env.run("people").plan.changes.is_empty());
        slapd.modify_ldif(&format!(
            "dn: uid=cy,ou=people,{BASE_DN}\nchangetype: modify\ndelete: employeeType\n"
        ));
        assert!(
            env.run("corp").plan.changes.is_empty(),
            "corp may not enable"
        );
        assert_eq!(env.agent("E-cy").status, Status::Suspended);

        // An agent an identity provider pushed, known to neither status owner, is an orphan;
        // the linked and the HR-made agents are vouched for.
        let accounts = rollcall::accounts::Accounts::from_config(&env.config);
        crate::harness::add_agent(&env.pool, &accounts, "scim:okta", "scim:okta", "pushed");
        let orphans = env.cli_json(&["report", "orphans"]);
        let rows: Vec<(&str, &str)> = orphans["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| (r["agent"].as_str().unwrap(), r["why"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rows,
            [(
                "pushed",
                "made by scim:okta; unknown to every source that owns status (people, corp)"
            )],
            "{orphans:#}"
        );
    }
);

both!(
    a_person_two_agents_could_be_is_linked_to_neither_and_reported,
    |b| {
        let slapd = directory(&["ana", "zed"]);
        let env = env(b, &slapd);
        env.run("corp");
        // Two agents made by hand for Eve (the same email), before any source knew her.
        let accounts = rollcall::accounts::Accounts::from_config(&env.config);
        let mut conn = env.pool.get().expect("conn");
        for user in ["eve", "eve.l"] {
            let input = rollcall::accounts::AgentInput {
                profile: rollcall::domain::AgentProfile {
                    user_name: user.into(),
                    emails: vec![rollcall::domain::MultiValue {
                        value: "eve@example.com".into(),
                        kind: Some("work".into()),
                        primary: true,
                        display: None,
                    }],
                    ..Default::default()
                },
                ..Default::default()
            };
            accounts
                .create_agent(
                    &mut conn,
                    "cli:root",
                    "admin",
                    input,
                    rollcall::store::now(),
                )
                .expect("create");
        }
        drop(conn);
        let mut rows = vec![row("E-ana", "Ana", "Lin"), row("E-eve", "Eve", "Li")];
        rows[0].dept = "售前";
        env.export(&rows);
        let r = env.run("people");
        assert_eq!(r.plan.count("link"), 1, "Ana: {:?}", r.plan.changes);
        assert_eq!(r.plan.count("create"), 0, "Eve is not created a third time");
        let [d] = &r.plan.disputes[..] else {
            panic!("{:?}", r.plan.disputes)
        };
        assert_eq!(
            (d.key.as_str(), d.value.as_str()),
            ("E-eve", "eve@example.com")
        );
        assert_eq!(env.agents().len(), 4, "ana, zed and the two made by hand");

        let report = env.cli_json(&["report", "conflicts"]);
        let found = report["rows"].as_array().expect("rows");
        assert_eq!(found.len(), 1, "{report:#}");
        assert_eq!(found[0]["source"], "people");
        assert_eq!(found[0]["key"], "E-eve");
        assert_eq!(found[0]["matched"], "email = eve@example.com");
        let candidates = found[0]["candidates"].as_str().expect("candidates");
        assert!(candidates.contains("eve (admin") && candidates.contains("eve.l (admin"));
        let people = report["basis"]
            .as_array()
            .expect("basis")
            .iter()
            .find(|b| b["source"] == "people")
            .expect("people's run");
        assert_eq!(people["runId"], r.run_id);

        // Settled by hand (one of the two gets another email): the next run links Eve.
        let mut conn = env.pool.get().expect("conn");
        let twin = all_agents(&env.pool)
            .into_iter()
            .find(|a| a.profile.user_name == "eve.l")
            .expect("eve.l");
        accounts
            .update_agent_with(
                &mut conn,
                "cli:root",
                &twin.id,
                None,
                None,
                rollcall::store::now(),
                |c| {
                    let mut profile = c.profile.clone();
                    profile.emails.clear();
                    Ok(rollcall::accounts::AgentInput {
                        profile,
                        ..Default::default()
                    })
                },
            )
            .expect("update");
        drop(conn);
        env.export(&rows);
        // The same export: read again because the database changed, not the file.
        let cfg_force = env.run_forced("people");
        assert_eq!(
            cfg_force.plan.count("link"),
            1,
            "{:?}",
            cfg_force.plan.changes
        );
        assert!(cfg_force.plan.disputes.is_empty());
        let report = env.cli_json(&["report", "conflicts"]);
        assert!(
            report["rows"].as_array().expect("rows").is_empty(),
            "{report:#}"
        );
    }
);

both!(an_idp_write_leaves_the_fields_other_sources_own, |b| {
    use serde_json::json;
    // HR (`people`) owns department; title is the identity provider's.
    let s = crate::harness::TestServer::start_with(b, |c| {
        c.ownership
            .fields
            .insert("department".into(), vec!["people".into()]);
        c.ownership
            .fields
            .insert("title".into(), vec!["scim".into(), "people".into()]);
    });
    let created = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "ana", "title": "Agent",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "售前"}
        })),
    );
    assert_eq!(created.0, 201, "{}", created.1);
    let id = created.1["id"].as_str().expect("id").to_owned();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let (st, patched) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "title", "value": "Lead"},
                {"op": "replace", "path": format!("{enterprise}:department"), "value": "Sales"}
            ]
        })),
    );
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["title"], "Lead", "the IdP's own field");
    assert_eq!(
        patched[enterprise]["department"], "售前",
        "HR's, kept: {patched}"
    );
    let (st, put) = s.scim(
        "PUT",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ana", "title": "Senior"
        })),
    );
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["title"], "Senior");
    assert_eq!(
        put[enterprise]["department"], "售前",
        "a replace does not clear it"
    );
});
