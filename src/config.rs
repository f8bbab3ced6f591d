//! Typed configuration: built-in defaults, then the TOML file, then `ROLLCALL_<SECTION>_<KEY>`
//! environment variables. Any key may instead be given as `<key>_file` (a path whose
//! trimmed contents are the value), which keeps secrets out of the file and the environment.
//! Unknown keys are rejected with their name.

use std::path::Path;

use serde::Deserialize;

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
    /// Directories and HR systems Rollcall pulls people from (`[[sources]]`).
    pub sources: Vec<SourceConfig>,
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Short name: letters, digits, `-` and `_` (`corp-ldap`).
    pub name: String,
    pub kind: SourceKind,
    /// When to run: a cron expression with seconds (`0 */15 * * * *`).
    pub schedule: String,
    /// With this set, `schedule` runs are incremental (only entries changed since the last
    /// run, by `modifyTimestamp`) and this cron expression runs the full reads that also
    /// catch people removed from the directory.
    pub full_schedule: Option<String>,
    /// Incremental runs ask for changes since the previous run's start minus this many
    /// seconds, so a clock difference with the directory server loses nothing.
    #[serde(default = "ten_minutes")]
    pub incremental_overlap_secs: u64,
    /// Keep a persistent content-sync search open (RFC 4533 refreshAndPersist) so changes
    /// in the directory are applied within seconds; the schedules still run.
    #[serde(default)]
    pub watch: bool,
    /// Set to false to keep the source configured without running it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `disable` (default) or `delete` agents whose person left the source.
    #[serde(default)]
    pub leaver: LeaverConfig,
    /// With `leaver = "delete"`: days an agent stays disabled before it is deleted.
    #[serde(default = "thirty")]
    pub delete_after_days: u32,
    /// Claim existing agents owned by no sync source by these keys, in order.
    #[serde(default)]
    pub link_by: Vec<crate::sync::plan::LinkKey>,
    /// Role for people no rule gives one (default: `accounts.default_role`).
    pub default_role: Option<String>,
    #[serde(default)]
    pub guard: crate::sync::guard::GuardConfig,
    /// Group → role / skill-group rules, in order.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// `[sources.ldap]`: where and how to read the directory (kind = "ldap").
    pub ldap: Option<crate::sources::ldap::LdapSettings>,
}

fn yes() -> bool {
    true
}

fn thirty() -> u32 {
    30
}

fn ten_minutes() -> u64 {
    600
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Ldap,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LeaverConfig {
    #[default]
    Disable,
    Delete,
}

/// `[[sources.rules]]`: people in `group` get `role` (the first matching rule with a role
/// wins) and `skill_groups` (every matching rule adds its own).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A group DN or its `cn`, compared case-insensitively.
    pub group: String,
    pub role: Option<String>,
    #[serde(default)]
    pub skill_groups: Vec<String>,
}

impl SourceConfig {
    /// The `source` recorded on the agents it owns.
    pub fn tag(&self) -> String {
        match self.kind {
            SourceKind::Ldap => format!("ldap:{}", self.name),
        }
    }

    pub fn cron(&self) -> Result<cron::Schedule, ConfigError> {
        parse_cron(&self.name, "schedule", &self.schedule)
    }

    /// The schedule of full runs, when incremental runs are configured.
    pub fn full_cron(&self) -> Result<Option<cron::Schedule>, ConfigError> {
        self.full_schedule
            .as_deref()
            .map(|s| parse_cron(&self.name, "full_schedule", s))
            .transpose()
    }
}

fn parse_cron(source: &str, key: &str, text: &str) -> Result<cron::Schedule, ConfigError> {
    text.parse::<cron::Schedule>().map_err(|e| {
        ConfigError::Invalid(format!(
            "sources.{source}.{key} {text:?}: {e} (use seconds first: \"0 */15 * * * *\")"
        ))
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP listener binds.
    pub listen: String,
    /// Base URL clients use to reach Rollcall (for `meta.location`); derived from `listen`
    /// when unset.
    pub public_url: Option<String>,
    /// HTTP worker threads; defaults to the number of CPUs.
    pub workers: Option<usize>,
    /// Seconds a client has to send a request's whole body; a body that stalls or never
    /// ends is answered with 408 and the connection closed.
    pub body_timeout_secs: u64,
    /// Largest request head (request line and headers) answered normally, in bytes; a
    /// larger one gets 431.
    pub max_head_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            workers: None,
            body_timeout_secs: 20,
            max_head_bytes: 32 * 1024,
        }
    }
}

