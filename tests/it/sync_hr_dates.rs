//! HR sources' moments and reports: the lifecycle timers at an injected `now`, terminations
//! falling due in the running daemon and while it is stopped, and `rollcall report`.

use chrono::{Duration, Utc};
use rollcall::domain::{Agent, Status};
use rollcall::store::agents::{SourceFilter, by_source};
use rollcall::sync::RunStatus;

use crate::both;
use crate::harness::TestDb;
use crate::sync_hr::{FIELDS, csv, day, hr, now, row, team};

both!(timers_apply_each_due_moment_once, |b| {
    let env = hr(b, "csv", "");
    env.write(&csv(&team()));
    assert_eq!(env.run().status, RunStatus::Ok);
    let accounts = rollcall::accounts::Accounts::from_config(&env.config);
    let activating = rollcall::sync::timers::activating_sources(&env.config);
    let mut conn = env.pool.get().expect("conn");
    let apply = |conn: &mut rollcall::store::DbConn, days: i64| {
        rollcall::sync::timers::apply_due(
            conn,
            &accounts,
            &activating,
            now() + Duration::days(days),
        )
        .expect("timers")
    };
    let next = rollcall::sync::timers::next_due(&mut conn)
        .expect("next")
        .expect("a moment");
    assert!(next > now() && next < now() + Duration::days(7), "{next}");
    let t = apply(&mut conn, 1);
    assert_eq!(t.acted(), 0, "nothing due yet");
    let t = apply(&mut conn, 7);
    assert_eq!((t.disabled, t.activated), (1, 0), "{t:?}");
    let fay = env.agent("E6");
    assert_eq!(fay.status, Status::Suspended);
    assert!(fay.sessions_revoked_at.is_some());
    let audit = env.audit(&fay);
    let last = audit.last().unwrap();
    assert_eq!(last.0, "lifecycle:hr:people");
    assert_eq!(last.1, "agent.disable");
    assert_eq!(apply(&mut conn, 7).acted(), 0, "a moment is acted on once");
    let t = apply(&mut conn, 11);
    assert_eq!(t.activated, 1, "{t:?}");
    assert_eq!(env.agent("E3").status, Status::Active);
    assert_eq!(apply(&mut conn, 11).acted(), 0);
});

/// The agent with employee number `number` in the database at `url`.
/// Writes a daemon's configuration in `dir` for the HR source `people` reading `export`
/// (`source_extra`: more lines of its `[[sources]]`), runs `rollcall sync people` once, and
/// opens a pool on the database.
fn synced_once(
    db: &TestDb,
    dir: &std::path::Path,
    export: &std::path::Path,
    source_extra: &str,
) -> (std::path::PathBuf, rollcall::store::Pool) {
    let config = dir.join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\npool_size = 4\n[server]\nworkers = 1\n[log]\nlevel = \"info\"\n\
             [[sources]]\nname = \"people\"\nkind = \"hr\"\nschedule = \"0 0 0 1 1 *\"\n{source_extra}\
             [sources.hr]\npath = \"{}\"\n{FIELDS}",
            db.url,
            export.display()
        ),
    )
    .expect("config");
    let sync = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&config)
        .args(["sync", "people"])
        .output()
        .expect("rollcall sync");
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let pool = rollcall::store::pool(&rollcall::store::Target::parse(&db.url).expect("url"), 2)
        .expect("pool");
    (config, pool)
}

fn stored_agent(pool: &rollcall::store::Pool, number: &str) -> Agent {
    let mut conn = pool.get().expect("conn");
    by_source(&mut conn, SourceFilter::Is("hr:people"))
        .expect("agents")
        .into_iter()
        .map(|(a, _)| a)
        .find(|a| a.profile.employee_number.as_deref() == Some(number))
        .unwrap_or_else(|| panic!("no agent {number}"))
}

