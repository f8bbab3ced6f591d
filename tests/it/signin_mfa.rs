//! The second factor through real HTTP, on both backends: enrolment (the secret once, a
//! first code to confirm, recovery codes once), sign-in asking for a code, a code never
//! accepted twice, a recovery code used once, an admin removing the factor.

use rollcall::credentials::totp::{Secret, Totp};
use serde_json::{Value, json};

use crate::both;
use crate::harness::TestServer;
use crate::signin::{PASSWORD, agent_with_password, check, login_with_code, token};

fn post(s: &TestServer, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {bearer}");
    let text = body.map(|b| b.to_string());
    let (st, _, t) = s.raw(
        "POST",
        &format!("/api/v1{path}"),
        text.as_deref(),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
    );
    (st, serde_json::from_str(&t).unwrap_or(Value::Null))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

both!(a_totp_code_signs_in_once_and_recovery_codes_once, |b| {
    let s = TestServer::start_with(b, |c| c.auth.mfa.key = Some(hex::encode([7u8; 32])));
    let ops = s.token_with("ops", "admin");
    let id = agent_with_password(&s, "ana");
    let session = token(&s, "ana");

    let (st, v) = post(&s, "/auth/mfa/totp", &session, None);
    assert_eq!(st, 200, "{v}");
    let uri = v["otpauthUri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains("ana"),
        "{uri}"
    );
    let secret = Secret::from_base32(v["secret"].as_str().expect("secret")).expect("base32");
    let totp = Totp::default();
    let (st, v) = post(
        &s,
        "/auth/mfa/totp/confirm",
        &session,
        Some(json!({"code": "000000x"})),
    );
    assert_eq!(
        (st, v["reason"].as_str()),
        (422, Some("invalid_code")),
        "{v}"
    );
    // Confirm with the previous step's code, so the current one is still unused.
    let step = totp.step(now());
    let (st, v) = post(
        &s,
        "/auth/mfa/totp/confirm",
        &session,
        Some(json!({"code": totp.code(&secret, step - 1)})),
    );
    assert_eq!(st, 200, "{v}");
    let recovery: Vec<String> = v["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(recovery.len(), 10);

    // The password alone no longer signs in.
    let (st, v) = login_with_code(&s, "ana", PASSWORD, None);
    assert_eq!(
        (st, v["reason"].as_str()),
        (401, Some("mfa_required")),
        "{v}"
    );
    let code = totp.code(&secret, step);
    let (st, v) = login_with_code(&s, "ana", PASSWORD, Some(&code));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["session"]["mfa"], true);
    // The same code again: refused, and counted.
    let (st, v) = login_with_code(&s, "ana", PASSWORD, Some(&code));
    assert_eq!(
        (st, v["reason"].as_str()),
        (401, Some("invalid_code")),
        "{v}"
    );
    // An older step's code is refused too.
    let (st, _) = login_with_code(&s, "ana", PASSWORD, Some(&totp.code(&secret, step - 1)));
    assert_eq!(st, 401);
    // A recovery code, once.
    let (st, v) = login_with_code(&s, "ana", PASSWORD, Some(&recovery[3]));
    assert_eq!(st, 200, "{v}");
    let (st, _) = login_with_code(&s, "ana", PASSWORD, Some(&recovery[3]));
    assert_eq!(st, 401);
    // Enrolling again is refused while enrolled.
    assert_eq!(post(&s, "/auth/mfa/totp", &session, None).0, 409);
    assert_eq!(check(&s, &session).0, 200);

    // An admin removes it (lost phone): the password alone works again.
    let (st, _) = post(
        &s,
        &format!("/agents/{id}/remove-mfa"),
        &ops,
        Some(json!({"reason": "lost phone"})),
    );
    assert_eq!(st, 204);
    let (st, _) = login_with_code(&s, "ana", PASSWORD, None);
    assert_eq!(st, 200);
    let mut conn = s.conn();
    let log = rollcall::audit::for_target(&mut conn, &id).expect("audit");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"agent.mfa_enroll") && actions.contains(&"agent.mfa_remove"),
        "{actions:?}"
    );
    let text = format!("{log:?}");
    assert!(
        !text.contains(&code)
            && !text.contains(&recovery[0])
            && !text.contains(&secret.to_base32())
    );
});

both!(without_a_key_no_factor_can_be_enrolled, |b| {
    let s = TestServer::start(b);
    agent_with_password(&s, "ana");
    let session = token(&s, "ana");
    let (st, v) = post(&s, "/auth/mfa/totp", &session, None);
    assert_eq!(st, 409, "{v}");
    assert_eq!(post(&s, "/auth/mfa/totp", "rcs_nope", None).0, 401);
});

both!(one_code_signs_in_once_across_two_nodes, |b| {
    let db = crate::harness::TestDb::new(b);
    let mut config = db.config();
    config.auth.mfa.key = Some(hex::encode([7u8; 32]));
    let one = TestServer::serve(
        config.clone(),
        rollcall::server::open_store(&config).expect("store"),
        "idp",
    );
    let two = TestServer::serve(
        config.clone(),
        rollcall::server::open_store(&config).expect("store"),
        "idp2",
    );
    agent_with_password(&one, "ana");
    let session = token(&one, "ana");
    let (st, v) = post(&one, "/auth/mfa/totp", &session, None);
    assert_eq!(st, 200, "{v}");
    let secret = Secret::from_base32(v["secret"].as_str().expect("secret")).expect("base32");
    let totp = Totp::default();
    let mut last = totp.step(now()) - 1;
    let (st, v) = post(
        &one,
        "/auth/mfa/totp/confirm",
        &session,
        Some(json!({"code": totp.code(&secret, last)})),
    );
    assert_eq!(st, 200, "{v}");
    // Each code still in the window, sent to both nodes at the same moment: one sign-in.
    let mut rounds = 0;
    for step in [totp.step(now()), totp.step(now()) + 1] {
        if step <= last {
            continue;
        }
        last = step;
        let code = totp.code(&secret, step);
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let runs: Vec<_> = [&one, &two]
                .into_iter()
                .map(|node| {
                    let (barrier, code) = (&barrier, &code);
                    scope.spawn(move || {
                        barrier.wait();
                        login_with_code(node, "ana", PASSWORD, Some(code)).0
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("thread"))
                .collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 401], "step {step}: {statuses:?}");
        rounds += 1;
    }
    assert!(rounds >= 1);
});
