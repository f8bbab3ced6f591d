//! SCIM groups that give a role (`[[scim.group_roles]]`): when an agent joins or leaves
//! such a group (a Group POST, PUT, PATCH or DELETE, or a rename into or out of a mapped
//! name), its role is worked out again in the same transaction — the first rule, in the
//! configuration's order, whose group holds the agent directly gives the role; an agent in
//! none of them gets `accounts.default_role` — and changed through the agent update, audited.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AccountError, Accounts, AgentInput};
use crate::store::schema::{group_members, groups};
use crate::store::{DbConn, agents as agent_store};

impl Accounts {
    /// Whether changes to the members of a group named (folded) `key` move roles.
    pub(super) fn group_gives_role(&self, key: Option<&str>) -> bool {
        self.access.maps_group(key)
    }

    /// Works out again the role of each live agent among `ids` (group ids and unknown ids
    /// are skipped) and changes it where it differs. Inside the caller's transaction.
    pub(super) fn apply_group_roles(
        &self,
        conn: &mut DbConn,
        actor: &str,
        ids: &[String],
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        let rules = &self.access.group_roles;
        if rules.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = rules.iter().map(|r| r.key.as_str()).collect();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let Some(row) = agent_store::get_row(conn, id)? else {
                continue;
            };
            let held: Vec<Option<String>> = group_members::table
                .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
                .filter(group_members::member_id.eq(id))
                .filter(groups::display_name_key.eq_any(&keys))
                .select(groups::display_name_key)
                .load(conn)?;
            let rule = rules
                .iter()
                .find(|r| held.iter().any(|k| k.as_deref() == Some(r.key.as_str())));
            let (role, reason) = match rule {
                Some(r) => (
                    r.role.clone(),
                    format!("member of SCIM group {:?} (scim.group_roles)", r.group),
                ),
                None => (
                    self.default_role.clone(),
                    "in no SCIM group of scim.group_roles: the default role".to_owned(),
                ),
            };
            if role == row.role {
                continue;
            }
            self.update_agent_with(conn, actor, id, None, Some(&reason), now, |current| {
                let mut profile = current.profile.clone();
                profile.role = Some(role.clone());
                Ok(AgentInput {
                    profile,
                    ..AgentInput::default()
                })
            })?;
        }
        Ok(())
    }
}
