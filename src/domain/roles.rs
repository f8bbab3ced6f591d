//! The permission catalog and the built-in role templates.

use chrono::NaiveDateTime;
use serde::Serialize;

/// A role as stored: a name, what it allows and what it gives new holders by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    pub description: String,
    /// Keys of the catalog, in catalog order.
    pub permissions: Vec<String>,
    /// Seeded from a template; read-only (but clonable).
    pub builtin: bool,
    pub default_max_concurrent_chats: i32,
    pub default_channels: Vec<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Every permission key Rollcall knows. Roles may only hold keys from this list.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("chat.reply", "Answer customer conversations"),
    ("chat.view_own", "See own conversations"),
    ("chat.view_team", "See the team's conversations"),
    ("chat.view_all", "See every conversation"),
    (
        "chat.transfer",
        "Transfer a conversation to another agent or queue",
    ),
    ("customer.view", "See customer profiles"),
    ("customer.edit", "Edit customer profiles"),
    ("customer.export", "Export customer data"),
    ("customer.view_phone", "See customers' full phone numbers"),
    ("ticket.handle", "Work on tickets"),
    ("reports.view_own", "See own performance reports"),
    ("reports.view_team", "See the team's reports"),
    ("reports.view_all", "See every report"),
    ("quick_replies.manage", "Manage shared quick replies"),
    ("autoreply.configure", "Configure automatic replies"),
    ("qa.review", "Score and annotate conversations for quality"),
    ("agents.manage", "Create, edit and disable agent accounts"),
    ("roles.manage", "Create and edit roles"),
    ("settings.manage", "Change workspace settings"),
    ("audit.view", "Read the audit log"),
    ("sync.manage", "Run and configure directory sync"),
];

/// A built-in role template.
#[derive(Debug, Clone, Copy)]
pub struct RoleTemplate {
    pub name: &'static str,
    pub description: &'static str,
    pub permissions: &'static [&'static str],
    pub default_max_chats: i32,
    pub default_channels: &'static [&'static str],
}

const AGENT: &[&str] = &[
    "chat.reply",
    "chat.view_own",
    "chat.transfer",
    "customer.view",
    "ticket.handle",
    "reports.view_own",
];

pub const BUILTIN_ROLES: &[RoleTemplate] = &[
    RoleTemplate {
        name: "agent",
        description: "Front-line agent: answers chats and tickets",
        permissions: AGENT,
        default_max_chats: 5,
        default_channels: &["web", "app"],
    },
    RoleTemplate {
        name: "senior_agent",
        description: "Experienced agent: also edits customers and manages quick replies",
        permissions: &[
            "chat.reply",
            "chat.view_own",
            "chat.view_team",
            "chat.transfer",
            "customer.view",
            "customer.edit",
            "customer.view_phone",
            "ticket.handle",
            "reports.view_own",
            "quick_replies.manage",
        ],
        default_max_chats: 8,
        default_channels: &["web", "app", "wechat"],
    },
    RoleTemplate {
        name: "team_lead",
        description: "Leads a team: sees the team's work and reports",
        permissions: &[
            "chat.reply",
            "chat.view_own",
            "chat.view_team",
            "chat.transfer",
            "customer.view",
            "customer.edit",
            "customer.view_phone",
            "ticket.handle",
            "reports.view_own",
            "reports.view_team",
            "quick_replies.manage",
            "autoreply.configure",
        ],
        default_max_chats: 4,
        default_channels: &["web", "app", "wechat", "phone"],
    },
    RoleTemplate {
        name: "qa_inspector",
        description: "Quality inspector: reviews conversations, does not answer them",
        permissions: &[
            "chat.view_all",
            "customer.view",
            "reports.view_team",
            "reports.view_all",
            "qa.review",
        ],
        default_max_chats: 0,
        default_channels: &[],
    },
    RoleTemplate {
        name: "admin",
        description: "Administrator: every permission",
        permissions: &[
            "chat.reply",
            "chat.view_own",
            "chat.view_team",
            "chat.view_all",
            "chat.transfer",
            "customer.view",
            "customer.edit",
            "customer.export",
            "customer.view_phone",
            "ticket.handle",
            "reports.view_own",
            "reports.view_team",
            "reports.view_all",
            "quick_replies.manage",
            "autoreply.configure",
            "qa.review",
            "agents.manage",
            "roles.manage",
            "settings.manage",
            "audit.view",
            "sync.manage",
        ],
        default_max_chats: 5,
        default_channels: &["web", "app", "wechat", "phone", "email"],
    },
];

pub fn is_known_permission(key: &str) -> bool {
    PERMISSIONS.iter().any(|(k, _)| *k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_use_only_catalog_permissions() {
        for role in BUILTIN_ROLES {
            for p in role.permissions {
                assert!(is_known_permission(p), "{} grants unknown {p}", role.name);
            }
        }
    }

    #[test]
    fn admin_holds_the_whole_catalog() {
        let admin = BUILTIN_ROLES.iter().find(|r| r.name == "admin");
        let admin = admin.map(|r| r.permissions.len());
        assert_eq!(admin, Some(PERMISSIONS.len()));
    }
}
