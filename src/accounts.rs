//! The one gateway for changes to agents and groups. SCIM, sync, the admin API and imports
//! all call it; it enforces the lifecycle and writes the row, the audit entry and the
//! outbound event in one transaction.

use std::collections::HashSet;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use serde_json::json;

mod creates;
mod groups;
mod snapshot;

pub use creates::PreparedCreates;

use crate::audit::{self, Entry};
use crate::domain::{Agent, AgentProfile, Status, names};
use crate::events::Event;
use crate::store::models::AgentRow;
use crate::store::schema::{agents, roles, sessions};
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
    pub active: Option<bool>,
    pub login_blocked: Option<bool>,
    /// An argon2id hash, computed before the transaction (hashing is slow).
    pub password_hash: Option<String>,
    /// On create: the id to give the agent (a sync run chooses ids while planning so that
    /// managers created in the same run can be referenced); a new UUIDv7 when `None`.
    pub id: Option<String>,
    /// On create: the person's stable key at the owning source (directory, HR).
    pub source_key: Option<String>,
    /// On create: why, for the audit log (a sync run says which change it saw).
    pub reason: Option<String>,
    /// On create by a sync source: the digest of what it wrote (see `OwnedAgent::digest`).
    pub source_digest: Option<String>,
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
}

impl Accounts {
    pub fn new(default_role: &str, deleted_grace_days: u32) -> Self {
        Accounts {
            default_role: default_role.to_owned(),
            deleted_grace: Duration::days(i64::from(deleted_grace_days)),
        }
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
        let profile = normalise(std::mem::take(&mut input.profile))?;
        let id = input
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        write_tx(conn, |conn| {
            let role = match &profile.role {
                Some(r) => r.clone(),
                None => role_named_in(conn, &profile)?.unwrap_or_else(|| self.default_role.clone()),
            };
            let row = new_row(&profile, &id, role, &input, source, actor, now);
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
            Ok(agent_store::to_agent(
                row,
                agent_store::value_rows(&id, &profile),
            ))
        })
    }

