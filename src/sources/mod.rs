//! Where people come from: each source reads a directory or HR system and reports the
//! people in it as [`SourceRecord`]s. Sources only read; the sync engine decides.

use serde::Serialize;

/// One person as a source reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRecord {
    /// Stable key at the source (OpenLDAP `entryUUID`, AD `objectGUID`, HR employee id).
    pub key: String,
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
    pub manager_dn: Option<String>,
    /// Disabled, locked or terminated at the source.
    pub disabled: bool,
    /// Every group the person is in (nested groups resolved), lower-cased, sorted.
    pub groups: Vec<String>,
}

/// What one full read of a source returned.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub records: Vec<SourceRecord>,
    /// Entries without a user name, left out (and logged).
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("bind failed: {0}")]
    Bind(String),
    #[error("search failed: {0}")]
    Search(String),
    #[error("the result is incomplete: {0}")]
    Truncated(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("timed out after {0} s")]
    Timeout(u64),
}
