//! Every SCIM error type a client can provoke, with its status and `scimType`, over HTTP.

use serde_json::{Value, json};

use crate::both;
use crate::harness::{TestServer, q};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn patch_user(s: &TestServer, id: &str, ops: Value) -> (u16, Value) {
    s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": ops})),
    )
}

fn expect_error(got: (u16, Value), status: u16, scim_type: Option<&str>) {
    let (st, body) = got;
    assert_eq!(st, status, "{body}");
    assert_eq!(body["schemas"][0], ERROR, "{body}");
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

both!(patch_errors_name_the_problem_and_change_nothing, |b| {
    let s = TestServer::start(b);
    let user = s.create_user("pat");
    let id = user["id"].as_str().expect("id").to_owned();
    let version = user["meta"]["version"].clone();
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "replace", "path": "shoeSize", "value": 44}]),
        ),
        400,
        Some("invalidPath"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "replace", "path": "id", "value": "mine"}]),
        ),
        400,
        Some("mutability"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "add", "path": "groups", "value": [{"value": "x"}]}]),
        ),
        400,
        Some("mutability"),
    );
    expect_error(
        patch_user(&s, &id, json!([{"op": "remove"}])),
        400,
        Some("noTarget"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"fax\"]", "value": {"value": "1"}}]),
        ),
        400,
        Some("noTarget"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "move", "path": "title", "value": "x"}]),
        ),
        400,
        Some("invalidSyntax"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "add", "path": "emails[type eq", "value": "x"}]),
        ),
        400,
        Some("invalidPath"),
    );
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "replace", "path": "active", "value": "sometimes"}]),
        ),
        400,
        Some("invalidValue"),
    );
    // A failing operation after a good one: nothing of the request is applied.
    expect_error(
        patch_user(
            &s,
            &id,
            json!([{"op": "replace", "path": "title", "value": "Changed"}, {"op": "replace", "path": "nope", "value": 1}]),
        ),
        400,
        Some("invalidPath"),
    );
    let (_, after) = s.scim("GET", &format!("/Users/{id}"), None);
    assert!(after.get("title").is_none());
    assert_eq!(after["meta"]["version"], version);
    // Unknown user.
    expect_error(
        patch_user(
            &s,
            "00000000-0000-0000-0000-000000000000",
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        ),
        404,
        None,
    );
});

both!(patch_returns_the_resource_honouring_attributes, |b| {
    let s = TestServer::start(b);
    let id = s.create_user("proj")["id"].as_str().expect("id").to_owned();
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}?attributes=title"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "Lead"}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"], "Lead");
    assert_eq!(v["id"], id.as_str());
    assert!(v.get("userName").is_none(), "{v}");
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}?excludedAttributes=emails,title"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "P"}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["nickName"], "P");
    assert!(v.get("title").is_none());
});

both!(filter_errors_version_errors_and_too_many, |b| {
    let s = TestServer::start(b);
    for bad in [
        "userName eq",
        "userName xx \"a\"",
        "(userName pr",
        "shoeSize eq 44",
        "emails[type eq \"work\"]]",
    ] {
        expect_error(
            s.scim("GET", &format!("/Users?filter={}", q(bad)), None),
            400,
            Some("invalidFilter"),
        );
    }
    let long = (0..150)
        .map(|i| format!("userName eq \"u{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    expect_error(
        s.scim("GET", &format!("/Users?filter={}", q(&long)), None),
        400,
        Some("invalidFilter"),
    );
    let ok = (0..50)
        .map(|i| format!("userName eq \"u{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let (st, v) = s.scim("GET", &format!("/Users?filter={}", q(&ok)), None);
    assert_eq!((st, v["totalResults"].as_i64()), (200, Some(0)));
    let auth = format!("Bearer {}", s.token);
    let (st, _, body) = s.raw("GET", "/scim/v1/Users", None, &[("Authorization", &auth)]);
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("invalidVers"), "{body}");
    // A huge filter in a search body is refused, not a crash.
    let huge = vec!["userName pr"; 50_000].join(" or ");
    let (st, v) = s.scim("POST", "/Users/.search", Some(json!({"filter": huge})));
    assert_eq!(st, 400, "{v}");
    let (st, _) = s.scim("GET", "/Users?count=1", None);
    assert_eq!(st, 200, "server still answers");
});

both!(google_and_unknown_urns_are_ignored, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:scim:schemas:core:1.0", "urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:custom:1.0"],
            "userName": "gsuite@example.com",
            "name": {"givenName": "G", "familyName": "Suite"}
        })),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["name"]["familyName"], "Suite");
});

both!(wrong_methods_get_405, |b| {
    let s = TestServer::start(b);
    let auth = format!("Bearer {}", s.token);
    for (method, path) in [
        ("POST", "/scim/v2/ServiceProviderConfig"),
        ("DELETE", "/scim/v2/Schemas"),
        ("PUT", "/scim/v2/ResourceTypes/User"),
        ("PUT", "/scim/v2/Users"),
        (
            "POST",
            "/scim/v2/Groups/00000000-0000-0000-0000-000000000000",
        ),
        ("GET", "/scim/v2/Bulk"),
        ("PUT", "/scim/v2/Bulk"),
        ("PATCH", "/scim/v2/Bulk"),
        ("DELETE", "/scim/v2/Bulk"),
        ("GET", "/scim/v2/.search"),
        ("GET", "/scim/v2/Users/.search"),
        ("DELETE", "/scim/v2/Groups/.search"),
    ] {
        let (st, headers, body) = s.raw(
            method,
            path,
            Some("{}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
            ],
        );
        assert_eq!(st, 405, "{method} {path}: {body}");
        assert!(body.contains(ERROR), "{body}");
        let allow = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("allow"))
            .map(|(_, v)| v.as_str());
        let expected = match path {
            p if p.ends_with("/Bulk") || p.ends_with(".search") => "POST",
            "/scim/v2/Users" => "GET, POST",
            p if p.contains("/Groups/") => "GET, PUT, PATCH, DELETE",
            _ => "GET",
        };
        assert_eq!(allow, Some(expected), "{method} {path}");
    }
});
