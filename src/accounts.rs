//! The one gateway for changes to agents and groups. SCIM, sync, the admin API and imports
//! all call it; it enforces the lifecycle and writes the row, the audit entry and the
//! outbound event in one transaction.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use serde_json::json;

mod access;
mod bulk_disable;
mod creates;
mod group_roles;
mod groups;
mod lifecycle;
mod links;
mod mfa;
mod passwords;
mod permissions;
mod policy;
mod profile;
mod role_changes;
mod role_writes;
mod roles;
pub mod schedule;
mod signin;
mod snapshot;
mod updates;

pub use access::AccessRules;
pub use bulk_disable::Disabling;
pub use creates::PreparedCreates;
pub use links::{IssuedLink, LINK_PREFIX, LinkFor, LinkPurpose, LinkRefusal, LinkRules, live_link};
pub use mfa::{Factor, confirmed_totp};
pub use passwords::{ResetMethod, password_hashes};
pub use permissions::AgentPermissions;
pub use policy::Approval;
pub use role_changes::{AgentImpact, RoleImpact};
pub use role_writes::{NewRole, RolePatch, RoleWrite};
pub use roles::{ensure_builtin_roles, known_roles};
pub use signin::{Client, Failure, NewSession, Refusal, find_for_signin};

use policy::check_channels;
use profile::{check_text, new_row, non_empty, normalise};
use roles::{ensure_role, role_named_in, unknown_role};

use crate::audit::{self, Entry};
use crate::domain::{Agent, AgentProfile, Status};
use crate::store::models::AgentRow;
use crate::store::schema::{agents, sessions};
use crate::store::{DbConn, agents as agent_store, groups as group_store, write_tx};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource changed since it was read (version {current})")]
    VersionMismatch { current: i64 },
    #[error("{0}")]
    Invalid(String),
    /// A value breaks a rule, and the gateway knows which field: `pointer` is a JSON pointer
    /// into the agent as the admin API writes it (`/channels/2`, `/userName`).
    #[error("{message}")]
    InvalidField { pointer: String, message: String },
    /// The four-eyes rule: whoever approves an agent must not be who created it.
    #[error("{0}")]
    FourEyes(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup<'a> {
    pub display_name: &'a str,
    pub external_id: Option<String>,
    /// Ids of member agents and groups.
    pub members: Vec<String>,
}

/// A requested state of an agent. `None` fields leave the stored value as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentInput {
    pub profile: AgentProfile,
    /// Keep the stored role, skill groups, chat limit and channels instead of `profile`'s
    /// (a client that does not manage Rollcall's agent extension must not clear it).
    pub keep_agent_settings: bool,
    /// An identity provider's write (SCIM): fields `[ownership]` gives to sync sources and
    /// not to `scim` keep their stored values (a non-owner never overwrites them).
    pub keep_source_owned: bool,
    pub active: Option<bool>,
    pub login_blocked: Option<bool>,
    /// An argon2id hash, computed before the transaction (hashing is slow).
    pub password_hash: Option<String>,
    /// On create with `password_hash`: an initial password, to be changed at first sign-in.
    pub must_change_password: bool,
    /// On create without `password_hash`: what the agent gets instead of the door's
    /// `[auth.new_agents]` setting.
    pub first_password: Option<crate::config::FirstPassword>,
    /// On create: the id to give the agent (a sync run chooses ids while planning so that
    /// managers created in the same run can be referenced); a new UUIDv7 when `None`.
    pub id: Option<String>,
    /// On create: the person's stable key at the owning source (directory, HR).
    pub source_key: Option<String>,
    /// On create: why, for the audit log (a sync run says which change it saw).
    pub reason: Option<String>,
    /// On create by a sync source: the digest of what it wrote (see `OwnedAgent::digest`).
    pub source_digest: Option<String>,
    /// On create: start `pending` whatever the door's approval rule (an HR pre-hire, activated
    /// at its start).
    pub pending: bool,
}

/// A change to a group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

