//! Passwords through real HTTP, on both backends: the activation link a new agent is mailed
//! (through a real SMTP server) works once, with the policy's refusals named rule by rule;
//! an initial password must be changed before the session is good for work; an admin reset
//! ends sessions and lifts a lock; the self-service reset by mail works while locked and
//! tells nothing about which accounts exist; the classic policy's history and expiry; a role
//! that must use a second factor; the CLI reset.

use rollcall::config::FirstPassword;
use serde_json::{Value, json};

use crate::api_framework::api;
use crate::both;
use crate::harness::{TestServer, free_port};
use crate::mail::{Sink, mail_config};
use crate::signin::{PASSWORD, agent_with_password, check, login, token};

const NEW_PASSWORD: &str = "correct stapler orbit meadow";

fn post(s: &TestServer, bearer: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let (st, _, v) = api(s, bearer, "POST", path, Some(&body.to_string()), &[]);
    (st, v)
}

/// The token of the link in a mail's text.
fn link_token(text: &str) -> String {
    let at = text.find("#token=").expect("a link in the mail") + "#token=".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

fn rules(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["rule"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Signs `user` in with `password`: accepted (200), but with `step` required first, and the
/// session check refuses the session with 403 `step` until it is taken. The token.
fn signs_in_needing(s: &TestServer, user: &str, password: &str, step: &str) -> String {
    let (st, _, v) = login(s, user, password);
    assert_eq!((st, v["required"].as_str()), (200, Some(step)), "{v}");
    let token = v["token"].as_str().expect("token").to_owned();
    let (st, v) = check(s, &token);
    assert_eq!((st, v["reason"].as_str()), (403, Some(step)), "{v}");
    token
}

fn actions(s: &TestServer, admin: &str, id: &str) -> Vec<String> {
    let (st, _, v) = api(
        s,
        Some(admin),
        "GET",
        &format!("/audit?action=security&target={id}&limit=100"),
        None,
        &[],
    );
    assert_eq!(st, 200, "{v}");
    let mut out: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.reverse();
    out
}

both!(an_activation_link_works_once, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    let s = TestServer::start_with(b, |c| {
        mail_config(c, port);
        c.mail.public_url = Some("https://rc.example.com".into());
        // The product's default (the test harness turns it off).
        c.auth.new_agents.first_password = FirstPassword::ActivationLink;
    });
    let admin = s.token_with("ops", "admin");
    let (st, _, v) = api(
        &s,
        Some(&admin),
        "POST",
        "/agents",
        Some(&json!({"userName": "ana", "email": "ana@example.com"}).to_string()),
        &[],
    );
    assert_eq!(st, 201, "{v}");
    assert!(v.get("initialPassword").is_none(), "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let mail = &sink.wait_for(1)[0];
    assert_eq!(mail["to"], "ana@example.com");
    let text = mail["text"].as_str().expect("text");
    assert!(
        text.contains("https://rc.example.com/password#token=rcl_"),
        "{text}"
    );
    let link = link_token(text);
    // No password yet: signing in is refused like a wrong password.
    assert_eq!(login(&s, "ana", PASSWORD).0, 401);

    // The page the link opens, with a strict policy and no inline script.
    let (st, headers, page) = s.raw("GET", "/password", None, &[]);
    assert_eq!(st, 200);
    assert!(
        page.contains("password.js") && !page.contains("<script>"),
        "{page}"
    );
    let csp = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-security-policy"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(s.raw("GET", "/password.js", None, &[]).0, 200);

    // A weak password: every rule it breaks, named.
    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": "password"}),
    );
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["type"], "urn:rollcall:problem:password-policy");
    assert_eq!(rules(&v), ["min_length", "blocklisted"], "{v}");
    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": "ana's very own passphrase"}),
    );
    assert_eq!(
        (st, rules(&v)),
        (422, vec!["contains_user_name".to_owned()]),
        "{v}"
    );

    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(st, 204, "{v}");
    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": "another fine passphrase here"}),
    );
    assert_eq!((st, v["reason"].as_str()), (410, Some("link_used")), "{v}");
    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": "rcl_nothing", "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(
        (st, v["reason"].as_str()),
        (400, Some("link_invalid")),
        "{v}"
    );
    let (st, _, v) = login(&s, "ana", NEW_PASSWORD);
    assert_eq!(st, 200, "{v}");
    assert!(v.get("required").is_none(), "{v}");
    assert_eq!(
        actions(&s, &admin, &id),
        [
            "agent.activation_link",
            "agent.signin_failed",
            "agent.password_change",
            "agent.signin"
        ]
    );
});

