//! `[ownership]`: which sync sources write which agent fields when several of them describe
//! the same person, in order of authority and how strongly; which of them may disable and
//! enable. Resolved per source into the view its planner needs ([`SourceOwnership`]).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::ConfigError;

/// `[ownership]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnershipConfig {
    /// Field → its owners in order of authority: a source's name, or `name:strong`,
    /// `name:normal`, `name:weak`. The first owner is `strong` unless it says otherwise, the
    /// others `weak`. `status` names the sources that may disable.
    pub fields: BTreeMap<String, Vec<String>>,
    /// The status owners that may also enable (lift their own suspensions, activate a
    /// pre-hire). Unset: every status owner.
    pub enable: Option<Vec<String>>,
}

/// How firmly an owner holds a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Always enforced: a change made elsewhere is put back.
    Strong,
    /// Written when the owner's value changes; a change made elsewhere stays until then.
    Normal,
    /// Written only while the field is empty.
    Weak,
}

impl Strength {
    fn parse(s: &str) -> Option<Strength> {
        match s {
            "strong" => Some(Strength::Strong),
            "normal" => Some(Strength::Normal),
            "weak" => Some(Strength::Weak),
            _ => None,
        }
    }
}

/// The fields `[ownership.fields]` may name, with the name a plan gives each change.
pub const OWNED_FIELDS: &[(&str, &str)] = &[
    ("user_name", "userName"),
    ("given_name", "name.givenName"),
    ("family_name", "name.familyName"),
    ("display_name", "displayName"),
    ("nickname", "nickName"),
    ("title", "title"),
    ("employee_number", "employeeNumber"),
    ("department", "department"),
    ("manager", "manager"),
    ("email", "emails"),
    ("phone", "phoneNumbers"),
    ("role", "role"),
    ("skill_groups", "skillGroups"),
];

/// The owner name that stands for identity providers' SCIM writes in `[ownership.fields]`.
pub const SCIM_OWNER: &str = "scim";

/// One source's share of `[ownership]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOwnership {
    /// Configured fields (by the plan's name) → this source's strength, `None` when it is
    /// not among their owners. A field not here follows the default: strong for the
    /// agent's own source, weak for a source that joined it.
    pub fields: HashMap<&'static str, Option<Strength>>,
    /// Whether the source may disable (`status` configured and the source not named: no).
    pub disables: bool,
    /// Whether the source may enable.
    pub enables: bool,
}

impl SourceOwnership {
    /// Every field by the default, status included.
    pub fn unconfigured() -> SourceOwnership {
        SourceOwnership {
            fields: HashMap::new(),
            disables: true,
            enables: true,
        }
    }

    /// This source's strength for a field of an agent it made (`own`) or joined.
    pub fn strength(&self, field: &str, own: bool) -> Option<Strength> {
        match self.fields.get(field) {
            Some(s) => *s,
            None if own => Some(Strength::Strong),
            None => Some(Strength::Weak),
        }
    }
}

