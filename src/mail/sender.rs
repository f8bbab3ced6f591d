//! The mail sender: a background task that claims due mails from the outbox (under a
//! lease), renders them, sends them through SMTP (lettre, rustls), and marks them sent,
//! retries them with back-off, or gives them up after `mail.give_up_after_days`. A local
//! commit wakes it at once; otherwise it looks again at the next due time or after
//! `mail.poll_secs` (mails other nodes wrote).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::Template;
use super::outbox::{self, backoff};
use super::templates::{Rendered, TemplateError, Templates};
use crate::config::{MailConfig, MailSecurity};
use crate::store::models::MailRow;
use crate::store::{self, Pool};

/// Mails claimed at once.
const BATCH: i64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("mail.from: {0}")]
    From(String),
    #[error("SMTP transport: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

/// Why one attempt failed.
enum Failure {
    /// Might work later (the server is down, refused for now, timed out).
    Transient(String),
    /// Can never work (the stored mail is unusable): given up at once.
    Permanent(String),
}

/// Sends the outbox's mails for one node.
pub struct Sender {
    pool: Pool,
    config: Arc<MailConfig>,
    templates: Templates,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Who claims mails (`claimed_by`): this process and task.
    owner: String,
}

impl Sender {
    pub fn new(pool: Pool, config: &MailConfig) -> Result<Sender, SenderError> {
        let dir = config.templates_dir.as_deref().map(std::path::Path::new);
        let templates = Templates::load(&config.default_language, dir)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SenderError::From(format!("{e}")))?;
        Ok(Sender {
            pool,
            config: Arc::new(config.clone()),
            templates,
            from,
            transport: transport(config)?,
            owner: format!("{}/{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        })
    }

    /// Runs until the task is aborted: sends what is due, then waits for a local commit,
    /// the next due time or the poll interval, whichever comes first.
    pub async fn run(self) {
        let poll = StdDuration::from_secs(self.config.poll_secs.max(1));
        loop {
            // Read before looking, so that a commit made while sending is not missed.
            let seen = store::commits::count();
            self.send_due().await;
            let wait = match self.blocking(outbox::next_due).await {
                Ok(Some(at)) => (at - store::now())
                    .to_std()
                    .unwrap_or(StdDuration::ZERO)
                    .min(poll),
                Ok(None) => poll,
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox: cannot read the next due time");
                    poll
                }
            };
            if wait.is_zero() {
                // Something is due that the claim did not take (a lease ending right now,
                // or the database failing): look again in a second rather than spin.
                tokio::time::sleep(StdDuration::from_secs(1)).await;
                continue;
            }
            store::commits::wait_past(seen, wait).await;
        }
    }

    /// Claims and sends due mails until none is left; returns how many were sent.
    pub async fn send_due(&self) -> usize {
        let mut sent = 0;
        loop {
            let owner = self.owner.clone();
            let lease = self.lease();
            let claimed = self
                .blocking(move |conn| {
                    let now = store::now();
                    outbox::claim(conn, &owner, now, now + lease, BATCH)
                })
                .await;
            let batch = match claimed {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox: cannot claim mails");
                    return sent;
                }
            };
            if batch.is_empty() {
                return sent;
            }
            for mail in batch {
                if self.attempt(mail).await {
                    sent += 1;
                }
            }
        }
    }

    /// The lease a claim takes: long enough for one SMTP conversation and its bookkeeping.
    fn lease(&self) -> Duration {
        Duration::seconds(i64::try_from(self.config.timeout_secs).unwrap_or(300) * 2 + 60)
    }

    /// Sends one claimed mail and records the outcome; true when it was sent.
    async fn attempt(&self, mail: MailRow) -> bool {
        let since = mail.retried_at.unwrap_or(mail.created_at);
        // A mail that waited past the give-up age (mail was disabled, or every node was
        // down) is stale: its link may have expired, and news of days ago is not sent.
        let stale = store::now() - since >= self.give_up();
        let outcome = if stale {
            Err(Failure::Permanent(format!(
                "not sent within {} days of {since}",
                self.config.give_up_after_days
            )))
        } else {
            self.mail_outcome(&mail).await
        };
        self.record(mail, outcome).await
    }

    async fn mail_outcome(&self, mail: &MailRow) -> Result<(), Failure> {
        match self.message(mail) {
            Ok(message) => self
                .transport
                .send(message)
                .await
                .map(drop)
                .map_err(|e| Failure::Transient(smtp_error(&e))),
            Err(f) => Err(f),
        }
    }

