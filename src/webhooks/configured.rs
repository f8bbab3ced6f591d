//! `[[webhooks]]` brought into the `webhook_endpoints` table at start-up: a new endpoint is
//! created (origin `config`; it starts at the end of the audit log unless `from = "start"`),
//! one whose URL, events or secrets changed in the file is updated, `enabled = false`
//! disables it. An endpoint the file no longer names is disabled, its backlog kept. The
//! database's own state — the cursor, a disabling by the deliverer — is left alone
//! otherwise: re-enabling an endpoint the deliverer disabled is an operator's decision.

use chrono::NaiveDateTime;

use super::endpoints::{self, EndpointPatch, NewEndpoint};
use super::{WebhookError, list};
use crate::config::{StartFrom, WebhookConfig};
use crate::store::DbConn;

/// The actor of the changes made from the configuration.
pub const ACTOR: &str = "config";

/// Brings the configured endpoints into the table; returns how many rows changed.
pub fn apply(
    conn: &mut DbConn,
    hooks: &[WebhookConfig],
    now: NaiveDateTime,
) -> Result<usize, WebhookError> {
    let existing = list(conn)?;
    let mut changed = 0;
    for h in hooks {
        match existing.iter().find(|e| e.name == h.name) {
            None => {
                endpoints::create(
                    conn,
                    ACTOR,
                    NewEndpoint {
                        name: h.name.clone(),
                        url: h.url.clone(),
                        secrets: h.all_secrets(),
                        events: h.events.clone(),
                        enabled: h.enabled,
                        origin: "config".into(),
                        from_start: h.from == StartFrom::Start,
                    },
                    now,
                )?;
                changed += 1;
            }
            Some(e) if e.origin != "config" => {
                tracing::warn!(
                    webhook = %h.name,
                    "an endpoint of this name was made over the API; the configuration's is ignored"
                );
            }
            Some(e) => {
                let secrets = h.all_secrets();
                let patch = EndpointPatch {
                    url: (e.url != h.url).then(|| h.url.clone()),
                    events: (e.events != h.events).then(|| h.events.clone()),
                    secrets: (e.secrets != secrets).then_some(secrets),
                    enabled: (!h.enabled && e.enabled).then_some(false),
                };
                if patch.url.is_some()
                    || patch.events.is_some()
                    || patch.secrets.is_some()
                    || patch.enabled.is_some()
                {
                    endpoints::update(
                        conn,
                        ACTOR,
                        e.id,
                        patch,
                        Some("changed in the configuration"),
                        now,
                    )?;
                    changed += 1;
                }
            }
        }
    }
    for e in &existing {
        if e.origin == "config" && e.enabled && !hooks.iter().any(|h| h.name == e.name) {
            endpoints::update(
                conn,
                ACTOR,
                e.id,
                EndpointPatch {
                    enabled: Some(false),
                    ..EndpointPatch::default()
                },
                Some("no longer in the configuration"),
                now,
            )?;
            changed += 1;
        }
    }
    Ok(changed)
}
