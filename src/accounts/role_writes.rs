//! The gateway's role writes: create, clone, update (with the impact on the holders and
//! their events), delete — each checked against the catalogs, written with its audit entry
//! (`role.create|update|delete`) in one transaction. Built-in roles are read-only here; at
//! start-up they follow their templates and the configuration (`Accounts::prepare_roles`).

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::role_changes::RoleImpact;
use super::{AccountError, Accounts};
use crate::audit::{self, Entry};
use crate::domain::names::{self, TextKind};
use crate::domain::permissions::{MAX_CHATS, MAX_DESCRIPTION, check_role_name};
use crate::domain::roles::Role;
use crate::store::{DbConn, roles as role_store, write_tx};

/// A role to create.
#[derive(Debug, Clone, Default)]
pub struct NewRole {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// 5 when not given.
    pub default_max_concurrent_chats: Option<i32>,
    pub default_channels: Vec<String>,
}

/// A change to a role; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePatch {
    pub description: Option<String>,
    /// The whole new list.
    pub permissions: Option<Vec<String>>,
    pub default_max_concurrent_chats: Option<i32>,
    pub default_channels: Option<Vec<String>>,
}

/// A role as written (or as it would be, for a dry run) and what the change does to its
/// holders.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleWrite {
    pub role: Role,
    pub dry_run: bool,
    /// Who gains and who loses which permission (empty when the permissions stay).
    pub impact: RoleImpact,
}

