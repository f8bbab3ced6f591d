//! The gateway's group changes: create, rename and change members, delete — each one row
//! (compare and set on its version), its member rows and one audit entry in a write
//! transaction.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use serde_json::{Map, Value, json};

use super::{AccountError, Accounts, MemberOp, NewGroup, non_empty};
use crate::audit::{self, Entry};
use crate::domain::{MemberKind, names};
use crate::store::models::GroupRow;
use crate::store::{DbConn, groups as group_store, write_tx};

impl Accounts {
    pub fn create_group(
        &self,
        conn: &mut DbConn,
        actor: &str,
        source: &str,
        group: NewGroup<'_>,
        now: NaiveDateTime,
    ) -> Result<GroupRow, AccountError> {
        let NewGroup {
            display_name,
            external_id,
            members,
        } = group;
        names::check_group(
            Some(display_name),
            external_id.as_deref(),
            members.iter().map(String::as_str),
        )
        .map_err(|e| AccountError::Invalid(e.to_string()))?;
        let display_name = non_empty("displayName", display_name)?;
        let id = uuid::Uuid::now_v7().to_string();
        write_tx(conn, |conn| {
            if group_store::id_by_display_name(conn, &display_name)?.is_some() {
                return Err(AccountError::Conflict(format!(
                    "a group named {display_name:?} already exists"
                )));
            }
            let row = GroupRow {
                id: id.clone(),
                external_id,
                display_name: display_name.clone(),
                source: source.to_owned(),
                created_at: now,
                updated_at: now,
                version: 1,
                display_name_key: Some(names::fold(&display_name)),
                display_name_clash: String::new(),
            };
            group_store::insert(conn, &row).map_err(|e| match e {
                // Another writer took the name since the check above.
                DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    AccountError::Conflict(format!("a group named {display_name:?} already exists"))
                }
                other => other.into(),
            })?;
            let added = add_resolved(conn, &id, &members, now)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "group.create",
                    target_type: "group",
                    target_id: &id,
                    before: None,
                    after: Some(json!({
                        "displayName": row.display_name,
                        "externalId": row.external_id,
                        "membersAdded": added,
                    })),
                    reason: None,
                },
            )?;
            if self.group_gives_role(row.display_name_key.as_deref()) {
                self.apply_group_roles(conn, actor, &added, now)?;
            }
            Ok(row)
        })
    }

    /// Renames a group and/or changes its members, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn update_group(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        display_name: Option<&str>,
        external_id: Option<Option<String>>,
        member_ops: &[MemberOp],
        now: NaiveDateTime,
    ) -> Result<GroupRow, AccountError> {
        let member_ids = member_ops.iter().flat_map(|op| match op {
            MemberOp::Add(ids) | MemberOp::Remove(ids) | MemberOp::Replace(ids) => ids.as_slice(),
            MemberOp::RemoveAll => &[],
        });
        names::check_group(None, None, member_ids.map(String::as_str))
            .map_err(|e| AccountError::Invalid(e.to_string()))?;
        write_tx(conn, |conn| {
            let mut row = group_store::get(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("group {id}")))?;
            // What the group holds already is not checked again (see `check_text`).
            names::check_group(
                display_name.filter(|n| n.trim() != row.display_name),
                external_id
                    .as_ref()
                    .and_then(Option::as_deref)
                    .filter(|e| Some(*e) != row.external_id.as_deref()),
                [],
            )
            .map_err(|e| AccountError::Invalid(e.to_string()))?;
            if let Some(v) = expected_version
                && v != row.version
            {
                return Err(AccountError::VersionMismatch {
                    current: row.version,
                });
            }
            let before_row = row.clone();
            if let Some(name) = display_name {
                let name = non_empty("displayName", name)?;
                let key = names::fold(&name);
                if row.display_name_key.as_deref() != Some(key.as_str()) {
                    if let Some(other) = group_store::id_by_display_name(conn, &name)?
                        && other != id
                    {
                        return Err(AccountError::Conflict(format!(
                            "a group named {name:?} already exists"
                        )));
                    }
                    row.display_name_key = Some(key);
                    row.display_name_clash = String::new();
                }
                row.display_name = name;
            }
            if let Some(ext) = external_id {
                row.external_id = ext;
            }
            let mut added: Vec<String> = Vec::new();
            let mut removed: Vec<String> = Vec::new();
            for op in member_ops {
                match op {
                    MemberOp::Add(ids) => added.extend(add_resolved(conn, id, ids, now)?),
                    MemberOp::Remove(ids) => {
                        removed.extend(group_store::remove_members(conn, id, ids)?)
                    }
                    MemberOp::RemoveAll => {
                        let all: Vec<String> = group_store::members(conn, id)?
                            .into_iter()
                            .map(|m| m.id)
                            .collect();
                        group_store::remove_all_members(conn, id)?;
                        removed.extend(all);
                    }
                    MemberOp::Replace(ids) => {
                        let wanted: HashSet<&String> = ids.iter().collect();
                        let current: Vec<String> = group_store::members(conn, id)?
                            .into_iter()
                            .map(|m| m.id)
                            .collect();
                        let gone: Vec<String> = current
                            .iter()
                            .filter(|m| !wanted.contains(m))
                            .cloned()
                            .collect();
                        removed.extend(group_store::remove_members(conn, id, &gone)?);
                        added.extend(add_resolved(conn, id, ids, now)?);
                    }
                }
            }
            if row == before_row && added.is_empty() && removed.is_empty() {
                return Ok(row);
            }
            row.updated_at = now;
            row.version += 1;
            if !group_store::update(conn, &row, before_row.version)? {
                return Err(moved_on(conn, id)?);
            }
            let mut before = Map::new();
            let mut after = Map::new();
            if row.display_name != before_row.display_name {
                before.insert("displayName".into(), json!(before_row.display_name));
                after.insert("displayName".into(), json!(row.display_name));
            }
            if row.external_id != before_row.external_id {
                before.insert("externalId".into(), json!(before_row.external_id));
                after.insert("externalId".into(), json!(row.external_id));
            }
            if !added.is_empty() {
                after.insert("membersAdded".into(), json!(added));
            }
            if !removed.is_empty() {
                after.insert("membersRemoved".into(), json!(removed));
            }
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "group.update",
                    target_type: "group",
                    target_id: id,
                    before: Some(Value::Object(before)),
                    after: Some(Value::Object(after)),
                    reason: None,
                },
            )?;
            let was = self.group_gives_role(before_row.display_name_key.as_deref());
            let is = self.group_gives_role(row.display_name_key.as_deref());
            if was || is {
                let mut moved = added;
                moved.extend(removed);
                if row.display_name_key != before_row.display_name_key {
                    // Renamed into or out of a mapped name: every member may move.
                    moved.extend(group_store::members(conn, id)?.into_iter().map(|m| m.id));
                }
                self.apply_group_roles(conn, actor, &moved, now)?;
            }
            Ok(row)
        })
    }

    pub fn delete_group(
        &self,
        conn: &mut DbConn,
        actor: &str,
        id: &str,
        expected_version: Option<i64>,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        write_tx(conn, |conn| {
            let row = group_store::get(conn, id)?
                .ok_or_else(|| AccountError::NotFound(format!("group {id}")))?;
            if let Some(v) = expected_version
                && v != row.version
            {
                return Err(AccountError::VersionMismatch {
                    current: row.version,
                });
            }
            let members: Vec<String> = if self.group_gives_role(row.display_name_key.as_deref()) {
                group_store::members(conn, id)?
                    .into_iter()
                    .map(|m| m.id)
                    .collect()
            } else {
                Vec::new()
            };
            group_store::delete(conn, id)?;
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor,
                    action: "group.delete",
                    target_type: "group",
                    target_id: id,
                    before: Some(json!({ "displayName": row.display_name })),
                    after: None,
                    reason: None,
                },
            )?;
            self.apply_group_roles(conn, actor, &members, now)?;
            Ok(())
        })
    }
}

/// The error for a compare-and-set that found another version: the group's version now.
fn moved_on(conn: &mut DbConn, id: &str) -> Result<AccountError, AccountError> {
    let row =
        group_store::get(conn, id)?.ok_or_else(|| AccountError::NotFound(format!("group {id}")))?;
    Ok(AccountError::VersionMismatch {
        current: row.version,
    })
}

fn add_resolved(
    conn: &mut DbConn,
    group_id: &str,
    ids: &[String],
    now: NaiveDateTime,
) -> Result<Vec<String>, AccountError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let kinds = group_store::resolve_members(conn, ids)?;
    let mut members: Vec<(String, MemberKind)> = Vec::with_capacity(ids.len());
    for id in ids {
        if id == group_id {
            return Err(AccountError::Invalid(
                "a group cannot be a member of itself".into(),
            ));
        }
        match kinds.get(id) {
            Some(kind) => members.push((id.clone(), *kind)),
            None => {
                return Err(AccountError::Invalid(format!(
                    "member {id:?} is neither a user nor a group"
                )));
            }
        }
    }
    Ok(group_store::add_members(conn, group_id, &members, now)?)
}
