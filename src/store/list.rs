//! Listing agents and groups: filter, sort, index or cursor (keyset) pagination, totals.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{AgentRow, GroupRow};
use super::query::{group_filter, in_subselect, lower_n, user_filter};
use super::schema::{agents, groups};
use super::{Db, DbConn};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, Filter};

/// Which slice of the results to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// `startIndex`/`count`: skip `offset` rows.
    Index { offset: i64, count: i64 },
    /// RFC 9865 cursor: rows after the keyset position (`None` = from the start).
    Cursor {
        after: Option<(NaiveDateTime, String)>,
        count: i64,
    },
}

#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    pub window: Window,
    /// The count of the whole result when already known (carried in a cursor from the first
    /// page): not counted again.
    pub known_total: Option<i64>,
}

pub struct ListResult<T> {
    pub items: Vec<T>,
    pub total: i64,
    /// Keyset position of the last item, when there may be more (cursor mode).
    pub next: Option<(NaiveDateTime, String)>,
}

/// Applies the window (offset, or keyset position after a cursor) to a boxed query of
/// `$table`; yields the page size and whether this is cursor pagination.
macro_rules! apply_window {
    ($q:ident, $req:expr, $table:ident) => {{
        if matches!($req.window, Window::Cursor { .. }) && $req.sort_by.is_some() {
            return Err(ScimError::invalid_value(
                "sortBy cannot be combined with cursor pagination; results are in creation order",
            )
            .into());
        }
        match &$req.window {
            Window::Index { offset, count } => {
                $q = $q.offset(*offset);
                (*count, false)
            }
            Window::Cursor { after, count } => {
                if let Some((at, id)) = after.clone() {
                    // `created_at >= at` first: a range the (created_at, id) index serves.
                    $q = $q.filter(
                        $table::created_at
                            .ge(at)
                            .and($table::created_at.gt(at).or($table::id.gt(id))),
                    );
                }
                (*count, true)
            }
        }
    }};
}

/// Orders by `$col` in the requested direction.
macro_rules! order_by {
    ($q:ident, $req:expr, $col:expr) => {
        if $req.descending {
            $q.order_by($col.desc())
        } else {
            $q.order_by($col.asc())
        }
    };
}

/// `totalResults` without counting, when the page itself tells it: a page that holds fewer
/// rows than asked for (and is not past the end) ends the result, so the total is the rows
/// before it plus its own. An `eq` filter on a unique attribute — the probe every IdP makes
/// before a create — never needs a count.
fn total_from_page(req: &ListRequest<'_>, rows: usize, more: bool) -> Option<i64> {
    if let Some(t) = req.known_total {
        return Some(t);
    }
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    match &req.window {
        Window::Index { offset, count } if rows < *count && (rows > 0 || *offset == 0) => {
            Some(offset + rows)
        }
        Window::Cursor { after: None, .. } if !more => Some(rows),
        _ => None,
    }
}

/// Cuts the extra row fetched in cursor mode and returns the next keyset position.
fn cut<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor_mode: bool,
    key: impl Fn(&T) -> (NaiveDateTime, String),
) -> Option<(NaiveDateTime, String)> {
    if cursor_mode && rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        return rows.last().map(key);
    }
    None
}

#[derive(Debug, Clone, Copy)]
enum UserSort {
    UserName,
    DisplayName,
    GivenName,
    FamilyName,
    Email,
    ExternalId,
    EmployeeNumber,
    Department,
    Title,
    Created,
    LastModified,
    Id,
}

fn user_sort(path: &AttrPath) -> Result<UserSort, ScimError> {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    Ok(match (attr.as_str(), sub.as_deref()) {
        ("username", None) => UserSort::UserName,
        ("displayname", None) => UserSort::DisplayName,
        ("name", Some("givenname")) => UserSort::GivenName,
        ("name", Some("familyname")) => UserSort::FamilyName,
        ("emails", None | Some("value")) => UserSort::Email,
        ("externalid", None) => UserSort::ExternalId,
        ("employeenumber", None) => UserSort::EmployeeNumber,
        ("department", None) => UserSort::Department,
        ("title", None) => UserSort::Title,
        ("meta", Some("created")) => UserSort::Created,
        ("meta", Some("lastmodified")) => UserSort::LastModified,
        ("id", None) => UserSort::Id,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "cannot sort by {:?}; sortable: userName, displayName, name.givenName, \
                 name.familyName, emails, externalId, employeeNumber, department, title, id, \
                 meta.created, meta.lastModified",
                path.attr
            )));
        }
    })
}

/// Live agents: a literal predicate, so that both backends can use the partial indexes
/// declared `WHERE status <> 'deleted'`.
pub fn live() -> super::query::LiveAgent {
    super::query::LiveAgent
}

fn agents_base(filter: Option<&Filter>) -> Result<agents::BoxedQuery<'static, Db>, ScimError> {
    let mut q = agents::table.into_boxed::<Db>().filter(live());
    if let Some(f) = filter {
        q = q.filter(user_filter(f)?);
    }
    Ok(q)
}

