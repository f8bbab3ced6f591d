//! `[[webhooks]]` — endpoints kept in the configuration, brought into the
//! `webhook_endpoints` table at start-up (`webhooks::configured`) — and `[webhook_delivery]`,
//! how the deliverer works (poll interval, timeouts, back-off, when to give up).

use serde::Deserialize;

use super::ConfigError;

/// One `[[webhooks]]` endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique; letters, digits, `-` and `_`.
    pub name: String,
    /// `http://` or `https://` URL events are POSTed to.
    pub url: String,
    /// The signing secret (`whsec_` and base64), also as `secret_file`.
    pub secret: Option<String>,
    /// Or up to two secrets, newest first (during a rotation both sign).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Event types delivered (`agent.disabled`, …); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where a new endpoint starts: `end` (default; only what happens from now on) or
    /// `start` (every event the audit log holds).
    #[serde(default)]
    pub from: StartFrom,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    #[default]
    End,
    Start,
}

impl WebhookConfig {
    /// The secrets, newest first.
    pub fn all_secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.secret.iter().cloned().collect();
        out.extend(self.secrets.iter().cloned());
        out
    }
}

/// `[webhook_delivery]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDeliveryConfig {
    /// How often the database is looked at for events written by other nodes (this
    /// process's own commits wake the deliverer at once), in milliseconds.
    pub poll_ms: u64,
    /// Longest wait for a receiver's answer, in seconds.
    pub timeout_secs: u64,
    /// Longest wait for a connection, in seconds.
    pub connect_timeout_secs: u64,
    /// The longest pause between two attempts at one event, in seconds (the pause starts
    /// at 1 s and doubles).
    pub max_backoff_secs: u64,
    /// An endpoint failing for this long is disabled (its backlog kept), in seconds.
    pub disable_after_secs: u64,
    /// Delivery attempts are kept this many days.
    pub keep_deliveries_days: u32,
    /// Requests in flight to one endpoint: events are spread over this many ordered lanes by
    /// what they are about (an agent, a role, a source), so each agent's events still
    /// arrive in order. 1 sends every event in the order of the log.
    pub concurrency: usize,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        WebhookDeliveryConfig {
            poll_ms: 250,
            timeout_secs: 10,
            connect_timeout_secs: 5,
            max_backoff_secs: 3600,
            disable_after_secs: 24 * 3600,
            keep_deliveries_days: 14,
            concurrency: 4,
        }
    }
}

/// Checks an endpoint's name (what the configuration and the API accept).
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1 to 64 letters, digits, - or _"
        ))
    }
}

/// Checks an endpoint's URL: absolute `http` or `https` with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("url {url:?} must be an http:// or https:// URL")),
        Err(e) => Err(format!("url {url:?} is not a URL: {e}")),
    }
}

/// Checks a list of event types against the known ones.
pub fn check_events(events: &[String]) -> Result<(), String> {
    for e in events {
        if crate::events::Event::of_type(e).is_none() {
            return Err(format!(
                "{e:?} is not an event type (known: {})",
                crate::events::TYPES.join(", ")
            ));
        }
    }
    Ok(())
}

pub(super) fn validate(
    hooks: &[WebhookConfig],
    delivery: &WebhookDeliveryConfig,
) -> Result<(), ConfigError> {
    let bad = |i: usize, m: String| ConfigError::Invalid(format!("webhooks[{i}]: {m}"));
    let mut names = std::collections::HashSet::new();
    for (i, h) in hooks.iter().enumerate() {
        check_name(&h.name).map_err(|m| bad(i, m))?;
        if !names.insert(h.name.as_str()) {
            return Err(bad(i, format!("the name {:?} is used twice", h.name)));
        }
        check_url(&h.url).map_err(|m| bad(i, m))?;
        check_events(&h.events).map_err(|m| bad(i, format!("events: {m}")))?;
        let secrets = h.all_secrets();
        if secrets.is_empty() || secrets.len() > 2 {
            return Err(bad(
                i,
                "give one secret (secret or secret_file) or two (secrets, newest first)".into(),
            ));
        }
        for s in &secrets {
            crate::webhooks::sign::key_of(s).map_err(|m| bad(i, format!("secret: {m}")))?;
        }
    }
    if !(1..=32).contains(&delivery.concurrency) {
        return Err(ConfigError::Invalid(format!(
            "webhook_delivery.concurrency must be 1 to 32 (is {})",
            delivery.concurrency
        )));
    }
    if delivery.poll_ms == 0 || delivery.timeout_secs == 0 || delivery.connect_timeout_secs == 0 {
        return Err(ConfigError::Invalid(
            "webhook_delivery: poll_ms, timeout_secs and connect_timeout_secs must be at least 1"
                .into(),
        ));
    }
    if delivery.max_backoff_secs == 0 {
        return Err(ConfigError::Invalid(
            "webhook_delivery.max_backoff_secs must be at least 1".into(),
        ));
    }
    Ok(())
}
