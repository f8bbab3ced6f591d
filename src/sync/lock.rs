//! Who runs a source right now: an exclusive lock per source, held for a run's whole life
//! and released by the operating system or the database server the moment its holder dies
//! (SIGKILL, OOM, power). A run that finds a `running` row for its source while holding the
//! lock knows that row's owner is gone.
//!
//! - SQLite: `flock` on a file beside the database (`<db>-run-<source>.lock`). `flock`
//!   locks belong to an open file, so two runs in one process exclude each other too.
//! - PostgreSQL: a session advisory lock on a connection of the run's own (not from the
//!   pool): when the process dies its connection closes and the server drops the lock.
//! - An in-memory SQLite database (tests): a set of names in this process.

use std::collections::HashSet;
use std::sync::Mutex;

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::store::{Target, redact_url};

/// The first key of Rollcall's per-source advisory locks (`roll` in ASCII); the second is
/// taken from the source's name. The two-key form has a key space of its own, apart from
/// the one-key scheduler lock.
const PG_LOCK_CLASS: i32 = 0x726f_6c6c;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the run lock file {path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("cannot connect to {url} for the run lock: {error}")]
    Connect {
        url: String,
        error: diesel::ConnectionError,
    },
    #[error("cannot take the run lock: {0}")]
    Query(#[from] diesel::result::Error),
}

/// The right to run a source; dropping it lets the next run start.
pub struct RunLock {
    _held: Held,
}

impl std::fmt::Debug for RunLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunLock")
    }
}

/// What holds the lock: dropping it releases the lock.
#[expect(dead_code, reason = "each value is kept only for the lock it carries")]
enum Held {
    /// The open file carries the `flock`; closing it releases the lock.
    File(std::fs::File),
    /// The session holding the advisory lock; closing it releases the lock.
    /// The session and the source it locked.
    Pg(Box<PgConnection>, String),
    Memory(MemoryLock),
}

static IN_MEMORY: Mutex<Option<HashSet<String>>> = Mutex::new(None);

struct MemoryLock(String);

impl Drop for MemoryLock {
    fn drop(&mut self) {
        let mut held = IN_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = held.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// Takes the run lock of `source` if nobody holds it. Blocking (it may connect).
pub fn try_lock(target: &Target, source: &str) -> Result<Option<RunLock>, LockError> {
    let held = match target {
        Target::Sqlite(path) if is_memory(path) => {
            let mut held = IN_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
            if !held
                .get_or_insert_with(HashSet::new)
                .insert(source.to_owned())
            {
                return Ok(None);
            }
            Held::Memory(MemoryLock(source.to_owned()))
        }
        Target::Sqlite(path) => {
            let path = lock_path(path, source);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|error| LockError::File {
                    path: path.clone(),
                    error,
                })?;
            match file.try_lock() {
                Ok(()) => Held::File(file),
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(LockError::File { path, error });
                }
            }
        }
        Target::Postgres(url) => {
            let mut conn = PgConnection::establish(url).map_err(|error| LockError::Connect {
                url: redact_url(url),
                error,
            })?;
            if !pg_try_lock(&mut conn, source)? {
                return Ok(None);
            }
            Held::Pg(Box::new(conn), source.to_owned())
        }
    };
    Ok(Some(RunLock { _held: held }))
}

impl RunLock {
    /// Lets the next run start now. On PostgreSQL the lock is given back before the session
    /// closes: a closing session drops its locks only once its server process has noticed,
    /// which a run started right after may beat. Blocking.
    pub fn release(self) {
        if let Held::Pg(mut conn, source) = self._held {
            use diesel::sql_types::Integer;
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
                .bind::<Integer, _>(PG_LOCK_CLASS)
                .bind::<Integer, _>(pg_key(&source))
                .execute(&mut *conn);
            if let Err(e) = unlocked {
                tracing::warn!(source, error = %e, "could not give the run lock back; it goes with the session");
            }
        }
    }
}

fn is_memory(path: &str) -> bool {
    path == ":memory:" || path.starts_with("file::memory:")
}

/// The lock file of `source` beside the database file `db`.
pub fn lock_path(db: &str, source: &str) -> String {
    format!("{db}-run-{source}.lock")
}

fn pg_try_lock(conn: &mut PgConnection, source: &str) -> Result<bool, diesel::result::Error> {
    use diesel::sql_types::{Bool, Integer};
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
        .bind::<Integer, _>(PG_LOCK_CLASS)
        .bind::<Integer, _>(pg_key(source))
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

/// The second advisory-lock key of a source: the first four bytes of its name's SHA-256.
fn pg_key(source: &str) -> i32 {
    let digest = Sha256::digest(source.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// This process as a run's owner: `host/boot id/pid`. The boot id tells a pid of this boot
/// from the same number before a restart.
pub fn this_owner() -> String {
    format!("{}/{}/{}", host_name(), boot_id(), std::process::id())
}

/// `owner` as people read it: `pid 42 on host-a`.
pub fn describe_owner(owner: &str) -> String {
    let mut parts = owner.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(host), Some(_), Some(pid)) => format!("pid {pid} on {host}"),
        _ => owner.to_owned(),
    }
}

/// Whether `owner` is a process of this machine and this boot that no longer exists. An
/// owner elsewhere (another node) is never declared dead here.
pub fn is_dead_here(owner: &str) -> bool {
    let mut parts = owner.splitn(3, '/');
    let (Some(host), Some(boot), Some(pid)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != host_name() {
        return false;
    }
    if boot != boot_id() {
        return true; // this machine restarted since
    }
    match pid.parse::<u32>() {
        Ok(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

fn host_name() -> String {
    read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".to_owned())
}

fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_else(|| "-".to_owned())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().replace('/', "_"))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("r.db").display().to_string();
        let target = Target::Sqlite(db.clone());
        let first = try_lock(&target, "corp").expect("lock").expect("free");
        assert!(try_lock(&target, "corp").expect("lock").is_none());
        // Another source is independent.
        let other = try_lock(&target, "hr").expect("lock");
        assert!(other.is_some());
        drop(first);
        assert!(try_lock(&target, "corp").expect("lock").is_some());
        assert!(std::path::Path::new(&lock_path(&db, "corp")).exists());
    }

    #[test]
    fn an_in_memory_lock_excludes_within_the_process() {
        let target = Target::Sqlite(":memory:".into());
        let first = try_lock(&target, "mem-only").expect("lock").expect("free");
        assert!(try_lock(&target, "mem-only").expect("lock").is_none());
        drop(first);
        assert!(try_lock(&target, "mem-only").expect("lock").is_some());
    }

    #[test]
    fn owners_are_read_back() {
        let me = this_owner();
        assert!(!is_dead_here(&me), "this process is alive");
        assert_eq!(
            describe_owner(&me),
            format!("pid {} on {}", std::process::id(), host_name())
        );
        // A pid that cannot exist on Linux (above pid_max's ceiling of 2^22), on this boot.
        let gone = format!("{}/{}/{}", host_name(), boot_id(), u32::MAX);
        assert!(is_dead_here(&gone));
        // Another boot of this machine: gone. Another machine: unknown, so alive.
        assert!(is_dead_here(&format!("{}/earlier-boot/1", host_name())));
        assert!(!is_dead_here("elsewhere/b/1"));
        assert!(!is_dead_here("not an owner"));
    }

    #[test]
    fn pg_keys_are_stable_per_name() {
        assert_eq!(pg_key("corp"), pg_key("corp"));
        assert_ne!(pg_key("corp"), pg_key("corp2"));
    }
}
