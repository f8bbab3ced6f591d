//! `rollcall agents …` as a script runs it: the real binary on a real database, its exit
//! codes, `--json` and the tables.

use std::process::Command;

use serde_json::Value;

use crate::both;
use crate::harness::{Backend, TestDb};

/// The binary on `db`, run as OS user `tester`: (exit code, stdout, stderr).
fn rc(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    rc_as(db, "tester", None, args)
}

/// The binary on `db` as OS user `user`, with the configuration file `config` if given.
fn rc_as(
    db: &TestDb,
    user: &str,
    config: Option<&std::path::Path>,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .args(args)
        .env("ROLLCALL_DATABASE_URL", &db.url)
        .env("ROLLCALL_LOG_LEVEL", "warn")
        .env("USER", user)
        .env_remove("ROLLCALL_CONFIG")
        .output()
        .expect("run rollcall");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed and print JSON.
fn json(db: &TestDb, args: &[&str]) -> Value {
    let (code, out, err) = rc(db, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

both!(create_show_and_exit_codes, |b: Backend| {
    let db = TestDb::new(b);
    let alice = json(
        &db,
        &[
            "agents",
            "create",
            "alice",
            "--display-name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
            "--department",
            "Sales",
            "--skill-groups",
            "billing,refunds",
            "--json",
        ],
    );
    assert_eq!(alice["userName"], "alice");
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["source"], "admin");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(
        alice["skillGroups"],
        serde_json::json!(["billing", "refunds"])
    );
    assert_eq!(alice["version"], 1);
    let id = alice["id"].as_str().expect("id").to_owned();

    // The gateway's messages, as the API gives them; each failure its own exit code.
    let (code, _, err) = rc(&db, &["agents", "create", "ALICE"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("userName \"ALICE\" is already taken"), "{err}");
    let (code, _, err) = rc(&db, &["agents", "create", "bad\nname"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("line break"), "{err}");
    let (code, _, err) = rc(&db, &["agents", "create", "bob", "--role", "nosuch"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("unknown role \"nosuch\""), "{err}");
    let (code, _, err) = rc(&db, &["agents", "show", "nobody"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("agent nobody not found"), "{err}");
    let (code, _, err) = rc(
        &db,
        &[
            "agents",
            "update",
            "alice",
            "--if-version",
            "7",
            "--title",
            "x",
        ],
    );
    assert_eq!(code, 5, "{err}");
    let (code, _, _) = rc(&db, &["agents", "list", "--status", "gone"]);
    assert_eq!(code, 2);
    let (code, _, _) = rc(&db, &["agents", "frobnicate"]);
    assert_eq!(code, 2);
    let (code, _, _) = rc(&db, &["agents", "show"]);
    assert_eq!(code, 2);

    // An update by name with the right version; the audit entry names the OS user.
    let after = json(
        &db,
        &[
            "agents",
            "update",
            "alice",
            "--if-version",
            "1",
            "--title",
            "Lead",
            "--department",
            "",
            "--json",
        ],
    );
    assert_eq!(after["title"], "Lead");
    assert!(after.get("department").is_none(), "{after}");
    assert_eq!(after["version"], 2);
    let shown = json(&db, &["agents", "show", &id, "--json"]);
    assert_eq!(shown["title"], "Lead");
    let audit = shown["audit"].as_array().expect("audit");
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0]["action"], "agent.update");
    assert_eq!(audit[0]["actor"], "cli:tester");
    // A new agent with an email is mailed an activation link (`auth.new_agents`).
    assert_eq!(audit[1]["action"], "agent.activation_link");
    assert_eq!(audit[2]["action"], "agent.create");

    // The human form: one field a line, then the audit entries.
    let (code, out, _) = rc(&db, &["agents", "show", "alice"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["status", "active"]),
        "{out}"
    );
    assert!(out.contains("agent.update"), "{out}");
});

both!(lifecycle, |b: Backend| {
    let db = TestDb::new(b);
    json(&db, &["agents", "create", "carol", "--json"]);
    let off = json(
        &db,
        &[
            "agents",
            "disable",
            "carol",
            "--reason",
            "left the team",
            "--json",
        ],
    );
    assert_eq!(off["status"], "suspended");
    assert_eq!(off["disabledReason"], "left the team");
    // Disabling again changes nothing and still succeeds.
    let again = json(&db, &["agents", "disable", "carol", "--json"]);
    assert_eq!(again["version"], off["version"]);
    let (code, out, _) = rc(&db, &["agents", "show", "carol"]);
    assert_eq!(code, 0);
    assert!(out.contains("left the team"), "{out}");
    let on = json(&db, &["agents", "enable", "carol", "--json"]);
    assert_eq!(on["status"], "active");
    assert!(on.get("disabledReason").is_none(), "{on}");
    let (code, _, err) = rc(&db, &["agents", "disable", "carol", "--if-version", "1"]);
    assert_eq!(code, 5, "{err}");

    let id = on["id"].as_str().expect("id").to_owned();
    let gone = json(&db, &["agents", "delete", "carol", "--json"]);
    assert_eq!(gone["status"], "deleted");
    // Gone by name; still shown by id, as deleted; deleting again: not found.
    let (code, _, _) = rc(&db, &["agents", "show", "carol"]);
    assert_eq!(code, 3);
    let shown = json(&db, &["agents", "show", &id, "--json"]);
    assert_eq!(shown["status"], "deleted");
    let (code, _, _) = rc(&db, &["agents", "delete", &id]);
    assert_eq!(code, 3);
    let deleted = json(&db, &["agents", "list", "--status", "deleted", "--json"]);
    assert_eq!(deleted.as_array().map(Vec::len), Some(1));
    let live = json(&db, &["agents", "list", "--json"]);
    assert_eq!(live.as_array().map(Vec::len), Some(0));
});

both!(list_filters_and_table, |b: Backend| {
    let db = TestDb::new(b);
    for (name, display, dept, role) in [
        ("zhang.wei", "张伟", "销售", "agent"),
        ("li.na", "李娜", "销售", "team_lead"),
        ("bob", "Bob Builder", "Support", "agent"),
        ("dave", "Dave 100%", "Support", "agent"),
    ] {
        let (code, _, err) = rc(
            &db,
            &[
                "agents",
                "create",
                name,
                "--display-name",
                display,
                "--department",
                dept,
                "--role",
                role,
            ],
        );
        assert_eq!(code, 0, "{err}");
    }
    json(&db, &["agents", "disable", "bob", "--json"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["agents", "list", "--json"];
        all.extend_from_slice(args);
        json(&db, &all)
            .as_array()
            .expect("array")
            .iter()
            .map(|a| a["userName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&[]), ["bob", "dave", "li.na", "zhang.wei"]);
    assert_eq!(names(&["--status", "suspended"]), ["bob"]);
    assert_eq!(names(&["--role", "team_lead"]), ["li.na"]);
    assert_eq!(names(&["--department", "销售"]), ["li.na", "zhang.wei"]);
    assert_eq!(
        names(&["--source", "admin"]),
        ["bob", "dave", "li.na", "zhang.wei"]
    );
    assert!(names(&["--source", "ldap:"]).is_empty());
    assert_eq!(names(&["--search", "ZHANG"]), ["zhang.wei"]);
    assert_eq!(names(&["--search", "李"]), ["li.na"]);
    assert_eq!(names(&["--search", "builder"]), ["bob"]);
    // A wildcard in the search text is taken literally.
    assert_eq!(names(&["--search", "%"]), ["dave"]);
    assert_eq!(names(&["--limit", "2"]), ["bob", "dave"]);
    let (code, _, _) = rc(&db, &["agents", "list", "--limit", "0"]);
    assert_eq!(code, 2);

    // The table: each column starts at the same display column on every line, with the
    // Chinese names two columns a character.
    let (code, out, _) = rc(&db, &["agents", "list", "--department", "销售"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let status_col = |l: &str| {
        // Display width of the text before the STATUS/active column.
        let idx = l
            .find("STATUS")
            .or_else(|| l.find("active"))
            .expect("status column");
        rollcall::cli::table::width(&l[..idx])
    };
    let first = status_col(lines[0]);
    for l in &lines[1..] {
        assert_eq!(status_col(l), first, "{out}");
    }
    assert!(lines[1].starts_with("li.na"), "{out}");
    assert!(lines[2].contains("张伟"), "{out}");
});

both!(approval_and_forced_offline, |b: Backend| {
    let db = TestDb::new(b);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "[accounts]\nrequire_approval = true\n[accounts.approval]\nfour_eyes = true\n",
    )
    .expect("config");
    let run = |user: &str, args: &[&str]| rc_as(&db, user, Some(&config), args);
    let json_of = |(code, out, err): (i32, String, String)| -> Value {
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).expect("json")
    };

    let dana = json_of(run("tester", &["agents", "create", "dana", "--json"]));
    assert_eq!(dana["status"], "pending");
    // Four eyes: whoever created it may not approve it.
    let (code, _, err) = run("tester", &["agents", "approve", "dana"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("four-eyes rule"), "{err}");
    let approved = json_of(run("lead", &["agents", "approve", "dana", "--json"]));
    assert_eq!(approved["status"], "active");
    let (code, _, err) = run("lead", &["agents", "approve", "dana"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("is not pending approval"), "{err}");

    json_of(run("tester", &["agents", "create", "erin", "--json"]));
    let (code, out, err) = run(
        "lead",
        &["agents", "reject", "erin", "--reason", "duplicate"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("rejected: erin"), "{out}");
    let (code, _, _) = run("lead", &["agents", "show", "erin"]);
    assert_eq!(code, 3);

    let off = json_of(run("lead", &["agents", "force-offline", "dana", "--json"]));
    assert_eq!(off["loginBlocked"], true);
    assert_eq!(off["status"], "active");
    let (code, out, _) = run("lead", &["agents", "list", "--status", "active"]);
    assert_eq!(code, 0);
    assert!(out.contains("active, forced offline"), "{out}");
    let back = json_of(run("lead", &["agents", "resume", "dana", "--json"]));
    assert_eq!(back["loginBlocked"], false);
    let shown = json_of(run(
        "lead",
        &["agents", "show", "dana", "--audit", "10", "--json"],
    ));
    let actions: Vec<&str> = shown["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "agent.resume",
            "agent.force_offline",
            "agent.approve",
            "agent.create"
        ]
    );
});
