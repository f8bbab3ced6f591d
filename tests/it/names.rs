//! Text rules and name folding mean the same on both backends: control characters refused
//! (never a 500, never stored), unique names compared by one Unicode fold, filters on them
//! folded alike, invisible and bidirectional characters kept out of userNames.

use serde_json::{Value, json};

use crate::both;
use crate::harness::{TestServer, q};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user(user_name: &str) -> Value {
    json!({"schemas": [USER], "userName": user_name})
}

/// Asserts a 400 with `scim_type` whose detail names `attr` (and `rule`, when given).
fn assert_refused(what: &str, got: (u16, Value), scim_type: &str, attr: &str, rule: &str) {
    let (status, body) = got;
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["scimType"], scim_type, "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(attr),
        "{what}: detail {detail:?} names {attr}"
    );
    assert!(
        detail.contains(rule),
        "{what}: detail {detail:?} names {rule:?}"
    );
}

fn user_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["userName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn find_users(s: &TestServer, filter: &str) -> Vec<String> {
    let (st, list) = s.scim("GET", &format!("/Users?filter={}", q(filter)), None);
    assert_eq!(st, 200, "{filter}: {list}");
    user_names(&list)
}

both!(nul_is_refused_everywhere_naming_the_attribute, |b| {
    let s = TestServer::start(b);
    let ana = s.create_user("ana");
    let ana_id = ana["id"].as_str().expect("id").to_owned();
    let team = s.create_group("team", &[&ana_id]);
    let team_id = team["id"].as_str().expect("id").to_owned();
    let rule = "no control characters";

    let mut bodies: Vec<(&str, Value)> = vec![
        ("userName", user("eve\u{0}")),
        (
            "externalId",
            json!({"schemas": [USER], "userName": "eve", "externalId": "x\u{0}"}),
        ),
        (
            "displayName",
            json!({"schemas": [USER], "userName": "eve", "displayName": "Eve\u{0}"}),
        ),
        (
            "name.givenName",
            json!({"schemas": [USER], "userName": "eve", "name": {"givenName": "E\u{0}"}}),
        ),
        (
            "emails.value",
            json!({"schemas": [USER], "userName": "eve", "emails": [{"value": "eve\u{0}@example.com", "type": "work"}]}),
        ),
        (
            "phoneNumbers.value",
            json!({"schemas": [USER], "userName": "eve", "phoneNumbers": [{"value": "+1\u{0}"}]}),
        ),
    ];
    for (attr, body) in bodies.drain(..) {
        let got = s.scim("POST", "/Users", Some(body));
        assert_refused(&format!("POST {attr}"), got, "invalidValue", attr, rule);
    }
    let got = s.scim(
        "PUT",
        &format!("/Users/{ana_id}"),
        Some(json!({"schemas": [USER], "userName": "ana", "title": "Lead\u{0}"})),
    );
    assert_refused("PUT title", got, "invalidValue", "title", rule);
    for (path, value, attr) in [
        ("displayName", json!("Ana\u{0}"), "displayName"),
        ("userName", json!("ana\u{0}"), "userName"),
        ("name.familyName", json!("A\u{0}"), "name.familyName"),
        (
            "emails",
            json!([{"value": "a\u{0}@example.com", "type": "work"}]),
            "emails.value",
        ),
    ] {
        let got = s.scim(
            "PATCH",
            &format!("/Users/{ana_id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": value}]})),
        );
        assert_refused(&format!("PATCH {path}"), got, "invalidValue", attr, rule);
    }
    // A path-less PATCH value.
    let got = s.scim(
        "PATCH",
        &format!("/Users/{ana_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"nickName": "A\u{0}"}}]})),
    );
    assert_refused("PATCH nickName", got, "invalidValue", "nickName", rule);

    // Groups: the name, a member added on create and by PATCH.
    let got = s.scim(
        "POST",
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "ops\u{0}"})),
    );
    assert_refused("POST group", got, "invalidValue", "displayName", rule);
    let got = s.scim(
        "POST",
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "ops", "members": [{"value": "x\u{0}"}]})),
    );
    assert_refused(
        "POST group member",
        got,
        "invalidValue",
        "members.value",
        rule,
    );
    let got = s.scim(
        "PATCH",
        &format!("/Groups/{team_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": "x\u{0}"}]}]})),
    );
    assert_refused(
        "PATCH group member",
        got,
        "invalidValue",
        "members.value",
        rule,
    );
    // A PATCH path's filter is a path: `invalidPath`, naming the character.
    let got = s.scim(
        "PATCH",
        &format!("/Groups/{team_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members[value eq \"x\\u0000\"]"}]})),
    );
    assert_refused("PATCH member filter", got, "invalidPath", "U+0000", rule);
    let got = s.scim(
        "PATCH",
        &format!("/Groups/{team_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "t\u{0}"}]})),
    );
    assert_refused("PATCH group name", got, "invalidValue", "displayName", rule);

    // Filter values, on both resource types and through POST .search.
    for filter in [
        "userName eq \"ana\\u0000\"",
        "externalId eq \"\\u0000\"",
        "emails.value co \"\\u0000\"",
        "emails[value eq \"a\\u0000\"]",
    ] {
        let got = s.scim("GET", &format!("/Users?filter={}", q(filter)), None);
        assert_refused(filter, got, "invalidFilter", "U+0000", rule);
    }
    let got = s.scim(
        "GET",
        &format!("/Groups?filter={}", q("displayName eq \"t\\u0000\"")),
        None,
    );
    assert_refused("group filter", got, "invalidFilter", "U+0000", rule);
    let got = s.scim(
        "POST",
        "/Users/.search",
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\u{0}\""})),
    );
    assert_refused("search", got, "invalidFilter", "U+0000", rule);

    // An id in the URL that holds a NUL names nothing.
    for path in ["/Users/a%00b", "/Groups/a%00b"] {
        let (st, body) = s.scim("GET", path, None);
        assert_eq!(st, 404, "{path}: {body}");
        let (st, body) = s.scim("DELETE", path, None);
        assert_eq!(st, 404, "{path}: {body}");
        let (st, body) = s.scim(
            "PATCH",
            path,
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": "x"}]})),
        );
        assert_eq!(st, 404, "{path}: {body}");
    }
    let (st, body) = s.scim("PUT", "/Users/a%00b", Some(user("ana2")));
    assert_eq!(st, 404, "{body}");

    // A cursor carrying one is not a cursor Rollcall issued.
    use base64::Engine;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1.a\u{0}b");
    for resource in ["Users", "Groups"] {
        let got = s.scim("GET", &format!("/{resource}?cursor={cursor}"), None);
        assert_refused("cursor", got, "invalidCursor", "cursor", "");
    }

    // Nothing was stored.
    let (_, list) = s.scim("GET", "/Users", None);
    assert_eq!(user_names(&list), ["ana"]);
    let (_, got) = s.scim("GET", &format!("/Users/{ana_id}"), None);
    assert_eq!(got["meta"]["version"], "W/\"1\"", "{got}");
    let (_, list) = s.scim("GET", "/Groups", None);
    assert_eq!(list["totalResults"], 1, "{list}");
});

