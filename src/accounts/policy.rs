//! What the gateway is configured to enforce beyond the fixed rules: which doors create
//! agents `pending` (approval), the four-eyes rule, and the channel catalog.

use std::collections::HashMap;

use super::AccountError;
use crate::config::Config;
use crate::domain::AgentProfile;

/// Which doors need an admin's approval before their new agents become active.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    /// For doors not named in `doors`.
    pub default: bool,
    /// By door: `admin`, `import`, `scim`, or a sync source's tag (`ldap:corp`).
    pub doors: HashMap<String, bool>,
    /// The approver must not be the actor who created the agent.
    pub four_eyes: bool,
}

impl Approval {
    pub fn from_config(config: &Config) -> Approval {
        let a = &config.accounts;
        let mut doors = HashMap::new();
        for (door, v) in [
            ("admin", a.approval.admin),
            ("import", a.approval.import),
            ("scim", a.approval.scim),
        ] {
            if let Some(v) = v {
                doors.insert(door.to_owned(), v);
            }
        }
        for s in &config.sources {
            if let Some(v) = s.require_approval {
                doors.insert(s.tag(), v);
            }
        }
        Approval {
            default: a.require_approval,
            doors,
            four_eyes: a.approval.four_eyes,
        }
    }

    /// Whether agents created with `source` (`admin`, `import…`, `scim:<token>`,
    /// `ldap:<source>`) start `pending`: the source itself, then its door (the part before
    /// `:`), then the default.
    pub fn required(&self, source: &str) -> bool {
        let door = source.split(':').next().unwrap_or(source);
        self.doors
            .get(source)
            .or_else(|| self.doors.get(door))
            .copied()
            .unwrap_or(self.default)
    }
}

/// Refuses a channel that is not in `catalog` (compared without case), naming it by its
/// place in the list as given; values `held` already (an update) are not checked, so that
/// older data never blocks a change.
pub(super) fn check_channels(
    catalog: Option<&[String]>,
    profile: &AgentProfile,
    held: Option<&AgentProfile>,
) -> Result<(), AccountError> {
    let Some(catalog) = catalog else {
        return Ok(());
    };
    for (i, c) in profile.channels.iter().enumerate() {
        let known = |list: &[String]| list.iter().any(|k| k.eq_ignore_ascii_case(c.trim()));
        if c.trim().is_empty() || known(catalog) || held.is_some_and(|h| known(&h.channels)) {
            continue;
        }
        return Err(AccountError::InvalidField {
            pointer: format!("/channels/{i}"),
            message: format!(
                "channel {c:?} is not in the channel catalog ({})",
                catalog.join(", ")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_then_source_then_default() {
        let mut a = Approval {
            default: true,
            ..Approval::default()
        };
        a.doors.insert("admin".into(), false);
        a.doors.insert("ldap".into(), false);
        a.doors.insert("ldap:hr".into(), true);
        assert!(!a.required("admin"));
        assert!(a.required("scim:entra"));
        assert!(!a.required("ldap:corp"));
        assert!(a.required("ldap:hr"));
        assert!(a.required("import"));
    }

    #[test]
    fn channels_outside_the_catalog_are_refused_unless_held() {
        let catalog = vec!["web".to_owned(), "phone".to_owned()];
        let p = |c: &[&str]| AgentProfile {
            channels: c.iter().map(|s| (*s).to_owned()).collect(),
            ..AgentProfile::default()
        };
        assert!(check_channels(Some(&catalog), &p(&["Web", "phone"]), None).is_ok());
        match check_channels(Some(&catalog), &p(&["web", "fax"]), None) {
            Err(AccountError::InvalidField { pointer, .. }) => assert_eq!(pointer, "/channels/1"),
            other => panic!("{other:?}"),
        }
        assert!(check_channels(Some(&catalog), &p(&["fax"]), Some(&p(&["fax"]))).is_ok());
        assert!(check_channels(None, &p(&["fax"]), None).is_ok());
    }
}
