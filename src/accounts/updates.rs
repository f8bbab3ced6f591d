//! The gateway's agent updates: a profile, status, login block or password applied to the
//! stored agent (compare and set on its version), with one audit entry in a write
//! transaction.

use chrono::NaiveDateTime;

use super::{
    AccountError, Accounts, AgentInput, at_version, check_channels, check_text, ensure_role,
    moved_on, normalise, revoke_sessions, role_named_in, row_of, snapshot,
};
use crate::audit::{self, Entry};
use crate::domain::{Agent, AgentProfile, Status, names};
use crate::events::Event;
use crate::mail;
use crate::store::models::AgentRow;
use crate::store::{DbConn, agents as agent_store, write_tx};

impl Accounts {
    /// Applies `input` to agent `id`. A request that changes nothing writes nothing.
    /// `expected_version`: the version the caller read (`If-Match`, or a read-modify-write
    /// done outside the transaction); another one fails with `VersionMismatch`.
    #[allow(clippy::too_many_arguments)]
    pub fn update_agent(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        input: AgentInput,
        reason: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Agent, AccountError> {
        self.update_agent_with(conn, actor, id, expected_version, reason, now, |_| {
            Ok(input)
        })
    }

    /// Applies the input `make` computes from the agent as it is inside the write
    /// transaction — current until it commits, as no other writer runs meanwhile. For a
    /// change that depends on the stored agent (a suspension keeping the profile, a
    /// directory's managed fields merged into it), so that a change made between a read
    /// and the write is kept rather than overwritten.
    #[allow(clippy::too_many_arguments)]
    pub fn update_agent_with<F>(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        reason: Option<&str>,
        now: NaiveDateTime,
        make: F,
    ) -> Result<Agent, AccountError>
    where
        F: FnOnce(&Agent) -> Result<AgentInput, AccountError>,
    {
        write_tx(conn, |conn| {
            // One read: the row, and the agent made from it with its multi-valued attributes.
            let mut row = row_of(conn, id)?;
            if row.status == Status::Deleted.as_str() {
                return Err(AccountError::NotFound(format!("agent {id}")));
            }
            at_version(&row, expected_version)?;
            let current = agent_store::with_values(conn, vec![row.clone()])?
                .pop()
                .ok_or_else(|| AccountError::NotFound(format!("agent {id}")))?;
            let mut input = make(&current)?;
            if input.keep_source_owned && !self.idp_keeps.is_empty() {
                crate::domain::take_fields(&mut input.profile, &current.profile, &self.idp_keeps);
            }
            check_text(&input.profile, Some(&current.profile))?;
            if !input.keep_agent_settings {
                check_channels(self.catalog(), &input.profile, Some(&current.profile))?;
            }
            let mut profile = normalise(std::mem::take(&mut input.profile))?;
            if input.keep_agent_settings {
                profile.role =
                    Some(role_named_in(conn, &profile)?.unwrap_or_else(|| row.role.clone()));
                profile.skill_groups = current.profile.skill_groups.clone();
                profile.max_concurrent_chats = current.profile.max_concurrent_chats;
                profile.channels = current.profile.channels.clone();
            }
            let key = names::fold(&profile.user_name);
            if row.user_name_key.as_deref() != Some(key.as_str())
                && let Some(other) = agent_store::id_by_user_name(conn, &profile.user_name)?
                && other != id
            {
                return Err(AccountError::Conflict(format!(
                    "userName {:?} is already taken",
                    profile.user_name
                )));
            }
            let role = profile.role.clone().unwrap_or_else(|| row.role.clone());
            if role != row.role {
                ensure_role(conn, &role)?;
            }
            profile.role = Some(role.clone());
            let before_row = row.clone();
            let before = snapshot::value(&current.profile, &row);

            row.external_id = profile.external_id.clone();
            row.user_name = profile.user_name.clone();
            if row.user_name_key.as_deref() != Some(key.as_str()) {
                // A new name: no longer a clash kept from before keys were folded.
                row.user_name_key = Some(key);
                row.user_name_clash = String::new();
            }
            row.display_name = profile.display_name.clone();
            row.given_name = profile.given_name.clone();
            row.family_name = profile.family_name.clone();
            row.middle_name = profile.middle_name.clone();
            row.formatted_name = profile.formatted_name.clone();
            row.nickname = profile.nickname.clone();
            row.preferred_language = profile.preferred_language.clone();
            row.title = profile.title.clone();
            row.email = AgentProfile::primary_of(&profile.emails).map(str::to_owned);
            row.phone = AgentProfile::primary_of(&profile.phones).map(str::to_owned);
            row.emails_inline = AgentProfile::lone_work(&profile.emails).is_some();
            row.phones_inline = AgentProfile::lone_work(&profile.phones).is_some();
            row.employee_number = profile.employee_number.clone();
            row.department = profile.department.clone();
            row.manager_id = profile.manager_id.clone();
            row.role = role;
            row.max_concurrent_chats = profile.max_concurrent_chats;

            let mut event = Event::Updated;
            let mut revoke = false;
            match input.active {
                // Only an approval activates a pending agent (an identity provider re-sending
                // `active: true` leaves it pending).
                Some(true) if row.status == Status::Pending.as_str() => {}
                Some(true) if row.status != Status::Active.as_str() => {
                    row.status = Status::Active.as_str().into();
                    row.disabled_at = None;
                    row.disabled_reason = None;
                    event = Event::Enabled;
                }
                Some(false) if row.status != Status::Suspended.as_str() => {
                    row.status = Status::Suspended.as_str().into();
                    row.disabled_at = Some(now);
                    row.disabled_reason = Some(
                        reason
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("deactivated by {actor}")),
                    );
                    revoke = true;
                    event = Event::Disabled;
                }
                _ => {}
            }
            match input.login_blocked {
                Some(true) if !row.login_blocked => {
                    row.login_blocked = true;
                    revoke = true;
                    if event == Event::Updated {
                        event = Event::ForcedOffline;
                    }
                }
                Some(false) if row.login_blocked => {
                    row.login_blocked = false;
                    if event == Event::Updated {
                        event = Event::Resumed;
                    }
                }
                _ => {}
            }
            if let Some(hash) = &input.password_hash {
                row.password_hash = Some(hash.clone());
                row.password_changed_at = Some(now);
                // A password set from outside (an identity provider, an admin) is a reset:
                // whoever held the old one is signed out.
                revoke = true;
            }
            let values_changed = profile.emails != current.profile.emails
                || profile.phones != current.profile.phones
                || profile.roles != current.profile.roles
                || profile.skill_groups != current.profile.skill_groups
                || profile.channels != current.profile.channels;
            if row == before_row && !values_changed {
                return Ok(current);
            }
            if revoke {
                revoke_sessions(conn, &mut row, now)?;
            }
            row.updated_at = now;
            row.version += 1;
            let values = values_changed.then(|| agent_store::value_rows(id, &profile));
            // `current` (the profile the input was made from) is the first read: a writer
            // that got in after it changed the version, and the write finds it.
            if !agent_store::update(conn, &row, current.version, values.as_deref())? {
                return Err(moved_on(conn, id)?);
            }
            let after = snapshot::value(&profile, &row);
            let (b, a) = snapshot::diff(&before, &after);
            let action = match event {
                Event::Disabled => "agent.disable",
                Event::Enabled => "agent.enable",
                Event::ForcedOffline => "agent.force_offline",
                Event::Resumed => "agent.resume",
                _ => "agent.update",
            };
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action,
                    target_type: "agent",
                    target_id: id,
                    before: Some(b),
                    after: Some(a.clone()),
                    reason,
                },
            )?;
            if event == Event::Disabled && self.notify_disabled {
                disabled_mail(conn, &row, reason, now)?;
            }
            if row.role != before_row.role {
                self.note_role_move(
                    conn,
                    actor,
                    id,
                    &before_row.role,
                    &row.role,
                    &row.permission_overrides,
                    now,
                )?;
            }
            agent_store::get(conn, id)?.ok_or_else(|| AccountError::NotFound(id.to_owned()))
        })
    }
}

/// Writes the "your account was disabled" mail of `row` to the outbox, in the transaction
/// that disables it (nothing for an agent without an email). The reason is the one the
/// request gave; the default one names the actor, which is for the audit log only.
fn disabled_mail(
    conn: &mut DbConn,
    row: &AgentRow,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    let Some(to) = row.email.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    let name = super::links::mail_name(row);
    mail::enqueue(
        conn,
        &mail::Mail {
            agent_id: Some(&row.id),
            to,
            language: row.preferred_language.as_deref(),
            template: mail::Template::AccountDisabled,
            values: serde_json::json!({ "name": name, "reason": reason.unwrap_or_default() }),
        },
        now,
    )?;
    Ok(())
}
