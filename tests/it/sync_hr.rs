//! HR sources end to end, reading and planning: a real CSV export (with a BOM) becoming
//! agents by their dates with an injected clock (`as_of`), refusals of broken exports, bad
//! rows by line, on a real SQLite file or PostgreSQL database through the `rollcall sync`
//! code path; the shared HR test set-up. Other formats and HTTP: `sync_hr_sources`; the
//! timers, the daemon and the reports: `sync_hr_dates`.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use rollcall::config::Config;
use rollcall::domain::{Agent, Status};
use rollcall::store::agents::{SourceFilter, by_source};
use rollcall::store::schema::sync_runs;
use rollcall::sync::runner::run_source;
use rollcall::sync::{RunOptions, RunReport, RunStatus};

use crate::both;
use crate::harness::{Backend, TestDb};

const HEADER: &str = "Employee ID,First Name,Last Name,Work Email,Department,Job Title,Manager ID,Status,Hire Date,Last Day,Termination Date,Termination Reason,Time Zone";

/// A date `days` from today (UTC), as an export writes it.
pub(crate) fn day(days: i64) -> String {
    (Utc::now() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

pub(crate) fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// One CSV row.
#[derive(Clone)]
pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) given: &'static str,
    pub(crate) family: &'static str,
    pub(crate) dept: &'static str,
    pub(crate) manager: &'static str,
    pub(crate) status: &'static str,
    pub(crate) start: String,
    pub(crate) last: String,
    pub(crate) term: String,
    pub(crate) why: &'static str,
    pub(crate) tz: &'static str,
}

pub(crate) fn row(id: &'static str, given: &'static str, family: &'static str) -> Row {
    Row {
        id,
        given,
        family,
        dept: "售前",
        manager: "",
        status: "Active",
        start: day(-400),
        last: String::new(),
        term: String::new(),
        why: "",
        tz: "",
    }
}

pub(crate) fn csv(rows: &[Row]) -> String {
    let mut s = format!("\u{feff}{HEADER}\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{}@example.com,{},Agent,{},{},{},{},{},{},{}\n",
            r.id,
            r.given,
            r.family,
            r.given.to_lowercase(),
            r.dept,
            r.manager,
            r.status,
            r.start,
            r.last,
            r.term,
            r.why,
            r.tz
        ));
    }
    s
}

pub(crate) const FIELDS: &str = r#"
[sources.hr.fields]
employee_id = "Employee ID"
given_name = "First Name"
family_name = "Last Name"
email = "Work Email"
department = "Department"
title = "Job Title"
manager = "Manager ID"
status = "Status"
start_date = "Hire Date"
last_day_of_work = "Last Day"
termination_date = "Termination Date"
termination_reason = "Termination Reason"
time_zone = "Time Zone"
nickname = "{department}-{family_name}{given_name}"
"#;

pub(crate) struct Hr {
    pub(crate) _db: TestDb,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) file: std::path::PathBuf,
    /// The configuration as written.
    pub(crate) text: String,
    pub(crate) config: Config,
    pub(crate) pool: rollcall::store::Pool,
    pub(crate) rt: tokio::runtime::Runtime,
}

/// An HR source `people` reading `export.<ext>` in a directory of its own, with `extra`
/// lines in `[sources.hr]` (before the fields).
pub(crate) fn hr(backend: Backend, ext: &str, extra: &str) -> Hr {
    hr_with(backend, ext, extra, "")
}

/// `hr` with `fields` added to `[sources.hr.fields]`.
pub(crate) fn hr_with(backend: Backend, ext: &str, extra: &str, fields: &str) -> Hr {
    let db = TestDb::new(backend);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join(format!("export.{ext}"));
    // An extra `url = …` reads from there instead of the file.
    let location = if extra.contains("url =") {
        String::new()
    } else {
        format!("path = \"{}\"", file.display())
    };
    let text = format!(
        r#"
[database]
url = "{db}"
[auth.new_agents]
first_password = "none"
[[sources]]
name = "people"
kind = "hr"
schedule = "0 0 0 1 1 *"
guard = {{ max_disable_percent = 50.0 }}
[sources.hr]
{location}
time_zone = "Asia/Shanghai"
immediate_reasons = ["Misconduct"]
{extra}
{FIELDS}
{fields}
"#,
        db = db.url,
    );
    let config = Config::from_parts(&text, Vec::new()).expect("config");
    let pool = rollcall::server::open_store(&config).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Hr {
        _db: db,
        _dir: dir,
        file,
        text,
        config,
        pool,
        rt,
    }
}

