//! `/api/v1/sources`: the configured sync sources with their last and next runs, a run
//! asked for now (opened at once, carried on in the background: `sync::launch`), and each
//! source's run history with the plan of dry and refused runs.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::body::Json;
use super::idempotency::IdempotencyKey;
use super::keyset;
use super::problem::Problem;
use crate::config::SourceConfig;
use crate::http::State;
use crate::sync::history::{self, RunSummary};
use crate::sync::launch::Launcher;
use crate::sync::runner::RunError;
use crate::sync::{RunOptions, SyncError};

/// Registers the source endpoints.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(list_sources)
        .service(get_source)
        .service(start_run)
        .service(list_runs)
        .service(get_run);
}

const RUNS: &str = "runs";

/// What a run found and did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunCounts {
    /// People read from the source.
    pub records: i32,
    pub created: i32,
    pub updated: i32,
    pub disabled: i32,
    pub enabled: i32,
    pub deleted: i32,
    pub linked: i32,
}

/// One recorded run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: i64,
    pub source: String,
    /// `full`, `incremental` or `dry_run`.
    pub mode: String,
    /// `running`, `ok`, `partial`, `refused` or `failed`.
    pub status: String,
    /// `schedule`, `cli`, `watch` or `api`.
    pub trigger: String,
    /// Applied although the guard refused it.
    pub forced: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// For a run that ran or is running: what it planned (a dry run) or did.
    pub counts: RunCounts,
    /// Why the run failed or was refused.
    pub error: Option<String>,
}

/// One run with its plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunView,
    /// The plan of a dry run or of a run the guard refused (its changes, each with its
    /// reason); `null` for other runs, whose changes are in the audit log.
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
}

/// A configured source.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub name: String,
    /// `ldap` or `hr`.
    pub kind: String,
    /// The `source` of the agents it owns (`ldap:corp`).
    pub tag: String,
    pub enabled: bool,
    /// Cron expression (with seconds) of its scheduled runs.
    pub schedule: String,
    /// Cron expression of its full runs, when `schedule` runs are incremental.
    pub full_schedule: Option<String>,
    /// Changes are applied as the directory reports them (RFC 4533 refreshAndPersist).
    pub watch: bool,
    /// The latest run (dry runs included).
    pub last_run: Option<RunView>,
    /// When the next scheduled run starts (`null`: disabled).
    pub next_run_at: Option<String>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    pub items: Vec<RunView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The configured sources.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    pub items: Vec<SourceView>,
}

/// A run to start now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// `full` (default) reads everyone; `incremental` only what changed since the last
    /// applied run (a full read when there is none).
    #[serde(default)]
    pub mode: RunMode,
    /// Plan only; change nothing. The plan is kept with the run.
    #[serde(default)]
    pub dry_run: bool,
    /// Apply a plan the guard refuses (once, deliberately).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Full,
    Incremental,
}

/// The run just started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub id: i64,
    pub source: String,
    /// `running`: follow it at `location`.
    pub status: String,
    /// The run's URL.
    pub location: String,
}

/// `?cursor=&limit=` of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn run_view(r: RunSummary) -> RunView {
    RunView {
        id: r.id,
        source: r.source,
        mode: r.mode,
        status: r.status,
        trigger: r.trigger,
        forced: r.forced,
        started_at: rfc3339(r.started_at),
        finished_at: r.finished_at.map(rfc3339),
        counts: RunCounts {
            records: r.records,
            created: r.created,
            updated: r.updated,
            disabled: r.disabled,
            enabled: r.enabled,
            deleted: r.deleted,
            linked: r.linked,
        },
        error: r.error,
    }
}

fn source_view(
    cfg: &SourceConfig,
    last: Option<RunSummary>,
    now: chrono::DateTime<chrono::Utc>,
) -> SourceView {
    let next = |s: Result<Option<cron::Schedule>, _>| -> Option<chrono::DateTime<chrono::Utc>> {
        s.ok().flatten().and_then(|c| c.after(&now).next())
    };
    let next_run_at = if cfg.enabled {
        [next(cfg.cron().map(Some)), next(cfg.full_cron())]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    } else {
        None
    };
    SourceView {
        name: cfg.name.clone(),
        kind: cfg.kind.as_str().into(),
        tag: cfg.tag(),
        enabled: cfg.enabled,
        schedule: cfg.schedule.clone(),
        full_schedule: cfg.full_schedule.clone(),
        watch: cfg.watch,
        last_run: last.map(run_view),
        next_run_at,
    }
}

fn configured<'a>(state: &'a State, name: &str) -> Result<&'a SourceConfig, Problem> {
    state
        .config
        .sources
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Problem::not_found(format!("no source named {name:?} is configured")))
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, Problem> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Problem::bad_request(format!("bad query: {e}")))
}

