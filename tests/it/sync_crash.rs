//! Crashes and races around sync runs, with the real binary against a real slapd: a
//! `rollcall sync` or `rollcall serve` killed (SIGKILL) at known points of a run
//! (`ROLLCALL_PAUSE_AT`), followed at once by a run that completes and converges to what an
//! uninterrupted run makes; several syncs of one source started at once; the leader of three
//! `serve` nodes on one PostgreSQL killed in the middle of a run.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rollcall::store::schema::{agents, sync_runs};

use crate::both;
use crate::harness::{Backend, TestDb, free_port};
use crate::slapd::{BASE_DN, Slapd};
use crate::sync_ldap::{ORG, group, person, source_toml};

/// People in the test directory: more than two apply chunks (500 changes each).
const PEOPLE: usize = 1_200;

fn uid(i: usize) -> String {
    format!("p{i:05}")
}

/// A directory of `PEOPLE` people; the first leads.
fn big_directory() -> Slapd {
    let slapd = Slapd::start();
    let mut ldif = ORG.to_owned();
    ldif.push('\n');
    for i in 0..PEOPLE {
        ldif.push_str(&person(&uid(i), ""));
    }
    ldif.push_str(&group("leads", &[&uid(0)]));
    slapd.add_ldif(&ldif);
    slapd
}

/// Gives everyone a new title: an update run of `PEOPLE` changes.
fn retitle(slapd: &Slapd, title: &str) {
    let mut ldif = String::new();
    for i in 0..PEOPLE {
        ldif.push_str(&format!(
            "dn: uid={},ou=people,{BASE_DN}\nchangetype: modify\nreplace: title\ntitle: {title}\n\n",
            uid(i)
        ));
    }
    slapd.modify_ldif(&ldif);
}

