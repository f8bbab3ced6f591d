//! Groups: members as users and groups, PATCH on members without loading the group,
//! PUT replacing members, excludedAttributes=members, deletion.

use serde_json::{Value, json};

use crate::both;
use crate::harness::{TestServer, q};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn member_ids(g: &Value) -> Vec<String> {
    let mut v: Vec<String> = g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

both!(group_members_add_remove_replace, |b| {
    let s = TestServer::start(b);
    let users: Vec<String> = (0..4)
        .map(|i| id(&s.create_user(&format!("m{i}"))))
        .collect();
    let nested = s.create_group("Tier 1", &[&users[3]]);
    let g = s.create_group("Support", &[&users[0], &users[1]]);
    let gid = id(&g);
    assert_eq!(member_ids(&g), {
        let mut x = vec![users[0].clone(), users[1].clone()];
        x.sort();
        x
    });
    assert_eq!(g["members"][0]["type"], "User");
    // RFC 7643 §8.7.1: members carry value, $ref and type.
    assert!(
        g["members"][0]["$ref"]
            .as_str()
            .is_some_and(|r| r.contains("/scim/v2/Users/"))
    );
    assert!(g["members"][0].get("display").is_none());

    // add (a user and a group)
    let (st, v) = s.scim("PATCH", &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": users[2]}, {"value": id(&nested)}]}]})));
    assert_eq!(st, 200, "{v}");
    assert_eq!(member_ids(&v).len(), 4);
    assert!(
        v["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["type"] == "Group")
    );

    // remove by value filter
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(member_ids(&v).len(), 3);
    assert!(!member_ids(&v).contains(&users[0]));

    // the user's groups attribute shows direct memberships
    let (_, u1) = s.scim("GET", &format!("/Users/{}", users[1]), None);
    assert_eq!(u1["groups"][0]["value"], gid.as_str());
    assert_eq!(u1["groups"][0]["display"], "Support");
    let (_, found) = s.scim(
        "GET",
        &format!("/Users?filter={}", q(&format!("groups.value eq \"{gid}\""))),
        None,
    );
    assert_eq!(found["totalResults"], 2);
    let (_, gf) = s.scim(
        "GET",
        &format!(
            "/Groups?filter={}",
            q(&format!("members.value eq \"{}\"", users[1]))
        ),
        None,
    );
    assert_eq!(gf["totalResults"], 1);

    // PUT replaces members
    let (st, v) = s.scim(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(json!({"displayName": "Support", "members": [{"value": users[3]}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(member_ids(&v), vec![users[3].clone()]);

    // remove all
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]})),
    );
    assert_eq!(st, 200);
    assert_eq!(member_ids(&v).len(), 0);

    // unknown member ids are refused and change nothing
    let (st, err) = s.scim("PATCH", &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": users[1]}, {"value": "no-such-id"}]}]})));
    assert_eq!(st, 400, "{err}");
    let (_, v) = s.scim("GET", &format!("/Groups/{gid}"), None);
    assert_eq!(member_ids(&v).len(), 0);

    // rename, uniqueness, delete
    let (st, err) = s.scim("POST", "/Groups", Some(json!({"displayName": "tier 1"})));
    assert_eq!((st, err["scimType"].as_str()), (409, Some("uniqueness")));
    let (st, v) = s.scim("PATCH", &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Support EU"}]})));
    assert_eq!((st, v["displayName"].as_str()), (200, Some("Support EU")));
    let (st, _) = s.scim("DELETE", &format!("/Groups/{gid}"), None);
    assert_eq!(st, 204);
    let (st, _) = s.scim("GET", &format!("/Groups/{gid}"), None);
    assert_eq!(st, 404);
});

both!(large_group_member_removal, |b| {
    let s = TestServer::start(b);
    let users: Vec<String> = (0..60)
        .map(|i| id(&s.create_user(&format!("big{i:03}"))))
        .collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let g = s.create_group("Everyone", &refs);
    let gid = id(&g);
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Groups/{gid}?excludedAttributes=members"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": users[5]}]}]})),
    );
    assert_eq!(st, 200, "{v}");
    assert!(
        v.get("members").is_none(),
        "members excluded from the response"
    );
    let (_, full) = s.scim("GET", &format!("/Groups/{gid}"), None);
    assert_eq!(member_ids(&full).len(), 59);
    let (_, list) = s.scim("GET", "/Groups?excludedAttributes=members", None);
    assert!(list["Resources"][0].get("members").is_none());
    assert_eq!(list["Resources"][0]["displayName"], "Everyone");
});
