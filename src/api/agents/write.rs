//! Creating, changing (PATCH, `If-Match`) and deleting agents through the gateway (door
//! `admin`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, patch, post, web};
use serde::Deserialize;

use super::input::{CreateAgent, PatchAgent};
use super::view::{self, AgentView};
use crate::api::auth::Admin;
use crate::api::body::Json;
use crate::api::idempotency::{IdempotencyKey, idempotent};
use crate::api::problem::Problem;
use crate::api::{BASE, db, if_match};
use crate::http::State;

/// The source of agents the admin API creates.
pub const SOURCE: &str = "admin";

/// Creates an agent: `active`, or `pending` when `[accounts.approval] admin` (or
/// `require_approval`) asks for approval. Without a password it gets, per `firstPassword`
/// (default `auth.new_agents`), an activation link by mail or an initial password, answered
/// once as `initialPassword` (an `Idempotency-Key` replay does not repeat it).
#[utoipa::path(
    tag = "agents",
    request_body = CreateAgent,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created; Location and ETag headers", body = AgentView),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "userName taken; or the Idempotency-Key's first request still runs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (errors[].pointer), or Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/agents")]
pub async fn create_agent(
    req: HttpRequest,
    state: State,
    admin: Admin,
    body: Json<CreateAgent>,
) -> Result<HttpResponse, Problem> {
    use crate::config::FirstPassword;
    let actor = admin.actor();
    let mut input = body.value.into_input();
    let st = state.clone();
    let who = actor.clone();
    idempotent(&req, &state, &actor, &body.raw, async move {
        let method = input
            .first_password
            .unwrap_or_else(|| st.accounts.links.new_agents.for_door(SOURCE));
        let mut initial = None;
        if method == FirstPassword::InitialPassword {
            let policies = &st.credentials.policies;
            let role = input
                .profile
                .role
                .as_deref()
                .unwrap_or(&st.accounts.default_role);
            let password = policies.generate(policies.profile_for(role));
            input.password_hash = Some(
                st.credentials
                    .hasher
                    .hash(&password)
                    .await
                    .map_err(|_| Problem::unavailable())?,
            );
            input.must_change_password = true;
            initial = Some(password);
        }
        let accounts = st.clone();
        let agent = db(&st, move |conn| {
            Ok(accounts
                .accounts
                .create_agent(conn, &who, SOURCE, input, crate::store::now())?)
        })
        .await?;
        let mut resp = match initial {
            None => view::respond(StatusCode::CREATED, &agent),
            Some(password) => {
                let mut body = serde_json::to_value(view::AgentView::from(&agent))
                    .map_err(|_| Problem::internal())?;
                body["initialPassword"] = password.into();
                HttpResponse::Created()
                    .insert_header((header::ETAG, view::etag(agent.version)))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(body)
            }
        };
        if let Ok(v) =
            header::HeaderValue::from_str(&format!("{}{BASE}/agents/{}", st.base_url, agent.id))
        {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    })
    .await
}

/// Changes some fields of an agent: absent fields stay, `null` clears, lists are replaced.
#[utoipa::path(
    tag = "agents",
    request_body = PatchAgent,
    params(
        ("id" = String, Path, description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read (W/\"<version>\"); another version is a 412"),
        ("dry_run" = Option<bool>, Query, description = "Save nothing; answer what the change does to the agent's permissions (a RoleMovePreview)"),
    ),
    responses(
        (status = 200, description = "The changed agent; ETag header (with dry_run: a RoleMovePreview)", body = crate::api::agent_permissions::PatchAnswer),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "userName taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (errors[].pointer)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/agents/{id}")]
pub async fn patch_agent(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<PatchAgent>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    let expected = if_match(&req);
    let change = body.value;
    if crate::api::roles::dry_run(&req)? {
        return crate::api::agent_permissions::preview_patch(&state, id, expected, change).await;
    }
    let st = state.clone();
    let agent = db(&state, move |conn| {
        let mut refused = None;
        let result = st.accounts.update_agent_with(
            conn,
            &actor,
            &id,
            expected,
            None,
            crate::store::now(),
            |current| {
                change
                    .apply(current, &st.accounts.default_role)
                    .map_err(|p| {
                        refused = Some(p);
                        crate::accounts::AccountError::Invalid(String::new())
                    })
            },
        );
        match (result, refused) {
            (_, Some(p)) => Err(p),
            (r, None) => Ok(r?),
        }
    })
    .await?;
    Ok(view::respond(StatusCode::OK, &agent))
}

/// `?reason=` of a delete.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Why (kept in the audit log).
    pub reason: Option<String>,
}

/// Deletes an agent: gone for every reader at once, its row purged after the grace period
/// (`accounts.deleted_grace_days`).
#[utoipa::path(
    tag = "agents",
    params(
        ("id" = String, Path, description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read; another version is a 412"),
        DeleteQuery,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/agents/{id}")]
pub async fn delete_agent(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let query = web::Query::<DeleteQuery>::from_query(req.query_string())
        .map_err(|e| Problem::bad_request(format!("query: {e}")))?
        .into_inner();
    let reason = query
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    // PostgreSQL refuses NUL in text: the audit entry could not be written.
    if reason.as_deref().is_some_and(|r| r.contains('\0')) {
        return Err(Problem::bad_request("reason must not contain NUL"));
    }
    let actor = admin.actor();
    let id = id.into_inner();
    let expected = if_match(&req);
    let st = state.clone();
    db(&state, move |conn| {
        Ok(st.accounts.delete_agent(
            conn,
            &actor,
            &id,
            expected,
            reason.as_deref(),
            crate::store::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