impl Hr {
    pub(crate) fn write(&self, text: &str) {
        std::fs::write(&self.file, text).expect("write export");
    }

    pub(crate) fn run_with(&self, dry_run: bool, as_of: Option<NaiveDateTime>) -> RunReport {
        self.run_opts(dry_run, false, as_of)
    }

    /// A run that reads the export even when it has not changed.
    pub(crate) fn run_forced(&self) -> RunReport {
        self.run_opts(false, true, None)
    }

    pub(crate) fn run_opts(
        &self,
        dry_run: bool,
        force: bool,
        as_of: Option<NaiveDateTime>,
    ) -> RunReport {
        let accounts = Arc::new(rollcall::accounts::Accounts::from_config(&self.config));
        let opts = RunOptions {
            dry_run,
            force,
            incremental: false,
            trigger: "cli",
            as_of,
        };
        self.rt
            .block_on(run_source(
                self.pool.clone(),
                accounts,
                Arc::new(self.config.clone()),
                self.config.sources[0].clone(),
                opts,
                None,
            ))
            .expect("run")
    }

    pub(crate) fn run(&self) -> RunReport {
        self.run_with(false, None)
    }

    pub(crate) fn agents(&self) -> Vec<Agent> {
        let mut conn = self.pool.get().expect("conn");
        by_source(&mut conn, SourceFilter::Is("hr:people"))
            .expect("agents")
            .into_iter()
            .map(|(a, _)| a)
            .filter(|a| a.status != Status::Deleted)
            .collect()
    }

    pub(crate) fn agent(&self, number: &str) -> Agent {
        self.agents()
            .into_iter()
            .find(|a| a.profile.employee_number.as_deref() == Some(number))
            .unwrap_or_else(|| panic!("no agent {number}"))
    }

    pub(crate) fn has(&self, number: &str) -> bool {
        self.agents()
            .iter()
            .any(|a| a.profile.employee_number.as_deref() == Some(number))
    }

    pub(crate) fn audit(&self, agent: &Agent) -> Vec<(String, String, Option<String>)> {
        let mut conn = self.pool.get().expect("conn");
        rollcall::audit::for_target(&mut conn, &agent.id)
            .expect("audit")
            .into_iter()
            .map(|r| (r.actor, r.action, r.reason))
            .collect()
    }

    pub(crate) fn refusals(&self) -> Vec<Option<String>> {
        let mut conn = self.pool.get().expect("conn");
        rollcall::audit::for_target(&mut conn, "people")
            .expect("audit")
            .into_iter()
            .filter(|r| r.action == "sync.refuse")
            .map(|r| r.reason)
            .collect()
    }
}

pub(crate) fn team() -> Vec<Row> {
    let mut prehire = row("E3", "Cy", "Chen");
    prehire.start = day(10);
    let mut later = row("E4", "Dee", "Du");
    later.start = day(40);
    let mut gone = row("E5", "Eve", "Ermak");
    gone.status = "Terminated";
    gone.last = day(-3);
    let mut leaving = row("E6", "Fay", "Fang");
    leaving.last = day(5);
    leaving.tz = "America/Los_Angeles";
    let mut on_leave = row("E7", "Gus", "Gao");
    on_leave.status = "Leave of Absence";
    let mut bo = row("E2", "Bo", "Bai");
    bo.manager = "E1";
    bo.start = day(-10);
    vec![
        row("E1", "Ana", "An"),
        bo,
        prehire,
        later,
        gone,
        leaving,
        on_leave,
    ]
}

