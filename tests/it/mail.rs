//! Mail through a real SMTP server (`tests/fixtures/smtp_sink.py`, aiosmtpd), on both
//! backends: a mail written in a transaction arrives in its language; a rolled-back one never
//! leaves; a server that is down delays mail without failing the request, and it arrives
//! once, when the server is up; two senders on one database send each mail once; disabling
//! an agent mails it; the outbox as the admin API shows it, never with a mail's link.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use rollcall::config::{Config, MailSecurity};
use rollcall::mail::{self, Mail, Template};
use rollcall::store::{self, write_tx};
use serde_json::{Value, json};

use crate::api_framework::api;
use crate::both;
use crate::harness::{TestDb, TestServer, free_port, wait_until};

/// The test SMTP server: saves each message it accepts in a directory; killed on drop.
pub struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sink {
    pub fn start(port: u16) -> Sink {
        Sink::start_in(port, tempfile::tempdir().expect("dir"))
    }

    fn start_in(port: u16, dir: tempfile::TempDir) -> Sink {
        let port = port.to_string();
        let child = crate::harness::python_fixture(
            "smtp_sink.py",
            &[port.as_ref(), dir.path().as_os_str()],
        );
        Sink { child, dir }
    }

    /// The messages received so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.ends_with(".json") && !f.starts_with('.'))
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
            })
            .collect()
    }

    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        wait_until(
            &format!("{n} mails at the SMTP server"),
            Duration::from_secs(30),
            || self.messages().len() >= n,
        );
        self.messages()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mail on, through the test server on `port`, retried after at most a second.
pub fn mail_config(c: &mut Config, port: u16) {
    c.mail.enabled = true;
    c.mail.smtp_host = "127.0.0.1".into();
    c.mail.smtp_port = port;
    c.mail.security = MailSecurity::None;
    c.mail.from = "Rollcall <rollcall@example.com>".into();
    c.mail.timeout_secs = 5;
    c.mail.poll_secs = 1;
    c.mail.max_backoff_secs = 1;
    c.mail.product = "Acme Service Desk".into();
}

fn enqueue_one(s: &TestServer, mail: &Mail<'_>) -> i64 {
    let mut conn = s.conn();
    write_tx(&mut conn, |conn| mail::enqueue(conn, mail, store::now())).expect("enqueue")
}

fn activation<'a>(to: &'a str, language: Option<&'a str>, link: &str) -> Mail<'a> {
    Mail {
        agent_id: None,
        to,
        language,
        template: Template::Activation,
        values: json!({
            "name": "王小明 <Wang>",
            "link": link,
            "expires_at": "2026-12-05T08:30:00Z",
        }),
    }
}

fn outbox_row(s: &TestServer, id: i64) -> rollcall::store::models::MailRow {
    let mut conn = s.conn();
    mail::outbox::get(&mut conn, id)
        .expect("read")
        .expect("the mail is in the outbox")
}