/// Rules the gateway applies.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub default_role: String,
    pub deleted_grace: Duration,
    /// The channels an agent may serve (`accounts.channels`); `None`: any.
    pub channels: Option<Vec<String>>,
    /// Which doors create agents `pending`, and the four-eyes rule.
    pub approval: Approval,
    /// The permission catalog, the channel catalog for roles and the SCIM group → role
    /// rules.
    pub access: std::sync::Arc<AccessRules>,
    /// Mail a disabled agent that has an email ("your account was disabled",
    /// `mail.notify_disabled`), in the transaction that disables it.
    pub notify_disabled: bool,
    /// Links and first passwords (`[auth.links]`, `[auth.new_agents]`).
    pub links: LinkRules,
    /// The fields an identity provider's write leaves as stored (`[ownership]` names their
    /// owners, and `scim` is not among them), by a plan's field names.
    pub idp_keeps: std::sync::Arc<Vec<&'static str>>,
}

impl Accounts {
    /// Rules without a channel catalog, approval or first links (tools and tests); the daemon and sync
    /// use [`Accounts::from_config`].
    pub fn new(default_role: &str, deleted_grace_days: u32) -> Self {
        Accounts {
            default_role: default_role.to_owned(),
            deleted_grace: Duration::days(i64::from(deleted_grace_days)),
            channels: None,
            approval: Approval::default(),
            access: std::sync::Arc::default(),
            notify_disabled: false,
            links: LinkRules::without_first_links(),
            idp_keeps: std::sync::Arc::default(),
        }
    }

