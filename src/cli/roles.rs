//! `rollcall roles …`: roles and permissions on the configured database, through the
//! gateway (no running daemon needed). Human tables by default, `--json` for scripts; exit
//! codes as in [`super::exit`].

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::accounts::{AccountError, Accounts, NewRole, RolePatch, RoleWrite};
use crate::config::Config;
use crate::domain::roles::Role;
use crate::store::{self, DbConn};

use super::print_json;

#[derive(Subcommand)]
pub enum RolesCommand {
    /// List the roles and how many agents hold each.
    List(Output),
    /// Show one role.
    Show {
        name: String,
        #[command(flatten)]
        out: Output,
    },
    /// Create a custom role.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A permission key; repeat, or separate with commas.
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Vec<String>,
        /// Default chat limit of its holders (default 5).
        #[arg(long)]
        max_chats: Option<i32>,
        /// A default channel; repeat, or separate with commas.
        #[arg(long = "channel", value_delimiter = ',')]
        channels: Vec<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Create a custom role from a built-in template or any role.
    Clone {
        source: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Change a custom role; prints who gains and loses which permission.
    Update {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        perms: PermissionChange,
        #[arg(long)]
        max_chats: Option<i32>,
        /// The whole list of default channels (comma-separated; "" for none).
        #[arg(long, value_delimiter = ',')]
        channels: Option<Vec<String>>,
        /// Show the change and its impact; save nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Delete a custom role no agent holds.
    Delete { name: String },
    /// Who would gain and lose which permission if the role's permissions changed (nothing
    /// is saved).
    Impact {
        name: String,
        #[command(flatten)]
        perms: PermissionChange,
        #[command(flatten)]
        out: Output,
    },
    /// The permission catalog: Rollcall's keys and the configuration's `[[permissions]]`.
    Permissions(Output),
    /// An agent's effective permissions and where each comes from.
    Explain {
        /// The agent's id or userName.
        agent: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Args)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PermissionChange {
    /// The whole new list of permissions (comma-separated; "" for none).
    #[arg(long, value_delimiter = ',')]
    permissions: Option<Vec<String>>,
    /// Add a permission; repeat, or separate with commas.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
    /// Remove a permission; repeat, or separate with commas.
    #[arg(long, value_delimiter = ',')]
    revoke: Vec<String>,
}

impl PermissionChange {
    /// The new list, from `current`; `None` when nothing is asked.
    fn apply(&self, current: &[String]) -> Option<Vec<String>> {
        if self.permissions.is_none() && self.grant.is_empty() && self.revoke.is_empty() {
            return None;
        }
        let mut list: Vec<String> = match &self.permissions {
            Some(p) => p.iter().filter(|k| !k.is_empty()).cloned().collect(),
            None => current.to_vec(),
        };
        list.extend(self.grant.iter().filter(|k| !k.is_empty()).cloned());
        list.retain(|k| !self.revoke.contains(k));
        Some(list)
    }
}

fn open(config: &Config) -> anyhow::Result<(DbConn, Accounts)> {
    config.catalog()?;
    Ok((super::connect(config)?, Accounts::from_config(config)))
}

fn get_role(conn: &mut DbConn, name: &str) -> anyhow::Result<Role> {
    Ok(store::roles::get(conn, name)?
        .ok_or_else(|| AccountError::NotFound(format!("role {name:?}")))?)
}

/// Runs one `roles` command.
pub fn run(cmd: RolesCommand, config: &Config) -> anyhow::Result<()> {
    let actor = super::actor();
    let actor = actor.as_str();
    let (mut conn, accounts) = open(config)?;
    let conn = &mut conn;
    let now = store::now();
    match cmd {
        RolesCommand::List(out) => {
            let counts = store::roles::holder_counts(conn)?;
            let rows: Vec<RoleLine> = store::roles::list(conn)?
                .into_iter()
                .map(|role| RoleLine {
                    agents: counts.get(&role.name).map_or(0, |c| c.0),
                    role,
                })
                .collect();
            if out.json {
                return print_json(&rows);
            }
            println!(
                "{:<24} {:<8} {:>7} {:>11} {:>9}  description",
                "NAME", "KIND", "AGENTS", "PERMISSIONS", "MAX CHATS"
            );
            for r in rows {
                println!(
                    "{:<24} {:<8} {:>7} {:>11} {:>9}  {}",
                    r.role.name,
                    if r.role.builtin { "built-in" } else { "custom" },
                    r.agents,
                    r.role.permissions.len(),
                    r.role.default_max_concurrent_chats,
                    r.role.description
                );
            }
            Ok(())
        }
        RolesCommand::Show { name, out } => {
            let role = get_role(conn, &name)?;
            let (agents, _) = store::roles::holders_of(conn, &name)?;
            show_role(&RoleLine { role, agents }, out.json)
        }
        RolesCommand::Create {
            name,
            description,
            permissions,
            max_chats,
            channels,
            out,
        } => {
            let role = accounts.create_role(
                conn,
                actor,
                NewRole {
                    name,
                    description,
                    permissions,
                    default_max_concurrent_chats: max_chats,
                    default_channels: channels,
                },
                now,
            )?;
            show_role(&RoleLine { role, agents: 0 }, out.json)
        }
        RolesCommand::Clone {
            source,
            name,
            description,
            out,
        } => {
            let role = accounts.clone_role(conn, actor, &source, &name, description, now)?;
            show_role(&RoleLine { role, agents: 0 }, out.json)
        }
        RolesCommand::Update {
            name,
            description,
            perms,
            max_chats,
            channels,
            dry_run,
            out,
        } => {
            let current = get_role(conn, &name)?;
            let patch = RolePatch {
                description,
                permissions: perms.apply(&current.permissions),
                default_max_concurrent_chats: max_chats,
                default_channels: channels
                    .map(|c| c.into_iter().filter(|c| !c.is_empty()).collect()),
            };
            let w = accounts.update_role(conn, actor, &name, patch, dry_run, now)?;
            show_write(&w, out.json)
        }
        RolesCommand::Delete { name } => {
            accounts.delete_role(conn, actor, &name, now)?;
            println!("role {name:?} deleted");
            Ok(())
        }
        RolesCommand::Impact { name, perms, out } => {
            let current = get_role(conn, &name)?;
            let permissions = perms
                .apply(&current.permissions)
                .unwrap_or_else(|| current.permissions.clone());
            let w = accounts.role_permissions_impact(conn, &name, permissions)?;
            show_write(&w, out.json)
        }
        RolesCommand::Permissions(out) => {
            let defs = accounts.access.catalog.defs();
            if out.json {
                return print_json(&defs);
            }
            println!(
                "{:<28} {:<8} {:<40} description",
                "KEY", "FROM", "BUILT-IN ROLES"
            );
            for d in defs {
                println!(
                    "{:<28} {:<8} {:<40} {}",
                    d.key,
                    if d.builtin { "rollcall" } else { "config" },
                    d.default_roles.join(","),
                    d.description
                );
            }
            Ok(())
        }
        RolesCommand::Explain { agent, out } => {
            let id = match store::agents::id_by_user_name(conn, &agent)? {
                Some(id) => id,
                None => agent,
            };
            let p = accounts.agent_permissions(conn, &id)?;
            if out.json {
                return print_json(&p);
            }
            println!("agent {} ({}), role {}", p.user_name, p.id, p.role);
            println!("{:<28} {:<8} source", "KEY", "HAS IT");
            for e in &p.permissions {
                let source = serde_json::to_value(e.source)?;
                let mut source = source.as_str().unwrap_or("").to_owned();
                if e.source != crate::domain::permissions::Provenance::Role && e.in_role {
                    source.push_str(" (the role holds it)");
                }
                println!(
                    "{:<28} {:<8} {source}",
                    e.key,
                    if e.granted { "yes" } else { "DENIED" }
                );
            }
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct RoleLine {
    #[serde(flatten)]
    role: Role,
    /// Live agents holding it.
    agents: i64,
}

fn show_role(r: &RoleLine, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(r);
    }
    let role = &r.role;
    println!("name:         {}", role.name);
    println!(
        "kind:         {}",
        if role.builtin {
            "built-in (read-only)"
        } else {
            "custom"
        }
    );
    println!("description:  {}", role.description);
    println!("agents:       {}", r.agents);
    println!("max chats:    {}", role.default_max_concurrent_chats);
    println!("channels:     {}", role.default_channels.join(", "));
    println!("permissions:  {}", role.permissions.join(", "));
    Ok(())
}

fn show_write(w: &RoleWrite, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(w);
    }
    let i = &w.impact;
    let verb = if w.dry_run { "would" } else { "did" };
    println!(
        "role {}: {} agents hold it; the change {verb} change the permissions of {}",
        i.role, i.holders, i.affected
    );
    let g = &i.without_overrides;
    if !g.gained.is_empty() || !g.lost.is_empty() {
        println!(
            "  {} agents without overrides: gain [{}], lose [{}]",
            g.agents,
            g.gained.join(", "),
            g.lost.join(", ")
        );
    }
    for a in &i.with_overrides {
        println!(
            "  {} ({}): gain [{}], lose [{}]",
            a.user_name,
            a.id,
            a.gained.join(", "),
            a.lost.join(", ")
        );
    }
    if w.dry_run {
        println!("dry run: nothing was saved");
    }
    Ok(())
}