both!(
    terminations_fall_due_in_the_daemon_and_while_it_is_stopped,
    |b| {
        use std::time::{Duration as Wait, Instant};
        let db = TestDb::new(b);
        let dir = tempfile::tempdir().expect("dir");
        let export = dir.path().join("export.csv");
        let moment = |secs: i64| (Utc::now() + Duration::seconds(secs)).to_rfc3339();
        let soon = moment(5);
        let later = moment(16);
        let mut rows = vec![
            row("E1", "Ana", "An"),
            row("E2", "Bo", "Bai"),
            row("E3", "Cy", "Chen"),
        ];
        rows[1].status = "Terminated";
        rows[1].term = soon.clone();
        rows[2].status = "Terminated";
        rows[2].term = later.clone();
        std::fs::write(&export, csv(&rows)).expect("export");
        let (config, pool) = synced_once(&db, dir.path(), &export, "");
        assert_eq!(
            stored_agent(&pool, "E2").status,
            Status::Active,
            "works until {soon}"
        );

        // In the running daemon: disabled within seconds of the moment, no sync needed.
        let daemon = crate::concurrency_nodes::daemon(&config, &dir.path().join("one.log"));
        crate::harness::wait_until("E2 disabled at its moment", Wait::from_secs(60), || {
            stored_agent(&pool, "E2").status == Status::Suspended
        });
        let due = chrono::DateTime::parse_from_rfc3339(&soon).expect("moment");
        let late = Utc::now().signed_duration_since(due);
        eprintln!(
            "termination applied {} ms after its moment",
            late.num_milliseconds()
        );
        let bo = stored_agent(&pool, "E2");
        assert!(bo.sessions_revoked_at.is_some());
        let mut conn = pool.get().expect("conn");
        let last = rollcall::audit::for_target(&mut conn, &bo.id)
            .expect("audit")
            .pop()
            .expect("entry");
        assert_eq!(
            (last.actor.as_str(), last.action.as_str()),
            ("lifecycle:hr:people", "agent.disable")
        );
        assert!(
            last.reason.as_deref().unwrap().contains("termination date"),
            "{last:?}"
        );

        // Stopped across E3's moment: applied when the daemon starts again.
        drop(daemon);
        let due = chrono::DateTime::parse_from_rfc3339(&later).expect("moment");
        while Utc::now() < due + Duration::seconds(1) {
            std::thread::sleep(Wait::from_millis(200));
        }
        assert_eq!(
            stored_agent(&pool, "E3").status,
            Status::Active,
            "nobody was running"
        );
        let started = Instant::now();
        let _daemon = crate::concurrency_nodes::daemon(&config, &dir.path().join("two.log"));
        crate::harness::wait_until("E3 disabled at start-up", Wait::from_secs(30), || {
            stored_agent(&pool, "E3").status == Status::Suspended
        });
        eprintln!(
            "a moment missed while stopped applied {} ms after the start",
            started.elapsed().as_millis()
        );
        assert_eq!(stored_agent(&pool, "E1").status, Status::Active);
    }
);

