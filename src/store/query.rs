//! SCIM filters and sorting translated to SQL (never evaluated in memory): each filter node
//! becomes a boxed diesel expression over `agents` or `groups`; multi-valued attributes become
//! `id IN (SELECT … FROM agent_values / group_members WHERE …)` sub-selects; an `and` chain
//! with several terms over one of them becomes one grouped sub-select (`grouped`).

use chrono::{DateTime, NaiveDateTime};
use diesel::expression::{AppearsOnTable, BoxableExpression, SelectableExpression, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Nullable, Text};

use super::schema::{agent_values, agents, group_members, groups};
use super::{Db, grouped};
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter, compare_text};

diesel::define_sql_function!(fn lower(x: Text) -> Text);
diesel::define_sql_function! {
    #[sql_name = "lower"]
    fn lower_n(x: Nullable<Text>) -> Nullable<Text>;
}
diesel::define_sql_function!(fn coalesce(x: Nullable<Bool>, y: Bool) -> Bool);

/// `column IN (sub-select)`. diesel's own `eq_any` with a sub-select cannot be boxed for
/// the multi-backend, so this node writes the SQL itself.
pub struct InSubselect<C> {
    column: C,
    sub: Box<dyn QueryFragment<Db> + Send + 'static>,
}

pub fn in_subselect<C>(column: C, sub: impl QueryFragment<Db> + Send + 'static) -> InSubselect<C> {
    InSubselect {
        column,
        sub: Box::new(sub),
    }
}

impl<C> diesel::Expression for InSubselect<C> {
    type SqlType = Bool;
}

impl<C: QueryFragment<Db>> QueryFragment<Db> for InSubselect<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        // Cacheable: the statement cache keys such queries by their SQL text, and the
        // sub-select marks the statement uncacheable itself if it has to.
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        self.sub.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<C> QueryId for InSubselect<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for InSubselect<C> {}
impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for InSubselect<C> {}
impl<C> ValidGrouping<()> for InSubselect<C> {
    type IsAggregate = diesel::expression::is_aggregate::No;
}

/// A fixed condition on `agents` written as SQL text: unlike `diesel::dsl::sql`, it keeps
/// the statement cacheable (prepared once per connection), and unlike a bound value SQLite
/// can match it against a partial index's predicate.
macro_rules! agents_literal {
    ($(#[$doc:meta])* $name:ident, $sql:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl diesel::Expression for $name {
            type SqlType = Bool;
        }

        impl QueryFragment<Db> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl QueryId for $name {
            type QueryId = $name;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl AppearsOnTable<agents::table> for $name {}
        impl SelectableExpression<agents::table> for $name {}
        impl ValidGrouping<()> for $name {
            type IsAggregate = diesel::expression::is_aggregate::No;
        }
    };
}

agents_literal!(
    /// `agents.status <> 'deleted'`: the partial indexes of live agents are declared with
    /// that exact predicate.
    LiveAgent,
    "agents.status <> 'deleted'"
);

agents_literal!(
    /// `agents.status = 'deleted'`: the partial index `agents_deleted`.
    DeletedAgent,
    "agents.status = 'deleted'"
);

/// A boolean SQL condition over the table `QS`.
pub type Cond<QS> = Box<dyn BoxableExpression<QS, Db, SqlType = Bool>>;

/// Deepest filter nesting translated (the parser bounds it too).
const MAX_DEPTH: usize = 256;

/// Schema a filter attribute belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Schema {
    Core,
    Enterprise,
    Agent,
    Group,
}

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:user";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";
const AGENT_EXT: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:agent";

pub(super) fn schema_of(path: &AttrPath, group: bool) -> Result<Option<Schema>, ScimError> {
    let Some(urn) = &path.urn else {
        return Ok(None);
    };
    let urn = urn.to_ascii_lowercase();
    let schema = match urn.as_str() {
        CORE_USER if !group => Schema::Core,
        CORE_GROUP if group => Schema::Group,
        ENTERPRISE if !group => Schema::Enterprise,
        AGENT_EXT if !group => Schema::Agent,
        _ => {
            return Err(ScimError::invalid_filter(format!(
                "unknown schema {} in filter attribute",
                path.urn.as_deref().unwrap_or_default()
            )));
        }
    };
    Ok(Some(schema))
}

fn unsupported(path: &AttrPath) -> ScimError {
    let mut name = String::new();
    if let Some(urn) = &path.urn {
        name.push_str(urn);
        name.push(':');
    }
    name.push_str(&path.attr);
    if let Some(sub) = &path.sub_attr {
        name.push('.');
        name.push_str(sub);
    }
    ScimError::invalid_filter(format!("attribute {name:?} is not filterable"))
}