both!(free_text_keeps_newlines_identifiers_and_names_do_not, |b| {
    let s = TestServer::start(b);
    let (st, u) = s.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "ana", "title": "Lead\n\tEMEA", "displayName": "Ana\r\nB"})),
    );
    assert_eq!(st, 201, "{u}");
    assert_eq!(u["title"], "Lead\n\tEMEA");
    let found = find_users(&s, "title eq \"Lead\\n\\tEMEA\"");
    assert_eq!(found, ["ana"]);
    let got = s.scim("POST", "/Users", Some(user("bob\tsmith")));
    assert_refused(
        "tab",
        got,
        "invalidValue",
        "userName",
        "no control characters",
    );
    let got = s.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "bob", "externalId": "b\n1"})),
    );
    assert_refused(
        "externalId",
        got,
        "invalidValue",
        "externalId",
        "no control characters",
    );
    let got = s.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "bob", "title": "x\u{1b}[31m"})),
    );
    assert_refused(
        "escape",
        got,
        "invalidValue",
        "title",
        "no control characters",
    );
});

both!(names_equal_in_any_script_and_case_are_one_name, |b| {
    let s = TestServer::start(b);
    s.create_user("JÖRG");
    s.create_user("ПРИВЕТ");
    for (taken, by) in [
        ("jörg", "JÖRG"),
        ("Jörg", "JÖRG"),
        ("привет", "ПРИВЕТ"),
        ("Привет", "ПРИВЕТ"),
        // Decomposed accent (o + U+0308) against the composed one.
        ("jo\u{308}rg", "JÖRG"),
    ] {
        let (st, err) = s.scim("POST", "/Users", Some(user(taken)));
        assert_eq!(st, 409, "{taken} (taken by {by}): {err}");
        assert_eq!(err["scimType"], "uniqueness", "{err}");
    }
    // Renaming into a taken name, by PUT and by PATCH.
    let other = s.create_user("other");
    let id = other["id"].as_str().expect("id");
    let (st, err) = s.scim("PUT", &format!("/Users/{id}"), Some(user("jörg")));
    assert_eq!(st, 409, "{err}");
    let (st, err) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "привет"}]})),
    );
    assert_eq!(st, 409, "{err}");
    // Its own name in other letters is not a clash.
    let (st, got) = s.scim("PUT", &format!("/Users/{id}"), Some(user("OTHER")));
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["userName"], "OTHER");
    // Different letters stay different names.
    s.create_user("jorg");
    s.create_user("straße");
    s.create_user("strasse");

    // Groups' displayName likewise.
    s.create_group("Ægir", &[]);
    let (st, err) = s.scim(
        "POST",
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "æGIR"})),
    );
    assert_eq!(st, 409, "{err}");
    let ops = s.create_group("ops", &[]);
    let (st, err) = s.scim(
        "PATCH",
        &format!("/Groups/{}", ops["id"].as_str().expect("id")),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "ÆGIR"}]})),
    );
    assert_eq!(st, 409, "{err}");
});

