//! The JSON of one agent in the admin API (camelCase), shared by every endpoint that returns
//! agents, and its ETag.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Agent, AgentProfile};

/// An agent as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    #[schema(example = "01938f4e-7c1a-7d2e-9b1a-2f3c4d5e6f70")]
    pub id: String,
    #[schema(example = "ana.lima")]
    pub user_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    /// The primary email.
    pub email: Option<String>,
    /// The primary phone number.
    pub phone: Option<String>,
    /// The agent number.
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// Id of the agent's manager.
    pub manager_id: Option<String>,
    /// The agent's language (`zh-CN`): the language of its mail.
    pub preferred_language: Option<String>,
    /// Effective role name.
    #[schema(example = "agent")]
    pub role: String,
    pub skill_groups: Vec<String>,
    /// Channels from the configured catalog (`[accounts] channels`).
    pub channels: Vec<String>,
    pub max_concurrent_chats: Option<i32>,
    /// `pending`, `active`, `suspended` or `deleted`.
    #[schema(example = "active")]
    pub status: String,
    /// Forced offline: may not sign in until resumed.
    pub login_blocked: bool,
    /// Who manages the agent: `admin`, `scim:<token>`, `ldap:<source>`, …
    pub source: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change; the ETag is `W/"<version>"`.
    pub version: i64,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        let p = &a.profile;
        AgentView {
            id: a.id.clone(),
            user_name: p.user_name.clone(),
            display_name: p.display_name.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            nickname: p.nickname.clone(),
            email: AgentProfile::primary_of(&p.emails).map(str::to_owned),
            phone: AgentProfile::primary_of(&p.phones).map(str::to_owned),
            employee_number: p.employee_number.clone(),
            department: p.department.clone(),
            title: p.title.clone(),
            manager_id: p.manager_id.clone(),
            preferred_language: p.preferred_language.clone(),
            role: a.role.clone(),
            skill_groups: p.skill_groups.clone(),
            channels: p.channels.clone(),
            max_concurrent_chats: p.max_concurrent_chats,
            status: a.status.as_str().to_owned(),
            login_blocked: a.login_blocked,
            source: a.source.clone(),
            disabled_at: a.disabled_at.map(|t| t.and_utc()),
            disabled_reason: a.disabled_reason.clone(),
            created_at: a.created_at.and_utc(),
            updated_at: a.updated_at.and_utc(),
            version: a.version,
        }
    }
}

/// The ETag of a version: `W/"<version>"`, as SCIM's.
pub fn etag(version: i64) -> String {
    crate::scim::etag(version)
}

/// A JSON response with the agent and its ETag.
pub fn respond(status: StatusCode, agent: &Agent) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((actix_web::http::header::ETAG, etag(agent.version)))
        .json(AgentView::from(agent))
}
