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
