//! Row types: what diesel reads from and writes to each table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    agent_values, agents, api_tokens, audit_log, group_members, groups, mail_outbox, roles,
    webhook_deliveries, webhook_endpoints,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = agents, treat_none_as_null = true)]
pub struct AgentRow {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub formatted_name: Option<String>,
    pub nickname: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub role: String,
    pub permission_overrides: String,
    pub max_concurrent_chats: Option<i32>,
    pub status: String,
    pub login_blocked: bool,
    pub sessions_revoked_at: Option<NaiveDateTime>,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<NaiveDateTime>,
    pub must_change_password: bool,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub source: String,
    pub source_key: Option<String>,
    pub last_seen_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub purge_after: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    /// The email list is `email` alone, as its one primary work value (no value rows).
    pub emails_inline: bool,
    /// The phone list is `phone` alone, as its one primary work value (no value rows).
    pub phones_inline: bool,
    /// `domain::names::fold(user_name)`: what uniqueness and filters on `userName` compare.
    pub user_name_key: Option<String>,
    /// Empty, or the agent's own id when its key clashed with an older live agent's as the
    /// key was first computed (it is then outside the uniqueness rule until renamed).
    pub user_name_clash: String,
    /// A BCP 47 tag (`zh-CN`): the language of the agent's mail.
    pub preferred_language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_values)]
pub struct AgentValueRow {
    pub agent_id: String,
    pub attr: String,
    pub position: i32,
    pub value: String,
    pub kind: Option<String>,
    pub is_primary: bool,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = groups, treat_none_as_null = true)]
pub struct GroupRow {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    /// `domain::names::fold(display_name)`: what uniqueness and filters compare.
    pub display_name_key: Option<String>,
    /// As `AgentRow::user_name_clash`.
    pub display_name_clash: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_members)]
pub struct MemberRow {
    pub group_id: String,
    pub member_id: String,
    pub member_type: String,
    pub added_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    pub permissions: String,
    pub builtin: bool,
    pub default_max_chats: i32,
    pub default_channels: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub name: String,
    pub token_hash: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// A mail in the outbox, as stored (`mail::outbox`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: i64,
    pub agent_id: Option<String>,
    pub recipient: String,
    pub language: Option<String>,
    pub template: String,
    /// The template's values (JSON object).
    pub parameters: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub retried_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMailRow<'a> {
    pub agent_id: Option<&'a str>,
    pub recipient: &'a str,
    pub language: Option<&'a str>,
    pub template: &'a str,
    pub parameters: String,
    pub status: &'a str,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// A webhook endpoint: where events go, its secrets (JSON list, newest first), the event
/// types it takes (JSON list; empty: all) and how far delivery got.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpointRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub secrets: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// `config` or `api`.
    pub origin: String,
    /// The id of the last audit entry delivered or skipped.
    pub cursor: i64,
    /// Failed attempts at the head event so far.
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    /// One event asked to be delivered again, before the cursor's next.
    pub replay_event: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Events past the cursor already delivered by another lane (comma-separated ids).
    pub sent_ahead: String,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct NewWebhookEndpoint {
    pub name: String,
    pub url: String,
    pub secrets: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub origin: String,
    pub cursor: i64,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDeliveryRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: i64,
    pub attempt: i32,
    pub at: NaiveDateTime,
    /// The HTTP status answered; `None` when there was no answer (`error` says why).
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewWebhookDelivery {
    pub endpoint_id: i64,
    pub event_id: i64,
    pub attempt: i32,
    pub at: NaiveDateTime,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}
