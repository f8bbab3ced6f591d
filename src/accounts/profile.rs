//! What every writer must respect of an agent's profile (text rules, trimmed values, one
//! primary per list), and the row a new agent starts from.

use std::collections::HashSet;

use chrono::NaiveDateTime;

use super::{AccountError, AgentInput};
use crate::domain::{AgentProfile, Status, names};
use crate::store::models::AgentRow;

pub(super) fn non_empty(what: &str, s: &str) -> Result<String, AccountError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AccountError::Invalid(format!("{what} must not be empty")));
    }
    Ok(t.to_owned())
}

/// The row of a new agent; `pending` when its door needs approval.
#[allow(clippy::too_many_arguments)]
pub(super) fn new_row(
    profile: &AgentProfile,
    id: &str,
    role: String,
    input: &AgentInput,
    source: &str,
    actor: &str,
    now: NaiveDateTime,
    pending: bool,
) -> AgentRow {
    let active = input.active.unwrap_or(true);
    let status = match (pending, active) {
        (true, _) => Status::Pending,
        (false, true) => Status::Active,
        (false, false) => Status::Suspended,
    };
    let active = active || pending;
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
        preferred_language: profile.preferred_language.clone(),
        title: profile.title.clone(),
        email: AgentProfile::primary_of(&profile.emails).map(str::to_owned),
        phone: AgentProfile::primary_of(&profile.phones).map(str::to_owned),
        employee_number: profile.employee_number.clone(),
        department: profile.department.clone(),
        manager_id: profile.manager_id.clone(),
        role,
        permission_overrides: "{}".into(),
        max_concurrent_chats: profile.max_concurrent_chats,
        status: status.as_str().into(),
        login_blocked: input.login_blocked.unwrap_or(false),
        sessions_revoked_at: None,
        password_hash: input.password_hash.clone(),
        password_changed_at: input.password_hash.as_ref().map(|_| now),
        must_change_password: input.password_hash.is_some() && input.must_change_password,
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
pub(super) fn check_text(
    p: &AgentProfile,
    before: Option<&AgentProfile>,
) -> Result<(), AccountError> {
    names::check_profile(p, before).map_err(|e| AccountError::Invalid(e.to_string()))
}

/// Trims and checks what every writer must respect.
pub(super) fn normalise(mut p: AgentProfile) -> Result<AgentProfile, AccountError> {
    let field = |pointer: &str, message: String| AccountError::InvalidField {
        pointer: pointer.to_owned(),
        message,
    };
    p.user_name =
        non_empty("userName", &p.user_name).map_err(|e| field("/userName", e.to_string()))?;
    if p.user_name.chars().count() > 256 {
        return Err(field(
            "/userName",
            "userName is longer than 256 characters".into(),
        ));
    }
    if let Some(n) = p.max_concurrent_chats
        && n < 0
    {
        return Err(field(
            "/maxConcurrentChats",
            format!("maxConcurrentChats must not be negative (got {n})"),
        ));
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
