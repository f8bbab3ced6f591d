//! `/api/v1/agents/{id}/permissions` (an agent's effective permissions and where each comes
//! from) and `/api/v1/agents/{id}/permission-overrides` (its grants and denies, with a
//! `?dry_run=true` impact), through the gateway.

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::body::Json;
use super::problem::Problem;
use super::roles::dry_run;
use crate::accounts::{AgentImpact, AgentPermissions};
use crate::domain::permissions::Overrides;
use crate::http::State;

pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(get_permissions).service(put_overrides);
}

/// `PUT /api/v1/agents/{id}/permission-overrides`: the whole new set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverridesBody {
    /// Keys granted on top of the role.
    #[serde(default)]
    pub grant: Vec<String>,
    /// Keys taken away whatever the role or a grant says (a deny wins).
    #[serde(default)]
    pub deny: Vec<String>,
}

/// The overrides' outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverridesChange {
    /// `true`: nothing was saved.
    pub dry_run: bool,
    /// The agent's permissions with the new overrides.
    pub permissions: AgentPermissions,
    /// What the agent gains and loses.
    pub impact: AgentImpact,
}

/// An agent's effective permissions: each key it has and each key denied to it, with its
/// source (`role`, `grant`, `deny`).
#[utoipa::path(
    tag = "roles",
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "Effective permissions; ETag W/\"<version>\"", body = AgentPermissions),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/agents/{id}/permissions")]
async fn get_permissions(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let st = state.clone();
    let p = super::read(&state, move |conn| {
        Ok(st.accounts.agent_permissions(conn, &id)?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("W/\"{}\"", p.version),
        ))
        .json(p))
}

/// Replaces an agent's grants and denies (`If-Match` honoured). With `?dry_run=true`
/// nothing is saved: the answer says what the agent would gain and lose.
#[utoipa::path(
    tag = "roles",
    params(
        ("id" = String, Path, description = "The agent's id"),
        ("dry_run" = Option<bool>, Query, description = "Only work out the change"),
    ),
    request_body = OverridesBody,
    responses(
        (status = 200, description = "The permissions after the change and its impact", body = OverridesChange),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown keys (named), or a key both granted and denied", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/agents/{id}/permission-overrides")]
async fn put_overrides(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<OverridesBody>,
) -> Result<HttpResponse, Problem> {
    let dry = dry_run(&req)?;
    let expected = super::if_match(&req);
    let actor = admin.actor();
    let id = id.into_inner();
    let o = Overrides {
        grant: body.value.grant,
        deny: body.value.deny,
    };
    let st = state.clone();
    let out = super::db(&state, move |conn| {
        let (permissions, impact) = st.accounts.set_permission_overrides(
            conn,
            &actor,
            &id,
            o,
            expected,
            dry,
            crate::store::now(),
        )?;
        Ok(OverridesChange {
            dry_run: dry,
            permissions,
            impact,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /api/v1/agents/{id}?dry_run=true`: what the change would do to the agent's
/// permissions (through its role); nothing is saved.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMovePreview {
    pub dry_run: bool,
    /// The role the agent would hold.
    pub role: String,
    pub impact: AgentImpact,
}

/// What `PATCH /api/v1/agents/{id}` answers: the agent, or with `?dry_run=true` the
/// preview. Only the document names this type; the handlers answer its variants.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum PatchAnswer {
    Agent(Box<super::agents::view::AgentView>),
    Preview(RoleMovePreview),
}

/// The dry run of an agent PATCH: the agent as read, the change applied in memory, and what
/// its new role would give and take.
pub async fn preview_patch(
    state: &State,
    id: String,
    expected: Option<i64>,
    change: super::agents::input::PatchAgent,
) -> Result<HttpResponse, Problem> {
    let st = state.clone();
    let out = super::db(state, move |conn| {
        let current = crate::store::agents::get(conn, &id)?
            .ok_or_else(|| Problem::not_found(format!("agent {id} not found")))?;
        if let Some(v) = expected
            && v != current.version
        {
            return Err(Problem::precondition_failed(current.version));
        }
        let input = change.apply(&current, &st.accounts.default_role)?;
        let role = input.profile.role.unwrap_or_else(|| current.role.clone());
        let impact = st.accounts.role_move_impact(conn, &id, &role)?;
        Ok(RoleMovePreview {
            dry_run: true,
            role,
            impact,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
