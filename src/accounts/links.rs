//! One-time links through the gateway: issuing one (the token's SHA-256 stored, the link
//! mailed to the outbox in the same transaction, earlier links of its purpose ended),
//! finding a live one, and the activation link a new agent gets per `[auth.new_agents]` —
//! one at a time, or in multi-row statements for a bulk create. Using a link to set a
//! password is `passwords`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

use super::passwords::audit_password;
use super::{AccountError, Accounts};
use crate::audit;
use crate::config::{Config, FirstPassword, NewAgentsConfig};
use crate::domain::Status;
use crate::mail;
use crate::store::DbConn;
use crate::store::models::AgentRow;
use crate::store::schema::{agents, credential_links};

/// Prefix that makes link tokens recognisable.
pub const LINK_PREFIX: &str = "rcl_";

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Activation,
    Reset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Activation => "activation",
            LinkPurpose::Reset => "reset",
        }
    }

    fn parse(s: &str) -> LinkPurpose {
        if s == "activation" {
            LinkPurpose::Activation
        } else {
            LinkPurpose::Reset
        }
    }

    fn template(self) -> mail::Template {
        match self {
            LinkPurpose::Activation => mail::Template::Activation,
            LinkPurpose::Reset => mail::Template::PasswordReset,
        }
    }
}

/// The gateway's rules for links and first passwords (`[auth.links]`, `[auth.new_agents]`,
/// the classic policy's history length).
#[derive(Debug, Clone)]
pub struct LinkRules {
    /// Where a link points, `{token}` standing for the token.
    pub url: String,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
    /// Fewest time between two self-service reset links of one agent.
    pub reset_interval: Duration,
    pub new_agents: NewAgentsConfig,
    /// Earlier password hashes kept per agent.
    pub history: usize,
}

impl Default for LinkRules {
    fn default() -> Self {
        LinkRules::from_config(&Config::default())
    }
}

impl LinkRules {
    /// The default rules, but no new agent gets a link (tools and tests that create agents
    /// without a daemon's configuration).
    pub fn without_first_links() -> LinkRules {
        let mut rules = LinkRules::default();
        rules.new_agents.first_password = FirstPassword::None;
        rules.new_agents.doors.clear();
        rules
    }

    pub fn from_config(config: &Config) -> LinkRules {
        let l = &config.auth.links;
        let url = match &l.url {
            Some(url) => url.clone(),
            None => format!(
                "{}/password#token={{token}}",
                config.mail.link_base(&config.server)
            ),
        };
        LinkRules {
            url,
            activation_ttl: Duration::hours(i64::from(l.activation_ttl_hours)),
            reset_ttl: Duration::minutes(i64::from(l.reset_ttl_minutes)),
            reset_interval: Duration::seconds(
                i64::try_from(l.reset_interval_secs).unwrap_or(i64::MAX / 4_000),
            ),
            new_agents: config.auth.new_agents.clone(),
            history: config.auth.password_policy.classic.history,
        }
    }

    fn ttl(&self, purpose: LinkPurpose) -> Duration {
        match purpose {
            LinkPurpose::Activation => self.activation_ttl,
            LinkPurpose::Reset => self.reset_ttl,
        }
    }
}

/// A link issued: the token (for the mail, and for the admin who asked), when it ends, and
/// the mail that carries it (`None` when the agent has no email).
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub token: String,
    pub url: String,
    pub expires_at: NaiveDateTime,
    pub mail_id: Option<i64>,
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such link, or its agent is gone or disabled.
    Invalid,
    Expired,
    Used,
}

impl LinkRefusal {
    pub fn code(self) -> &'static str {
        match self {
            LinkRefusal::Invalid => "link_invalid",
            LinkRefusal::Expired => "link_expired",
            LinkRefusal::Used => "link_used",
        }
    }
}

/// A live link: its agent and purpose.
#[derive(Debug, Clone)]
pub struct LinkFor {
    pub agent: AgentRow,
    pub purpose: LinkPurpose,
}

