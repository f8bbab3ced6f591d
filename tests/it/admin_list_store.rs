//! The admin list's store query (`store::query::admin`) on both backends: search over the
//! folded search column, and that column kept current by every door (SCIM, directory sync).

use rollcall::store::DbConn;
use rollcall::store::query::admin::{AdminQuery, Filters, Sort, list};
use serde_json::json;

use crate::both;
use crate::harness::TestServer;
use crate::sync_ldap::{directory, env};

/// User names of every agent matching `q`, all pages (`limit` a page), in user name order.
pub(crate) fn search(conn: &mut DbConn, q: &str, limit: i64) -> Vec<String> {
    let mut query = AdminQuery {
        filters: Filters {
            q: Some(q.to_owned()),
            ..Filters::default()
        },
        sort: Sort::UserName,
        descending: false,
        after: None,
        limit,
    };
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = list(conn, &query).expect("list");
        out.extend(page.items.into_iter().map(|a| a.profile.user_name));
        match page.next {
            Some(n) => query.after = Some(n),
            None => return out,
        }
    }
    panic!("no end to the pages");
}

pub(crate) fn user(
    s: &TestServer,
    user_name: &str,
    display: &str,
    given: &str,
    family: &str,
    number: &str,
) -> String {
    let (st, v) = s.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": user_name,
            "displayName": display,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": number},
        })),
    );
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

both!(search_matches_substrings_folded, |b| {
    let s = TestServer::start(b);
    user(&s, "wang.wei", "王伟", "伟", "王", "CS-004217");
    user(&s, "wang.fang", "王芳", "芳", "王", "CS-004218");
    user(&s, "Li.Na", "Li Na", "Na", "Li", "CS-100001");
    user(
        &s,
        "owen.sterling",
        "Owen STERLING",
        "Owen",
        "Sterling",
        "CS-100002",
    );
    let mut c = s.conn();
    for (q, want) in [
        ("wang", vec!["wang.fang", "wang.wei"]),
        ("WANG", vec!["wang.fang", "wang.wei"]),
        ("Ｗａｎｇ", vec!["wang.fang", "wang.wei"]),
        ("王", vec!["wang.fang", "wang.wei"]),
        ("王伟", vec!["wang.wei"]),
        ("伟 王", vec!["wang.wei"]),
        ("4217", vec!["wang.wei"]),
        ("cs-0042", vec!["wang.fang", "wang.wei"]),
        ("li na", vec!["Li.Na"]),
        ("na", vec!["Li.Na"]),
        ("an", vec!["wang.fang", "wang.wei"]),
        ("sterl", vec!["owen.sterling"]),
        ("ng.w", vec!["wang.wei"]),
        (
            "@example.com",
            vec!["Li.Na", "owen.sterling", "wang.fang", "wang.wei"],
        ),
        ("100_", vec![]),
        ("%", vec![]),
        ("nobody", vec![]),
    ] {
        assert_eq!(search(&mut c, q, 2), want, "q={q:?}");
    }
});

both!(the_search_column_follows_scim_writes, |b| {
    let s = TestServer::start(b);
    let id = user(&s, "mei.chen", "Mei Chen", "Mei", "Chen", "CS-7");
    user(&s, "other", "Other Person", "Other", "Person", "CS-8");
    let mut c = s.conn();
    assert_eq!(search(&mut c, "mei chen", 50), ["mei.chen"]);
    // Renamed (userName and display name) by PATCH.
    let (st, v) = s.scim(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "userName", "value": "mei.lin"},
                {"op": "replace", "path": "displayName", "value": "林美"},
                {"op": "replace", "path": "name.familyName", "value": "Lin"}
            ]
        })),
    );
    assert_eq!(st, 200, "{v}");
    assert!(search(&mut c, "mei chen", 50).is_empty());
    assert_eq!(search(&mut c, "mei.lin", 50), ["mei.lin"]);
    assert_eq!(search(&mut c, "林", 50), ["mei.lin"]);
    // Replaced by PUT.
    let (st, v) = s.scim(
        "PUT",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "mei.lin",
            "displayName": "Mei Zhou",
        })),
    );
    assert_eq!(st, 200, "{v}");
    assert!(search(&mut c, "林", 50).is_empty());
    assert_eq!(search(&mut c, "zhou", 50), ["mei.lin"]);
    // Deleted: gone from the list.
    let (st, _) = s.scim("DELETE", &format!("/Users/{id}"), None);
    assert_eq!(st, 204);
    assert!(search(&mut c, "zhou", 50).is_empty());
    assert!(search(&mut c, "mei", 50).is_empty());
    assert_eq!(search(&mut c, "other", 50), ["other"]);
});