/// The configured sources, each with its last and next run.
#[utoipa::path(
    tag = "sources",
    responses(
        (status = 200, description = "Every configured source", body = SourceList),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/sources")]
async fn list_sources(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let names: Vec<String> = state
        .config
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let last = super::read(&state, move |conn| {
        names
            .iter()
            .map(|n| history::last(conn, n).map_err(Problem::from))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let now = chrono::Utc::now();
    let items = state
        .config
        .sources
        .iter()
        .zip(last)
        .map(|(cfg, last)| source_view(cfg, last, now))
        .collect();
    Ok(HttpResponse::Ok().json(SourceList { items }))
}

/// One configured source.
#[utoipa::path(
    tag = "sources",
    params(("name" = String, Path, description = "The source's name in the configuration")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/sources/{name}")]
async fn get_source(
    state: State,
    _r: Reader,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let cfg = configured(&state, &name)?.clone();
    let n = cfg.name.clone();
    let last = super::read(&state, move |conn| Ok(history::last(conn, &n)?)).await?;
    Ok(HttpResponse::Ok().json(source_view(&cfg, last, chrono::Utc::now())))
}

/// Starts a run of the source now. It is recorded and holds the source's run lock before
/// this answers; it reads, plans and applies in the background (follow it at `Location`).
#[utoipa::path(
    tag = "sources",
    params(
        ("name" = String, Path, description = "The source's name in the configuration"),
        IdempotencyKey,
    ),
    request_body(content = RunRequest, description = "All fields are optional", content_type = "application/json"),
    responses(
        (status = 202, description = "The run started; Location is its URL", body = RunStarted),
        (status = 400, description = "The body is not JSON, or a bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run of the source is in progress; or the Idempotency-Key's first request still runs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field has a wrong value or type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/sources/{name}/runs")]
async fn start_run(
    req: HttpRequest,
    state: State,
    admin: Admin,
    name: web::Path<String>,
    body: Json<RunRequest>,
) -> Result<HttpResponse, Problem> {
    let name = configured(&state, &name)?.name.clone();
    let launcher = req
        .app_data::<web::Data<Launcher>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("no run launcher registered");
            Problem::internal()
        })?;
    let Json { value, raw } = body;
    let run = async move {
        let opts = RunOptions {
            dry_run: value.dry_run,
            force: value.force,
            incremental: matches!(value.mode, RunMode::Incremental),
            trigger: "api",
            as_of: None,
        };
        match launcher.start(&name, opts).await {
            Ok(Some(id)) => {
                let location = format!("{}/sources/{name}/runs/{id}", super::BASE);
                Ok(HttpResponse::Accepted()
                    .insert_header((header::LOCATION, location.clone()))
                    .json(RunStarted {
                        id,
                        source: name,
                        status: "running".into(),
                        location,
                    }))
            }
            Ok(None) => Err(Problem::not_found(format!(
                "no source named {name:?} is configured"
            ))),
            Err(RunError::Sync(e @ SyncError::Busy(..))) => Err(Problem::conflict(e.to_string())),
            Err(e) => {
                tracing::error!(error = %e, source = %name, "could not start a run");
                Err(Problem::internal())
            }
        }
    };
    super::idempotency::idempotent(&req, &state, &admin.actor(), &raw, run).await
}

/// The source's runs, newest first.
#[utoipa::path(
    tag = "sources",
    params(
        ("name" = String, Path, description = "The source's name in the configuration"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Runs per page (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "A bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/sources/{name}/runs")]
async fn list_runs(
    req: HttpRequest,
    state: State,
    _r: Reader,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let name = configured(&state, &name)?.name.clone();
    let q: PageQuery = query(&req)?;
    let limit = keyset::limit(q.limit, 50, 500)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| keyset::decode(&state.cursor_key, RUNS, c))
        .transpose()?;
    let (rows, next) = super::read(&state, move |conn| {
        Ok(history::runs(conn, &name, before, limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RunPage {
        items: rows.into_iter().map(run_view).collect(),
        next_cursor: next.map(|id| keyset::encode(&state.cursor_key, RUNS, id)),
    }))
}

/// One run of the source, with the plan of a dry or refused run.
#[utoipa::path(
    tag = "sources",
    params(
        ("name" = String, Path, description = "The source's name in the configuration"),
        ("id" = i64, Path, description = "The run's id"),
    ),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source or run", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/sources/{name}/runs/{id}")]
async fn get_run(
    state: State,
    _r: Reader,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (name, id) = path.into_inner();
    let name = configured(&state, &name)?.name.clone();
    let missing = || Problem::not_found(format!("source {name:?} has no run {id}"));
    let Ok(run_id) = id.parse::<i64>() else {
        return Err(missing());
    };
    let found = {
        let name = name.clone();
        super::read(&state, move |conn| Ok(history::run(conn, &name, run_id)?)).await?
    };
    let (run, plan) = found.ok_or_else(missing)?;
    let plan = plan.and_then(|p| serde_json::from_str::<Value>(&p).ok());
    Ok(HttpResponse::Ok().json(RunDetail {
        run: run_view(run),
        plan,
    }))
}
