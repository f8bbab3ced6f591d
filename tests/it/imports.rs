//! Bulk import of agents (`rollcall::imports`, `rollcall import`): every error at its line
//! and column, all or nothing, valid only, dry runs, re-imports, CSV variants, xlsx, the
//! report CSV, and the real binary — on SQLite and PostgreSQL.

use std::io::Write;

use diesel::prelude::*;
use rollcall::accounts::Accounts;
use rollcall::config::Config;
use rollcall::imports::{self, ActionKind, Context, Mode, Options, Outcome, RowError};
use rollcall::store::Pool;
use rollcall::store::schema::{agents, audit_log};

use crate::both;
use crate::harness::{Backend, TestDb};

struct Env {
    _db: TestDb,
    config: Config,
    pool: Pool,
}

impl Env {
    fn new(b: Backend) -> Env {
        let db = TestDb::new(b);
        let config = db.config();
        let pool = rollcall::server::open_store(&config).expect("open store");
        Env {
            _db: db,
            config,
            pool,
        }
    }

    fn import(&self, name: &str, bytes: &[u8], mode: Mode, dry_run: bool) -> Outcome {
        let mut conn = self.pool.get().expect("conn");
        let accounts = Accounts::new("agent", 30);
        let ctx = Context {
            accounts: &accounts,
            channels: &self.config.accounts.channels,
            actor: "test:importer",
        };
        let opts = Options { mode, dry_run };
        let id = imports::record::begin(&mut conn, ctx.actor, name, opts, rollcall::store::now())
            .expect("begin");
        imports::run(&mut conn, &ctx, &id, name, bytes.to_vec(), opts, None).expect("import runs")
    }

    fn csv(&self, text: &str) -> Outcome {
        self.import("people.csv", text.as_bytes(), Mode::AllOrNothing, false)
    }

    /// (agent rows, audit entries)
    fn counts(&self) -> (i64, i64) {
        let mut conn = self.pool.get().expect("conn");
        let a: i64 = agents::table.count().get_result(&mut conn).expect("count");
        let l: i64 = audit_log::table
            .count()
            .get_result(&mut conn)
            .expect("count");
        (a, l)
    }

    /// (display name, department, employee number, manager id, max chats, status)
    fn agent(&self, user_name: &str) -> Option<AgentView> {
        let mut conn = self.pool.get().expect("conn");
        agents::table
            .filter(agents::user_name.eq(user_name))
            .select((
                agents::id,
                agents::display_name,
                agents::department,
                agents::employee_number,
                agents::manager_id,
                agents::max_concurrent_chats,
                agents::version,
            ))
            .first(&mut conn)
            .optional()
            .expect("agent")
    }
}

type AgentView = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    i64,
);

fn err(line: u64, column: &str, detail_part: &str) -> (u64, String, String) {
    (line, column.to_owned(), detail_part.to_owned())
}

/// Every error in `got` matches the expected (line, column, part of the detail), in order.
fn assert_errors(got: &[RowError], want: &[(u64, String, String)]) {
    let shown: Vec<String> = got
        .iter()
        .map(|e| format!("{}|{}|{}", e.line, e.column, e.detail))
        .collect();
    assert_eq!(got.len(), want.len(), "errors: {shown:#?}");
    for (g, (line, column, part)) in got.iter().zip(want) {
        assert!(
            g.line == *line && g.column == *column && g.detail.contains(part.as_str()),
            "expected line {line}, {column}: …{part}…; errors: {shown:#?}"
        );
    }
}

const GOOD: &str = "user name,display name,email,agent number,department,channels,manager\n\
    boss,The Boss,boss@example.cn,100,Support,web,\n\
    li.lei,李雷,li@example.cn,101,售后,web;wechat,boss\n";

