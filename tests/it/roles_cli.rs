//! `rollcall roles …`, the real binary on both backends: JSON for scripts, the documented
//! exit statuses, the gateway's messages, dry runs that save nothing.

use std::process::Command;

use serde_json::Value;

use crate::both;
use crate::harness::TestDb;

struct Cli {
    db: TestDb,
    config: tempfile::NamedTempFile,
}

impl Cli {
    fn new(b: crate::harness::Backend) -> Cli {
        let db = TestDb::new(b);
        let config = tempfile::NamedTempFile::new().expect("config file");
        let text = format!(
            "[database]\nurl = {:?}\n\n[[permissions]]\nkey = \"softphone.use\"\ndescription = \"Use the softphone\"\nroles = [\"agent\", \"admin\"]\n",
            db.url
        );
        std::fs::write(config.path(), text).expect("write config");
        Cli { db, config }
    }

    /// (exit status, stdout, stderr)
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(self.config.path())
            .args(args)
            .env_remove("ROLLCALL_CONFIG")
            .output()
            .expect("run rollcall");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

both!(roles_cli_scripts_can_rely_on_it, |b| {
    let cli = Cli::new(b);
    let list = cli.json(&["roles", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "admin",
            "agent",
            "qa_inspector",
            "senior_agent",
            "team_lead"
        ]
    );
    // The configuration's key is in the catalog and in the built-in agent role.
    let catalog = cli.json(&["roles", "permissions", "--json"]);
    assert!(
        catalog
            .as_array()
            .expect("array")
            .iter()
            .any(|p| p["key"] == "softphone.use")
    );
    let agent = cli.json(&["roles", "show", "agent", "--json"]);
    assert!(
        agent["permissions"]
            .as_array()
            .expect("array")
            .iter()
            .any(|p| p == "softphone.use")
    );
    assert_eq!(agent["builtin"], true);

    let night = cli.json(&[
        "roles",
        "clone",
        "agent",
        "night",
        "--description",
        "Nights",
        "--json",
    ]);
    assert_eq!(
        (night["name"].as_str(), night["builtin"].as_bool()),
        (Some("night"), Some(false))
    );
    // Move some agents onto it: seeding gives them the default role.
    let (code, _, err) = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(cli.config.path())
        .args(["seed-agents", "4"])
        .env("ROLLCALL_ACCOUNTS_DEFAULT_ROLE", "night")
        .output()
        .map(|o| {
            (
                o.status.code(),
                o.stdout,
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .expect("seed");
    assert_eq!(code, Some(0), "{err}");

    let impact = cli.json(&[
        "roles",
        "impact",
        "night",
        "--grant",
        "customer.export",
        "--revoke",
        "softphone.use",
        "--json",
    ]);
    assert_eq!(impact["dryRun"], true);
    assert_eq!(impact["impact"]["holders"], 4);
    assert_eq!(impact["impact"]["affected"], 4);
    assert_eq!(
        impact["impact"]["withoutOverrides"]["gained"],
        serde_json::json!(["customer.export"])
    );
    assert_eq!(
        impact["impact"]["withoutOverrides"]["lost"],
        serde_json::json!(["softphone.use"])
    );
    let dry = cli.json(&[
        "roles",
        "update",
        "night",
        "--grant",
        "customer.export",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(
        dry["impact"],
        serde_json::json!({
            "role": "night", "holders": 4, "affected": 4,
            "withoutOverrides": {"agents": 4, "gained": ["customer.export"], "lost": []},
            "withOverrides": []
        })
    );
    let still = cli.json(&["roles", "show", "night", "--json"]);
    assert!(
        !still["permissions"]
            .as_array()
            .expect("array")
            .iter()
            .any(|p| p == "customer.export")
    );
    let done = cli.json(&[
        "roles",
        "update",
        "night",
        "--grant",
        "customer.export",
        "--max-chats",
        "2",
        "--json",
    ]);
    assert_eq!(done["role"]["defaultMaxConcurrentChats"], 2);
    assert_eq!(done["impact"]["affected"], 4);
    // A human table by default.
    let (code, out, _) = cli.run(&["roles", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("night") && l.contains("custom") && l.contains(" 4 ")),
        "{out}"
    );
    let (code, out, _) = cli.run(&["roles", "explain", "user000001"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("customer.export") && out.contains("role night"),
        "{out}"
    );

    // Exit statuses: 3 not found, 4 conflict, 65 invalid input, 2 usage.
    for (args, code, says) in [
        (
            vec!["roles", "show", "nobody"],
            3,
            "role \"nobody\" not found",
        ),
        (vec!["roles", "delete", "night"], 4, "held by 4 agents"),
        (
            vec!["roles", "update", "admin", "--max-chats", "3"],
            4,
            "read-only",
        ),
        (
            vec!["roles", "clone", "agent", "night"],
            4,
            "already exists",
        ),
        (
            vec!["roles", "create", "Bad Name"],
            65,
            "lower-case letters",
        ),
        (
            vec![
                "roles",
                "create",
                "x",
                "--permission",
                "chat.reply,fly.away",
            ],
            65,
            "unknown permission \"fly.away\"",
        ),
        (
            vec!["roles", "update", "night", "--channels", "fax"],
            65,
            "\"fax\"",
        ),
        (vec!["roles", "frobnicate"], 2, "unrecognized subcommand"),
    ] {
        let (got, _, err) = cli.run(&args);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, out, err) = cli.run(&["roles", "create", "empty", "--description", "Nothing yet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("name:         empty"), "{out}");
    let (code, out, err) = cli.run(&["roles", "delete", "empty"]);
    assert_eq!((code, out.trim()), (0, "role \"empty\" deleted"), "{err}");
    let _ = &cli.db;
});
