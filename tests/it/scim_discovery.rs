//! Discovery endpoints, Bulk, and the root search.

use serde_json::json;

use crate::both;
use crate::harness::TestServer;

both!(service_provider_config_advertises_what_is_built, |b| {
    let s = TestServer::start_with(b, |c| {
        c.scim.max_results = 250;
        c.scim.max_bulk_operations = 7;
    });
    let (st, _, body) = s.raw("GET", "/scim/v2/ServiceProviderConfig", None, &[]);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["patch"]["supported"], true);
    assert_eq!(v["bulk"]["maxOperations"], 7);
    assert_eq!(v["filter"]["maxResults"], 250);
    assert_eq!(v["etag"]["supported"], true);
    assert_eq!(v["sort"]["supported"], true);
    assert_eq!(v["pagination"]["cursor"], true);
    assert_eq!(v["pagination"]["index"], true);
    assert_eq!(v["authenticationSchemes"][0]["type"], "oauthbearertoken");
    // count above the maximum is capped to it
    for i in 0..3 {
        s.create_user(&format!("cap{i}"));
    }
    let (_, list) = s.scim("GET", "/Users?count=100000", None);
    assert_eq!(list["itemsPerPage"], 3);
});

both!(resource_types_and_schemas, |b| {
    let s = TestServer::start(b);
    let (st, rt) = s.scim("GET", "/ResourceTypes", None);
    assert_eq!(st, 200);
    let names: Vec<&str> = rt["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"User") && names.contains(&"Group"));
    let (st, user_rt) = s.scim("GET", "/ResourceTypes/User", None);
    assert_eq!(st, 200);
    let exts: Vec<&str> = user_rt["schemaExtensions"]
        .as_array()
        .expect("ext")
        .iter()
        .filter_map(|e| e["schema"].as_str())
        .collect();
    assert!(exts.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    assert!(exts.contains(&"urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent"));
    let (st, schemas) = s.scim("GET", "/Schemas", None);
    assert_eq!(st, 200);
    assert_eq!(schemas["totalResults"], 4);
    let (st, agent) = s.scim(
        "GET",
        "/Schemas/urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent",
        None,
    );
    assert_eq!(st, 200);
    let attrs: Vec<&str> = agent["attributes"]
        .as_array()
        .expect("attrs")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for a in [
        "role",
        "skillGroups",
        "maxConcurrentChats",
        "channels",
        "loginBlocked",
    ] {
        assert!(attrs.contains(&a), "{a} advertised");
    }
    let (st, _) = s.scim("GET", "/Schemas/urn:nope", None);
    assert_eq!(st, 404);
});

both!(bulk_with_bulk_id_references_and_fail_on_errors, |b| {
    let s = TestServer::start(b);
    let (st, v) = s.scim("POST", "/Bulk", Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "Bulk team", "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk1"}},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "bulk2"}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "Bulked"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "bulk1"}}
        ]})));
    assert_eq!(st, 200, "{v}");
    let ops = v["Operations"].as_array().expect("ops");
    assert_eq!(ops.len(), 5);
    assert_eq!(ops[0]["status"], "201", "{v}");
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[3]["status"], "200");
    assert_eq!(ops[4]["status"], "409");
    assert_eq!(ops[4]["response"]["scimType"], "uniqueness");
    let group_loc = ops[0]["location"].as_str().expect("location");
    let gid = group_loc.rsplit('/').next().expect("id");
    let (_, g) = s.scim("GET", &format!("/Groups/{gid}"), None);
    assert_eq!(g["members"].as_array().map(Vec::len), Some(2));

    // failOnErrors: 1 stops after the first error.
    let (st, v) = s.scim(
        "POST",
        "/Bulk",
        Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "bulk1"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "never"}}
        ]})),
    );
    assert_eq!(st, 200);
    assert_eq!(v["Operations"].as_array().map(Vec::len), Some(1));
    let (_, probe) = s.scim("GET", "/Users?filter=userName%20eq%20%22never%22", None);
    assert_eq!(probe["totalResults"], 0);
});

both!(bulk_limits, |b| {
    let s = TestServer::start_with(b, |c| c.scim.max_bulk_operations = 2);
    let op = json!({"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "x"}});
    let (st, v) = s.scim("POST", "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [op.clone(), op.clone(), op]})));
    assert_eq!(st, 413, "{v}");
});

both!(root_search_spans_users_and_groups, |b| {
    let s = TestServer::start(b);
    s.create_user("root1");
    s.create_group("Root group", &[]);
    let (st, v) = s.scim("POST", "/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 10})));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["totalResults"], 2);
    let (st, v) = s.scim("POST", "/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"root1\""})));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["totalResults"], 1);
});
