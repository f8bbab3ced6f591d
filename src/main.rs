//! The `rollcall` command line: the daemon and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Duration;
use clap::{Parser, Subcommand};

use rollcall::auth::{self, Scope};
use rollcall::cli::exit::Exit;
use rollcall::config::Config;
use rollcall::store::{self, Target, models::TokenRow, tokens};

/// mimalloc instead of glibc's allocator: a sync run and the HTTP workers allocate from
/// several threads at once, where glibc spent a third of a cold sync in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Agent account backbone: SCIM 2.0 provider and directory sync"
)]
struct Cli {
    /// Configuration file (TOML). ROLLCALL_<SECTION>_<KEY> variables override it.
    #[arg(short, long, env = "ROLLCALL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: HTTP (SCIM) and background tasks.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load and validate the configuration; print what is wrong.
    CheckConfig,
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokenCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Insert N synthetic agents (user000001 …) for demos and benchmarks.
    SeedAgents {
        count: u32,
        /// Realistic names (Latin and Chinese), departments, skill groups and channels.
        #[arg(long)]
        realistic: bool,
    },
    /// Run one source now: read it, plan, guard, apply.
    Sync {
        /// The source's name in the configuration.
        source: String,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply a plan the guard refused (once, deliberately).
        #[arg(long)]
        force: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Read only the people changed since the last run (a full run when there is none).
        #[arg(long)]
        incremental: bool,
        /// With --dry-run: plan as at this moment (RFC 3339, `2027-01-15T09:00:00+08:00`), to
        /// see what the lifecycle's dates would do then.
        #[arg(long, value_parser = rollcall::cli::sync::parse_moment, requires = "dry_run")]
        as_of: Option<chrono::NaiveDateTime>,
    },
    /// List configured sources with their last run and next scheduled run.
    Sources,
    /// Roles and permissions: list, show, create, clone, update, delete, impact.
    #[command(subcommand)]
    Roles(rollcall::cli::roles::RolesCommand),
    /// Manage agents: list, show, create, update, disable, enable, approve, reject, force-offline, resume, delete.
    #[command(subcommand)]
    Agents(Box<rollcall::cli::agents::AgentsCommand>),
    /// The auditor's reports: orphans, leavers, upcoming joiners and leavers.
    #[command(subcommand)]
    Report(rollcall::cli::report::ReportCommand),
    /// An agent's sign-in: its state, unlocking it, ending its sessions.
    #[command(subcommand)]
    Signin(rollcall::cli::signin::SigninCommand),
    /// The mail outbox: list it, retry a failed mail.
    #[command(subcommand)]
    Mail(rollcall::cli::mail::MailCommand),
    /// Import agents from a CSV or xlsx file (see docs/admin.md, "Import"). Exit status: 0
    /// all rows imported (or valid, with --dry-run), 65 rows refused, 66 file unreadable.
    Import(ImportArgs),
    /// Webhook endpoints: list, show, deliveries, backlog, replay, enable, disable.
    #[command(subcommand)]
    Webhooks(rollcall::webhooks::cli::WebhooksCommand),
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The CSV (UTF-8) or .xlsx file.
    #[arg(required_unless_present = "template")]
    file: Option<PathBuf>,
    /// Write the template (CSV, the columns) to FILE, or to stdout without one.
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "file")]
    template: Option<Option<PathBuf>>,
    /// Import the valid rows and report the others (default: any refused row, nothing).
    #[arg(long)]
    valid_only: bool,
    /// Check and show what would be created, updated or unchanged; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the file back with an `error` column to FILE (fix it and import it again).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, only its SHA-256 is stored.
    Create {
        name: String,
        /// scim, admin or read; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires: Option<u32>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the whole audit log.
    Verify,
    /// Show entries, newest first: all, or about one agent or group (`--target`), or of
    /// some actions (`--action agent.disable`, `--action agent.*`, `--action security` for
    /// the security log: sign-ins, failures, locks, revoked sessions).
    Show {
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rollcall: configuration error: {e}");
            return Exit::Usage.into();
        }
    };
    rollcall::logging::init(&config);
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(rollcall::cli::exit::Reported(exit)) = e.downcast_ref() {
                return (*exit).into();
            }
            eprintln!("rollcall: {e:#}");
            Exit::of(&e).into()
        }
    }
}

