//! Concurrent writers from other places than one server's SCIM: two `rollcall serve`
//! processes on one PostgreSQL, and a directory sync, an admin and an IdP changing one agent
//! at once.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollcall::accounts::{Accounts, AgentInput};
use rollcall::store::{self, Target};
use serde_json::json;

use crate::both;
use crate::concurrency::{
    ATTRS, Client, attribute_round, disable_round, group_round, if_match_round, put_round, race,
};
use crate::harness::{Backend, TestDb, TestServer, create_token};
use crate::slapd::BASE_DN;

/// A `rollcall serve` child process, killed on drop.
pub(crate) struct Daemon {
    child: Child,
    pub base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts the real binary on `config`, listening on a port of its own (`ROLLCALL_…`
/// environment variables override the file, as in production), and waits until it is ready.
pub(crate) fn daemon(config: &std::path::Path, log: &std::path::Path) -> Daemon {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("ROLLCALL_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start rollcall serve");
    let d = Daemon {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = agent.get(format!("{}/readyz", d.base)).call()
            && r.status() == 200
        {
            return d;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "rollcall serve did not become ready: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn two_serve_processes_on_one_postgres_lose_nothing() {
    let db = TestDb::new(Backend::Postgres);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\npool_size = 4\n[server]\nworkers = 2\n[log]\nlevel = \"warn\"\n",
            db.url
        ),
    )
    .expect("config");
    let migrate = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .output()
        .expect("rollcall migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let pool = store::pool(&Target::parse(&db.url).expect("url"), 2).expect("pool");
    let token = create_token(&pool, "idp", "scim");
    let one = daemon(&config, &dir.path().join("one.log"));
    let two = daemon(&config, &dir.path().join("two.log"));
    let clients = [
        Client {
            base: one.base.clone(),
            token: token.clone(),
        },
        Client {
            base: two.base.clone(),
            token,
        },
    ];
    let id = clients[0].create_user("ana");

    let rounds = 5;
    let lost: usize = (0..rounds).map(|r| attribute_round(&clients, &id, r)).sum();
    eprintln!(
        "two processes: {lost} of {} concurrent attribute changes lost",
        rounds * ATTRS.len()
    );
    assert_eq!(lost, 0);

    let rounds = 10;
    let (mut active, mut lost) = (0, 0);
    for round in 0..rounds {
        let admin = (round % 2 == 1).then_some(&pool);
        let (a, l) = disable_round(&clients, admin, &id, round);
        active += usize::from(a);
        lost += l;
    }
    eprintln!(
        "two processes: active after {active} of {rounds} disable rounds; {lost} unrelated changes lost"
    );
    assert_eq!((active, lost), (0, 0));

    for round in 0..5 {
        let (ok, refused) = if_match_round(&clients, &format!("/Users/{id}"), 8, round);
        assert_eq!((ok, refused), (1, 7), "round {round}");
    }
    for round in 0..3 {
        put_round(&clients, &id, "ana", round);
    }
    let users: Vec<String> = (0..8)
        .map(|i| clients[i % 2].create_user(&format!("u{i}")))
        .collect();
    for round in 0..3 {
        group_round(&clients, &users, round);
    }
}

both!(sync_admin_and_scim_writes_on_one_agent_converge, |b| {
    let slapd = crate::sync_ldap::directory(&["ana", "bob"]);
    let env = crate::sync_ldap::env(b, &slapd, "");
    env.run(false, false);
    let bob = env.agent("bob");
    let s = TestServer::serve(env.config.clone(), env.pool.clone(), "idp");
    let c = Client::of(&s);
    let path = format!("/Users/{}", bob.id);
    for round in 0_i32..5 {
        // The directory changes a field it manages while an IdP and an admin change fields
        // it does not manage.
        slapd.modify_ldif(&format!(
            "dn: uid=bob,ou=people,{BASE_DN}\nchangetype: modify\nreplace: title\ntitle: T{round}\n"
        ));
        race(3, |i| match i {
            0 => {
                env.run(false, false);
            }
            1 => {
                let (st, v) = c.patch(
                    &path,
                    json!([
                        {"op": "replace", "path": "externalId", "value": format!("x{round}")},
                        {"op": "replace", "path": "name.middleName", "value": format!("m{round}")},
                    ]),
                    &[],
                );
                assert_eq!(st, 200, "{v}");
            }
            _ => {
                let mut conn = env.pool.get().expect("conn");
                let chats = round + 1;
                Accounts::new("agent", 30)
                    .update_agent_with(
                        &mut conn,
                        "admin:test",
                        &bob.id,
                        None,
                        Some("more chats"),
                        store::now(),
                        |a| {
                            let mut profile = a.profile.clone();
                            profile.max_concurrent_chats = Some(chats);
                            Ok(AgentInput {
                                profile,
                                ..AgentInput::default()
                            })
                        },
                    )
                    .expect("admin update");
            }
        });
        let now = env.agent("bob");
        let p = &now.profile;
        assert_eq!(
            p.title.as_deref(),
            Some(format!("T{round}").as_str()),
            "sync"
        );
        assert_eq!(
            p.external_id.as_deref(),
            Some(format!("x{round}").as_str()),
            "IdP"
        );
        assert_eq!(
            p.middle_name.as_deref(),
            Some(format!("m{round}").as_str()),
            "IdP"
        );
        assert_eq!(p.max_concurrent_chats, Some(round + 1), "admin");
    }
});
