//! The admin REST API under `/api/v1`: routing, RFC 9457 problem details (`problem`), token
//! scopes (`auth`), JSON bodies with field pointers (`body`), `Idempotency-Key` for POSTs
//! (`idempotency`) and the OpenAPI 3.1 document (`GET /api/v1/openapi.json`), generated from
//! the handlers themselves, with its interactive page (`GET /api/v1/docs`, `docs`).
//!
//! # Adding an endpoint
//!
//! 1. Write the handler in a module of its own under `src/api/` with both attributes, the
//!    `#[utoipa::path(...)]` first (request body, `security(("bearer" = []))`, and the
//!    answers that are the endpoint's own — 400, 401, 403, 413, 415, 422 and 503 are added
//!    to every operation by `document`, where it does not name them itself),
//!    then actix's `#[get("/things/{id}")]` (path relative to `/api/v1`):
//!    take [`auth::Admin`] (writes) or [`auth::Reader`] (reads), [`body::Json`] for a body,
//!    return `Result<HttpResponse, Problem>`; wrap a POST's work in
//!    [`idempotency::idempotent`]; change agents only through `accounts::Accounts`.
//! 2. Give the module one `pub fn register(cfg: &mut ServiceConfig)` calling
//!    `cfg.service(handler)` for each handler (`ServiceConfig` is utoipa-actix-web's: it
//!    registers the route and its document entry together, so no route is undocumented).
//! 3. Add one line to [`configure`]: `.configure(things::register)`.
//!
//! Unknown paths under `/api/v1` are 404 problems; a known path with another method is a
//! 405 with `Allow` (both worked out from the document).

pub mod agent_list;
pub mod agent_permissions;
pub mod agent_signin;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod body;
pub mod docs;
pub mod document;
pub mod idempotency;
pub mod imports;
pub mod keyset;
pub mod mail;
pub mod multipart;
pub mod problem;
pub mod roles;
pub mod signin;
pub mod sources;
pub mod webhooks;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::State;
use crate::store::PooledConn;
pub use problem::Problem;

/// Where the API lives.
pub const BASE: &str = "/api/v1";

