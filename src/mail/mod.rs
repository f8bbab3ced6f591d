//! Mail to agents (activation links, password resets, "your account was disabled"): a
//! durable outbox written inside the transaction of the change that asks for a mail
//! (`outbox`), the texts in English and Chinese with an operator's overrides (`templates`),
//! and the background sender that delivers them through SMTP with retries (`sender`).
//! A mail server that is down delays mail; it never loses it nor fails the request.

pub mod outbox;
pub mod sender;
pub mod templates;

pub use outbox::{MailStatus, enqueue, enqueue_many};

/// The mails Rollcall sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// A new agent's link to activate its account and choose a password.
    Activation,
    /// A link to choose a new password.
    PasswordReset,
    /// The agent's account was disabled (with the reason).
    AccountDisabled,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Activation => "activation",
            Template::PasswordReset => "password_reset",
            Template::AccountDisabled => "account_disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Template> {
        match s {
            "activation" => Some(Template::Activation),
            "password_reset" => Some(Template::PasswordReset),
            "account_disabled" => Some(Template::AccountDisabled),
            _ => None,
        }
    }
}

/// A mail to send.
#[derive(Debug, Clone)]
pub struct Mail<'a> {
    /// The agent the mail is about (kept for the outbox's readers).
    pub agent_id: Option<&'a str>,
    /// The recipient's address.
    pub to: &'a str,
    /// The reader's language (a BCP 47 tag such as `zh-CN`); `None`: `mail.default_language`.
    pub language: Option<&'a str>,
    pub template: Template,
    /// The template's values: `name`, `link`, `expires_at` (RFC 3339; shown in the reader's
    /// language), `reason`, `product` (`mail.product` when absent).
    pub values: serde_json::Value,
}