both!(fullwidth_look_alikes_are_the_same_name, |b| {
    let s = TestServer::start(b);
    s.create_user("jorg");
    let (st, err) = s.scim("POST", "/Users", Some(user("ｊｏｒｇ")));
    assert_eq!(st, 409, "{err}");
    let (st, err) = s.scim("POST", "/Users", Some(user("ＪＯＲＧ")));
    assert_eq!(st, 409, "{err}");
    assert_eq!(find_users(&s, "userName eq \"Ｊｏｒｇ\""), ["jorg"]);
    // The name is stored as sent.
    s.create_user("ｍｉｋａ");
    assert_eq!(find_users(&s, "userName eq \"MIKA\""), ["ｍｉｋａ"]);
});

both!(user_name_filters_fold_as_uniqueness_does, |b| {
    let s = TestServer::start(b);
    for n in ["jörg", "ПРИВЕТ", "alice", "Zoë"] {
        s.create_user(n);
    }
    assert_eq!(find_users(&s, "userName eq \"jÖrg\""), ["jörg"]);
    assert_eq!(find_users(&s, "USERNAME EQ \"JÖRG\""), ["jörg"]);
    assert_eq!(find_users(&s, "userName eq \"привет\""), ["ПРИВЕТ"]);
    assert_eq!(find_users(&s, "userName sw \"ПРИ\""), ["ПРИВЕТ"]);
    assert_eq!(find_users(&s, "userName co \"Ив\""), ["ПРИВЕТ"]);
    assert_eq!(find_users(&s, "userName ew \"ËË\""), Vec::<String>::new());
    assert_eq!(find_users(&s, "userName ew \"Ë\""), ["Zoë"]);
    assert_eq!(
        find_users(&s, "userName ne \"JÖRG\""),
        ["Zoë", "alice", "ПРИВЕТ"]
    );
    // Order is that of the folded keys (code points), on both backends.
    assert_eq!(find_users(&s, "userName gt \"ZOË\""), ["ПРИВЕТ"]);
    assert_eq!(find_users(&s, "userName le \"JÖRG\""), ["alice", "jörg"]);
    assert_eq!(
        find_users(&s, "not (userName eq \"ALICE\") and userName lt \"k\""),
        ["jörg"]
    );
    // An IdP that checks before creating finds the existing agent.
    let (st, list) = s.scim(
        "GET",
        &format!("/Users?filter={}", q("userName eq \"JÖRG\"")),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(list["totalResults"], 1, "{list}");
    // Groups' displayName.
    s.create_group("Équipe", &[]);
    let (st, list) = s.scim(
        "GET",
        &format!("/Groups?filter={}", q("displayName eq \"ÉQUIPE\"")),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(list["totalResults"], 1, "{list}");
});

both!(
    user_names_refuse_invisible_and_bidi_characters_naming_the_rule,
    |b| {
        let s = TestServer::start(b);
        let ana = s.create_user("ana");
        let id = ana["id"].as_str().expect("id").to_owned();
        let cases: Vec<(char, &str)> = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ]
        .into_iter()
        .map(|c| (c, "no bidirectional controls in names"))
        .chain(
            ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}']
                .into_iter()
                .map(|c| (c, "no zero-width characters in names")),
        )
        .chain([
            ('\u{FEFF}', "no byte order mark in names"),
            ('\r', "no line breaks in names"),
            ('\n', "no line breaks in names"),
            ('\u{2028}', "no line breaks in names"),
        ])
        .collect();
        for (c, rule) in cases {
            let name = format!("ad{c}min");
            let code = format!("U+{:04X}", u32::from(c));
            let got = s.scim("POST", "/Users", Some(user(&name)));
            assert_refused(
                &format!("POST {code}"),
                got,
                "invalidValue",
                "userName",
                rule,
            );
            let got = s.scim(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": name}]})),
        );
            assert_refused(
                &format!("PATCH {code}"),
                got,
                "invalidValue",
                "userName",
                rule,
            );
        }
        // The same characters are text in a display name (a Persian name, an emoji sequence).
        let (st, got) = s.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "mehr", "displayName": "\u{200F}مهر\u{200C}ی 👩\u{200D}💻"})),
    );
        assert_eq!(st, 201, "{got}");
        let (_, list) = s.scim("GET", "/Users", None);
        assert_eq!(user_names(&list), ["ana", "mehr"]);
    }
);