    /// The rules `config` asks for: default role, grace period, channel catalog, approval,
    /// the permission catalog, the SCIM group → role rules and the disabled agent's mail. A configuration that did not
    /// pass `Config::load`'s checks (built in code) keeps Rollcall's own permission catalog
    /// when its `[[permissions]]` are wrong; `server::open_store` refuses them.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let a = &config.accounts;
        let access = AccessRules::from_config(config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the permission configuration is invalid");
            AccessRules {
                channels: a.channels.clone(),
                ..AccessRules::default()
            }
        });
        Accounts {
            channels: Some(a.channels.clone()),
            approval: Approval::from_config(config),
            access: std::sync::Arc::new(access),
            notify_disabled: config.mail.notify_disabled,
            links: LinkRules::from_config(config),
            idp_keeps: std::sync::Arc::new(
                config.ownership.not_owned_by(crate::config::SCIM_OWNER),
            ),
            ..Accounts::new(&a.default_role, a.deleted_grace_days)
        }
    }

    fn catalog(&self) -> Option<&[String]> {
        self.channels.as_deref()
    }

    pub fn create_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        source: &str,
        mut input: AgentInput,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        check_text(&input.profile, None)?;
        check_channels(self.catalog(), &input.profile, None)?;
        let profile = normalise(std::mem::take(&mut input.profile))?;
        let pending = self.approval.required(source) || input.pending;
        let id = input
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        write_tx(conn, |conn| {
            let role = match &profile.role {
                Some(r) => r.clone(),
                None => role_named_in(conn, &profile)?.unwrap_or_else(|| self.default_role.clone()),
            };
            let row = new_row(&profile, &id, role, &input, source, actor, now, pending);
            // The unique index on live userNames and the foreign key on role are the checks.
            if let Err(e) = agent_store::insert(conn, &row, &agent_store::value_rows(&id, &profile))
            {
                return Err(match e {
                    DatabaseError(DatabaseErrorKind::UniqueViolation, _) => AccountError::Conflict(
                        format!("userName {:?} is already taken", profile.user_name),
                    ),
                    DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                        return Err(unknown_role(conn, &row.role));
                    }
                    other => other.into(),
                });
            }
            let snap = snapshot::value(&profile, &row);
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.create",
                    target_type: "agent",
                    target_id: &id,
                    before: None,
                    after: Some(snap.clone()),
                    reason: input.reason.as_deref(),
                },
            )?;
            self.first_link(conn, actor, &row, input.first_password, now)?;
            Ok(agent_store::to_agent(
                row,
                agent_store::value_rows(&id, &profile),
            ))
        })
    }

    /// Links an existing agent to the sync source that found its person (`by` names the
    /// key that matched). An agent of no sync source (made by an admin, an import or an IdP)
    /// is handed to the source; one another sync source already has is joined
    /// (`agent_links`): both plan it from then on, each within its fields (`[ownership]`).
    #[allow(clippy::too_many_arguments)]
    pub fn link_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        source: &str,
        source_key: &str,
        by: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        use crate::store::schema::agent_links;
        write_tx(conn, |conn| {
            let mut row = row_of(conn, id)?;
            let before = json!({ "source": row.source, "sourceKey": row.source_key });
            let joins = crate::domain::is_sync_source(&row.source) && row.source != source;
            let after = if joins {
                diesel::insert_into(agent_links::table)
                    .values((
                        agent_links::source.eq(source),
                        agent_links::source_key.eq(source_key),
                        agent_links::agent_id.eq(id),
                        agent_links::linked_by.eq(by),
                        agent_links::linked_at.eq(now),
                    ))
                    .execute(conn)?;
                json!({ "source": row.source, "sourceKey": row.source_key,
                        "joinedBy": { "source": source, "sourceKey": source_key, "by": by } })
            } else {
                let read = row.version;
                row.source = source.to_owned();
                row.source_key = Some(source_key.to_owned());
                write_next(conn, &mut row, read, now)?;
                json!({ "source": source, "sourceKey": source_key, "by": by })
            };
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.link",
                    target_type: "agent",
                    target_id: id,
                    before: Some(before),
                    after: Some(after),
                    reason: Some(reason),
                },
            )?;
            Ok(())
        })
    }

    /// Lets a sync source go of an agent whose person comes back as a new agent (a rehire
    /// with `rehire = "new_agent"`): the agent stays as it is (disabled), for the record,
    /// but gives up its source key, employee number and user name (`<name>.left-<date>`),
    /// which the new agent takes. Audited `agent.update` and `agent.release`.
    pub fn release_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let renamed =
                self.update_agent_with(conn, actor, id, None, Some(reason), now, |c| {
                    let mut profile = c.profile.clone();
                    profile.role = Some(c.role.clone());
                    profile.user_name =
                        format!("{}.left-{}", c.profile.user_name, now.format("%Y%m%d"));
                    profile.employee_number = None;
                    Ok(AgentInput {
                        profile,
                        ..AgentInput::default()
                    })
                })?;
            let mut row = row_of(conn, id)?;
            let before = json!({ "source": row.source, "sourceKey": row.source_key });
            let read = row.version;
            row.source_key = None;
            write_next(conn, &mut row, read, now)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.release",
                    target_type: "agent",
                    target_id: id,
                    before: Some(before),
                    after: Some(json!({ "source": row.source, "sourceKey": null,
                                        "userName": renamed.profile.user_name })),
                    reason: Some(reason),
                },
            )?;
            Ok(())
        })
    }

    /// Suspends or re-enables an agent, keeping its profile.
    pub fn set_active(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        active: bool,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        self.step(conn, actor, id, reason, now, |input| {
            input.active = Some(active)
        })
    }

    /// Removes an agent from every reader: status `deleted`, sessions revoked, memberships
    /// dropped; the row stays until the grace period ends.
    pub fn delete_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        self.remove(
            conn,
            actor,
            id,
            expected_version,
            reason,
            now,
            "agent.delete",
            |_| Ok(()),
        )
    }

    /// [`Accounts::delete_agent`], recorded as `action`, after `check` accepted the row.
    #[allow(clippy::too_many_arguments)]
    fn remove(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        reason: Option<&str>,
        now: NaiveDateTime,
        action: &str,
        check: impl FnOnce(&AgentRow) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let mut row = row_of(conn, id)?;
            check(&row)?;
            at_version(&row, expected_version)?;
            let before = json!({ "status": row.status, "userName": row.user_name });
            let read = row.version;
            revoke_sessions(conn, &mut row, now)?;
            row.status = Status::Deleted.as_str().into();
            row.disabled_at = Some(now);
            row.disabled_reason = Some(
                reason
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("deleted by {actor}")),
            );
            row.purge_after = Some(now + self.deleted_grace);
            write_next(conn, &mut row, read, now)?;
            let groups = group_store::remove_member_everywhere(conn, id)?;
            let after = json!({
                "status": row.status,
                "purgeAfter": row.purge_after,
                "groupsLeft": groups,
            });
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action,
                    target_type: "agent",
                    target_id: id,
                    before: Some(before),
                    after: Some(after.clone()),
                    reason,
                },
            )?;
            Ok(())
        })
    }

    /// Purges agents whose deletion grace period has ended.
    pub fn purge(&self, conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, AccountError> {
        write_tx(conn, |conn| {
            let n = agent_store::purge_deleted(conn, now)?;
            if n > 0 {
                audit::append(
                    conn,
                    Entry {
                        at: now,
                        actor: "system",
                        action: "agent.purge",
                        target_type: "agent",
                        target_id: "*",
                        before: None,
                        after: Some(json!({ "purged": n })),
                        reason: Some("deletion grace period ended"),
                    },
                )?;
            }
            Ok(n)
        })
    }
}

