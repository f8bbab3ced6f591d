//! Name keys for rows written before Rollcall folded names: the migration fills them and
//! reports names that now clash instead of failing; and every door, the directory sync
//! among them, obeys the text rules (an entry breaking one is reported, never stored).

use base64::Engine;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use rollcall::accounts::{AccountError, Accounts, AgentInput};
use rollcall::store::name_keys::NameClash;
use rollcall::store::schema::{agents, groups};
use rollcall::store::{self, DbConn, Target};
use rollcall::sync::RunStatus;

use crate::both;
use crate::harness::TestDb;
use crate::slapd::Slapd;
use crate::sync_ldap::{ORG, env, person};

/// Applies the migrations that come before the folded keys.
fn migrate_before_folded_names<DB, C>(conn: &mut C, dir: &str)
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    FileBasedMigrations: diesel::migration::MigrationSource<DB>,
{
    let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
    let source = FileBasedMigrations::from_path(&path).expect("migrations");
    let pending = conn.pending_migrations(source).expect("pending");
    for m in pending {
        if m.name().to_string().contains("folded_names") {
            break;
        }
        conn.run_migration(&*m).expect("old migration");
    }
}

fn sql(conn: &mut DbConn, text: &str) {
    diesel::sql_query(text).execute(conn).expect(text);
}

fn agent_sql(id: &str, name: &str, status: &str, day: u32) -> String {
    format!(
        "INSERT INTO agents (id, user_name, role, status, source, created_at, updated_at) \
         VALUES ('{id}', '{name}', 'agent', '{status}', 'admin', '2026-01-{day:02} 00:00:00', \
         '2026-01-{day:02} 00:00:00')"
    )
}

fn clash(table: &'static str, key: &str, kept: (&str, &str), out: (&str, &str)) -> NameClash {
    NameClash {
        table,
        key: key.into(),
        kept: (kept.0.into(), kept.1.into()),
        left_out: (out.0.into(), out.1.into()),
    }
}

fn key_and_clash(conn: &mut DbConn, id: &str) -> (Option<String>, String) {
    agents::table
        .filter(agents::id.eq(id))
        .select((agents::user_name_key, agents::user_name_clash))
        .first(conn)
        .expect("row")
}

both!(names_that_now_clash_are_reported_and_keep_serving, |b| {
    let db = TestDb::new(b);
    let mut conn = store::connect(&Target::parse(&db.url).expect("url")).expect("connect");
    match &mut conn {
        DbConn::Sqlite(c) => migrate_before_folded_names(c, "sqlite"),
        DbConn::Pg(c) => migrate_before_folded_names(c, "postgres"),
    }
    // Rows the old way: the index on lower(user_name) let these pairs in on both backends.
    sql(
        &mut conn,
        "INSERT INTO roles (name, created_at, updated_at) \
         VALUES ('agent', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    );
    for (id, name, status, day) in [
        ("a0", "Jörg", "deleted", 1),
        ("a1", "JÖRG", "active", 2),
        ("a2", "jörg", "suspended", 3),
        // The look-alike came first; the ASCII name, whose key SQL fills, is the later one.
        ("a4", "ｍｉｋａ", "active", 2),
        ("a5", "mika", "active", 5),
        ("a7", "ana", "active", 1),
    ] {
        sql(&mut conn, &agent_sql(id, name, status, day));
    }
    for (id, name, day) in [("g1", "Ægir", 1), ("g2", "ægir", 2), ("g3", "ops", 3)] {
        sql(
            &mut conn,
            &format!(
                "INSERT INTO groups (id, display_name, source, created_at, updated_at) VALUES \
                 ('{id}', '{name}', 'scim', '2026-01-{day:02} 00:00:00', '2026-01-{day:02} 00:00:00')"
            ),
        );
    }

    let (applied, mut clashes) = store::migrate_reporting(&mut conn).expect("migrate");
    assert!(
        applied.iter().any(|m| m.contains("20261202000002")),
        "{applied:?}"
    );
    clashes.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        clashes,
        [
            clash("agents", "jörg", ("a1", "JÖRG"), ("a2", "jörg")),
            clash("agents", "mika", ("a4", "ｍｉｋａ"), ("a5", "mika")),
            clash("groups", "ægir", ("g1", "Ægir"), ("g2", "ægir")),
        ]
    );
    assert_eq!(
        key_and_clash(&mut conn, "a0"),
        (Some("jörg".into()), "".into())
    );
    assert_eq!(
        key_and_clash(&mut conn, "a1"),
        (Some("jörg".into()), "".into())
    );
    assert_eq!(
        key_and_clash(&mut conn, "a2"),
        (Some("jörg".into()), "a2".into())
    );
    assert_eq!(
        key_and_clash(&mut conn, "a4"),
        (Some("mika".into()), "".into())
    );
    assert_eq!(
        key_and_clash(&mut conn, "a5"),
        (Some("mika".into()), "a5".into())
    );
    assert_eq!(
        key_and_clash(&mut conn, "a7"),
        (Some("ana".into()), "".into())
    );
    let group_keys: Vec<(String, Option<String>, String)> = groups::table
        .order(groups::id)
        .select((
            groups::id,
            groups::display_name_key,
            groups::display_name_clash,
        ))
        .load(&mut conn)
        .expect("groups");
    assert_eq!(
        group_keys,
        [
            ("g1".into(), Some("ægir".into()), "".into()),
            ("g2".into(), Some("ægir".into()), "g2".into()),
            ("g3".into(), Some("ops".into()), "".into()),
        ]
    );
    // A second start finds nothing to do.
    let (applied, clashes) = store::migrate_reporting(&mut conn).expect("migrate again");
    assert!(
        applied.is_empty() && clashes.is_empty(),
        "{applied:?} {clashes:?}"
    );

    // Both keep serving; the name stays taken for anyone new.
    let accounts = Accounts::new("agent", 30);
    let now = store::now();
    for id in ["a1", "a2", "a4", "a5"] {
        assert!(
            store::agents::get(&mut conn, id).expect("get").is_some(),
            "{id}"
        );
    }
    let new = crate::harness::named;
    let taken = accounts.create_agent(&mut conn, "test", "admin", new("JöRG"), now);
    assert!(matches!(taken, Err(AccountError::Conflict(_))), "{taken:?}");
    // The one left out keeps its name in other letters, and joins the rule once renamed.
    let rename = |conn: &mut DbConn, id: &str, name: &str| {
        let mut profile = store::agents::get(conn, id)
            .expect("get")
            .expect("agent")
            .profile;
        profile.user_name = name.into();
        let input = AgentInput {
            profile,
            ..AgentInput::default()
        };
        accounts.update_agent(conn, "test", id, None, input, None, now)
    };
    rename(&mut conn, "a2", "Jörg").expect("same name in other letters");
    assert_eq!(
        key_and_clash(&mut conn, "a2"),
        (Some("jörg".into()), "a2".into())
    );
    rename(&mut conn, "a2", "jörg2").expect("rename");
    assert_eq!(
        key_and_clash(&mut conn, "a2"),
        (Some("jörg2".into()), "".into())
    );
    let back = rename(&mut conn, "a2", "jörg");
    assert!(matches!(back, Err(AccountError::Conflict(_))), "{back:?}");
});

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

