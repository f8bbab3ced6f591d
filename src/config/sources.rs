//! `[[sources]]`: one directory Rollcall pulls people from, its schedules, leaver policy
//! and group rules (the LDAP connection settings live in `sources::ldap`).

use serde::Deserialize;

use super::ConfigError;

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
    pub link_by: Vec<LinkKey>,
    /// Role for people no rule gives one (default: `accounts.default_role`).
    pub default_role: Option<String>,
    /// Whether agents this source creates start `pending` until an admin approves them
    /// (default: `accounts.require_approval`).
    #[serde(default)]
    pub require_approval: Option<bool>,
    #[serde(default)]
    pub guard: GuardConfig,
    /// Group → role / skill-group rules, in order.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// `[sources.ldap]`: where and how to read the directory (kind = "ldap").
    pub ldap: Option<crate::sources::ldap::LdapSettings>,
    /// `[sources.hr]`: the export to read and how (kind = "hr").
    pub hr: Option<crate::sources::hr::HrSettings>,
    /// `[sources.templates]`: fields built from the person's other fields
    /// (`nickname = "{department}-{family_name}{given_name}"`).
    #[serde(default)]
    pub templates: std::collections::BTreeMap<String, String>,
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
    Hr,
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

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Ldap => "ldap",
            SourceKind::Hr => "hr",
        }
    }
}

impl SourceConfig {
    /// The `source` recorded on the agents it owns.
    pub fn tag(&self) -> String {
        match self.kind {
            SourceKind::Ldap => format!("ldap:{}", self.name),
            SourceKind::Hr => format!("hr:{}", self.name),
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

/// `[sources.guard]`: how much one run may take away (see `sync::guard`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Refuse a run disabling or deleting more than this share of the source's agents.
    pub max_disable_percent: f64,
    /// Refuse a run disabling or deleting more than this many agents.
    pub max_disable_count: Option<usize>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_disable_percent: 10.0,
            max_disable_count: None,
        }
    }
}

/// A key that identifies one person across sources (`link_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKey {
    EmployeeNumber,
    Email,
    /// The agent's `externalId` (as an IdP set it over SCIM) is the person's key here.
    ExternalId,
}

impl LinkKey {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKey::EmployeeNumber => "employee_number",
            LinkKey::Email => "email",
            LinkKey::ExternalId => "external_id",
        }
    }
}

/// `[reports]`: what the auditor's reports measure against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// A leaver's agent should be disabled within this many minutes of the leaving moment
    /// (`rollcall report leavers` marks the ones that were not).
    pub leaver_target_minutes: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            leaver_target_minutes: 60,
        }
    }
}
