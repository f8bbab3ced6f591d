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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            workers: None,
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
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_results: 1000,
            default_count: 100,
            max_payload_bytes: 1024 * 1024,
            max_bulk_operations: 1000,
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
}
