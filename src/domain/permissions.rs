//! The permission catalog in force (Rollcall's keys plus the chat platform's own from the
//! configuration), the rules for role names and permission keys, per-agent overrides, an
//! agent's effective permissions with where each comes from, and what a change does to
//! them. Pure: no I/O.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::roles::{BUILTIN_ROLES, PERMISSIONS};

/// Longest role name.
pub const MAX_ROLE_NAME: usize = 64;
/// Longest permission key.
pub const MAX_KEY: usize = 64;
/// Longest role description.
pub const MAX_DESCRIPTION: usize = 500;
/// Largest default chat limit a role may give.
pub const MAX_CHATS: i32 = 1000;

/// One permission of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionDef {
    pub key: String,
    pub description: String,
    /// Rollcall's own key (`false`: declared in the configuration's `[[permissions]]`).
    pub builtin: bool,
    /// The built-in roles that hold it by default.
    pub default_roles: Vec<String>,
}

/// A permission the configuration declares (`[[permissions]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPermission {
    pub key: String,
    pub description: String,
    pub roles: Vec<String>,
}

/// Every key a role or an override may name: Rollcall's, then the configuration's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    defs: Vec<PermissionDef>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::builtin()
    }
}

impl Catalog {
    /// Rollcall's own keys only.
    pub fn builtin() -> Catalog {
        let defs = PERMISSIONS
            .iter()
            .map(|(key, description)| PermissionDef {
                key: (*key).to_owned(),
                description: (*description).to_owned(),
                builtin: true,
                default_roles: BUILTIN_ROLES
                    .iter()
                    .filter(|r| r.permissions.contains(key))
                    .map(|r| r.name.to_owned())
                    .collect(),
            })
            .collect();
        Catalog { defs }
    }

    /// Rollcall's keys and `extra`. Refuses a key of the wrong shape, one that is already
    /// Rollcall's or declared twice, and a role that is not a built-in one.
    pub fn with_extra(extra: &[ExtraPermission]) -> Result<Catalog, String> {
        let mut catalog = Catalog::builtin();
        for (i, p) in extra.iter().enumerate() {
            let at = format!("permissions[{i}] ({:?})", p.key);
            check_key(&p.key).map_err(|e| format!("{at}: {e}"))?;
            if let Some(d) = catalog.get(&p.key) {
                return Err(if d.builtin {
                    format!("{at}: {:?} is one of Rollcall's own keys", p.key)
                } else {
                    format!("{at}: {:?} is declared twice", p.key)
                });
            }
            super::names::check(
                "description",
                super::names::TextKind::FreeText,
                &p.description,
            )
            .map_err(|e| format!("{at}: {e}"))?;
            let mut roles = Vec::new();
            for r in &p.roles {
                if !BUILTIN_ROLES.iter().any(|t| t.name == r) {
                    return Err(format!(
                        "{at}: roles: {r:?} is not a built-in role ({})",
                        builtin_role_names().join(", ")
                    ));
                }
                if !roles.contains(r) {
                    roles.push(r.clone());
                }
            }
            catalog.defs.push(PermissionDef {
                key: p.key.clone(),
                description: p.description.clone(),
                builtin: false,
                default_roles: roles,
            });
        }
        Ok(catalog)
    }

    pub fn defs(&self) -> &[PermissionDef] {
        &self.defs
    }

