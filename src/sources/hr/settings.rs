//! `[sources.hr]`: where an HR export is, its format and feed, how its columns and status
//! values map to a person, the dates' time zone, and when a read is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::sources::template::Template;

/// `[sources.hr]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrSettings {
    /// A file to read (`/var/lib/rollcall/hr/export.csv`).
    pub path: Option<PathBuf>,
    /// Or an HTTP(S) URL to fetch.
    pub url: Option<String>,
    /// `csv` (default, or by the path's extension), `json` (an array of objects) or
    /// `ndjson` (one object per line).
    pub format: Option<Format>,
    /// `snapshot` (everyone: a missing person left) or `delta` (only changes).
    #[serde(default)]
    pub feed: Feed,
    /// CSV: the field delimiter (one ASCII character).
    #[serde(default = "comma")]
    pub delimiter: char,
    /// CSV: the quote character.
    #[serde(default = "double_quote")]
    pub quote: char,
    /// HTTP: a header to send (`Authorization`) and its value (`Bearer …`): give it as
    /// `header_value_file`, so the secret is never written in the configuration.
    pub header: Option<String>,
    pub header_value: Option<Redacted>,
    /// HTTPS: the CA certificates (PEM) to trust instead of the built-in (Mozilla) roots,
    /// for an export served under a company's own CA.
    pub ca_file: Option<PathBuf>,
    #[serde(default = "sixty")]
    pub timeout_secs: u64,
    /// The time zone of people without one in the export (IANA name).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// A leaving date ends at the `end_of_day` (default) or the `start_of_day`.
    #[serde(default)]
    pub leave_at: LeaveAt,
    /// Agents are created (pending) this many days before the person's start.
    #[serde(default = "fourteen")]
    pub prehire_days: u32,
    /// Termination reasons that disable at once, whatever the leaving date.
    #[serde(default)]
    pub immediate_reasons: Vec<String>,
    /// A person back after a termination: the `same_agent` re-enabled (default), or a
    /// `new_agent`, the old one kept disabled for the record.
    #[serde(default)]
    pub rehire: Rehire,
    /// Refuse a read in which more than this share of the rows are bad.
    #[serde(default = "five")]
    pub max_bad_rows_percent: f64,
    /// Refuse a snapshot with fewer rows than this share of the last good run's (a file cut
    /// short).
    #[serde(default = "ninety")]
    pub min_rows_percent: f64,
    /// Which column (or template) gives each field.
    pub fields: FieldNames,
    /// Which status values mean what.
    #[serde(default)]
    pub status: StatusNames,
}

/// A secret: shown as `<redacted>` by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Json,
    Ndjson,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    #[default]
    Snapshot,
    Delta,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LeaveAt {
    #[default]
    EndOfDay,
    StartOfDay,
}

/// What a rehire gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rehire {
    #[default]
    SameAgent,
    NewAgent,
}

/// `[sources.hr.fields]`: a column name (a key of a JSON object, `a.b` for a nested one), or
/// a template over the other fields (`"{department}-{family_name}{given_name}"`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldNames {
    pub employee_id: String,
    /// Default: the email, else the employee id.
    pub user_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Default: the employee id.
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// The manager's employee id.
    pub manager: Option<String>,
    pub status: Option<String>,
    pub start_date: Option<String>,
    pub last_day_of_work: Option<String>,
    pub termination_date: Option<String>,
    pub termination_reason: Option<String>,
    pub time_zone: Option<String>,
    /// From when a row's values hold. With it an employee id may be on several rows: the one
    /// in force (the latest date not in the future) is planned, and the export is planned
    /// again when the next one takes effect.
    pub effective_date: Option<String>,
}

/// `[sources.hr.status]`: the export's values for each status, compared case-insensitively.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusNames {
    pub active: Vec<String>,
    pub leave: Vec<String>,
    pub terminated: Vec<String>,
    pub rescinded: Vec<String>,
}

impl Default for StatusNames {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect();
        StatusNames {
            active: v(&["active", "在职"]),
            leave: v(&["leave", "leave of absence", "loa", "休假"]),
            terminated: v(&["terminated", "inactive", "离职"]),
            rescinded: v(&["rescinded", "withdrawn", "offer withdrawn"]),
        }
    }
}

fn comma() -> char {
    ','
}
fn double_quote() -> char {
    '"'
}
fn sixty() -> u64 {
    60
}
fn utc() -> String {
    "UTC".into()
}
fn fourteen() -> u32 {
    14
}
fn five() -> f64 {
    5.0
}
fn ninety() -> f64 {
    90.0
}