both!(an_expired_link_is_refused, |b| {
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "bea");
    let (st, v) = post(
        &s,
        Some(&admin),
        &format!("/agents/{id}/password-reset"),
        json!({"reason": "forgot it"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["method"].as_str(), v["mailed"].as_bool()),
        (Some("link"), Some(true))
    );
    let link = link_token(v["link"].as_str().expect("link"));
    {
        use diesel::prelude::*;
        use rollcall::store::schema::credential_links as l;
        let mut conn = s.conn();
        diesel::update(l::table)
            .set(l::expires_at.eq(rollcall::store::now()))
            .execute(&mut conn)
            .expect("expire");
    }
    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(
        (st, v["reason"].as_str()),
        (410, Some("link_expired")),
        "{v}"
    );
});

both!(an_initial_password_must_be_changed_first, |b| {
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let body =
        json!({"userName": "cai", "email": "cai@example.com", "firstPassword": "initial_password"})
            .to_string();
    let (st, headers, v) = api(
        &s,
        Some(&admin),
        "POST",
        "/agents",
        Some(&body),
        &[("Idempotency-Key", "cai-1")],
    );
    assert_eq!(st, 201, "{v}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "cache-control" && v == "no-store")
    );
    let initial = v["initialPassword"]
        .as_str()
        .expect("initial password")
        .to_owned();
    assert!(initial.len() >= 20, "{initial}");
    // A retry gets the answer again, without the password.
    let (st, _, again) = api(
        &s,
        Some(&admin),
        "POST",
        "/agents",
        Some(&body),
        &[("Idempotency-Key", "cai-1")],
    );
    assert_eq!(st, 201);
    assert!(!again.to_string().contains(&initial), "{again}");

    let first = signs_in_needing(&s, "cai", &initial, "password_change_required");
    let second = signs_in_needing(&s, "cai", &initial, "password_change_required");

    let (st, v) = post(
        &s,
        Some(&first),
        "/auth/password",
        json!({"currentPassword": "not it", "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(
        (st, v["reason"].as_str()),
        (403, Some("invalid_credentials")),
        "{v}"
    );
    let (st, v) = post(
        &s,
        Some(&first),
        "/auth/password",
        json!({"currentPassword": initial, "newPassword": initial}),
    );
    assert_eq!((st, rules(&v)), (422, vec!["reused".to_owned()]), "{v}");
    let (st, v) = post(
        &s,
        Some(&first),
        "/auth/password",
        json!({"currentPassword": initial, "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(st, 204, "{v}");
    // The session it was changed from is now good; the other one ended.
    assert_eq!(check(&s, &first).0, 200);
    let (st, v) = check(&s, &second);
    assert_eq!((st, v["reason"].as_str()), (401, Some("revoked")), "{v}");
    assert_eq!(login(&s, "cai", &initial).0, 401);
    let (st, _, v) = login(&s, "cai", NEW_PASSWORD);
    assert_eq!((st, v.get("required")), (200, None), "{v}");
});

both!(an_admin_reset_ends_sessions_and_lifts_the_lock, |b| {
    let s = TestServer::start_with(b, |c| c.signin.lockout_threshold = 2);
    let admin = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "dan");
    let session = token(&s, "dan");
    assert_eq!(login(&s, "dan", "wrong one").0, 401);
    assert_eq!(login(&s, "dan", "wrong two").0, 401);
    assert_eq!(login(&s, "dan", PASSWORD).0, 429);

    let (st, v) = post(
        &s,
        Some(&admin),
        &format!("/agents/{id}/password-reset"),
        json!({"method": "initial_password", "reason": "called the help desk"}),
    );
    assert_eq!(st, 200, "{v}");
    let initial = v["initialPassword"].as_str().expect("password").to_owned();
    assert!(v.get("link").is_none(), "{v}");
    let (st, v) = check(&s, &session);
    assert_eq!((st, v["reason"].as_str()), (401, Some("revoked")), "{v}");
    assert_eq!(login(&s, "dan", PASSWORD).0, 401);
    signs_in_needing(&s, "dan", &initial, "password_change_required");

    // By link: the password is cleared at once.
    let (st, v) = post(
        &s,
        Some(&admin),
        &format!("/agents/{id}/password-reset"),
        json!({"reason": "suspected phishing"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(login(&s, "dan", &initial).0, 401);
    let link = link_token(v["link"].as_str().expect("link"));
    let (st, _) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(st, 204);
    assert_eq!(login(&s, "dan", NEW_PASSWORD).0, 200);
    let log = actions(&s, &admin, &id);
    assert!(
        log.iter().filter(|a| *a == "agent.password_reset").count() == 2,
        "{log:?}"
    );
    assert!(log.contains(&"session.revoke".to_owned()), "{log:?}");

    // The security log has no password, link or token in it.
    let (_, _, all) = api(&s, Some(&admin), "GET", "/audit?limit=200", None, &[]);
    let text = all.to_string();
    for secret in [initial.as_str(), link.as_str(), NEW_PASSWORD] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }

    let (st, v) = post(
        &s,
        Some(&admin),
        "/agents/nobody/password-reset",
        json!({"reason": "x"}),
    );
    assert_eq!(st, 404, "{v}");
});

both!(a_self_service_reset_works_while_locked, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    let s = TestServer::start_with(b, |c| {
        mail_config(c, port);
        c.signin.lockout_threshold = 1;
    });
    let admin = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "eve");
    let session = token(&s, "eve");
    assert_eq!(login(&s, "eve", "wrong").0, 401);
    assert_eq!(login(&s, "eve", PASSWORD).0, 429);

    let (st, known) = post(
        &s,
        None,
        "/auth/password/forgot",
        json!({"login": "eve@example.com"}),
    );
    assert_eq!(st, 202, "{known}");
    let (st, unknown) = post(
        &s,
        None,
        "/auth/password/forgot",
        json!({"login": "nobody@example.com"}),
    );
    assert_eq!((st, &unknown), (202, &known));
    // A second ask within the interval sends nothing more.
    assert_eq!(
        post(&s, None, "/auth/password/forgot", json!({"login": "eve"})).0,
        202
    );
    let mails = sink.wait_for(1);
    let text = mails[0]["text"].as_str().expect("text");
    let link = link_token(text);
    // Asking changes nothing: still locked, the session still good.
    assert_eq!(login(&s, "eve", PASSWORD).0, 429);
    assert_eq!(check(&s, &session).0, 200);

    let (st, v) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link, "newPassword": "purple lantern over the harbour"}),
    );
    assert_eq!(st, 204, "{v}");
    assert_eq!(check(&s, &session).0, 401);
    assert_eq!(login(&s, "eve", "purple lantern over the harbour").0, 200);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sink.messages().len(), 1, "one mail for three asks");
    let log = actions(&s, &admin, &id);
    assert_eq!(
        log.iter()
            .filter(|a| *a == "agent.password_reset_request")
            .count(),
        1,
        "{log:?}"
    );
});