/// A new link token: prefix + 32 random bytes, base64url.
fn new_link_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{LINK_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The name a mail greets `row` by.
pub(super) fn mail_name(row: &AgentRow) -> String {
    [&row.display_name, &row.formatted_name, &row.nickname]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .cloned()
        .or_else(|| match (&row.given_name, &row.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.clone().or_else(|| f.clone()),
        })
        .unwrap_or_else(|| row.user_name.clone())
}

/// The link whose token hashes to `token_hash`, if it can still be used.
pub fn live_link(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<LinkFor, LinkRefusal>> {
    type Link = (String, String, NaiveDateTime, Option<NaiveDateTime>);
    let found: Option<Link> = credential_links::table
        .filter(credential_links::token_hash.eq(token_hash))
        .select((
            credential_links::agent_id,
            credential_links::purpose,
            credential_links::expires_at,
            credential_links::used_at,
        ))
        .first(conn)
        .optional()?;
    let Some((agent_id, purpose, expires_at, used_at)) = found else {
        return Ok(Err(LinkRefusal::Invalid));
    };
    if used_at.is_some() {
        return Ok(Err(LinkRefusal::Used));
    }
    if now >= expires_at {
        return Ok(Err(LinkRefusal::Expired));
    }
    let agent: Option<AgentRow> = agents::table
        .filter(agents::id.eq(&agent_id))
        .select(AgentRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match agent {
        Some(a) if usable(&a) => Ok(LinkFor {
            agent: a,
            purpose: LinkPurpose::parse(&purpose),
        }),
        _ => Err(LinkRefusal::Invalid),
    })
}

/// Whether an agent in this state may still set a password by link (active or pending;
/// not disabled or deleted).
pub(super) fn usable(row: &AgentRow) -> bool {
    matches!(
        Status::parse(&row.status),
        Some(Status::Active | Status::Pending)
    )
}

impl Accounts {
    /// Within a create's (or an approval's) transaction: mails `row` an activation link when
    /// the request (`asked`) or else the door it came through (`[auth.new_agents]`) says so,
    /// it has no password and an email, and it is active. Audited `agent.activation_link`.
    pub(super) fn first_link(
        &self,
        conn: &mut DbConn,
        actor: &str,
        row: &AgentRow,
        asked: Option<FirstPassword>,
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        if !self.wants_link(row, asked) {
            return Ok(());
        }
        let link = self.write_link(conn, actor, row, LinkPurpose::Activation, now)?;
        audit_password(
            conn,
            actor,
            "agent.activation_link",
            &row.id,
            json!({ "linkExpiresAt": link.expires_at }),
            None,
            now,
        )?;
        Ok(())
    }

    /// [`Accounts::first_link`] for the new agents of a bulk create, with multi-row
    /// statements (an import of 100,000 writes three rows each).
    pub(super) fn first_links(
        &self,
        conn: &mut DbConn,
        actor: &str,
        rows: &[&AgentRow],
        now: NaiveDateTime,
    ) -> Result<(), AccountError> {
        let due: Vec<&AgentRow> = rows
            .iter()
            .copied()
            .filter(|r| self.wants_link(r, None))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let expires_at = now + self.links.activation_ttl;
        let tokens: Vec<String> = due.iter().map(|_| new_link_token()).collect();
        let hashes: Vec<String> = tokens.iter().map(|t| crate::auth::token_hash(t)).collect();
        let purpose = LinkPurpose::Activation.as_str();
        for (chunk, hashes) in due.chunks(2000).zip(hashes.chunks(2000)) {
            let values: Vec<_> = chunk
                .iter()
                .zip(hashes)
                .map(|(row, hash)| {
                    (
                        credential_links::token_hash.eq(hash.as_str()),
                        credential_links::agent_id.eq(row.id.as_str()),
                        credential_links::purpose.eq(purpose),
                        credential_links::created_by.eq(actor),
                        credential_links::created_at.eq(now),
                        credential_links::expires_at.eq(expires_at),
                    )
                })
                .collect();
            match conn {
                DbConn::Pg(pg) => {
                    diesel::insert_into(credential_links::table)
                        .values(&values)
                        .execute(pg)?;
                }
                DbConn::Sqlite(_) => {
                    for v in values {
                        diesel::insert_into(credential_links::table)
                            .values(v)
                            .execute(conn)?;
                    }
                }
            }
        }
        let expires = expires_at.and_utc().to_rfc3339();
        let mails: Vec<mail::Mail<'_>> = due
            .iter()
            .zip(&tokens)
            .map(|(row, token)| mail::Mail {
                agent_id: Some(&row.id),
                to: row.email.as_deref().unwrap_or_default(),
                language: row.preferred_language.as_deref(),
                template: mail::Template::Activation,
                values: json!({
                    "name": mail_name(row),
                    "link": self.links.url.replace("{token}", token),
                    "expires_at": expires,
                }),
            })
            .collect();
        mail::outbox::enqueue_many(conn, &mails, now)?;
        let after = json!({ "linkExpiresAt": expires_at }).to_string();
        let entries: Vec<audit::TextEntry<'_>> = due
            .iter()
            .map(|row| audit::TextEntry {
                at: now,
                actor,
                action: "agent.activation_link",
                target_type: "agent",
                target_id: &row.id,
                before: None,
                after: Some(&after),
                reason: None,
            })
            .collect();
        audit::append_many(conn, &entries)?;
        Ok(())
    }

    /// Whether a new (or just approved) agent gets an activation link: asked for, or its
    /// door's setting; no password yet; active; an email to send it to.
    fn wants_link(&self, row: &AgentRow, asked: Option<FirstPassword>) -> bool {
        let method = asked.unwrap_or_else(|| self.links.new_agents.for_door(&row.source));
        method == FirstPassword::ActivationLink
            && row.password_hash.is_none()
            && row.status == Status::Active.as_str()
            && row.email.as_deref().is_some_and(|e| !e.is_empty())
    }

    /// A new link for `row` (its earlier unused links of the purpose stop working) and its
    /// mail when the agent has an email.
    pub(super) fn write_link(
        &self,
        conn: &mut DbConn,
        actor: &str,
        row: &AgentRow,
        purpose: LinkPurpose,
        now: NaiveDateTime,
    ) -> Result<IssuedLink, AccountError> {
        diesel::update(
            credential_links::table
                .filter(credential_links::agent_id.eq(&row.id))
                .filter(credential_links::purpose.eq(purpose.as_str()))
                .filter(credential_links::used_at.is_null()),
        )
        .set(credential_links::expires_at.eq(now))
        .execute(conn)?;
        let token = new_link_token();
        let expires_at = now + self.links.ttl(purpose);
        diesel::insert_into(credential_links::table)
            .values((
                credential_links::token_hash.eq(crate::auth::token_hash(&token)),
                credential_links::agent_id.eq(&row.id),
                credential_links::purpose.eq(purpose.as_str()),
                credential_links::created_by.eq(actor),
                credential_links::created_at.eq(now),
                credential_links::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        let url = self.links.url.replace("{token}", &token);
        let mail_id = match row.email.as_deref().filter(|e| !e.is_empty()) {
            Some(to) => Some(mail::enqueue(
                conn,
                &mail::Mail {
                    agent_id: Some(&row.id),
                    to,
                    language: row.preferred_language.as_deref(),
                    template: purpose.template(),
                    values: json!({
                        "name": mail_name(row),
                        "link": url,
                        "expires_at": expires_at.and_utc().to_rfc3339(),
                    }),
                },
                now,
            )?),
            None => None,
        };
        Ok(IssuedLink {
            token,
            url,
            expires_at,
            mail_id,
        })
    }
}