fn text_value<'a>(path: &AttrPath, value: &'a CompValue) -> Result<&'a str, ScimError> {
    match value {
        CompValue::Str(s) => Ok(s),
        _ => Err(ScimError::invalid_filter(format!(
            "attribute {:?} takes a string value",
            path.attr
        ))),
    }
}

fn like_pattern(op: CompareOp, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    match op {
        CompareOp::Co => format!("%{escaped}%"),
        CompareOp::Sw => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

/// A comparison on a text column; `case_exact` follows the attribute's schema. A missing
/// value never matches (`col IS NOT NULL AND …`), which keeps `not (…)` right and lets
/// the planner use the `lower(col)` indexes.
macro_rules! text_leaf {
    ($qs:ty, $col:expr, $path:expr, $op:expr, $value:expr, $case_exact:expr) => {{
        let col = $col.nullable();
        let op: CompareOp = $op;
        let raw = text_value($path, $value)?.to_owned();
        macro_rules! present_and {
            ($e:expr) => {
                Box::new(col.is_not_null().and($e).assume_not_null())
            };
        }
        let cond: Cond<$qs> = match (op, $case_exact) {
            (CompareOp::Eq, true) => present_and!(col.eq(raw)),
            (CompareOp::Eq, false) => present_and!(lower_n(col).eq(lower_n(raw))),
            (CompareOp::Ne, true) => Box::new(diesel::dsl::not(
                col.is_not_null().and(col.eq(raw)).assume_not_null(),
            )),
            (CompareOp::Ne, false) => Box::new(diesel::dsl::not(
                col.is_not_null()
                    .and(lower_n(col).eq(lower_n(raw)))
                    .assume_not_null(),
            )),
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, true) => {
                present_and!(col.like(like_pattern(op, &raw)).escape('\\'))
            }
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, false) => {
                present_and!(
                    lower_n(col)
                        .like(lower_n(like_pattern(op, &raw)))
                        .escape('\\')
                )
            }
            (CompareOp::Gt, _) => present_and!(lower_n(col).gt(lower_n(raw))),
            (CompareOp::Ge, _) => present_and!(lower_n(col).ge(lower_n(raw))),
            (CompareOp::Lt, _) => present_and!(lower_n(col).lt(lower_n(raw))),
            (CompareOp::Le, _) => present_and!(lower_n(col).le(lower_n(raw))),
        };
        cond
    }};
}

/// A comparison on a folded key column (`agents.user_name_key`, `groups.display_name_key`):
/// the value is folded as the key was (`domain::names::fold`), then compared exactly, so
/// that both backends, whatever their locale, agree on which names are the same.
macro_rules! key_leaf {
    ($qs:ty, $col:expr, $path:expr, $op:expr, $value:expr) => {{
        let col = $col;
        let op: CompareOp = $op;
        let key = crate::domain::names::fold(text_value($path, $value)?);
        macro_rules! present_and {
            ($e:expr) => {
                Box::new(col.is_not_null().and($e).assume_not_null())
            };
        }
        let cond: Cond<$qs> = match op {
            CompareOp::Eq => present_and!(col.eq(key)),
            CompareOp::Ne => Box::new(diesel::dsl::not(
                col.is_not_null().and(col.eq(key)).assume_not_null(),
            )),
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                present_and!(col.like(like_pattern(op, &key)).escape('\\'))
            }
            CompareOp::Gt => present_and!(col.gt(key)),
            CompareOp::Ge => present_and!(col.ge(key)),
            CompareOp::Lt => present_and!(col.lt(key)),
            CompareOp::Le => present_and!(col.le(key)),
        };
        cond
    }};
}

/// `pr` on a text column: present and not empty.
macro_rules! text_present {
    ($qs:ty, $col:expr) => {{
        let cond: Cond<$qs> = Box::new(coalesce($col.nullable().ne(""), false));
        cond
    }};
}

/// A comparison on a timestamp column with an RFC 3339 value.
macro_rules! time_leaf {
    ($qs:ty, $col:expr, $path:expr, $op:expr, $value:expr) => {{
        let raw = text_value($path, $value)?;
        let at: NaiveDateTime = DateTime::parse_from_rfc3339(raw)
            .map_err(|_| {
                ScimError::invalid_filter(format!(
                    "{:?} needs an RFC 3339 date-time such as 2026-01-31T12:00:00Z",
                    $path.attr
                ))
            })?
            .naive_utc();
        let cond: Cond<$qs> = match $op {
            CompareOp::Eq => Box::new($col.eq(at)),
            CompareOp::Ne => Box::new($col.ne(at)),
            CompareOp::Gt => Box::new($col.gt(at)),
            CompareOp::Ge => Box::new($col.ge(at)),
            CompareOp::Lt => Box::new($col.lt(at)),
            CompareOp::Le => Box::new($col.le(at)),
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "{:?} is a date-time: use eq, ne, gt, ge, lt or le",
                    $path.attr
                )));
            }
        };
        cond
    }};
}

