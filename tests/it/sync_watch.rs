//! The watch (`watch = true`) against a real slapd when things go wrong or get busy: a long
//! outage of the directory (the watch resumes seconds after it is back, with one warning and
//! one note in the log), and a burst of group changes (gathered into at most two full runs,
//! while a leaver is still applied at once).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rollcall::domain::Status;
use rollcall::store::schema::sync_runs;
use tracing::instrument::WithSubscriber;

use crate::both;
use crate::slapd::BASE_DN;
use crate::sync_ldap::{Env, directory, env};

const WATCH: &str = "watch = true\n[sources.guard]\nmax_disable_percent = 50";

fn dn(uid: &str) -> String {
    format!("uid={uid},ou=people,{BASE_DN}")
}

use crate::harness::wait_until as wait_for;

/// What the watch logs, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    fn lines(&self, level: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(level))
            .map(str::to_owned)
            .collect()
    }
}

/// Starts the watch of `env`'s source on a runtime of its own, its log lines into `logs`.
fn start_watch(env: &Env, logs: &Logs) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    rt.spawn(
        rollcall::sync::watch::run(
            env.pool.clone(),
            Arc::new(rollcall::accounts::Accounts::new("agent", 30)),
            Arc::new(env.config.clone()),
            env.config.sources[0].clone(),
            || async { true },
        )
        .with_subscriber(subscriber),
    );
    rt
}

impl Env {
    /// (id, mode, trigger, status) of each run after run `after`.
    fn runs_after(&self, after: i64) -> Vec<(i64, String, String, String)> {
        let mut conn = self.pool.get().expect("conn");
        sync_runs::table
            .filter(sync_runs::id.gt(after))
            .order(sync_runs::id)
            .select((
                sync_runs::id,
                sync_runs::mode,
                sync_runs::trigger,
                sync_runs::status,
            ))
            .load(&mut conn)
            .expect("runs")
    }

    /// The run that made the agent's last change (from the audit entry's actor).
    fn last_run_of(&self, user: &str) -> i64 {
        let agent = self.agent(user);
        let last = self.audit(&agent).pop().expect("audit entry");
        last.0
            .rsplit('#')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("run id in the actor")
    }
}

both!(the_watch_resumes_within_seconds_after_a_long_outage, |b| {
    let mut slapd = directory(&["ana", "bob", "cy"]);
    let env = env(b, &slapd, WATCH);
    let logs = Logs::default();
    let rt = start_watch(&env, &logs);
    wait_for("everyone created", Duration::from_secs(30), || {
        env.agents().len() == 3
    });

    slapd.stop();
    // Long enough for pauses that double from 1 s to reach 8 s (1 + 2 + 4 + 8 s): such a
    // watch would next try 15 s after the stop, then 31 s after it.
    std::thread::sleep(Duration::from_secs(16));
    slapd.start_again();
    let back = Instant::now();
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", dn("cy")));
    wait_for("cy disabled", Duration::from_secs(30), || {
        env.agent("cy").status == Status::Suspended
    });
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the leaver was disabled {took:?} after the directory came back:\n{}",
        logs.text()
    );

    // One warning when the watch went blind, one note when it was back; nothing else above
    // debug level during the outage.
    let warnings = logs.lines(" WARN ");
    assert_eq!(warnings.len(), 1, "{}", logs.text());
    assert!(warnings[0].contains("blind"), "{}", warnings[0]);
    let back_lines: Vec<String> = logs
        .lines(" INFO ")
        .into_iter()
        .filter(|l| l.contains("the directory is back"))
        .collect();
    assert_eq!(back_lines.len(), 1, "{}", logs.text());
    let blind_s: f64 = back_lines[0]
        .split("blind_s=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .expect("blind_s in the line");
    assert!((15.0..25.0).contains(&blind_s), "{}", back_lines[0]);
    rt.shutdown_background();
});

