//! `rollcall signin …`: an agent's sign-in as an operator manages it on the database
//! directly — its state (failures, the lock, live sessions), unlocking it, ending its
//! sessions, resetting its password (a link by mail, or an initial password printed once) —
//! through the gateway, into the security log. The log itself is
//! `rollcall audit show --action security`.

use clap::Subcommand;

use super::{actor, connect, lookup, print_json};
use crate::accounts::Accounts;
use crate::config::Config;
use crate::sessions::listing::signin_state;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum SigninCommand {
    /// Show an agent's failed sign-ins in a row, its lock and its live sessions.
    Show {
        /// The agent's id or user name.
        agent: String,
        #[arg(long)]
        json: bool,
    },
    /// Unlock an agent locked after failed sign-ins.
    Unlock {
        agent: String,
        /// Why, for the security log.
        #[arg(long)]
        reason: String,
    },
    /// End an agent's sessions (all, or one with --session): its next check is refused.
    Revoke {
        agent: String,
        /// One session's id.
        #[arg(long)]
        session: Option<String>,
        /// Why, for the security log.
        #[arg(long)]
        reason: String,
    },
    /// Reset an agent's password: clear it and mail a one-time link (printed too), or with
    /// --initial-password set a random one (printed once) to be changed at the next sign-in.
    /// Ends the agent's sessions and lifts any lock.
    Reset {
        agent: String,
        #[arg(long)]
        initial_password: bool,
        /// Why, for the security log.
        #[arg(long)]
        reason: String,
    },
}

/// Runs one `rollcall signin` command.
pub fn run(cmd: SigninCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let accounts = Accounts::from_config(config);
    let (actor, now) = (actor(), store::now());
    match cmd {
        SigninCommand::Show { agent, json } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            let state = signin_state(&mut conn, &a.id, now)?
                .ok_or_else(|| crate::accounts::AccountError::NotFound(format!("agent {agent}")))?;
            if json {
                return print_json(&state);
            }
            println!("agent            {} ({})", a.profile.user_name, a.id);
            println!("failed sign-ins  {}", state.failed_signins);
            match state.locked_until {
                Some(t) => println!("locked until     {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
                None => println!("locked           no"),
            }
            if let Some(t) = state.last_signin_at {
                println!("last sign-in     {}", t.format("%Y-%m-%d %H:%M:%S UTC"));
            }
            println!("live sessions    {}", state.sessions.len());
            for s in &state.sessions {
                println!(
                    "  {}  since {}  from {}  {}",
                    s.id,
                    s.created_at.format("%Y-%m-%d %H:%M"),
                    s.client_ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        SigninCommand::Unlock { agent, reason } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            accounts.unlock(&mut conn, &actor, &a.id, reason.trim(), now)?;
            eprintln!("unlocked {}", a.profile.user_name);
            Ok(())
        }
        SigninCommand::Revoke {
            agent,
            session,
            reason,
        } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            let n = accounts.revoke_sessions(
                &mut conn,
                &actor,
                &a.id,
                session.as_deref(),
                reason.trim(),
                now,
            )?;
            eprintln!("ended {n} session(s) of {}", a.profile.user_name);
            Ok(())
        }
        SigninCommand::Reset {
            agent,
            initial_password,
            reason,
        } => {
            use crate::accounts::ResetMethod;
            use crate::credentials::{hashing, policy::Policies};
            let a = lookup::resolve(&mut conn, &agent)?;
            let mut initial = None;
            let method = if initial_password {
                let policies = Policies::from_config(&config.auth.password_policy);
                let password = policies.generate(policies.profile_for(&a.role));
                let cost = hashing::Cost::from_config(&config.auth.argon2);
                let hash = hashing::hash_now(cost, &password)
                    .map_err(|e| anyhow::anyhow!("hashing the password: {e:?}"))?;
                initial = Some(password);
                ResetMethod::InitialPassword(hash)
            } else {
                ResetMethod::Link
            };
            let link = accounts.reset_password(
                &mut conn,
                &actor,
                &a.id,
                method,
                Some(reason.trim()),
                now,
            )?;
            match (initial, link) {
                (Some(password), _) => {
                    eprintln!(
                        "reset {}: initial password (shown once; it must be changed at the next sign-in):",
                        a.profile.user_name
                    );
                    println!("{password}");
                }
                (None, Some(link)) => {
                    eprintln!(
                        "reset {}: {}; the link works until {} UTC:",
                        a.profile.user_name,
                        if link.mail_id.is_some() {
                            "a link is mailed"
                        } else {
                            "no email to mail the link to"
                        },
                        link.expires_at.format("%Y-%m-%d %H:%M")
                    );
                    println!("{}", link.url);
                }
                (None, None) => {}
            }
            Ok(())
        }
    }
}
