//! Webhooks: every event (an agent's, a role's or a source's audit entry, see
//! [`crate::events`]) POSTed to the subscribed endpoints, signed per Standard Webhooks
//! (`sign`), in order, at least once. Endpoints are rows (`webhook_endpoints`) made by the
//! admin API or brought in from `[[webhooks]]` at start-up (`configured`); each keeps its
//! cursor — the last audit entry delivered or skipped — and the retry state of its head
//! event. `endpoints` writes them (each change with its `webhook.*` audit entry), `deliver`
//! is the background deliverer, `backoff` its retry schedule, `cli` the `rollcall webhooks`
//! commands.

pub mod backoff;
pub mod cli;
pub mod configured;
pub mod deliver;
pub mod endpoints;
pub mod send;
pub mod sign;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::DbConn;
use crate::store::models::{WebhookDeliveryRow, WebhookEndpointRow};
use crate::store::schema::{webhook_deliveries, webhook_endpoints};

/// What went wrong with a webhook request.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Invalid { pointer: String, message: String },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl WebhookError {
    pub fn invalid(pointer: &str, message: impl Into<String>) -> WebhookError {
        WebhookError::Invalid {
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }
}

/// An endpoint as Rollcall works with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Newest first; one, or two during a rotation.
    pub secrets: Vec<String>,
    /// Event types taken; empty: all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// `config` or `api`.
    pub origin: String,
    pub cursor: i64,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub replay_event: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Events past the cursor one lane delivered while another's held the cursor: not sent
    /// again.
    pub sent_ahead: std::collections::BTreeSet<i64>,
}

impl Endpoint {
    fn of(r: WebhookEndpointRow) -> Endpoint {
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        Endpoint {
            id: r.id,
            name: r.name,
            url: r.url,
            secrets: list(&r.secrets),
            events: list(&r.events),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            origin: r.origin,
            cursor: r.cursor,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            failing_since: r.failing_since,
            replay_event: r.replay_event,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sent_ahead: r
                .sent_ahead
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect(),
        }
    }

    /// The signing keys, newest first (a secret that does not decode is left out; every
    /// door checks them before they are stored).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.secrets
            .iter()
            .filter_map(|s| sign::key_of(s).ok())
            .collect()
    }

    /// The audit actions whose entries this endpoint takes.
    pub fn actions(&self) -> Vec<&'static str> {
        crate::events::Event::actions_of(&self.events)
    }
}

/// Every endpoint, by id.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Endpoint>> {
    Ok(webhook_endpoints::table
        .order(webhook_endpoints::id.asc())
        .select(WebhookEndpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Endpoint::of)
        .collect())
}

/// The endpoint with id `id`.
pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<Option<Endpoint>> {
    Ok(webhook_endpoints::table
        .find(id)
        .select(WebhookEndpointRow::as_select())
        .first(conn)
        .optional()?
        .map(Endpoint::of))
}

/// The endpoint named `name`.
pub fn by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Endpoint>> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::name.eq(name))
        .select(WebhookEndpointRow::as_select())
        .first(conn)
        .optional()?
        .map(Endpoint::of))
}

/// The endpoint named by `key`: its id, or its name.
pub fn find(conn: &mut DbConn, key: &str) -> QueryResult<Option<Endpoint>> {
    if let Ok(id) = key.parse::<i64>()
        && let Some(e) = get(conn, id)?
    {
        return Ok(Some(e));
    }
    by_name(conn, key)
}

/// The ids of the enabled endpoints.
pub fn enabled_ids(conn: &mut DbConn) -> QueryResult<Vec<i64>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .order(webhook_endpoints::id.asc())
        .select(webhook_endpoints::id)
        .load(conn)
}

/// An endpoint's delivery attempts, newest first: up to `limit` below id `before`.
/// Returns the page and the id to continue below, when there is more.
pub fn deliveries(
    conn: &mut DbConn,
    endpoint: i64,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<WebhookDeliveryRow>, Option<i64>)> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .order(webhook_deliveries::id.desc())
        .limit(limit + 1)
        .select(WebhookDeliveryRow::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(webhook_deliveries::id.lt(b));
    }
    let rows: Vec<WebhookDeliveryRow> = q.load(conn)?;
    Ok(crate::store::newest_first_page(rows, limit, |r| r.id))
}

/// What waits for an endpoint: how many events, and the oldest's id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub waiting: i64,
    pub oldest: Option<(i64, NaiveDateTime)>,
}

pub fn backlog(conn: &mut DbConn, endpoint: &Endpoint) -> QueryResult<Backlog> {
    let (waiting, oldest) = crate::events::waiting(conn, endpoint.cursor, &endpoint.actions())?;
    Ok(Backlog { waiting, oldest })
}

/// Deletes delivery attempts recorded before `before`; returns how many.
pub fn purge_deliveries(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    crate::store::write_tx(conn, |conn| {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::at.lt(before)))
            .execute(conn)
    })
}