both!(the_classic_policy_keeps_history_and_expires, |b| {
    let s = TestServer::start_with(b, |c| {
        c.auth.password_policy.profile = rollcall::config::PolicyProfile::Classic;
        c.auth.password_policy.classic.history = 2;
        c.auth.password_policy.classic.expire_days = 30;
        c.auth.password_policy.classic.warn_days = 5;
    });
    let id = agent_with_password(&s, "fox");
    let t = token(&s, "fox");
    let change = |current: &str, new: &str| {
        post(
            &s,
            Some(&t),
            "/auth/password",
            json!({"currentPassword": current, "newPassword": new}),
        )
    };
    let (st, v) = change(PASSWORD, "all lower case words");
    assert_eq!(
        (st, rules(&v)),
        (422, vec!["missing_class".to_owned()]),
        "{v}"
    );
    assert_eq!(change(PASSWORD, "Second-Pass-2026").0, 204);
    assert_eq!(change("Second-Pass-2026", "Third-Pass-2026").0, 204);
    let (st, v) = change("Third-Pass-2026", "Second-Pass-2026");
    assert_eq!((st, rules(&v)), (422, vec!["reused".to_owned()]), "{v}");
    assert_eq!(change("Third-Pass-2026", "Fourth-Pass-2026").0, 204);
    assert_eq!(change("Fourth-Pass-2026", "Fifth-Pass-2026").0, 204);
    // Only the last two are remembered.
    assert_eq!(change("Fifth-Pass-2026", "Second-Pass-2026").0, 204);

    // Close to its expiry: a warning; past it: signing in asks for a change first.
    let age = |days: i64| {
        use diesel::prelude::*;
        use rollcall::store::schema::agents as a;
        let mut conn = s.conn();
        diesel::update(a::table.filter(a::id.eq(&id)))
            .set(a::password_changed_at.eq(rollcall::store::now() - chrono::Duration::days(days)))
            .execute(&mut conn)
            .expect("age the password");
    };
    age(27);
    let (st, _, v) = login(&s, "fox", "Second-Pass-2026");
    assert_eq!(
        (st, v["passwordExpiresInDays"].as_i64()),
        (200, Some(3)),
        "{v}"
    );
    assert!(v.get("required").is_none(), "{v}");
    age(31);
    let t = signs_in_needing(&s, "fox", "Second-Pass-2026", "password_expired");
    // Changing it makes the session good for work.
    let (st, v) = post(
        &s,
        Some(&t),
        "/auth/password",
        json!({"currentPassword": "Second-Pass-2026", "newPassword": "Sixth-Pass-2026"}),
    );
    assert_eq!(st, 204, "{v}");
    assert_eq!(check(&s, &t).0, 200);
});

