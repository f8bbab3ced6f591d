//! The HTTP face of Rollcall (actix-web): SCIM under `/scim/v2`, the admin API under
//! `/api/v1` (`crate::api`), health and readiness.

pub mod auth;
pub mod body;
pub mod bulk;
pub mod cursor;
pub mod discovery;
pub mod error;
pub mod groups;
pub mod limits;
pub mod list;
mod password_page;
pub mod redact;
pub mod users;

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use crate::accounts::Accounts;
use crate::auth::TokenCache;
use crate::config::Config;
use crate::scim::error::{ScimError, ScimType};
use crate::store::{Pool, PooledConn};
use error::ApiError;

/// Shared by every request.
pub struct AppState {
    pub pool: Pool,
    pub accounts: Accounts,
    pub config: Config,
    pub tokens: TokenCache,
    pub base_url: String,
    /// Reads run on the HTTP worker itself (SQLite: a read is microseconds of local work,
    /// less than the cost of handing it to another thread and back).
    pub inline_reads: bool,
    /// The key list cursors are signed with (`http::cursor`).
    pub cursor_key: Vec<u8>,
    /// The session check and its cache (`sessions`).
    pub sessions: Arc<crate::sessions::Sessions>,
    /// Failed sign-ins per client address.
    pub throttle: crate::api::signin::Throttle,
    /// Password hashing (its bounded pool), policies, TOTP and sealing, as `[auth]` says.
    pub credentials: crate::credentials::Credentials,
}

pub type State = web::Data<Arc<AppState>>;

impl AppState {
    /// The shared state; reads (or creates, once) the cursor key in the database unless the
    /// configuration gives one.
    pub fn new(pool: Pool, config: Config) -> anyhow::Result<Self> {
        let cursor_key = match &config.scim.cursor_key {
            Some(k) => k.as_bytes().to_vec(),
            None => {
                let mut conn = pool.get()?;
                crate::store::keys::get_or_create(&mut conn, "cursor", crate::store::now())?
            }
        };
        let accounts = Accounts::from_config(&config);
        let inline_reads = matches!(
            crate::store::Target::parse(&config.database.url),
            Ok(crate::store::Target::Sqlite(_))
        );
        let credentials = crate::credentials::Credentials::from_config(&config.auth)?;
        let sessions = Arc::new(crate::sessions::Sessions::new(
            pool.clone(),
            accounts.clone(),
            config.sessions.clone(),
            credentials.clone(),
            inline_reads,
        )?);
        let throttle = crate::api::signin::Throttle::new(
            config.signin.address_failures,
            std::time::Duration::from_secs(config.signin.address_window_secs),
        );
        Ok(AppState {
            credentials,
            pool,
            accounts,
            base_url: config.server.base_url(),
            inline_reads,
            sessions,
            throttle,
            config,
            tokens: TokenCache::default(),
            cursor_key,
        })
    }
}

/// Runs `f` with a pooled connection on the blocking thread pool (diesel is synchronous).
pub async fn with_conn<T, F>(state: &State, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PooledConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    blocking(move || {
        let mut conn = state.pool.get().map_err(|e| {
            tracing::error!(error = %e, "no database connection");
            ApiError::unavailable()
        })?;
        f(&mut conn)
    })
    .await
}

/// Runs `f` on the blocking thread pool; `f` takes connections itself, when it needs them.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::internal()
    })?
}

/// Runs a read-only `f`: inline on SQLite (a WAL reader never waits for a writer), on the
/// blocking pool on PostgreSQL (a network round trip must not stall the worker).
pub async fn with_read_conn<T, F>(state: &State, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PooledConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    if !state.inline_reads {
        return with_conn(state, f).await;
    }
    let mut conn = state.pool.get().map_err(|e| {
        tracing::error!(error = %e, "no database connection");
        ApiError::unavailable()
    })?;
    f(&mut conn)
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::api::configure)
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .configure(password_page::routes)
        .service(
            web::scope("/scim/v2")
                .configure(discovery::routes)
                .configure(users::routes)
                .configure(groups::routes)
                .route("/Bulk", web::post().to(bulk::bulk))
                .route("/Bulk", not_allowed("POST"))
                .route("/.search", web::post().to(list::root_search))
                .route("/.search", not_allowed("POST"))
                .default_service(web::to(not_found)),
        )
        .route("/scim/{version}/{tail:.*}", web::route().to(other_version));
}

/// A route answering every method with 405 and `Allow: <allow>` (RFC 7644 §3.12 lists 405
/// for a method an endpoint does not have; RFC 9110 §15.5.6 requires `Allow`). Registered
/// after an endpoint's own routes.
pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::route()
        .to(move |req: actix_web::HttpRequest| async move { method_not_allowed(&req, allow) })
}

fn method_not_allowed(req: &actix_web::HttpRequest, allow: &'static str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut resp = ApiError(ScimError::new(
        405,
        None,
        format!(
            "{} is not supported on {}; allowed: {allow}",
            req.method(),
            req.path()
        ),
    ))
    .error_response();
    resp.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    resp
}

/// Rollcall speaks SCIM 2.0 only: `/scim/v1/…` and the like get `invalidVers`
/// (RFC 7644 §3.12, §3.13).
async fn other_version(path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (version, _) = path.into_inner();
    let known = version
        .strip_prefix(['v', 'V'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if known {
        Err(ScimError::bad_request(
            ScimType::InvalidVers,
            format!("SCIM protocol version {version} is not supported; use /scim/v2"),
        )
        .into())
    } else {
        Err(ScimError::not_found("no such endpoint").into())
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready when the database answers.
async fn readyz(state: State) -> Result<HttpResponse, ApiError> {
    with_conn(&state, |conn| {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SELECT 1").map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(crate::scim::error::ScimError::not_found("no such SCIM endpoint").into())
}
