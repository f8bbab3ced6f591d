//! Rollcall's domain: agents, roles and their permission catalog, lifecycle states. Pure.

pub mod names;
pub mod permissions;
pub mod roles;
mod schedule;

pub use schedule::Schedule;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Lifecycle of an agent account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created but not yet approved by an admin.
    Pending,
    /// May log in and take chats.
    Active,
    /// Disabled (leaver, SCIM `active: false`, admin action); sessions revoked.
    Suspended,
    /// Gone for every reader; the row waits for the purge after the grace period.
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "active" => Some(Status::Active),
            "suspended" => Some(Status::Suspended),
            "deleted" => Some(Status::Deleted),
            _ => None,
        }
    }
}

/// One element of a multi-valued attribute (an email, a phone number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MultiValue {
    pub value: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub primary: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// The writable profile of an agent: what SCIM, sync, the admin API and imports set.
/// Serialised (without the password) into audit entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgentProfile {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub formatted_name: Option<String>,
    pub nickname: Option<String>,
    pub title: Option<String>,
    pub emails: Vec<MultiValue>,
    pub phones: Vec<MultiValue>,
    /// Roles as the identity provider states them (SCIM `roles`). A value naming a Rollcall
    /// role also selects that role's permission set when `role` is not given.
    pub roles: Vec<MultiValue>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    /// Role name; `None` means the configured default role.
    pub role: Option<String>,
    pub skill_groups: Vec<String>,
    pub max_concurrent_chats: Option<i32>,
    pub channels: Vec<String>,
    /// A BCP 47 tag (`zh-CN`; SCIM `preferredLanguage`): the language of the agent's mail.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

impl AgentProfile {
    /// The primary value of a multi-valued attribute, else its first.
    /// The value of a list that is one primary `work` value without display — the form a
    /// directory source writes and most IdPs send, kept in the agent's own column alone.
    pub fn lone_work(values: &[MultiValue]) -> Option<&str> {
        match values {
            [one]
                if one.primary && one.kind.as_deref() == Some("work") && one.display.is_none() =>
            {
                Some(one.value.as_str())
            }
            _ => None,
        }
    }

    pub fn primary_of(values: &[MultiValue]) -> Option<&str> {
        values
            .iter()
            .find(|v| v.primary)
            .or_else(|| values.first())
            .map(|v| v.value.as_str())
    }
}

/// An agent as stored: profile plus lifecycle and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: String,
    pub profile: AgentProfile,
    /// The effective role name.
    pub role: String,
    pub status: Status,
    pub login_blocked: bool,
    pub sessions_revoked_at: Option<NaiveDateTime>,
    pub has_password: bool,
    pub source: String,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl Agent {
    /// SCIM `active`.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

/// An agent as a sync source compares it with a person: its id, the source's key, its
/// lifecycle and the fields a source manages — nothing else. A run over a large directory
/// holds one per person, so this is all it loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedAgent {
    pub id: String,
    /// The person's stable key at the owning source.
    pub key: Option<String>,
    /// The agent's version (what a later write may expect).
    pub version: i64,
    pub status: Status,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    /// The effective role name.
    pub role: String,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub title: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub emails: SyncedValues,
    pub phones: SyncedValues,
    pub skill_groups: Vec<String>,
    /// The id an IdP gave the person (SCIM `externalId`): a link key.
    pub external_id: Option<String>,
    /// The agent's own source (`scim`, `admin`, `ldap:corp`…).
    pub source: String,
}

