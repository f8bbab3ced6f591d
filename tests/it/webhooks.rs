//! Webhooks end to end: the real server delivers to a real HTTP receiver
//! (`tests/fixtures/webhook_receiver.py`, which verifies every request with the Standard
//! Webhooks reference library), on both backends: order, signatures, a receiver down and
//! back, retries, 410 Gone, secret rotation, replays, and what the API shows of it.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::api_framework::api;
use crate::both;
use crate::harness::{Backend, TestServer, free_port, wait_until};

const PATIENCE: Duration = Duration::from_secs(30);

/// The receiver process, stopped on drop.
struct Receiver {
    port: u16,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Receiver {
    fn start(secrets: &[&str]) -> Receiver {
        Receiver::on(free_port(), secrets)
    }

    fn on(port: u16, secrets: &[&str]) -> Receiver {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("received.jsonl");
        let port_text = port.to_string();
        let mut args: Vec<&std::ffi::OsStr> = vec![port_text.as_ref(), out.as_os_str()];
        args.extend(secrets.iter().map(|s| std::ffi::OsStr::new(*s)));
        let child = crate::harness::python_fixture("webhook_receiver.py", &args);
        Receiver {
            port,
            out,
            _dir: dir,
            child,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Every request received, oldest first.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The requests answered 200, with their bodies parsed.
    fn delivered(&self) -> Vec<(Value, Value)> {
        self.records()
            .into_iter()
            .filter(|r| r["status"] == 200)
            .map(|r| {
                let body: Value =
                    serde_json::from_str(r["body"].as_str().expect("body")).expect("json body");
                (r, body)
            })
            .collect()
    }

    fn control(&self, change: Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .post(format!("http://127.0.0.1:{}/_control", self.port))
            .send_json(change)
            .expect("control the receiver");
        assert_eq!(resp.status().as_u16(), 204);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(b: Backend) -> (TestServer, String) {
    let s = TestServer::start_with(b, |c| {
        c.webhook_delivery.poll_ms = 50;
        c.webhook_delivery.max_backoff_secs = 1;
        c.webhook_delivery.timeout_secs = 5;
    });
    let admin = s.token_with("ops", "admin");
    (s, admin)
}

/// Creates an endpoint over the API; returns its id and its (generated) secret.
fn endpoint(s: &TestServer, admin: &str, name: &str, url: &str) -> (i64, String) {
    let body = json!({"name": name, "url": url}).to_string();
    let (st, _, v) = api(s, Some(admin), "POST", "/webhooks", Some(&body), &[]);
    assert_eq!(st, 201, "{v}");
    let secret = v["secret"].as_str().expect("generated secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(!v["webhook"].to_string().contains(&secret), "{v}");
    (v["webhook"]["id"].as_i64().expect("id"), secret)
}

fn get(s: &TestServer, admin: &str, path: &str) -> Value {
    let (st, _, v) = api(s, Some(admin), "GET", path, None, &[]);
    assert_eq!(st, 200, "{path}: {v}");
    v
}

fn post(s: &TestServer, admin: &str, path: &str, body: Value) -> (u16, Value) {
    let (st, _, v) = api(s, Some(admin), "POST", path, Some(&body.to_string()), &[]);
    (st, v)
}

both!(events_arrive_verified_and_in_order, |b| {
    let (s, admin) = server(b);
    let rx = Receiver::start(&[]);
    let (hook, secret) = endpoint(&s, &admin, "chat", &rx.url());
    rx.control(json!({"secrets": [secret]}));

    // Two agents, their changes interleaved, through the admin API.
    let mut ids = Vec::new();
    for name in ["ana", "bo"] {
        let (st, v) = post(&s, &admin, "/agents", json!({"userName": name}));
        assert_eq!(st, 201, "{v}");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "PATCH",
            &format!("/agents/{id}"),
            Some(&json!({"title": "Lead"}).to_string()),
            &[],
        );
        assert_eq!(st, 200, "{v}");
    }
    for step in ["disable", "enable"] {
        for id in &ids {
            let (st, v) = post(
                &s,
                &admin,
                &format!("/agents/{id}/{step}"),
                json!({"reason": "a test"}),
            );
            assert_eq!(st, 200, "{step}: {v}");
        }
    }
    for id in &ids {
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "DELETE",
            &format!("/agents/{id}"),
            None,
            &[],
        );
        assert_eq!(st, 204, "{v}");
    }
    wait_until("ten events delivered", PATIENCE, || {
        rx.delivered().len() >= 10
    });
    let got = rx.delivered();
    assert_eq!(got.len(), 10, "{got:?}");
    // In order per agent (the lanes of `webhook_delivery.concurrency` may interleave agents).
    let mut last_of: std::collections::HashMap<String, i64> = Default::default();
    let mut last_id = 0;
    for (rec, body) in &got {
        assert_eq!(rec["verified"], json!([true]), "{rec}");
        let event = body["data"]["event_id"].as_i64().expect("event id");
        let agent = body["data"]["agent_id"].as_str().expect("agent").to_owned();
        let last = last_of.entry(agent).or_default();
        assert!(event > *last, "out of order: {got:?}");
        *last = event;
        last_id = last_id.max(event);
        assert_eq!(rec["id"], format!("msg_{event}"));
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    for id in &ids {
        let types: Vec<&str> = got
            .iter()
            .filter(|(_, b)| b["data"]["agent_id"] == id.as_str())
            .map(|(_, b)| b["type"].as_str().expect("type"))
            .collect();
        assert_eq!(
            types,
            [
                "agent.created",
                "agent.updated",
                "agent.disabled",
                "agent.enabled",
                "agent.deleted"
            ]
        );
    }
    let created = got
        .iter()
        .find(|(_, b)| b["data"]["agent_id"] == ids[0].as_str())
        .map(|(_, b)| b)
        .expect("ana's first event");
    assert_eq!(created["type"], "agent.created");
    assert_eq!(created["data"]["after"]["user_name"], "ana");

    // What the API shows: every attempt, newest first, paged; nothing waiting.
    // The receiver answers before the deliverer records the answer.
    wait_until("the last delivery recorded", PATIENCE, || {
        get(&s, &admin, &format!("/webhooks/{hook}/backlog"))["cursor"] == last_id
    });
    let page = get(&s, &admin, &format!("/webhooks/{hook}/deliveries?limit=4"));
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["eventId"], last_id);
    assert_eq!(items[0]["status"], 200);
    assert_eq!(items[0]["attempt"], 1);
    let next = page["nextCursor"].as_str().expect("more pages");
    let rest = get(
        &s,
        &admin,
        &format!("/webhooks/{hook}/deliveries?limit=50&cursor={next}"),
    );
    assert_eq!(rest["items"].as_array().expect("items").len(), 6);
    let backlog = get(&s, &admin, &format!("/webhooks/{hook}/backlog"));
    assert_eq!(backlog["waiting"], 0, "{backlog}");
    assert_eq!(backlog["cursor"], last_id, "{backlog}");

    // Replay one event, then everything from the first on, in order.
    let first = got
        .iter()
        .filter_map(|(_, b)| b["data"]["event_id"].as_i64())
        .min()
        .expect("first");
    let (st, v) = post(
        &s,
        &admin,
        &format!("/webhooks/{hook}/replay"),
        json!({"event": first}),
    );
    assert_eq!(st, 202, "{v}");
    wait_until("one event again", PATIENCE, || rx.delivered().len() >= 11);
    assert_eq!(rx.delivered()[10].0["id"], format!("msg_{first}"));
    let (st, v) = post(
        &s,
        &admin,
        &format!("/webhooks/{hook}/replay"),
        json!({"from_event": first}),
    );
    assert_eq!(st, 202, "{v}");
    wait_until("all again", PATIENCE, || rx.delivered().len() >= 21);
    let ids_of = |list: &[(Value, Value)]| {
        let mut v: Vec<String> = list
            .iter()
            .map(|(r, _)| r["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids_of(&rx.delivered()[11..]), ids_of(&got));
    // Refused: past the cursor (events not delivered yet would be skipped), neither field.
    let (st, v) = post(
        &s,
        &admin,
        &format!("/webhooks/{hook}/replay"),
        json!({"from_event": last_id + 1000}),
    );
    assert_eq!(st, 422, "{v}");
    let (st, v) = post(&s, &admin, &format!("/webhooks/{hook}/replay"), json!({}));
    assert_eq!(st, 422, "{v}");
    // The endpoint's own changes are audited, without the secret.
    let audit = get(&s, &admin, "/audit?action=webhook.create");
    assert!(!audit.to_string().contains(&secret));
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
});

both!(a_receiver_down_then_up_gets_everything, |b| {
    let (s, admin) = server(b);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let (hook, secret) = endpoint(&s, &admin, "later", &url);
    let users: Vec<String> = ["cy", "di", "ed"]
        .iter()
        .map(|n| s.create_user(n)["id"].as_str().expect("id").to_owned())
        .collect();
    // Nobody listens: attempts fail with an error and no status; the events wait.
    wait_until("a failed attempt", PATIENCE, || {
        let page = get(&s, &admin, &format!("/webhooks/{hook}/deliveries"));
        page["items"].as_array().is_some_and(|i| {
            i.iter()
                .any(|d| d["status"].is_null() && d["error"].is_string())
        })
    });
    let backlog = get(&s, &admin, &format!("/webhooks/{hook}/backlog"));
    assert_eq!(backlog["waiting"], 3, "{backlog}");
    assert!(backlog["oldestEventId"].is_i64(), "{backlog}");
    let view = get(&s, &admin, &format!("/webhooks/{hook}"));
    assert!(view["retry"]["attempts"].as_i64() >= Some(1), "{view}");
    assert!(view["retry"]["failingSince"].is_string(), "{view}");

    let rx = Receiver::on(port, &[&secret]);
    wait_until("three events delivered", PATIENCE, || {
        rx.delivered().len() >= 3
    });
    let got = rx.delivered();
    assert_eq!(got.len(), 3);
    let mut agents: Vec<&str> = Vec::new();
    for (rec, body) in &got {
        assert_eq!(rec["verified"], json!([true]));
        assert_eq!(body["type"], "agent.created");
        agents.push(body["data"]["agent_id"].as_str().expect("agent"));
    }
    agents.sort_unstable();
    let mut want: Vec<&str> = users.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(agents, want);
    wait_until("backlog empty", PATIENCE, || {
        get(&s, &admin, &format!("/webhooks/{hook}/backlog"))["waiting"] == 0
    });
    let view = get(&s, &admin, &format!("/webhooks/{hook}"));
    assert_eq!(view["retry"]["attempts"], 0, "{view}");
});

both!(retries_then_gone_disables_and_enabling_resumes, |b| {
    let (s, admin) = server(b);
    let rx = Receiver::start(&[]);
    let (hook, secret) = endpoint(&s, &admin, "flaky", &rx.url());
    rx.control(json!({"secrets": [secret], "status": 503, "times": 2}));
    s.create_user("fay");
    wait_until("delivered after two 503s", PATIENCE, || {
        rx.delivered().len() == 1
    });
    let all = rx.records();
    let statuses: Vec<i64> = all
        .iter()
        .map(|r| r["status"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert!(
        all.iter()
            .all(|r| r["id"] == all[0]["id"] && r["verified"] == json!([true]))
    );
    wait_until("the 200 recorded", PATIENCE, || {
        get(&s, &admin, &format!("/webhooks/{hook}/deliveries"))["items"][0]["status"] == 200
    });
    let page = get(&s, &admin, &format!("/webhooks/{hook}/deliveries"));
    let attempts: Vec<(i64, i64)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap_or(0),
                d["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(attempts, [(3, 200), (2, 503), (1, 503)]);

    // 410 Gone: disabled at once, the event kept.
    rx.control(json!({"status": 410}));
    s.create_user("gus");
    wait_until("disabled by 410", PATIENCE, || {
        get(&s, &admin, &format!("/webhooks/{hook}"))["enabled"] == false
    });
    let view = get(&s, &admin, &format!("/webhooks/{hook}"));
    assert!(
        view["disabledReason"]
            .as_str()
            .is_some_and(|r| r.contains("410")),
        "{view}"
    );
    assert_eq!(
        get(&s, &admin, &format!("/webhooks/{hook}/backlog"))["waiting"],
        1
    );
    s.create_user("hal");
    rx.control(json!({"status": 200}));
    let (st, _, v) = api(
        &s,
        Some(&admin),
        "PATCH",
        &format!("/webhooks/{hook}"),
        Some(&json!({"enabled": true}).to_string()),
        &[],
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["disabledReason"].is_null(), "{v}");
    wait_until("resumed", PATIENCE, || rx.delivered().len() == 3);
    let mut names: Vec<Value> = rx
        .delivered()
        .iter()
        .map(|(_, b)| b["data"]["after"]["user_name"].clone())
        .collect();
    // fay's before the endpoint was disabled; the two kept meanwhile after it (each agent's
    // own events in order; two agents' may interleave).
    names[1..].sort_by_key(|n| n.to_string());
    assert_eq!(names, [json!("fay"), json!("gus"), json!("hal")]);
});

both!(during_a_rotation_both_secrets_sign, |b| {
    let (s, admin) = server(b);
    let rx = Receiver::start(&[]);
    let (hook, old) = endpoint(&s, &admin, "rotating", &rx.url());
    let (st, v) = post(&s, &admin, &format!("/webhooks/{hook}/secrets"), json!({}));
    assert_eq!(st, 201, "{v}");
    let new = v["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(new, old);
    assert_eq!(v["webhook"]["secrets"].as_array().map(Vec::len), Some(2));
    rx.control(json!({"secrets": [old, new]}));
    s.create_user("ivy");
    wait_until("delivered", PATIENCE, || rx.delivered().len() == 1);
    let (rec, _) = &rx.delivered()[0];
    assert_eq!(rec["verified"], json!([true, true]), "{rec}");
    assert_eq!(
        rec["signature"].as_str().map(|s| s.split(' ').count()),
        Some(2)
    );

    let (st, _, v) = api(
        &s,
        Some(&admin),
        "DELETE",
        &format!("/webhooks/{hook}/secrets/previous"),
        None,
        &[],
    );
    assert_eq!(st, 200, "{v}");
    s.create_user("jon");
    wait_until("delivered", PATIENCE, || rx.delivered().len() == 2);
    let (rec, _) = &rx.delivered()[1];
    assert_eq!(rec["verified"], json!([false, true]), "{rec}");
    let (st, _, _) = api(
        &s,
        Some(&admin),
        "DELETE",
        &format!("/webhooks/{hook}/secrets/previous"),
        None,
        &[],
    );
    assert_eq!(st, 404);
});

both!(the_api_checks_what_it_is_given, |b| {
    let (s, admin) = server(b);
    let reader = s.token_with("viewer", "read");
    for (body, pointer) in [
        (
            json!({"name": "x y", "url": "http://127.0.0.1:9/"}),
            "/name",
        ),
        (json!({"name": "x", "url": "ftp://h/"}), "/url"),
        (
            json!({"name": "x", "url": "http://h/", "events": ["agent.nope"]}),
            "/events",
        ),
        (
            json!({"name": "x", "url": "http://h/", "secret": "nope"}),
            "/secret",
        ),
    ] {
        let (st, v) = post(&s, &admin, "/webhooks", body);
        assert_eq!(st, 422, "{v}");
        assert_eq!(v["errors"][0]["pointer"], pointer, "{v}");
    }
    let (st, v) = post(
        &s,
        &reader,
        "/webhooks",
        json!({"name": "x", "url": "http://h/"}),
    );
    assert_eq!(st, 403, "{v}");
    let (id, _) = endpoint(&s, &admin, "dup", "http://127.0.0.1:9/");
    let (st, v) = post(
        &s,
        &admin,
        "/webhooks",
        json!({"name": "dup", "url": "http://h/"}),
    );
    assert_eq!(st, 409, "{v}");
    let list = get(&s, &reader, "/webhooks");
    assert_eq!(list["items"][0]["name"], "dup");
    let (st, _, _) = api(&s, Some(&reader), "GET", "/webhooks/999", None, &[]);
    assert_eq!(st, 404);
    let (st, _, _) = api(
        &s,
        Some(&admin),
        "DELETE",
        &format!("/webhooks/{id}"),
        None,
        &[],
    );
    assert_eq!(st, 204);
    let (st, _, _) = api(
        &s,
        Some(&reader),
        "GET",
        &format!("/webhooks/{id}"),
        None,
        &[],
    );
    assert_eq!(st, 404);
});

/// Endpoints from `[[webhooks]]`: created at start-up at the end of the log, kept in step
/// with the file, not changed over the API beyond enabling.
#[test]
fn configured_endpoints_come_from_the_file() {
    let secret = rollcall::webhooks::sign::new_secret();
    let rx = Receiver::start(&[&secret]);
    let url = rx.url();
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.webhook_delivery.poll_ms = 50;
        c.webhooks.push(rollcall::config::WebhookConfig {
            name: "platform".into(),
            url: url.clone(),
            secret: Some(secret.clone()),
            secrets: Vec::new(),
            events: vec!["agent.created".into()],
            enabled: true,
            from: rollcall::config::StartFrom::End,
        });
    });
    let admin = s.token_with("ops", "admin");
    let list = get(&s, &admin, "/webhooks");
    let hook = &list["items"][0];
    assert_eq!(hook["origin"], "config");
    let id = hook["id"].as_i64().expect("id");
    s.create_user("kim");
    wait_until("delivered", PATIENCE, || rx.delivered().len() == 1);
    assert_eq!(rx.delivered()[0].1["type"], "agent.created");
    let (st, _, v) = api(
        &s,
        Some(&admin),
        "PATCH",
        &format!("/webhooks/{id}"),
        Some(&json!({"url": "http://127.0.0.1:9/"}).to_string()),
        &[],
    );
    assert_eq!(st, 409, "{v}");
    let (st, _, _) = api(
        &s,
        Some(&admin),
        "DELETE",
        &format!("/webhooks/{id}"),
        None,
        &[],
    );
    assert_eq!(st, 409);
}

both!(the_cli_lists_shows_and_steps, |b| {
    let db = crate::harness::TestDb::new(b);
    let config = tempfile::NamedTempFile::new().expect("config file");
    let secret = rollcall::webhooks::sign::new_secret();
    let text = format!(
        "[database]\nurl = {:?}\n\n[[webhooks]]\nname = \"cfg\"\nurl = \"http://127.0.0.1:9/hooks\"\nsecret = {secret:?}\n",
        db.url
    );
    std::fs::write(config.path(), text).expect("write config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(config.path())
            .args(args)
            .env_remove("ROLLCALL_CONFIG")
            .output()
            .expect("run rollcall");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let json = |args: &[&str]| -> Value {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let list = json(&["webhooks", "list", "--json"]);
    assert_eq!(list[0]["name"], "cfg");
    assert_eq!(list[0]["origin"], "config");
    assert!(!list.to_string().contains(&secret));
    let (code, out, err) = run(&["webhooks", "disable", "cfg", "--reason", "maintenance"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("maintenance"), "{out}");
    let shown = json(&["webhooks", "show", "cfg", "--json"]);
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["disabledReason"], "maintenance");
    let (code, _, err) = run(&["webhooks", "enable", "cfg"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&["webhooks", "show", "cfg", "--json"])["enabled"],
        true
    );
    assert_eq!(
        json(&["webhooks", "backlog", "cfg", "--json"])["waiting"],
        0
    );
    assert_eq!(
        json(&["webhooks", "deliveries", "cfg", "--json"]),
        json!([])
    );
    let (code, _, _) = run(&["webhooks", "show", "nope"]);
    assert_eq!(code, 3);
    let (code, _, _) = run(&["webhooks", "replay", "cfg", "--from", "999999"]);
    assert_eq!(code, 65);
});

both!(lanes_keep_each_agents_order_and_send_nothing_twice, |b| {
    let (s, admin) = server(b);
    let rx = Receiver::start(&[]);
    let (hook, secret) = endpoint(&s, &admin, "lanes", &rx.url());
    rx.control(json!({"secrets": [secret]}));
    // Held while the changes are made, so that one batch carries them all over the lanes.
    let patch = |enabled: bool| {
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "PATCH",
            &format!("/webhooks/{hook}"),
            Some(&json!({"enabled": enabled}).to_string()),
            &[],
        );
        assert_eq!(st, 200, "{v}");
    };
    patch(false);
    let mut ids = Vec::new();
    for n in 0..12 {
        let (st, v) = post(
            &s,
            &admin,
            "/agents",
            json!({"userName": format!("lane{n}")}),
        );
        assert_eq!(st, 201, "{v}");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "PATCH",
            &format!("/agents/{id}"),
            Some(&json!({"title": "Lead"}).to_string()),
            &[],
        );
        assert_eq!(st, 200, "{v}");
        let (st, v) = post(
            &s,
            &admin,
            &format!("/agents/{id}/disable"),
            json!({"reason": "a test"}),
        );
        assert_eq!(st, 200, "{v}");
    }
    // The first request to arrive fails: its lane stops there, the others go on.
    rx.control(json!({"secrets": [secret], "status": 503, "times": 1}));
    patch(true);
    wait_until("36 events delivered", PATIENCE, || {
        rx.delivered().len() >= 36
    });
    wait_until("the backlog empty", PATIENCE, || {
        get(&s, &admin, &format!("/webhooks/{hook}/backlog"))["waiting"] == 0
    });
    let got = rx.delivered();
    assert_eq!(got.len(), 36, "each event once");
    assert_eq!(rx.records().len(), 37, "one 503, then each event once");
    for id in &ids {
        let types: Vec<&str> = got
            .iter()
            .filter(|(_, b)| b["data"]["agent_id"] == id.as_str())
            .map(|(_, b)| b["type"].as_str().expect("type"))
            .collect();
        assert_eq!(
            types,
            ["agent.created", "agent.updated", "agent.disabled"],
            "{id}"
        );
    }
});

/// `rollcall serve` killed with SIGKILL in the middle of a backlog, then started again:
/// every event arrives, each agent's in order of first arrival; what was delivered but not
/// yet recorded is sent again with the same `webhook-id` (at least once).
#[test]
fn a_daemon_killed_mid_delivery_delivers_everything_after_restart() {
    use base64::Engine;
    const AGENTS: usize = 600;
    let db = crate::harness::TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().expect("dir");
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    let rx = Receiver::start(&[&secret]);
    rx.control(json!({"secrets": [secret], "delay_ms": 5}));
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[log]\nlevel = \"warn\"\n\
             [webhook_delivery]\npoll_ms = 50\nmax_backoff_secs = 1\n\
             [[webhooks]]\nname = \"crash\"\nurl = \"{}\"\nsecret = \"{secret}\"\nfrom = \"start\"\n",
            db.url,
            rx.url()
        ),
    )
    .expect("config");
    let rc = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("rollcall");
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    rc(&["migrate"]);
    // A backlog: each agent created, then moved to another department.
    let csv = |department: &str| {
        let mut text = String::from("user name,display name,department\n");
        for n in 0..AGENTS {
            text.push_str(&format!("crash{n},Agent {n},{department}\n"));
        }
        let path = dir.path().join(format!("{department}.csv"));
        std::fs::write(&path, text).expect("csv");
        path
    };
    rc(&["import", csv("pre-sales").to_str().expect("path")]);
    rc(&["import", csv("after-sales").to_str().expect("path")]);

    let log = dir.path().join("serve.log");
    let first = crate::concurrency_nodes::daemon(&config, &log);
    wait_until("a part delivered", PATIENCE, || rx.delivered().len() >= 150);
    drop(first); // SIGKILL
    let before = rx.delivered().len();
    assert!(before < 2 * AGENTS, "killed after everything was sent");
    let _second = crate::concurrency_nodes::daemon(&config, &log);
    let distinct = || {
        rx.delivered()
            .iter()
            .map(|(r, _)| r["id"].as_str().unwrap_or_default().to_owned())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    wait_until("every event delivered", Duration::from_secs(120), || {
        distinct() == 2 * AGENTS
    });
    let got = rx.delivered();
    assert!(got.iter().all(|(r, _)| r["verified"] == json!([true])));
    let mut first_seen: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut ids = std::collections::HashSet::new();
    for (r, b) in &got {
        if ids.insert(r["id"].as_str().unwrap_or_default().to_owned()) {
            first_seen
                .entry(
                    b["data"]["agent_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_default()
                .push(b["type"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(first_seen.len(), AGENTS);
    for (agent, types) in &first_seen {
        assert_eq!(types, &["agent.created", "agent.updated"], "{agent}");
    }
    eprintln!(
        "{} requests for {} events ({} sent again after the kill)",
        got.len(),
        2 * AGENTS,
        got.len() - 2 * AGENTS
    );
}
