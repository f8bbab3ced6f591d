//! `[mail]`: the SMTP server mail is sent through, the sender's address, languages, where
//! template overrides live, and how long a mail is retried before it is given up.

use serde::Deserialize;

use super::ConfigError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server lacks it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a server on the loopback interface (tests, a local relay).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Send mail. When false, mails are still written to the outbox (visible with
    /// `rollcall mail outbox`) and wait there until mail is enabled.
    pub enabled: bool,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: MailSecurity,
    /// SMTP authentication (PLAIN/LOGIN); both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, with a display name: `"Rollcall <rollcall@example.com>"`.
    pub from: String,
    /// Seconds one SMTP conversation may take.
    pub timeout_secs: u64,
    /// The language of a mail whose reader's language has no template (`en` or `zh`).
    pub default_language: String,
    /// The product name the templates show (`{product}`).
    pub product: String,
    /// Base URL of the links in mails, when it differs from `server.public_url`.
    pub public_url: Option<String>,
    /// Tell an agent by mail when its account is disabled.
    pub notify_disabled: bool,
    /// A directory of templates overriding the built-in ones: `<template>.<language>.txt`
    /// (first line `Subject: …`, a blank line, the body) and optionally `….html`.
    pub templates_dir: Option<String>,
    /// Days a mail is retried before it is marked `failed`.
    pub give_up_after_days: u32,
    /// Longest wait between two attempts, in seconds (the back-off doubles up to it).
    pub max_backoff_secs: u64,
    /// Seconds between two looks at the outbox when no local write woke the sender (other
    /// nodes' mails, retries that fell due).
    pub poll_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            enabled: false,
            smtp_host: "localhost".into(),
            smtp_port: 587,
            security: MailSecurity::Starttls,
            username: None,
            password: None,
            from: "Rollcall <rollcall@localhost>".into(),
            timeout_secs: 30,
            default_language: "en".into(),
            product: "Rollcall".into(),
            public_url: None,
            notify_disabled: true,
            templates_dir: None,
            give_up_after_days: 3,
            max_backoff_secs: 15 * 60,
            poll_secs: 30,
        }
    }
}

impl MailConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("mail.{m}")));
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad(&format!(
                "from: {:?} is not an address such as \"Rollcall <rollcall@example.com>\"",
                self.from
            ));
        }
        if self.username.is_some() != self.password.is_some() {
            return bad("username and mail.password: give both or neither");
        }
        if !crate::mail::templates::LANGUAGES.contains(&self.default_language.as_str()) {
            return bad(&format!(
                "default_language: {:?} has no built-in templates (en, zh)",
                self.default_language
            ));
        }
        if self.timeout_secs == 0 || self.poll_secs == 0 || self.max_backoff_secs == 0 {
            return bad("timeout_secs, poll_secs and max_backoff_secs must be at least 1");
        }
        if self.give_up_after_days == 0 {
            return bad("give_up_after_days must be at least 1");
        }
        if self.smtp_host.is_empty() {
            return bad("smtp_host must not be empty");
        }
        if let Some(dir) = &self.templates_dir {
            crate::mail::templates::Templates::load(
                &self.default_language,
                Some(std::path::Path::new(dir)),
            )
            .map_err(|e| ConfigError::Invalid(format!("mail.templates_dir: {e}")))?;
        }
        Ok(())
    }

    /// The base URL links in mails start with: `mail.public_url`, else the server's.
    pub fn link_base(&self, server: &super::ServerConfig) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => server.base_url(),
        }
    }

    /// Whether the SMTP host is this machine (where `security = "none"` is reasonable).
    pub fn host_is_loopback(&self) -> bool {
        self.smtp_host == "localhost"
            || self
                .smtp_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, MailSecurity};

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_parts(toml, env).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_env_and_files() {
        let c = load("", &[]).expect("defaults");
        assert!(!c.mail.enabled && c.mail.notify_disabled);
        assert_eq!(c.mail.security, MailSecurity::Starttls);
        assert_eq!(c.mail.give_up_after_days, 3);
        let dir = tempfile::tempdir().expect("dir");
        let secret = dir.path().join("smtp");
        std::fs::write(&secret, "pa55\n").expect("write");
        let toml = format!(
            "[mail]\nsecurity = \"tls\"\nusername = \"rc\"\npassword_file = {:?}\n",
            secret.display().to_string()
        );
        let c = load(&toml, &[("ROLLCALL_MAIL_ENABLED", "true")]).expect("config");
        assert!(c.mail.enabled);
        assert_eq!(c.mail.password.as_deref(), Some("pa55"));
        assert_eq!(c.mail.security, MailSecurity::Tls);
    }

    #[test]
    fn wrong_keys_are_named() {
        for (toml, wrong) in [
            ("[mail]\nfrom = \"not an address\"\n", "mail.from"),
            ("[mail]\nusername = \"rc\"\n", "mail.username"),
            ("[mail]\ndefault_language = \"fr\"\n", "default_language"),
            ("[mail]\npoll_secs = 0\n", "poll_secs"),
            ("[mail]\nsecurity = \"ssl\"\n", "ssl"),
            ("[mail]\nsmtp_server = \"x\"\n", "smtp_server"),
            (
                "[mail]\ntemplates_dir = \"/nonexistent/rollcall\"\n",
                "templates_dir",
            ),
        ] {
            let msg = load(toml, &[]).expect_err(toml);
            assert!(msg.contains(wrong), "{toml}: {msg}");
        }
    }

    #[test]
    fn links_use_the_mail_or_server_url() {
        let c = load("[server]\npublic_url = \"https://rc.example.com/\"\n", &[]).expect("c");
        assert_eq!(c.mail.link_base(&c.server), "https://rc.example.com");
        let c = load("[mail]\npublic_url = \"https://id.example.com/\"\n", &[]).expect("c");
        assert_eq!(c.mail.link_base(&c.server), "https://id.example.com");
    }
}
