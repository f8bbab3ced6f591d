//! Sign-in and the session check through real HTTP, on both backends: a session is refused
//! on the very next check after its agent is disabled, forced offline, deleted or has its
//! password changed; lockout with back-off; sign-in refusals; the security log; and two
//! `rollcall serve` processes on one PostgreSQL, where a change on one is honoured by the
//! other within a second.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::harness::{Backend, TestServer};

pub const PASSWORD: &str = "correct horse battery staple";

/// An agent created over SCIM with a password; its id.
pub fn agent_with_password(s: &TestServer, user_name: &str) -> String {
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
            "password": PASSWORD,
            "active": true
        })),
    );
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// `POST /api/v1/auth/login`: (status, headers, body).
pub fn login(s: &TestServer, login: &str, password: &str) -> (u16, Vec<(String, String)>, Value) {
    let body = json!({ "login": login, "password": password }).to_string();
    login_body(s, &body)
}

/// A sign-in with a second factor's code: (status, body).
pub fn login_with_code(
    s: &TestServer,
    login: &str,
    password: &str,
    code: Option<&str>,
) -> (u16, Value) {
    let body = json!({ "login": login, "password": password, "code": code }).to_string();
    let (st, _, v) = login_body(s, &body);
    (st, v)
}

fn login_body(s: &TestServer, body: &str) -> (u16, Vec<(String, String)>, Value) {
    let (st, h, text) = s.raw(
        "POST",
        "/api/v1/auth/login",
        Some(body),
        &[("Content-Type", "application/json")],
    );
    (st, h, json_of(&text))
}

pub fn token(s: &TestServer, user_name: &str) -> String {
    let (st, _, v) = login(s, user_name, PASSWORD);
    assert_eq!(st, 200, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

/// `GET /api/v1/auth/session` at `base`: (status, body).
pub fn check_at(base: &str, token: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{base}/api/v1/auth/session"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("session check");
    let st = r.status().as_u16();
    (
        st,
        json_of(&r.body_mut().read_to_string().unwrap_or_default()),
    )
}

pub fn check(s: &TestServer, token: &str) -> (u16, Value) {
    check_at(&s.base, token)
}

fn admin(
    s: &TestServer,
    admin: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = format!("Bearer {admin}");
    let text = body.map(|b| b.to_string());
    let (st, _, t) = s.raw(
        method,
        &format!("/api/v1{path}"),
        text.as_deref(),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
    );
    (st, json_of(&t))
}

fn actions_of(s: &TestServer, target: &str) -> Vec<String> {
    let mut conn = s.conn();
    rollcall::audit::for_target(&mut conn, target)
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

both!(a_session_answers_who_the_agent_is_and_what_it_may_do, |b| {
    let s = TestServer::start(b);
    let id = agent_with_password(&s, "ana");
    let (st, _, v) = login(&s, "ana", PASSWORD);
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("rcs_"));
    assert_eq!(v["agent"]["id"], id.as_str());
    // By email too, case-insensitively.
    let (st, _, _) = login(&s, "ANA@example.com", PASSWORD);
    assert_eq!(st, 200);

    let (st, v) = check(&s, &token);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["agent"]["userName"], "ana");
    assert_eq!(v["role"], "agent");
    let permissions: Vec<&str> = v["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!permissions.is_empty(), "{v}");
    assert!(v["session"]["expiresAt"].is_string());
    assert!(v.get("token").is_none(), "the check never shows a token");

    // Nothing in the audit log holds the password or the token.
    let mut conn = s.conn();
    let log = rollcall::audit::recent(&mut conn, 100).expect("audit");
    let text = format!("{log:?}");
    assert!(!text.contains(PASSWORD) && !text.contains(&token));
    let actions = actions_of(&s, &id);
    assert!(actions.contains(&"agent.signin".to_owned()), "{actions:?}");
});

both!(
    a_session_is_refused_on_the_next_check_after_each_leaver_step,
    |b| {
        let s = TestServer::start(b);
        let ops = s.token_with("ops", "admin");
        let cases: [(&str, &str, Value, &str); 4] = [
            ("disable", "/disable", json!({"reason": "left"}), "disabled"),
            (
                "force",
                "/force-offline",
                json!({"reason": "incident"}),
                "forced_offline",
            ),
            ("delete", "", Value::Null, "deleted"),
            ("password", "", Value::Null, "revoked"),
        ];
        for (name, step, body, reason) in cases {
            let id = agent_with_password(&s, name);
            let token = token(&s, name);
            // Warm: the verdict is now in the node's memory.
            for _ in 0..3 {
                assert_eq!(check(&s, &token).0, 200);
            }
            match name {
                "delete" => {
                    let (st, v) = admin(&s, &ops, "DELETE", &format!("/agents/{id}"), None);
                    assert_eq!(st, 204, "{v}");
                }
                "password" => {
                    let (st, v) = s.scim(
                    "PATCH",
                    &format!("/Users/{id}"),
                    Some(json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "password", "value": "another long passphrase"}]
                    })),
                );
                    assert_eq!(st, 200, "{v}");
                }
                _ => {
                    let (st, v) =
                        admin(&s, &ops, "POST", &format!("/agents/{id}{step}"), Some(body));
                    assert_eq!(st, 200, "{v}");
                }
            }
            let (st, v) = check(&s, &token);
            assert_eq!(
                (st, v["reason"].as_str()),
                (401, Some(reason)),
                "{name}: {v}"
            );
        }
    }
);

