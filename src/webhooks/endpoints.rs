//! Every change to a webhook endpoint — create, update, enable and disable, delete, secret
//! rotation, replay, and the deliverer's own disabling — with its `webhook.*` audit entry in
//! the same transaction. The audit entries never hold a secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use super::{Endpoint, WebhookError, get, sign};
use crate::audit::{self, Entry};
use crate::config::{check_events, check_name, check_url};
use crate::store::models::NewWebhookEndpoint;
use crate::store::schema::webhook_endpoints as we;
use crate::store::{DbConn, write_tx};

/// An endpoint to create.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub name: String,
    pub url: String,
    /// Newest first; empty: one is generated.
    pub secrets: Vec<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// `api` or `config`.
    pub origin: String,
    /// Deliver every event the audit log holds, instead of only those written from now on.
    pub from_start: bool,
}

/// A change to an endpoint; `None` fields stay.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// The whole list of secrets, newest first (only the configuration sets it this way).
    pub secrets: Option<Vec<String>>,
}

/// What to deliver again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Every event from this id on, in order (the cursor goes back).
    From(i64),
    /// This one event, before the endpoint goes on.
    One(i64),
}

fn snapshot(e: &Endpoint) -> Value {
    json!({
        "name": e.name,
        "url": e.url,
        "events": e.events,
        "enabled": e.enabled,
        "disabledReason": e.disabled_reason,
        "origin": e.origin,
        "cursor": e.cursor,
        "secrets": e.secrets.len(),
    })
}

#[expect(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConn,
    actor: &str,
    action: &str,
    e: &Endpoint,
    before: Option<Value>,
    after: Option<Value>,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    audit::append(
        conn,
        Entry {
            at: now,
            actor,
            action,
            target_type: "webhook",
            target_id: &e.name,
            before,
            after,
            reason,
        },
    )
}

fn check_secrets(secrets: &[String]) -> Result<(), WebhookError> {
    if secrets.len() > 2 {
        return Err(WebhookError::invalid(
            "/secrets",
            "at most two secrets at once (the new one and the previous)",
        ));
    }
    for s in secrets {
        sign::key_of(s).map_err(|m| WebhookError::invalid("/secret", m))?;
    }
    Ok(())
}

fn current(conn: &mut DbConn, id: i64) -> Result<Endpoint, WebhookError> {
    get(conn, id)?.ok_or_else(|| WebhookError::NotFound(format!("no webhook endpoint {id}")))
}

fn list_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Creates an endpoint; returns it and the secret when one was generated (shown once).
pub fn create(
    conn: &mut DbConn,
    actor: &str,
    new: NewEndpoint,
    now: NaiveDateTime,
) -> Result<(Endpoint, Option<String>), WebhookError> {
    check_name(&new.name).map_err(|m| WebhookError::invalid("/name", m))?;
    check_url(&new.url).map_err(|m| WebhookError::invalid("/url", m))?;
    check_events(&new.events).map_err(|m| WebhookError::invalid("/events", m))?;
    check_secrets(&new.secrets)?;
    let (secrets, generated) = if new.secrets.is_empty() {
        let s = sign::new_secret();
        (vec![s.clone()], Some(s))
    } else {
        (new.secrets, None)
    };
    write_tx(conn, |conn| {
        if super::by_name(conn, &new.name)?.is_some() {
            return Err(WebhookError::Conflict(format!(
                "a webhook endpoint named {:?} exists",
                new.name
            )));
        }
        let cursor = if new.from_start {
            0
        } else {
            crate::events::last_id(conn)?
        };
        let id: i64 = diesel::insert_into(we::table)
            .values(NewWebhookEndpoint {
                name: new.name.clone(),
                url: new.url.clone(),
                secrets: list_json(&secrets),
                events: list_json(&new.events),
                enabled: new.enabled,
                disabled_reason: (!new.enabled).then(|| "created disabled".to_owned()),
                origin: new.origin.clone(),
                cursor,
                attempts: 0,
                created_at: now,
                updated_at: now,
            })
            .returning(we::id)
            .get_result(conn)?;
        let e = current(conn, id)?;
        record(
            conn,
            actor,
            "webhook.create",
            &e,
            None,
            Some(snapshot(&e)),
            None,
            now,
        )?;
        Ok((e, generated))
    })
}

