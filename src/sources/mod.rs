//! Sources for sync: what a source reports (`SourceRecord`, `Snapshot`) and how a read can
//! fail (`SourceError`). A directory (`ldap`) or an HR export (`hr`) is read in full (or what
//! changed) and handed back; deciding what to change is the sync engine's business, not the
//! source's. `template` builds a field from a person's other fields; `tls` reads the CA
//! certificates a source trusts.

pub mod hr;
pub mod ldap;
pub mod template;
pub mod tls;

/// One person as a source reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SourceRecord {
    /// Stable key: OpenLDAP `entryUUID`; Active Directory `objectGUID` formatted as a UUID
    /// string (lower case, the way AD tools show it); an HR export's employee id.
    pub key: String,
    /// How other records name this person as their manager: the entry's DN as the directory
    /// returned it; an HR export's employee id.
    pub dn: String,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// The manager's DN, as stored in the directory (an HR export: the manager's employee
    /// id).
    pub manager_dn: Option<String>,
    /// Disabled or locked in the directory (an HR record: not working at the moment planned
    /// for, see [`Employment::phase`]).
    pub disabled: bool,
    /// DNs of every group the person is in, nested groups resolved; lower-cased, sorted and
    /// without duplicates.
    pub groups: Vec<String>,
    /// The person's employment status and dates (HR sources; a directory has none).
    pub employment: Option<Box<Employment>>,
}

/// Employment as an HR export states it: the mapped status and the moments (UTC) the person
/// starts and leaves, read in the person's time zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Employment {
    pub status: EmploymentStatus,
    /// Local 00:00 of the start date, as UTC.
    pub starts_at: Option<chrono::NaiveDateTime>,
    /// The end (or start, per `leave_at`) of the earlier of the last day of work and the
    /// termination date, as UTC.
    pub leaves_at: Option<chrono::NaiveDateTime>,
    /// The start as the export wrote it, for the audit log (`2027-01-04 (Asia/Shanghai)`).
    pub start_note: Option<String>,
    /// The leaving date as the export wrote it (`last day of work 2027-01-15 (Asia/Shanghai)`).
    pub leave_note: Option<String>,
    /// The termination reason is one of the source's `immediate_reasons`.
    pub immediate: bool,
}

/// An HR status, as the source's `[sources.hr.status]` maps the export's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentStatus {
    Active,
    /// Leave of absence: sign-in suspended, role and settings kept.
    Leave,
    Terminated,
    /// A hire withdrawn before the start.
    Rescinded,
}

/// Where a person stands at one moment, by their employment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starts later than the pre-hire window: no agent yet.
    TooEarly,
    /// Starts within the pre-hire window: a pending agent, activated at the start.
    PreHire,
    Working,
    OnLeave,
    /// Left: terminated (at once, or the leaving moment has passed).
    Left,
    /// The hire was withdrawn.
    Rescinded,
}

impl Employment {
    /// Where the person stands at `now`, with agents created `prehire` ahead of the start.
    pub fn phase(&self, now: chrono::NaiveDateTime, prehire: chrono::Duration) -> Phase {
        let left = self.leaves_at.is_some_and(|t| t <= now);
        match self.status {
            EmploymentStatus::Rescinded => return Phase::Rescinded,
            EmploymentStatus::Terminated if self.immediate || self.leaves_at.is_none() || left => {
                return Phase::Left;
            }
            _ if left => return Phase::Left,
            EmploymentStatus::Leave => return Phase::OnLeave,
            _ => {}
        }
        match self.starts_at {
            Some(start) if start > now && start - now > prehire => Phase::TooEarly,
            Some(start) if start > now => Phase::PreHire,
            _ => Phase::Working,
        }
    }
}

/// What one full read of a source returned. A snapshot is complete: a read that could not
/// see everything is an error, never a shorter snapshot.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub records: Vec<SourceRecord>,
    /// Entries the source found but could not turn into a record (no user name, no usable
    /// key). Each one is logged with its DN (an HR export's are in `bad`).
    pub skipped: usize,
    /// Where the next incremental read starts, once this read has been applied.
    pub position: Position,
    /// An export's rows (or records) read, good and bad.
    pub rows: usize,
    /// An export's rows that were skipped, each with its line or record number and why.
    pub bad: Vec<BadRow>,
    /// Keys of people whose row was skipped: never taken for leavers.
    pub held: std::collections::HashSet<String>,
    /// SHA-256 of the export read (hex).
    pub digest: Option<String>,
}

/// A row of an export that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    /// The line of a CSV file or NDJSON stream, the record number (from 1) of a JSON array.
    pub line: usize,
    /// The employee id, when the row had one.
    pub key: Option<String>,
    pub error: String,
}