/// The endpoint modules: one line each.
fn endpoints(cfg: &mut ServiceConfig) {
    cfg.configure(agents::register);
    cfg.configure(roles::register);
    cfg.configure(agent_permissions::register);
    cfg.configure(agent_list::register);
    cfg.configure(sources::register);
    cfg.configure(audit::register);
    cfg.configure(imports::register);
    cfg.configure(signin::register);
    cfg.configure(agent_signin::register);
    cfg.configure(mail::register);
    cfg.configure(webhooks::register);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollcall admin API",
        version = "1",
        description = "Manage support agents: create, change, approve, disable, delete. \
            Errors are RFC 9457 problem details (application/problem+json)."
    ),
    modifiers(&BearerAuth),
    components(schemas(problem::Problem, problem::FieldProblem))
)]
struct BaseDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Mounts `/api/v1` (called from `http::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // A query string an endpoint's `web::Query` cannot read is a 400 problem, not actix's
    // plain-text answer. serde's message names the value's fault, not the parameter: the
    // query string is quoted.
    let query = web::QueryConfig::default().error_handler(|e, req| {
        let given: String = req.query_string().chars().take(200).collect();
        let why = e.to_string();
        let why = why
            .trim_start_matches("Query deserialize error: ")
            .to_owned();
        Problem::bad_request(format!("query string {given:?} cannot be read: {why}")).into()
    });
    let scope = utoipa_actix_web::scope(BASE)
        .app_data(query)
        .configure(endpoints);
    let mut doc = BaseDoc::openapi();
    doc.paths.paths.extend(scope.paths().paths);
    let mut schemas = Vec::new();
    scope.schemas(&mut schemas);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    document::add_common_responses(&mut doc);
    let routes = Arc::new(Routes::of(&doc));
    let json = Arc::new(doc.to_json().unwrap_or_else(|_| "{}".into()));
    let mut scope = scope;
    for (path, content_type, bytes) in docs::FILES {
        scope = scope.route(path, docs::route(content_type, bytes));
    }
    let scope = scope
        .route(
            "/openapi.json",
            web::get().to(move || {
                let json = json.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(json.as_str().to_owned())
                }
            }),
        )
        .default_service(web::to(move |req: HttpRequest| {
            let routes = routes.clone();
            async move { Err::<HttpResponse, _>(routes.miss(&req)) }
        }));
    cfg.service(scope);
}

/// The documented paths and their methods, for 404 and 405 answers.
struct Routes(Vec<(Vec<String>, Vec<String>)>);

impl Routes {
    fn of(doc: &utoipa::openapi::OpenApi) -> Routes {
        let mut out: Vec<(Vec<String>, Vec<String>)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(|m| {
                        m.keys()
                            .filter(|k| {
                                matches!(
                                    k.as_str(),
                                    "get" | "put" | "post" | "delete" | "patch" | "head"
                                )
                            })
                            .map(|k| k.to_ascii_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                (segments(path), methods)
            })
            .collect();
        out.push((segments("/api/v1/openapi.json"), vec!["GET".into()]));
        for (path, _, _) in docs::FILES {
            out.push((segments(&format!("{BASE}{path}")), vec!["GET".into()]));
        }
        Routes(out)
    }

    /// The problem for a request no route took: 405 when its path is known, else 404.
    fn miss(&self, req: &HttpRequest) -> Problem {
        let path = segments(req.path());
        let mut allow: Vec<String> = self
            .0
            .iter()
            .filter(|(t, _)| {
                t.len() == path.len()
                    && t.iter().zip(&path).all(|(t, p)| {
                        (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p
                    })
            })
            .flat_map(|(_, m)| m.iter().cloned())
            .collect();
        if allow.is_empty() {
            return Problem::not_found(format!("no such endpoint: {}", req.path()));
        }
        allow.sort();
        allow.dedup();
        let allow = allow.join(", ");
        Problem::method_not_allowed(
            format!(
                "{} is not supported on {}; allowed: {allow}",
                req.method(),
                req.path()
            ),
            allow,
        )
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// Runs `f` with a pooled connection on the blocking pool (diesel is synchronous); 503 when
/// the database cannot be reached.
pub async fn db<T, F>(state: &State, f: F) -> Result<T, Problem>
where
    F: FnOnce(&mut PooledConn) -> Result<T, Problem> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        let mut conn = state.pool.get().map_err(|e| {
            tracing::error!(error = %e, "no database connection");
            Problem::unavailable()
        })?;
        f(&mut conn)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        Problem::internal()
    })?
}

/// Runs a read-only `f`: on the worker itself on SQLite, on the blocking pool on PostgreSQL
/// (see `http::with_read_conn`).
pub async fn read<T, F>(state: &State, f: F) -> Result<T, Problem>
where
    F: FnOnce(&mut PooledConn) -> Result<T, Problem> + Send + 'static,
    T: Send + 'static,
{
    if !state.inline_reads {
        return db(state, f).await;
    }
    let mut conn = state.pool.get().map_err(|e| {
        tracing::error!(error = %e, "no database connection");
        Problem::unavailable()
    })?;
    f(&mut conn)
}

/// The version an `If-Match` header asks for (`None`: no header, or `*`). A tag that does
/// not parse never matches.
pub fn if_match(req: &HttpRequest) -> Option<i64> {
    match crate::http::users::if_match(req) {
        crate::http::users::IfMatch::Any => None,
        crate::http::users::IfMatch::Tags(tags) => Some(tags.first().copied().unwrap_or(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_are_404_or_405_with_allow() {
        let routes = Routes(vec![(
            segments("/api/v1/agents/{id}"),
            vec!["GET".into(), "PATCH".into()],
        )]);
        let req = actix_web::test::TestRequest::put()
            .uri("/api/v1/agents/abc")
            .to_http_request();
        let p = routes.miss(&req);
        assert_eq!(
            (
                p.status,
                p.headers.as_ref().and_then(|h| h.allow.as_deref())
            ),
            (405, Some("GET, PATCH"))
        );
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/agents/abc/nope")
            .to_http_request();
        assert_eq!(routes.miss(&req).status, 404);
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/agents//")
            .to_http_request();
        assert_eq!(routes.miss(&req).status, 404);
    }
}