both!(sorting_by_user_name_follows_the_folded_order, |b| {
    let s = TestServer::start(b);
    for n in ["Äz", "äb", "Bob", "alice"] {
        s.create_user(n);
    }
    let (st, list) = s.scim("GET", "/Users?sortBy=userName", None);
    assert_eq!(st, 200, "{list}");
    let order: Vec<&str> = list["Resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["userName"].as_str()).collect())
        .unwrap_or_default();
    // By key: alice, bob, äb, äz (code point order of the folded names).
    assert_eq!(order, ["alice", "Bob", "äb", "Äz"]);
    for g in ["Äz", "äb", "Bob"] {
        s.create_group(g, &[]);
    }
    let (st, list) = s.scim(
        "GET",
        "/Groups?sortBy=displayName&sortOrder=descending",
        None,
    );
    assert_eq!(st, 200, "{list}");
    let order: Vec<&str> = list["Resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["displayName"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(order, ["Äz", "äb", "Bob"]);
});

both!(
    values_stored_before_the_rules_do_not_block_other_changes,
    |b| {
        use diesel::prelude::*;
        use rollcall::store::schema::{agents, groups};
        let s = TestServer::start(b);
        let u = s.create_user("legacy");
        let id = u["id"].as_str().expect("id").to_owned();
        let g = s.create_group("team", &[]);
        let gid = g["id"].as_str().expect("id").to_owned();
        // Written before the rules existed (both backends took these).
        let mut conn = s.conn();
        diesel::update(agents::table.filter(agents::id.eq(&id)))
            .set((
                agents::user_name.eq("leg\u{202E}acy"),
                agents::title.eq("Lead\u{7}"),
            ))
            .execute(&mut conn)
            .expect("legacy agent");
        diesel::update(groups::table.filter(groups::id.eq(&gid)))
            .set(groups::display_name.eq("te\tam"))
            .execute(&mut conn)
            .expect("legacy group");
        drop(conn);

        // A leaver is still disabled, by PATCH (Entra) and by a PUT re-sending the stored values (Okta).
        let (st, got) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    );
        assert_eq!(st, 200, "{got}");
        assert_eq!(got["active"], false);
        let (st, got) = s.scim(
        "PUT",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [USER], "userName": "leg\u{202E}acy", "title": "Lead\u{7}", "active": true})),
    );
        assert_eq!(st, 200, "{got}");
        assert_eq!(got["active"], true);
        // A new value is checked.
        let got = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Boss\u{7}"}]})),
    );
        assert_refused(
            "new title",
            got,
            "invalidValue",
            "title",
            "no control characters",
        );
        let got = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "le\u{202E}gacy"}]})),
    );
        assert_refused(
            "new name",
            got,
            "invalidValue",
            "userName",
            "no bidirectional controls",
        );

        let (st, got) = s.scim(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})),
    );
        assert_eq!(st, 200, "{got}");
        let got = s.scim(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "t\tam"}]})),
    );
        assert_refused(
            "new group name",
            got,
            "invalidValue",
            "displayName",
            "no control characters",
        );
    }
);
