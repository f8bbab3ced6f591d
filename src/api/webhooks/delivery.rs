//! `/api/v1/webhooks/{id}/…`: the secrets (rotate: a new one beside the previous; drop the
//! previous), the delivery attempts (newest first, paged), the backlog, and replays.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{WebhookView, endpoint, not_configured, rfc3339};
use crate::api::auth::{Admin, Reader};
use crate::api::body::Json;
use crate::api::keyset;
use crate::api::problem::Problem;
use crate::http::State;
use crate::webhooks::endpoints::{self, Replay};

pub(super) fn register(cfg: &mut ServiceConfig) {
    cfg.service(rotate_secret)
        .service(drop_previous_secret)
        .service(list_deliveries)
        .service(get_backlog)
        .service(replay);
}

const DELIVERIES: &str = "webhook-deliveries";

/// `POST /api/v1/webhooks/{id}/secrets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// The new `whsec_…` secret; generated when not given.
    pub secret: Option<String>,
}

/// The endpoint after a rotation, and its new secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRotated {
    pub webhook: WebhookView,
    /// The new secret; the previous one signs too until it is dropped.
    pub secret: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: i64,
    /// The event (audit entry) delivered.
    pub event_id: i64,
    /// 1 for the first attempt at the event.
    pub attempt: i32,
    pub at: String,
    /// The HTTP status answered; absent when there was no answer.
    pub status: Option<i32>,
    /// Why there was no answer (connection refused, timeout, …).
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// A page of attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What waits to be delivered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BacklogView {
    pub enabled: bool,
    /// The last event delivered or skipped.
    pub cursor: i64,
    /// Events after the cursor the endpoint takes.
    pub waiting: i64,
    pub oldest_event_id: Option<i64>,
    /// When the oldest waiting event happened.
    pub oldest_event_at: Option<String>,
    /// Its age in seconds.
    pub oldest_age_secs: Option<i64>,
    /// When the head event is tried again, while it fails.
    pub next_attempt_at: Option<String>,
}

/// `POST /api/v1/webhooks/{id}/replay`: one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliver again every event from this id on, in order (at most the cursor + 1).
    pub from_event: Option<i64>,
    /// Deliver this one event again, then go on.
    pub event: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Adds a new secret (generated unless given) and keeps the previous one: during the
/// rotation every message carries both signatures.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body(content = RotateSecret, description = "All fields are optional", content_type = "application/json"),
    responses(
        (status = 201, description = "The new secret (shown only now) and the endpoint", body = SecretRotated),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Kept in the configuration, or the secret is the endpoint's already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a whsec_ secret", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/secrets")]
async fn rotate_secret(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<RotateSecret>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    let Json { value, raw } = body;
    let st = state.clone();
    let who = actor.clone();
    let run = async move {
        let (e, secret) = crate::api::db(&st, move |conn| {
            let e = endpoint(conn, &id)?;
            not_configured(&e, "secrets")?;
            Ok(endpoints::rotate(
                conn,
                &who,
                e.id,
                value.secret,
                crate::store::now(),
            )?)
        })
        .await?;
        Ok(
            HttpResponse::build(StatusCode::CREATED).json(SecretRotated {
                webhook: WebhookView::of(e),
                secret,
            }),
        )
    };
    crate::api::idempotency::idempotent(&req, &state, &actor, &raw, run).await
}

/// Drops the previous secret: only the newest signs from now on.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint, or it has no previous secret", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Kept in the configuration", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}/secrets/previous")]
async fn drop_previous_secret(
    state: State,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    let e = crate::api::db(&state, move |conn| {
        let e = endpoint(conn, &id)?;
        not_configured(&e, "secrets")?;
        Ok(endpoints::drop_previous(
            conn,
            &actor,
            e.id,
            crate::store::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(e)))
}

/// The endpoint's delivery attempts, newest first.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The endpoint's id"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Attempts per page (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of attempts", body = DeliveryPage),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    req: HttpRequest,
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let q = web::Query::<PageQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Problem::bad_request(format!("bad query: {e}")))?;
    let limit = keyset::limit(q.limit, 50, 500)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| keyset::decode(&state.cursor_key, DELIVERIES, c))
        .transpose()?;
    let id = id.into_inner();
    let (rows, next) = crate::api::read(&state, move |conn| {
        let e = endpoint(conn, &id)?;
        Ok(crate::webhooks::deliveries(conn, e.id, before, limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DeliveryPage {
        items: rows
            .into_iter()
            .map(|r| DeliveryView {
                id: r.id,
                event_id: r.event_id,
                attempt: r.attempt,
                at: rfc3339(r.at),
                status: r.status,
                error: r.error,
                duration_ms: r.duration_ms,
            })
            .collect(),
        next_cursor: next.map(|id| keyset::encode(&state.cursor_key, DELIVERIES, id)),
    }))
}

/// What waits to be delivered: how many events, the oldest's id and age.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The backlog", body = BacklogView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/backlog")]
async fn get_backlog(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let (e, b) = crate::api::read(&state, move |conn| {
        let e = endpoint(conn, &id)?;
        let b = crate::webhooks::backlog(conn, &e)?;
        Ok((e, b))
    })
    .await?;
    let now = crate::store::now();
    Ok(HttpResponse::Ok().json(BacklogView {
        enabled: e.enabled,
        cursor: e.cursor,
        waiting: b.waiting,
        oldest_event_id: b.oldest.map(|(id, _)| id),
        oldest_event_at: b.oldest.map(|(_, at)| rfc3339(at)),
        oldest_age_secs: b.oldest.map(|(_, at)| (now - at).num_seconds().max(0)),
        next_attempt_at: e.next_attempt_at.map(rfc3339),
    }))
}

/// Delivers events again: `{"from_event": N}` every event from N on, in order (N at most
/// the cursor + 1: later events are still to come anyway), or `{"event": N}` that one,
/// before the endpoint goes on.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "The replay is under way", body = WebhookView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A replay of one event is still waiting", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both fields, an event that is not one, from_event past the cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/replay")]
async fn replay(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<ReplayRequest>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    let Json { value, raw } = body;
    let what = match (value.from_event, value.event) {
        (Some(n), None) => Replay::From(n),
        (None, Some(n)) => Replay::One(n),
        _ => {
            return Err(Problem::invalid_field(
                "",
                "give either from_event or event",
            ));
        }
    };
    let st = state.clone();
    let who = actor.clone();
    let run = async move {
        let e = crate::api::db(&st, move |conn| {
            let e = endpoint(conn, &id)?;
            Ok(endpoints::replay(
                conn,
                &who,
                e.id,
                what,
                crate::store::now(),
            )?)
        })
        .await?;
        Ok(HttpResponse::Accepted().json(WebhookView::of(e)))
    };
    crate::api::idempotency::idempotent(&req, &state, &actor, &raw, run).await
}