pub(super) fn always<QS>(value: bool) -> Cond<QS>
where
    diesel::dsl::AsExprOf<bool, Bool>: BoxableExpression<QS, Db, SqlType = Bool>,
{
    Box::new(value.into_sql::<Bool>())
}

fn bool_value(path: &AttrPath, value: &CompValue) -> Result<bool, ScimError> {
    match value {
        CompValue::Bool(b) => Ok(*b),
        CompValue::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        CompValue::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_filter(format!(
            "{:?} takes true or false",
            path.attr
        ))),
    }
}

fn bool_op(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<bool, ScimError> {
    let b = bool_value(path, value)?;
    match op {
        CompareOp::Eq => Ok(b),
        CompareOp::Ne => Ok(!b),
        _ => Err(ScimError::invalid_filter(format!(
            "{:?} is a boolean: only eq, ne and pr apply",
            path.attr
        ))),
    }
}

/// Turns one leaf of a filter into a condition.
type Leaf<'a, QS> = &'a dyn Fn(&Filter, usize) -> Result<Cond<QS>, ScimError>;

pub(super) fn combine<QS: 'static>(
    filter: &Filter,
    depth: usize,
    leaf: Leaf<'_, QS>,
) -> Result<Cond<QS>, ScimError>
where
    diesel::dsl::AsExprOf<bool, Bool>: BoxableExpression<QS, Db, SqlType = Bool>,
{
    if depth > MAX_DEPTH {
        return Err(ScimError::invalid_filter("filter is nested too deeply"));
    }
    Ok(match filter {
        Filter::And(a, b) => {
            Box::new(combine(a, depth + 1, leaf)?.and(combine(b, depth + 1, leaf)?))
        }
        Filter::Or(a, b) => Box::new(combine(a, depth + 1, leaf)?.or(combine(b, depth + 1, leaf)?)),
        Filter::Not(a) => Box::new(diesel::dsl::not(combine(a, depth + 1, leaf)?)),
        other => leaf(other, depth)?,
    })
}

// ---------------------------------------------------------------- Users

/// The SQL condition for a filter on `/Users`.
pub fn user_filter(filter: &Filter) -> Result<Cond<agents::table>, ScimError> {
    match grouped::user_conjunction(filter)? {
        Some(cond) => Ok(cond),
        None => combine(filter, 0, &user_leaf),
    }
}

pub(super) fn user_leaf(filter: &Filter, depth: usize) -> Result<Cond<agents::table>, ScimError> {
    match filter {
        Filter::Present(path) => user_compare(path, None),
        Filter::Compare(path, op, value) => user_compare(path, Some((*op, value))),
        Filter::ValuePath(path, inner) => user_value_path(path, inner, depth),
        Filter::And(..) | Filter::Or(..) | Filter::Not(..) => user_filter(filter),
    }
}

/// Multi-valued attributes of a user kept in `agent_values`, by lower-cased name.
pub(super) fn multi_attr(schema: Option<Schema>, attr: &str) -> Option<&'static str> {
    match (schema, attr) {
        (None | Some(Schema::Core), "emails") => Some(super::agents::EMAILS),
        (None | Some(Schema::Core), "phonenumbers") => Some(super::agents::PHONES),
        (None | Some(Schema::Agent), "skillgroups") => Some(super::agents::SKILL_GROUPS),
        (None | Some(Schema::Agent), "channels") => Some(super::agents::CHANNELS),
        (None | Some(Schema::Core), "roles") => Some(super::agents::ROLES),
        _ => None,
    }
}

fn user_value_path(
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
fn multi_value_cond(
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
        super::agents::EMAILS => {
            Box::new(agents::emails_inline.and(inline_filter(inner, depth, InlineList::Emails)?))
        }
        super::agents::PHONES => {
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
pub(super) fn value_filter(
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
pub(super) fn membership_filter(
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

// ---------------------------------------------------------------- Groups

/// The SQL condition for a filter on `/Groups`.
pub fn group_filter(filter: &Filter) -> Result<Cond<groups::table>, ScimError> {
    match grouped::group_conjunction(filter)? {
        Some(cond) => Ok(cond),
        None => combine(filter, 0, &group_leaf),
    }
}

pub(super) fn group_leaf(filter: &Filter, depth: usize) -> Result<Cond<groups::table>, ScimError> {
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
pub(super) fn member_filter(
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
