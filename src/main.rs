//! The `rollcall` command line: the daemon and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Duration;
use clap::{Parser, Subcommand};

use rollcall::auth::{self, Scope};
use rollcall::config::{Config, LogFormat};
use rollcall::store::{self, Target, models::TokenRow, tokens};

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
    SeedAgents { count: u32 },
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
    /// Show entries, newest first, or all entries about one agent or group.
    Show {
        #[arg(long)]
        target: Option<String>,
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
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn connect(config: &Config) -> anyhow::Result<store::DbConn> {
    let target = Target::parse(&config.database.url)?;
    let mut conn = store::connect(&target)
        .with_context(|| format!("connecting to {}", store::redact_url(&config.database.url)))?;
    store::migrate(&mut conn)?;
    rollcall::accounts::ensure_builtin_roles(&mut conn, rollcall::store::now())?;
    Ok(conn)
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
            let applied = store::migrate(&mut conn)?;
            rollcall::accounts::ensure_builtin_roles(&mut conn, rollcall::store::now())?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(())
        }
        Command::CheckConfig => {
            println!("configuration is valid");
            println!("database: {}", store::redact_url(&config.database.url));
            println!("listen:   {}", config.server.listen);
            Ok(())
        }
        Command::Tokens(cmd) => tokens_cmd(cmd, &config),
        Command::Audit(cmd) => audit_cmd(cmd, &config),
        Command::SeedAgents { count } => seed(&config, count),
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
        AuditCommand::Show { target, limit } => {
            let rows = match target {
                Some(t) => rollcall::audit::for_target(&mut conn, &t)?,
                None => rollcall::audit::recent(&mut conn, limit)?,
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

fn seed(config: &Config, count: u32) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let accounts = rollcall::accounts::Accounts::new(&config.accounts.default_role, 30);
    let started = std::time::Instant::now();
    let n = rollcall::store::seed::seed_agents(&mut conn, &accounts, count)?;
    eprintln!(
        "inserted {n} agents in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
