//! How `rollcall agents` shows agents and audit entries: JSON objects for scripts, tables
//! and labelled lines for people.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use super::table::{Table, clean};
use crate::domain::{Agent, AgentProfile, Status};
use crate::store::models::AuditRow;

/// An agent for `--json`: camelCase names, times as RFC 3339 UTC.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentJson<'a> {
    pub id: &'a str,
    pub user_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<&'a str>,
    pub role: &'a str,
    pub skill_groups: &'a [String],
    pub channels: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_chats: Option<i32>,
    pub status: Status,
    pub login_blocked: bool,
    pub source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<&'a str>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn agent_json(a: &Agent) -> AgentJson<'_> {
    let p = &a.profile;
    AgentJson {
        id: &a.id,
        user_name: &p.user_name,
        display_name: p.display_name.as_deref(),
        given_name: p.given_name.as_deref(),
        family_name: p.family_name.as_deref(),
        email: AgentProfile::primary_of(&p.emails),
        phone: AgentProfile::primary_of(&p.phones),
        title: p.title.as_deref(),
        preferred_language: p.preferred_language.as_deref(),
        employee_number: p.employee_number.as_deref(),
        department: p.department.as_deref(),
        external_id: p.external_id.as_deref(),
        manager_id: p.manager_id.as_deref(),
        role: &a.role,
        skill_groups: &p.skill_groups,
        channels: &p.channels,
        max_concurrent_chats: p.max_concurrent_chats,
        status: a.status,
        login_blocked: a.login_blocked,
        source: &a.source,
        disabled_at: a.disabled_at.map(rfc3339),
        disabled_reason: a.disabled_reason.as_deref(),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
        version: a.version,
    }
}

/// An audit entry for `--json`.
pub fn audit_json(e: &AuditRow) -> Value {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .map(|s| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())))
    };
    serde_json::json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "targetType": e.target_type,
        "targetId": e.target_id,
        "before": parse(&e.before),
        "after": parse(&e.after),
        "reason": e.reason,
    })
}

/// The status as a person reads it: `active`, `active, forced offline`, …
pub fn status_text(a: &Agent) -> String {
    if a.login_blocked {
        format!("{}, forced offline", a.status.as_str())
    } else {
        a.status.as_str().to_owned()
    }
}

/// The list of agents as a table.
pub fn agents_table(agents: &[Agent]) -> String {
    let mut t = Table::new([
        "USERNAME",
        "DISPLAY NAME",
        "STATUS",
        "ROLE",
        "DEPARTMENT",
        "SOURCE",
        "ID",
    ]);
    for a in agents {
        let p = &a.profile;
        t.row([
            p.user_name.as_str(),
            p.display_name.as_deref().unwrap_or("-"),
            &status_text(a),
            &a.role,
            p.department.as_deref().unwrap_or("-"),
            &a.source,
            &a.id,
        ]);
    }
    t.render()
}

/// One agent, a field a line, then its latest audit entries.
pub fn agent_detail(a: &Agent, audit: &[AuditRow]) -> String {
    let p = &a.profile;
    let mut t = Table::new(["FIELD", "VALUE"]);
    let mut field = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            t.row([k, v]);
        }
    };
    field("id", Some(&a.id));
    field("userName", Some(&p.user_name));
    field("displayName", p.display_name.as_deref());
    field("givenName", p.given_name.as_deref());
    field("familyName", p.family_name.as_deref());
    field("email", AgentProfile::primary_of(&p.emails));
    field("phone", AgentProfile::primary_of(&p.phones));
    field("title", p.title.as_deref());
    field("preferredLanguage", p.preferred_language.as_deref());
    field("employeeNumber", p.employee_number.as_deref());
    field("department", p.department.as_deref());
    field("externalId", p.external_id.as_deref());
    field("managerId", p.manager_id.as_deref());
    field("status", Some(&status_text(a)));
    field("role", Some(&a.role));
    let skills = p.skill_groups.join(", ");
    field(
        "skillGroups",
        (!skills.is_empty()).then_some(skills.as_str()),
    );
    let channels = p.channels.join(", ");
    field(
        "channels",
        (!channels.is_empty()).then_some(channels.as_str()),
    );
    let chats = p.max_concurrent_chats.map(|n| n.to_string());
    field("maxConcurrentChats", chats.as_deref());
    field("source", Some(&a.source));
    let disabled = a.disabled_at.map(rfc3339);
    field("disabledAt", disabled.as_deref());
    field("disabledReason", a.disabled_reason.as_deref());
    field("created", Some(&rfc3339(a.created_at)));
    field("updated", Some(&rfc3339(a.updated_at)));
    field("version", Some(&a.version.to_string()));
    let mut out = t.render();
    // The header line of a key/value listing says nothing: drop it.
    if let Some(pos) = out.find('\n') {
        out.drain(..=pos);
    }
    out.push('\n');
    if audit.is_empty() {
        out.push_str("no audit entries\n");
    } else {
        out.push_str(&audit_table(audit));
    }
    out
}

/// Where each field came from: the last audit entry that wrote it.
pub fn provenance_table(
    p: &std::collections::BTreeMap<String, crate::audit::provenance::Provenance>,
) -> String {
    if p.is_empty() {
        return String::new();
    }
    let mut t = Table::new(["FIELD", "WRITTEN BY", "RUN", "WHEN", "ACTION"]);
    for (field, w) in p {
        t.row([
            field.clone(),
            w.source.clone().unwrap_or_else(|| w.actor.clone()),
            w.run_id
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            w.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            w.action.clone(),
        ]);
    }
    format!("\n{}", t.render())
}

/// Audit entries as a table (newest first, as given).
pub fn audit_table(entries: &[AuditRow]) -> String {
    let mut t = Table::new(["WHEN", "ACTOR", "ACTION", "REASON"]);
    for e in entries {
        t.row([
            e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.actor.clone(),
            e.action.clone(),
            clean(e.reason.as_deref().unwrap_or("-")),
        ]);
    }
    t.render()
}
