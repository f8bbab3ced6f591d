//! What the audit log and the outbox record of an agent (no secrets): the profile with the
//! row's status, role and password time, as JSON. Two forms that produce the same text: a
//! `Value`, for updates that keep only the keys that changed, and text written straight from
//! the profile, for creates (no intermediate tree, one rendering for both the audit entry and
//! the event).

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::domain::{AgentProfile, MultiValue};
use crate::store::models::AgentRow;

/// The snapshot as a JSON value (keys in sorted order, as `serde_json::Map` keeps them).
pub(super) fn value(profile: &AgentProfile, row: &AgentRow) -> Value {
    let mut v = serde_json::to_value(profile).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), json!(row.status));
        m.insert("login_blocked".into(), json!(row.login_blocked));
        m.insert("role".into(), json!(row.role));
        if row.password_changed_at.is_some() {
            m.insert("password_changed_at".into(), json!(row.password_changed_at));
        }
    }
    v
}

/// The snapshot as JSON text, the same text `value(..).to_string()` gives.
pub(super) fn text(profile: &AgentProfile, row: &AgentRow) -> String {
    let view = View {
        channels: &profile.channels,
        department: &profile.department,
        display_name: &profile.display_name,
        emails: Values(&profile.emails),
        employee_number: &profile.employee_number,
        external_id: &profile.external_id,
        family_name: &profile.family_name,
        formatted_name: &profile.formatted_name,
        given_name: &profile.given_name,
        login_blocked: row.login_blocked,
        manager_id: &profile.manager_id,
        max_concurrent_chats: profile.max_concurrent_chats,
        middle_name: &profile.middle_name,
        nickname: &profile.nickname,
        password_changed_at: row.password_changed_at,
        phones: Values(&profile.phones),
        role: &row.role,
        roles: Values(&profile.roles),
        skill_groups: &profile.skill_groups,
        status: &row.status,
        title: &profile.title,
        user_name: &profile.user_name,
    };
    serde_json::to_string(&view).unwrap_or_else(|_| value(profile, row).to_string())
}

/// The snapshot's keys in the order a `serde_json::Map` sorts them.
#[derive(Serialize)]
struct View<'a> {
    channels: &'a [String],
    department: &'a Option<String>,
    display_name: &'a Option<String>,
    emails: Values<'a>,
    employee_number: &'a Option<String>,
    external_id: &'a Option<String>,
    family_name: &'a Option<String>,
    formatted_name: &'a Option<String>,
    given_name: &'a Option<String>,
    login_blocked: bool,
    manager_id: &'a Option<String>,
    max_concurrent_chats: Option<i32>,
    middle_name: &'a Option<String>,
    nickname: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_changed_at: Option<NaiveDateTime>,
    phones: Values<'a>,
    role: &'a str,
    roles: Values<'a>,
    skill_groups: &'a [String],
    status: &'a str,
    title: &'a Option<String>,
    user_name: &'a str,
}

/// A multi-valued attribute with each element's keys sorted.
struct Values<'a>(&'a [MultiValue]);

impl Serialize for Values<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| SortedValue {
            display: &v.display,
            primary: v.primary,
            kind: &v.kind,
            value: &v.value,
        }))
    }
}

#[derive(Serialize)]
struct SortedValue<'a> {
    #[serde(skip_serializing_if = "is_none")]
    display: &'a Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    primary: bool,
    #[serde(rename = "type", skip_serializing_if = "is_none")]
    kind: &'a Option<String>,
    value: &'a str,
}

fn is_none(v: &&Option<String>) -> bool {
    v.is_none()
}

/// Keeps only the keys whose values differ.
pub(super) fn diff(before: &Value, after: &Value) -> (Value, Value) {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return (before.clone(), after.clone());
    };
    let mut ob = Map::new();
    let mut oa = Map::new();
    for (k, av) in a {
        let bv = b.get(k).unwrap_or(&Value::Null);
        if bv != av {
            ob.insert(k.clone(), bv.clone());
            oa.insert(k.clone(), av.clone());
        }
    }
    (Value::Object(ob), Value::Object(oa))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AgentRow {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000)
            .map(|t| t.naive_utc())
            .unwrap_or_default();
        AgentRow {
            id: "id-1".into(),
            external_id: None,
            user_name: "ana".into(),
            display_name: None,
            given_name: None,
            family_name: None,
            middle_name: None,
            formatted_name: None,
            nickname: None,
            title: None,
            email: None,
            phone: None,
            employee_number: None,
            department: None,
            manager_id: None,
            role: "team_lead".into(),
            permission_overrides: "{}".into(),
            max_concurrent_chats: None,
            status: "active".into(),
            login_blocked: false,
            sessions_revoked_at: None,
            password_hash: None,
            password_changed_at: None,
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            source: "ldap:corp".into(),
            source_key: None,
            last_seen_at: Some(at),
            disabled_at: None,
            disabled_reason: None,
            purge_after: None,
            created_at: at,
            updated_at: at,
            version: 1,
            emails_inline: false,
            phones_inline: false,
        }
    }

    #[test]
    fn text_is_the_value_written_out() {
        let empty = AgentProfile::default();
        let full = AgentProfile {
            user_name: "ana \"the lead\" \u{e9}\n".into(),
            external_id: Some("ext-1".into()),
            display_name: Some("Ana".into()),
            given_name: Some("Ana".into()),
            family_name: Some("L\u{f3}pez".into()),
            middle_name: Some("M".into()),
            formatted_name: Some("Ana M. L\u{f3}pez".into()),
            nickname: Some("an".into()),
            title: Some("Lead".into()),
            emails: vec![
                MultiValue {
                    value: "ana@example.com".into(),
                    kind: Some("work".into()),
                    primary: true,
                    display: Some("work mail".into()),
                },
                MultiValue {
                    value: "a@example.org".into(),
                    ..MultiValue::default()
                },
            ],
            phones: vec![MultiValue {
                value: "+1 555".into(),
                kind: Some("work".into()),
                primary: true,
                display: None,
            }],
            roles: vec![MultiValue {
                value: "supervisor".into(),
                ..MultiValue::default()
            }],
            employee_number: Some("E1".into()),
            department: Some("Support".into()),
            manager_id: Some("id-0".into()),
            role: Some("agent".into()),
            skill_groups: vec!["vip".into(), "wechat".into()],
            max_concurrent_chats: Some(7),
            channels: vec!["chat".into()],
        };
        let mut with_password = row();
        with_password.password_changed_at = with_password.last_seen_at;
        with_password.login_blocked = true;
        for profile in [&empty, &full] {
            for row in [&row(), &with_password] {
                assert_eq!(text(profile, row), value(profile, row).to_string());
            }
        }
    }
}