    pub fn get(&self, key: &str) -> Option<&PermissionDef> {
        self.defs.iter().find(|d| d.key == key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// What built-in role `role` holds: its template's keys and the configuration's keys
    /// that name it, in catalog order. `None` for a role that is not built in.
    pub fn builtin_permissions(&self, role: &str) -> Option<Vec<String>> {
        BUILTIN_ROLES.iter().find(|t| t.name == role)?;
        Some(
            self.defs
                .iter()
                .filter(|d| d.default_roles.iter().any(|r| r == role))
                .map(|d| d.key.clone())
                .collect(),
        )
    }

    /// `keys` in catalog order without repeats; refuses unknown keys, naming every one.
    pub fn check_keys(&self, what: &str, keys: &[String]) -> Result<Vec<String>, String> {
        let unknown: Vec<&str> = keys
            .iter()
            .filter(|k| !self.contains(k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|k| format!("{k:?}")).collect();
            return Err(format!(
                "{what}: unknown permission{} {} (GET /api/v1/permissions or `rollcall roles permissions` lists the catalog)",
                if unknown.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        Ok(self.ordered(keys.iter().map(String::as_str)))
    }

    /// The known keys among `keys`, in catalog order (unknown ones dropped: a key a
    /// configuration no longer declares grants nothing).
    pub fn ordered<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let set: BTreeSet<&str> = keys.into_iter().collect();
        self.defs
            .iter()
            .filter(|d| set.contains(d.key.as_str()))
            .map(|d| d.key.clone())
            .collect()
    }
}

/// The names of the built-in roles.
pub fn builtin_role_names() -> Vec<&'static str> {
    BUILTIN_ROLES.iter().map(|t| t.name).collect()
}

/// A permission key: dot-separated parts of lower-case ASCII letters, digits and `_`, each
/// starting with a letter, at least two parts (`softphone.use`), at most 64 characters.
pub fn check_key(key: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let part_ok = |p: &&str| {
        p.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if key.len() > MAX_KEY || parts.len() < 2 || !parts.iter().all(part_ok) {
        return Err(format!(
            "permission key {key:?} must be dot-separated parts of lower-case letters, digits \
             and _, each starting with a letter, at least two parts, at most {MAX_KEY} \
             characters (e.g. \"softphone.use\")"
        ));
    }
    Ok(())
}

/// A role name: lower-case ASCII letters, digits, `_` and `-`, starting with a letter, at
/// most 64 characters.
pub fn check_role_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= MAX_ROLE_NAME
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        return Err(format!(
            "role name {name:?} must be lower-case letters, digits, _ or -, start with a letter \
             and have at most {MAX_ROLE_NAME} characters"
        ));
    }
    Ok(())
}

/// An agent's grants and denies on top of its role (stored as JSON in
/// `agents.permission_overrides`; `{}` is none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(default)]
    pub grant: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl Overrides {
    /// The stored text; anything unreadable counts as no overrides.
    pub fn parse(text: &str) -> Overrides {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The stored text: `{}` when there is none.
    pub fn to_text(&self) -> String {
        if self.is_empty() {
            return "{}".into();
        }
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn is_empty(&self) -> bool {
        self.grant.is_empty() && self.deny.is_empty()
    }

    /// Checked against `catalog` and put in its order; a key both granted and denied is
    /// refused.
    pub fn checked(self, catalog: &Catalog) -> Result<Overrides, String> {
        let grant = catalog.check_keys("grant", &self.grant)?;
        let deny = catalog.check_keys("deny", &self.deny)?;
        let both: Vec<&String> = grant.iter().filter(|k| deny.contains(k)).collect();
        if !both.is_empty() {
            return Err(format!(
                "{both:?} both granted and denied; a key is either granted or denied"
            ));
        }
        Ok(Overrides { grant, deny })
    }
}

/// Where a permission of an agent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// The agent's role holds it.
    Role,
    /// Granted to this agent on top of its role.
    Grant,
    /// Denied to this agent (a deny wins over the role and a grant).
    Deny,
}

/// One line of an agent's effective permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Effective {
    pub key: String,
    /// Whether the agent has it (`false` only for a denied key).
    pub granted: bool,
    pub source: Provenance,
    /// Whether the role holds it (a deny that takes away what the role gives, or a grant
    /// of what the role already gives).
    pub in_role: bool,
}

/// The effective permissions of an agent whose role holds `role` and who has
/// `overrides`, in catalog order: every key it has (from the role or a grant) and every
/// key denied to it. Keys the catalog no longer knows count for nothing.
pub fn effective(catalog: &Catalog, role: &[String], overrides: &Overrides) -> Vec<Effective> {
    let has = |list: &[String], k: &str| list.iter().any(|x| x == k);
    catalog
        .defs()
        .iter()
        .filter_map(|d| {
            let k = d.key.as_str();
            let in_role = has(role, k);
            let source = if has(&overrides.deny, k) {
                Provenance::Deny
            } else if in_role {
                Provenance::Role
            } else if has(&overrides.grant, k) {
                Provenance::Grant
            } else {
                return None;
            };
            Some(Effective {
                key: d.key.clone(),
                granted: source != Provenance::Deny,
                source,
                in_role,
            })
        })
        .collect()
}

/// The keys an agent has (granted ones only).
pub fn effective_set(
    catalog: &Catalog,
    role: &[String],
    overrides: &Overrides,
) -> BTreeSet<String> {
    effective(catalog, role, overrides)
        .into_iter()
        .filter(|e| e.granted)
        .map(|e| e.key)
        .collect()
}

/// What a change does to one agent's permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Change {
    pub gained: Vec<String>,
    pub lost: Vec<String>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.gained.is_empty() && self.lost.is_empty()
    }
}

/// From `before` to `after`, in catalog order.
pub fn diff(catalog: &Catalog, before: &BTreeSet<String>, after: &BTreeSet<String>) -> Change {
    Change {
        gained: catalog.ordered(after.difference(before).map(String::as_str)),
        lost: catalog.ordered(before.difference(after).map(String::as_str)),
    }
}

/// What an agent with `overrides` gains and loses when its role's permissions go from
/// `before` to `after` (or it moves from a role holding `before` to one holding `after`).
pub fn change_for(
    catalog: &Catalog,
    before: &[String],
    after: &[String],
    overrides: &Overrides,
) -> Change {
    diff(
        catalog,
        &effective_set(catalog, before, overrides),
        &effective_set(catalog, after, overrides),
    )
}

#[cfg(test)]
#[path = "permissions_tests.rs"]
mod tests;
