//! SCIM filters on `/Groups` → SQL over `groups`, with `members` as sub-selects over
//! `group_members`.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;

use super::{
    Cond, always, coalesce, combine, in_subselect, like_pattern, lower_n, schema_of, text_value,
    unsupported,
};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::store::schema::{group_members, groups};
use crate::store::{Db, grouped};

/// The SQL condition for a filter on `/Groups`.
pub fn group_filter(filter: &Filter) -> Result<Cond<groups::table>, ScimError> {
    match grouped::group_conjunction(filter)? {
        Some(cond) => Ok(cond),
        None => combine(filter, 0, &group_leaf),
    }
}

pub(in crate::store) fn group_leaf(
    filter: &Filter,
    depth: usize,
) -> Result<Cond<groups::table>, ScimError> {
    match filter {
        Filter::Present(path) => group_compare(path, None),
        Filter::Compare(path, op, value) => group_compare(path, Some((*op, value))),
        Filter::ValuePath(path, inner) => {
            schema_of(path, true)?;
            if !path.attr.eq_ignore_ascii_case("members") || path.sub_attr.is_some() {
                return Err(unsupported(path));
            }
            let cond = member_filter(inner, depth + 1)?;
            let ids = group_members::table
                .into_boxed::<Db>()
                .filter(cond)
                .select(group_members::group_id);
            Ok(Box::new(in_subselect(groups::id, ids)))
        }
        other => group_filter(other),
    }
}

/// Conditions inside `members[…]`: `value` (member id) and `type`.
pub(in crate::store) fn member_filter(
    filter: &Filter,
    depth: usize,
) -> Result<Cond<group_members::table>, ScimError> {
    combine(filter, depth, &|f, _| match f {
        Filter::Compare(p, op, v) if p.sub_attr.is_none() && p.urn.is_none() => {
            match p.attr.to_ascii_lowercase().as_str() {
                "value" => Ok(text_leaf!(
                    group_members::table,
                    group_members::member_id,
                    p,
                    *op,
                    v,
                    true
                )),
                "type" => Ok(text_leaf!(
                    group_members::table,
                    group_members::member_type,
                    p,
                    *op,
                    v,
                    false
                )),
                _ => Err(unsupported(p)),
            }
        }
        Filter::Present(p) if p.attr.eq_ignore_ascii_case("value") => Ok(always(true)),
        Filter::Compare(p, ..) | Filter::Present(p) | Filter::ValuePath(p, _) => {
            Err(unsupported(p))
        }
        other => member_filter(other, depth + 1),
    })
}

fn group_compare(
    path: &AttrPath,
    cmp: Option<(CompareOp, &CompValue)>,
) -> Result<Cond<groups::table>, ScimError> {
    schema_of(path, true)?;
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    type Qs = groups::table;
    macro_rules! text {
        ($col:expr, $exact:expr) => {
            match cmp {
                None => text_present!(Qs, $col),
                Some((op, v)) => text_leaf!(Qs, $col, path, op, v, $exact),
            }
        };
    }
    Ok(match (attr.as_str(), sub.as_deref()) {
        ("id", None) => text!(groups::id, true),
        ("externalid", None) => text!(groups::external_id, true),
        ("displayname", None) => match cmp {
            None => text_present!(Qs, groups::display_name),
            Some((op, v)) => key_leaf!(Qs, groups::display_name_key, path, op, v),
        },
        ("members", None | Some("value") | Some("type")) => {
            let sub_path = AttrPath {
                urn: None,
                attr: sub.unwrap_or_else(|| "value".into()),
                sub_attr: None,
            };
            let inner = match cmp {
                None => Filter::Present(sub_path),
                Some((op, v)) => Filter::Compare(sub_path, op, v.clone()),
            };
            let cond = member_filter(&inner, 1)?;
            let ids = group_members::table
                .into_boxed::<Db>()
                .filter(cond)
                .select(group_members::group_id);
            Box::new(in_subselect(groups::id, ids))
        }
        ("meta", Some("created")) => match cmp {
            None => always(true),
            Some((op, v)) => time_leaf!(Qs, groups::created_at, path, op, v),
        },
        ("meta", Some("lastmodified")) => match cmp {
            None => always(true),
            Some((op, v)) => time_leaf!(Qs, groups::updated_at, path, op, v),
        },
        _ => return Err(unsupported(path)),
    })
}