both!(sign_out_ends_the_session_and_is_logged, |b| {
    let s = TestServer::start(b);
    let id = agent_with_password(&s, "ana");
    let token = token(&s, "ana");
    let other = token_for_second_device(&s);
    let auth = format!("Bearer {token}");
    let (st, _, _) = s.raw(
        "POST",
        "/api/v1/auth/logout",
        None,
        &[("Authorization", &auth)],
    );
    assert_eq!(st, 204);
    let (st, v) = check(&s, &token);
    assert_eq!((st, v["reason"].as_str()), (401, Some("revoked")));
    // The agent's other session is untouched.
    assert_eq!(check(&s, &other).0, 200);
    assert!(actions_of(&s, &id).contains(&"session.revoke".to_owned()));
    // An unknown token is refused as such.
    let (st, v) = check(&s, "rcs_not-a-session");
    assert_eq!((st, v["reason"].as_str()), (401, Some("invalid")));
    let (st, v) = check(&s, "rc_an-api-token");
    assert_eq!((st, v["reason"].as_str()), (401, Some("invalid")));
});

fn token_for_second_device(s: &TestServer) -> String {
    token(s, "ana")
}

both!(refused_sign_ins_say_why_and_lock_with_back_off, |b| {
    let s = TestServer::start_with(b, |c| {
        c.signin.lockout_threshold = 3;
        c.signin.lockout_base_secs = 60;
    });
    let ops = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "ana");
    let (st, _, v) = login(&s, "nobody", PASSWORD);
    assert_eq!(
        (st, v["reason"].as_str()),
        (401, Some("invalid_credentials"))
    );
    for _ in 0..2 {
        let (st, _, v) = login(&s, "ana", "wrong password");
        assert_eq!(
            (st, v["reason"].as_str()),
            (401, Some("invalid_credentials")),
            "{v}"
        );
    }
    // The third failure locks; from then on even the right password waits.
    let (st, _, _) = login(&s, "ana", "wrong password");
    assert_eq!(st, 401);
    let (st, h, v) = login(&s, "ana", PASSWORD);
    assert_eq!((st, v["reason"].as_str()), (429, Some("locked")), "{v}");
    let retry: u64 = h
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    let actions = actions_of(&s, &id);
    assert!(actions.contains(&"agent.lock".to_owned()), "{actions:?}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "agent.signin_failed")
            .count(),
        4,
        "{actions:?}"
    );

    // Disabled, pending and forced-offline agents are refused with their reason, after the
    // password was checked.
    let id2 = agent_with_password(&s, "bo");
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id2}/force-offline"),
        Some(json!({"reason": "x"})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, _, v) = login(&s, "bo", PASSWORD);
    assert_eq!((st, v["reason"].as_str()), (403, Some("forced_offline")));
    let (st, _, v) = login(&s, "bo", "wrong password");
    assert_eq!(
        (st, v["reason"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id2}/resume"),
        Some(json!({"reason": "x"})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id2}/disable"),
        Some(json!({"reason": "x"})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, _, v) = login(&s, "bo", PASSWORD);
    assert_eq!((st, v["reason"].as_str()), (403, Some("disabled")));
});