both!(an_export_becomes_agents_by_their_dates, |b| {
    let env = hr(b, "csv", "min_rows_percent = 50.0");
    env.write(&csv(&team()));
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.rows, Some(7));
    assert_eq!(r.plan.count("create"), 4, "{:?}", r.plan.changes);
    assert_eq!(r.plan.not_yet, 1);
    let ana = env.agent("E1");
    assert_eq!(ana.status, Status::Active);
    assert_eq!(ana.profile.nickname.as_deref(), Some("售前-AnAna"));
    assert_eq!(ana.profile.user_name, "ana@example.com");
    assert_eq!(
        env.agent("E2").profile.manager_id.as_deref(),
        Some(ana.id.as_str())
    );
    let cy = env.agent("E3");
    assert_eq!(cy.status, Status::Pending, "a pre-hire waits for the start");
    let created = env.audit(&cy);
    assert!(
        created[0].2.as_deref().unwrap().starts_with(&format!(
            "hr:people: hired, starts {} (Asia/Shanghai)",
            day(10)
        )),
        "{created:?}"
    );
    assert!(!env.has("E4"), "beyond the pre-hire window");
    assert!(!env.has("E5"), "left before the first run");
    assert!(!env.has("E7"), "on leave and without an agent");
    assert_eq!(env.agent("E6").status, Status::Active);

    // The same export again: not processed.
    let again = env.run();
    assert_eq!(again.method, "unchanged");
    assert!(again.plan.changes.is_empty() && again.plan.schedules.is_empty());

    // Eleven days on: the pre-hire has started, the leaver has left.
    let later = env.run_with(true, Some(now() + Duration::days(11)));
    let mut seen: Vec<(&str, &str)> = later
        .plan
        .changes
        .iter()
        .map(|c| (c.action(), c.user_name()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("activate", "cy@example.com"),
            ("disable", "fay@example.com")
        ]
    );
    let fay = later
        .plan
        .changes
        .iter()
        .find(|c| c.action() == "disable")
        .unwrap();
    assert_eq!(
        fay.reason(),
        format!(
            "hr:people: left: last day of work {} (America/Los_Angeles)",
            day(5)
        )
    );
    // A dry run changed nothing.
    assert_eq!(env.agent("E3").status, Status::Pending);

    // A move, a leaver who disappears, a termination for misconduct (at once).
    let mut rows = team();
    rows[0].dept = "售后";
    rows.remove(1);
    let i = rows.iter().position(|r| r.id == "E6").unwrap();
    rows[i].status = "Terminated";
    rows[i].term = day(30);
    rows[i].why = "Misconduct";
    env.write(&csv(&rows));
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(env.agent("E1").profile.department.as_deref(), Some("售后"));
    assert_eq!(
        env.agent("E1").profile.nickname.as_deref(),
        Some("售后-AnAna")
    );
    let bo = env.agent("E2");
    assert_eq!(bo.status, Status::Suspended);
    assert_eq!(
        bo.disabled_reason.as_deref(),
        Some("hr:people: no longer in the export")
    );
    let fay = env.agent("E6");
    assert_eq!(fay.status, Status::Suspended);
    assert!(
        fay.disabled_reason
            .as_deref()
            .unwrap()
            .starts_with("hr:people: left: "),
        "{fay:?}"
    );
    assert!(fay.sessions_revoked_at.is_some());

    // Bo is rehired: the same agent comes back, audited as a rehire.
    let mut rows = team();
    rows[0].dept = "售后";
    let i = rows.iter().position(|r| r.id == "E6").unwrap();
    rows[i].status = "Terminated";
    rows[i].term = day(30);
    rows[i].why = "Misconduct";
    env.write(&csv(&rows));
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(env.agent("E6").status, Status::Suspended, "still gone");
    let bo_again = env.agent("E2");
    assert_eq!(bo_again.id, bo.id);
    assert_eq!(bo_again.status, Status::Active);
    assert!(
        env.audit(&bo_again)
            .iter()
            .any(|(_, action, reason)| action == "agent.enable"
                && reason.as_deref() == Some("hr:people: rehired")),
        "{:?}",
        env.audit(&bo_again)
    );
});