both!(a_mail_arrives_with_its_language_subject_and_body, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    let s = TestServer::start_with(b, |c| mail_config(c, port));
    let link = "https://rollcall.example.com/activate?token=abc&x=1";
    let zh = enqueue_one(&s, &activation("wang@example.com", Some("zh-CN"), link));
    let got = sink.wait_for(1);
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["wang@example.com"]));
    assert_eq!(m["mail_from"], "rollcall@example.com");
    assert_eq!(m["subject"], "请激活您的 Acme Service Desk 账号");
    let text = m["text"]
        .as_str()
        .expect("a text part")
        .replace("\r\n", "\n");
    assert!(text.starts_with("王小明 <Wang>，您好："), "{text}");
    assert!(text.contains(&format!("\n{link}\n")), "{text}");
    assert!(
        text.contains("有效期至 2026年12月5日 08:30（UTC）"),
        "{text}"
    );
    let html = m["html"].as_str().expect("an HTML part");
    assert!(html.contains("王小明 &lt;Wang&gt;"), "{html}");
    assert!(html.contains("href=\"https://rollcall.example.com/activate?token=abc&amp;x=1\""));
    assert_eq!(m["message_id"], format!("<rollcall.mail.{zh}@example.com>"));

    // No language: the default (English); a language without templates: the default too.
    let en = enqueue_one(&s, &activation("ana@example.com", None, link));
    let fr = enqueue_one(&s, &activation("luc@example.com", Some("fr"), link));
    let got = sink.wait_for(3);
    let subjects: HashMap<String, String> = got
        .iter()
        .map(|m| {
            (
                m["to"].as_str().unwrap_or_default().to_owned(),
                m["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        subjects["ana@example.com"],
        "Activate your Acme Service Desk account"
    );
    assert_eq!(
        subjects["luc@example.com"],
        "Activate your Acme Service Desk account"
    );
    for id in [zh, en, fr] {
        // The server's answer comes before the row is marked.
        wait_until("the mail marked sent", Duration::from_secs(10), || {
            outbox_row(&s, id).status == "sent"
        });
        let row = outbox_row(&s, id);
        assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
        assert!(row.sent_at.is_some() && row.claimed_by.is_none());
    }
});

both!(a_rolled_back_transaction_sends_nothing, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    let s = TestServer::start_with(b, |c| mail_config(c, port));
    {
        let mut conn = s.conn();
        let outcome: Result<(), diesel::result::Error> = write_tx(&mut conn, |conn| {
            mail::enqueue(
                conn,
                &activation("ghost@example.com", None, "https://x/1"),
                store::now(),
            )?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(outcome.is_err());
    }
    // A mail committed after it: once it has arrived, the sender has seen the outbox.
    enqueue_one(&s, &activation("after@example.com", None, "https://x/2"));
    let got = sink.wait_for(1);
    std::thread::sleep(Duration::from_millis(1500));
    let got_later = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got_later.len(), 1, "{got_later:?}");
    assert_eq!(got_later[0]["rcpt_tos"], json!(["after@example.com"]));
    let mut conn = s.conn();
    let (rows, _) = mail::outbox::list(&mut conn, None, None, 10).expect("list");
    assert_eq!(rows.len(), 1);
});

both!(
    a_server_that_is_down_delays_mail_once_and_never_fails_the_request,
    |b| {
        // Nothing listens on the port yet.
        let port = free_port();
        let s = TestServer::start_with(b, |c| mail_config(c, port));
        let admin = s.token_with("ops", "admin");
        let (st, _, agent) = api(
            &s,
            Some(&admin),
            "POST",
            "/agents",
            Some(
                &json!({"userName": "mia", "displayName": "Mia Chen", "email": "mia@example.com"})
                    .to_string(),
            ),
            &[],
        );
        assert_eq!(st, 201, "{agent}");
        let id = agent["id"].as_str().expect("id");
        let (st, _, v) = api(
            &s,
            Some(&admin),
            "POST",
            &format!("/agents/{id}/disable"),
            Some(&json!({"reason": "contract ended"}).to_string()),
            &[],
        );
        assert_eq!((st, v["status"].as_str()), (200, Some("suspended")), "{v}");
        let mail_id = {
            let mut conn = s.conn();
            let (rows, _) = mail::outbox::list(&mut conn, None, None, 10).expect("list");
            assert_eq!(rows.len(), 1);
            rows[0].id
        };
        // Tried, failed, kept for later with the error.
        wait_until("two failed attempts", Duration::from_secs(30), || {
            outbox_row(&s, mail_id).attempts >= 2
        });
        let row = outbox_row(&s, mail_id);
        assert!(
            row.status == "pending" || row.status == "sending",
            "{row:?}"
        );
        assert!(
            row.last_error.as_deref().is_some_and(|e| !e.is_empty()),
            "{row:?}"
        );
        let (st, _, page) = api(
            &s,
            Some(&admin),
            "GET",
            "/mail/outbox?status=pending",
            None,
            &[],
        );
        assert_eq!(st, 200);
        assert!(page["items"].as_array().is_some_and(|a| a.len() <= 1));

        let sink = Sink::start(port);
        let got = sink.wait_for(1);
        assert_eq!(got[0]["rcpt_tos"], json!(["mia@example.com"]));
        assert!(
            got[0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Reason: contract ended"))
        );
        wait_until("the mail marked sent", Duration::from_secs(10), || {
            outbox_row(&s, mail_id).status == "sent"
        });
        // Exactly once: nothing more arrives over a few more looks at the outbox.
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(sink.messages().len(), 1);
        let row = outbox_row(&s, mail_id);
        assert!(row.attempts >= 3, "{row:?}");
        assert_eq!(row.last_error, None);
    }
);

both!(two_senders_on_one_database_send_each_mail_once, |b| {
    let port = free_port();
    let sink = Sink::start(port);
    // Two servers on one database, each with its own pool and sender: two nodes.
    let db = TestDb::new(b);
    let mut config = db.config();
    mail_config(&mut config, port);
    let first_pool = rollcall::server::open_store(&config).expect("open store");
    let first = TestServer::serve(config.clone(), first_pool, "idp");
    let second_pool = rollcall::server::open_store(&config).expect("open store");
    let second = TestServer::serve(config, second_pool, "idp2");
    const N: usize = 60;
    let recipients: Vec<String> = (0..N).map(|i| format!("agent{i:02}@example.com")).collect();
    {
        let mut conn = first.conn();
        write_tx(&mut conn, |conn| {
            for to in &recipients {
                mail::enqueue(
                    conn,
                    &activation(to, Some("en"), "https://x/a"),
                    store::now(),
                )?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .expect("enqueue");
    }
    sink.wait_for(N);
    std::thread::sleep(Duration::from_millis(2500));
    let got = sink.messages();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *seen
            .entry(m["message_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        got.len(),
        N,
        "a mail was sent twice: {:?}",
        seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), N);
    let mut conn = first.conn();
    let (rows, _) = mail::outbox::list(&mut conn, None, None, 100).expect("list");
    assert!(
        rows.iter().all(|r| r.status == "sent" && r.attempts == 1),
        "{rows:?}"
    );
    drop(second);
    drop(first);
    drop(db);
});

both!(
    disabling_an_agent_mails_it_in_the_configured_language,
    |b| {
        let port = free_port();
        let sink = Sink::start(port);
        let s = TestServer::start_with(b, |c| {
            mail_config(c, port);
            c.mail.default_language = "zh".into();
        });
        let admin = s.token_with("ops", "admin");
        let create = |body: Value| {
            let (st, _, v) = api(
                &s,
                Some(&admin),
                "POST",
                "/agents",
                Some(&body.to_string()),
                &[],
            );
            assert_eq!(st, 201, "{v}");
            v["id"].as_str().expect("id").to_owned()
        };
        let with_email = create(
            json!({"userName": "li.na", "displayName": "李娜", "email": "li.na@example.com"}),
        );
        let without = create(json!({"userName": "no.mail"}));
        for id in [&with_email, &without] {
            let (st, _, v) = api(
                &s,
                Some(&admin),
                "POST",
                &format!("/agents/{id}/disable"),
                Some(&json!({"reason": "已离职"}).to_string()),
                &[],
            );
            assert_eq!(st, 200, "{v}");
        }
        let got = sink.wait_for(1);
        let m = &got[0];
        assert_eq!(m["rcpt_tos"], json!(["li.na@example.com"]));
        assert_eq!(m["subject"], "您的 Acme Service Desk 账号已被停用");
        let text = m["text"].as_str().expect("text");
        assert!(text.starts_with("李娜，您好："), "{text}");
        assert!(text.contains("原因：已离职"), "{text}");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            sink.messages().len(),
            1,
            "the agent without an email got no mail"
        );
        // Disabling again changes nothing and mails nothing; enabling mails nothing either.
        let (st, _, _) = api(
            &s,
            Some(&admin),
            "POST",
            &format!("/agents/{with_email}/enable"),
            Some(&json!({"reason": "back"}).to_string()),
            &[],
        );
        assert_eq!(st, 200);
        let mut conn = s.conn();
        let (rows, _) = mail::outbox::list(&mut conn, None, None, 10).expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].agent_id.as_deref(), Some(with_email.as_str()));
        assert_eq!(rows[0].template, "account_disabled");
    }
);

both!(the_outbox_is_visible_and_retried_without_its_links, |b| {
    // Mail off: mails wait in the outbox.
    let s = TestServer::start(b);
    let admin = s.token_with("ops", "admin");
    let reader = s.token_with("viewer", "read");
    let secret = "https://rollcall.example.com/reset?token=s3cr3t-t0ken";
    let ids: Vec<i64> = (0..3)
        .map(|i| {
            enqueue_one(
                &s,
                &activation(&format!("p{i}@example.com"), Some("zh"), secret),
            )
        })
        .collect();
    let (st, _, page) = api(&s, Some(&reader), "GET", "/mail/outbox?limit=2", None, &[]);
    assert_eq!(st, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], ids[2]);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["template"], "activation");
    assert_eq!(items[0]["recipient"], "p2@example.com");
    assert_eq!(items[0]["attempts"], 0);
    assert!(!page.to_string().contains("s3cr3t"), "{page}");
    let cursor = page["nextCursor"].as_str().expect("a next page");
    let (st, _, next) = api(
        &s,
        Some(&reader),
        "GET",
        &format!("/mail/outbox?limit=2&cursor={}", crate::harness::q(cursor)),
        None,
        &[],
    );
    assert_eq!(st, 200);
    assert_eq!(next["items"][0]["id"], ids[0]);
    assert!(next["nextCursor"].is_null());

    // A failed mail, retried: due again.
    {
        use diesel::prelude::*;
        use rollcall::store::schema::mail_outbox as m;
        let mut conn = s.conn();
        diesel::update(m::table.filter(m::id.eq(ids[0])))
            .set((
                m::status.eq("failed"),
                m::last_error.eq("550 no such user"),
                m::attempts.eq(7),
            ))
            .execute(&mut *conn)
            .expect("fail it");
        diesel::update(m::table.filter(m::id.eq(ids[1])))
            .set(m::status.eq("sent"))
            .execute(&mut *conn)
            .expect("send it");
    }
    let (st, _, failed) = api(
        &s,
        Some(&reader),
        "GET",
        "/mail/outbox?status=failed",
        None,
        &[],
    );
    assert_eq!(st, 200);
    assert_eq!(failed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(failed["items"][0]["lastError"], "550 no such user");
    let retry = |id: &str, token: &str| {
        api(
            &s,
            Some(token),
            "POST",
            &format!("/mail/outbox/{id}/retry"),
            None,
            &[],
        )
    };
    let (st, _, _) = retry(&ids[0].to_string(), &reader);
    assert_eq!(st, 403);
    let (st, _, v) = retry(&ids[0].to_string(), &admin);
    assert_eq!((st, v["status"].as_str()), (200, Some("pending")), "{v}");
    assert!(outbox_row(&s, ids[0]).retried_at.is_some());
    let (st, _, v) = retry(&ids[1].to_string(), &admin);
    assert_eq!(st, 409, "{v}");
    let (st, _, _) = retry("999999", &admin);
    assert_eq!(st, 404);
    let (st, _, _) = retry("abc", &admin);
    assert_eq!(st, 404);
    let (st, _, v) = api(
        &s,
        Some(&reader),
        "GET",
        "/mail/outbox?status=queued",
        None,
        &[],
    );
    assert_eq!(st, 400, "{v}");
});

/// `rollcall mail …` on `db`: (exit code, stdout, stderr).
fn cli(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("mail")
        .args(args)
        .env("ROLLCALL_DATABASE_URL", &db.url)
        .env("ROLLCALL_LOG_LEVEL", "warn")
        .env_remove("ROLLCALL_CONFIG")
        .output()
        .expect("run rollcall");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both!(the_cli_lists_and_retries_the_outbox, |b| {
    let db = TestDb::new(b);
    let pool = rollcall::server::open_store(&db.config()).expect("open store");
    let secret = "https://rollcall.example.com/reset?token=cli-s3cr3t";
    let id = {
        let mut conn = pool.get().expect("conn");
        write_tx(&mut conn, |conn| {
            mail::enqueue(
                conn,
                &activation("kai@example.com", Some("en"), secret),
                store::now(),
            )
        })
        .expect("enqueue")
    };
    let (code, out, err) = cli(&db, &["outbox"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ID  TEMPLATE"), "{out}");
    assert!(
        out.contains("kai@example.com") && out.contains("pending"),
        "{out}"
    );
    assert!(err.contains("mail is disabled"), "{err}");
    let (code, out, _) = cli(&db, &["outbox", "--status", "failed", "--json"]);
    assert_eq!((code, out.trim()), (0, "[]"));
    let (code, out, _) = cli(&db, &["outbox", "--json"]);
    assert_eq!(code, 0);
    assert!(!out.contains("s3cr3t"), "{out}");
    let listed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listed[0]["id"], id);
    let (code, _, err) = cli(&db, &["outbox", "--status", "lost"]);
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = cli(&db, &["retry", &id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is due now"), "{out}");
    assert!(outbox_row_in(&pool, id).retried_at.is_some());
    let (code, _, _) = cli(&db, &["retry", "424242"]);
    assert_eq!(code, 3);
    {
        use diesel::prelude::*;
        use rollcall::store::schema::mail_outbox as m;
        let mut conn = pool.get().expect("conn");
        diesel::update(m::table.filter(m::id.eq(id)))
            .set(m::status.eq("sent"))
            .execute(&mut *conn)
            .expect("mark sent");
    }
    let (code, _, err) = cli(&db, &["retry", &id.to_string()]);
    assert_eq!(code, 4, "{err}");
});

fn outbox_row_in(pool: &store::Pool, id: i64) -> rollcall::store::models::MailRow {
    let mut conn = pool.get().expect("conn");
    mail::outbox::get(&mut conn, id)
        .expect("read")
        .expect("the mail is in the outbox")
}
