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

/// Reads the people of a configured source changed at or after `since` (the directory's
/// `modifyTimestamp`). Removals are not seen this way: full runs catch them.
pub async fn fetch_changed(
    cfg: &crate::config::SourceConfig,
    since: chrono::NaiveDateTime,
) -> Result<Snapshot, SourceError> {
    let crate::config::SourceKind::Ldap = cfg.kind;
    let Some(settings) = &cfg.ldap else {
        return fetch(cfg).await;
    };
    let mut settings = settings.clone();
    let base = settings.user_filter.trim();
    let base = if base.starts_with('(') {
        base.to_owned()
    } else {
        format!("({base})")
    };
    settings.user_filter = format!(
        "(&{base}(modifyTimestamp>={}))",
        since.format("%Y%m%d%H%M%SZ")
    );
    ldap::fetch(&settings).await
}

/// Reads a configured source in full.
pub async fn fetch(cfg: &crate::config::SourceConfig) -> Result<Snapshot, SourceError> {
    match cfg.kind {
        crate::config::SourceKind::Ldap => match &cfg.ldap {
            Some(settings) => ldap::fetch(settings).await,
            None => Err(SourceError::Config(format!(
                "source {} has kind = \"ldap\" but no [sources.ldap] settings",
                cfg.name
            ))),
        },
    }
}
