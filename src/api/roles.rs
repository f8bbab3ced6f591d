//! `/api/v1/roles` and `/api/v1/permissions`: roles as data (list, read, create, clone,
//! change with a `?dry_run=true` impact, delete) and the permission catalog, all through the
//! gateway (`accounts::Accounts`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::body::Json;
use super::problem::Problem;
use crate::accounts::{NewRole, RoleImpact, RolePatch};
use crate::domain::permissions::PermissionDef;
use crate::domain::roles::Role;
use crate::http::State;
use crate::store::roles as role_store;

/// Registers the role and permission endpoints.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(list_roles)
        .service(create_role)
        .service(get_role)
        .service(patch_role)
        .service(delete_role)
        .service(clone_role)
        .service(list_permissions);
}

/// A role as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    #[schema(example = "night_shift")]
    pub name: String,
    pub description: String,
    /// Keys of the catalog (`GET /api/v1/permissions`), in catalog order.
    pub permissions: Vec<String>,
    /// Seeded from a template; read-only, but clonable.
    pub builtin: bool,
    pub default_max_concurrent_chats: i32,
    pub default_channels: Vec<String>,
    /// Live agents holding it.
    pub agents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoleView {
    fn of(r: Role, agents: i64) -> RoleView {
        RoleView {
            name: r.name,
            description: r.description,
            permissions: r.permissions,
            builtin: r.builtin,
            default_max_concurrent_chats: r.default_max_concurrent_chats,
            default_channels: r.default_channels,
            agents,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A role change, done or (`dryRun`) only worked out.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleChangeView {
    pub role: RoleView,
    /// `true`: nothing was saved.
    pub dry_run: bool,
    pub impact: RoleImpact,
}

/// `POST /api/v1/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRole {
    /// Lower-case letters, digits, `_` and `-`, starting with a letter, at most 64.
    #[schema(example = "night_shift")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// 5 when not given.
    pub default_max_concurrent_chats: Option<i32>,
    /// From `[accounts] channels`.
    #[serde(default)]
    pub default_channels: Vec<String>,
}

/// `PATCH /api/v1/roles/{name}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchRole {
    pub description: Option<String>,
    /// The whole new list.
    pub permissions: Option<Vec<String>>,
    pub default_max_concurrent_chats: Option<i32>,
    pub default_channels: Option<Vec<String>>,
}

/// `POST /api/v1/roles/{name}/clone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloneRole {
    /// The new role's name.
    pub name: String,
    /// The source's description when not given.
    pub description: Option<String>,
}

/// `?dry_run=true|false` (also `1|0`); absent is false.
pub fn dry_run(req: &HttpRequest) -> Result<bool, Problem> {
    let mut out = false;
    for pair in req.query_string().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "dry_run" {
            continue;
        }
        out = match v {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(Problem::bad_request(format!(
                    "dry_run must be true or false, not {other:?}"
                )));
            }
        };
    }
    Ok(out)
}

fn created(view: &RoleView) -> HttpResponse {
    HttpResponse::build(StatusCode::CREATED)
        .insert_header((
            header::LOCATION,
            format!("{}/roles/{}", super::BASE, view.name),
        ))
        .json(view)
}