impl ServerConfig {
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default) or `postgres://…`.
    pub url: String,
    pub pool_size: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://rollcall.db".into(),
            pool_size: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimConfig {
    /// Largest page a list or search returns (`count` is capped to it).
    pub max_results: u32,
    /// Page size when the client gives no `count`.
    pub default_count: u32,
    /// Largest request body accepted, in bytes (advertised as `bulk.maxPayloadSize`).
    pub max_payload_bytes: usize,
    /// Most operations in one Bulk request.
    pub max_bulk_operations: u32,
    /// The key list cursors are signed with (at least 32 characters; any text). When unset,
    /// a random key kept in the database (`server_keys`) is used, the same for every node
    /// on that database.
    pub cursor_key: Option<String>,
    /// Most values a multi-valued User attribute (`emails`, `phoneNumbers`, `roles`,
    /// `skillGroups`, `channels`, …) may hold after a create, replace or PATCH. A Group's
    /// `members` are not counted.
    pub max_values_per_attribute: usize,
    /// Most work one PATCH may ask for: each operation counts the comparisons in its value
    /// filter (`emails[type eq "work" and value co "x"]` counts 2), or 1 without a filter.
    pub max_patch_terms: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_results: 1000,
            default_count: 100,
            max_payload_bytes: 1024 * 1024,
            max_bulk_operations: 1000,
            cursor_key: None,
            max_values_per_attribute: 100,
            max_patch_terms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Role given to agents whose source names none.
    pub default_role: String,
    /// Days a deleted agent's row is kept before it is purged.
    pub deleted_grace_days: u32,
    /// How often the purge runs, in seconds.
    pub purge_interval_secs: u64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            default_role: "agent".into(),
            deleted_grace_days: 30,
            purge_interval_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `rollcall=debug,actix_web=info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

const SECTIONS: &[&str] = &["server", "database", "scim", "accounts", "log"];

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
            apply_env(&mut root, &name, &value)?;
        }
        resolve_files(&mut root, "")?;
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
        Ok(())
    }
}

/// `ROLLCALL_DATABASE_URL=…` → `[database] url = "…"`. Values that parse as TOML
/// numbers or booleans keep that type.
fn apply_env(root: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = name.strip_prefix("ROLLCALL_") else {
        return Ok(());
    };
    let rest = rest.to_ascii_lowercase();
    let Some(section) = SECTIONS.iter().find(|s| {
        rest.strip_prefix(**s)
            .is_some_and(|k| k.starts_with('_') && k.len() > 1)
    }) else {
        return Ok(());
    };
    let key = &rest[section.len() + 1..];
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| v.is_integer() || v.is_bool() || v.is_float())
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let table = root
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match table {
        toml::Value::Table(t) => {
            t.insert(key.to_owned(), parsed);
            Ok(())
        }
        _ => Err(ConfigError::Invalid(format!(
            "{section} must be a table (set by {name})"
        ))),
    }
}

/// Replaces every `x_file = "PATH"` with `x = "<contents of PATH, trimmed>"`.
fn resolve_files(table: &mut toml::Table, prefix: &str) -> Result<(), ConfigError> {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let full = format!("{prefix}{key}");
        if let Some(toml::Value::Table(inner)) = table.get_mut(&key) {
            resolve_files(inner, &format!("{full}."))?;
            continue;
        }
        if let Some(toml::Value::Array(items)) = table.get_mut(&key) {
            for (i, item) in items.iter_mut().enumerate() {
                if let toml::Value::Table(inner) = item {
                    resolve_files(inner, &format!("{full}[{i}]."))?;
                }
            }
            continue;
        }
        let Some(base) = key.strip_suffix("_file") else {
            continue;
        };
        let Some(toml::Value::String(path)) = table.remove(&key) else {
            return Err(ConfigError::Invalid(format!("{full} must be a file path")));
        };
        if table.contains_key(base) {
            return Err(ConfigError::Invalid(format!(
                "{prefix}{base} and {full} are both set"
            )));
        }
        let contents = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Invalid(format!("{full}: cannot read {path}: {e}")))?;
        table.insert(
            base.to_owned(),
            toml::Value::String(contents.trim().to_owned()),
        );
    }
    Ok(())
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
url = "ldap://127.0.0.1:389"
base_dn = "dc=example,dc=com"
"#,
            secret.display()
        );
        let c = Config::from_parts(&text, env(&[])).expect("valid");
        let s = &c.sources[0];
        assert_eq!(s.tag(), "ldap:corp");
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
