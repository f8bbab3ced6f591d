//! Directory sources for sync: what a source reports (`SourceRecord`, `Snapshot`) and how a
//! read can fail (`SourceError`). Each source reads its directory in full and hands back a
//! snapshot; deciding what to change is the sync engine's business, not the source's.

pub mod ldap;

/// One person as a source reports them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceRecord {
    /// Stable key: OpenLDAP `entryUUID`; Active Directory `objectGUID` formatted as a UUID
    /// string (lower case, the way AD tools show it).
    pub key: String,
    /// The entry's DN as the directory returned it.
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
    /// The manager's DN, as stored in the directory.
    pub manager_dn: Option<String>,
    /// Disabled or locked in the directory.
    pub disabled: bool,
    /// DNs of every group the person is in, nested groups resolved; lower-cased, sorted and
    /// without duplicates.
    pub groups: Vec<String>,
}

/// What one full read of a source returned. A snapshot is complete: a read that could not
/// see everything is an error, never a shorter snapshot.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub records: Vec<SourceRecord>,
    /// Entries the source found but could not turn into a record (no user name, no usable
    /// key). Each one is logged with its DN.
    pub skipped: usize,
    /// Where the next incremental read starts, once this read has been applied.
    pub position: Position,
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
}

/// Reads what changed in a configured source since `from`; a full read when there is no
/// usable position.
pub async fn fetch_changes(
    cfg: &crate::config::SourceConfig,
    from: Position,
) -> Result<Changes, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch_changes(settings, from).await,
            None => Err(no_settings(cfg)),
        },
    }
}

fn no_settings(cfg: &crate::config::SourceConfig) -> SourceError {
    SourceError::Config(format!(
        "source {} has kind = \"ldap\" but no [sources.ldap] settings",
        cfg.name
    ))
}

/// Where a streaming read hands its people, a page at a time (see [`fetch_into`]).
pub type RecordSink = std::sync::mpsc::SyncSender<Vec<SourceRecord>>;

/// Reads a configured source in full, handing the people to `sink` page by page as they
/// are read; the snapshot returned has no records. Fails if the receiver goes away.
pub async fn fetch_into(
    cfg: &crate::config::SourceConfig,
    sink: RecordSink,
) -> Result<Snapshot, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch_into(settings, sink).await,
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
    }
}