both!(
    a_broken_file_is_reported_line_by_line_and_writes_nothing,
    |b| {
        let env = Env::new(b);
        assert_eq!(env.csv(GOOD).report.summary.created, 2);
        let before = env.counts();
        // Line 3 holds a quoted cell with two line breaks: the rows after it start two lines
        // later than their record number says.
        let file = "用户名,显示名,邮箱,电话,工号,角色,渠道,最大接待量,上级,技能组\n\
        han.mei,韩梅梅,han@example.cn,+86 138 0000 0001,200,agent,web,5,li.lei,售前\n\
        multi,\"first\nsecond\nthird\",m@example.cn,,201,,,,,\n\
        ,No Name,n@example.cn,,202,,,,,\n\
        bad.mail,Bad Mail,not-an-email,12,203,,,,,\n\
        bad.role,Bad Role,r@example.cn,,204,wizard,fax,-1,,\n\
        han.mei,Again,again@example.cn,,205,,,,,\n\
        boss,Clash,c@example.cn,,101,,,,,\n\
        li.lei,李雷,li@example.cn,,100,,,,,\n\
        lost,Lost,l@example.cn,,206,,,,nobody,\n\
        zw\u{200B}sp,Zero Width,z@example.cn,,207,,,,,\n\
        ,,,,,,,,,\n\
        no.display,,nd@example.cn,,200,,,,,\n";
        let out = env.csv(file);
        let r = &out.report;
        assert_errors(
            &r.errors,
            &[
                err(2, "用户名", "lines 2 and 9"),
                err(2, "工号", "lines 2 and 15"),
                err(6, "用户名", "required"),
                err(7, "邮箱", "\"not-an-email\" is not an email address"),
                err(7, "电话", "\"12\" is not a phone number"),
                err(8, "角色", "unknown role \"wizard\""),
                err(8, "渠道", "unknown channel \"fax\""),
                err(8, "最大接待量", "\"-1\" is not a whole number"),
                err(9, "用户名", "lines 2 and 9"),
                err(
                    10,
                    "工号",
                    "agent number \"101\" belongs to \"li.lei\", not to \"boss\"",
                ),
                err(
                    11,
                    "工号",
                    "agent number \"100\" belongs to \"boss\", not to \"li.lei\"",
                ),
                err(
                    12,
                    "上级",
                    "no agent with user name or agent number \"nobody\"",
                ),
                err(13, "用户名", "U+200B, a zero-width character"),
                err(15, "显示名", "required for a new agent"),
                err(15, "工号", "lines 2 and 15"),
            ],
        );
        assert_eq!(r.summary.rows, 11);
        assert_eq!(r.summary.errors, 10);
        assert_eq!(
            (r.summary.created, r.summary.updated, r.written),
            (0, 0, false)
        );
        assert_eq!(r.status, "failed");
        assert_eq!(
            env.counts(),
            before,
            "all or nothing: no agent, no audit entry"
        );
        assert!(env.agent("multi").is_none());
    }
);

both!(valid_only_writes_the_valid_rows_and_reports_the_rest, |b| {
    let env = Env::new(b);
    let before = env.counts();
    let file = "user name,display name,email,manager\n\
        boss,The Boss,boss@example.cn,\n\
        worker,Worker,worker@example.cn,boss\n\
        broken,Broken,broken@,\n\
        orphan,Orphan,o@example.cn,broken\n";
    let out = env.import("p.csv", file.as_bytes(), Mode::ValidOnly, false);
    let r = &out.report;
    assert_errors(
        &r.errors,
        &[
            err(4, "email", "not an email address"),
            err(5, "manager", "the manager's own row (line 4) is refused"),
        ],
    );
    assert_eq!(
        (
            r.summary.created,
            r.summary.errors,
            r.written,
            r.status.as_str()
        ),
        (2, 2, true, "done")
    );
    let boss = env.agent("boss").expect("boss created");
    let worker = env.agent("worker").expect("worker created");
    assert_eq!(
        worker.4.as_deref(),
        Some(boss.0.as_str()),
        "manager from the file"
    );
    assert!(env.agent("broken").is_none() && env.agent("orphan").is_none());
    assert_eq!(
        env.counts(),
        (before.0 + 2, before.1 + 2),
        "one audit entry per agent"
    );
});

