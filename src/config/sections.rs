//! The fixed sections of the configuration (`[server]`, `[database]`, `[scim]`,
//! `[accounts]` with `[accounts.approval]`, `[log]`) and their defaults.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP listener binds.
    pub listen: String,
    /// Base URL clients use to reach Rollcall (for `meta.location`); derived from `listen`
    /// when unset.
    pub public_url: Option<String>,
    /// HTTP worker threads; defaults to the number of CPUs.
    pub workers: Option<usize>,
    /// Seconds a client has to send a request's whole body; a body that stalls or never
    /// ends is answered with 408 and the connection closed.
    pub body_timeout_secs: u64,
    /// Largest request head (request line and headers) answered normally, in bytes; a
    /// larger one gets 431.
    pub max_head_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            workers: None,
            body_timeout_secs: 20,
            max_head_bytes: 32 * 1024,
        }
    }
}

impl ServerConfig {
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default) or `postgres://…`.
    pub url: String,
    pub pool_size: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://rollcall.db".into(),
            pool_size: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    /// Largest page a list or search returns (`count` is capped to it).
    pub max_results: u32,
    /// Page size when the client gives no `count`.
    pub default_count: u32,
    /// Largest request body accepted, in bytes (advertised as `bulk.maxPayloadSize`).
    pub max_payload_bytes: usize,
    /// Most operations in one Bulk request.
    pub max_bulk_operations: u32,
    /// The key list cursors are signed with (at least 32 characters; any text). When unset,
    /// a random key kept in the database (`server_keys`) is used, the same for every node
    /// on that database.
    pub cursor_key: Option<String>,
    /// Most values a multi-valued User attribute (`emails`, `phoneNumbers`, `roles`,
    /// `skillGroups`, `channels`, …) may hold after a create, replace or PATCH. A Group's
    /// `members` are not counted.
    pub max_values_per_attribute: usize,
    /// Most work one PATCH may ask for: each operation counts the comparisons in its value
    /// filter (`emails[type eq "work" and value co "x"]` counts 2), or 1 without a filter.
    pub max_patch_terms: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_results: 1000,
            default_count: 100,
            max_payload_bytes: 1024 * 1024,
            max_bulk_operations: 1000,
            cursor_key: None,
            max_values_per_attribute: 100,
            max_patch_terms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Role given to agents whose source names none.
    pub default_role: String,
    /// Days a deleted agent's row is kept before it is purged.
    pub deleted_grace_days: u32,
    /// How often the purge runs, in seconds.
    pub purge_interval_secs: u64,
    /// The channels an agent can serve (the chat platform's names). An agent's `channels`
    /// and a role's default channels are checked against this list.
    pub channels: Vec<String>,
    /// Whether new agents start `pending` until an admin approves them, for every door not
    /// configured in `[accounts.approval]` (or, for a sync source, its `require_approval`).
    pub require_approval: bool,
    /// `[accounts.approval]`: approval per door, and the four-eyes rule.
    pub approval: ApprovalConfig,
}

/// `[accounts.approval]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// Agents created through the admin API start `pending` (default: `require_approval`).
    pub admin: Option<bool>,
    /// Agents created by imports start `pending`.
    pub import: Option<bool>,
    /// Agents created over SCIM start `pending`.
    pub scim: Option<bool>,
    /// The approver must not be whoever created the agent.
    pub four_eyes: bool,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            default_role: "agent".into(),
            deleted_grace_days: 30,
            purge_interval_secs: 3600,
            channels: ["web", "app", "wechat", "phone", "email", "ticket"]
                .map(String::from)
                .to_vec(),
            require_approval: false,
            approval: ApprovalConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `rollcall=debug,actix_web=info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
