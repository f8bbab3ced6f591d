//! What the TOML file is overlaid with before it is typed: `ROLLCALL_<SECTION>_<KEY>`
//! environment variables and `<key>_file` secrets.

use super::ConfigError;

const SECTIONS: &[&str] = &[
    "server",
    "database",
    "scim",
    "accounts",
    "log",
    "auth",
    "mail",
    "sessions",
    "signin",
    "webhook_delivery",
];

/// `ROLLCALL_DATABASE_URL=…` → `[database] url = "…"`. Values that parse as TOML
/// numbers or booleans keep that type.
pub(super) fn apply_env(
    root: &mut toml::Table,
    name: &str,
    value: &str,
) -> Result<(), ConfigError> {
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

/// Keys ending in `_file` that name a file their section reads itself (a CA bundle), not a
/// secret to put in place of the key.
const PATH_KEYS: &[&str] = &["ca_file"];

/// Replaces every `x_file = "PATH"` with `x = "<contents of PATH, trimmed>"` (except the
/// [`PATH_KEYS`]).
pub(super) fn resolve_files(table: &mut toml::Table, prefix: &str) -> Result<(), ConfigError> {
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
        if PATH_KEYS.contains(&key.as_str()) {
            continue;
        }
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
