//! Test builders: a fresh database per test (SQLite file or PostgreSQL database), the real
//! HTTP server on a free loopback port, and a small SCIM client.

use std::net::TcpListener;
use std::sync::mpsc;

use chrono::Utc;
use rollcall::config::Config;
use rollcall::store::{self, Pool, Target, models::TokenRow, tokens};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares a test that runs once per backend: `both!(name, |b| { … })`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                ($body)($crate::harness::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                ($body)($crate::harness::Backend::Postgres)
            }
        }
    };
}

/// A database made for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("rollcall.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("ROLLCALL_TEST_PG_URL").expect(
                    "ROLLCALL_TEST_PG_URL is not set: run the suite with scripts/test, which starts PostgreSQL",
                );
                let name = format!("rc_{}", uuid::Uuid::new_v4().simple());
                let mut conn = store::connect(&Target::parse(&admin).expect("pg url"))
                    .expect("connect to PostgreSQL");
                use diesel::RunQueryDsl;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .expect("url has a database");
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                }
            }
        }
    }

    pub fn config(&self) -> Config {
        let mut c = Config::from_parts("", Vec::<(String, String)>::new()).expect("default config");
        c.database.url = self.url.clone();
        c.database.pool_size = 4;
        c.server.workers = Some(1);
        // New agents get no activation link (and its audit entry and mail) unless a test
        // asks: tests/it/signin_password.rs covers them.
        c.auth.new_agents.first_password = rollcall::config::FirstPassword::None;
        c
    }
}

/// A running Rollcall on a loopback port, stopped on drop.
pub struct TestServer {
    _db: Option<TestDb>,
    pub base: String,
    pub token: String,
    pub pool: Pool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    pub fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDb::new(backend);
        let mut config = db.config();
        tweak(&mut config);
        let pool = rollcall::server::open_store(&config).expect("open store");
        let mut server = Self::serve(config, pool, "idp");
        server._db = Some(db);
        server
    }

    /// A server on a database that is already open (`pool`, `config.database`), e.g. one a
    /// sync environment uses too; its SCIM token is named `token_name`.
    pub fn serve(mut config: Config, pool: Pool, token_name: &str) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.server.listen = addr.to_string();
        let token = create_token(&pool, token_name, "scim");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let server_pool = pool.clone();
        let thread = std::thread::spawn(move || {
            let _ = ready_tx.send(());
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            let result = actix_web::rt::System::new().block_on(rollcall::server::serve_until(
                config,
                server_pool,
                listener,
                shutdown,
            ));
            if let Err(e) = result {
                eprintln!("test server failed: {e:#}");
            }
        });
        ready_rx.recv().expect("server thread");
        let base = format!("http://{addr}");
        let server = TestServer {
            _db: None,
            base,
            token,
            pool,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        for _ in 0..200 {
            if server.raw("GET", "/healthz", None, &[]).0 == 200 {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("server did not come up");
    }

    pub fn token_with(&self, name: &str, scopes: &str) -> String {
        create_token(&self.pool, name, scopes)
    }

    /// A request with explicit headers; returns (status, headers, body text).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(b) => agent.run(req.body(b.to_owned()).expect("request")),
            None => agent.run(req.body(()).expect("request")),
        };
        let mut resp = result.expect("HTTP exchange");
        let status = resp.status().as_u16();
        let hdrs = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, hdrs, text)
    }

    /// A SCIM request with the test token; returns (status, JSON body or Null).
    pub fn scim(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self.scim_h(method, path, body, &[]);
        (r.0, r.2)
    }

    pub fn scim_h(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Value) {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/scim+json"),
        ];
        headers.extend_from_slice(extra);
        let text = body.map(|b| b.to_string());
        let (status, hdrs, text) = self.raw(
            method,
            &format!("/scim/v2{path}"),
            text.as_deref(),
            &headers,
        );
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, hdrs, json)
    }

    pub fn create_user(&self, user_name: &str) -> Value {
        let (s, v) = self.scim(
            "POST",
            "/Users",
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "name": {"givenName": "Test", "familyName": user_name},
                "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
                "active": true
            })),
        );
        assert_eq!(s, 201, "create {user_name}: {v}");
        v
    }

    pub fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        let (s, v) = self.scim(
            "POST",
            "/Groups",
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": members
            })),
        );
        assert_eq!(s, 201, "create group {name}: {v}");
        v
    }

    pub fn conn(&self) -> store::PooledConn {
        self.pool.get().expect("pooled connection")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn create_token(pool: &Pool, name: &str, scopes: &str) -> String {
    let token = rollcall::auth::new_token();
    let mut conn = pool.get().expect("conn");
    tokens::insert(
        &mut conn,
        &TokenRow {
            name: name.to_owned(),
            token_hash: rollcall::auth::token_hash(&token),
            scopes: scopes.to_owned(),
            created_at: Utc::now().naive_utc(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        },
    )
    .expect("insert token");
    token
}

/// Percent-encodes a query value.
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A loopback port free at the time of asking, for a process started by a test.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Everything the process logs from the first call on (at `debug`, the way `rollcall serve`
/// formats it), for tests that check what the log holds. One buffer for the whole test
/// binary: tests running at the same time add to it too.
pub fn captured_log() -> String {
    let buf = LOG.get_or_init(|| {
        let buf = LogBuffer::default();
        let writer = buf.clone();
        rollcall::logging::install(rollcall::logging::subscriber(
            rollcall::logging::filter("debug"),
            rollcall::config::LogFormat::Text,
            false,
            move || writer.clone(),
        ));
        buf
    });
    let bytes = buf.0.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

static LOG: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();

#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestServer {
    /// A raw TCP connection to the server (for requests no HTTP client would send).
    pub fn tcp(&self) -> std::net::TcpStream {
        let addr = self.base.trim_start_matches("http://");
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        s
    }
}

/// Sends `request` on a fresh connection and reads until the server closes it (or 30 s).
pub fn exchange(stream: &mut std::net::TcpStream, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until `done` holds, for at most `limit`: a deadline for something broken, not a
/// measurement (the scripts under `scripts/` time things).
pub fn wait_until(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Starts `tests/fixtures/<script>` with the suite's Python (`ROLLCALL_TEST_PYTHON`, the venv
/// `scripts/test` makes) and `args`, and waits for the line `ready` it prints once it
/// listens. Kill the child when done.
pub fn python_fixture(script: &str, args: &[&std::ffi::OsStr]) -> std::process::Child {
    use std::io::BufRead;
    let python = std::env::var("ROLLCALL_TEST_PYTHON")
        .expect("ROLLCALL_TEST_PYTHON is not set: run the suite with scripts/test");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(script);
    let mut child = std::process::Command::new(python)
        .arg(path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready", "{script} did not start");
    child
}

/// An agent's input with only a user name: the smallest agent a door may create.
pub fn named(user_name: &str) -> rollcall::accounts::AgentInput {
    rollcall::accounts::AgentInput {
        profile: rollcall::domain::AgentProfile {
            user_name: user_name.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Creates an agent with only a user name through the gateway, as `by` from the door
/// `source` (`admin`, `scim:<token>`, `ldap:<name>`…).
pub fn add_agent(
    pool: &Pool,
    accounts: &rollcall::accounts::Accounts,
    by: &str,
    source: &str,
    user_name: &str,
) -> rollcall::domain::Agent {
    let mut conn = pool.get().expect("conn");
    accounts
        .create_agent(&mut conn, by, source, named(user_name), store::now())
        .expect("create")
}