both!(
    reports_name_leavers_joiners_and_orphans_and_what_they_rest_on,
    |b| {
        let env = hr(b, "csv", "");
        env.write(&csv(&team()));
        let first = env.run();
        assert_eq!(first.status, RunStatus::Ok);
        let mut rows = team();
        let i = rows.iter().position(|r| r.id == "E6").unwrap();
        rows[i].status = "Terminated";
        rows[i].last = String::new();
        rows[i].term = day(-2);
        env.write(&csv(&rows));
        let r = env.run();
        assert_eq!(r.status, RunStatus::Ok, "{r:?}");
        assert_eq!(env.agent("E6").status, Status::Suspended);
        // An agent made by hand, known to no source.
        let accounts = rollcall::accounts::Accounts::from_config(&env.config);
        crate::harness::add_agent(&env.pool, &accounts, "cli:root", "admin", "temp.helper");

        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("rollcall.toml");
        std::fs::write(&config, &env.text).expect("config");
        let report = |args: &[&str]| -> String {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
                .arg("--config")
                .arg(&config)
                .arg("report")
                .args(args)
                .output()
                .expect("rollcall report");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        };
        let json = |args: &[&str]| -> serde_json::Value {
            serde_json::from_str(&report(args)).expect("json")
        };

        let leavers = json(&["leavers", "--days", "7", "--json"]);
        let rows = leavers["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{leavers:#}");
        assert_eq!(rows[0]["employeeNumber"], "E6");
        assert_eq!(
            rows[0]["withinTarget"], "NO",
            "disabled a day late: {leavers:#}"
        );
        assert!(rows[0]["asStated"].as_str().unwrap().contains(&day(-2)));
        let basis = &leavers["basis"][0];
        assert_eq!(basis["source"], "people");
        assert_eq!(basis["runId"], r.run_id);
        assert_eq!(
            basis["snapshotDigest"].as_str(),
            r.snapshot_digest.as_deref()
        );
        assert_eq!(basis["records"], 7);

        let upcoming = json(&["upcoming", "--days", "14", "--json"]);
        let kinds: Vec<(&str, &str)> = upcoming["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap(),
                    r["employeeNumber"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(kinds, [("joiner", "E3")], "{upcoming:#}");

        let orphans = json(&["orphans", "--json"]);
        let why: Vec<&str> = orphans["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["why"].as_str().unwrap())
            .collect();
        assert_eq!(
            why,
            ["made by admin; unknown to every source"],
            "{orphans:#}"
        );

        let csv_out = report(&["leavers", "--days", "7", "--csv"]);
        assert!(
            csv_out.starts_with("\u{feff}agent,employeeNumber,source,leftAt"),
            "{csv_out}"
        );
        let table = report(&["leavers", "--days", "7"]);
        assert!(
            table.contains(&format!("rests on people run {}", r.run_id)),
            "{table}"
        );

        // A newer run refused (an empty export): the reports still rest on the applied run,
        // and say that a newer one changed nothing.
        env.write("");
        let refused = env.run();
        assert_eq!(refused.status, RunStatus::Refused);
        let basis = json(&["orphans", "--json"])["basis"][0].clone();
        assert_eq!(basis["runId"], r.run_id, "{basis:#}");
        assert_eq!(basis["notApplied"]["runId"], refused.run_id, "{basis:#}");
        assert_eq!(basis["notApplied"]["status"], "refused");
        let table = report(&["orphans"]);
        assert!(
            table.contains(&format!("the newer people run {} (", refused.run_id))
                && table.contains("was refused and changed nothing"),
            "{table}"
        );

        // HR terminates three of the five people at once: the guard refuses the run, so
        // Ana and Bo stay active; the orphans report lists them, held by that run.
        let mut rows = team();
        rows[i].status = "Terminated";
        rows[i].last = String::new();
        rows[i].term = day(-2);
        for n in ["E1", "E2", "E3"] {
            let r = rows.iter_mut().find(|r| r.id == n).unwrap();
            r.status = "Terminated";
            r.term = day(-1);
        }
        env.write(&csv(&rows));
        let guarded = env.run();
        assert_eq!(guarded.status, RunStatus::Refused, "{guarded:?}");
        assert_eq!(env.agent("E1").status, Status::Active);
        let orphans = json(&["orphans", "--json"]);
        let held: Vec<(&str, &str)> = orphans["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["employeeNumber"].as_str().unwrap(),
                    r["why"].as_str().unwrap(),
                )
            })
            .filter(|(_, why)| why.contains("held: the guard refused that run"))
            .collect();
        let numbers: Vec<&str> = held.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, ["E1", "E2"], "{orphans:#}");
        assert!(
            held[0]
                .1
                .contains(&format!("at people run {}", guarded.run_id)),
            "{orphans:#}"
        );
    }
);