both!(broken_exports_are_refused_and_change_nothing, |b| {
    let env = hr(
        b,
        "csv",
        "max_bad_rows_percent = 10.0\nmin_rows_percent = 80.0",
    );
    let people: Vec<Row> = (0..20)
        .map(|i| {
            let id: &'static str = Box::leak(format!("P{i:02}").into_boxed_str());
            let given: &'static str = Box::leak(format!("Given{i}").into_boxed_str());
            row(id, given, "Test")
        })
        .collect();
    env.write(&csv(&people));
    assert_eq!(env.run().status, RunStatus::Ok);
    assert_eq!(env.agents().len(), 20);
    let active = |env: &Hr| {
        env.agents()
            .iter()
            .filter(|a| a.status == Status::Active)
            .count()
    };

    // A column the mapping names is missing.
    let without_status = csv(&people).replace(",Status,", ",State,");
    env.write(&without_status);
    let r = env.run();
    assert_eq!(r.status, RunStatus::Refused);
    assert!(r.error.as_deref().unwrap().contains("Status"), "{r:?}");

    // Empty, and cut short.
    env.write("");
    assert_eq!(env.run().status, RunStatus::Refused);
    env.write(&csv(&people[..10]));
    let r = env.run();
    assert_eq!(r.status, RunStatus::Refused);
    assert!(
        r.error.as_deref().unwrap().contains("min_rows_percent"),
        "{r:?}"
    );

    // Too many bad rows.
    let mut bad = people.clone();
    for r in bad.iter_mut().take(4) {
        r.start = "01/13/2027".into();
    }
    env.write(&csv(&bad));
    let r = env.run();
    assert_eq!(r.status, RunStatus::Refused);
    assert!(
        r.error.as_deref().unwrap().contains("max_bad_rows_percent"),
        "{r:?}"
    );
    assert!(r.error.as_deref().unwrap().contains("line 2:"), "{r:?}");

    assert_eq!(active(&env), 20, "no refused run disabled anyone");
    assert_eq!(
        env.refusals().len(),
        4,
        "each refusal is audited (sync.refused)"
    );
});

both!(bad_rows_are_reported_by_line_and_hold_their_people, |b| {
    let env = hr(b, "csv", "max_bad_rows_percent = 90.0");
    let rows = vec![
        row("E1", "Ana", "An"),
        row("E2", "Bo", "Bai"),
        row("E3", "Cy", "Chen"),
        row("E4", "Dee", "Du"),
    ];
    env.write(&csv(&rows));
    assert_eq!(env.run().status, RunStatus::Ok);

    let mut broken = rows.clone();
    broken[1].start = "2027-13-45".into(); // E2: line 3
    broken[3].tz = "Mars/Olympus"; // E4: line 5
    let mut text = csv(&broken);
    text.push_str(csv(&[row("", "No", "Id")]).lines().nth(1).unwrap()); // line 6
    text.push('\n');
    text.push_str(csv(&[row("E3", "Cy", "Again")]).lines().nth(1).unwrap()); // line 7
    text.push('\n');
    env.write(&text);
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    let lines: Vec<usize> = r.bad_rows.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7], "{:?}", r.bad_rows);
    assert!(r.bad_rows[0].error.contains("start_date"));
    assert!(
        r.bad_rows[1].error.contains("on 2 rows"),
        "{:?}",
        r.bad_rows[1]
    );
    assert!(r.bad_rows[2].error.contains("Mars/Olympus"));
    assert_eq!(r.bad_rows[3].error, "no employee id");
    for n in ["E1", "E2", "E3", "E4"] {
        assert_eq!(
            env.agent(n).status,
            Status::Active,
            "{n}: a skipped row is no leaver"
        );
    }
    let mut conn = env.pool.get().expect("conn");
    let stored: Option<String> = sync_runs::table
        .filter(sync_runs::id.eq(r.run_id))
        .select(sync_runs::bad_rows)
        .first(&mut conn)
        .expect("run");
    let stored: Vec<rollcall::sources::BadRow> =
        serde_json::from_str(&stored.expect("bad rows kept")).expect("json");
    assert_eq!(stored, r.bad_rows);
});