/// A profile as the gateway would store it — the text rules of `domain::names` (for a new
/// agent, or with `before` for the values an agent does not hold yet) and the normalisation
/// every writer gets — without writing anything: for doors that check many rows before
/// writing any (imports).
pub fn checked_profile(
    profile: AgentProfile,
    before: Option<&AgentProfile>,
) -> Result<AgentProfile, AccountError> {
    check_text(&profile, before)?;
    normalise(profile)
}

/// Writes `row`, changed by the caller, as the next version of the row read at version
/// `read` (its multi-valued attributes untouched); a version mismatch when another writer
/// got in between.
fn write_next(
    conn: &mut DbConn,
    row: &mut AgentRow,
    read: i64,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    row.updated_at = now;
    row.version += 1;
    if !agent_store::update(conn, row, read, None)? {
        return Err(moved_on(conn, &row.id)?);
    }
    Ok(())
}

impl Accounts {
    /// A lifecycle step that keeps the agent's profile as it is inside the transaction (a
    /// change made since any earlier read is kept) and changes what `set` sets.
    fn step(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        reason: &str,
        now: NaiveDateTime,
        set: impl FnOnce(&mut AgentInput),
    ) -> Result<Agent, AccountError> {
        self.update_agent_with(conn, actor, id, None, Some(reason), now, |current| {
            let mut profile = current.profile.clone();
            profile.role = Some(current.role.clone());
            let mut input = AgentInput {
                profile,
                ..AgentInput::default()
            };
            set(&mut input);
            Ok(input)
        })
    }
}

/// The stored row of agent `id` (a deleted one too).
fn row_of(conn: &mut DbConn, id: &str) -> Result<AgentRow, AccountError> {
    agent_store::get_row(conn, id)?.ok_or_else(|| AccountError::NotFound(format!("agent {id}")))
}

/// Refuses `row` when the caller expected another version (`If-Match`, `--if-version`).
fn at_version(row: &AgentRow, expected: Option<i64>) -> Result<(), AccountError> {
    match expected {
        Some(v) if v != row.version => Err(AccountError::VersionMismatch {
            current: row.version,
        }),
        _ => Ok(()),
    }
}

/// The error for a compare-and-set that found another version: the agent's version now.
fn moved_on(conn: &mut DbConn, id: &str) -> Result<AccountError, AccountError> {
    let row = row_of(conn, id)?;
    Ok(AccountError::VersionMismatch {
        current: row.version,
    })
}

fn revoke_sessions(conn: &mut DbConn, row: &mut AgentRow, now: NaiveDateTime) -> QueryResult<()> {
    row.sessions_revoked_at = Some(now);
    diesel::update(
        sessions::table
            .filter(sessions::agent_id.eq(&row.id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
    .map(drop)
}

/// The stored row of an agent, for admin tooling and tests.
pub fn agent_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<AgentRow>> {
    agents::table
        .filter(agents::id.eq(id))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()
}
