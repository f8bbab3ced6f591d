//! Unit tests of the catalog, the name and key rules, effective permissions and changes.

use super::*;

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn softphone() -> Catalog {
    Catalog::with_extra(&[
        ExtraPermission {
            key: "softphone.use".into(),
            description: "Use the softphone".into(),
            roles: keys(&["agent", "team_lead", "admin"]),
        },
        ExtraPermission {
            key: "backoffice.access".into(),
            description: "Open the back office".into(),
            roles: vec![],
        },
    ])
    .expect("valid extra keys")
}

#[test]
fn config_keys_join_the_catalog_and_their_roles() {
    let c = softphone();
    assert!(c.contains("softphone.use"));
    assert!(c.contains("chat.reply"));
    assert!(!c.get("softphone.use").is_some_and(|d| d.builtin));
    let agent = c.builtin_permissions("agent").expect("agent is built in");
    assert!(agent.contains(&"softphone.use".to_owned()));
    assert!(agent.contains(&"chat.reply".to_owned()));
    let qa = c.builtin_permissions("qa_inspector").expect("built in");
    assert!(!qa.contains(&"softphone.use".to_owned()));
    assert_eq!(c.builtin_permissions("custom"), None);
    // Without extra keys, a built-in role holds exactly its template.
    let plain = Catalog::builtin().builtin_permissions("agent");
    assert_eq!(plain.map(|p| p.len()), Some(6));
}

#[test]
fn bad_config_keys_are_refused_with_their_place() {
    let one = |key: &str, roles: &[&str]| {
        Catalog::with_extra(&[ExtraPermission {
            key: key.into(),
            description: String::new(),
            roles: keys(roles),
        }])
    };
    let clash = one("chat.reply", &[]).expect_err("clash");
    assert!(clash.contains("Rollcall's own"), "{clash}");
    for bad in [
        "softphone",
        "Softphone.use",
        "soft phone.use",
        "a..b",
        ".a",
        "1a.b",
        "a.b-c",
    ] {
        let e = one(bad, &[]).expect_err(bad);
        assert!(e.contains("permissions[0]"), "{e}");
    }
    let e = one("softphone.use", &["nobody"]).expect_err("unknown role");
    assert!(e.contains("\"nobody\" is not a built-in role"), "{e}");
    let twice = Catalog::with_extra(&[
        ExtraPermission {
            key: "a.b".into(),
            description: String::new(),
            roles: vec![],
        },
        ExtraPermission {
            key: "a.b".into(),
            description: String::new(),
            roles: vec![],
        },
    ])
    .expect_err("twice");
    assert!(
        twice.contains("permissions[1]") && twice.contains("twice"),
        "{twice}"
    );
}

#[test]
fn role_names() {
    for good in ["a", "team_lead", "night-shift-2", &"x".repeat(64)] {
        assert!(check_role_name(good).is_ok(), "{good}");
    }
    for bad in ["", "Team", "2nd", "_x", "a b", "ä", &"x".repeat(65), "a.b"] {
        assert!(check_role_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn unknown_keys_are_named_all_at_once() {
    let c = Catalog::builtin();
    let e = c
        .check_keys(
            "permissions",
            &keys(&["chat.reply", "nope.one", "nope.two"]),
        )
        .expect_err("unknown");
    assert!(e.contains("\"nope.one\", \"nope.two\""), "{e}");
    // Known keys come back in catalog order, without repeats.
    let ok = c
        .check_keys(
            "permissions",
            &keys(&["customer.view", "chat.reply", "chat.reply"]),
        )
        .expect("known");
    assert_eq!(ok, keys(&["chat.reply", "customer.view"]));
}

#[test]
fn effective_permissions_say_where_each_comes_from() {
    let c = softphone();
    let role = keys(&["chat.reply", "customer.view", "customer.export"]);
    let o = Overrides {
        grant: keys(&["softphone.use", "chat.reply"]),
        deny: keys(&["customer.export", "audit.view"]),
    };
    let e = effective(&c, &role, &o);
    let line = |k: &str| e.iter().find(|x| x.key == k).cloned();
    let reply = line("chat.reply").expect("reply");
    assert_eq!(
        (reply.granted, reply.source, reply.in_role),
        (true, Provenance::Role, true)
    );
    let phone = line("softphone.use").expect("granted");
    assert_eq!((phone.granted, phone.source), (true, Provenance::Grant));
    let export = line("customer.export").expect("denied");
    assert_eq!(
        (export.granted, export.source, export.in_role),
        (false, Provenance::Deny, true)
    );
    // A deny of a key the role does not hold is shown too: it also blocks later grants.
    let audit = line("audit.view").expect("denied");
    assert_eq!((audit.granted, audit.in_role), (false, false));
    assert_eq!(line("ticket.handle"), None);
    let set = effective_set(&c, &role, &o);
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        keys(&["chat.reply", "customer.view", "softphone.use"])
    );
}

#[test]
fn a_deny_wins_over_a_grant_and_unknown_stored_keys_grant_nothing() {
    let c = Catalog::builtin();
    let o = Overrides {
        grant: keys(&["customer.export"]),
        deny: keys(&["customer.export"]),
    };
    assert!(effective_set(&c, &keys(&["customer.export"]), &o).is_empty());
    // A key no longer declared by the configuration counts for nothing.
    let set = effective_set(
        &c,
        &keys(&["softphone.use", "chat.reply"]),
        &Overrides::default(),
    );
    assert_eq!(set.into_iter().collect::<Vec<_>>(), keys(&["chat.reply"]));
}

#[test]
fn overrides_are_checked_and_stored_as_text() {
    let c = Catalog::builtin();
    let both = Overrides {
        grant: keys(&["chat.reply"]),
        deny: keys(&["chat.reply"]),
    };
    assert!(
        both.checked(&c)
            .expect_err("both")
            .contains("both granted and denied")
    );
    let unknown = Overrides {
        grant: keys(&["x.y"]),
        deny: vec![],
    };
    assert!(
        unknown
            .checked(&c)
            .expect_err("unknown")
            .contains("\"x.y\"")
    );
    assert_eq!(Overrides::default().to_text(), "{}");
    let o = Overrides {
        grant: keys(&["customer.export"]),
        deny: vec![],
    };
    assert_eq!(Overrides::parse(&o.to_text()), o);
    assert_eq!(Overrides::parse("{}"), Overrides::default());
    assert_eq!(Overrides::parse("not json"), Overrides::default());
}

#[test]
fn a_change_is_what_an_agent_gains_and_loses() {
    let c = Catalog::builtin();
    let before = keys(&["chat.reply", "customer.view"]);
    let after = keys(&["chat.reply", "customer.export"]);
    let plain = change_for(&c, &before, &after, &Overrides::default());
    assert_eq!(plain.gained, keys(&["customer.export"]));
    assert_eq!(plain.lost, keys(&["customer.view"]));
    // Denied export: gains nothing; granted view: loses nothing.
    let o = Overrides {
        grant: keys(&["customer.view"]),
        deny: keys(&["customer.export"]),
    };
    assert!(change_for(&c, &before, &after, &o).is_empty());
    assert!(change_for(&c, &before, &before, &Overrides::default()).is_empty());
}
