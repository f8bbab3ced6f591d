//! HR exports in other shapes and places: JSON and NDJSON with nested keys, and an export
//! served over HTTP by a real server (a token, ETags, a wrong token, a cut-short download).

use std::sync::Arc;

use rollcall::config::Config;
use rollcall::domain::Status;
use rollcall::store::agents::{SourceFilter, by_source};
use rollcall::sync::runner::run_source;
use rollcall::sync::{RunOptions, RunStatus};

use crate::harness::{Backend, TestDb};
use crate::sync_hr::{csv, hr, now, team};

#[test]
fn json_and_ndjson_exports_with_nested_fields() {
    for (ext, body) in [
        (
            "json",
            r#"[{"worker": {"id": 101, "name": {"given": "Ana", "family": "An"}}, "dept": "QA", "state": "Active"},
               {"worker": {"id": 102, "name": {"given": "Bo", "family": "Bai"}}, "dept": "QA", "state": "Terminated"}]"#,
        ),
        (
            "ndjson",
            "{\"worker\": {\"id\": 101, \"name\": {\"given\": \"Ana\", \"family\": \"An\"}}, \"dept\": \"QA\", \"state\": \"Active\"}\n{\"worker\": {\"id\": 102, \"name\": {\"given\": \"Bo\", \"family\": \"Bai\"}}, \"dept\": \"QA\", \"state\": \"Terminated\"}\n",
        ),
    ] {
        let db = TestDb::new(Backend::Sqlite);
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join(format!("people.{ext}"));
        std::fs::write(&file, body).expect("write");
        let text = format!(
            r#"
[database]
url = "{db}"
[[sources]]
name = "people"
kind = "hr"
schedule = "0 0 0 1 1 *"
[sources.hr]
path = "{file}"
[sources.hr.fields]
employee_id = "worker.id"
given_name = "worker.name.given"
family_name = "worker.name.family"
department = "dept"
status = "state"
"#,
            db = db.url,
            file = file.display(),
        );
        let config = Config::from_parts(&text, Vec::new()).expect("config");
        let pool = rollcall::server::open_store(&config).expect("store");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let r = rt
            .block_on(run_source(
                pool.clone(),
                Arc::new(rollcall::accounts::Accounts::from_config(&config)),
                Arc::new(config.clone()),
                config.sources[0].clone(),
                RunOptions::unattended(false, "cli"),
                None,
            ))
            .expect("run");
        assert_eq!(r.status, RunStatus::Ok, "{ext}: {r:?}");
        assert_eq!(r.rows, Some(2), "{ext}");
        let mut conn = pool.get().expect("conn");
        let agents = by_source(&mut conn, SourceFilter::Is("hr:people")).expect("agents");
        assert_eq!(agents.len(), 1, "{ext}: the terminated one is not created");
        let ana = &agents[0].0;
        assert_eq!(
            ana.profile.user_name, "101",
            "{ext}: no email: the employee id"
        );
        assert_eq!(ana.profile.given_name.as_deref(), Some("Ana"));
        assert_eq!(ana.profile.department.as_deref(), Some("QA"));
    }
}