impl OwnershipConfig {
    /// Checks names, strengths and that no field has two strong owners (they would
    /// overwrite each other on every run).
    pub fn validate(&self, sources: &[&str]) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(format!("ownership.{m}")));
        let known = |name: &str| name == SCIM_OWNER || sources.contains(&name);
        for (field, owners) in &self.fields {
            if field != "status" && !OWNED_FIELDS.iter().any(|(f, _)| f == field) {
                let names: Vec<&str> = OWNED_FIELDS.iter().map(|(f, _)| *f).collect();
                return invalid(format!(
                    "fields: unknown field {field:?} (one of status, {})",
                    names.join(", ")
                ));
            }
            let mut strong = 0;
            for (i, owner) in owners.iter().enumerate() {
                let (name, strength) = split(owner);
                if !known(name) {
                    return invalid(format!(
                        "fields.{field}: {name:?} is not a configured source"
                    ));
                }
                let strength = match strength {
                    None if i == 0 => Strength::Strong,
                    None => Strength::Weak,
                    Some(s) => match Strength::parse(s) {
                        Some(s) => s,
                        None => {
                            return invalid(format!(
                                "fields.{field}: {owner:?}: the strength is strong, normal or weak"
                            ));
                        }
                    },
                };
                strong += usize::from(strength == Strength::Strong && field != "status");
            }
            if strong > 1 {
                return invalid(format!(
                    "fields.{field}: two strong owners would overwrite each other on every run; \
                     make all but one normal or weak"
                ));
            }
        }
        for name in self.enable.iter().flatten() {
            if !known(name) {
                return invalid(format!("enable: {name:?} is not a configured source"));
            }
        }
        Ok(())
    }

    /// The configured fields (by a plan's names) whose owners do not include `name`: what
    /// that door must leave as stored.
    pub fn not_owned_by(&self, name: &str) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|(field, owners)| {
                *field != "status" && !owners.iter().any(|o| split(o).0 == name)
            })
            .filter_map(|(field, _)| {
                OWNED_FIELDS
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, plan)| *plan)
            })
            .collect()
    }

    /// The sources that own status (may disable), by name; `None` when `status` is not
    /// configured (then every sync source owns the status of its own agents).
    pub fn status_owners(&self) -> Option<Vec<&str>> {
        self.fields
            .get("status")
            .map(|owners| owners.iter().map(|o| split(o).0).collect())
    }

    /// The share of the source named `name` (checked by [`validate`](Self::validate)).
    pub fn for_source(&self, name: &str) -> SourceOwnership {
        let mut out = SourceOwnership::unconfigured();
        for (field, owners) in &self.fields {
            let mine = owners.iter().enumerate().find_map(|(i, o)| {
                let (n, s) = split(o);
                (n == name).then(|| match s.and_then(Strength::parse) {
                    Some(s) => s,
                    None if i == 0 => Strength::Strong,
                    None => Strength::Weak,
                })
            });
            if field == "status" {
                out.disables = mine.is_some();
                out.enables = mine.is_some();
                continue;
            }
            if let Some((_, plan_name)) = OWNED_FIELDS.iter().find(|(f, _)| f == field) {
                out.fields.insert(plan_name, mine);
            }
        }
        if let Some(enable) = &self.enable {
            out.enables = out.disables && enable.iter().any(|n| n == name);
        }
        out
    }
}

/// `name:strength` → (`name`, `strength`).
fn split(owner: &str) -> (&str, Option<&str>) {
    match owner.split_once(':') {
        Some((n, s)) => (n.trim(), Some(s.trim())),
        None => (owner.trim(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<&'static str> {
        vec!["corp", "people"]
    }

    fn config(text: &str) -> OwnershipConfig {
        toml::from_str(text).expect("ownership")
    }

    #[test]
    fn first_owner_is_strong_the_others_weak_and_others_own_nothing() {
        let c = config(
            r#"
            enable = ["people"]
            [fields]
            department = ["people", "corp"]
            role = ["corp:normal"]
            status = ["people", "corp"]
            "#,
        );
        c.validate(&sources()).expect("valid");
        let people = c.for_source("people");
        assert_eq!(people.strength("department", false), Some(Strength::Strong));
        assert_eq!(people.strength("role", true), None);
        assert_eq!(people.strength("title", false), Some(Strength::Weak));
        assert!(people.disables && people.enables);
        let corp = c.for_source("corp");
        assert_eq!(corp.strength("department", true), Some(Strength::Weak));
        assert_eq!(corp.strength("role", true), Some(Strength::Normal));
        assert_eq!(corp.strength("title", true), Some(Strength::Strong));
        assert!(corp.disables && !corp.enables);
    }

    #[test]
    fn refuses_two_strong_owners_unknown_sources_fields_and_strengths() {
        let bad = [
            (
                r#"fields = { department = ["people", "corp:strong"] }"#,
                "two strong",
            ),
            (
                r#"fields = { department = ["hr"] }"#,
                "not a configured source",
            ),
            (r#"fields = { shoe_size = ["corp"] }"#, "unknown field"),
            (
                r#"fields = { title = ["corp:firm"] }"#,
                "strong, normal or weak",
            ),
            (r#"enable = ["nobody"]"#, "not a configured source"),
        ];
        for (text, says) in bad {
            let err = config(text)
                .validate(&sources())
                .expect_err(text)
                .to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn a_source_left_out_of_status_neither_disables_nor_enables() {
        let c = config(r#"fields = { status = ["people"] }"#);
        let corp = c.for_source("corp");
        assert!(!corp.disables && !corp.enables);
        let none = config(r#"fields = { title = ["people"] }"#).for_source("corp");
        assert!(
            none.disables && none.enables,
            "status unconfigured: every source"
        );
    }
}
