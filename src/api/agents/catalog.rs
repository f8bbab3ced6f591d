//! What agents can be given: `GET /api/v1/skill-groups` (the values in use, with how many
//! live agents hold each) and `GET /api/v1/channels` (the configured catalog, with counts).

use actix_web::{HttpResponse, get};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::auth::Reader;
use crate::api::problem::Problem;
use crate::domain::Status;
use crate::http::State;
use crate::store::DbConn;
use crate::store::agents::{CHANNELS, SKILL_GROUPS};
use crate::store::schema::{agent_values, agents};

/// One value and how many live agents hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueCount {
    #[schema(example = "billing")]
    pub name: String,
    /// Live (not deleted) agents holding it.
    pub agents: i64,
    /// For channels: whether it is in the configured catalog (a value set before the
    /// catalog changed may not be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_catalog: Option<bool>,
}

/// A list of values.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValueList {
    pub items: Vec<ValueCount>,
}

fn in_use(conn: &mut DbConn, attr: &str) -> QueryResult<Vec<(String, i64)>> {
    agent_values::table
        .inner_join(agents::table)
        .filter(agent_values::attr.eq(attr))
        .filter(agents::status.ne(Status::Deleted.as_str()))
        .group_by(agent_values::value)
        .select((
            agent_values::value,
            diesel::dsl::count(agent_values::agent_id),
        ))
        .order(agent_values::value.asc())
        .load(conn)
}

/// The skill groups agents hold, by name, with counts.
#[utoipa::path(
    tag = "agents",
    responses(
        (status = 200, description = "Skill groups in use", body = ValueList),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/skill-groups")]
pub async fn skill_groups(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let rows = crate::api::read(&state, |conn| Ok(in_use(conn, SKILL_GROUPS)?)).await?;
    let items = rows
        .into_iter()
        .map(|(name, agents)| ValueCount {
            name,
            agents,
            in_catalog: None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ValueList { items }))
}

/// The channel catalog (`[accounts] channels`) with how many agents serve each; values
/// agents hold outside the catalog follow, marked `inCatalog: false`.
#[utoipa::path(
    tag = "agents",
    responses(
        (status = 200, description = "The channel catalog", body = ValueList),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/channels")]
pub async fn channels(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let rows = crate::api::read(&state, |conn| Ok(in_use(conn, CHANNELS)?)).await?;
    let catalog = &state.config.accounts.channels;
    let count = |c: &str| {
        rows.iter()
            .filter(|(v, _)| v.eq_ignore_ascii_case(c))
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let mut items: Vec<ValueCount> = catalog
        .iter()
        .map(|c| ValueCount {
            name: c.clone(),
            agents: count(c),
            in_catalog: Some(true),
        })
        .collect();
    for (v, n) in &rows {
        if !catalog.iter().any(|c| c.eq_ignore_ascii_case(v)) {
            items.push(ValueCount {
                name: v.clone(),
                agents: *n,
                in_catalog: Some(false),
            });
        }
    }
    Ok(HttpResponse::Ok().json(ValueList { items }))
}