fn sort_agents(
    q: agents::BoxedQuery<'static, Db>,
    sort: Option<UserSort>,
    descending: bool,
) -> agents::BoxedQuery<'static, Db> {
    let mut q = q;
    macro_rules! by {
        ($col:expr) => {
            if descending {
                q.order_by($col.desc())
            } else {
                q.order_by($col.asc())
            }
        };
    }
    q = match sort {
        None | Some(UserSort::Created) => by!(agents::created_at),
        // The folded key: the order filters (`gt`, `lt`) and uniqueness agree with.
        Some(UserSort::UserName) => by!(agents::user_name_key),
        Some(UserSort::DisplayName) => by!(lower_n(agents::display_name)),
        Some(UserSort::GivenName) => by!(lower_n(agents::given_name)),
        Some(UserSort::FamilyName) => by!(lower_n(agents::family_name)),
        Some(UserSort::Email) => by!(lower_n(agents::email)),
        Some(UserSort::ExternalId) => by!(agents::external_id),
        Some(UserSort::EmployeeNumber) => by!(agents::employee_number),
        Some(UserSort::Department) => by!(lower_n(agents::department)),
        Some(UserSort::Title) => by!(lower_n(agents::title)),
        Some(UserSort::LastModified) => by!(agents::updated_at),
        Some(UserSort::Id) => by!(agents::id),
    };
    if descending {
        q.then_order_by(agents::id.desc())
    } else {
        q.then_order_by(agents::id.asc())
    }
}

/// Live agents matching `filter`: the count `totalResults` reports when the page does not
/// tell it (see [`total_from_page`]).
fn count_agents(conn: &mut DbConn, filter: Option<&Filter>) -> Result<i64, ListError> {
    Ok(match filter {
        // All rows minus the few deleted ones: both counts are cheap (SQLite counts a table
        // without visiting rows; deleted rows are an index range).
        None => {
            let all: i64 = agents::table.count().get_result(conn)?;
            let deleted: i64 = agents::table
                .filter(super::query::DeletedAgent)
                .count()
                .get_result(conn)?;
            all - deleted
        }
        Some(_) => agents_base(filter)?.count().get_result(conn)?,
    })
}

/// One page of agents. The page's ids are found first (an index-only walk past the offset),
/// then only those rows are read.
pub fn list_agents(
    conn: &mut DbConn,
    req: &ListRequest<'_>,
) -> Result<ListResult<crate::domain::Agent>, ListError> {
    let mut q = agents_base(req.filter)?;
    let (limit, cursor_mode) = apply_window!(q, req, agents);
    let sort = req.sort_by.map(user_sort).transpose()?;
    let fetch = if cursor_mode { limit + 1 } else { limit };
    let page_ids = sort_agents(q, sort, req.descending)
        .limit(fetch)
        .select(agents::id);
    let outer = agents::table
        .into_boxed::<Db>()
        .filter(in_subselect(agents::id, page_ids));
    let mut rows: Vec<AgentRow> = sort_agents(outer, sort, req.descending)
        .select(AgentRow::as_select())
        .load(conn)?;
    let next = cut(&mut rows, limit, cursor_mode, |r| {
        (r.created_at, r.id.clone())
    });
    let total = match total_from_page(req, rows.len(), next.is_some()) {
        Some(t) => t,
        None => count_agents(conn, req.filter)?,
    };
    let items = super::agents::with_values(conn, rows)?;
    Ok(ListResult { items, total, next })
}

fn groups_base(filter: Option<&Filter>) -> Result<groups::BoxedQuery<'static, Db>, ScimError> {
    let mut q = groups::table.into_boxed::<Db>();
    if let Some(f) = filter {
        q = q.filter(group_filter(f)?);
    }
    Ok(q)
}

pub fn list_groups(
    conn: &mut DbConn,
    req: &ListRequest<'_>,
) -> Result<ListResult<GroupRow>, ListError> {
    let mut q = groups_base(req.filter)?;
    let (limit, cursor_mode) = apply_window!(q, req, groups);
    let sort = req.sort_by.map(|p| {
        let attr = p.attr.to_ascii_lowercase();
        let sub = p.sub_attr.as_deref().map(str::to_ascii_lowercase);
        match (attr.as_str(), sub.as_deref()) {
            ("displayname", None) => Ok(0),
            ("externalid", None) => Ok(1),
            ("id", None) => Ok(2),
            ("meta", Some("created")) => Ok(3),
            ("meta", Some("lastmodified")) => Ok(4),
            _ => Err(ScimError::invalid_value(format!(
                "cannot sort groups by {:?}; sortable: displayName, externalId, id, \
                 meta.created, meta.lastModified",
                p.attr
            ))),
        }
    });
    let sort = sort.transpose()?;
    macro_rules! by {
        ($col:expr) => {
            order_by!(q, req, $col)
        };
    }
    q = match sort {
        Some(0) => by!(groups::display_name_key),
        Some(1) => by!(groups::external_id),
        Some(2) => by!(groups::id),
        Some(4) => by!(groups::updated_at),
        _ => by!(groups::created_at),
    };
    q = if req.descending {
        q.then_order_by(groups::id.desc())
    } else {
        q.then_order_by(groups::id.asc())
    };
    let fetch = if cursor_mode { limit + 1 } else { limit };
    let mut rows: Vec<GroupRow> = q.limit(fetch).select(GroupRow::as_select()).load(conn)?;
    let next = cut(&mut rows, limit, cursor_mode, |r| {
        (r.created_at, r.id.clone())
    });
    let total = match total_from_page(req, rows.len(), next.is_some()) {
        Some(t) => t,
        None => groups_base(req.filter)?.count().get_result(conn)?,
    };
    Ok(ListResult {
        items: rows,
        total,
        next,
    })
}

/// A listing failed: the client's request, or the database.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}
