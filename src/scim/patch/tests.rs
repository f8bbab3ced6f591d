//! Unit tests of the PATCH engine.

use serde_json::{Value, json};

use super::*;
use crate::scim::PATCH_OP;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::schema::ResourceKind;

fn patch(kind: ResourceKind, doc: Value, ops: Value) -> Result<Value, ScimError> {
    let body = json!({"schemas": [PATCH_OP], "Operations": ops});
    let ops = parse_patch_request(&body)?;
    let mut doc = doc;
    apply_patch(kind, &mut doc, &ops, 100)?;
    Ok(doc)
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u1",
        "userName": "ana",
        "name": {"givenName": "Ana", "familyName": "Li"},
        "active": true,
        "emails": [{"value": "ana@home.example", "type": "home", "primary": true}],
        "meta": {"resourceType": "User"}
    })
}

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[test]
fn entra_capitalised_ops_and_boolean_strings() {
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "Replace", "path": "active", "value": "False"},
               {"op": "Add", "path": "title", "value": "Lead"}]),
    )
    .expect("applies");
    assert_eq!(d["active"], false);
    assert_eq!(d["title"], "Lead");
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "active", "value": "maybe"}]),
    )
    .expect_err("not a boolean");
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn pathless_values_with_dotted_and_urn_keys() {
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "value": {
            "name.givenName": "Anna",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Support",
            "active": false
        }}]),
    )
    .expect("applies");
    assert_eq!(d["name"]["givenName"], "Anna");
    assert_eq!(d["name"]["familyName"], "Li");
    assert_eq!(d[ENT]["department"], "Support");
    assert_eq!(d["active"], false);
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "add", "value": {ENT: {"employeeNumber": "42"}}}]),
    )
    .expect("applies");
    assert_eq!(d[ENT]["employeeNumber"], "42");
}

#[test]
fn add_through_a_filter_creates_the_element() {
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "ana@work.example"}]),
    )
    .expect("applies");
    let emails = d["emails"].as_array().expect("list");
    assert_eq!(emails.len(), 2);
    assert_eq!(
        emails[1],
        json!({"type": "work", "value": "ana@work.example"})
    );
    let d = patch(
        ResourceKind::User,
        d,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"}]),
    )
    .expect("applies");
    assert_eq!(d["emails"][1]["value"], "new@work.example");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn primary_stays_unique() {
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "w@x", "type": "work", "primary": "True"}]}]),
    )
    .expect("applies");
    assert_eq!(d["emails"][0]["primary"], false);
    assert_eq!(d["emails"][1]["primary"], true);
}

#[test]
fn remove_forms() {
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    )
    .expect("applies");
    assert!(d.get("emails").is_none());
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "remove", "path": "name.givenName"}]),
    )
    .expect("applies");
    assert_eq!(d["name"], json!({"familyName": "Li"}));
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "remove", "path": "title"}]),
    )
    .expect("no-op");
    assert!(d.get("title").is_none());
    for required in ["active", "userName"] {
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "remove", "path": required}]),
        )
        .expect_err("required");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }
    let e = patch(ResourceKind::User, user(), json!([{"op": "remove"}])).expect_err("no path");
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "ANA@home.example"}]}]),
    )
    .expect("applies");
    assert_eq!(d["emails"], json!([]));
}

#[test]
fn errors_name_the_problem() {
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "nope", "value": 1}]),
    )
    .expect_err("unknown");
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "id", "value": "x"}]),
    )
    .expect_err("read-only");
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "groups", "value": []}]),
    )
    .expect_err("read-only");
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "jump", "path": "title", "value": "x"}]),
    )
    .expect_err("bad op");
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
    )
    .expect_err("bad path");
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"other\" or value pr].value", "value": "x"}]),
    );
    assert!(
        e.is_ok(),
        "or-filter matching the existing element replaces it"
    );
    let e = parse_patch_request(&json!({"Operations": []})).expect_err("empty");
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = parse_patch_request(
        &json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
    )
    .expect_err("wrong schema");
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    // Echoed read-only attributes in a path-less replace are ignored.
    let d = patch(
        ResourceKind::User,
        user(),
        json!([{"op": "replace", "value": {"id": "zz", "meta": {}, "title": "T"}}]),
    )
    .expect("applies");
    assert_eq!(d["id"], "u1");
}

#[test]
fn member_ops_are_split_by_form() {
    let body = json!({"Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "remove", "path": "members[value eq \"c\" or value eq \"d\"]"},
        {"op": "add", "path": "members", "value": [{"$ref": null, "value": "e"}]},
        {"op": "replace", "value": {"displayName": "Team", "members": [{"value": "f"}]}},
        {"op": "remove", "path": "members"}
    ]});
    let ops = parse_patch_request(&body).expect("parses");
    let (changes, rest) = split_member_ops(ops).expect("splits");
    assert_eq!(
        changes,
        vec![
            MemberChange::Remove(vec!["a".into(), "b".into()]),
            MemberChange::Remove(vec!["c".into(), "d".into()]),
            MemberChange::Add(vec!["e".into()]),
            MemberChange::Replace(vec!["f".into()]),
            MemberChange::RemoveAll,
        ]
    );
    assert_eq!(rest.len(), 1);
    let mut doc = json!({"displayName": "Old", "id": "g"});
    apply_patch(ResourceKind::Group, &mut doc, &rest, 100).expect("applies");
    assert_eq!(doc["displayName"], "Team");
    let bad = parse_patch_request(
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"display": "x"}]}]}),
    )
    .and_then(split_member_ops);
    assert!(bad.is_err());
}

#[test]
fn agent_extension_attributes() {
    let agent = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent";
    let d = patch(
        ResourceKind::User,
        user(),
        json!([
            {"op": "replace", "path": format!("{agent}:maxConcurrentChats"), "value": "6"},
            {"op": "add", "path": format!("{agent}:skillGroups"), "value": ["billing"]},
            {"op": "add", "path": format!("{agent}:skillGroups"), "value": "vip"},
            {"op": "add", "path": format!("{agent}:skillGroups"), "value": "billing"}
        ]),
    )
    .expect("applies");
    assert_eq!(d[agent]["maxConcurrentChats"], 6);
    assert_eq!(d[agent]["skillGroups"], json!(["billing", "vip"]));
}

#[test]
fn lists_may_not_grow_past_the_cap_but_may_shrink() {
    let ops = |v: Value| {
        parse_patch_request(&json!({"schemas": [PATCH_OP], "Operations": v})).expect("ops")
    };
    let mut doc =
        json!({"userName": "a", "emails": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
    // Stored with three, the cap is two: removing one is fine, adding one is not.
    let add = ops(json!([{"op": "add", "path": "emails", "value": [{"value": "4"}]}]));
    let err = apply_patch(ResourceKind::User, &mut doc.clone(), &add, 2).expect_err("grows");
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    let remove = ops(json!([{"op": "remove", "path": "emails[value eq \"1\"]"}]));
    apply_patch(ResourceKind::User, &mut doc, &remove, 2).expect("shrinks");
    assert_eq!(doc["emails"].as_array().map(Vec::len), Some(2));
    // A list in a value is refused before it is merged.
    let big = ops(
        json!([{"op": "add", "value": {"emails": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}}]),
    );
    let err = apply_patch(ResourceKind::User, &mut doc, &big, 2).expect_err("too long");
    assert!(err.detail.contains("at most 2"), "{}", err.detail);
}
