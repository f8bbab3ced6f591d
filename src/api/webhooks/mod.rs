//! `/api/v1/webhooks`: the webhook endpoints (list, create — a secret generated when none
//! is given, shown once —, read, change, delete) through `webhooks::endpoints`, each change
//! with its `webhook.*` audit entry; `delivery` has the secrets, the delivery record, the
//! backlog and replays. Endpoints kept in the configuration (`origin: config`) may be
//! enabled and disabled here; the rest of them is the configuration's.

mod delivery;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::body::Json;
use super::problem::Problem;
use crate::http::State;
use crate::webhooks::endpoints::{self, EndpointPatch, NewEndpoint};
use crate::webhooks::{self as hooks, Endpoint, WebhookError};

/// Registers the webhook endpoints.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(patch_webhook)
        .service(delete_webhook);
    delivery::register(cfg);
}

/// The retry state of an endpoint's head event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryView {
    /// Failed attempts at the head event so far (0: none failing).
    pub attempts: i32,
    /// When the head event is tried again.
    pub next_attempt_at: Option<String>,
    /// Since when the endpoint fails (it is disabled after `disable_after_secs`).
    pub failing_since: Option<String>,
}

/// A webhook endpoint (its secrets are never shown again after they were made).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Event types delivered; empty: all.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled (an admin, a 410 Gone, a day of failures).
    pub disabled_reason: Option<String>,
    /// `config` (from `[[webhooks]]`) or `api`.
    pub origin: String,
    /// The id of the last event delivered or skipped.
    pub cursor: i64,
    /// How many secrets sign (2 during a rotation), and the start of each, newest first.
    pub secrets: Vec<String>,
    pub retry: RetryView,
    /// An event waiting to be delivered again (`POST …/replay` with `event`).
    pub replay_event: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl WebhookView {
    pub fn of(e: Endpoint) -> WebhookView {
        WebhookView {
            id: e.id,
            name: e.name,
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            origin: e.origin,
            cursor: e.cursor,
            secrets: e.secrets.iter().map(|s| hooks::sign::hint(s)).collect(),
            retry: RetryView {
                attempts: e.attempts,
                next_attempt_at: e.next_attempt_at.map(rfc3339),
                failing_since: e.failing_since.map(rfc3339),
            },
            replay_event: e.replay_event,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// The endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

/// An endpoint just made, with its secret when Rollcall generated it (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: WebhookView,
    /// The generated `whsec_…` secret; absent when the request gave one.
    pub secret: Option<String>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Unique; 1 to 64 letters, digits, `-` and `_`.
    #[schema(example = "chat-platform")]
    pub name: String,
    /// Where events are POSTed (`http://` or `https://`).
    #[schema(example = "https://chat.example.com/hooks/rollcall")]
    pub url: String,
    /// A `whsec_…` secret (base64 of 24 to 64 bytes); generated when not given.
    pub secret: Option<String>,
    /// Event types to deliver; empty or absent: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Deliver every event the audit log holds, not only those from now on.
    #[serde(default)]
    pub from_start: bool,
}

/// `PATCH /api/v1/webhooks/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    pub url: Option<String>,
    /// The whole new list; empty: all.
    pub events: Option<Vec<String>>,
    /// `true` resumes delivery where it stopped (the backlog is kept while disabled).
    pub enabled: Option<bool>,
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound(m) => Problem::not_found(m),
            WebhookError::Conflict(m) => Problem::conflict(m),
            WebhookError::Invalid { pointer, message } => Problem::invalid_field(pointer, message),
            WebhookError::Db(d) => d.into(),
        }
    }
}

/// The endpoint `{id}` names; a 404 for anything else.
pub(crate) fn endpoint(conn: &mut crate::store::DbConn, id: &str) -> Result<Endpoint, Problem> {
    let missing = || Problem::not_found(format!("no webhook endpoint {id:?}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    hooks::get(conn, id)?.ok_or_else(missing)
}

/// A 409 for a change the configuration owns.
pub(crate) fn not_configured(e: &Endpoint, what: &str) -> Result<(), Problem> {
    if e.origin == "config" {
        return Err(Problem::conflict(format!(
            "endpoint {:?} is kept in the configuration ([[webhooks]]): change its {what} there",
            e.name
        )));
    }
    Ok(())
}

/// Every webhook endpoint.
#[utoipa::path(
    tag = "webhooks",
    responses((status = 200, description = "The endpoints, by id", body = WebhookList)),
    security(("bearer" = []))
)]
#[get("/webhooks")]
async fn list_webhooks(state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let items = super::read(&state, |conn| Ok(hooks::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        items: items.into_iter().map(WebhookView::of).collect(),
    }))
}

/// Creates an endpoint (`Idempotency-Key` honoured). It receives the events written from
/// now on (`from_start`: every event the audit log holds).
#[utoipa::path(
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; Location names it. The secret is shown only here", body = WebhookCreated),
        (status = 409, description = "An endpoint of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name, URL, secret or event type (named)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks")]
async fn create_webhook(
    req: HttpRequest,
    state: State,
    admin: Admin,
    body: Json<CreateWebhook>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let Json { value, raw } = body;
    let st = state.clone();
    let who = actor.clone();
    let run = async move {
        let (e, secret) = super::db(&st, move |conn| {
            Ok(endpoints::create(
                conn,
                &who,
                NewEndpoint {
                    name: value.name,
                    url: value.url,
                    secrets: value.secret.into_iter().collect(),
                    events: value.events,
                    enabled: value.enabled.unwrap_or(true),
                    origin: "api".into(),
                    from_start: value.from_start,
                },
                crate::store::now(),
            )?)
        })
        .await?;
        Ok(HttpResponse::build(StatusCode::CREATED)
            .insert_header((
                header::LOCATION,
                format!("{}/webhooks/{}", super::BASE, e.id),
            ))
            .json(WebhookCreated {
                webhook: WebhookView::of(e),
                secret,
            }))
    };
    super::idempotency::idempotent(&req, &state, &actor, &raw, run).await
}

/// One endpoint.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}")]
async fn get_webhook(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let e = super::read(&state, move |conn| endpoint(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(e)))
}

/// Changes an endpoint's URL or event types, or enables or disables it. Enabling resumes
/// delivery at once where it stopped.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = PatchWebhook,
    responses(
        (status = 200, description = "The endpoint as changed", body = WebhookView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The URL or events of an endpoint kept in the configuration", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad URL or event type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/webhooks/{id}")]
async fn patch_webhook(
    state: State,
    admin: Admin,
    id: web::Path<String>,
    body: Json<PatchWebhook>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    let b = body.value;
    let e = super::db(&state, move |conn| {
        let e = endpoint(conn, &id)?;
        if b.url.is_some() || b.events.is_some() {
            not_configured(&e, "URL and events")?;
        }
        Ok(endpoints::update(
            conn,
            &actor,
            e.id,
            EndpointPatch {
                url: b.url,
                events: b.events,
                enabled: b.enabled,
                secrets: None,
            },
            None,
            crate::store::now(),
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(e)))
}

/// Deletes an endpoint made over the API, with its delivery record.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Kept in the configuration (remove it there)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    state: State,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let actor = admin.actor();
    let id = id.into_inner();
    super::db(&state, move |conn| {
        let e = endpoint(conn, &id)?;
        not_configured(&e, "presence")?;
        Ok(endpoints::delete(conn, &actor, e.id, crate::store::now())?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