/// Names a field template may use: the fields as read from their columns.
pub const TEMPLATE_FIELDS: &[&str] = &[
    "employee_id",
    "user_name",
    "given_name",
    "family_name",
    "display_name",
    "nickname",
    "email",
    "phone",
    "employee_number",
    "department",
    "title",
    "manager",
];

/// A field's source: a column, or a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    Column(String),
    Template(Template),
}

impl FieldNames {
    /// Every mapped field with its name, templates parsed.
    pub fn sources(&self) -> Result<BTreeMap<&'static str, FieldSource>, String> {
        let all: [(&'static str, Option<&String>); 19] = [
            ("employee_id", Some(&self.employee_id)),
            ("user_name", self.user_name.as_ref()),
            ("given_name", self.given_name.as_ref()),
            ("family_name", self.family_name.as_ref()),
            ("display_name", self.display_name.as_ref()),
            ("nickname", self.nickname.as_ref()),
            ("email", self.email.as_ref()),
            ("phone", self.phone.as_ref()),
            ("employee_number", self.employee_number.as_ref()),
            ("department", self.department.as_ref()),
            ("title", self.title.as_ref()),
            ("manager", self.manager.as_ref()),
            ("status", self.status.as_ref()),
            ("start_date", self.start_date.as_ref()),
            ("last_day_of_work", self.last_day_of_work.as_ref()),
            ("termination_date", self.termination_date.as_ref()),
            ("termination_reason", self.termination_reason.as_ref()),
            ("time_zone", self.time_zone.as_ref()),
            ("effective_date", self.effective_date.as_ref()),
        ];
        let mut out = BTreeMap::new();
        for (name, given) in all {
            let Some(given) = given else { continue };
            let source = if Template::looks_like(given) {
                if !TEMPLATE_FIELDS.contains(&name) || name == "employee_id" {
                    return Err(format!(
                        "fields.{name}: a template can set only {}",
                        &TEMPLATE_FIELDS[1..].join(", ")
                    ));
                }
                FieldSource::Template(
                    Template::parse(given, TEMPLATE_FIELDS)
                        .map_err(|e| format!("fields.{name}: {e}"))?,
                )
            } else if given.trim().is_empty() {
                return Err(format!("fields.{name}: empty column name"));
            } else {
                FieldSource::Column(given.clone())
            };
            out.insert(name, source);
        }
        Ok(out)
    }
}

impl HrSettings {
    /// Checks what can be checked before reading: one of `path` and `url`, the delimiter,
    /// the time zone, the templates, the shares.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.path, &self.url) {
            (Some(_), Some(_)) => return Err("set either path or url, not both".into()),
            (None, None) => return Err("set path (a file) or url (HTTP or HTTPS)".into()),
            (None, Some(u)) => {
                let parsed = url::Url::parse(u).map_err(|e| format!("url {u:?}: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!("url {u:?}: use http or https"));
                }
            }
            (Some(_), None) => {}
        }
        if !self.delimiter.is_ascii() || !self.quote.is_ascii() {
            return Err("delimiter and quote must be ASCII characters".into());
        }
        if self.ca_file.is_some() && self.url.is_none() {
            return Err("ca_file is for an export read from an https url".into());
        }
        if self.header.is_some() != self.header_value.is_some() {
            return Err("header and header_value (header_value_file) go together".into());
        }
        self.time_zone.parse::<chrono_tz::Tz>().map_err(|_| {
            format!(
                "time_zone {:?} is not an IANA time zone name",
                self.time_zone
            )
        })?;
        for (name, share) in [
            ("max_bad_rows_percent", self.max_bad_rows_percent),
            ("min_rows_percent", self.min_rows_percent),
        ] {
            if !(0.0..=100.0).contains(&share) {
                return Err(format!("{name} must be between 0 and 100"));
            }
        }
        self.fields.sources()?;
        Ok(())
    }

    /// The format: as configured, else by the path's or URL's extension, else CSV.
    pub fn format(&self) -> Format {
        if let Some(f) = self.format {
            return f;
        }
        let name = self
            .path
            .as_ref()
            .and_then(|p| p.to_str().map(str::to_owned))
            .or_else(|| self.url.clone())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let name = name.split(['?', '#']).next().unwrap_or_default();
        if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
            Format::Ndjson
        } else if name.ends_with(".json") {
            Format::Json
        } else {
            Format::Csv
        }
    }
}
