//! Filters on a user's multi-valued attributes → `agents.id IN (SELECT …)` sub-selects over
//! `agent_values` and `group_members`, or over the lists kept inline in the agent's row.

use diesel::prelude::*;

use super::{
    Cond, Schema, always, bool_op, coalesce, combine, in_subselect, like_pattern, lower_n,
    schema_of, text_value, unsupported,
};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter, compare_text};
use crate::store::Db;
use crate::store::schema::{agent_values, agents, group_members};

/// Multi-valued attributes of a user kept in `agent_values`, by lower-cased name.
pub(in crate::store) fn multi_attr(schema: Option<Schema>, attr: &str) -> Option<&'static str> {
    match (schema, attr) {
        (None | Some(Schema::Core), "emails") => Some(crate::store::agents::EMAILS),
        (None | Some(Schema::Core), "phonenumbers") => Some(crate::store::agents::PHONES),
        (None | Some(Schema::Agent), "skillgroups") => Some(crate::store::agents::SKILL_GROUPS),
        (None | Some(Schema::Agent), "channels") => Some(crate::store::agents::CHANNELS),
        (None | Some(Schema::Core), "roles") => Some(crate::store::agents::ROLES),
        _ => None,
    }
}

pub(super) fn user_value_path(
    path: &AttrPath,
    inner: &Filter,
    depth: usize,
) -> Result<Cond<agents::table>, ScimError> {
    let schema = schema_of(path, false)?;
    let attr = path.attr.to_ascii_lowercase();
    if path.sub_attr.is_some() {
        return Err(unsupported(path));
    }
    if let Some(stored) = multi_attr(schema, &attr) {
        return multi_value_cond(stored, inner, depth + 1);
    }
    match (schema, attr.as_str()) {
        (None | Some(Schema::Core), "groups") => {
            let cond = membership_filter(inner, depth + 1)?;
            let ids = group_members::table
                .into_boxed::<Db>()
                .filter(cond)
                .select(group_members::member_id);
            Ok(Box::new(in_subselect(agents::id, ids)))
        }
        _ => Err(unsupported(path)),
    }
}

/// Agents with a value of the multi-valued attribute `stored` that matches `inner`: among
/// their value rows or, for emails and phone numbers, as the one primary work value kept
/// inline in the agent's row (`emails_inline`, `phones_inline`).
pub(super) fn multi_value_cond(
    stored: &'static str,
    inner: &Filter,
    depth: usize,
) -> Result<Cond<agents::table>, ScimError> {
    let cond = value_filter(inner, depth)?;
    let ids = agent_values::table
        .into_boxed::<Db>()
        .filter(agent_values::attr.eq(stored))
        .filter(cond)
        .select(agent_values::agent_id);
    let rows: Cond<agents::table> = Box::new(in_subselect(agents::id, ids));
    let inline: Cond<agents::table> = match stored {
        crate::store::agents::EMAILS => {
            Box::new(agents::emails_inline.and(inline_filter(inner, depth, InlineList::Emails)?))
        }
        crate::store::agents::PHONES => {
            Box::new(agents::phones_inline.and(inline_filter(inner, depth, InlineList::Phones)?))
        }
        _ => return Ok(rows),
    };
    Ok(Box::new(rows.or(inline)))
}

/// A list kept inline in the agent's row: its value is that column, of type `work`, primary,
/// without display.
#[derive(Clone, Copy)]
enum InlineList {
    Emails,
    Phones,
}

/// `value_filter` for an inline list: `value` compares with the column, the other
/// sub-attributes are constants and are decided here.
fn inline_filter(
    filter: &Filter,
    depth: usize,
    list: InlineList,
) -> Result<Cond<agents::table>, ScimError> {
    combine(filter, depth, &|f, _| match f {
        Filter::Present(p) => inline_leaf(p, None, list),
        Filter::Compare(p, op, v) => inline_leaf(p, Some((*op, v)), list),
        Filter::ValuePath(p, _) => Err(unsupported(p)),
        other => inline_filter(other, depth + 1, list),
    })
}