/// Copies the named fields (a sync plan's names: `department`, `name.givenName`, `emails`…)
/// of `from` into `into`.
pub fn take_fields(into: &mut AgentProfile, from: &AgentProfile, fields: &[impl AsRef<str>]) {
    for f in fields {
        match f.as_ref() {
            "userName" => into.user_name.clone_from(&from.user_name),
            "name.givenName" => into.given_name.clone_from(&from.given_name),
            "name.familyName" => into.family_name.clone_from(&from.family_name),
            "displayName" => into.display_name.clone_from(&from.display_name),
            "nickName" => into.nickname.clone_from(&from.nickname),
            "title" => into.title.clone_from(&from.title),
            "employeeNumber" => into.employee_number.clone_from(&from.employee_number),
            "department" => into.department.clone_from(&from.department),
            "manager" => into.manager_id.clone_from(&from.manager_id),
            "emails" => into.emails.clone_from(&from.emails),
            "phoneNumbers" => into.phones.clone_from(&from.phones),
            "role" => into.role.clone_from(&from.role),
            "skillGroups" => into.skill_groups.clone_from(&from.skill_groups),
            _ => {}
        }
    }
}

/// Prefixes of the `source` of agents a sync source made or took over.
pub const SYNC_PREFIXES: &[&str] = &["ldap:", "hr:"];

/// Whether `source` (an agent's `source`) is a sync source: another sync source that finds
/// the same person joins the agent rather than taking it over.
pub fn is_sync_source(source: &str) -> bool {
    SYNC_PREFIXES.iter().any(|p| source.starts_with(p))
}

/// An agent a sync source owns as a full run first loads it: enough to find each person's
/// agent, decide its lifecycle, and tell whether its managed fields can have changed —
/// without reading those fields. Only people whose agent may differ are compared field by
/// field, with a [`SourcedAgent`] loaded for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedAgent {
    pub id: String,
    pub key: Option<String>,
    pub version: i64,
    pub status: Status,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub user_name: String,
    /// The digest of the managed fields as the source last wrote or confirmed them, while
    /// nobody has changed the agent since (its version is still the one recorded with it).
    pub digest: Option<String>,
    /// What the source last wrote or confirmed, whatever has changed since: the per-field
    /// memory a `normal` owner needs (see `config::Strength`).
    pub offered: Option<String>,
    /// The agent is another source's, joined by this one (`agent_links`).
    pub joined: bool,
    /// More than one source describes the agent (joined, or joined by others): a source's
    /// empty value then clears nothing, since another may hold the field.
    pub shared: bool,
}

/// A multi-valued attribute (emails, phone numbers) of a [`SourcedAgent`]: as much of it as
/// a sync run needs — whether it is exactly what a source writes, and its primary value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncedValues {
    /// No value.
    Empty,
    /// One value, primary, of type `work`, without display: the form a source writes.
    Work(String),
    /// Any other list, with its primary value (else its first).
    Other(Option<String>),
}

impl SyncedValues {
    pub fn of(values: Vec<MultiValue>) -> SyncedValues {
        let primary = AgentProfile::primary_of(&values).map(str::to_owned);
        match <[MultiValue; 1]>::try_from(values) {
            Ok([one])
                if one.primary && one.kind.as_deref() == Some("work") && one.display.is_none() =>
            {
                SyncedValues::Work(one.value)
            }
            Ok(_) => SyncedValues::Other(primary),
            Err(rest) if rest.is_empty() => SyncedValues::Empty,
            Err(_) => SyncedValues::Other(primary),
        }
    }

    /// The primary value (else the first).
    pub fn primary(&self) -> Option<&str> {
        match self {
            SyncedValues::Empty => None,
            SyncedValues::Work(v) => Some(v),
            SyncedValues::Other(p) => p.as_deref(),
        }
    }

    /// Whether this is exactly what a source writes for `value`: that value as the one
    /// primary work value, or nothing.
    pub fn is_work(&self, value: Option<&String>) -> bool {
        match (self, value) {
            (SyncedValues::Empty, None) => true,
            (SyncedValues::Work(v), Some(want)) => v == want,
            _ => false,
        }
    }
}

/// A group member reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: String,
    pub kind: MemberKind,
    pub display: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MemberKind {
    User,
    Group,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "User",
            MemberKind::Group => "Group",
        }
    }
}

/// A group (team, skill group, department) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}