both!(
    a_directory_entry_breaking_a_text_rule_is_reported_not_stored,
    |b| {
        let slapd = Slapd::start();
        let mut ldif = format!("{ORG}\n");
        ldif.push_str(&person("ana", ""));
        // A NUL in a title, and a bidi override in a uid.
        ldif.push_str(&person("bob", &format!("title:: {}\n", b64("Lead\u{0}x"))));
        let eve = "eve\u{202E}gpj.exe";
        ldif.push_str(&format!(
        "dn:: {}\nobjectClass: inetOrgPerson\nuid:: {}\ncn: Eve\nsn: Test\nmail: eve@example.com\n\n",
        b64(&format!("uid={eve},ou=people,dc=example,dc=com")),
        b64(eve),
    ));
        slapd.add_ldif(&ldif);
        let env = env(b, &slapd, "");
        let r = env.run(false, false);
        let mut failures: Vec<(String, String)> = r
            .failures
            .iter()
            .map(|(user, _, error)| (user.clone(), error.clone()))
            .collect();
        failures.sort();
        assert_eq!(failures.len(), 2, "{r:?}");
        assert_eq!(failures[0].0, "bob");
        assert!(
            failures[0].1.contains("title contains U+0000"),
            "{failures:?}"
        );
        assert_eq!(failures[1].0, eve);
        assert!(
            failures[1]
                .1
                .contains("userName contains U+202E, a bidirectional control"),
            "{failures:?}"
        );
        assert_ne!(r.status, RunStatus::Failed, "{r:?}");
        let names: Vec<String> = env
            .agents()
            .into_iter()
            .map(|a| a.profile.user_name)
            .collect();
        assert_eq!(names, ["ana"]);
        // Nothing of them was written anywhere.
        let mut conn = env.pool.get().expect("conn");
        let n: i64 = agents::table.count().get_result(&mut conn).expect("count");
        assert_eq!(n, 1);
    }
);

both!(
    a_directory_creating_names_equal_when_folded_keeps_one,
    |b| {
        let slapd = Slapd::start();
        let mut ldif = format!("{ORG}\n");
        // Distinct entries (the DNs differ) whose uids are one name under the fold; the bulk
        // create path (64-row statements on SQLite, 200-row ones on PostgreSQL) meets both.
        for (cn, uid) in [
            ("one", "jörg"),
            ("two", "JÖRG"),
            ("three", "ｊöｒｇ"),
            ("four", "ana"),
        ] {
            ldif.push_str(&format!(
                "dn: cn={cn},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\ncn: {cn}\n\
             sn: Test\nuid:: {}\nmail: {cn}@example.com\n\n",
                b64(uid)
            ));
        }
        slapd.add_ldif(&ldif);
        let env = env(b, &slapd, "");
        let r = env.run(false, false);
        let names: Vec<String> = env
            .agents()
            .into_iter()
            .map(|a| a.profile.user_name)
            .collect();
        assert_eq!(names.len(), 2, "{names:?} {r:?}");
        assert!(names.contains(&"ana".to_owned()), "{names:?}");
        assert_eq!(r.failures.len(), 2, "{r:?}");
        for (_, action, error) in &r.failures {
            assert_eq!(action, "create");
            assert!(error.contains("already taken"), "{error}");
        }
    }
);