both!(a_dry_run_previews_and_writes_nothing, |b| {
    let env = Env::new(b);
    env.csv(GOOD);
    let before = env.counts();
    let file = "user name,display name,department\n\
        boss,The Boss,Support\n\
        li.lei,李雷,Sales\n\
        new.hire,New Hire,Support\n";
    let out = env.import("p.csv", file.as_bytes(), Mode::AllOrNothing, true);
    let r = &out.report;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let preview: Vec<(u64, &str, ActionKind, Vec<String>)> = r
        .preview
        .iter()
        .map(|p| (p.line, p.user_name.as_str(), p.action, p.changed.clone()))
        .collect();
    assert_eq!(
        preview,
        vec![
            (2, "boss", ActionKind::Unchanged, vec![]),
            (
                3,
                "li.lei",
                ActionKind::Update,
                vec!["department".to_owned()]
            ),
            (4, "new.hire", ActionKind::Create, vec![]),
        ]
    );
    assert_eq!(
        (
            r.summary.created,
            r.summary.updated,
            r.summary.unchanged,
            r.written
        ),
        (1, 1, 1, false)
    );
    assert_eq!(env.counts(), before);
    assert_eq!(
        env.agent("li.lei").expect("li.lei").2.as_deref(),
        Some("售后")
    );
});

both!(a_reimport_updates_instead_of_duplicating, |b| {
    let env = Env::new(b);
    env.csv(GOOD);
    let li = env.agent("li.lei").expect("li.lei");
    let before = env.counts();
    // The same file: nothing written, not even an audit entry.
    let again = env.csv(GOOD);
    assert_eq!(
        (again.report.summary.unchanged, again.report.summary.created),
        (2, 0)
    );
    assert_eq!(env.counts(), before);
    // Matched by user name (department changed), and by agent number (user name changed).
    let changed = GOOD
        .replace("售后", "Sales")
        .replace("boss,The Boss", "big.boss,The Boss")
        .replace("web;wechat,boss", "web;wechat,big.boss");
    let out = env.csv(&changed);
    let r = &out.report;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.summary.updated, r.summary.created), (2, 0));
    assert_eq!(env.counts(), (before.0, before.1 + 2));
    let li_now = env.agent("li.lei").expect("li.lei");
    assert_eq!(li_now.0, li.0, "same agent");
    assert_eq!(li_now.2.as_deref(), Some("Sales"));
    assert_eq!(li_now.6, li.6 + 1);
    assert!(env.agent("boss").is_none());
    assert!(
        env.agent("big.boss").is_some(),
        "renamed, found by agent number"
    );
});

both!(bom_and_semicolons_are_read, |b| {
    let env = Env::new(b);
    // A blank line still counts: the bad row is on line 5.
    let file = "\u{FEFF}User Name;Display Name;Skill Groups;Max Concurrent Chats\r\n\
        zhang.wei;张伟;售前,售后;8\r\n\
        o.brien;\"O'Brien; Séan\";VIP;3\r\n\
        \r\n\
        bad;Bad;;many\r\n";
    let out = env.import("people.csv", file.as_bytes(), Mode::ValidOnly, false);
    assert_errors(
        &out.report.errors,
        &[err(
            5,
            "Max Concurrent Chats",
            "\"many\" is not a whole number",
        )],
    );
    assert_eq!(out.report.format.as_deref(), Some("csv"));
    assert_eq!(out.report.summary.created, 2);
    let z = env.agent("zhang.wei").expect("created");
    assert_eq!((z.1.as_deref(), z.5), (Some("张伟"), Some(8)));
    let o = env.agent("o.brien").expect("created");
    assert_eq!(o.1.as_deref(), Some("O'Brien; Séan"));
});

