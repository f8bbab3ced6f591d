//! `/api/v1/imports` over real HTTP: multipart and text/csv uploads, the record and report
//! CSV, scopes, Idempotency-Key, the template, and approval of imported agents.

use diesel::prelude::*;
use rollcall::store::schema::agents;
use serde_json::Value;

use crate::both;
use crate::harness::TestServer;

const FILE: &str = "user name,display name,email,agent number,manager\n\
    boss,The Boss,boss@example.cn,100,\n\
    li.lei,李雷,li@example.cn,101,boss\n";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

both!(imports_over_the_api, |b| {
    let s = TestServer::start_with(b, |c| c.accounts.approval.import = Some(true));
    let admin = format!("Bearer {}", s.token_with("adm", "admin"));
    let reader = format!("Bearer {}", s.token_with("rd", "read"));

    // Multipart, with an Idempotency-Key.
    let form = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hires.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{FILE}\r\n--b0undary--\r\n"
    );
    let headers = [
        ("Authorization", admin.as_str()),
        ("Content-Type", "multipart/form-data; boundary=b0undary"),
        ("Idempotency-Key", "import-1"),
    ];
    let (st, _, body) = s.raw("POST", "/api/v1/imports", Some(&form), &headers);
    assert_eq!(st, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["fileName"], "hires.csv");
    assert_eq!(v["status"], "done");
    assert_eq!(v["summary"]["created"], 2);
    // Approval of imports is configured: the new agents wait for an admin.
    let statuses: Vec<String> = {
        let mut conn = s.conn();
        agents::table
            .select(agents::status)
            .load(&mut conn)
            .expect("statuses")
    };
    assert_eq!(statuses, vec!["pending", "pending"]);
    // The same key and file: the same answer, not a second import.
    let (st, h, again) = s.raw("POST", "/api/v1/imports", Some(&form), &headers);
    assert_eq!(st, 200);
    assert!(
        h.iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("idempotent-replayed") && v == "true")
    );
    assert_eq!(json(&again)["id"], v["id"]);

    // A raw text/csv body with a refused row, all or nothing.
    let bad = "user name,display name,email\nnew.one,New One,nope\n";
    let (st, _, body) = s.raw(
        "POST",
        "/api/v1/imports?file_name=bad.csv",
        Some(bad),
        &[
            ("Authorization", admin.as_str()),
            ("Content-Type", "text/csv"),
        ],
    );
    assert_eq!(st, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["errors"][0]["line"], 2);
    assert_eq!(v["errors"][0]["column"], "email");
    let id = v["id"].as_str().expect("id").to_owned();

    let (st, _, body) = s.raw(
        "GET",
        &format!("/api/v1/imports/{id}"),
        None,
        &[("Authorization", reader.as_str())],
    );
    assert_eq!(st, 200, "{body}");
    let rec = json(&body);
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["summary"]["errors"], 1);
    assert_eq!(rec["report"]["errors"][0]["column"], "email");

    let (st, h, csv) = s.raw(
        "GET",
        &format!("/api/v1/imports/{id}/report.csv"),
        None,
        &[("Authorization", reader.as_str())],
    );
    assert_eq!(st, 200);
    assert!(
        h.iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/csv"))
    );
    assert!(csv.contains("user name,display name,email,error"), "{csv}");
    assert!(csv.contains("new.one,New One,nope,\"email: "), "{csv}");

    // A query string the endpoint cannot read is a problem, not plain text.
    let (st, h, body) = s.raw(
        "POST",
        "/api/v1/imports?dry_run=maybe",
        Some(bad),
        &[
            ("Authorization", admin.as_str()),
            ("Content-Type", "text/csv"),
        ],
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        h.iter()
            .any(|(k, v)| k == "content-type" && v == "application/problem+json"),
        "{h:?}"
    );
    assert!(
        json(&body)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("dry_run"),
        "{body}"
    );

    // Scopes: reading is not importing; a SCIM token is neither.
    let (st, _, _) = s.raw(
        "POST",
        "/api/v1/imports",
        Some(FILE),
        &[
            ("Authorization", reader.as_str()),
            ("Content-Type", "text/csv"),
        ],
    );
    assert_eq!(st, 403);
    let scim = format!("Bearer {}", s.token);
    let (st, _, _) = s.raw(
        "GET",
        &format!("/api/v1/imports/{id}"),
        None,
        &[("Authorization", scim.as_str())],
    );
    assert_eq!(st, 403);
    let (st, _, body) = s.raw(
        "GET",
        "/api/v1/imports/no-such-import",
        None,
        &[("Authorization", reader.as_str())],
    );
    assert_eq!(st, 404, "{body}");

    let (st, _, t) = s.raw(
        "GET",
        "/api/v1/imports/template",
        None,
        &[("Authorization", reader.as_str())],
    );
    assert_eq!(st, 200);
    assert!(
        t.starts_with("\u{FEFF}user name,display name,nickname,email"),
        "{t}"
    );

    // A form without a file.
    let empty = "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--b--\r\n";
    let (st, _, body) = s.raw(
        "POST",
        "/api/v1/imports",
        Some(empty),
        &[
            ("Authorization", admin.as_str()),
            ("Content-Type", "multipart/form-data; boundary=b"),
        ],
    );
    assert_eq!(st, 400, "{body}");

    // The endpoints are in the OpenAPI document.
    let (_, _, doc) = s.raw("GET", "/api/v1/openapi.json", None, &[]);
    for path in [
        "/api/v1/imports",
        "/api/v1/imports/{id}",
        "/api/v1/imports/{id}/report.csv",
        "/api/v1/imports/template",
    ] {
        assert!(
            json(&doc)["paths"].get(path).is_some(),
            "{path} not documented"
        );
    }
});
