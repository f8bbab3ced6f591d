//! The LDAP source against a real slapd: field mapping, nested groups, disabled people,
//! paging and size limits, outages, bad credentials, TLS, and the Active Directory flavour
//! (on OpenLDAP with AD's attributes).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use rollcall::sources::ldap::{self, Flavour, LdapSettings};
use rollcall::sources::{Snapshot, SourceError, SourceRecord};

use crate::slapd::{BASE_DN, Slapd};

const ORG: &str = include_str!("../fixtures/ldap/org.ldif");
const AD: &str = include_str!("../fixtures/ldap/ad.ldif");
const READER_DN: &str = "cn=rollcall-reader,dc=example,dc=com";
const READER_PASSWORD: &str = "reader-secret";

fn fetch(settings: &LdapSettings) -> Result<Snapshot, SourceError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(ldap::fetch(settings))
}

/// The org fixture on a fresh server.
fn org() -> Slapd {
    let slapd = Slapd::start();
    slapd.add_ldif(ORG);
    slapd
}

fn settings(url: String, base: &str, flavour: Flavour) -> LdapSettings {
    let mut s = LdapSettings::new(url, base, flavour);
    s.bind_dn = Some(READER_DN.into());
    s.bind_password = Some(READER_PASSWORD.into());
    s.timeout_secs = 5;
    s
}

fn openldap(slapd: &Slapd) -> LdapSettings {
    settings(slapd.url(), BASE_DN, Flavour::OpenLdap)
}

fn person<'a>(snapshot: &'a Snapshot, user_name: &str) -> &'a SourceRecord {
    snapshot
        .records
        .iter()
        .find(|r| r.user_name == user_name)
        .unwrap_or_else(|| panic!("{user_name} not in the snapshot"))
}

fn user_names(snapshot: &Snapshot) -> Vec<&str> {
    let mut names: Vec<&str> = snapshot
        .records
        .iter()
        .map(|r| r.user_name.as_str())
        .collect();
    names.sort_unstable();
    names
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// `count` inetOrgPersons under ou=bulk.
fn bulk_people(count: usize) -> String {
    let mut ldif = String::from(
        "dn: ou=bulk,dc=example,dc=com\nobjectClass: organizationalUnit\nou: bulk\n\n",
    );
    for i in 0..count {
        ldif.push_str(&format!(
            "dn: uid=bulk{i:05},ou=bulk,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
             uid: bulk{i:05}\ncn: Bulk {i}\nsn: Person\nmail: bulk{i:05}@example.com\n\n"
        ));
    }
    ldif
}

/// `ldap::fetch_into`, collecting what reaches the sink: the snapshot it returns, and the
/// pages in the order they arrived.
fn fetch_streamed(
    settings: &LdapSettings,
) -> (Result<Snapshot, SourceError>, Vec<Vec<SourceRecord>>) {
    let (sink, pages) = std::sync::mpsc::sync_channel(1);
    let settings = settings.clone();
    let reader = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(ldap::fetch_into(&settings, sink))
    });
    let pages: Vec<Vec<SourceRecord>> = pages.iter().collect();
    (reader.join().expect("reader"), pages)
}

#[test]
fn streamed_fetch_hands_over_the_same_people_and_counts_the_skipped() {
    let slapd = org();
    let mut settings = openldap(&slapd);
    // Several server pages, so entries from more than one reach the mapping side.
    settings.page_size = 3;
    let whole = fetch(&settings).expect("fetch");
    let (streamed, pages) = fetch_streamed(&settings);
    let streamed = streamed.expect("streamed fetch");
    assert!(streamed.records.is_empty(), "people go to the sink only");
    assert_eq!(streamed.skipped, 1, "cn=No Uid");
    assert_eq!(streamed.position, whole.position);
    assert!(pages.iter().all(|p| !p.is_empty()));
    let people: Vec<SourceRecord> = pages.into_iter().flatten().collect();
    assert_eq!(people, whole.records);
}

#[test]
fn streamed_fetch_stops_when_nobody_receives() {
    let slapd = org();
    let (sink, pages) = std::sync::mpsc::sync_channel(1);
    drop(pages);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(ldap::fetch_into(&openldap(&slapd), sink));
    match result {
        Err(SourceError::Search(why)) => assert!(why.contains("stopped reading"), "{why}"),
        other => panic!("expected the read to stop, got {other:?}"),
    }
}

