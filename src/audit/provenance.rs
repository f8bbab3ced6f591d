//! Where each field of an agent came from: for every field, the last audit entry that wrote
//! it (who, which sync run, when, why) — read from the tamper-evident log itself, so the
//! answer is the one an auditor can verify.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::store::DbConn;
use crate::store::schema::audit_log;

/// The last write of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub actor: String,
    /// The sync source, for a sync run's write (`sync:<source>#<run>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    pub action: String,
    pub at: NaiveDateTime,
    pub entry_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The fields of agent `id` that some entry wrote, each with its last write.
pub fn of_agent(conn: &mut DbConn, id: &str) -> QueryResult<BTreeMap<String, Provenance>> {
    type Row = (
        i64,
        NaiveDateTime,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = audit_log::table
        .filter(audit_log::target_type.eq("agent"))
        .filter(audit_log::target_id.eq(id))
        .order(audit_log::id.asc())
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::actor,
            audit_log::action,
            audit_log::after,
            audit_log::reason,
        ))
        .load(conn)?;
    let mut out = BTreeMap::new();
    for (entry_id, at, actor, action, after, reason) in rows {
        let Some(serde_json::Value::Object(after)) =
            after.and_then(|a| serde_json::from_str(&a).ok())
        else {
            continue;
        };
        let (source, run_id) = sync_actor(&actor);
        for (field, value) in after {
            // A create's snapshot lists every field: an empty one was written by nobody.
            let empty = value.is_null() || value.as_array().is_some_and(|a| a.is_empty());
            if action == "agent.create" && empty {
                continue;
            }
            out.insert(
                field,
                Provenance {
                    actor: actor.clone(),
                    source: source.clone(),
                    run_id,
                    action: action.clone(),
                    at,
                    entry_id,
                    reason: reason.clone(),
                },
            );
        }
    }
    Ok(out)
}

/// `sync:<source>#<run>` → the source and the run.
fn sync_actor(actor: &str) -> (Option<String>, Option<i64>) {
    let Some(rest) = actor.strip_prefix("sync:") else {
        return (None, None);
    };
    match rest.split_once('#') {
        Some((source, run)) => (Some(source.to_owned()), run.parse().ok()),
        None => (Some(rest.to_owned()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::sync_actor;

    #[test]
    fn a_sync_actor_names_its_source_and_run() {
        assert_eq!(
            sync_actor("sync:people#42"),
            (Some("people".into()), Some(42))
        );
        assert_eq!(sync_actor("admin:root"), (None, None));
        assert_eq!(sync_actor("sync:corp"), (Some("corp".into()), None));
    }
}
