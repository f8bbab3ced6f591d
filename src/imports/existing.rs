//! What an import compares its rows with: the live agents' names and agent numbers (for
//! matching, conflicts and managers), and the full agents its rows match. Reads only.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::domain::{Agent, Status};
use crate::store::models::AgentRow;
use crate::store::schema::agents;
use crate::store::{DbConn, agents as agent_store};

/// The live agents, indexed.
#[derive(Debug, Default)]
pub struct Existing {
    /// Folded user name → (id, user name).
    pub by_key: HashMap<String, (String, String)>,
    /// Agent number → ids (a number is not unique in the database).
    pub by_number: HashMap<String, Vec<String>>,
    /// Id → user name.
    pub names: HashMap<String, String>,
    /// The full agents that rows match, by id (filled by [`Existing::load_matched`]).
    pub agents: HashMap<String, Agent>,
}

impl Existing {
    /// Reads the index of every live agent.
    pub fn load(conn: &mut DbConn) -> QueryResult<Existing> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = agents::table
            .filter(agents::status.ne(Status::Deleted.as_str()))
            .select((
                agents::id,
                agents::user_name,
                agents::user_name_key,
                agents::employee_number,
            ))
            .load(conn)?;
        let mut e = Existing::default();
        for (id, user_name, key, number) in rows {
            let key = key.unwrap_or_else(|| crate::domain::names::fold(&user_name));
            e.by_key
                .entry(key)
                .or_insert_with(|| (id.clone(), user_name.clone()));
            if let Some(n) = number.filter(|n| !n.is_empty()) {
                e.by_number.entry(n).or_default().push(id.clone());
            }
            e.names.insert(id, user_name);
        }
        Ok(e)
    }

    /// Loads the full agents with these ids (profile and multi-valued attributes).
    pub fn load_matched(&mut self, conn: &mut DbConn, ids: &HashSet<String>) -> QueryResult<()> {
        let ids: Vec<&String> = ids.iter().collect();
        for chunk in ids.chunks(500) {
            let rows: Vec<AgentRow> = agents::table
                .filter(agents::id.eq_any(chunk))
                .filter(agents::status.ne(Status::Deleted.as_str()))
                .select(AgentRow::as_select())
                .load(conn)?;
            for agent in agent_store::with_values(conn, rows)? {
                self.agents.insert(agent.id.clone(), agent);
            }
        }
        Ok(())
    }
}