#[test]
fn an_http_export_is_fetched_with_its_token_and_not_again_unchanged() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, port, export, token) = serve_export(dir.path(), false);
    let extra = format!(
        "url = \"http://127.0.0.1:{port}/exports/people.csv\"\nheader = \"Authorization\"\nheader_value_file = \"{}\"",
        token.display()
    );
    let env = hr(Backend::Sqlite, "csv", &extra);
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.plan.count("create"), 4);
    let again = env.run();
    assert_eq!(again.method, "unchanged", "{again:?}");
    let stats: serde_json::Value = ureq::get(format!("http://127.0.0.1:{port}/_stats"))
        .call()
        .expect("stats")
        .body_mut()
        .read_json()
        .expect("json");
    assert_eq!(stats["200"], 1);
    assert_eq!(stats["304"], 1);
    assert_eq!(stats["401"], 0);

    // A changed export is fetched again.
    let mut rows = team();
    rows[0].dept = "售后";
    std::fs::write(&export, csv(&rows)).expect("write");
    let r = env.run();
    assert_eq!(r.plan.count("update"), 1, "{r:?}");

    // A wrong token: the run fails, nothing changes.
    let mut env = env;
    env.config.sources[0].hr.as_mut().unwrap().header_value = Some(
        rollcall::sources::hr::settings::Redacted("Bearer wrong".into()),
    );
    let r = env.run_with(true, Some(now()));
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.error.as_deref().unwrap().contains("HTTP 401"), "{r:?}");

    // The server goes away halfway through the export: the run fails, nobody is touched
    // (half an export would otherwise look like half the people left).
    let before: Vec<(String, Status, i64)> = env
        .agents()
        .into_iter()
        .map(|a| (a.id, a.status, a.version))
        .collect();
    let hr = env.config.sources[0].hr.as_mut().unwrap();
    hr.header_value = Some(rollcall::sources::hr::settings::Redacted(
        "Bearer s3cret".into(),
    ));
    hr.url = Some(format!("http://127.0.0.1:{port}/cut/people.csv"));
    let r = env.run_opts(false, true, None);
    assert_eq!(r.status, RunStatus::Failed, "{r:?}");
    assert!(r.plan.changes.is_empty());
    let after: Vec<(String, Status, i64)> = env
        .agents()
        .into_iter()
        .map(|a| (a.id, a.status, a.version))
        .collect();
    assert_eq!(before, after, "{:?}", r.error);
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("could not be read whole"), "{error}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn an_https_export_is_trusted_by_its_ca_file() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::slapd::make_certificates(dir.path());
    let (mut server, port, export, token) = serve_export(dir.path(), true);
    let extra = format!(
        "url = \"https://127.0.0.1:{port}/exports/people.csv\"\nheader = \"Authorization\"\n\
         header_value_file = \"{}\"\nca_file = \"{}\"",
        token.display(),
        ca.display()
    );
    let mut env = hr(Backend::Sqlite, "csv", &extra);

    // The built-in roots do not know the company's CA: the run fails, nothing is created.
    fn hr_settings(env: &mut crate::sync_hr::Hr) -> &mut rollcall::sources::hr::HrSettings {
        env.config.sources[0].hr.as_mut().expect("hr")
    }
    hr_settings(&mut env).ca_file = None;
    let r = env.run();
    assert_eq!(r.status, RunStatus::Failed, "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(env.agents().is_empty());

    // A ca_file that holds no certificate is named as the cause.
    hr_settings(&mut env).ca_file = Some(export.clone());
    let r = env.run();
    assert_eq!(r.status, RunStatus::Failed, "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("ca_file: no certificate"), "{error}");

    // Trusting the CA that signed the server's certificate, the export is read.
    hr_settings(&mut env).ca_file = Some(ca);
    let r = env.run();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.plan.count("create"), 4, "{r:?}");
    let _ = server.kill();
    let _ = server.wait();
}

/// The team's export served by the HR test server from `dir` with the token `s3cret`
/// (over HTTPS with `dir`'s `server.pem`/`server.key` when `tls`): the server, its port,
/// the export's path and the token file's path.
fn serve_export(
    dir: &std::path::Path,
    tls: bool,
) -> (
    std::process::Child,
    u16,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let export = dir.join("served.csv");
    std::fs::write(&export, csv(&team())).expect("write");
    let token = dir.join("token");
    std::fs::write(&token, "Bearer s3cret\n").expect("token");
    let port = crate::harness::free_port();
    let port_text = port.to_string();
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let mut args: Vec<&std::ffi::OsStr> =
        vec![port_text.as_ref(), export.as_os_str(), "s3cret".as_ref()];
    if tls {
        args.extend([cert.as_os_str(), key.as_os_str()]);
    }
    let server = crate::harness::python_fixture("hr_export_server.py", &args);
    (server, port, export, token)
}