both!(one_address_guessing_is_throttled, |b| {
    let s = TestServer::start_with(b, |c| {
        c.signin.address_failures = 4;
        c.signin.lockout_threshold = 100;
    });
    agent_with_password(&s, "ana");
    for i in 0..4 {
        let (st, _, _) = login(&s, &format!("guess{i}"), "x");
        assert_eq!(st, 401);
    }
    let (st, h, v) = login(&s, "ana", PASSWORD);
    assert_eq!((st, v["reason"].as_str()), (429, Some("throttled")), "{v}");
    assert!(h.iter().any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));
});

#[test]
fn a_force_offline_on_one_node_is_honoured_by_the_other_within_a_second() {
    use crate::concurrency_nodes::daemon;
    let db = crate::harness::TestDb::new(Backend::Postgres);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\npool_size = 4\n[server]\nworkers = 2\n[log]\nlevel = \"warn\"\n",
            db.url
        ),
    )
    .expect("config");
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["--config", config.to_str().expect("path"), "migrate"])
        .output()
        .expect("migrate");
    assert!(migrate.status.success());
    let pool = rollcall::store::pool(&rollcall::store::Target::parse(&db.url).expect("url"), 2)
        .expect("pool");
    let scim = crate::harness::create_token(&pool, "idp", "scim");
    let ops = crate::harness::create_token(&pool, "ops", "admin");
    let one = daemon(&config, &dir.path().join("one.log"));
    let two = daemon(&config, &dir.path().join("two.log"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |base: &str, path: &str, bearer: &str, body: Value| -> (u16, Value) {
        let mut r = agent
            .post(format!("{base}{path}"))
            .header("Authorization", &format!("Bearer {bearer}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .expect("request");
        let st = r.status().as_u16();
        (
            st,
            json_of(&r.body_mut().read_to_string().unwrap_or_default()),
        )
    };
    let (st, v) = post(
        &one.base,
        "/scim/v2/Users",
        &scim,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ana", "password": PASSWORD}),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let (st, v) = post(
        &two.base,
        "/api/v1/auth/login",
        "",
        json!({"login": "ana", "password": PASSWORD}),
    );
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().expect("token").to_owned();
    // Node two has the session in memory.
    assert_eq!(check_at(&two.base, &token).0, 200);
    assert_eq!(check_at(&one.base, &token).0, 200);

    let (st, v) = post(
        &one.base,
        &format!("/api/v1/agents/{id}/force-offline"),
        &ops,
        json!({"reason": "incident"}),
    );
    assert_eq!(st, 200, "{v}");
    let changed = Instant::now();
    // On the node that made the change: at once.
    assert_eq!(check_at(&one.base, &token).1["reason"], "forced_offline");
    // On the other: within a second.
    let mut last = Value::Null;
    while changed.elapsed() < Duration::from_secs(1) {
        let (st, v) = check_at(&two.base, &token);
        if st == 401 {
            assert_eq!(v["reason"], "forced_offline");
            eprintln!(
                "node two refused the session {:?} after the change",
                changed.elapsed()
            );
            return;
        }
        last = v;
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("node two still accepted the session a second after the change: {last}");
}

both!(admins_see_unlock_and_end_an_agents_sign_in, |b| {
    let s = TestServer::start_with(b, |c| c.signin.lockout_threshold = 2);
    let ops = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "ana");
    let first = token(&s, "ana");
    let second = token(&s, "ana");
    for _ in 0..2 {
        assert_eq!(login(&s, "ana", "wrong password").0, 401);
    }
    assert_eq!(login(&s, "ana", PASSWORD).0, 429);
    let (st, v) = admin(&s, &ops, "GET", &format!("/agents/{id}/signin"), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["failedSignins"], 2);
    assert!(v["lockedUntil"].is_string(), "{v}");
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(!v.to_string().contains(&first), "no token is shown");

    // Unlock (the reason is required) and sign in again.
    let (st, _) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id}/unlock"),
        Some(json!({"reason": " "})),
    );
    assert_eq!(st, 422);
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id}/unlock"),
        Some(json!({"reason": "called the help desk"})),
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["lockedUntil"].is_null() && v["failedSignins"] == 0, "{v}");
    let third = token(&s, "ana");

    // End one session, then all.
    let session_of = |t: &str| {
        check(&s, t).1["session"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let one = session_of(&first);
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id}/revoke-sessions"),
        Some(json!({"reason": "lost phone", "session": one})),
    );
    assert_eq!((st, v["revoked"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(check(&s, &first).1["reason"], "revoked");
    assert_eq!(check(&s, &second).0, 200);
    let (st, v) = admin(
        &s,
        &ops,
        "POST",
        &format!("/agents/{id}/revoke-sessions"),
        Some(json!({"reason": "incident"})),
    );
    assert_eq!((st, v["revoked"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(check(&s, &second).1["reason"], "revoked");
    assert_eq!(check(&s, &third).1["reason"], "revoked");

    // The security log, through the audit API.
    let (st, v) = admin(
        &s,
        &ops,
        "GET",
        &format!("/audit?action=security&target={id}&limit=100"),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let actions: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "agent.signin",
        "agent.signin_failed",
        "agent.lock",
        "agent.unlock",
        "session.revoke",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert!(!actions.contains(&"agent.create"), "{actions:?}");
});

both!(
    a_hash_of_other_parameters_is_replaced_at_the_next_good_sign_in,
    |b| {
        let s = TestServer::start_with(b, |c| {
            c.auth.argon2.memory_kib = 8192;
            c.auth.argon2.iterations = 1;
        });
        let id = agent_with_password(&s, "ana");
        let stored = |s: &TestServer| {
            let mut conn = s.conn();
            rollcall::accounts::agent_row(&mut conn, &id)
                .expect("row")
                .expect("agent")
                .password_hash
                .expect("hash")
        };
        let before = stored(&s);
        assert!(before.contains("m=19456"), "{before}");
        token(&s, "ana");
        let after = stored(&s);
        assert!(after.contains("m=8192,t=1"), "{after}");
        // And it still verifies.
        token(&s, "ana");
    }
);

both!(the_cli_shows_unlocks_and_ends_an_agents_sign_in, |b| {
    let db = crate::harness::TestDb::new(b);
    let mut config = db.config();
    config.signin.lockout_threshold = 1;
    let pool = rollcall::server::open_store(&config).expect("store");
    let s = TestServer::serve(config, pool, "idp");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(args)
            .env("ROLLCALL_DATABASE_URL", &db.url)
            .env("ROLLCALL_LOG_LEVEL", "warn")
            .env_remove("ROLLCALL_CONFIG")
            .output()
            .expect("rollcall");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    };
    let id = agent_with_password(&s, "ana");
    let session = token(&s, "ana");
    assert_eq!(login(&s, "ana", "wrong password").0, 401);
    assert_eq!(login(&s, "ana", PASSWORD).0, 429);
    let (code, out) = run(&["signin", "show", "ana", "--json"]);
    assert_eq!(code, 0);
    let v = json_of(&out);
    assert_eq!(
        (
            v["failedSignins"].as_i64(),
            v["sessions"].as_array().map(Vec::len)
        ),
        (Some(1), Some(1)),
        "{out}"
    );
    assert_eq!(
        run(&["signin", "unlock", "ana", "--reason", "verified by phone"]).0,
        0
    );
    assert_eq!(login(&s, "ana", PASSWORD).0, 200);
    assert_eq!(
        run(&["signin", "revoke", "ana", "--reason", "incident"]).0,
        0
    );
    assert_eq!(check(&s, &session).1["reason"], "revoked");
    assert_eq!(run(&["signin", "unlock", "nobody", "--reason", "x"]).0, 3);
    let (code, out) = run(&["audit", "show", "--action", "security", "--target", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains("agent.unlock") && out.contains("cli:"),
        "{out}"
    );
});
