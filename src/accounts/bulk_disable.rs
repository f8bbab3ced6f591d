//! Many agents disabled at once — the lifecycle timers at a moment many people leave: the
//! same row change, `agent.disable` entry (= event), session revocation and mail as
//! [`Accounts::set_active`] gives one agent, in a few multi-row statements per chunk.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Accounts, snapshot};
use crate::audit::{self, TextEntry};
use crate::domain::{AgentProfile, Status};
use crate::mail;
use crate::store::DbConn;
use crate::store::models::AgentRow;
use crate::store::schema::{agents, sessions};

/// Ids per statement.
const CHUNK: usize = 500;

/// One agent to disable, by whom and why.
#[derive(Debug, Clone, Copy)]
pub struct Disabling<'a> {
    pub id: &'a str,
    pub actor: &'a str,
    pub reason: &'a str,
}

impl Accounts {
    /// Disables every active agent among `items` inside the caller's write transaction;
    /// the others (already suspended, pending, deleted, gone) are left as they are.
    /// Returns, item by item, whether it was disabled.
    pub fn disable_many(
        &self,
        conn: &mut DbConn,
        items: &[Disabling<'_>],
        now: NaiveDateTime,
    ) -> QueryResult<Vec<bool>> {
        let mut rows: HashMap<String, AgentRow> = HashMap::with_capacity(items.len());
        for chunk in items.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|i| i.id).collect();
            let found: Vec<AgentRow> = agents::table
                .filter(agents::id.eq_any(&ids))
                .filter(agents::status.eq(Status::Active.as_str()))
                .select(AgentRow::as_select())
                .load(conn)?;
            rows.extend(found.into_iter().map(|r| (r.id.clone(), r)));
        }
        let done: Vec<bool> = items.iter().map(|i| rows.contains_key(i.id)).collect();
        // One statement per reason and chunk: the agents leaving at one moment share it.
        let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (item, done) in items.iter().zip(&done) {
            if *done {
                by_reason.entry(item.reason).or_default().push(item.id);
            }
        }
        for (reason, ids) in &by_reason {
            for chunk in ids.chunks(CHUNK) {
                diesel::update(
                    agents::table
                        .filter(agents::id.eq_any(chunk))
                        .filter(agents::status.eq(Status::Active.as_str())),
                )
                .set((
                    agents::status.eq(Status::Suspended.as_str()),
                    agents::disabled_at.eq(Some(now)),
                    agents::disabled_reason.eq(Some(*reason)),
                    agents::sessions_revoked_at.eq(Some(now)),
                    agents::updated_at.eq(now),
                    agents::version.eq(agents::version + 1),
                ))
                .execute(conn)?;
                diesel::update(
                    sessions::table
                        .filter(sessions::agent_id.eq_any(chunk))
                        .filter(sessions::revoked_at.is_null()),
                )
                .set(sessions::revoked_at.eq(now))
                .execute(conn)?;
            }
        }
        // The entries the one-agent path writes: the snapshot's difference (the status).
        let profile = AgentProfile::default();
        let mut texts: Vec<(String, String)> = Vec::with_capacity(rows.len());
        let mut disabled: Vec<(&Disabling<'_>, &AgentRow)> = Vec::with_capacity(rows.len());
        for (item, done) in items.iter().zip(&done) {
            let Some(row) = rows.get(item.id).filter(|_| *done) else {
                continue;
            };
            let mut after_row = row.clone();
            after_row.status = Status::Suspended.as_str().into();
            let (b, a) = snapshot::diff(
                &snapshot::value(&profile, row),
                &snapshot::value(&profile, &after_row),
            );
            texts.push((b.to_string(), a.to_string()));
            disabled.push((item, row));
        }
        let entries: Vec<TextEntry<'_>> = disabled
            .iter()
            .zip(&texts)
            .map(|((item, _), (b, a))| TextEntry {
                at: now,
                actor: item.actor,
                action: "agent.disable",
                target_type: "agent",
                target_id: item.id,
                before: Some(b),
                after: Some(a),
                reason: Some(item.reason),
            })
            .collect();
        audit::append_many(conn, &entries)?;
        if self.notify_disabled {
            let names: Vec<String> = disabled
                .iter()
                .map(|(_, row)| super::links::mail_name(row))
                .collect();
            let mails: Vec<mail::Mail<'_>> = disabled
                .iter()
                .zip(&names)
                .filter_map(|((item, row), name)| {
                    let to = row.email.as_deref().filter(|e| !e.is_empty())?;
                    Some(mail::Mail {
                        agent_id: Some(item.id),
                        to,
                        language: row.preferred_language.as_deref(),
                        template: mail::Template::AccountDisabled,
                        values: serde_json::json!({ "name": name, "reason": item.reason }),
                    })
                })
                .collect();
            mail::enqueue_many(conn, &mails, now)?;
        }
        Ok(done)
    }
}
