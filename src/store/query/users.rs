//! SCIM filters on `/Users` → SQL over `agents`: the single-valued attributes, and the
//! entry point that hands multi-valued ones to `values`.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::values::{membership_filter, multi_attr, multi_value_cond, user_value_path};
use super::{
    Cond, Schema, always, bool_op, coalesce, combine, in_subselect, like_pattern, lower_n,
    schema_of, text_value, unsupported,
};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::store::schema::{agents, group_members};
use crate::store::{Db, grouped};

/// The SQL condition for a filter on `/Users`.
pub fn user_filter(filter: &Filter) -> Result<Cond<agents::table>, ScimError> {
    match grouped::user_conjunction(filter)? {
        Some(cond) => Ok(cond),
        None => combine(filter, 0, &user_leaf),
    }
}

pub(in crate::store) fn user_leaf(
    filter: &Filter,
    depth: usize,
) -> Result<Cond<agents::table>, ScimError> {
    match filter {
        Filter::Present(path) => user_compare(path, None),
        Filter::Compare(path, op, value) => user_compare(path, Some((*op, value))),
        Filter::ValuePath(path, inner) => user_value_path(path, inner, depth),
        Filter::And(..) | Filter::Or(..) | Filter::Not(..) => user_filter(filter),
    }
}

fn user_compare(
    path: &AttrPath,
    cmp: Option<(CompareOp, &CompValue)>,
) -> Result<Cond<agents::table>, ScimError> {
    let schema = schema_of(path, false)?;
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    // Multi-valued attributes: `emails.value eq "x"`, `emails eq "x"`, `emails.type pr`.
    if let Some(stored) = multi_attr(schema, &attr) {
        let sub_path = AttrPath {
            urn: None,
            attr: sub.unwrap_or_else(|| "value".into()),
            sub_attr: None,
        };
        let inner = match cmp {
            None => Filter::Present(sub_path),
            Some((op, v)) => Filter::Compare(sub_path, op, v.clone()),
        };
        return multi_value_cond(stored, &inner, 1);
    }
    type Qs = agents::table;
    let key = (
        schema.unwrap_or(Schema::Core),
        attr.as_str(),
        sub.as_deref(),
    );
    macro_rules! text {
        ($col:expr, $exact:expr) => {
            match cmp {
                None => text_present!(Qs, $col),
                Some((op, v)) => text_leaf!(Qs, $col, path, op, v, $exact),
            }
        };
    }
    let cond: Cond<Qs> = match key {
        (Schema::Core, "id", None) => text!(agents::id, true),
        (Schema::Core, "externalid", None) => text!(agents::external_id, true),
        (Schema::Core, "username", None) => match cmp {
            None => text_present!(Qs, agents::user_name),
            Some((op, v)) => key_leaf!(Qs, agents::user_name_key, path, op, v),
        },
        (Schema::Core, "displayname", None) => text!(agents::display_name, false),
        (Schema::Core, "nickname", None) => text!(agents::nickname, false),
        (Schema::Core, "title", None) => text!(agents::title, false),
        (Schema::Core, "preferredlanguage", None) => text!(agents::preferred_language, false),
        (Schema::Core, "name", Some("givenname")) => text!(agents::given_name, false),
        (Schema::Core, "name", Some("familyname")) => text!(agents::family_name, false),
        (Schema::Core, "name", Some("middlename")) => text!(agents::middle_name, false),
        (Schema::Core, "name", Some("formatted")) => text!(agents::formatted_name, false),
        (Schema::Core | Schema::Agent, "role", None) => text!(agents::role, false),
        (Schema::Core, "active", None) => match cmp {
            None => always(true),
            Some((op, v)) => {
                if bool_op(path, op, v)? {
                    Box::new(agents::status.eq("active"))
                } else {
                    Box::new(agents::status.ne("active"))
                }
            }
        },
        (Schema::Core | Schema::Agent, "loginblocked", None) => match cmp {
            None => always(true),
            Some((op, v)) => Box::new(agents::login_blocked.eq(bool_op(path, op, v)?)),
        },
        (Schema::Core | Schema::Agent, "maxconcurrentchats", None) => match cmp {
            None => Box::new(agents::max_concurrent_chats.is_not_null()),
            Some((op, v)) => int_leaf(path, op, v)?,
        },
        (Schema::Core | Schema::Enterprise, "employeenumber", None) => {
            text!(agents::employee_number, false)
        }
        (Schema::Core | Schema::Enterprise, "department", None) => {
            text!(agents::department, false)
        }
        (Schema::Core | Schema::Enterprise, "manager", None | Some("value")) => {
            text!(agents::manager_id, true)
        }
        (Schema::Core, "groups", None | Some("value")) => {
            let inner = Filter::Compare(
                AttrPath {
                    urn: None,
                    attr: "value".into(),
                    sub_attr: None,
                },
                cmp.map(|c| c.0).ok_or_else(|| unsupported(path))?,
                cmp.map(|c| c.1.clone()).unwrap_or(CompValue::Null),
            );
            let cond = membership_filter(&inner, 1)?;
            let ids = group_members::table
                .into_boxed::<Db>()
                .filter(cond)
                .select(group_members::member_id);
            Box::new(in_subselect(agents::id, ids))
        }
        (Schema::Core, "meta", Some("created")) => match cmp {
            None => always(true),
            Some((op, v)) => time_leaf!(Qs, agents::created_at, path, op, v),
        },
        (Schema::Core, "meta", Some("lastmodified")) => match cmp {
            None => always(true),
            Some((op, v)) => time_leaf!(Qs, agents::updated_at, path, op, v),
        },
        (Schema::Core, "meta", Some("resourcetype")) => match cmp {
            None => always(true),
            Some((op, v)) => text_leaf!(Qs, "User".into_sql::<Text>(), path, op, v, true),
        },
        _ => return Err(unsupported(path)),
    };
    Ok(cond)
}

fn int_leaf(
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
) -> Result<Cond<agents::table>, ScimError> {
    let n = match value {
        CompValue::Num(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        _ => None,
    }
    .ok_or_else(|| ScimError::invalid_filter(format!("{:?} takes an integer", path.attr)))?;
    let col = agents::max_concurrent_chats;
    Ok(match op {
        CompareOp::Eq => Box::new(coalesce(col.eq(n), false)),
        CompareOp::Ne => Box::new(diesel::dsl::not(coalesce(col.eq(n), false))),
        CompareOp::Gt => Box::new(coalesce(col.gt(n), false)),
        CompareOp::Ge => Box::new(coalesce(col.ge(n), false)),
        CompareOp::Lt => Box::new(coalesce(col.lt(n), false)),
        CompareOp::Le => Box::new(coalesce(col.le(n), false)),
        _ => {
            return Err(ScimError::invalid_filter(format!(
                "{:?} is an integer: co, sw and ew do not apply",
                path.attr
            )));
        }
    })
}
