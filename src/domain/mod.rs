//! Rollcall's domain: agents, roles and their permission catalog, lifecycle states. Pure.

pub mod roles;

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
}

impl AgentProfile {
    /// The primary value of a multi-valued attribute, else its first.
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
