//! The reads behind `rollcall agents`: finding an agent by id or user name, and listing
//! agents by status, role, department, source and a search text.

use diesel::prelude::*;

use crate::accounts::AccountError;
use crate::domain::{Agent, Status, names};
use crate::store::models::AgentRow;
use crate::store::schema::agents;
use crate::store::{Db, DbConn, agents as agent_store};

/// Which agents `agents list` shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `None`: every live agent (not deleted).
    pub status: Option<Status>,
    pub role: Option<String>,
    pub department: Option<String>,
    /// Exactly this source (`admin`, `ldap:corp`), or every source starting with it when
    /// it ends with `:` (`ldap:`).
    pub source: Option<String>,
    /// Part of the user name (compared folded), display name or email.
    pub search: Option<String>,
    pub limit: i64,
}

/// The agent `who` names: its id, else its user name (as the uniqueness rule compares
/// names). A deleted agent is found by id only.
pub fn resolve(conn: &mut DbConn, who: &str) -> Result<Agent, AccountError> {
    if let Some(a) = agent_store::get(conn, who)? {
        return Ok(a);
    }
    if let Some(id) = agent_store::id_by_user_name(conn, who)?
        && let Some(a) = agent_store::get(conn, &id)?
    {
        return Ok(a);
    }
    if agent_store::may_exist(who)
        && let Some(row) = crate::accounts::agent_row(conn, who)?
    {
        return agent_store::with_values(conn, vec![row])?
            .pop()
            .ok_or_else(|| AccountError::NotFound(format!("agent {who}")));
    }
    Err(AccountError::NotFound(format!("agent {who}")))
}

/// Agents matching `f`, by user name.
pub fn list(conn: &mut DbConn, f: &ListFilter) -> QueryResult<Vec<Agent>> {
    let mut q = agents::table.into_boxed::<Db>();
    q = match f.status {
        Some(s) => q.filter(agents::status.eq(s.as_str())),
        None => q.filter(agents::status.ne(Status::Deleted.as_str())),
    };
    if let Some(r) = &f.role {
        q = q.filter(agents::role.eq(r.clone()));
    }
    if let Some(d) = &f.department {
        q = q.filter(agents::department.eq(d.clone()));
    }
    match &f.source {
        Some(s) if s.ends_with(':') => {
            q = q.filter(
                agents::source
                    .like(crate::audit::search::like_prefix(s))
                    .escape('\\'),
            );
        }
        Some(s) => q = q.filter(agents::source.eq(s.clone())),
        None => {}
    }
    if let Some(text) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let folded = format!("%{}%", escape_like(&names::fold(text)));
        let lower = format!("%{}%", escape_like(&text.to_lowercase()));
        q = q.filter(
            agents::user_name_key
                .like(folded)
                .escape('\\')
                .or(lower_n(agents::display_name)
                    .like(lower.clone())
                    .escape('\\'))
                .or(lower_n(agents::email).like(lower).escape('\\')),
        );
    }
    let rows: Vec<AgentRow> = q
        .order((agents::user_name_key.asc(), agents::id.asc()))
        .limit(f.limit.max(1))
        .select(AgentRow::as_select())
        .load(conn)?;
    agent_store::with_values(conn, rows)
}

diesel::define_sql_function! {
    #[sql_name = "lower"]
    fn lower_n(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// `s` with `LIKE`'s wildcards and escape character taken literally.
fn escape_like(s: &str) -> String {
    let mut p = crate::audit::search::like_prefix(s);
    p.pop();
    p
}
