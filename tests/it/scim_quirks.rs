//! What real identity providers send, each tolerated.

use serde_json::{Value, json};

use crate::both;
use crate::harness::{TestServer, q};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

both!(entra_capitalised_ops_and_boolean_strings, |b| {
    let s = TestServer::start(b);
    let uid = id(&s.create_user("entra"));
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "title", "value": "Agent"}
        ]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["active"], false);
    assert_eq!(v["title"], "Agent");
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "active", "value": "True"},
            {"op": "Remove", "path": "title"}
        ]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["active"], true);
    assert!(v.get("title").is_none());
});

both!(entra_pathless_dotted_and_urn_keys, |b| {
    let s = TestServer::start(b);
    let uid = id(&s.create_user("dots"));
    let (st, v) = s.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "Replace", "value": {"name.givenName": "Dora", "name.familyName": "Explorer",
            format!("{ENT}:department"): "Sales", format!("{ENT}:manager"): {"value": "boss-1"}}}
    ]})));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"]["givenName"], "Dora");
    assert_eq!(v["name"]["familyName"], "Explorer");
    assert_eq!(v[ENT]["department"], "Sales");
    assert_eq!(v[ENT]["manager"]["value"], "boss-1");
});

both!(add_work_email_when_none_exists, |b| {
    let s = TestServer::start(b);
    let (st, u) = s.scim("POST", "/Users", Some(json!({"userName": "noemail"})));
    assert_eq!(st, 201);
    let uid = id(&u);
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["emails"][0]["value"], "new@example.com");
    assert_eq!(v["emails"][0]["type"], "work");
    let (st, v) = s.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "changed@example.com"}]})));
    assert_eq!(st, 200);
    assert_eq!(v["emails"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["emails"][0]["value"], "changed@example.com");
});

both!(entra_member_removal_removes_only_those, |b| {
    let s = TestServer::start(b);
    let a = id(&s.create_user("ma"));
    let c = id(&s.create_user("mc"));
    let d = id(&s.create_user("md"));
    let g = id(&s.create_group("Entra group", &[&a, &c, &d]));
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Groups/{g}"),
        Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": c}]}]})),
    );
    assert_eq!(st, 200, "{v}");
    let left: Vec<&str> = v["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&a.as_str()) && left.contains(&d.as_str()));
    // Members with "$ref": null are accepted.
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Groups/{g}"),
        Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": c}]}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(3));
});

both!(existence_probes_and_unknown_ids, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("userName eq \"ghost\"")),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(v["totalResults"], 0);
    assert_eq!(v["Resources"], json!([]));
    let (st, v) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("externalId eq \"ext-404\"")),
        None,
    );
    assert_eq!((st, v["totalResults"].as_i64()), (200, Some(0)));
    let (st, _) = s.scim("GET", &format!("/Users/{}", uuid::Uuid::new_v4()), None);
    assert_eq!(st, 404);
    let (st, _) = s.scim("GET", &format!("/Groups/{}", uuid::Uuid::new_v4()), None);
    assert_eq!(st, 404);
    let (st, _) = s.scim(
        "GET",
        &format!("/Groups?filter={}", q("displayName eq \"none\"")),
        None,
    );
    assert_eq!(st, 200);
});

both!(unknown_schema_urns_and_onelogin_single_email, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim("POST", "/Groups", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "displayName": "ADSCIM"})));
    assert_eq!(st, 201, "{v}");
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:scim:schemas:core:1.0"],
        "userName": "onelogin",
        "emails": {"value": "one@example.com", "primary": true, "type": "work"}})),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["emails"][0]["value"], "one@example.com");
});

both!(okta_create_deactivate_and_integers, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "okta@example.com",
        "name": {"givenName": "Ok", "familyName": "Ta"},
        "emails": [{"primary": true, "value": "okta@example.com", "type": "work"}],
        "displayName": "Ok Ta", "locale": "en-US", "externalId": "00u1",
        "groups": [], "password": "Okt@Passw0rd", "active": true,
        "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"maxConcurrentChats": 6}})),
    );
    assert_eq!(st, 201, "{v}");
    assert!(
        v["urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"]["maxConcurrentChats"]
            .is_i64()
    );
    let uid = id(&v);
    let (st, v) = s.scim("PATCH", &format!("/Users/{uid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]})));
    assert_eq!((st, v["active"].as_bool()), (200, Some(false)));
    // Stable ordering across pages.
    for i in 0..6 {
        s.create_user(&format!("okta{i}"));
    }
    let page = |start: u32| {
        let (_, v) = s.scim("GET", &format!("/Users?startIndex={start}&count=3"), None);
        v["Resources"]
            .as_array()
            .expect("page")
            .iter()
            .map(|r| r["id"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(page(1), page(1));
    assert_eq!(page(4), page(4));
    assert!(page(1).iter().all(|x| !page(4).contains(x)));
});

both!(put_keeps_agent_settings_unless_sent, |b| {
    let s = TestServer::start(b);
    let (_, v) = s.scim("POST", "/Users", Some(json!({"userName": "lead",
        "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"role": "team_lead", "skillGroups": ["vip"]}})));
    let uid = id(&v);
    let (_, v) = s.scim(
        "PUT",
        &format!("/Users/{uid}"),
        Some(json!({"userName": "lead", "title": "Lead"})),
    );
    let ext = &v["urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"];
    assert_eq!(ext["role"], "team_lead");
    assert_eq!(ext["skillGroups"], json!(["vip"]));
    let (_, v) = s.scim(
        "PUT",
        &format!("/Users/{uid}"),
        Some(json!({"userName": "lead",
        "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent": {"role": "qa_inspector"}})),
    );
    let ext = &v["urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"];
    assert_eq!(ext["role"], "qa_inspector");
    assert_eq!(ext["skillGroups"], json!([]));
});