/// Where an incremental read starts: what the previous successful run left behind. Each
/// part is used by the method it belongs to; `None` where that method has no position yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// `modifyTimestamp` method: changes at or after this time (overlap already taken off).
    pub since: Option<chrono::NaiveDateTime>,
    /// RFC 4533 content sync: the server's cookie.
    pub cookie: Option<Vec<u8>>,
    /// Active Directory: the domain controller's `invocationId` and the highest USN seen.
    pub usn: Option<Usn>,
    /// Fingerprint of the group memberships read (see `ldap::GroupGraph::digest`).
    pub groups: Option<String>,
    /// An HR export already processed.
    pub export: Option<ExportMark>,
}

/// What identifies an export already processed: an unchanged export is not processed again
/// until `replan_at`, when time alone changes its plan (a pre-hire window opens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportMark {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub digest: Option<String>,
    pub replan_at: Option<chrono::NaiveDateTime>,
}

/// An Active Directory update sequence number and the database it counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usn {
    pub invocation_id: String,
    pub highest: i64,
}

/// What a read of a source returned: everyone (`full`), or what changed since a position.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The people read: everyone on a full read, the changed ones otherwise.
    pub snapshot: Snapshot,
    /// The read saw everyone: plan it as a full run (leavers are the ones not seen).
    pub full: bool,
    /// How changes were found: `full`, `syncrepl`, `usn` or `modify_timestamp`.
    pub method: &'static str,
    /// Why an incremental read read everything (no position yet, groups changed, …).
    pub note: Option<String>,
    /// Keys the source reported deleted.
    pub gone: std::collections::HashSet<String>,
    /// When the source listed every key still there (RFC 4533 present phase): those keys.
    /// Owned agents neither here nor among the records are gone.
    pub present: Option<std::collections::HashSet<String>>,
    /// Stable keys of managers named by the records but not among them (lower-cased DN →
    /// key), so an incremental run keeps pointing at the right manager.
    pub manager_keys: std::collections::HashMap<String, String>,
}

impl Changes {
    /// A full read.
    pub fn full(snapshot: Snapshot) -> Changes {
        Changes {
            snapshot,
            full: true,
            method: "full",
            ..Changes::default()
        }
    }
}

/// Why a source could not be read. Messages name the server, the base or the bind DN, never
/// a password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The settings cannot work (bad URL, filter, attribute name, CA file …).
    #[error("source configuration: {0}")]
    Config(String),
    /// No connection: refused, unreachable, TLS handshake failed.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server refused the bind.
    #[error("bind refused: {0}")]
    Bind(String),
    /// A search failed.
    #[error("search failed: {0}")]
    Search(String),
    /// The server stopped before returning every entry (size or administrative limit,
    /// paging broken): what was read is not the whole directory.
    #[error("incomplete read: {0}")]
    Truncated(String),
    /// The server did not answer within the configured time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// What was read cannot be trusted (an export with columns missing, empty, cut short, or
    /// with too many bad rows): the run is refused and nobody is changed.
    #[error("{0}")]
    Refused(String),
}

/// Reads what changed in a configured source since `from`; a full read when there is no
/// usable position. An export is read as at `now` (which of its dated rows are in force).
pub async fn fetch_changes(
    cfg: &crate::config::SourceConfig,
    from: Position,
    now: chrono::NaiveDateTime,
) -> Result<Changes, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch_changes(settings, from).await,
            None => Err(no_settings(cfg)),
        },
        crate::config::SourceKind::Hr => match &cfg.hr {
            Some(settings) => hr::fetch_changes(settings, from, now).await,
            None => Err(no_settings(cfg)),
        },
    }
}

fn no_settings(cfg: &crate::config::SourceConfig) -> SourceError {
    let kind = cfg.kind.as_str();
    SourceError::Config(format!(
        "source {} has kind = \"{kind}\" but no [sources.{kind}] settings",
        cfg.name
    ))
}

/// Where a streaming read hands its people, a page at a time (see [`fetch_into`]).
pub type RecordSink = std::sync::mpsc::SyncSender<Vec<SourceRecord>>;

/// Reads a configured source (a directory in full; an export, unless it is the one `from`
/// says was processed), handing the people to `sink` page by page as they are read; the
/// changes returned have no records. Fails if the receiver goes away.
pub async fn fetch_into(
    cfg: &crate::config::SourceConfig,
    from: Position,
    now: chrono::NaiveDateTime,
    sink: RecordSink,
) -> Result<Changes, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch_into(settings, sink).await.map(Changes::full),
            None => Err(no_settings(cfg)),
        },
        crate::config::SourceKind::Hr => match &cfg.hr {
            Some(settings) => hr::fetch_into(settings, from, now, sink).await,
            None => Err(no_settings(cfg)),
        },
    }
}

/// Reads a configured source in full.
pub async fn fetch(cfg: &crate::config::SourceConfig) -> Result<Snapshot, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch(settings).await,
            None => Err(no_settings(cfg)),
        },
        crate::config::SourceKind::Hr => {
            Ok(fetch_changes(cfg, Position::default(), crate::store::now())
                .await?
                .snapshot)
        }
    }
}
