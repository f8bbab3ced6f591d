//! Storage: one diesel connection type over SQLite (embedded default) and PostgreSQL, the
//! connection pool, embedded migrations, and the queries the rest of Rollcall uses.

pub mod agents;
pub mod commits;
pub mod grouped;
pub mod groups;
pub mod idempotency;
pub mod keys;
pub mod list;
pub mod models;
pub mod multi_insert;
pub mod name_keys;
pub mod query;
pub mod roles;
pub mod schema;
pub mod search;
pub mod seed;
pub mod times;
pub mod tokens;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The one connection type: SQLite or PostgreSQL, chosen by the database URL.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// The backend type generated for [`DbConn`].
pub type Db = MultiBackend;

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite:// or postgres:// (got {0:?})")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A blocking task that held a connection failed.
    #[error("database task failed: {0}")]
    Task(String),
}

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Path of the SQLite file (or `:memory:`).
    Sqlite(String),
    /// A libpq connection URL.
    Postgres(String),
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_owned()));
            }
            Ok(Target::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres(url.to_owned()))
        } else {
            Err(StoreError::BadUrl(redact_url(url)))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Target::Postgres(_))
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// r2d2 manager that opens the right backend and applies SQLite's per-connection pragmas.
#[derive(Debug, Clone)]
pub struct Manager {
    target: Target,
}

impl Manager {
    pub fn new(target: Target) -> Self {
        Manager { target }
    }
}

/// Pragmas set on every SQLite connection: WAL for concurrent readers, foreign keys on,
/// wait (rather than fail) when another connection holds the write lock. A new database
/// file gets 8 KiB pages (the page size is fixed when the first page is written, so this
/// comes first and changes nothing in an existing file): a directory's first run writes
/// every page twice, to the WAL and at the checkpoint, one system call per page each way,
/// and 8 KiB pages took a cold sync of 100,000 people from 3.45 to 3.00 s (median of 6) —
/// see docs/benchmarks.md, fifth round.
const SQLITE_PRAGMAS: &str = "PRAGMA page_size = 8192; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32000; \
     PRAGMA case_sensitive_like = ON;";

/// The page cache `SQLITE_PRAGMAS` gives a connection, a small one for a single pass over
/// many rows and a large one for a long bulk write (see [`with_small_cache`],
/// [`with_large_cache`]).
const SQLITE_CACHE: &str = "PRAGMA cache_size = -32000";
const SQLITE_SMALL_CACHE: &str = "PRAGMA cache_size = -4000";
const SQLITE_LARGE_CACHE: &str = "PRAGMA cache_size = -64000";

/// Runs `f` with a small SQLite page cache: for a read of many rows once (a sync run loading
/// the agents a source owns), which gains little from the usual 32 MB and would leave them
/// allocated for the rest of the run.
pub fn with_small_cache<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    with_cache(conn, SQLITE_SMALL_CACHE, f)
}

/// Runs `f` with a larger SQLite page cache (64 MB): for one long transaction that writes
/// far more pages than the usual cache holds (a directory's first run), which otherwise
/// spills pages to the WAL one at a time while it runs.
pub fn with_large_cache<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    with_cache(conn, SQLITE_LARGE_CACHE, f)
}

/// Runs `f` with the page cache `pragma` sets, then sets the usual size again. Nothing
/// changes on PostgreSQL.
fn with_cache<T, E, F>(conn: &mut DbConn, pragma: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(inner) = conn else {
        return f(conn);
    };
    inner.batch_execute(pragma)?;
    let result = f(conn);
    if let DbConn::Sqlite(inner) = conn {
        inner.batch_execute(SQLITE_CACHE)?;
    }
    result
}

pub fn connect(target: &Target) -> Result<DbConn, diesel::ConnectionError> {
    match target {
        Target::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(path)?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
        Target::Postgres(url) => {
            let mut conn = PgConnection::establish(url)?;
            conn.set_instrumentation(ConnectionLoss::default());
            Ok(DbConn::Pg(conn))
        }
    }
}

/// Watches a PostgreSQL connection's queries for its server having gone away (a restart, a
/// failover, a terminated backend), so that the pool drops it when it comes back
/// ([`Manager::has_broken`]) instead of handing it out to fail again: diesel's own
/// `is_broken` looks only at the transaction state, and connections are not tested on
/// checkout (a round trip on every request).
#[derive(Default)]
struct ConnectionLoss {
    lost: bool,
}

