//! `rollcall agents …`: list, show, create, update and the lifecycle of agents, on the
//! configured database, through the account gateway (the same rules and messages as SCIM
//! and the admin API; every change audited as `cli:<OS user>`).

use clap::{Args, Subcommand};

use super::exit::Failure;
use super::lookup::{self, ListFilter};
use super::{actor, connect, print_json, view};
use crate::accounts::{Accounts, AgentInput};
use crate::config::Config;
use crate::domain::{Agent, AgentProfile, MultiValue, Status};
use crate::store::{self, DbConn};

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List agents (live ones unless --status deleted), by user name.
    List {
        /// pending, active, suspended or deleted.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        department: Option<String>,
        /// `admin`, `ldap:corp`, … (ending in `:`, every source starting so: `ldap:`).
        #[arg(long)]
        source: Option<String>,
        /// Part of the user name, display name or email.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one agent (by id or user name), where each field came from (source, run, time)
    /// and its latest audit entries.
    Show {
        agent: String,
        /// How many audit entries to show.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(0..=1000))]
        audit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Create an agent (source `admin`).
    Create {
        user_name: String,
        #[command(flatten)]
        fields: Fields,
        /// Create it suspended.
        #[arg(long)]
        inactive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Change fields of an agent; an empty value clears a field.
    Update {
        agent: String,
        /// A new user name.
        #[arg(long)]
        user_name: Option<String>,
        #[command(flatten)]
        fields: Fields,
        #[command(flatten)]
        common: Change,
    },
    /// Suspend an agent: sessions revoked, no login.
    Disable {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Make a suspended agent active again.
    Enable {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Approve a pending agent: it becomes active.
    Approve {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Reject a pending agent: deleted, purged after the grace period.
    Reject {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Force an agent offline: sessions revoked, sign-in blocked until resumed.
    ForceOffline {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Let an agent forced offline sign in again.
    Resume {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
    /// Delete an agent: gone for every reader, purged after the grace period.
    Delete {
        agent: String,
        #[command(flatten)]
        common: Change,
    },
}

/// Profile fields that `create` and `update` set.
#[derive(Debug, Args, Default)]
pub struct Fields {
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    given_name: Option<String>,
    #[arg(long)]
    family_name: Option<String>,
    /// The primary work email.
    #[arg(long)]
    email: Option<String>,
    /// The primary work phone number.
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    department: Option<String>,
    #[arg(long)]
    employee_number: Option<String>,
    #[arg(long)]
    external_id: Option<String>,
    /// The manager's agent id.
    #[arg(long)]
    manager: Option<String>,
    /// A role name (`rollcall roles` lists them).
    #[arg(long)]
    role: Option<String>,
    /// Skill groups, comma-separated (replacing the agent's).
    #[arg(long)]
    skill_groups: Option<String>,
    /// Channels, comma-separated (replacing the agent's).
    #[arg(long)]
    channels: Option<String>,
    /// Chats at once.
    #[arg(long)]
    max_chats: Option<i32>,
}

/// What every change takes besides its subject.
#[derive(Debug, Args, Default)]
pub struct Change {
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
    /// Refuse (exit 5) unless the agent is at this version.
    #[arg(long)]
    if_version: Option<i64>,
    #[arg(long)]
    json: bool,
}

impl Change {
    /// The reason given, else "<what> by <actor>".
    fn reason_or(&self, what: &str, actor: &str) -> String {
        self.reason
            .clone()
            .unwrap_or_else(|| format!("{what} by {actor}"))
    }
}

/// `Some("")` clears a field: `None` after this.
fn text(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| if s.trim().is_empty() { None } else { Some(s) })
}

fn list_of(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Sets the primary value of a multi-valued list (a `work` one when there is none);
/// `None` removes the primary value.
fn set_primary(list: &mut Vec<MultiValue>, value: Option<String>) {
    let at = list
        .iter()
        .position(|v| v.primary)
        .or(if list.len() == 1 { Some(0) } else { None });
    match (at, value) {
        (Some(i), Some(v)) => {
            list[i].value = v;
            list[i].primary = true;
        }
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => list.insert(
            0,
            MultiValue {
                value: v,
                kind: Some("work".into()),
                primary: true,
                display: None,
            },
        ),
        (None, None) => {}
    }
}

impl Fields {
    /// `p` with the given fields applied.
    fn apply(self, p: &mut AgentProfile) -> anyhow::Result<()> {
        macro_rules! set {
            ($field:ident, $target:expr) => {
                if let Some(v) = text(self.$field) {
                    $target = v;
                }
            };
        }
        set!(display_name, p.display_name);
        set!(given_name, p.given_name);
        set!(family_name, p.family_name);
        set!(title, p.title);
        set!(department, p.department);
        set!(employee_number, p.employee_number);
        set!(external_id, p.external_id);
        set!(manager, p.manager_id);
        if let Some(v) = text(self.email) {
            set_primary(&mut p.emails, v);
        }
        if let Some(v) = text(self.phone) {
            set_primary(&mut p.phones, v);
        }
        if let Some(r) = self.role {
            if r.trim().is_empty() {
                return Err(Failure::invalid("--role must name a role").into());
            }
            p.role = Some(r);
        }
        if let Some(s) = self.skill_groups {
            p.skill_groups = list_of(&s);
        }
        if let Some(c) = self.channels {
            p.channels = list_of(&c);
        }
        if let Some(n) = self.max_chats {
            p.max_concurrent_chats = Some(n);
        }
        Ok(())
    }
}

/// The gateway with the configured rules (approval of the `admin` door, channel catalog).
fn gateway(config: &Config) -> Accounts {
    Accounts::from_config(config)
}

/// Runs one `rollcall agents` command.
pub fn run(cmd: AgentsCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    let accounts = gateway(config);
    let actor = actor();
    let now = store::now();
    match cmd {
        AgentsCommand::List {
            status,
            role,
            department,
            source,
            search,
            limit,
            json,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(Status::parse(s).ok_or_else(|| {
                    Failure::usage(format!(
                        "unknown status {s:?}: use pending, active, suspended or deleted"
                    ))
                })?),
            };
            let filter = ListFilter {
                status,
                role,
                department,
                source,
                search,
                limit,
            };
            let agents = lookup::list(&mut conn, &filter)?;
            if json {
                let items: Vec<_> = agents.iter().map(view::agent_json).collect();
                print_json(&items)
            } else if agents.is_empty() {
                eprintln!("no agents match");
                Ok(())
            } else {
                print!("{}", view::agents_table(&agents));
                Ok(())
            }
        }
        AgentsCommand::Show { agent, audit, json } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            let filter = crate::audit::search::AuditFilter {
                target_id: Some(a.id.clone()),
                ..Default::default()
            };
            let entries = if audit > 0 {
                crate::audit::search::search(&mut conn, &filter, None, audit)?.entries
            } else {
                Vec::new()
            };
            let provenance = crate::audit::provenance::of_agent(&mut conn, &a.id)?;
            if json {
                let mut v = serde_json::to_value(view::agent_json(&a))?;
                v["audit"] = entries.iter().map(view::audit_json).collect();
                v["provenance"] = serde_json::to_value(&provenance)?;
                v["sources"] =
                    serde_json::to_value(crate::store::agents::links_of(&mut conn, &a.id)?)?;
                print_json(&v)
            } else {
                print!("{}", view::agent_detail(&a, &entries));
                print!("{}", view::provenance_table(&provenance));
                for l in crate::store::agents::links_of(&mut conn, &a.id)? {
                    println!(
                        "also from {} (key {}, linked by {} at {})",
                        l.source,
                        l.source_key,
                        l.linked_by,
                        l.linked_at.format("%Y-%m-%d %H:%M:%S")
                    );
                }
                Ok(())
            }
        }
        AgentsCommand::Create {
            user_name,
            fields,
            inactive,
            json,
        } => {
            let mut profile = AgentProfile {
                user_name,
                ..AgentProfile::default()
            };
            fields.apply(&mut profile)?;
            let input = AgentInput {
                profile,
                active: Some(!inactive),
                ..AgentInput::default()
            };
            let a = accounts.create_agent(&mut conn, &actor, "admin", input, now)?;
            done(&a, json, "created")
        }
        AgentsCommand::Update {
            agent,
            user_name,
            fields,
            common,
        } => {
            let id = lookup::resolve(&mut conn, &agent)?.id;
            let mut fields = Some(fields);
            let a = accounts.update_agent_with(
                &mut conn,
                &actor,
                &id,
                common.if_version,
                common.reason.as_deref(),
                now,
                |current| {
                    let mut profile = current.profile.clone();
                    profile.role = Some(current.role.clone());
                    if let Some(u) = user_name.clone() {
                        profile.user_name = u;
                    }
                    if let Some(f) = fields.take() {
                        f.apply(&mut profile)
                            .map_err(|e| crate::accounts::AccountError::Invalid(e.to_string()))?;
                    }
                    Ok(AgentInput {
                        profile,
                        ..AgentInput::default()
                    })
                },
            )?;
            done(&a, common.json, "updated")
        }
        AgentsCommand::Disable { agent, common } => {
            let reason = common.reason_or("disabled", &actor);
            lifecycle(&mut conn, &agent, &common, |c, id| {
                accounts.set_active(c, &actor, id, false, &reason, now)
            })
        }
        AgentsCommand::Enable { agent, common } => {
            let reason = common.reason_or("enabled", &actor);
            lifecycle(&mut conn, &agent, &common, |c, id| {
                accounts.set_active(c, &actor, id, true, &reason, now)
            })
        }
        AgentsCommand::Approve { agent, common } => {
            lifecycle(&mut conn, &agent, &common, |c, id| {
                accounts.approve(c, &actor, id, common.reason.as_deref(), now)
            })
        }
        AgentsCommand::Reject { agent, common } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            check_version(&a, &common)?;
            let reason = common.reason_or("rejected", &actor);
            accounts.reject(&mut conn, &actor, &a.id, &reason, now)?;
            gone(&a, common.json, "rejected")
        }
        AgentsCommand::ForceOffline { agent, common } => {
            let reason = common.reason_or("forced offline", &actor);
            lifecycle(&mut conn, &agent, &common, |c, id| {
                accounts.set_login_blocked(c, &actor, id, true, &reason, now)
            })
        }
        AgentsCommand::Resume { agent, common } => {
            let reason = common.reason_or("resumed", &actor);
            lifecycle(&mut conn, &agent, &common, |c, id| {
                accounts.set_login_blocked(c, &actor, id, false, &reason, now)
            })
        }
        AgentsCommand::Delete { agent, common } => {
            let a = lookup::resolve(&mut conn, &agent)?;
            if a.status == Status::Deleted {
                return Err(
                    crate::accounts::AccountError::NotFound(format!("agent {agent}")).into(),
                );
            }
            accounts.delete_agent(
                &mut conn,
                &actor,
                &a.id,
                common.if_version,
                common.reason.as_deref(),
                now,
            )?;
            gone(&a, common.json, "deleted")
        }
    }
}

/// `--if-version`, checked against the agent as read.
fn check_version(a: &Agent, common: &Change) -> anyhow::Result<()> {
    match common.if_version {
        Some(v) if v != a.version => {
            Err(crate::accounts::AccountError::VersionMismatch { current: a.version }.into())
        }
        _ => Ok(()),
    }
}

/// Prints what is left of an agent that was deleted or rejected.
fn gone(a: &Agent, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        print_json(
            &serde_json::json!({ "id": a.id, "userName": a.profile.user_name, "status": "deleted" }),
        )
    } else {
        println!("{what}: {} ({})", a.profile.user_name, a.id);
        Ok(())
    }
}

/// A lifecycle change: the agent found by id or name, its version checked, `change` applied.
fn lifecycle(
    conn: &mut DbConn,
    who: &str,
    common: &Change,
    change: impl FnOnce(&mut DbConn, &str) -> Result<Agent, crate::accounts::AccountError>,
) -> anyhow::Result<()> {
    let a = lookup::resolve(conn, who)?;
    check_version(&a, common)?;
    let after = change(conn, &a.id)?;
    done(&after, common.json, "now")
}

/// Prints the agent a change left: JSON, or one line.
fn done(a: &Agent, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        print_json(&view::agent_json(a))
    } else {
        println!(
            "{what}: {} ({}) {}, version {}",
            a.profile.user_name,
            a.id,
            view::status_text(a),
            a.version
        );
        Ok(())
    }
}
