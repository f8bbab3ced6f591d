//! SCIM filters and sorting translated to SQL (never evaluated in memory): each filter node
//! becomes a boxed diesel expression over `agents` or `groups`; multi-valued attributes become
//! `id IN (SELECT … FROM agent_values / group_members WHERE …)` sub-selects; an `and` chain
//! with several terms over one of them becomes one grouped sub-select (`grouped`).

use diesel::expression::{AppearsOnTable, BoxableExpression, SelectableExpression, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Nullable, Text};

use super::Db;
use super::schema::agents;
use crate::scim::error::ScimError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};

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

// The filter translations use the macros above, so they are declared after them.
pub mod admin;
mod groups;
mod users;
mod values;

pub use groups::group_filter;
pub(super) use groups::{group_leaf, member_filter};
pub use users::user_filter;
pub(super) use users::user_leaf;
pub(super) use values::{membership_filter, multi_attr, value_filter};
