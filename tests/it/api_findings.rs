//! What schemathesis found in the admin API, kept as tests: each request once caused a 5xx
//! or an undocumented answer.

use serde_json::json;

use crate::api_sources::{api, header};
use crate::both;
use crate::harness::{Backend, TestServer};

both!(a_reason_holding_nul_is_a_422, |b: Backend| {
    // PostgreSQL refuses NUL in text: a lifecycle step with such a reason answered 500.
    let server = TestServer::start(b);
    let admin = server.token_with("ops", "admin");
    let id = server.create_user("nul.reason")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for step in ["disable", "force-offline"] {
        let (s, h, v) = api(
            &server,
            &admin,
            "POST",
            &format!("/agents/{id}/{step}"),
            Some(json!({"reason": "left\u{0}the team"})),
        );
        assert_eq!(s, 422, "{step}: {v}");
        assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
        assert_eq!(v["errors"][0]["pointer"], "/reason", "{v}");
    }
});

both!(
    nul_in_a_delete_reason_or_a_login_is_refused_not_a_500,
    |b: Backend| {
        // PostgreSQL refuses NUL in text: DELETE ?reason=…%00… answered 500 there.
        let server = TestServer::start(b);
        let admin = server.token_with("ops", "admin");
        let id = server.create_user("nul.delete")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (st, _, body) = server.raw(
            "DELETE",
            &format!("/api/v1/agents/{id}?reason=left%00us"),
            None,
            &[("Authorization", &format!("Bearer {admin}"))],
        );
        assert_eq!(st, 400, "{body}");
        assert!(body.contains("NUL"), "{body}");
        let json = [("Content-Type", "application/json")];
        let (st, _, body) = server.raw(
            "POST",
            "/api/v1/auth/login",
            Some(r#"{"login": "nul\u0000.delete", "password": "x"}"#),
            &json,
        );
        assert_eq!(st, 401, "{body}");
        let (st, _, body) = server.raw(
            "POST",
            "/api/v1/auth/password/forgot",
            Some(r#"{"login": "nul\u0000.delete"}"#),
            &json,
        );
        assert_eq!(st, 202, "{body}");
        // A role named with a NUL in an agent PATCH, saved or previewed (PostgreSQL answered
        // 500 to the preview): refused as a bad role.
        let auth = format!("Bearer {admin}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        for query in ["", "?dry_run=true"] {
            let (st, _, body) = server.raw(
                "PATCH",
                &format!("/api/v1/agents/{id}{query}"),
                Some(r#"{"role": "lead\u0000:"}"#),
                &headers,
            );
            assert_eq!(st, 422, "{query}: {body}");
            assert!(body.contains("role"), "{body}");
        }
    }
);
