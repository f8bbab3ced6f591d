//! The rules the gateway checks roles and permissions against: the permission catalog,
//! the channel catalog and the SCIM group → role rules, all from the configuration.

use crate::config::{Config, ConfigError};
use crate::domain::names;
use crate::domain::permissions::Catalog;

/// The configuration's part in roles and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRules {
    pub catalog: Catalog,
    /// The channels a role may give by default (`accounts.channels`).
    pub channels: Vec<String>,
    /// `[[scim.group_roles]]` in order: (the group's folded displayName, the group name as
    /// configured, the role).
    pub group_roles: Vec<GroupRole>,
}

/// One SCIM group → role rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRole {
    /// `names::fold` of the group's name: what a group's `display_name_key` is compared to.
    pub key: String,
    pub group: String,
    pub role: String,
}

impl Default for AccessRules {
    fn default() -> Self {
        AccessRules {
            catalog: Catalog::builtin(),
            channels: crate::config::AccountsConfig::default().channels,
            group_roles: Vec::new(),
        }
    }
}

impl AccessRules {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(AccessRules {
            catalog: config.catalog()?,
            channels: config.accounts.channels.clone(),
            group_roles: config
                .scim
                .group_roles
                .iter()
                .map(|r| GroupRole {
                    key: names::fold(r.group.trim()),
                    group: r.group.trim().to_owned(),
                    role: r.role.clone(),
                })
                .collect(),
        })
    }

    /// Whether a group whose folded name is `key` gives its members a role.
    pub fn maps_group(&self, key: Option<&str>) -> bool {
        key.is_some_and(|k| self.group_roles.iter().any(|r| r.key == k))
    }
}
