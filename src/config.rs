//! Typed configuration: built-in defaults, then the TOML file, then `ROLLCALL_<SECTION>_<KEY>`
//! environment variables. Any key may instead be given as `<key>_file` (a path whose
//! trimmed contents are the value), which keeps secrets out of the file and the environment.
//! Unknown keys are rejected with their name.

use std::path::Path;

use serde::Deserialize;

mod auth;
mod mail;
mod overrides;
mod ownership;
mod permissions;
mod sections;
mod signin;
mod sources;
mod webhooks;

pub use auth::{
    Argon2Config, AuthConfig, CharClass, ClassicConfig, FirstPassword, KeyList, LinksConfig,
    MfaConfig, NewAgentsConfig, NistConfig, PasswordPolicyConfig, PolicyProfile,
};
pub use mail::{MailConfig, MailSecurity};
pub use ownership::{OWNED_FIELDS, OwnershipConfig, SCIM_OWNER, SourceOwnership, Strength};
pub use permissions::{GroupRoleConfig, PermissionConfig};
pub use sections::{
    AccountsConfig, ApprovalConfig, DatabaseConfig, LogConfig, LogFormat, ScimConfig, ServerConfig,
};
pub use signin::{SessionsConfig, SigninConfig};
pub use sources::{
    GuardConfig, LeaverConfig, LinkKey, ReportsConfig, RuleConfig, SourceConfig, SourceKind,
};
pub use webhooks::{
    StartFrom, WebhookConfig, WebhookDeliveryConfig, check_events, check_name, check_url,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub scim: ScimConfig,
    pub accounts: AccountsConfig,
    pub log: LogConfig,
    pub sessions: SessionsConfig,
    pub signin: SigninConfig,
    /// Agents' passwords, password policies and MFA (`[auth]`).
    pub auth: AuthConfig,
    /// `[mail]`: the SMTP server and the mail outbox.
    pub mail: MailConfig,
    /// Directories and HR systems Rollcall pulls people from (`[[sources]]`).
    pub sources: Vec<SourceConfig>,
    /// The chat platform's own permission keys (`[[permissions]]`).
    pub permissions: Vec<PermissionConfig>,
    /// Endpoints told about every change (`[[webhooks]]`, see docs/webhooks.md).
    pub webhooks: Vec<WebhookConfig>,
    /// How webhooks are delivered (`[webhook_delivery]`).
    pub webhook_delivery: WebhookDeliveryConfig,
    /// The auditor's reports (`[reports]`).
    pub reports: ReportsConfig,
    /// Which source writes which field of an agent several sources describe
    /// (`[ownership]`, see docs/hr-source.md).
    pub ownership: OwnershipConfig,
}