impl Accounts {
    /// Checks a role's fields against the rules and catalogs; the permissions come back in
    /// catalog order.
    fn checked(&self, role: &mut Role) -> Result<(), AccountError> {
        role.description = role.description.trim().to_owned();
        names::check("description", TextKind::FreeText, &role.description)
            .map_err(|e| field("/description", e.to_string()))?;
        if role.description.chars().count() > MAX_DESCRIPTION {
            return Err(field(
                "/description",
                format!("description: at most {MAX_DESCRIPTION} characters"),
            ));
        }
        role.permissions = self
            .access
            .catalog
            .check_keys("permissions", &role.permissions)
            .map_err(|m| field("/permissions", m))?;
        if !(0..=MAX_CHATS).contains(&role.default_max_concurrent_chats) {
            return Err(field(
                "/defaultMaxConcurrentChats",
                format!(
                    "defaultMaxConcurrentChats: {} is not between 0 and {MAX_CHATS}",
                    role.default_max_concurrent_chats
                ),
            ));
        }
        let known = &self.access.channels;
        let unknown: Vec<String> = role
            .default_channels
            .iter()
            .filter(|c| !known.contains(c))
            .map(|c| format!("{c:?}"))
            .collect();
        if !unknown.is_empty() {
            return Err(field(
                "/defaultChannels",
                format!(
                    "defaultChannels: unknown channel{} {} (accounts.channels: {})",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", "),
                    known.join(", ")
                ),
            ));
        }
        let mut seen = Vec::new();
        role.default_channels.retain(|c| {
            let first = !seen.contains(c);
            seen.push(c.clone());
            first
        });
        Ok(())
    }

    pub fn create_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        new: NewRole,
        now: NaiveDateTime,
    ) -> Result<Role, AccountError> {
        check_role_name(&new.name).map_err(|m| field("/name", m))?;
        let mut role = Role {
            name: new.name,
            description: new.description,
            permissions: new.permissions,
            builtin: false,
            default_max_concurrent_chats: new.default_max_concurrent_chats.unwrap_or(5),
            default_channels: new.default_channels,
            created_at: now,
            updated_at: now,
        };
        self.checked(&mut role)?;
        self.insert_role(conn, actor, role, None, now)
    }

    /// A new custom role with `source`'s permissions and defaults (a built-in template or
    /// any role).
    pub fn clone_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        source: &str,
        name: &str,
        description: Option<String>,
        now: NaiveDateTime,
    ) -> Result<Role, AccountError> {
        check_role_name(name).map_err(|m| field("/name", m))?;
        write_tx(conn, |conn| {
            let from = role_store::get(conn, source)?
                .ok_or_else(|| AccountError::NotFound(format!("role {source:?}")))?;
            let mut role = Role {
                name: name.to_owned(),
                description: description.unwrap_or_else(|| from.description.clone()),
                builtin: false,
                created_at: now,
                updated_at: now,
                ..from
            };
            // The source's keys may include ones the configuration no longer declares.
            role.permissions = self
                .access
                .catalog
                .ordered(role.permissions.iter().map(String::as_str));
            role.default_channels
                .retain(|c| self.access.channels.contains(c));
            self.checked(&mut role)?;
            let reason = format!("cloned from {source}");
            self.insert_role(conn, actor, role, Some(&reason), now)
        })
    }

    fn insert_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        role: Role,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Role, AccountError> {
        write_tx(conn, |conn| {
            if role_store::get(conn, &role.name)?.is_some() {
                return Err(AccountError::Conflict(format!(
                    "a role named {:?} already exists",
                    role.name
                )));
            }
            role_store::insert(conn, &role)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "role.create",
                    target_type: "role",
                    target_id: &role.name,
                    before: None,
                    after: Some(snapshot(&role)),
                    reason,
                },
            )?;
            Ok(role)
        })
    }

    /// Changes a custom role. With `dry_run`, nothing is written: the role as it would be
    /// and who would gain and lose which permission. Otherwise one `role.update` entry and,
    /// when the permissions change, one `agent.permissions_change` entry per holder whose
    /// effective permissions change, all in one transaction.
    pub fn update_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        name: &str,
        patch: RolePatch,
        dry_run: bool,
        now: NaiveDateTime,
    ) -> Result<RoleWrite, AccountError> {
        let run = |conn: &mut DbConn| {
            let current = role_store::get(conn, name)?
                .ok_or_else(|| AccountError::NotFound(format!("role {name:?}")))?;
            if current.builtin {
                return Err(read_only(name));
            }
            let mut role = current.clone();
            if let Some(d) = patch.description {
                role.description = d;
            }
            if let Some(p) = patch.permissions {
                role.permissions = p;
            }
            if let Some(m) = patch.default_max_concurrent_chats {
                role.default_max_concurrent_chats = m;
            }
            if let Some(c) = patch.default_channels {
                role.default_channels = c;
            }
            self.checked(&mut role)?;
            self.write_role_change(conn, actor, &current, role, dry_run, None, now)
        };
        if dry_run {
            run(conn)
        } else {
            write_tx(conn, run)
        }
    }

    /// Writes `role` over `current` (or, with `dry_run`, only works out what that would
    /// do), with its audit entry and its holders' events. Runs inside the caller's
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_role_change(
        &self,
        conn: &mut DbConn,
        actor: &str,
        current: &Role,
        mut role: Role,
        dry_run: bool,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<RoleWrite, AccountError> {
        let impact = self.role_impact(conn, current, &role.permissions)?;
        let (before, after) = diff(&snapshot(current), &snapshot(&role));
        if dry_run || after.is_empty() && before.is_empty() {
            return Ok(RoleWrite {
                role: if dry_run { role } else { current.clone() },
                dry_run,
                impact,
            });
        }
        role.updated_at = now;
        role_store::update(conn, &role)?;
        audit::append(
            conn,
            Entry {
                at: now,
                actor,
                action: "role.update",
                target_type: "role",
                target_id: &role.name,
                before: Some(Value::Object(before)),
                after: Some(Value::Object(after)),
                reason,
            },
        )?;
        self.write_permission_events(conn, actor, &impact, now)?;
        Ok(RoleWrite {
            role,
            dry_run,
            impact,
        })
    }

    /// What giving role `name` (built-in or custom) the permissions `permissions` would do
    /// to its holders; nothing is written. For a preview of a built-in role's change, which
    /// comes through the configuration.
    pub fn role_permissions_impact(
        &self,
        conn: &mut DbConn,
        name: &str,
        permissions: Vec<String>,
    ) -> Result<RoleWrite, AccountError> {
        let current = role_store::get(conn, name)?
            .ok_or_else(|| AccountError::NotFound(format!("role {name:?}")))?;
        let mut role = current.clone();
        role.permissions = self
            .access
            .catalog
            .check_keys("permissions", &permissions)
            .map_err(AccountError::Invalid)?;
        let impact = self.role_impact(conn, &current, &role.permissions)?;
        Ok(RoleWrite {
            role,
            dry_run: true,
            impact,
        })
    }

    /// Deletes a custom role no agent holds and no `[[scim.group_roles]]` rule names.
    pub fn delete_role(
        &self,
        conn: &mut DbConn,
        actor: &str,
        name: &str,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let role = role_store::get(conn, name)?
                .ok_or_else(|| AccountError::NotFound(format!("role {name:?}")))?;
            if role.builtin {
                return Err(read_only(name));
            }
            let (live, deleted) = role_store::holders_of(conn, name)?;
            if live + deleted > 0 {
                let waiting = if deleted > 0 {
                    format!(" ({deleted} of them deleted, until their purge)")
                } else {
                    String::new()
                };
                return Err(AccountError::Conflict(format!(
                    "role {name:?} is held by {} agent{}{waiting}; give them another role first",
                    live + deleted,
                    if live + deleted == 1 { "" } else { "s" }
                )));
            }
            if let Some(rule) = self.access.group_roles.iter().find(|r| r.role == name) {
                return Err(AccountError::Conflict(format!(
                    "role {name:?} is given to the members of SCIM group {:?} (scim.group_roles); \
                     change the configuration first",
                    rule.group
                )));
            }
            role_store::delete(conn, name)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "role.delete",
                    target_type: "role",
                    target_id: name,
                    before: Some(snapshot(&role)),
                    after: None,
                    reason: None,
                },
            )?;
            Ok(())
        })
    }
}

/// A broken rule in the field at JSON pointer `pointer` (as the admin API writes a role).
fn field(pointer: &str, message: String) -> AccountError {
    AccountError::InvalidField {
        pointer: pointer.to_owned(),
        message,
    }
}

fn read_only(name: &str) -> AccountError {
    AccountError::Conflict(format!(
        "role {name:?} is built in and read-only; clone it to make a role of your own"
    ))
}

/// A role as its audit entries show it.
pub(super) fn snapshot(role: &Role) -> Value {
    json!({
        "description": role.description,
        "permissions": role.permissions,
        "defaultMaxConcurrentChats": role.default_max_concurrent_chats,
        "defaultChannels": role.default_channels,
    })
}

/// The fields that differ, before and after.
fn diff(before: &Value, after: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let (mut b, mut a) = (Map::new(), Map::new());
    if let (Some(bo), Some(ao)) = (before.as_object(), after.as_object()) {
        for (k, v) in ao {
            if bo.get(k) != Some(v) {
                b.insert(k.clone(), bo.get(k).cloned().unwrap_or(Value::Null));
                a.insert(k.clone(), v.clone());
            }
        }
    }
    (b, a)
}
