//! What the audit log records of an agent (no secrets), which is also the event's payload:
//! the profile with the row's status, role and password time, as JSON with its keys sorted.
//! Fields without a value (`null`, an empty list) are left out. Two forms that produce the
//! same text: a `Value`, for updates that keep only the keys that changed, and text written
//! straight from the profile, for creates (no intermediate tree).

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{AgentProfile, MultiValue};
use crate::store::models::AgentRow;

/// The snapshot as a JSON value (keys in sorted order, as `serde_json::Map` keeps them).
pub(super) fn value(profile: &AgentProfile, row: &AgentRow) -> Value {
    serde_json::to_value(view(profile, row)).unwrap_or(Value::Null)
}

/// The snapshot as JSON text, the same text `value(..).to_string()` gives.
pub(super) fn text(profile: &AgentProfile, row: &AgentRow) -> String {
    serde_json::to_string(&view(profile, row)).unwrap_or_else(|_| value(profile, row).to_string())
}

fn view<'a>(profile: &'a AgentProfile, row: &'a AgentRow) -> View<'a> {
    View {
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
        preferred_language: &profile.preferred_language,
        role: &row.role,
        roles: Values(&profile.roles),
        skill_groups: &profile.skill_groups,
        status: &row.status,
        title: &profile.title,
        user_name: &profile.user_name,
    }
}

/// The snapshot's keys in the order a `serde_json::Map` sorts them.
#[derive(Serialize)]
struct View<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    channels: &'a [String],
    #[serde(skip_serializing_if = "is_none")]
    department: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    display_name: &'a Option<String>,
    #[serde(skip_serializing_if = "Values::is_empty")]
    emails: Values<'a>,
    #[serde(skip_serializing_if = "is_none")]
    employee_number: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    external_id: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    family_name: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    formatted_name: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    given_name: &'a Option<String>,
    login_blocked: bool,
    #[serde(skip_serializing_if = "is_none")]
    manager_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_chats: Option<i32>,
    #[serde(skip_serializing_if = "is_none")]
    middle_name: &'a Option<String>,
    #[serde(skip_serializing_if = "is_none")]
    nickname: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_changed_at: Option<NaiveDateTime>,
    #[serde(skip_serializing_if = "Values::is_empty")]
    phones: Values<'a>,
    #[serde(skip_serializing_if = "is_none")]
    preferred_language: &'a Option<String>,
    role: &'a str,
    #[serde(skip_serializing_if = "Values::is_empty")]
    roles: Values<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    skill_groups: &'a [String],
    status: &'a str,
    #[serde(skip_serializing_if = "is_none")]
    title: &'a Option<String>,
    user_name: &'a str,
}

/// A multi-valued attribute with each element's keys sorted.
struct Values<'a>(&'a [MultiValue]);

impl Values<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

/// Keeps only the keys whose values differ; a key on one side only stands for `null` on the
/// other (snapshots leave out fields without a value), and is shown as `null` there.
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
    for (k, bv) in b {
        if !a.contains_key(k) {
            ob.insert(k.clone(), bv.clone());
            oa.insert(k.clone(), Value::Null);
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
            preferred_language: None,
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
            user_name_key: Some("ana".into()),
            user_name_clash: String::new(),
        }
    }

    #[test]
    fn text_is_the_value_written_out() {
        let empty = AgentProfile::default();
        let full = AgentProfile {
            user_name: "ana \"the lead\" \u{e9}\n".into(),
            external_id: Some("ext-1".into()),
            preferred_language: Some("pt-BR".into()),
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
        // Fields without a value are left out.
        assert_eq!(
            text(&empty, &row()),
            r#"{"login_blocked":false,"role":"team_lead","status":"active","user_name":""}"#
        );
    }

    #[test]
    fn diff_shows_a_field_that_lost_its_value_as_null() {
        let before = AgentProfile {
            nickname: Some("an".into()),
            title: Some("Agent".into()),
            ..AgentProfile::default()
        };
        let after = AgentProfile {
            title: Some("Lead".into()),
            department: Some("Support".into()),
            ..AgentProfile::default()
        };
        let (b, a) = diff(&value(&before, &row()), &value(&after, &row()));
        assert_eq!(
            b,
            serde_json::json!({"nickname": "an", "title": "Agent", "department": null})
        );
        assert_eq!(
            a,
            serde_json::json!({"nickname": null, "title": "Lead", "department": "Support"})
        );
    }
}