/// A database and a configuration file naming it and the directory.
struct Site {
    db: TestDb,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Site {
    fn new(backend: Backend, slapd: &Slapd, schedule: &str) -> Site {
        let db = TestDb::new(backend);
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("rollcall.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{}\"\n[log]\nlevel = \"info\"\n{}",
                db.url,
                source_toml(slapd, schedule)
            ),
        )
        .expect("write config");
        Site {
            db,
            _dir: dir,
            config,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("ROLLCALL_PAUSE_AT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// `n` runs of `rollcall sync corp` started at once, their stderr piped.
    fn syncs(&self, n: usize) -> Vec<Child> {
        (0..n)
            .map(|_| {
                self.command(&["sync", "corp"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect()
    }

    /// `rollcall serve` on `listen`; with `pause`, returned once it has paused there.
    fn serve(&self, listen: &str, pause: Option<&str>) -> Child {
        let mut cmd = self.command(&["serve"]);
        cmd.env("ROLLCALL_SERVER_LISTEN", listen)
            .stdout(Stdio::null());
        match pause {
            Some(point) => {
                cmd.env("ROLLCALL_PAUSE_AT", point).stderr(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn");
                wait_paused(&mut child, point);
                child
            }
            None => cmd.stderr(Stdio::null()).spawn().expect("spawn"),
        }
    }

    fn sync(&self) -> Output {
        self.command(&["sync", "corp"])
            .output()
            .expect("run rollcall")
    }

    /// Starts `args` with `ROLLCALL_PAUSE_AT=point` and returns once it has paused there.
    fn paused(&self, args: &[&str], point: &str) -> Child {
        let mut cmd = self.command(args);
        cmd.env("ROLLCALL_PAUSE_AT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rollcall");
        wait_paused(&mut child, point);
        child
    }

    fn conn(&self) -> rollcall::store::DbConn {
        let target = rollcall::store::Target::parse(&self.db.url).expect("url");
        rollcall::store::connect(&target).expect("connect")
    }

    /// What the agents are, without ids and times: the rows two runs must agree on.
    fn dump(&self) -> Vec<String> {
        type Row = (String, String, Option<String>, Option<String>, String);
        let rows: Vec<Row> = agents::table
            .select((
                agents::user_name,
                agents::status,
                agents::display_name,
                agents::title,
                agents::role,
            ))
            .order(agents::user_name)
            .load(&mut self.conn())
            .expect("agents");
        rows.into_iter().map(|r| format!("{r:?}")).collect()
    }

    /// (id, status, error, created, updated) of every run, oldest first.
    fn runs(&self) -> Vec<(i64, String, Option<String>, i32, i32)> {
        sync_runs::table
            .select((
                sync_runs::id,
                sync_runs::status,
                sync_runs::error,
                sync_runs::created,
                sync_runs::updated,
            ))
            .order(sync_runs::id)
            .load(&mut self.conn())
            .expect("runs")
    }

    fn assert_converged(&self, expected: &[String]) {
        let found = self.dump();
        assert_eq!(found.len(), expected.len(), "agents");
        assert!(
            found == expected,
            "the agents differ from an uninterrupted run"
        );
        match rollcall::audit::verify(&mut self.conn()).expect("verify") {
            rollcall::audit::Verdict::Intact { .. } => {}
            broken => panic!("audit log: {broken:?}"),
        }
        let running = self.runs().into_iter().filter(|r| r.1 == "running").count();
        assert_eq!(running, 0, "runs left running: {:?}", self.runs());
    }
}

/// Reads `child`'s stderr until it says it paused at `point` (60 s at most).
fn wait_paused(child: &mut Child, point: &str) {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let name = point.split('#').next().unwrap_or(point);
    let marker = format!("paused at {name}");
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = tx.send(Ok(()));
                // Keep draining, so the process never blocks on a full pipe.
                continue;
            }
            said.push_str(&line);
            said.push('\n');
        }
        let _ = tx.send(Err(said));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => {}
        Ok(Err(said)) => panic!("rollcall ended before pausing at {point}:\n{said}"),
        Err(_) => {
            let _ = child.kill();
            panic!("rollcall did not reach {point} within 60 s");
        }
    }
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "rollcall sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What an uninterrupted first run of `slapd` makes.
fn reference(backend: Backend, slapd: &Slapd) -> Vec<String> {
    let site = Site::new(backend, slapd, "0 0 * * * *");
    assert_ok(&site.sync());
    site.dump()
}

both!(
    a_sync_killed_at_any_point_is_followed_by_one_that_converges,
    |b| {
        let slapd = big_directory();
        let expected = reference(b, &slapd);
        assert_eq!(expected.len(), PEOPLE);
        // A first run: killed while reading, part-way through writing (one transaction: nothing
        // is kept), and just after its commit.
        for point in ["sync.reading", "sync.applied_chunk", "sync.committed"] {
            let site = Site::new(b, &slapd, "0 0 * * * *");
            let started = Instant::now();
            kill(site.paused(&["sync", "corp"], point));
            let killed = site.runs();
            let after = site.sync();
            assert_ok(&after);
            eprintln!("{point}: killed, converged {:?} later", started.elapsed());
            site.assert_converged(&expected);
            let runs = site.runs();
            assert_eq!(runs.len(), 2, "{runs:?}");
            if point == "sync.committed" {
                // Recorded in the transaction that created the agents.
                assert_eq!(killed[0].1, "ok", "{killed:?}");
                assert_eq!(killed[0].3 as usize, PEOPLE, "{killed:?}");
            } else {
                assert_eq!(killed[0].1, "running", "{killed:?}");
                assert_eq!(runs[0].1, "failed", "{runs:?}");
                let error = runs[0].2.as_deref().unwrap_or("");
                assert!(error.starts_with("interrupted: pid "), "{error}");
                assert_eq!(runs[1].3 as usize, PEOPLE, "{runs:?}");
            }
            assert_eq!(runs[1].1, "ok", "{runs:?}");
        }

        // An update run of every person, killed between two apply chunks: the chunks written
        // stay written and say so; the next run does the rest.
        let site = Site::new(b, &slapd, "0 0 * * * *");
        assert_ok(&site.sync());
        retitle(&slapd, "Senior Agent");
        let expected = reference(b, &slapd);
        kill(site.paused(&["sync", "corp"], "sync.applied_chunk#1"));
        let killed = site.runs().pop().expect("run");
        assert_eq!(killed.1, "running");
        assert_eq!(killed.4, 500, "the first chunk is recorded: {killed:?}");
        assert_ok(&site.sync());
        site.assert_converged(&expected);
        let last = site.runs().pop().expect("run");
        assert_eq!((last.1.as_str(), last.4 as usize), ("ok", PEOPLE - 500));
    }
);

both!(
    syncs_of_one_source_started_together_run_one_at_a_time,
    |b| {
        let slapd = big_directory();
        let site = Site::new(b, &slapd, "0 0 * * * *");
        // One run holds the source (paused while reading); five more are told so at once.
        let holder = site.paused(&["sync", "corp"], "sync.reading");
        let others = site.syncs(5);
        for child in others {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(out.status.code(), Some(75), "busy is exit status 75");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("a run of corp is already in progress (run 1, started")
                    && err.contains(" by pid "),
                "{err}"
            );
        }
        kill(holder);
        // Six at once, for real: each either runs or is told so; runs never overlap.
        let racers = site.syncs(6);
        let codes: Vec<Option<i32>> = racers
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait").status.code())
            .collect();
        assert!(codes.iter().all(|c| matches!(c, Some(0 | 75))), "{codes:?}");
        assert!(codes.contains(&Some(0)), "{codes:?}");
        let runs = site.runs();
        let ran = runs.iter().filter(|r| r.1 == "ok").count();
        assert_eq!(
            ran,
            codes.iter().filter(|c| **c == Some(0)).count(),
            "{runs:?}"
        );
        assert!(
            runs.iter().all(|r| r.1 == "ok" || r.1 == "failed"),
            "{runs:?}"
        );
        let started: Vec<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = sync_runs::table
            .filter(sync_runs::status.eq("ok"))
            .select((sync_runs::started_at, sync_runs::finished_at))
            .order(sync_runs::started_at)
            .load(&mut site.conn())
            .expect("runs");
        for pair in started.windows(2) {
            assert!(
                pair[0].1.is_some_and(|end| end <= pair[1].0),
                "overlap: {pair:?}"
            );
        }
        assert_eq!(site.dump(), reference(b, &slapd));
    }
);

both!(
    serve_killed_during_a_scheduled_run_runs_again_at_its_next_tick,
    |b| {
        let slapd = big_directory();
        let expected = reference(b, &slapd);
        let site = Site::new(b, &slapd, "*/2 * * * * *");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        kill(site.serve(&listen, Some("sync.applied_chunk")));
        let started = Instant::now();
        let mut again = site.serve(&listen, None);
        wait_until("a scheduled run completes after the restart", || {
            site.runs().iter().any(|r| r.1 == "ok")
        });
        eprintln!(
            "serve restarted: a run completed {:?} later",
            started.elapsed()
        );
        kill_quietly(&mut again);
        // The restarted daemon may have been killed in a later run: the next run tidies up.
        assert_ok(&site.sync());
        site.assert_converged(&expected);
        let runs = site.runs();
        assert_eq!(runs[0].1, "failed", "{runs:?}");
        assert!(
            runs[0]
                .2
                .as_deref()
                .unwrap_or("")
                .starts_with("interrupted")
        );
    }
);

#[test]
fn the_leader_of_three_nodes_killed_mid_run_hands_over() {
    let slapd = big_directory();
    let expected = reference(Backend::Postgres, &slapd);
    let site = Site::new(Backend::Postgres, &slapd, "*/2 * * * * *");
    let node = |pause: Option<&str>| site.serve(&format!("127.0.0.1:{}", free_port()), pause);
    // The first node is the leader (nobody else is there yet); it stops in the middle of
    // writing the first run. Two more nodes join, then the leader dies.
    let leader = node(Some("sync.applied_chunk"));
    let mut followers = [node(None), node(None)];
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        site.runs().iter().all(|r| r.1 == "running"),
        "{:?}",
        site.runs()
    );
    let started = Instant::now();
    kill(leader);
    wait_until("another node completes a run", || {
        site.runs().iter().any(|r| r.1 == "ok")
    });
    eprintln!(
        "leader killed: a run completed {:?} later",
        started.elapsed()
    );
    for f in &mut followers {
        kill_quietly(f);
    }
    // A follower may have been killed in a run of its own: the next run tidies that up.
    assert_ok(&site.sync());
    site.assert_converged(&expected);
    let runs = site.runs();
    assert_eq!(runs[0].1, "failed", "{runs:?}");
}

fn kill_quietly(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until `done` holds, for at most 60 s (a deadline for a broken hand-over, not a
/// measurement).
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    crate::harness::wait_until(what, Duration::from_secs(60), done);
}

both!(the_run_record_knows_one_running_run_per_source, |b| {
    use rollcall::sync::{RunOptions, begin, lock};
    let db = TestDb::new(b);
    let pool = rollcall::server::open_store(&db.config()).expect("store");
    let mut conn = pool.get().expect("conn");
    let now = rollcall::store::now();
    let full = RunOptions::unattended(false, "cli");
    let dry = RunOptions {
        dry_run: true,
        ..full
    };
    // A run whose process died (as the run lock would tell): the next applying run, which
    // holds the lock, marks it interrupted and gets an id of its own.
    let dead = begin(&mut conn, "corp", full, "elsewhere/boot/7", now).expect("begin");
    let next = begin(&mut conn, "corp", full, &lock::this_owner(), now).expect("begin");
    assert!(next > dead);
    let status = |conn: &mut rollcall::store::DbConn, id: i64| -> (String, Option<String>) {
        sync_runs::table
            .filter(sync_runs::id.eq(id))
            .select((sync_runs::status, sync_runs::error))
            .first(conn)
            .expect("run")
    };
    let (s, e) = status(&mut conn, dead);
    assert_eq!(s, "failed");
    assert_eq!(
        e.as_deref(),
        Some(
            format!(
                "interrupted: pid 7 on elsewhere stopped before the run finished (found at {} UTC)",
                now.format("%Y-%m-%d %H:%M:%S")
            )
            .as_str()
        )
    );
    // The database itself refuses a second applying run of one source.
    let second = diesel::insert_into(sync_runs::table)
        .values((
            sync_runs::source.eq("corp"),
            sync_runs::mode.eq("full"),
            sync_runs::status.eq("running"),
            sync_runs::trigger.eq("cli"),
            sync_runs::started_at.eq(now),
        ))
        .execute(&mut conn);
    assert!(second.is_err(), "a second running run was accepted");
    // Dry runs neither block nor are blocked; one whose process (of this machine) is gone is
    // marked interrupted by the next run, a live one is left alone.
    let gone = format!(
        "{}/{}",
        lock::this_owner().rsplit_once('/').expect("owner").0,
        u32::MAX
    );
    let dry_dead = begin(&mut conn, "corp", dry, &gone, now).expect("dry");
    let dry_live = begin(&mut conn, "corp", dry, &lock::this_owner(), now).expect("dry");
    begin(&mut conn, "corp", dry, &lock::this_owner(), now).expect("dry");
    assert_eq!(status(&mut conn, dry_dead).0, "failed");
    assert_eq!(status(&mut conn, dry_live).0, "running");
    assert_eq!(
        status(&mut conn, next).0,
        "running",
        "a dry run judges no real run"
    );
});

both!(the_scheduler_says_at_once_why_a_run_waits, |b| {
    let slapd = big_directory();
    let site = Site::new(b, &slapd, "* * * * * *");
    // A `rollcall sync` holds the source (paused while reading) when the schedule fires. It
    // is a first run, which holds SQLite's write lock while it reads: `serve` must start
    // beside it all the same.
    let holder = site.paused(&["sync", "corp"], "sync.reading");
    let mut serve = site
        .command(&["serve"])
        .env(
            "ROLLCALL_SERVER_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = serve.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut said = Vec::new();
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("waits for the run in progress") => break line,
            Ok(line) => said.push(line),
            Err(_) => panic!("no warning within 30 s:\n{}", said.join("\n")),
        }
    };
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("a run of corp is already in progress (run 1, started")
            && warning.contains(" by pid "),
        "{warning}"
    );
    // Once the holder is gone, the waiting run goes ahead and says so.
    kill(holder);
    // A warning once, not one per try (it tries every 2 s).
    let mut repeats = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("scheduled full run started after waiting") => break,
            Ok(line) if line.contains("waits for the run in progress") => repeats += 1,
            Ok(_) => {}
            Err(_) => panic!("the waiting run did not start"),
        }
    }
    assert_eq!(repeats, 0);
    kill_quietly(&mut serve);
});