both!(the_search_column_follows_directory_sync, |b| {
    let slapd = directory(&["ana", "bob", "cyrus"]);
    let env = env(b, &slapd, "");
    let r = env.run(false, false);
    assert_eq!(r.plan.count("create"), 3, "{r:?}");
    let mut c = env.pool.get().expect("conn");
    assert_eq!(search(&mut c, "cyru", 50), ["cyrus"]);
    assert_eq!(search(&mut c, "E-bob", 50), ["bob"]);
    slapd.modify_ldif(
        "dn: uid=cyrus,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: sn\nsn: Zhang\n-\nreplace: cn\ncn: Cyrus Zhang\n",
    );
    env.run(false, false);
    assert_eq!(search(&mut c, "zhang", 50), ["cyrus"]);
    assert_eq!(search(&mut c, "cyrus zh", 50), ["cyrus"]);
});

/// Every page of `query` (ids), and how many pages held fewer agents than the limit.
fn all_pages(conn: &mut DbConn, mut query: AdminQuery) -> (Vec<String>, usize) {
    let (mut out, mut short) = (Vec::new(), 0);
    for _ in 0..10_000 {
        let page = list(conn, &query).expect("list");
        let n = page.items.len();
        out.extend(page.items.into_iter().map(|a| a.id));
        match page.next {
            Some(next) => {
                short += usize::from((n as i64) < query.limit);
                query.after = Some(next);
            }
            None => return (out, short),
        }
    }
    panic!("no end to the pages");
}

both!(walks_are_bounded_and_visit_every_match_once, |b| {
    use diesel::prelude::*;
    use rollcall::store::query::admin::BUDGET;
    use rollcall::store::schema::agents;
    let s = TestServer::start(b);
    let mut c = s.conn();
    let n = u32::try_from(BUDGET).expect("budget") * 2 + 500;
    let accounts = rollcall::accounts::Accounts::new("agent", 30);
    rollcall::store::seed::seed_agents(&mut c, &accounts, n, true).expect("seed");
    let want = |c: &mut DbConn, dept: &str| -> Vec<String> {
        let mut ids: Vec<String> = agents::table
            .filter(agents::department.eq(dept))
            .select(agents::id)
            .load(c)
            .expect("ids");
        ids.sort();
        ids
    };
    let query = |filters: Filters, sort: Sort, descending: bool, limit: i64| AdminQuery {
        filters,
        sort,
        descending,
        after: None,
        limit,
    };
    // A filter alone: walked, bounded; every match once, in order.
    let billing = Filters {
        department: Some("Billing".into()),
        ..Filters::default()
    };
    let (mut got, _) = all_pages(&mut c, query(billing.clone(), Sort::DisplayName, true, 100));
    let len = got.len();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), len, "an agent was listed twice");
    assert_eq!(got, want(&mut c, "Billing"));
    // A term of two characters matching nobody: pages of none, each bounded, then the end.
    let none = Filters {
        q: Some("qz".into()),
        ..Filters::default()
    };
    let (got, short) = all_pages(&mut c, query(none, Sort::Created, false, 50));
    assert!(got.is_empty());
    assert_eq!(
        short,
        (n as usize - 1) / BUDGET as usize,
        "one page per {BUDGET} agents examined, the last ends it"
    );
    // A rare term of three characters or more: from the index, not walked.
    let rare = Filters {
        q: Some("QUIXOTE".into()),
        ..Filters::default()
    };
    let (got, short) = all_pages(&mut c, query(rare, Sort::UserName, false, 1));
    assert_eq!(got.len(), 2, "seed numbers 7 and 10007 are Quixotes");
    assert_eq!(short, 0);
    // A term everyone matches: full pages.
    let common = Filters {
        q: Some("example.com".into()),
        status: Some("active".into()),
        ..Filters::default()
    };
    let page = list(&mut c, &query(common, Sort::AgentNumber, true, 500)).expect("list");
    assert_eq!(page.items.len(), 500);
    assert_eq!(
        page.items[0].profile.employee_number.as_deref(),
        Some(format!("CS-{n:06}").as_str())
    );
});
