//! `/api/v1/audit`: the audit log by target, actor, action (exact or a prefix such as
//! `agent.`) and time, newest first with opaque cursors; and the hash-chain check, run on
//! the blocking pool one at a time so that a large log never holds up other requests.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Reader;
use super::keyset;
use super::problem::Problem;
use crate::audit::search::{self, ActionMatch, AuditFilter};
use crate::audit::{self, Verdict};
use crate::http::State;
use crate::store::models::AuditRow;

/// Registers the audit endpoints.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(verify_chain).service(list_entries);
}

const AUDIT: &str = "audit";

/// One audit entry: who did what to which target, with the changed fields before and after.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `token:<name>`, `cli:<user>`, `sync:<source>`, `system`, …
    pub actor: String,
    /// `agent.create`, `agent.update`, `agent.disable`, `group.update`, …
    pub action: String,
    /// `agent`, `group`, …
    pub target_type: String,
    pub target_id: String,
    /// The changed fields before the change.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The changed fields after it.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub reason: Option<String>,
    /// SHA-256 of the previous entry's hash and this entry's fields (hex).
    pub hash: String,
}

/// A page of entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The outcome of the chain check.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainVerdict {
    /// Every entry's hash matches its content and the entry before it.
    pub intact: bool,
    /// Entries checked (all of them when intact).
    pub entries: u64,
    /// The first entry that does not fit, when broken.
    pub broken_at: Option<i64>,
    pub reason: Option<String>,
    /// How long the check took.
    pub elapsed_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    target: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn json_of(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

fn entry(r: AuditRow) -> AuditEntry {
    AuditEntry {
        id: r.id,
        at: r
            .at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actor: r.actor,
        action: r.action,
        target_type: r.target_type,
        target_id: r.target_id,
        before: json_of(r.before),
        after: json_of(r.after),
        reason: r.reason,
        hash: r.hash,
    }
}

/// An RFC 3339 time as stored (UTC); a 400 naming the parameter otherwise.
fn time(name: &str, v: Option<String>) -> Result<Option<chrono::NaiveDateTime>, Problem> {
    v.map(|t| {
        chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| t.naive_utc())
            .map_err(|_| {
                Problem::bad_request(format!(
                    "{name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z (got {t:?})"
                ))
            })
    })
    .transpose()
}

/// Text that may reach the database: no NUL (PostgreSQL refuses it in text).
fn text(name: &str, v: Option<String>) -> Result<Option<String>, Problem> {
    match v {
        Some(t) if t.contains('\0') => {
            Err(Problem::bad_request(format!("{name} must not contain NUL")))
        }
        other => Ok(other),
    }
}

/// Audit entries, newest first.
#[utoipa::path(
    tag = "audit",
    params(
        ("target" = Option<String>, Query, description = "Entries about this agent, group or other target (its id)"),
        ("actor" = Option<String>, Query, description = "Entries by this actor, e.g. `token:idp` or `cli:alice`"),
        ("action" = Option<String>, Query, description = "This action (`agent.disable`), every action with a prefix (`agent.` or `agent.*`), or `security`: the security log (sign-ins and their failures, locks, unlocks, session revocations, password and second-factor changes)"),
        ("from" = Option<String>, Query, description = "Entries at or after this time (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Entries before this time (RFC 3339)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Entries per page (default 100)"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "A bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
async fn list_entries(req: HttpRequest, state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let q: AuditQuery = web::Query::<AuditQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Problem::bad_request(format!("bad query: {e}")))?;
    let limit = keyset::limit(q.limit, 100, 1000)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| keyset::decode(&state.cursor_key, AUDIT, c))
        .transpose()?;
    let filter = AuditFilter {
        target_id: text("target", q.target)?,
        actor: text("actor", q.actor)?,
        action: text("action", q.action)?.map(|a| ActionMatch::parse(&a)),
        from: time("from", q.from)?,
        to: time("to", q.to)?,
    };
    let page = super::read(&state, move |conn| {
        Ok(search::search(conn, &filter, before, limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: page.entries.into_iter().map(entry).collect(),
        next_cursor: page
            .next_before
            .map(|id| keyset::encode(&state.cursor_key, AUDIT, id)),
    }))
}

/// One chain check at a time: a second request waits for the first rather than walking
/// the log again beside it.
static VERIFYING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Checks the whole hash chain of the audit log.
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, description = "The verdict (intact or the first broken entry)", body = ChainVerdict),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit/verify")]
async fn verify_chain(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let state = state.clone();
    // Always on the blocking pool (also on SQLite, where reads otherwise run inline): the
    // walk takes seconds on a large log.
    let verdict = web::block(move || -> Result<_, Problem> {
        let _one = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
        let started = std::time::Instant::now();
        let mut conn = state.pool.get().map_err(|e| {
            tracing::error!(error = %e, "no database connection");
            Problem::unavailable()
        })?;
        let v = audit::verify(&mut conn)?;
        Ok((v, started.elapsed().as_millis() as u64))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "the chain check failed");
        Problem::internal()
    })??;
    let (v, elapsed_ms) = verdict;
    let body = match v {
        Verdict::Intact { entries } => ChainVerdict {
            intact: true,
            entries,
            broken_at: None,
            reason: None,
            elapsed_ms,
        },
        Verdict::Broken { id, reason } => ChainVerdict {
            intact: false,
            entries: 0,
            broken_at: Some(id),
            reason: Some(reason),
            elapsed_ms,
        },
    };
    Ok(HttpResponse::Ok().json(body))
}