fn connect(config: &Config) -> anyhow::Result<store::DbConn> {
    rollcall::cli::connect(config)
}

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let pool = rollcall::server::open_store(&config)?;
            let listener = std::net::TcpListener::bind(&config.server.listen)
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            actix_web::rt::System::new().block_on(rollcall::server::serve(config, pool, listener))
        }
        Command::Migrate => {
            let target = Target::parse(&config.database.url)?;
            let mut conn = store::connect(&target)?;
            let (applied, clashes) = store::migrate_reporting(&mut conn)?;
            rollcall::accounts::Accounts::from_config(&config)
                .prepare_roles(&mut conn, rollcall::store::now())?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
            for c in clashes {
                println!(
                    "warning: in {}, {:?} ({}) and {:?} ({}) are now the same name; \
                     {} stays outside the uniqueness rule until renamed",
                    c.table, c.kept.1, c.kept.0, c.left_out.1, c.left_out.0, c.left_out.0
                );
            }
            Ok(())
        }
        Command::CheckConfig => {
            println!("configuration is valid");
            println!("database: {}", store::redact_url(&config.database.url));
            println!("listen:   {}", config.server.listen);
            for src in &config.sources {
                let next = src
                    .cron()?
                    .upcoming(chrono::Utc)
                    .next()
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "never".into());
                let incremental = match (&src.full_schedule, &src.ldap) {
                    (Some(_), Some(l)) => format!(", incremental {}", l.incremental.as_str()),
                    _ => String::new(),
                };
                println!(
                    "source:   {} ({}, {}{}{}), next run {}",
                    src.name,
                    src.tag(),
                    if src.enabled { "enabled" } else { "disabled" },
                    incremental,
                    if src.watch { ", watched" } else { "" },
                    if src.enabled { next.as_str() } else { "-" }
                );
            }
            Ok(())
        }
        Command::Tokens(cmd) => tokens_cmd(cmd, &config),
        Command::Audit(cmd) => audit_cmd(cmd, &config),
        Command::SeedAgents { count, realistic } => seed(&config, count, realistic),
        Command::Sync {
            source,
            dry_run,
            force,
            json,
            incremental,
            as_of,
        } => rollcall::cli::sync::run(&config, &source, (dry_run, force, incremental), as_of, json),
        Command::Sources => rollcall::cli::sync::sources(&config),
        Command::Roles(cmd) => rollcall::cli::roles::run(cmd, &config),
        Command::Agents(cmd) => rollcall::cli::agents::run(*cmd, &config),
        Command::Report(cmd) => rollcall::cli::report::run(cmd, &config),
        Command::Signin(cmd) => rollcall::cli::signin::run(cmd, &config),
        Command::Mail(cmd) => rollcall::cli::mail::run(cmd, &config),
        Command::Webhooks(cmd) => rollcall::webhooks::cli::run(cmd, &config),
        Command::Import(a) => {
            let mut conn = connect(&config)?;
            let args = rollcall::imports::cli::Args {
                file: a.file,
                template: a.template,
                valid_only: a.valid_only,
                dry_run: a.dry_run,
                json: a.json,
                report: a.report,
            };
            rollcall::imports::cli::run(&config, &mut conn, args)
        }
    }
}

fn tokens_cmd(cmd: TokenCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let now = rollcall::store::now();
    match cmd {
        TokenCommand::Create {
            name,
            scopes,
            expires,
        } => {
            let mut parsed = Vec::new();
            for s in scopes.iter().flat_map(|s| s.split(',')) {
                match Scope::parse(s.trim()) {
                    Some(sc) => parsed.push(sc.as_str()),
                    None => bail!("unknown scope {s:?}: use scim, admin or read"),
                }
            }
            if tokens::by_name(&mut conn, &name)?.is_some() {
                bail!("a token named {name:?} exists; revoke it or pick another name");
            }
            let token = auth::new_token();
            tokens::insert(
                &mut conn,
                &TokenRow {
                    name: name.clone(),
                    token_hash: auth::token_hash(&token),
                    scopes: parsed.join(","),
                    created_at: now,
                    expires_at: expires.map(|d| now + Duration::days(i64::from(d))),
                    last_used_at: None,
                    revoked_at: None,
                },
            )?;
            eprintln!("token {name:?} created; it is shown only this once:");
            println!("{token}");
            Ok(())
        }
        TokenCommand::List => {
            println!(
                "{:<24} {:<16} {:<20} {:<20} STATE",
                "NAME", "SCOPES", "CREATED", "LAST USED"
            );
            for t in tokens::list(&mut conn)? {
                let state = if t.revoked_at.is_some() {
                    "revoked".to_string()
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    "expired".to_string()
                } else if let Some(e) = t.expires_at {
                    format!("expires {}", e.format("%Y-%m-%d"))
                } else {
                    "active".to_string()
                };
                println!(
                    "{:<24} {:<16} {:<20} {:<20} {}",
                    t.name,
                    t.scopes,
                    t.created_at.format("%Y-%m-%d %H:%M"),
                    t.last_used_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or("-".into()),
                    state
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            if tokens::revoke(&mut conn, &name, now)? == 0 {
                bail!("no active token named {name:?}");
            }
            println!("token {name:?} revoked");
            Ok(())
        }
    }
}

fn audit_cmd(cmd: AuditCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    match cmd {
        AuditCommand::Verify => match rollcall::audit::verify(&mut conn)? {
            rollcall::audit::Verdict::Intact { entries } => {
                println!("audit log intact: {entries} entries");
                Ok(())
            }
            rollcall::audit::Verdict::Broken { id, reason } => {
                bail!("audit log broken at entry {id}: {reason}")
            }
        },
        AuditCommand::Show {
            target,
            action,
            limit,
        } => {
            use rollcall::audit::search::{ActionMatch, AuditFilter, search};
            let rows = match (target, action) {
                (Some(t), None) => rollcall::audit::for_target(&mut conn, &t)?,
                (None, None) => rollcall::audit::recent(&mut conn, limit)?,
                (target_id, action) => {
                    let filter = AuditFilter {
                        target_id,
                        action: action.as_deref().map(ActionMatch::parse),
                        ..AuditFilter::default()
                    };
                    search(&mut conn, &filter, None, limit.clamp(1, 10_000))?.entries
                }
            };
            for r in rows {
                println!(
                    "{} #{} {} {} {}:{} reason={} before={} after={}",
                    r.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    r.id,
                    r.actor,
                    r.action,
                    r.target_type,
                    r.target_id,
                    r.reason.as_deref().unwrap_or("-"),
                    r.before.as_deref().unwrap_or("-"),
                    r.after.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
    }
}

fn seed(config: &Config, count: u32, realistic: bool) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let accounts = rollcall::accounts::Accounts::new(&config.accounts.default_role, 30);
    let started = std::time::Instant::now();
    let n = rollcall::store::seed::seed_agents(&mut conn, &accounts, count, realistic)?;
    eprintln!(
        "inserted {n} agents in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