both!(a_change_dated_ahead_is_applied_on_its_date, |b| {
    let env = crate::sync_hr::hr_with(b, "csv", "", r#"effective_date = "Effective Date""#);
    let head = "Employee ID,First Name,Last Name,Work Email,Department,Job Title,Manager ID,\
                Status,Hire Date,Last Day,Termination Date,Termination Reason,Time Zone,\
                Effective Date";
    let start = day(-400);
    // Ana moves to 售后 as a lead in ten days; the row in force says 售前. Bo has one row.
    let text = format!(
        "{head}\n\
         E1,Ana,Lin,ana@example.com,售后,Lead,,Active,{start},,,,,{ahead}\n\
         E1,Ana,Lin,ana@example.com,售前,Agent,,Active,{start},,,,,{past}\n\
         E1,Ana,Lin,ana@example.com,售前,Trainee,,Active,{start},,,,,{older}\n\
         E2,Bo,Wu,bo@example.com,售前,Agent,,Active,{start},,,,,\n",
        ahead = day(10),
        past = day(-30),
        older = day(-300),
    );
    env.write(&text);
    let first = env.run();
    assert_eq!(first.status, RunStatus::Ok);
    assert!(first.bad_rows.is_empty(), "{:?}", first.bad_rows);
    assert_eq!(first.plan.count("create"), 2);
    let ana = env.agent("E1");
    assert_eq!(ana.profile.department.as_deref(), Some("售前"));
    assert_eq!(
        ana.profile.title.as_deref(),
        Some("Agent"),
        "the latest row in force"
    );

    // The same export is not planned again before the change's date…
    assert_eq!(env.run().method, "unchanged");
    let eve = now() + Duration::days(8);
    assert!(env.run_with(true, Some(eve)).plan.changes.is_empty());
    // …and on it, the move is what the plan does.
    let on_the_day = now() + Duration::days(11);
    let planned = env.run_with(true, Some(on_the_day));
    match &planned.plan.changes[..] {
        [rollcall::sync::plan::Change::Update { fields, .. }] => {
            // The nickname is `{department}-{family_name}{given_name}`.
            assert_eq!(fields, &["nickName", "title", "department"]);
        }
        other => panic!("{other:?}"),
    }
    let applied = env.run_with(false, Some(on_the_day));
    assert_eq!(applied.plan.count("update"), 1);
    let ana = env.agent("E1");
    assert_eq!(ana.profile.department.as_deref(), Some("售后"));
    assert_eq!(ana.profile.title.as_deref(), Some("Lead"));
    assert_eq!(ana.profile.nickname.as_deref(), Some("售后-LinAna"));
    assert_eq!(env.agent("E2").profile.department.as_deref(), Some("售前"));
});

both!(
    a_rehire_can_get_a_new_agent_the_old_one_kept_disabled,
    |b| {
        let env = hr(b, "csv", r#"rehire = "new_agent""#);
        let mut ana = row("E1", "Ana", "Lin");
        let bo = row("E2", "Bo", "Wu");
        env.write(&csv(&[ana.clone(), bo.clone()]));
        assert_eq!(env.run().plan.count("create"), 2);
        let first = env.agent("E1");
        ana.status = "Terminated";
        ana.term = day(-20);
        ana.why = "Resignation";
        env.write(&csv(&[ana.clone(), bo.clone()]));
        assert_eq!(env.run().plan.count("disable"), 1);

        // Back, hired again from yesterday.
        ana.status = "Active";
        ana.start = day(-1);
        ana.term = String::new();
        ana.why = "";
        env.write(&csv(&[ana.clone(), bo.clone()]));
        let back = env.run();
        assert_eq!(back.status, RunStatus::Ok);
        assert_eq!(
            (back.plan.count("release"), back.plan.count("create")),
            (1, 1),
            "{:?}",
            back.plan.changes
        );
        assert!(back.failures.is_empty(), "{:?}", back.failures);
        let new = env.agent("E1");
        assert_ne!(new.id, first.id, "a new agent");
        assert_eq!(new.status, Status::Active);
        assert_eq!(new.profile.user_name, "ana@example.com");
        let audit = env.audit(&new);
        let reason = audit[0].2.as_deref().unwrap_or_default();
        assert!(
            reason.contains(&format!("earlier agent {}", first.id)),
            "{reason}"
        );

        let old = env
            .agents()
            .into_iter()
            .find(|a| a.id == first.id)
            .expect("the old agent is kept");
        assert_eq!(old.status, Status::Suspended, "kept disabled");
        assert!(old.profile.user_name.starts_with("ana@example.com.left-"));
        assert_eq!(old.profile.employee_number, None);
        assert!(env.audit(&old).iter().any(|e| e.1 == "agent.release"));

        // Settled: the same export read again plans nothing, and the old agent is no leaver.
        let again = env.run_forced();
        assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
    }
);

/// Two nodes on one PostgreSQL when many moments fall due at once: each is acted on once.
#[test]
fn two_nodes_act_on_each_moment_once() {
    use std::time::Duration as Wait;
    let db = TestDb::new(crate::harness::Backend::Postgres);
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export.csv");
    let at = (Utc::now() + Duration::seconds(8)).to_rfc3339();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut rows = Vec::new();
    for i in 0..300 {
        let mut r = row(leak(format!("L{i}")), leak(format!("Leaver{i}")), "Li");
        r.status = "Terminated";
        r.term = at.clone();
        rows.push(r);
    }
    for i in 0..30 {
        let mut r = row(leak(format!("S{i}")), leak(format!("Starter{i}")), "Su");
        r.start = at.clone();
        rows.push(r);
    }
    std::fs::write(&export, csv(&rows)).expect("export");
    let guard = "guard = { max_disable_percent = 100.0 }\n";
    let (config, pool) = synced_once(&db, dir.path(), &export, guard);
    let _one = crate::concurrency_nodes::daemon(&config, &dir.path().join("one.log"));
    let _two = crate::concurrency_nodes::daemon(&config, &dir.path().join("two.log"));
    let count = |action: &str| -> i64 {
        use diesel::prelude::*;
        use rollcall::store::schema::audit_log;
        let mut conn = pool.get().expect("conn");
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::actor.eq("lifecycle:hr:people"))
            .count()
            .get_result(&mut conn)
            .expect("count")
    };
    crate::harness::wait_until("every moment acted on", Wait::from_secs(60), || {
        count("agent.disable") == 300 && count("agent.approve") == 30
    });
    // A little longer: a second node acting again would show now.
    std::thread::sleep(Wait::from_secs(3));
    assert_eq!(count("agent.disable"), 300, "each leaver disabled once");
    assert_eq!(count("agent.approve"), 30, "each starter activated once");
    assert_eq!(stored_agent(&pool, "L7").status, Status::Suspended);
    assert_eq!(stored_agent(&pool, "S7").status, Status::Active);
}

both!(timers_killed_between_chunks_finish_the_rest_once, |b| {
    use std::time::Duration as Wait;
    let db = TestDb::new(b);
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export.csv");
    let at = (Utc::now() + Duration::seconds(6)).to_rfc3339();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let rows: Vec<_> = (0..1200)
        .map(|i| {
            let mut r = row(leak(format!("K{i}")), leak(format!("Kim{i}")), "Ko");
            r.status = "Terminated";
            r.term = at.clone();
            r
        })
        .collect();
    std::fs::write(&export, csv(&rows)).expect("export");
    let guard = "guard = { max_disable_percent = 100.0 }\n";
    let (config, pool) = synced_once(&db, dir.path(), &export, guard);
    let count = || -> i64 {
        use diesel::prelude::*;
        use rollcall::store::schema::audit_log;
        let mut conn = pool.get().expect("conn");
        audit_log::table
            .filter(audit_log::action.eq("agent.disable"))
            .count()
            .get_result(&mut conn)
            .expect("count")
    };

    // SIGKILL once the first 500 leavers are written.
    let log = dir.path().join("paused.log");
    let mut paused = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env(
            "ROLLCALL_SERVER_LISTEN",
            format!("127.0.0.1:{}", crate::harness::free_port()),
        )
        .env("ROLLCALL_PAUSE_AT", "timers.applied_chunk")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    crate::harness::wait_until(
        "the timers paused after a chunk",
        Wait::from_secs(60),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("paused at timers.applied_chunk")
        },
    );
    paused.kill().expect("SIGKILL");
    let _ = paused.wait();
    assert_eq!(count(), 500, "the chunk written stays written");

    // The next start does the rest, and nobody twice.
    let _daemon = crate::concurrency_nodes::daemon(&config, &dir.path().join("after.log"));
    crate::harness::wait_until("every leaver disabled", Wait::from_secs(60), || {
        count() >= 1200
    });
    std::thread::sleep(Wait::from_secs(2));
    assert_eq!(count(), 1200, "each leaver disabled once");
    assert_eq!(stored_agent(&pool, "K1199").status, Status::Suspended);
});