#[test]
fn full_fetch_maps_every_field() {
    let slapd = org();
    let snapshot = fetch(&openldap(&slapd)).expect("fetch");

    assert_eq!(
        user_names(&snapshot),
        [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
            "kim"
        ]
    );
    // cn=No Uid has no uid: skipped and counted; cn=Mallory is not an inetOrgPerson.
    assert_eq!(snapshot.skipped, 1);

    let alice = person(&snapshot, "alice");
    assert!(is_uuid(&alice.key), "{}", alice.key);
    assert_eq!(alice.dn, "uid=alice,ou=people,dc=example,dc=com");
    assert_eq!(alice.given_name.as_deref(), Some("Alice"));
    assert_eq!(alice.family_name.as_deref(), Some("Anders"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Anders"));
    assert_eq!(alice.nickname, None);
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.phone.as_deref(), Some("+1 555 0101"));
    assert_eq!(alice.employee_number.as_deref(), Some("E1001"));
    assert_eq!(alice.department.as_deref(), Some("Support"));
    assert_eq!(alice.title.as_deref(), Some("Team Lead"));
    assert_eq!(alice.manager_dn, None);
    assert!(!alice.disabled);
    assert!(alice.groups.is_empty());

    let bob = person(&snapshot, "bob");
    assert_eq!(
        bob.manager_dn.as_deref(),
        Some("uid=alice,ou=people,dc=example,dc=com")
    );
    // No disabled_filter configured: nobody is disabled.
    assert!(!bob.disabled);

    let carol = person(&snapshot, "carol");
    assert_eq!(carol.given_name, None);
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));

    let ivan = person(&snapshot, "ivan");
    assert_eq!(ivan.given_name.as_deref(), Some("Iván"));
    assert_eq!(ivan.family_name.as_deref(), Some("Ødegård"));
    assert_eq!(ivan.title.as_deref(), Some("客服主管"));

    assert_eq!(
        person(&snapshot, "kim").dn,
        "uid=kim,ou=contractors,dc=example,dc=com"
    );

    // Keys are distinct and stable across reads.
    let mut keys: Vec<&str> = snapshot.records.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), snapshot.records.len());
    let again = fetch(&openldap(&slapd)).expect("second fetch");
    assert_eq!(person(&again, "alice"), alice);
}

#[test]
fn nested_groups_are_resolved() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.group_base_dn = Some("ou=groups,dc=example,dc=com".into());
    let snapshot = fetch(&s).expect("fetch");
    let groups = |name: &str| person(&snapshot, name).groups.clone();
    let g = |cn: &str| format!("cn={cn},ou=groups,dc=example,dc=com");

    // tier1 ⊂ support ⊂ all-staff.
    assert_eq!(
        groups("bob"),
        [g("all-staff"), g("support"), g("support-tier1")]
    );
    assert_eq!(
        groups("carol"),
        [g("all-staff"), g("support"), g("support-tier1")]
    );
    assert_eq!(groups("dave"), [g("all-staff"), g("support")]);
    assert_eq!(groups("erin"), [g("all-staff")]);
    // A cycle: each side is in both, and the read ends.
    assert_eq!(groups("frank"), [g("cycle-a"), g("cycle-b")]);
    assert_eq!(groups("grace"), [g("cycle-a"), g("cycle-b")]);
    // groupOfUniqueNames (no memberOf from the overlay), value with an optional UID.
    assert_eq!(groups("heidi"), [g("qa")]);
    // Listed in tier1 under another case; also in a group outside the group base (known
    // from memberOf) that all-staff contains.
    assert_eq!(
        groups("judy"),
        [
            g("all-staff"),
            "cn=legacy,ou=legacy,dc=example,dc=com".to_owned(),
            g("support"),
            g("support-tier1"),
        ]
    );
    assert!(groups("alice").is_empty());
    assert!(groups("kim").is_empty());

    // Membership changes show on the next read.
    slapd.modify_ldif(
        "dn: cn=support,ou=groups,dc=example,dc=com\nchangetype: modify\nadd: member\n\
         member: uid=alice,ou=people,dc=example,dc=com\n",
    );
    let snapshot = fetch(&s).expect("fetch");
    assert_eq!(
        person(&snapshot, "alice").groups,
        [g("all-staff"), g("support")]
    );
}

#[test]
fn disabled_filter_marks_people_disabled() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.disabled_filter = Some("(employeeType=inactive)".into());
    let snapshot = fetch(&s).expect("fetch");
    let disabled: Vec<&str> = snapshot
        .records
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.user_name.as_str())
        .collect();
    assert_eq!(disabled, ["bob"]);

    // Evaluated by the server, so any filter works.
    s.disabled_filter = Some("(|(employeeType=contractor)(uid=car*))".into());
    let snapshot = fetch(&s).expect("fetch");
    let mut disabled: Vec<&str> = snapshot
        .records
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.user_name.as_str())
        .collect();
    disabled.sort_unstable();
    assert_eq!(disabled, ["carol", "kim"]);
}