impl diesel::connection::Instrumentation for ConnectionLoss {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::result::{DatabaseErrorKind, Error};
        if let diesel::connection::InstrumentationEvent::FinishQuery { error: Some(e), .. } = event
            && matches!(
                e,
                Error::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                )
            )
        {
            self.lost = true;
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        connect(&self.target).map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        if let DbConn::Pg(c) = conn
            && c.instrumentation()
                .downcast_ref::<ConnectionLoss>()
                .is_some_and(|w| w.lost)
        {
            return true;
        }
        conn.is_broken()
    }
}

/// Builds the pool; fails fast when the database cannot be reached.
pub fn pool(target: &Target, size: u32) -> Result<Pool, StoreError> {
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .test_on_check_out(false)
        .build(Manager::new(target.clone()))?;
    Ok(pool)
}

/// Applies pending migrations and fills missing name keys (see [`name_keys::fill`]);
/// returns the names of the migrations applied.
pub fn migrate(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    migrate_reporting(conn).map(|(applied, _)| applied)
}

/// [`migrate`], also returning the names that clash under the folded comparison (each is
/// logged as a warning too; none fails the migration).
pub fn migrate_reporting(
    conn: &mut DbConn,
) -> Result<(Vec<String>, Vec<name_keys::NameClash>), StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?
    .iter()
    .map(|v| v.to_string())
    .collect();
    let clashes = name_keys::fill(conn)?;
    search::fill(conn)?;
    Ok((applied, clashes))
}

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this thread is inside `write_tx`, so a nested call uses a savepoint instead
    /// of taking the writer lock again.
    static IN_WRITE_TX: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` inside the current write transaction when there is one — without a savepoint,
/// so an error from `f` must end that transaction (the caller passes it on) — and in a
/// write transaction of its own otherwise. For bulk writers: a savepoint on SQLite copies
/// every page it is the first to touch into a statement journal, which for a directory's
/// first run was a tenth of the run.
pub fn join_write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if IN_WRITE_TX.with(std::cell::Cell::get) {
        return f(conn);
    }
    write_tx(conn, f)
}

/// The PostgreSQL advisory lock every write transaction takes first (and the audit chain's):
/// writers queue on it across processes and nodes, as SQLite's writers queue on
/// `BEGIN IMMEDIATE`.
pub const WRITE_LOCK: i64 = 7_231_001;

/// Takes [`WRITE_LOCK`] for the rest of the current PostgreSQL transaction (re-entrant);
/// nothing on SQLite, whose write transactions hold the database's one write lock.
pub fn lock_writes(conn: &mut DbConn) -> diesel::QueryResult<()> {
    if let DbConn::Pg(pg) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})")).execute(pg)?;
    }
    Ok(())
}

/// Runs `f` in a write transaction, one at a time across every Rollcall process on the
/// database: SQLite takes the write lock up front (`BEGIN IMMEDIATE`), PostgreSQL the
/// [`WRITE_LOCK`] advisory lock as the transaction's first statement. Everything `f` reads
/// is therefore current until it commits, and a read-modify-write inside it is atomic.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // Nested (a sync run applies many changes in one outer transaction): a savepoint.
    if IN_WRITE_TX.with(std::cell::Cell::get) {
        return conn.transaction(f);
    }
    let DbConn::Sqlite(inner) = conn else {
        IN_WRITE_TX.with(|c| c.set(true));
        let result = conn.transaction(|conn| {
            lock_writes(conn)?;
            f(conn)
        });
        IN_WRITE_TX.with(|c| c.set(false));
        if result.is_ok() {
            commits::committed();
        }
        return result;
    };
    // SQLite has one writer at a time. Queue this process's writers on a fair lock rather
    // than on SQLite's busy handler, whose sleeps (up to 100 ms) make long latency tails.
    let _writer = SQLITE_WRITER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    IN_WRITE_TX.with(|c| c.set(true));
    let result = f(conn);
    IN_WRITE_TX.with(|c| c.set(false));
    match result {
        Ok(value) => match <DbConn as TransactionManager<DbConn>>::commit_transaction(conn) {
            Ok(()) => {
                commits::committed();
                Ok(value)
            }
            Err(e) => {
                let _ = <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// The current time at the precision both backends store (microseconds), so a timestamp read
/// back compares equal to the one written (cursor pagination relies on it).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// One page of a newest-first keyset list read with `LIMIT limit + 1`: the first `limit`
/// rows, and the id to read on before when there were more.
pub fn newest_first_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<i64>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}
