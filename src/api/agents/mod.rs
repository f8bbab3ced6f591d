//! `/api/v1/agents`: one agent's JSON (`view`), read, create, change, lifecycle steps and
//! delete, all through the gateway (`accounts::Accounts`, door `admin`).

pub mod catalog;
pub mod input;
pub mod steps;
pub mod view;
pub mod write;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Reader;
use super::problem::Problem;
use crate::http::State;
use crate::store::agents as agent_store;
pub use view::AgentView;

/// Registers the agent endpoints.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(get_agent)
        .service(write::create_agent)
        .service(write::patch_agent)
        .service(write::delete_agent)
        .service(steps::disable_agent)
        .service(steps::enable_agent)
        .service(steps::approve_agent)
        .service(steps::reject_agent)
        .service(steps::force_offline_agent)
        .service(steps::resume_agent)
        .service(catalog::skill_groups)
        .service(catalog::channels);
}

/// One agent.
#[utoipa::path(
    tag = "agents",
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent; ETag W/\"<version>\"", body = AgentView),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent (or deleted)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/agents/{id}")]
async fn get_agent(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let agent = super::read(&state, move |conn| {
        agent_store::get(conn, &id)?
            .ok_or_else(|| Problem::not_found(format!("agent {id} not found")))
    })
    .await?;
    Ok(view::respond(StatusCode::OK, &agent))
}
