//! The bodies that create and change an agent in the admin API, and how they become the
//! gateway's `AgentInput`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::accounts::AgentInput;
use crate::api::body::Patch;
use crate::api::problem::Problem;
use crate::domain::{Agent, AgentProfile, MultiValue};

/// A new agent. Only `userName` is required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAgent {
    #[schema(
        example = "ana.lima",
        min_length = 1,
        max_length = 256,
        pattern = "\\S"
    )]
    pub user_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    /// The primary (work) email.
    pub email: Option<String>,
    /// The primary (work) phone number.
    pub phone: Option<String>,
    /// The agent number.
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager_id: Option<String>,
    /// The agent's language (a BCP 47 tag such as `zh-CN`): the language of its mail.
    #[schema(example = "zh-CN")]
    pub preferred_language: Option<String>,
    /// A role name (default: `accounts.default_role`).
    pub role: Option<String>,
    #[serde(default)]
    pub skill_groups: Vec<String>,
    /// Channels from the catalog (`GET /api/v1/channels`).
    #[serde(default)]
    pub channels: Vec<String>,
    pub max_concurrent_chats: Option<i32>,
    /// `false` creates the agent suspended. An agent whose door needs approval starts
    /// `pending` either way.
    pub active: Option<bool>,
    /// What the agent gets to sign in with (default: `auth.new_agents`): `activation_link`
    /// (mailed, when it has an email), `initial_password` (answered once as
    /// `initialPassword`, to be changed at the first sign-in) or `none`.
    pub first_password: Option<crate::config::FirstPassword>,
}

/// A partial change: a field that is absent stays as it is, `null` clears it, a value sets
/// it (lists are replaced whole).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PatchAgent {
    /// Cannot be cleared (`null` is a 422).
    #[schema(value_type = String, min_length = 1, max_length = 256, pattern = "\\S")]
    pub user_name: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub display_name: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub given_name: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub family_name: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub nickname: Patch<String>,
    /// The primary email; other emails (set over SCIM) are kept.
    #[schema(value_type = Option<String>)]
    pub email: Patch<String>,
    /// The primary phone number; other numbers are kept.
    #[schema(value_type = Option<String>)]
    pub phone: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub employee_number: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub department: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub title: Patch<String>,
    #[schema(value_type = Option<String>)]
    pub manager_id: Patch<String>,
    /// The agent's language (`zh-CN`): the language of its mail.
    #[schema(value_type = Option<String>)]
    pub preferred_language: Patch<String>,
    /// `null`: the configured default role.
    #[schema(value_type = Option<String>)]
    pub role: Patch<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub skill_groups: Patch<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Patch<Vec<String>>,
    #[schema(value_type = Option<i32>)]
    pub max_concurrent_chats: Patch<i32>,
}

/// `{"reason": "…"}` of a lifecycle step.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why: kept in the audit log.
    #[schema(example = "left the team", min_length = 1, pattern = "\\S")]
    pub reason: String,
}

impl Reason {
    /// [`reason_text`] of the body's reason.
    pub fn text(&self) -> Result<String, Problem> {
        reason_text(&self.reason)
    }
}

/// A reason as the audit log keeps it: trimmed; an empty one, or one holding NUL, is a 422
/// at `/reason`.
pub fn reason_text(reason: &str) -> Result<String, Problem> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(Problem::invalid_field(
            "/reason",
            "reason must not be empty",
        ));
    }
    // PostgreSQL refuses NUL in text: the audit entry could not be written.
    if r.contains('\0') {
        return Err(Problem::invalid_field(
            "/reason",
            "reason must not contain NUL",
        ));
    }
    Ok(r.to_owned())
}

fn work(value: String) -> MultiValue {
    MultiValue {
        value,
        kind: Some("work".into()),
        primary: true,
        display: None,
    }
}

impl CreateAgent {
    pub fn into_input(self) -> AgentInput {
        AgentInput {
            profile: AgentProfile {
                user_name: self.user_name,
                display_name: self.display_name,
                given_name: self.given_name,
                family_name: self.family_name,
                nickname: self.nickname,
                title: self.title,
                emails: self.email.map(work).into_iter().collect(),
                phones: self.phone.map(work).into_iter().collect(),
                employee_number: self.employee_number,
                department: self.department,
                manager_id: self.manager_id,
                preferred_language: self.preferred_language,
                role: self.role,
                skill_groups: self.skill_groups,
                max_concurrent_chats: self.max_concurrent_chats,
                channels: self.channels,
                ..AgentProfile::default()
            },
            active: self.active,
            first_password: self.first_password,
            ..AgentInput::default()
        }
    }
}

/// Replaces the primary value of `list` (keeping the others), or removes it.
fn set_primary(list: &mut Vec<MultiValue>, change: Patch<String>) {
    let at = list
        .iter()
        .position(|v| v.primary)
        .or((!list.is_empty()).then_some(0));
    match (change, at) {
        (Patch::Absent, _) => {}
        (Patch::Null, Some(i)) => {
            list.remove(i);
        }
        (Patch::Null, None) => {}
        (Patch::Set(v), Some(i)) => list[i].value = v,
        (Patch::Set(v), None) => list.push(work(v)),
    }
}

impl PatchAgent {
    /// The agent after this change, as the gateway's input (`default_role` for `role:
    /// null`). Made from the agent as read inside the write transaction.
    pub fn apply(self, current: &Agent, default_role: &str) -> Result<AgentInput, Problem> {
        let mut p = current.profile.clone();
        p.user_name = match self.user_name {
            Patch::Absent => p.user_name,
            Patch::Null => {
                return Err(Problem::invalid_field(
                    "/userName",
                    "userName cannot be cleared",
                ));
            }
            Patch::Set(v) => v,
        };
        p.display_name = self.display_name.apply(p.display_name);
        p.given_name = self.given_name.apply(p.given_name);
        p.family_name = self.family_name.apply(p.family_name);
        p.nickname = self.nickname.apply(p.nickname);
        p.employee_number = self.employee_number.apply(p.employee_number);
        p.department = self.department.apply(p.department);
        p.title = self.title.apply(p.title);
        p.manager_id = self.manager_id.apply(p.manager_id);
        p.preferred_language = self.preferred_language.apply(p.preferred_language);
        set_primary(&mut p.emails, self.email);
        set_primary(&mut p.phones, self.phone);
        p.role = match self.role {
            Patch::Absent => Some(current.role.clone()),
            Patch::Null => Some(default_role.to_owned()),
            Patch::Set(r) => Some(r),
        };
        p.skill_groups = self
            .skill_groups
            .apply(Some(p.skill_groups))
            .unwrap_or_default();
        p.channels = self.channels.apply(Some(p.channels)).unwrap_or_default();
        p.max_concurrent_chats = self.max_concurrent_chats.apply(p.max_concurrent_chats);
        Ok(AgentInput {
            profile: p,
            ..AgentInput::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_value_is_replaced_or_removed_others_kept() {
        let mut list = vec![
            MultiValue {
                value: "home@x".into(),
                kind: Some("home".into()),
                primary: false,
                display: None,
            },
            work("old@x".into()),
        ];
        set_primary(&mut list, Patch::Set("new@x".into()));
        assert_eq!(list[1].value, "new@x");
        assert_eq!(list[0].value, "home@x");
        set_primary(&mut list, Patch::Null);
        assert_eq!(list.len(), 1);
        let mut empty = Vec::new();
        set_primary(&mut empty, Patch::Set("a@x".into()));
        assert_eq!(empty, vec![work("a@x".into())]);
    }
}
