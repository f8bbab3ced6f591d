//! Group rows and memberships. Members are changed row by row so that a group of any
//! size is never loaded to add or remove one member.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{GroupRow, MemberRow};
use super::schema::{agents, group_members, groups};
use crate::domain::{Member, MemberKind, Status};

pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<GroupRow>> {
    if !super::agents::may_exist(id) {
        return Ok(None);
    }
    groups::table
        .filter(groups::id.eq(id))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

/// Id of a group named `name` (compared by `domain::names::fold`).
pub fn id_by_display_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    groups::table
        .filter(groups::display_name_key.eq(crate::domain::names::fold(name)))
        .select(groups::id)
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConn, row: &GroupRow) -> QueryResult<()> {
    diesel::insert_into(groups::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Writes `row` over the stored one if that one is still at version `read` (compare and
/// set); `false` when it is not, and nothing was written.
pub fn update(conn: &mut DbConn, row: &GroupRow, read: i64) -> QueryResult<bool> {
    diesel::update(
        groups::table
            .filter(groups::id.eq(&row.id))
            .filter(groups::version.eq(read)),
    )
    .set(row)
    .execute(conn)
    .map(|n| n > 0)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::delete(group_members::table.filter(group_members::group_id.eq(id))).execute(conn)?;
    remove_member_everywhere(conn, id)?;
    diesel::delete(groups::table.filter(groups::id.eq(id)))
        .execute(conn)
        .map(drop)
}

/// Members of a group with their display names.
pub fn members(conn: &mut DbConn, group_id: &str) -> QueryResult<Vec<Member>> {
    let users: Vec<(String, Option<String>, String)> = group_members::table
        .inner_join(agents::table.on(agents::id.eq(group_members::member_id)))
        .filter(group_members::group_id.eq(group_id))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .order(group_members::added_at)
        .select((agents::id, agents::display_name, agents::user_name))
        .load(conn)?;
    let nested: Vec<(String, String)> = group_members::table
        .inner_join(groups::table.on(groups::id.eq(group_members::member_id)))
        .filter(group_members::group_id.eq(group_id))
        .order(group_members::added_at)
        .select((groups::id, groups::display_name))
        .load(conn)?;
    let mut out: Vec<Member> = users
        .into_iter()
        .map(|(id, display, user_name)| Member {
            id,
            kind: MemberKind::User,
            display: Some(display.unwrap_or(user_name)),
        })
        .collect();
    out.extend(nested.into_iter().map(|(id, display)| Member {
        id,
        kind: MemberKind::Group,
        display: Some(display),
    }));
    Ok(out)
}

/// Which of `ids` are live agents or groups; unknown ids are absent from the map.
pub fn resolve_members(
    conn: &mut DbConn,
    ids: &[String],
) -> QueryResult<HashMap<String, MemberKind>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let users: Vec<String> = agents::table
            .filter(agents::id.eq_any(chunk))
            .filter(agents::status.ne(Status::Deleted.as_str()))
            .select(agents::id)
            .load(conn)?;
        out.extend(users.into_iter().map(|id| (id, MemberKind::User)));
        let nested: Vec<String> = groups::table
            .filter(groups::id.eq_any(chunk))
            .select(groups::id)
            .load(conn)?;
        out.extend(nested.into_iter().map(|id| (id, MemberKind::Group)));
    }
    Ok(out)
}

/// Adds members not already present; returns the ids actually added.
pub fn add_members(
    conn: &mut DbConn,
    group_id: &str,
    members: &[(String, MemberKind)],
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let mut added = Vec::new();
    for chunk in members.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let present: Vec<String> = group_members::table
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq_any(&ids))
            .select(group_members::member_id)
            .load(conn)?;
        for (id, kind) in chunk {
            if present.contains(id) || added.contains(id) {
                continue;
            }
            let row = MemberRow {
                group_id: group_id.to_owned(),
                member_id: id.clone(),
                member_type: kind.as_str().to_owned(),
                added_at: now,
            };
            diesel::insert_into(group_members::table)
                .values(&row)
                .execute(conn)?;
            added.push(id.clone());
        }
    }
    Ok(added)
}

/// Removes the given members; returns the ids that were members.
pub fn remove_members(
    conn: &mut DbConn,
    group_id: &str,
    ids: &[String],
) -> QueryResult<Vec<String>> {
    let mut removed = Vec::new();
    for chunk in ids.chunks(500) {
        let present: Vec<String> = group_members::table
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq_any(chunk))
            .select(group_members::member_id)
            .load(conn)?;
        diesel::delete(
            group_members::table
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::member_id.eq_any(&present)),
        )
        .execute(conn)?;
        removed.extend(present);
    }
    Ok(removed)
}

pub fn remove_all_members(conn: &mut DbConn, group_id: &str) -> QueryResult<usize> {
    diesel::delete(group_members::table.filter(group_members::group_id.eq(group_id))).execute(conn)
}

/// Takes `member_id` out of every group (the member was deleted).
pub fn remove_member_everywhere(conn: &mut DbConn, member_id: &str) -> QueryResult<usize> {
    diesel::delete(group_members::table.filter(group_members::member_id.eq(member_id)))
        .execute(conn)
}

/// Direct group memberships of each agent: agent id → [(group id, group name)].
pub fn memberships_of(
    conn: &mut DbConn,
    agent_ids: &[&str],
) -> QueryResult<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if agent_ids.is_empty() {
        return Ok(out);
    }
    let mut q = group_members::table
        .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
        .into_boxed::<super::Db>();
    q = match agent_ids {
        [one] => q.filter(group_members::member_id.eq(*one)),
        many => q.filter(group_members::member_id.eq_any(many)),
    };
    let rows: Vec<(String, String, String)> = q
        .order((group_members::member_id, groups::display_name))
        .select((group_members::member_id, groups::id, groups::display_name))
        .load(conn)?;
    for (member, gid, name) in rows {
        out.entry(member).or_default().push((gid, name));
    }
    Ok(out)
}

/// Bumps a group's version and modification time after a membership change.
pub fn touch(conn: &mut DbConn, group_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(groups::table.filter(groups::id.eq(group_id)))
        .set((
            groups::updated_at.eq(now),
            groups::version.eq(groups::version + 1),
        ))
        .execute(conn)
        .map(drop)
}