#[test]
fn paging_reads_more_entries_than_a_page() {
    let slapd = org();
    slapd.add_ldif(&bulk_people(1_200));
    let mut s = openldap(&slapd);
    s.page_size = 100;
    let snapshot = fetch(&s).expect("paged fetch");
    assert_eq!(snapshot.records.len(), 1_200 + 11);
    let bulk = snapshot
        .records
        .iter()
        .filter(|r| r.user_name.starts_with("bulk"))
        .count();
    assert_eq!(bulk, 1_200);

    // Without paging the server's soft limit (1,000) cuts the search: an error, not 1,000
    // people.
    s.page_size = 0;
    match fetch(&s) {
        Err(SourceError::Truncated(msg)) => assert!(msg.contains("size limit"), "{msg}"),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn server_size_limit_is_truncated_not_short() {
    let slapd = org();
    slapd.add_ldif(&bulk_people(120));
    let mut s = openldap(&slapd);
    s.page_size = 20;
    assert_eq!(fetch(&s).expect("fetch").records.len(), 131);

    slapd.modify_config(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nreplace: olcSizeLimit\n\
         olcSizeLimit: size.soft=50 size.hard=50 size.pr=50 size.prtotal=50\n",
    );
    for page_size in [20, 0, 100] {
        s.page_size = page_size;
        match fetch(&s) {
            Err(SourceError::Truncated(_)) => {}
            other => panic!("page size {page_size}: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn stopped_server_is_a_connect_error() {
    let mut slapd = org();
    let s = openldap(&slapd);
    assert!(fetch(&s).is_ok());

    slapd.stop();
    let started = Instant::now();
    match fetch(&s) {
        Err(SourceError::Connect(msg)) => assert!(msg.contains("127.0.0.1"), "{msg}"),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(s.timeout_secs));

    slapd.start_again();
    assert_eq!(fetch(&s).expect("fetch after restart").records.len(), 11);
}

#[test]
fn wrong_password_is_a_bind_error_without_the_password() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.bind_password = Some("not-the-Password-42".into());
    let err = fetch(&s).expect_err("bind must fail");
    assert!(matches!(err, SourceError::Bind(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-Password-42"), "{shown}");
    assert!(shown.contains(READER_DN), "{shown}");

    s.bind_dn = Some("cn=nobody,dc=example,dc=com".into());
    assert!(matches!(fetch(&s), Err(SourceError::Bind(_))));
}

#[test]
fn anonymous_read_works_where_the_server_allows_it() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.bind_dn = None;
    s.bind_password = None;
    assert_eq!(fetch(&s).expect("anonymous fetch").records.len(), 11);
}

#[test]
fn missing_bases_are_errors() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.base_dn = "ou=nowhere,dc=example,dc=com".into();
    match fetch(&s) {
        Err(SourceError::Search(msg)) => assert!(msg.contains("ou=nowhere"), "{msg}"),
        other => panic!("expected Search, got {other:?}"),
    }
    let mut s = openldap(&slapd);
    s.group_base_dn = Some("ou=gone,dc=example,dc=com".into());
    assert!(matches!(fetch(&s), Err(SourceError::Search(_))));
}

#[test]
fn an_empty_directory_is_an_empty_snapshot() {
    let slapd = org();
    let mut s = openldap(&slapd);
    s.base_dn = "ou=legacy,dc=example,dc=com".into();
    let snapshot = fetch(&s).expect("fetch");
    assert!(snapshot.records.is_empty());
    assert_eq!(snapshot.skipped, 0);
}

#[test]
fn attribute_aliases_and_unknown_names() {
    let slapd = org();
    let mut s = openldap(&slapd);
    // The server answers `surname` as `sn` and `rfc822Mailbox` as `mail`.
    s.attributes.family_name = Some("surname".into());
    s.attributes.email = Some("RFC822Mailbox".into());
    s.attributes.nickname = Some("displayName".into());
    let snapshot = fetch(&s).expect("fetch");
    let alice = person(&snapshot, "alice");
    assert_eq!(alice.family_name.as_deref(), Some("Anders"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    // One attribute may feed two fields.
    assert_eq!(alice.nickname.as_deref(), Some("Alice Anders"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Anders"));

    s.attributes.phone = Some("telephonNumber".into());
    match fetch(&s) {
        Err(SourceError::Config(msg)) => assert!(msg.contains("attributes.phone"), "{msg}"),
        other => panic!("expected Config, got {other:?}"),
    }
}

#[test]
fn unresponsive_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || {
        // Accept and never answer.
        let held: Vec<TcpStream> = listener.incoming().take(1).filter_map(Result::ok).collect();
        std::thread::sleep(Duration::from_secs(4));
        drop(held);
    });
    let mut s = settings(
        format!("ldap://127.0.0.1:{port}"),
        BASE_DN,
        Flavour::OpenLdap,
    );
    s.timeout_secs = 1;
    let started = Instant::now();
    match fetch(&s) {
        Err(SourceError::Timeout(msg)) => assert!(msg.contains("1 s"), "{msg}"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = holder.join();
}

#[test]
fn dropping_the_fetch_abandons_the_read() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read requests, answer nothing, report when the client hangs up.
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = closed_tx.send(Instant::now());
    });
    let mut s = settings(
        format!("ldap://127.0.0.1:{port}"),
        BASE_DN,
        Flavour::OpenLdap,
    );
    s.timeout_secs = 60;
    let started = Instant::now();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_millis(300), ldap::fetch(&s)).await
        });
    assert!(outcome.is_err(), "the fetch should still be waiting");
    let closed = closed_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the connection is closed once the fetch is dropped");
    // Closed by the drop, not by the 60-second timeout.
    assert!(closed.duration_since(started) < Duration::from_secs(3));
}

/// A proxy to `upstream` that closes each connection after passing `limit` bytes from the
/// server.
fn cutting_proxy(upstream: u16, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone())
            else {
                return;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
            });
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut passed = 0;
                while passed < limit {
                    let n = match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n.min(limit - passed),
                    };
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    passed += n;
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn connection_lost_mid_read_is_an_error() {
    let slapd = org();
    slapd.add_ldif(&bulk_people(1_200));
    let upstream: u16 = slapd
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let port = cutting_proxy(upstream, 60_000);
    let mut s = openldap(&slapd);
    s.url = format!("ldap://127.0.0.1:{port}");
    s.page_size = 100;
    let started = Instant::now();
    match fetch(&s) {
        Err(SourceError::Search(msg)) => assert!(msg.contains("lost"), "{msg}"),
        other => panic!("expected Search, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(s.timeout_secs));
}

#[test]
fn active_directory_flavour() {
    let slapd = org();
    slapd.add_ldif(AD);
    let s = settings(
        slapd.url(),
        "ou=ad,dc=example,dc=com",
        Flavour::ActiveDirectory,
    );
    let snapshot = fetch(&s).expect("fetch");

    // Carl is a contact (no `user` class); Bad Guid has a 4-byte objectGUID; No Sam has no
    // sAMAccountName.
    assert_eq!(
        user_names(&snapshot),
        [
            "ann.active",
            "dan.disabled",
            "eve.expired",
            "fay.future",
            "gus.guid"
        ]
    );
    assert_eq!(snapshot.skipped, 2);

    let ann = person(&snapshot, "ann.active");
    assert_eq!(ann.key, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    assert_eq!(ann.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann.family_name.as_deref(), Some("Active"));
    assert_eq!(ann.display_name.as_deref(), Some("Ann Active"));
    assert_eq!(ann.email.as_deref(), Some("ann.active@corp.example.com"));
    assert_eq!(ann.phone.as_deref(), Some("+44 20 7946 0001"));
    assert_eq!(ann.employee_number.as_deref(), Some("7001"));
    assert_eq!(ann.department.as_deref(), Some("Customer Care"));
    assert_eq!(ann.title.as_deref(), Some("Senior Agent"));
    assert!(!ann.disabled);
    let group = |cn: &str| format!("cn={cn},ou=groups,ou=ad,dc=example,dc=com");
    assert_eq!(ann.groups, [group("agents"), group("tier2")]);

    let dan = person(&snapshot, "dan.disabled");
    assert_eq!(dan.key, "a1b2c3d4-0000-4000-8000-000000000002");
    assert!(dan.disabled, "userAccountControl 514");
    assert_eq!(
        dan.manager_dn.as_deref(),
        Some("cn=Ann Active,ou=Users,ou=ad,dc=example,dc=com")
    );
    assert_eq!(dan.groups, [group("agents")]);

    assert!(person(&snapshot, "eve.expired").disabled, "expired in 2012");
    let fay = person(&snapshot, "fay.future");
    assert!(!fay.disabled, "expires in 2234");
    assert_eq!(fay.groups, [group("agents"), group("tier2")]);
    // A GUID whose bytes happen to be valid text is still read as bytes.
    assert_eq!(
        person(&snapshot, "gus.guid").key,
        "33323130-3534-3736-3839-616263646566"
    );

    // Expiry is judged at the time given.
    let in_2300 = SystemTime::UNIX_EPOCH + Duration::from_secs(10_413_792_000);
    let later = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(ldap::fetch_at(&s, in_2300))
        .expect("fetch");
    assert!(person(&later, "fay.future").disabled);
    assert!(!person(&later, "ann.active").disabled);
}

#[test]
fn ldaps_and_starttls_trust_the_configured_ca() {
    let slapd = Slapd::with_tls();
    slapd.add_ldif(ORG);
    let ca = slapd.tls().ca_file.clone();

    let mut s = settings(slapd.ldaps_url(), BASE_DN, Flavour::OpenLdap);
    s.ca_file = Some(ca.clone());
    assert_eq!(fetch(&s).expect("ldaps").records.len(), 11);

    let mut s = openldap(&slapd);
    s.starttls = true;
    s.ca_file = Some(ca.clone());
    assert_eq!(fetch(&s).expect("StartTLS").records.len(), 11);

    // The system's roots do not know the test CA.
    let s = settings(slapd.ldaps_url(), BASE_DN, Flavour::OpenLdap);
    assert!(matches!(fetch(&s), Err(SourceError::Connect(_))));
    let mut s = openldap(&slapd);
    s.starttls = true;
    assert!(matches!(fetch(&s), Err(SourceError::Connect(_))));

    // A CA file that holds no certificate.
    let mut s = settings(slapd.ldaps_url(), BASE_DN, Flavour::OpenLdap);
    s.ca_file = Some(slapd.dir().join("config.ldif"));
    assert!(matches!(fetch(&s), Err(SourceError::Config(_))));
}

#[test]
fn hard_size_limit_cuts_unpaged_reads_only() {
    let slapd = Slapd::with_size_limit(
        "size.soft=50 size.hard=50 size.pr=unlimited size.prtotal=unlimited",
    );
    slapd.add_ldif(ORG);
    slapd.add_ldif(&bulk_people(120));
    let mut s = openldap(&slapd);
    s.page_size = 0;
    assert!(matches!(fetch(&s), Err(SourceError::Truncated(_))));
    s.page_size = 25;
    assert_eq!(fetch(&s).expect("paged fetch").records.len(), 131);
}

#[test]
fn bulk_loaded_directory_with_nested_teams() {
    const PEOPLE: usize = 3_000;
    let team = |t: usize| format!("cn=team-{t},ou=groups,dc=example,dc=com");
    let mut ldif = String::from(
        "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\no: Example\n\
         dc: example\n\ndn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\n\
         ou: people\n\ndn: ou=groups,dc=example,dc=com\nobjectClass: organizationalUnit\n\
         ou: groups\n\n",
    );
    // slapadd bypasses the memberof overlay, so memberOf is written here.
    for i in 0..PEOPLE {
        ldif.push_str(&format!(
            "dn: uid=p{i:05},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
             uid: p{i:05}\ncn: Person {i}\nsn: Person\nmemberOf: {}\n\n",
            team(i % 3)
        ));
    }
    for t in 0..3 {
        ldif.push_str(&format!(
            "dn: {}\nobjectClass: groupOfNames\ncn: team-{t}\nmemberOf: {}\n",
            team(t),
            "cn=everyone,ou=groups,dc=example,dc=com"
        ));
        for i in (t..PEOPLE).step_by(3) {
            ldif.push_str(&format!(
                "member: uid=p{i:05},ou=people,dc=example,dc=com\n"
            ));
        }
        ldif.push('\n');
    }
    ldif.push_str(
        "dn: cn=everyone,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: everyone\n",
    );
    for t in 0..3 {
        ldif.push_str(&format!("member: {}\n", team(t)));
    }
    let mut slapd = Slapd::start();
    let path = slapd.dir().join("bulk.ldif");
    std::fs::write(&path, ldif).expect("write LDIF");
    slapd.bulk_load(&path);

    let mut s = openldap(&slapd);
    s.bind_dn = Some(crate::slapd::ADMIN_DN.into());
    s.bind_password = Some(crate::slapd::ADMIN_PASSWORD.into());
    s.page_size = 1_000;
    let snapshot = fetch(&s).expect("fetch");
    assert_eq!(snapshot.records.len(), PEOPLE);
    assert!(snapshot.records.iter().all(|r| is_uuid(&r.key)));
    let p = person(&snapshot, "p01234");
    assert_eq!(
        p.groups,
        [
            "cn=everyone,ou=groups,dc=example,dc=com".to_owned(),
            team(1234 % 3)
        ]
    );
}