both!(a_burst_of_group_changes_costs_at_most_two_full_runs, |b| {
    // leads: ana; vip: bob, cy, dee, eve.
    let slapd = directory(&["ana", "bob", "cy", "dee", "eve"]);
    let env = env(b, &slapd, WATCH);
    let logs = Logs::default();
    let rt = start_watch(&env, &logs);
    wait_for("everyone created", Duration::from_secs(30), || {
        env.agents().len() == 5
    });
    let before = env.runs_after(0).last().map_or(0, |r| r.0);

    let vip = format!("cn=vip,ou=groups,{BASE_DN}");
    let leads = format!("cn=leads,ou=groups,{BASE_DN}");
    let edit = |group: &str, op: &str, uid: &str| {
        slapd.modify_ldif(&format!(
            "dn: {group}\nchangetype: modify\n{op}: member\nmember: {}\n",
            dn(uid)
        ));
        std::thread::sleep(Duration::from_millis(50));
    };
    // 24 edits that take bob, cy and dee out of vip and back, eight times over; a leaver
    // half-way through.
    for round in 0..8 {
        let op = if round % 2 == 0 { "delete" } else { "add" };
        for uid in ["bob", "cy", "dee"] {
            edit(&vip, op, uid);
        }
        if round == 3 {
            slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", dn("eve")));
        }
    }
    edit(&vip, "add", "ana");
    edit(&leads, "add", "dee");
    let burst_ended = Instant::now();

    // The leaver did not wait for the group changes: a batch of the watch disabled her.
    wait_for("eve disabled", Duration::from_secs(30), || {
        env.agent("eve").status == Status::Suspended
    });
    let runs = env.runs_after(before);
    let eve_run = env.last_run_of("eve");
    let full_runs = |runs: &[(i64, String, String, String)]| -> Vec<i64> {
        runs.iter()
            .filter(|r| r.1 == "full" && r.2 == "watch")
            .map(|r| r.0)
            .collect()
    };
    let eve = runs.iter().find(|r| r.0 == eve_run).expect("eve's run");
    assert_eq!((eve.1.as_str(), eve.2.as_str()), ("incremental", "watch"));

    // What the rules make of the final memberships.
    let expected = |user: &str| -> (&str, Vec<String>) {
        match user {
            "ana" | "dee" => ("team_lead", vec!["vip".to_owned()]),
            _ => ("agent", vec!["vip".to_owned()]),
        }
    };
    wait_for(
        "the final memberships applied",
        Duration::from_secs(30),
        || {
            env.agents()
                .iter()
                .filter(|a| a.status == Status::Active)
                .all(|a| {
                    let (role, skills) = expected(&a.profile.user_name);
                    a.role == role && a.profile.skill_groups == skills
                })
        },
    );
    // Long enough for a second full run, due at most 15 s after the first started.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(burst_ended.elapsed()));
    wait_for("no run in progress", Duration::from_secs(30), || {
        env.runs_after(before).iter().all(|r| r.3 != "running")
    });
    let runs = env.runs_after(before);
    let full = full_runs(&runs);
    assert!(
        (1..=2).contains(&full.len()),
        "26 group changes started {} full runs: {runs:?}\n{}",
        full.len(),
        logs.text()
    );
    assert!(runs.iter().all(|r| r.3 == "ok"), "{runs:?}");
    let active: Vec<String> = env
        .agents()
        .into_iter()
        .filter(|a| a.status == Status::Active)
        .map(|a| a.profile.user_name)
        .collect();
    assert_eq!(active, ["ana", "bob", "cy", "dee"]);
    for a in env.agents().iter().filter(|a| a.status == Status::Active) {
        let (role, skills) = expected(&a.profile.user_name);
        assert_eq!((a.role.as_str(), &a.profile.skill_groups), (role, &skills));
    }
    rt.shutdown_background();
});

both!(
    groups_changed_while_no_watch_was_open_call_for_a_full_run,
    |b| {
        let slapd = directory(&["ana", "bob"]);
        let env = env(b, &slapd, WATCH);
        let logs = Logs::default();
        let rt = start_watch(&env, &logs);
        wait_for("everyone created", Duration::from_secs(30), || {
            env.agents().len() == 2
        });
        rt.shutdown_background();
        let before = env.runs_after(0).last().map_or(0, |r| r.0);

        // While no watch is open, bob joins the leads: the group search of the next watch
        // starts afresh and does not report it.
        slapd.modify_ldif(&format!(
            "dn: cn=leads,ou=groups,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {}\n",
            dn("bob")
        ));
        let rt = start_watch(&env, &logs);
        wait_for("a full run of the watch", Duration::from_secs(30), || {
            env.runs_after(before)
                .iter()
                .any(|r| (r.1.as_str(), r.2.as_str(), r.3.as_str()) == ("full", "watch", "ok"))
        });
        assert_eq!(env.agent("bob").role, "team_lead");
        rt.shutdown_background();
    }
);