both!(a_role_that_must_use_mfa_enrols_before_work, |b| {
    use rollcall::credentials::totp::{Secret, Totp};
    let s = TestServer::start_with(b, |c| {
        c.auth.mfa.key = Some(hex::encode([5u8; 32]));
        c.auth.mfa.required_roles = vec!["agent".into()];
    });
    agent_with_password(&s, "gil");
    let t = signs_in_needing(&s, "gil", PASSWORD, "mfa_enrollment_required");
    let (st, v) = post(&s, Some(&t), "/auth/mfa/totp", json!({}));
    assert_eq!(st, 200, "{v}");
    let secret = Secret::from_base32(v["secret"].as_str().expect("secret")).expect("base32");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let totp = Totp::default();
    let code = totp.code(&secret, totp.step(now));
    let (st, v) = post(
        &s,
        Some(&t),
        "/auth/mfa/totp/confirm",
        json!({"code": code}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = check(&s, &t);
    assert_eq!(
        (st, v["session"]["mfa"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
});

both!(the_cli_resets_a_password, |b| {
    let db = crate::harness::TestDb::new(b);
    let pool = rollcall::server::open_store(&db.config()).expect("store");
    let s = TestServer::serve(db.config(), pool, "idp");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(args)
            .env("ROLLCALL_DATABASE_URL", &db.url)
            .env("ROLLCALL_LOG_LEVEL", "warn")
            .env_remove("ROLLCALL_CONFIG")
            .output()
            .expect("rollcall");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    agent_with_password(&s, "hal");
    let session = token(&s, "hal");
    let (code, password) = run(&[
        "signin",
        "reset",
        "hal",
        "--initial-password",
        "--reason",
        "help desk",
    ]);
    assert_eq!(code, 0);
    // Another process: this server hears of it within `sessions.poll_ms`.
    crate::harness::wait_until(
        "the session refused",
        std::time::Duration::from_secs(2),
        || check(&s, &session).0 == 401,
    );
    signs_in_needing(&s, "hal", &password, "password_change_required");
    let (code, link) = run(&["signin", "reset", "hal", "--reason", "help desk"]);
    assert_eq!(code, 0);
    assert!(link.contains("/password#token=rcl_"), "{link}");
    assert_eq!(login(&s, "hal", &password).0, 401);
    let (st, _) = post(
        &s,
        None,
        "/auth/password/link",
        json!({"token": link_token(&link), "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(st, 204);
    assert_eq!(login(&s, "hal", NEW_PASSWORD).0, 200);
    assert_ne!(run(&["signin", "reset", "nobody", "--reason", "x"]).0, 0);
});

both!(mail_is_in_the_agents_language, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    let s = TestServer::start_with(b, |c| {
        mail_config(c, port);
        c.auth.new_agents.first_password = FirstPassword::ActivationLink;
    });
    let admin = s.token_with("ops", "admin");
    // Over SCIM, as an identity provider sends it (an Accept-Language list).
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "wang",
            "preferredLanguage": "zh-CN,zh;q=0.9,en;q=0.8",
            "emails": [{"value": "wang@example.com", "type": "work", "primary": true}],
        })),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["preferredLanguage"], "zh-CN,zh;q=0.9,en;q=0.8");
    let (st, found) = s.scim(
        "GET",
        &format!(
            "/Users?filter={}",
            crate::harness::q("preferredLanguage sw \"zh\"")
        ),
        None,
    );
    assert_eq!(
        (st, found["totalResults"].as_i64()),
        (200, Some(1)),
        "{found}"
    );
    // Over the admin API.
    let (st, _, v) = api(
        &s,
        Some(&admin),
        "POST",
        "/agents",
        Some(
            &json!({"userName": "liam", "email": "liam@example.com", "preferredLanguage": "en-GB"})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(
        (st, v["preferredLanguage"].as_str()),
        (201, Some("en-GB")),
        "{v}"
    );
    let mails = sink.wait_for(2);
    let subject = |to: &str| {
        mails
            .iter()
            .find(|m| m["to"] == to)
            .and_then(|m| m["subject"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        subject("wang@example.com"),
        "请激活您的 Acme Service Desk 账号"
    );
    assert_eq!(
        subject("liam@example.com"),
        "Activate your Acme Service Desk account"
    );
});

both!(an_import_mails_each_new_agent_an_activation_link, |b| {
    use diesel::prelude::*;
    use rollcall::store::schema::{audit_log, credential_links, mail_outbox};
    let db = crate::harness::TestDb::new(b);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("rc.toml");
    // The product's defaults: an import's new agents get activation links.
    std::fs::write(&cfg, format!("[database]\nurl = \"{}\"\n", db.url)).expect("config");
    let file = dir.path().join("new-hires.csv");
    std::fs::write(
        &file,
        "user name,display name,email\nmei,Mei Lin,mei@example.com\nraj,Raj Patel,raj@example.com\nzoe,Zoe Park,\n",
    )
    .expect("file");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg(&file)
        .output()
        .expect("run rollcall import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = rollcall::server::open_store(&db.config()).expect("store");
    let mut conn = pool.get().expect("conn");
    let mails: Vec<(String, String)> = mail_outbox::table
        .order(mail_outbox::recipient.asc())
        .select((mail_outbox::recipient, mail_outbox::template))
        .load(&mut conn)
        .expect("outbox");
    assert_eq!(
        mails,
        [
            ("mei@example.com".to_owned(), "activation".to_owned()),
            ("raj@example.com".to_owned(), "activation".to_owned())
        ],
        "one each for the two with an email"
    );
    let links: i64 = credential_links::table
        .count()
        .get_result(&mut conn)
        .expect("links");
    let audited: i64 = audit_log::table
        .filter(audit_log::action.eq("agent.activation_link"))
        .count()
        .get_result(&mut conn)
        .expect("audit");
    assert_eq!((links, audited), (2, 2));
});