/// Changes an endpoint's URL, event types, secrets or whether it is enabled. Enabling
/// clears the reason it was disabled and its head event's retry state: delivery resumes
/// at once from where it stopped.
pub fn update(
    conn: &mut DbConn,
    actor: &str,
    id: i64,
    patch: EndpointPatch,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<Endpoint, WebhookError> {
    if let Some(url) = &patch.url {
        check_url(url).map_err(|m| WebhookError::invalid("/url", m))?;
    }
    if let Some(events) = &patch.events {
        check_events(events).map_err(|m| WebhookError::invalid("/events", m))?;
    }
    if let Some(s) = &patch.secrets {
        check_secrets(s)?;
        if s.is_empty() {
            return Err(WebhookError::invalid(
                "/secrets",
                "an endpoint keeps a secret",
            ));
        }
    }
    write_tx(conn, |conn| {
        let before = current(conn, id)?;
        let mut after = before.clone();
        if let Some(url) = patch.url {
            after.url = url;
        }
        if let Some(events) = patch.events {
            after.events = events;
        }
        if let Some(s) = patch.secrets {
            after.secrets = s;
        }
        let mut action = "webhook.update";
        match patch.enabled {
            Some(true) if !before.enabled => {
                after.enabled = true;
                after.disabled_reason = None;
                after.attempts = 0;
                after.next_attempt_at = None;
                after.failing_since = None;
                action = "webhook.enable";
            }
            Some(false) if before.enabled => {
                after.enabled = false;
                after.disabled_reason = Some(
                    reason
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("disabled by {actor}")),
                );
                action = "webhook.disable";
            }
            _ => {}
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = now;
        diesel::update(we::table.find(id))
            .set((
                we::url.eq(&after.url),
                we::events.eq(list_json(&after.events)),
                we::secrets.eq(list_json(&after.secrets)),
                we::enabled.eq(after.enabled),
                we::disabled_reason.eq(&after.disabled_reason),
                we::attempts.eq(after.attempts),
                we::next_attempt_at.eq(after.next_attempt_at),
                we::failing_since.eq(after.failing_since),
                we::updated_at.eq(now),
            ))
            .execute(conn)?;
        record(
            conn,
            actor,
            action,
            &after,
            Some(snapshot(&before)),
            Some(snapshot(&after)),
            reason,
            now,
        )?;
        Ok(after)
    })
}

/// Deletes an endpoint and its delivery record.
pub fn delete(
    conn: &mut DbConn,
    actor: &str,
    id: i64,
    now: NaiveDateTime,
) -> Result<(), WebhookError> {
    write_tx(conn, |conn| {
        let e = current(conn, id)?;
        diesel::delete(
            crate::store::schema::webhook_deliveries::table
                .filter(crate::store::schema::webhook_deliveries::endpoint_id.eq(id)),
        )
        .execute(conn)?;
        diesel::delete(we::table.find(id)).execute(conn)?;
        record(
            conn,
            actor,
            "webhook.delete",
            &e,
            Some(snapshot(&e)),
            None,
            None,
            now,
        )?;
        Ok(())
    })
}

/// Adds a new secret (generated when not given) and keeps the newest previous one: both
/// sign until [`drop_previous`]. Returns the endpoint and the new secret.
pub fn rotate(
    conn: &mut DbConn,
    actor: &str,
    id: i64,
    secret: Option<String>,
    now: NaiveDateTime,
) -> Result<(Endpoint, String), WebhookError> {
    let secret = secret.unwrap_or_else(sign::new_secret);
    sign::key_of(&secret).map_err(|m| WebhookError::invalid("/secret", m))?;
    write_tx(conn, |conn| {
        let before = current(conn, id)?;
        if before.secrets.contains(&secret) {
            return Err(WebhookError::Conflict(
                "the endpoint has that secret already".into(),
            ));
        }
        let mut after = before.clone();
        after.secrets = std::iter::once(secret.clone())
            .chain(before.secrets.first().cloned())
            .collect();
        write_secrets(conn, &after, now)?;
        record(
            conn,
            actor,
            "webhook.rotate_secret",
            &after,
            Some(snapshot(&before)),
            Some(snapshot(&after)),
            None,
            now,
        )?;
        Ok((after, secret.clone()))
    })
}

/// Drops the previous secret after a rotation: only the newest signs from now on.
pub fn drop_previous(
    conn: &mut DbConn,
    actor: &str,
    id: i64,
    now: NaiveDateTime,
) -> Result<Endpoint, WebhookError> {
    write_tx(conn, |conn| {
        let before = current(conn, id)?;
        if before.secrets.len() < 2 {
            return Err(WebhookError::NotFound(
                "the endpoint has no previous secret".into(),
            ));
        }
        let mut after = before.clone();
        after.secrets.truncate(1);
        write_secrets(conn, &after, now)?;
        record(
            conn,
            actor,
            "webhook.drop_secret",
            &after,
            Some(snapshot(&before)),
            Some(snapshot(&after)),
            None,
            now,
        )?;
        Ok(after)
    })
}

fn write_secrets(conn: &mut DbConn, e: &Endpoint, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(we::table.find(e.id))
        .set((
            we::secrets.eq(list_json(&e.secrets)),
            we::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Delivers events again: from an id on (the cursor goes back; never forward, which would
/// skip events not delivered yet), or one event before the endpoint goes on.
pub fn replay(
    conn: &mut DbConn,
    actor: &str,
    id: i64,
    what: Replay,
    now: NaiveDateTime,
) -> Result<Endpoint, WebhookError> {
    write_tx(conn, |conn| {
        let before = current(conn, id)?;
        let mut after = before.clone();
        match what {
            Replay::From(from) => {
                if from < 1 || from > before.cursor + 1 {
                    return Err(WebhookError::invalid(
                        "/from_event",
                        format!(
                            "from_event must be between 1 and {} (the events after the \
                             endpoint's cursor {} are still to be delivered)",
                            before.cursor + 1,
                            before.cursor
                        ),
                    ));
                }
                after.cursor = from - 1;
            }
            Replay::One(event) => {
                if crate::events::one(conn, event)?.is_none() {
                    return Err(WebhookError::invalid(
                        "/event",
                        format!("audit entry {event} is not an event"),
                    ));
                }
                if let Some(pending) = before.replay_event {
                    return Err(WebhookError::Conflict(format!(
                        "event {pending} is still waiting to be delivered again"
                    )));
                }
                after.replay_event = Some(event);
            }
        }
        after.attempts = 0;
        after.next_attempt_at = None;
        after.failing_since = None;
        after.updated_at = now;
        diesel::update(we::table.find(id))
            .set((
                we::cursor.eq(after.cursor),
                we::replay_event.eq(after.replay_event),
                we::sent_ahead.eq(""),
                we::attempts.eq(0),
                we::next_attempt_at.eq(None::<NaiveDateTime>),
                we::failing_since.eq(None::<NaiveDateTime>),
                we::updated_at.eq(now),
            ))
            .execute(conn)?;
        let detail = match what {
            Replay::From(n) => json!({"fromEvent": n}),
            Replay::One(n) => json!({"event": n}),
        };
        record(
            conn,
            actor,
            "webhook.replay",
            &after,
            Some(snapshot(&before)),
            Some(detail),
            None,
            now,
        )?;
        Ok(after)
    })
}