impl Config {
    /// Loads `path` (if given) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?,
            None => String::new(),
        };
        Config::from_parts(&text, std::env::vars())
    }

    /// Builds a config from TOML text and `(name, value)` environment pairs.
    pub fn from_parts(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut root: toml::Table = toml_text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("config file: {e}")))?;
        for (name, value) in env {
            overrides::apply_env(&mut root, &name, &value)?;
        }
        overrides::resolve_files(&mut root, "")?;
        let config: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        crate::store::Target::parse(&self.database.url)
            .map_err(|e| ConfigError::Invalid(format!("database.url: {e}")))?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.scim.max_results == 0 || self.scim.default_count > self.scim.max_results {
            return Err(ConfigError::Invalid(
                "scim.default_count must be at most scim.max_results (and that above 0)".into(),
            ));
        }
        if self.scim.cursor_key.as_ref().is_some_and(|k| k.len() < 32) {
            return Err(ConfigError::Invalid(
                "scim.cursor_key must be at least 32 characters (or leave it unset)".into(),
            ));
        }
        if self.server.body_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "server.body_timeout_secs must be at least 1".into(),
            ));
        }
        if self.server.max_head_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.max_head_bytes must be at least 1024".into(),
            ));
        }
        if self.scim.max_values_per_attribute == 0 || self.scim.max_patch_terms == 0 {
            return Err(ConfigError::Invalid(
                "scim.max_values_per_attribute and scim.max_patch_terms must be at least 1".into(),
            ));
        }
        let sessions = &self.sessions;
        if sessions.idle_timeout_secs == 0 || sessions.absolute_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "sessions.idle_timeout_secs and sessions.absolute_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        if !(10..=1000).contains(&sessions.poll_ms) {
            return Err(ConfigError::Invalid(
                "sessions.poll_ms must be between 10 and 1000 (other nodes' changes must count within a second)".into(),
            ));
        }
        let source_names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        self.ownership.validate(&source_names)?;
        let mut names = std::collections::HashSet::new();
        for src in &self.sources {
            let valid = !src.name.is_empty()
                && src
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(ConfigError::Invalid(format!(
                    "sources: name {:?} must be letters, digits, - or _",
                    src.name
                )));
            }
            if !names.insert(src.name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "sources: the name {:?} is used twice",
                    src.name
                )));
            }
            src.cron()?;
            src.full_cron()?;
            if src.kind == SourceKind::Ldap && src.ldap.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "sources.{}: kind = \"ldap\" needs a [sources.ldap] table",
                    src.name
                )));
            }
            match (src.kind, &src.hr) {
                (SourceKind::Hr, None) => {
                    return Err(ConfigError::Invalid(format!(
                        "sources.{}: kind = \"hr\" needs a [sources.hr] table",
                        src.name
                    )));
                }
                (SourceKind::Hr, Some(hr)) => {
                    hr.validate().map_err(|e| {
                        ConfigError::Invalid(format!("sources.{}.hr: {e}", src.name))
                    })?;
                    if src.watch || src.full_schedule.is_some() {
                        return Err(ConfigError::Invalid(format!(
                            "sources.{}: watch and full_schedule are for directories; an HR \
                             source reads its export on `schedule`",
                            src.name
                        )));
                    }
                }
                (SourceKind::Ldap, _) => {}
            }
            crate::sources::template::Templates::parse(&src.templates)
                .map_err(|e| ConfigError::Invalid(format!("sources.{}.{e}", src.name)))?;
            if src.watch
                && let Some(ldap) = &src.ldap
            {
                use crate::sources::ldap::{Flavour, Incremental};
                if ldap.flavour == Flavour::ActiveDirectory
                    || matches!(
                        ldap.incremental,
                        Incremental::Usn | Incremental::ModifyTimestamp
                    )
                {
                    return Err(ConfigError::Invalid(format!(
                        "sources.{}.watch: needs RFC 4533 content sync (OpenLDAP with syncprov); \
                         Active Directory sources use schedule + full_schedule with uSNChanged",
                        src.name
                    )));
                }
            }
            if !(0.0..=100.0).contains(&src.guard.max_disable_percent) {
                return Err(ConfigError::Invalid(format!(
                    "sources.{}.guard.max_disable_percent must be between 0 and 100",
                    src.name
                )));
            }
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "server.listen: {:?} is not an address such as 127.0.0.1:8080",
                self.server.listen
            )));
        }
        self.mail.validate()?;
        self.validate_access()?;
        self.auth.validate()?;
        webhooks::validate(&self.webhooks, &self.webhook_delivery)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_sqlite_and_loopback() {
        let c = Config::from_parts("", env(&[])).expect("defaults");
        assert_eq!(c.database.url, "sqlite://rollcall.db");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
    }

    #[test]
    fn limits_and_cursor_key() {
        let c = Config::from_parts("", env(&[])).expect("defaults");
        assert_eq!(c.server.body_timeout_secs, 20);
        assert_eq!(c.server.max_head_bytes, 32 * 1024);
        assert_eq!(c.scim.cursor_key, None);
        let key = "k".repeat(32);
        let c = Config::from_parts("", env(&[("ROLLCALL_SCIM_CURSOR_KEY", &key)])).expect("key");
        assert_eq!(c.scim.cursor_key.as_deref(), Some(key.as_str()));
        for (toml, wrong) in [
            ("[scim]\ncursor_key = \"short\"\n", "cursor_key"),
            ("[server]\nbody_timeout_secs = 0\n", "body_timeout_secs"),
            ("[server]\nmax_head_bytes = 10\n", "max_head_bytes"),
        ] {
            let msg = Config::from_parts(toml, env(&[]))
                .expect_err(toml)
                .to_string();
            assert!(msg.contains(wrong), "{msg}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_parts("[server]\nlisten_on = \"x\"\n", env(&[]));
        let msg = err.expect_err("must fail").to_string();
        assert!(msg.contains("listen_on"), "{msg}");
        let err = Config::from_parts("", env(&[("ROLLCALL_SCIM_MAX_RESULT", "5")]));
        assert!(
            err.expect_err("must fail")
                .to_string()
                .contains("max_result")
        );
    }

    #[test]
    fn env_overrides_file_with_types() {
        let c = Config::from_parts(
            "[scim]\nmax_results = 50\n",
            env(&[
                ("ROLLCALL_SCIM_MAX_RESULTS", "200"),
                ("ROLLCALL_LOG_FORMAT", "json"),
            ]),
        )
        .expect("config");
        assert_eq!(c.scim.max_results, 200);
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db-url");
        std::fs::write(&path, "postgres://u:secret@127.0.0.1/db\n").expect("write");
        let toml = format!("[database]\nurl_file = {:?}\n", path.display().to_string());
        let c = Config::from_parts(&toml, env(&[])).expect("config");
        assert_eq!(c.database.url, "postgres://u:secret@127.0.0.1/db");
        let both = format!("{toml}url = \"sqlite://x\"\n");
        assert!(Config::from_parts(&both, env(&[])).is_err());
    }

    #[test]
    fn bad_database_url_is_explained() {
        let err = Config::from_parts("[database]\nurl = \"mysql://x\"\n", env(&[]));
        assert!(
            err.expect_err("must fail")
                .to_string()
                .contains("database.url")
        );
    }

    #[test]
    fn sources_are_validated_and_read_secret_files() {
        let dir = std::env::temp_dir().join(format!("rollcall-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let secret = dir.join("role");
        std::fs::write(&secret, "team_lead\n").expect("write");
        let text = format!(
            r#"
[[sources]]
name = "corp"
kind = "ldap"
schedule = "0 */15 * * * *"
leaver = "delete"
delete_after_days = 7
link_by = ["employee_number", "email"]
[sources.guard]
max_disable_percent = 5
[[sources.rules]]
group = "cn=leads,ou=groups,dc=example,dc=com"
role_file = "{}"
skill_groups = ["vip"]
[sources.ldap]
url = "ldaps://127.0.0.1:636"
base_dn = "dc=example,dc=com"
ca_file = "/etc/rollcall/corp-ca.pem"
"#,
            secret.display()
        );
        let c = Config::from_parts(&text, env(&[])).expect("valid");
        let s = &c.sources[0];
        assert_eq!(s.tag(), "ldap:corp");
        assert_eq!(
            s.ldap.as_ref().expect("ldap").ca_file.as_deref(),
            Some(std::path::Path::new("/etc/rollcall/corp-ca.pem")),
            "ca_file is a path the source reads, not a secret"
        );
        assert_eq!(s.rules[0].role.as_deref(), Some("team_lead"));
        assert_eq!(s.leaver, LeaverConfig::Delete);
        assert!(
            s.cron()
                .expect("cron")
                .upcoming(chrono::Utc)
                .next()
                .is_some()
        );

        let bad_cron = text.replace("0 */15 * * * *", "every day");
        let msg = Config::from_parts(&bad_cron, env(&[]))
            .expect_err("bad cron")
            .to_string();
        assert!(msg.contains("schedule"), "{msg}");
        let unknown = text.replace("leaver = ", "leavers = ");
        let msg = Config::from_parts(&unknown, env(&[]))
            .expect_err("unknown key")
            .to_string();
        assert!(msg.contains("leavers"), "{msg}");
        let twice = format!(
            "{text}\n[[sources]]\nname = \"corp\"\nkind = \"ldap\"\nschedule = \"0 0 * * * *\"\n[sources.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\n"
        );
        assert!(Config::from_parts(&twice, env(&[])).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
