//! `[[permissions]]` (the chat platform's own permission keys, added to the catalog) and
//! `[[scim.group_roles]]` (SCIM groups whose members get a role).

use serde::Deserialize;

use super::{Config, ConfigError};
use crate::domain::permissions::{Catalog, ExtraPermission};

/// `[[permissions]]`: a permission key of the chat platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionConfig {
    /// Dot-separated lower-case parts (`softphone.use`); must not be one of Rollcall's keys.
    pub key: String,
    #[serde(default)]
    pub description: String,
    /// The built-in roles that hold it (`agent`, `senior_agent`, `team_lead`,
    /// `qa_inspector`, `admin`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[[scim.group_roles]]`: members of the SCIM group named `group` get `role` (the first
/// rule whose group holds the agent wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRoleConfig {
    /// The group's displayName, compared as names are (folded: case and width do not
    /// matter).
    pub group: String,
    pub role: String,
}

impl Config {
    /// The permission catalog in force: Rollcall's keys and `[[permissions]]`.
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        let extra: Vec<ExtraPermission> = self
            .permissions
            .iter()
            .map(|p| ExtraPermission {
                key: p.key.clone(),
                description: p.description.clone(),
                roles: p.roles.clone(),
            })
            .collect();
        Catalog::with_extra(&extra).map_err(ConfigError::Invalid)
    }

    pub(super) fn validate_access(&self) -> Result<(), ConfigError> {
        self.catalog()?;
        for (i, r) in self.scim.group_roles.iter().enumerate() {
            if r.group.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "scim.group_roles[{i}]: group must not be empty"
                )));
            }
            crate::domain::permissions::check_role_name(&r.role)
                .map_err(|e| ConfigError::Invalid(format!("scim.group_roles[{i}]: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_parts(text, Vec::<(String, String)>::new())
    }

    #[test]
    fn permissions_and_group_roles_load() {
        let c = load(
            r#"
[[permissions]]
key = "softphone.use"
description = "Use the softphone"
roles = ["agent", "team_lead", "admin"]

[[scim.group_roles]]
group = "Support Leads"
role = "team_lead"
"#,
        )
        .expect("valid");
        let catalog = c.catalog().expect("catalog");
        assert!(catalog.contains("softphone.use"));
        assert_eq!(c.scim.group_roles[0].role, "team_lead");
    }

    #[test]
    fn a_bad_or_clashing_key_is_a_config_error() {
        for (text, says) in [
            ("[[permissions]]\nkey = \"chat.reply\"\n", "Rollcall's own"),
            ("[[permissions]]\nkey = \"Softphone\"\n", "permissions[0]"),
            (
                "[[permissions]]\nkey = \"a.b\"\nroles = [\"boss\"]\n",
                "not a built-in role",
            ),
            ("[[permissions]]\nkey = \"a.b\"\nrole = []\n", "role"),
            (
                "[[scim.group_roles]]\ngroup = \"x\"\nrole = \"Team Lead\"\n",
                "scim.group_roles[0]",
            ),
        ] {
            let msg = load(text).expect_err(text).to_string();
            assert!(msg.contains(says), "{text}: {msg}");
        }
    }
}