    /// Applies `input` to agent `id`. A request that changes nothing writes nothing.
    /// `expected_version`: the version the caller read (`If-Match`, or a read-modify-write
    /// done outside the transaction); another one fails with `VersionMismatch`.
    #[allow(clippy::too_many_arguments)]
    pub fn update_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        input: AgentInput,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        self.update_agent_with(conn, actor, id, expected_version, reason, now, |_| {
            Ok(input)
        })
    }

    /// Applies the input `make` computes from the agent as it is inside the write
    /// transaction — current until it commits, as no other writer runs meanwhile. For a
    /// change that depends on the stored agent (a suspension keeping the profile, a
    /// directory's managed fields merged into it), so that a change made between a read
    /// and the write is kept rather than overwritten.
    #[allow(clippy::too_many_arguments)]
    pub fn update_agent_with<F>(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        reason: Option<&str>,
        now: NaiveDateTime,
        make: F,
    ) -> Result<Agent, AccountError>
    where
        F: FnOnce(&Agent) -> Result<AgentInput, AccountError>,
    {
        write_tx(conn, |conn| {
            let current = agent_store::get(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
            let mut row = agent_store::get_row(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
            if let Some(v) = expected_version
                && v != row.version
            {
                return Err(AccountError::VersionMismatch {
                    current: row.version,
                });
            }
            let mut input = make(&current)?;
            check_text(&input.profile, Some(&current.profile))?;
            let mut profile = normalise(std::mem::take(&mut input.profile))?;
            if input.keep_agent_settings {
                profile.role =
                    Some(role_named_in(conn, &profile)?.unwrap_or_else(|| row.role.clone()));
                profile.skill_groups = current.profile.skill_groups.clone();
                profile.max_concurrent_chats = current.profile.max_concurrent_chats;
                profile.channels = current.profile.channels.clone();
            }
            let key = names::fold(&profile.user_name);
            if row.user_name_key.as_deref() != Some(key.as_str())
                && let Some(other) = agent_store::id_by_user_name(conn, &profile.user_name)?
                && other != id
            {
                return Err(AccountError::Conflict(format!(
                    "userName {:?} is already taken",
                    profile.user_name
                )));
            }
            let role = profile.role.clone().unwrap_or_else(|| row.role.clone());
            if role != row.role {
                ensure_role(conn, &role)?;
            }
            profile.role = Some(role.clone());
            let before_row = row.clone();
            let before = snapshot::value(&current.profile, &row);

            row.external_id = profile.external_id.clone();
            row.user_name = profile.user_name.clone();
            if row.user_name_key.as_deref() != Some(key.as_str()) {
                // A new name: no longer a clash kept from before keys were folded.
                row.user_name_key = Some(key);
                row.user_name_clash = String::new();
            }
            row.display_name = profile.display_name.clone();
            row.given_name = profile.given_name.clone();
            row.family_name = profile.family_name.clone();
            row.middle_name = profile.middle_name.clone();
            row.formatted_name = profile.formatted_name.clone();
            row.nickname = profile.nickname.clone();
            row.title = profile.title.clone();
            row.email = AgentProfile::primary_of(&profile.emails).map(str::to_owned);
            row.phone = AgentProfile::primary_of(&profile.phones).map(str::to_owned);
            row.emails_inline = AgentProfile::lone_work(&profile.emails).is_some();
            row.phones_inline = AgentProfile::lone_work(&profile.phones).is_some();
            row.employee_number = profile.employee_number.clone();
            row.department = profile.department.clone();
            row.manager_id = profile.manager_id.clone();
            row.role = role;
            row.max_concurrent_chats = profile.max_concurrent_chats;

            let mut event = Event::Updated;
            let mut revoke = false;
            match input.active {
                Some(true) if row.status != Status::Active.as_str() => {
                    row.status = Status::Active.as_str().into();
                    row.disabled_at = None;
                    row.disabled_reason = None;
                    event = Event::Enabled;
                }
                Some(false) if row.status != Status::Suspended.as_str() => {
                    row.status = Status::Suspended.as_str().into();
                    row.disabled_at = Some(now);
                    row.disabled_reason = Some(
                        reason
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("deactivated by {actor}")),
                    );
                    revoke = true;
                    event = Event::Disabled;
                }
                _ => {}
            }
            match input.login_blocked {
                Some(true) if !row.login_blocked => {
                    row.login_blocked = true;
                    revoke = true;
                    if event == Event::Updated {
                        event = Event::ForcedOffline;
                    }
                }
                Some(false) if row.login_blocked => row.login_blocked = false,
                _ => {}
            }
            if let Some(hash) = &input.password_hash {
                row.password_hash = Some(hash.clone());
                row.password_changed_at = Some(now);
            }
            let values_changed = profile.emails != current.profile.emails
                || profile.phones != current.profile.phones
                || profile.roles != current.profile.roles
                || profile.skill_groups != current.profile.skill_groups
                || profile.channels != current.profile.channels;
            if row == before_row && !values_changed {
                return Ok(current);
            }
            if revoke {
                revoke_sessions(conn, &mut row, now)?;
            }
            row.updated_at = now;
            row.version += 1;
            let values = values_changed.then(|| agent_store::value_rows(id, &profile));
            // `current` (the profile the input was made from) is the first read: a writer
            // that got in after it changed the version, and the write finds it.
            if !agent_store::update(conn, &row, current.version, values.as_deref())? {
                return Err(moved_on(conn, id)?);
            }
            let after = snapshot::value(&profile, &row);
            let (b, a) = snapshot::diff(&before, &after);
            let action = match event {
                Event::Disabled => "agent.disable",
                Event::Enabled => "agent.enable",
                Event::ForcedOffline => "agent.force_offline",
                _ => "agent.update",
            };
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action,
                    target_type: "agent",
                    target_id: id,
                    before: Some(b),
                    after: Some(a.clone()),
                    reason,
                },
            )?;
            agent_store::get(conn, id)?.ok_or_else(|| AccountError::NotFound(id.to_owned()))
        })
    }

    /// Hands an existing agent to a source (a directory now owns this person's account).
    #[allow(clippy::too_many_arguments)]
    pub fn link_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        source: &str,
        source_key: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let mut row = agent_store::get_row(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
            let before = json!({ "source": row.source, "sourceKey": row.source_key });
            let read = row.version;
            row.source = source.to_owned();
            row.source_key = Some(source_key.to_owned());
            row.updated_at = now;
            row.version += 1;
            if !agent_store::update(conn, &row, read, None)? {
                return Err(moved_on(conn, id)?);
            }
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "agent.link",
                    target_type: "agent",
                    target_id: id,
                    before: Some(before),
                    after: Some(json!({ "source": source, "sourceKey": source_key })),
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
        // The profile as it is inside the transaction: a change made since any earlier read
        // is kept.
        self.update_agent_with(conn, actor, id, None, Some(reason), now, |current| {
            let mut profile = current.profile.clone();
            profile.role = Some(current.role.clone());
            Ok(AgentInput {
                profile,
                active: Some(active),
                ..AgentInput::default()
            })
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
        write_tx(conn, |conn| {
            let mut row = agent_store::get_row(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
            if let Some(v) = expected_version
                && v != row.version
            {
                return Err(AccountError::VersionMismatch {
                    current: row.version,
                });
            }
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
            row.updated_at = now;
            row.version += 1;
            if !agent_store::update(conn, &row, read, None)? {
                return Err(moved_on(conn, id)?);
            }
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
                    action: "agent.delete",
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

/// Creates the built-in roles that are missing (idempotent).
/// The names of the roles an agent can be given.
pub fn known_roles(conn: &mut DbConn) -> QueryResult<HashSet<String>> {
    Ok(roles::table
        .select(roles::name)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

pub fn ensure_builtin_roles(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let mut created = 0;
    for t in crate::domain::roles::BUILTIN_ROLES {
        let exists: i64 = roles::table
            .filter(roles::name.eq(t.name))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            diesel::insert_into(roles::table)
                .values(crate::store::models::RoleRow {
                    name: t.name.into(),
                    description: t.description.into(),
                    permissions: json!(t.permissions).to_string(),
                    builtin: true,
                    default_max_chats: t.default_max_chats,
                    default_channels: json!(t.default_channels).to_string(),
                    created_at: now,
                    updated_at: now,
                })
                .execute(conn)?;
            created += 1;
        }
    }
    Ok(created)
}

/// The first of the IdP-stated `roles` (primary first) that names a Rollcall role.
fn role_named_in(conn: &mut DbConn, profile: &AgentProfile) -> QueryResult<Option<String>> {
    let mut candidates: Vec<&str> = profile
        .roles
        .iter()
        .filter(|r| r.primary)
        .map(|r| r.value.as_str())
        .collect();
    candidates.extend(
        profile
            .roles
            .iter()
            .filter(|r| !r.primary)
            .map(|r| r.value.as_str()),
    );
    for c in candidates {
        let found: Option<String> = roles::table
            .filter(roles::name.eq(c))
            .select(roles::name)
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn ensure_role(conn: &mut DbConn, role: &str) -> Result<(), AccountError> {
    let n: i64 = roles::table
        .filter(roles::name.eq(role))
        .count()
        .get_result(conn)?;
    if n == 0 {
        return Err(unknown_role(conn, role));
    }
    Ok(())
}

fn unknown_role(conn: &mut DbConn, role: &str) -> AccountError {
    let known: Vec<String> = roles::table
        .select(roles::name)
        .order(roles::name)
        .load(conn)
        .unwrap_or_default();
    AccountError::Invalid(format!(
        "unknown role {role:?}; roles: {}",
        known.join(", ")
    ))
}

/// The error for a compare-and-set that found another version: the agent's version now.
fn moved_on(conn: &mut DbConn, id: &str) -> Result<AccountError, AccountError> {
    let row = agent_store::get_row(conn, id)?
        .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
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

fn non_empty(what: &str, s: &str) -> Result<String, AccountError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AccountError::Invalid(format!("{what} must not be empty")));
    }
    Ok(t.to_owned())
}

/// The row of a new agent.
fn new_row(
    profile: &AgentProfile,
    id: &str,
    role: String,
    input: &AgentInput,
    source: &str,
    actor: &str,
    now: NaiveDateTime,
) -> AgentRow {
    let active = input.active.unwrap_or(true);
    AgentRow {
        id: id.to_owned(),
        external_id: profile.external_id.clone(),
        user_name: profile.user_name.clone(),
        display_name: profile.display_name.clone(),
        given_name: profile.given_name.clone(),
        family_name: profile.family_name.clone(),
        middle_name: profile.middle_name.clone(),
        formatted_name: profile.formatted_name.clone(),
        nickname: profile.nickname.clone(),
        title: profile.title.clone(),
        email: AgentProfile::primary_of(&profile.emails).map(str::to_owned),
        phone: AgentProfile::primary_of(&profile.phones).map(str::to_owned),
        employee_number: profile.employee_number.clone(),
        department: profile.department.clone(),
        manager_id: profile.manager_id.clone(),
        role,
        permission_overrides: "{}".into(),
        max_concurrent_chats: profile.max_concurrent_chats,
        status: if active {
            Status::Active
        } else {
            Status::Suspended
        }
        .as_str()
        .into(),
        login_blocked: input.login_blocked.unwrap_or(false),
        sessions_revoked_at: None,
        password_hash: input.password_hash.clone(),
        password_changed_at: input.password_hash.as_ref().map(|_| now),
        must_change_password: false,
        failed_logins: 0,
        locked_until: None,
        source: source.to_owned(),
        source_key: input.source_key.clone(),
        last_seen_at: Some(now),
        disabled_at: (!active).then_some(now),
        disabled_reason: (!active).then(|| format!("created inactive by {actor}")),
        purge_after: None,
        created_at: now,
        updated_at: now,
        version: 1,
        emails_inline: AgentProfile::lone_work(&profile.emails).is_some(),
        phones_inline: AgentProfile::lone_work(&profile.phones).is_some(),
        user_name_key: Some(names::fold(&profile.user_name)),
        user_name_clash: String::new(),
    }
}

/// The text rules of `domain::names` (a directory entry breaking one is reported, not
/// stored); on an update, for the values the agent does not hold yet.
fn check_text(p: &AgentProfile, before: Option<&AgentProfile>) -> Result<(), AccountError> {
    names::check_profile(p, before).map_err(|e| AccountError::Invalid(e.to_string()))
}

/// Trims and checks what every writer must respect.
fn normalise(mut p: AgentProfile) -> Result<AgentProfile, AccountError> {
    p.user_name = non_empty("userName", &p.user_name)?;
    if p.user_name.chars().count() > 256 {
        return Err(AccountError::Invalid(
            "userName is longer than 256 characters".into(),
        ));
    }
    if let Some(n) = p.max_concurrent_chats
        && n < 0
    {
        return Err(AccountError::Invalid(format!(
            "maxConcurrentChats must not be negative (got {n})"
        )));
    }
    for list in [&mut p.emails, &mut p.phones, &mut p.roles] {
        list.retain(|v| !v.value.trim().is_empty());
        let mut seen_primary = false;
        for v in list.iter_mut() {
            if v.primary {
                v.primary = !seen_primary;
                seen_primary = true;
            }
        }
    }
    for list in [&mut p.skill_groups, &mut p.channels] {
        let mut seen = HashSet::new();
        list.retain(|s| !s.trim().is_empty() && seen.insert(s.to_lowercase()));
    }
    Ok(p)
}

/// The stored row of an agent, for admin tooling and tests.
pub fn agent_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<AgentRow>> {
    agents::table
        .filter(agents::id.eq(id))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()
}