/// Every role, by name, with how many agents hold it.
#[utoipa::path(
    tag = "roles",
    responses(
        (status = 200, description = "The roles", body = Vec<RoleView>),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/roles")]
async fn list_roles(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let views = super::read(&state, |conn| {
        let counts = role_store::holder_counts(conn)?;
        Ok(role_store::list(conn)?
            .into_iter()
            .map(|r| {
                let n = counts.get(&r.name).map_or(0, |c| c.0);
                RoleView::of(r, n)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// One role.
#[utoipa::path(
    tag = "roles",
    params(("name" = String, Path, description = "The role's name")),
    responses(
        (status = 200, description = "The role", body = RoleView),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/roles/{name}")]
async fn get_role(
    state: State,
    _r: Reader,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let name = name.into_inner();
    let view = super::read(&state, move |conn| {
        let role = role_store::get(conn, &name)?
            .ok_or_else(|| Problem::not_found(format!("role {name:?} not found")))?;
        let (n, _) = role_store::holders_of(conn, &name)?;
        Ok(RoleView::of(role, n))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Creates a custom role (`Idempotency-Key` honoured).
#[utoipa::path(
    tag = "roles",
    request_body = CreateRole,
    responses(
        (status = 201, description = "Created; Location names it", body = RoleView),
        (status = 409, description = "A role of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule is broken: the name, an unknown permission or channel (each named)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/roles")]
async fn create_role(
    req: HttpRequest,
    state: State,
    admin: Admin,
    body: Json<CreateRole>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let Json { value, raw } = body;
    let st = state.clone();
    let who = actor.clone();
    let run = async move {
        let view = super::db(&st.clone(), move |conn| {
            let role = st.accounts.create_role(
                conn,
                &who,
                NewRole {
                    name: value.name,
                    description: value.description,
                    permissions: value.permissions,
                    default_max_concurrent_chats: value.default_max_concurrent_chats,
                    default_channels: value.default_channels,
                },
                crate::store::now(),
            )?;
            Ok(RoleView::of(role, 0))
        })
        .await?;
        Ok(created(&view))
    };
    super::idempotency::idempotent(&req, &state, &actor, &raw, run).await
}

/// Creates a custom role from a built-in template or any role (`Idempotency-Key`
/// honoured).
#[utoipa::path(
    tag = "roles",
    params(("name" = String, Path, description = "The role to copy")),
    request_body = CloneRole,
    responses(
        (status = 201, description = "Created; Location names it", body = RoleView),
        (status = 404, description = "No such role to copy", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A role of the new name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new name breaks the rules", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/roles/{name}/clone")]
async fn clone_role(
    req: HttpRequest,
    state: State,
    admin: Admin,
    source: web::Path<String>,
    body: Json<CloneRole>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let source = source.into_inner();
    let Json { value, raw } = body;
    let st = state.clone();
    let who = actor.clone();
    let run = async move {
        let view = super::db(&st.clone(), move |conn| {
            let role = st.accounts.clone_role(
                conn,
                &who,
                &source,
                &value.name,
                value.description,
                crate::store::now(),
            )?;
            Ok(RoleView::of(role, 0))
        })
        .await?;
        Ok(created(&view))
    };
    super::idempotency::idempotent(&req, &state, &actor, &raw, run).await
}

/// Changes a custom role. With `?dry_run=true` nothing is saved: the answer is the role as
/// it would be and who would gain and lose which permission.
#[utoipa::path(
    tag = "roles",
    params(
        ("name" = String, Path, description = "The role's name"),
        ("dry_run" = Option<bool>, Query, description = "Only work out the change and its impact"),
    ),
    request_body = PatchRole,
    responses(
        (status = 200, description = "The role and the change's impact on its holders", body = RoleChangeView),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A built-in role is read-only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown permissions or channels (named), a limit out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/roles/{name}")]
async fn patch_role(
    req: HttpRequest,
    state: State,
    admin: Admin,
    name: web::Path<String>,
    body: Json<PatchRole>,
) -> Result<HttpResponse, Problem> {
    let dry = dry_run(&req)?;
    let actor = admin.actor();
    let name = name.into_inner();
    let b = body.value;
    let st = state.clone();
    let view = super::db(&state, move |conn| {
        let w = st.accounts.update_role(
            conn,
            &actor,
            &name,
            RolePatch {
                description: b.description,
                permissions: b.permissions,
                default_max_concurrent_chats: b.default_max_concurrent_chats,
                default_channels: b.default_channels,
            },
            dry,
            crate::store::now(),
        )?;
        let holders = w.impact.holders;
        Ok(RoleChangeView {
            role: RoleView::of(w.role, holders),
            dry_run: w.dry_run,
            impact: w.impact,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes a custom role that no agent holds.
#[utoipa::path(
    tag = "roles",
    params(("name" = String, Path, description = "The role's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Built in, still held by agents (how many is said), or named by scim.group_roles", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/roles/{name}")]
async fn delete_role(
    state: State,
    admin: Admin,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let name = name.into_inner();
    let st = state.clone();
    super::db(&state, move |conn| {
        Ok(st
            .accounts
            .delete_role(conn, &actor, &name, crate::store::now())?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The permission catalog: Rollcall's keys, then the configuration's `[[permissions]]`.
#[utoipa::path(
    tag = "roles",
    responses((status = 200, description = "Every permission key", body = Vec<PermissionDef>)),
    security(("bearer" = []))
)]
#[get("/permissions")]
async fn list_permissions(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(state.accounts.access.catalog.defs()))
}