fn inline_leaf(
    path: &AttrPath,
    cmp: Option<(CompareOp, &CompValue)>,
    list: InlineList,
) -> Result<Cond<agents::table>, ScimError> {
    if path.urn.is_some() || path.sub_attr.is_some() {
        return Err(unsupported(path));
    }
    type Qs = agents::table;
    let sub = path.attr.to_ascii_lowercase();
    Ok(match (sub.as_str(), cmp, list) {
        ("value", None, InlineList::Emails) => text_present!(Qs, agents::email),
        ("value", None, InlineList::Phones) => text_present!(Qs, agents::phone),
        ("value", Some((op, v)), InlineList::Emails) => {
            text_leaf!(Qs, agents::email, path, op, v, false)
        }
        ("value", Some((op, v)), InlineList::Phones) => {
            text_leaf!(Qs, agents::phone, path, op, v, false)
        }
        ("type", None, _) => always(true),
        ("type", Some((op, v)), _) => always(compare_text("work", op, text_value(path, v)?, false)),
        ("display", None, _) => always(false),
        ("display", Some((op, v)), _) => {
            text_value(path, v)?;
            always(op == CompareOp::Ne)
        }
        ("primary", None, _) => always(true),
        ("primary", Some((op, v)), _) => always(bool_op(path, op, v)?),
        _ => return Err(unsupported(path)),
    })
}

/// Conditions inside `emails[…]`, `phoneNumbers[…]`, `skillGroups[…]`, `channels[…]`.
pub(in crate::store) fn value_filter(
    filter: &Filter,
    depth: usize,
) -> Result<Cond<agent_values::table>, ScimError> {
    combine(filter, depth, &|f, _| match f {
        Filter::Present(p) => value_leaf(p, None),
        Filter::Compare(p, op, v) => value_leaf(p, Some((*op, v))),
        Filter::ValuePath(p, _) => Err(unsupported(p)),
        other => value_filter(other, depth + 1),
    })
}

fn value_leaf(
    path: &AttrPath,
    cmp: Option<(CompareOp, &CompValue)>,
) -> Result<Cond<agent_values::table>, ScimError> {
    if path.urn.is_some() || path.sub_attr.is_some() {
        return Err(unsupported(path));
    }
    let sub = path.attr.to_ascii_lowercase();
    type Qs = agent_values::table;
    Ok(match (sub.as_str(), cmp) {
        ("value", None) => text_present!(Qs, agent_values::value),
        ("value", Some((op, v))) => text_leaf!(Qs, agent_values::value, path, op, v, false),
        ("type", None) => text_present!(Qs, agent_values::kind),
        ("type", Some((op, v))) => text_leaf!(Qs, agent_values::kind, path, op, v, false),
        ("display", None) => text_present!(Qs, agent_values::display),
        ("display", Some((op, v))) => text_leaf!(Qs, agent_values::display, path, op, v, false),
        ("primary", None) => always(true),
        ("primary", Some((op, v))) => Box::new(agent_values::is_primary.eq(bool_op(path, op, v)?)),
        _ => return Err(unsupported(path)),
    })
}

/// Conditions inside `groups[…]` on a user: only the group id (`value`).
pub(in crate::store) fn membership_filter(
    filter: &Filter,
    depth: usize,
) -> Result<Cond<group_members::table>, ScimError> {
    combine(filter, depth, &|f, _| match f {
        Filter::Compare(p, op, v)
            if p.attr.eq_ignore_ascii_case("value") && p.sub_attr.is_none() =>
        {
            Ok(text_leaf!(
                group_members::table,
                group_members::group_id,
                p,
                *op,
                v,
                true
            ))
        }
        Filter::Compare(p, ..) | Filter::Present(p) | Filter::ValuePath(p, _) => {
            Err(unsupported(p))
        }
        other => membership_filter(other, depth + 1),
    })
}