both!(an_xlsx_workbook_is_read_by_content, |b| {
    let env = Env::new(b);
    let book = xlsx(&[
        &["用户名", "显示名", "工号", "最大接待量"],
        &["wang.fang", "王芳", "#1001", "#6"],
        &["", "", "", ""],
        &["bad", "Bad", "#1002", "lots"],
    ]);
    // Named .csv: the content (a zip archive) decides.
    let out = env.import("upload.csv", &book, Mode::ValidOnly, false);
    let r = &out.report;
    assert_eq!(r.format.as_deref(), Some("xlsx"));
    assert_errors(
        &r.errors,
        &[err(4, "最大接待量", "\"lots\" is not a whole number")],
    );
    let w = env.agent("wang.fang").expect("created");
    assert_eq!((w.3.as_deref(), w.5), (Some("1001"), Some(6)));
    let broken = env.import(
        "upload.xlsx",
        b"PK\x03\x04 truncated",
        Mode::ValidOnly,
        false,
    );
    assert!(
        broken
            .report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not a readable .xlsx workbook")),
        "{:?}",
        broken.report
    );
});

both!(the_report_csv_neutralises_formulas, |b| {
    let env = Env::new(b);
    let file = "user name,display name,nickname,phone\n\
        =HYPERLINK(\"http://x\"),Evil,@SUM(A1),-1\n\
        ok,Fine,+cmd,+86 10 1234 5678\n";
    let out = env.csv(file);
    let text = String::from_utf8(out.report_csv.clone()).expect("utf-8");
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
    let rows: Vec<Vec<String>> = rows
        .records()
        .map(|r| r.expect("row").iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["user name", "display name", "nickname", "phone", "error"]
    );
    assert_eq!(rows[1][0], "'=HYPERLINK(\"http://x\")");
    assert_eq!(rows[1][2], "'@SUM(A1)");
    assert_eq!(rows[1][3], "'-1");
    assert!(rows[1][4].starts_with("phone: ") || rows[1][4].starts_with("user name: "));
    assert_eq!(rows[2][2], "'+cmd");
    assert_eq!(rows[2][3], "'+86 10 1234 5678");
    assert_eq!(rows[2][4], "");
    // Fixed and uploaded again, the report is a valid import file: the quotes Rollcall
    // added are read back as the values they guard, the error column is ignored.
    let fixed = text
        .replace("'=HYPERLINK(\"\"http://x\"\")", "evil")
        .replace("'-1", "");
    let again = env.csv(&fixed);
    assert!(again.report.errors.is_empty(), "{:?}", again.report.errors);
    assert_eq!(again.report.summary.created, 2);
});

both!(the_cli_imports_reports_and_exits_by_outcome, |b| {
    let db = TestDb::new(b);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("rc.toml");
    std::fs::write(&cfg, format!("[database]\nurl = \"{}\"\n", db.url)).expect("config");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--config")
            .arg(&cfg)
            .arg("import")
            .args(args)
            .output()
            .expect("run rollcall import")
    };
    let out = run(&["--template"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("user name,display name"));

    let good = dir.path().join("good.csv");
    std::fs::write(&good, GOOD).expect("file");
    let out = run(&[good.to_str().expect("path"), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["summary"]["created"], 2);

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "user name,display name,email\nnew,New,nope\n").expect("file");
    let report = dir.path().join("report.csv");
    let out = run(&[
        bad.to_str().expect("path"),
        "--report",
        report.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(65));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("line 2, email: \"nope\" is not an email address"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing was imported"), "{stdout}");
    let report = std::fs::read_to_string(&report).expect("report");
    assert!(report.contains("new,New,nope,\"email: "), "{report}");

    let latin1 = dir.path().join("latin1.csv");
    let mut f = std::fs::File::create(&latin1).expect("file");
    f.write_all(b"user name,display name\nj\xF6rg,J\xF6rg\n")
        .expect("write");
    let out = run(&[latin1.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(66));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not UTF-8 (first bad byte on line 2)"),
        "{stdout}"
    );
});

/// A minimal xlsx workbook of one sheet: text cells inline, cells starting with `#` as
/// numbers.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, cells) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, cell) in cells.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            let at = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            match cell.strip_prefix('#') {
                Some(n) => sheet.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
                None => sheet.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t>{cell}</t></is></c>"
                )),
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Agents" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned(),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in files {
        zip.start_file(name, opts).expect("zip entry");
        zip.write_all(body.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}