    /// Records the outcome of an attempt at a claimed mail; true when it was sent.
    async fn record(&self, mail: MailRow, outcome: Result<(), Failure>) -> bool {
        let (id, owner) = (mail.id, self.owner.clone());
        let now = store::now();
        let sent = outcome.is_ok();
        let (give_up, max) = (self.give_up(), self.max_backoff());
        let result = self
            .blocking(move |conn| match outcome {
                Ok(()) => outbox::mark_sent(conn, id, &owner, now),
                Err(Failure::Permanent(error)) => {
                    tracing::error!(mail = id, template = %mail.template, %error, "mail given up: it cannot be sent");
                    outbox::mark_failed(conn, id, &owner, &error, now)
                }
                Err(Failure::Transient(error)) => {
                    let since = mail.retried_at.unwrap_or(mail.created_at);
                    if now - since >= give_up {
                        tracing::error!(mail = id, template = %mail.template, attempts = mail.attempts, %error, "mail given up after retrying since {since}");
                        outbox::mark_failed(conn, id, &owner, &error, now)
                    } else {
                        let next = now + backoff(mail.attempts, max);
                        tracing::warn!(mail = id, attempts = mail.attempts, %error, retry_at = %next, "mail not sent; will retry");
                        outbox::mark_retry(conn, id, &owner, &error, next)
                    }
                }
            })
            .await;
        match result {
            Ok(true) => {
                if sent {
                    tracing::info!(mail = id, "mail sent");
                }
            }
            // The lease ran out and another sender took the mail over: its outcome counts.
            Ok(false) => tracing::warn!(mail = id, "mail outbox: lost the claim on a mail"),
            Err(e) => {
                tracing::warn!(mail = id, error = %e, "mail outbox: cannot record an attempt")
            }
        }
        sent
    }

    fn give_up(&self) -> Duration {
        Duration::days(i64::from(self.config.give_up_after_days))
    }

    fn max_backoff(&self) -> Duration {
        Duration::seconds(i64::try_from(self.config.max_backoff_secs).unwrap_or(900))
    }

    /// The message for a stored mail; a permanent failure when the row cannot make one.
    fn message(&self, mail: &MailRow) -> Result<Message, Failure> {
        let template = Template::parse(&mail.template)
            .ok_or_else(|| Failure::Permanent(format!("unknown template {:?}", mail.template)))?;
        let mut values: serde_json::Value = serde_json::from_str(&mail.parameters)
            .map_err(|e| Failure::Permanent(format!("unreadable parameters: {e}")))?;
        if let Some(map) = values.as_object_mut() {
            map.entry("product")
                .or_insert_with(|| self.config.product.clone().into());
        }
        let Rendered {
            subject,
            text,
            html,
            ..
        } = self
            .templates
            .render(template, mail.language.as_deref(), &values)
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| Failure::Permanent(format!("recipient {:?}: {e}", mail.recipient)))?;
        let domain = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            // One id per outbox row: a mail sent twice (a node stopped between the
            // server's answer and marking it sent) is recognisably the same message.
            .message_id(Some(format!("<rollcall.mail.{}@{domain}>", mail.id)))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Failure::Permanent(format!("cannot build the message: {e}")))
    }

    async fn blocking<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut store::DbConn) -> diesel::QueryResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<T> {
            let mut conn = pool.get()?;
            Ok(f(&mut conn)?)
        })
        .await?
    }
}

/// The SMTP transport `config` describes.
fn transport(config: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SenderError> {
    let host = config.smtp_host.as_str();
    let tls = || TlsParameters::new(host.to_owned());
    let builder = match config.security {
        MailSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(Tls::Required(tls()?))
        }
        MailSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(Tls::Wrapper(tls()?))
        }
        MailSecurity::None => {
            if !config.host_is_loopback() {
                tracing::warn!(
                    host,
                    "mail.security = \"none\": mail and the SMTP password cross the network in clear text"
                );
            }
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(Tls::None)
        }
    };
    let mut builder = builder
        .port(config.smtp_port)
        .timeout(Some(StdDuration::from_secs(config.timeout_secs)));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// An SMTP error as kept in `last_error`: the server's code and text, or the transport's.
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(1000).collect()
}

/// Starts the sender on the current runtime when mail is enabled; when it is not, mails
/// stay in the outbox (and this says so once).
pub fn start(
    pool: Pool,
    config: &MailConfig,
) -> Result<Option<tokio::task::JoinHandle<()>>, SenderError> {
    if !config.enabled {
        tracing::info!("mail is disabled (mail.enabled = false): mails wait in the outbox");
        return Ok(None);
    }
    let sender = Sender::new(pool, config)?;
    tracing::info!(
        host = %config.smtp_host,
        port = config.smtp_port,
        "mail sender started"
    );
    Ok(Some(tokio::spawn(sender.run())))
}
