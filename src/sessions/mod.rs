//! The session check the chat platform calls on every request it serves for an agent
//! (`GET /api/v1/auth/session`): answered from memory ([`cache`]), or from one read of the
//! session and its agent when the node has not seen the token yet.
//!
//! It never says yes after the agent was disabled, deleted, forced offline or had its
//! sessions revoked: every such change writes the agent's audit entry in its transaction,
//! and a node reads the audit log on from where it was (`tail`) before answering whenever
//! this process committed a write since ([`crate::store::commits`]) — so a change made on
//! this node counts from the very next check — and every `sessions.poll_ms` for changes made
//! by other nodes on the same database. Each agent named by a new entry loses its cached
//! verdicts; a role entry clears them all.
//!
//! Idle expiry: a node keeps when it last saw each session used, and writes it to the
//! database every `sessions.touch_interval_secs`; before refusing a session as idle it reads
//! that back, in case another node served it meanwhile.

pub mod cache;
pub mod listing;
mod load;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use cache::{Reason, Required, Valid, Verdict};
pub use load::{SessionAgent, SessionAnswer, SessionInfo};

use crate::accounts::Accounts;
use crate::config::SessionsConfig;
use crate::store::schema::{audit_log, sessions};
use crate::store::{DbConn, Pool, StoreError};

/// Prefix that makes session tokens recognisable (and distinct from API tokens).
pub const TOKEN_PREFIX: &str = "rcs_";

/// A new session token: prefix + 32 random bytes, base64url.
pub fn new_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The node's sessions service.
pub struct Sessions {
    pool: Pool,
    accounts: Accounts,
    config: SessionsConfig,
    /// The password policies (expiry) and the roles that must use a second factor.
    credentials: crate::credentials::Credentials,
    /// Reads on the calling thread (SQLite: microseconds) instead of the blocking pool.
    inline_reads: bool,
    cache: cache::Cache,
    /// The audit log has been read up to this entry.
    tail: Mutex<i64>,
    /// This process's commit count the last read of the audit log covered.
    seen_commits: AtomicU64,
    /// Session id → last use (unix µs) not yet written to the database.
    touched: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// The service, reading changes from the audit log's current end on.
    pub fn new(
        pool: Pool,
        accounts: Accounts,
        config: SessionsConfig,
        credentials: crate::credentials::Credentials,
        inline_reads: bool,
    ) -> Result<Self, StoreError> {
        let commits = crate::store::commits::count();
        let last: Option<i64> = audit_log::table
            .select(diesel::dsl::max(audit_log::id))
            .first(&mut pool.get()?)?;
        Ok(Sessions {
            pool,
            accounts,
            config,
            credentials,
            inline_reads,
            cache: cache::Cache::default(),
            tail: Mutex::new(last.unwrap_or(0)),
            seen_commits: AtomicU64::new(commits),
            touched: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &SessionsConfig {
        &self.config
    }

    fn idle(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::try_from(self.config.idle_timeout_secs).unwrap_or(i64::MAX / 2),
        )
    }

    /// The verdict on `token` at `now`.
    pub async fn check(
        self: &Arc<Self>,
        token: &str,
        now: NaiveDateTime,
    ) -> Result<Verdict, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Ok(Verdict::Refused(Reason::Invalid));
        }
        let hash = crate::auth::token_hash(token);
        if crate::store::commits::count() > self.seen_commits.load(Ordering::Acquire) {
            self.read(|this, conn| this.catch_up(conn, false)).await?;
        }
        if let Some(verdict) = self.cache.get(&hash) {
            match &verdict {
                Verdict::Valid(v) => match self.still_valid(v, now) {
                    Some(true) => return Ok(verdict),
                    Some(false) => {
                        self.cache.forget(&hash);
                        return Ok(Verdict::Refused(Reason::Expired));
                    }
                    // Idle as far as this node knows: read the session again.
                    None => self.cache.forget(&hash),
                },
                Verdict::Refused(_) => return Ok(verdict),
            }
        }
        let epoch = self.cache.epoch();
        let verdict = self
            .read(move |this, conn| {
                let (agent, verdict) = load::verdict(
                    conn,
                    &this.accounts,
                    &this.config,
                    &this.credentials,
                    &hash,
                    now,
                )?;
                this.cache.put(&hash, &agent, verdict.clone(), epoch);
                Ok(verdict)
            })
            .await?;
        if let Verdict::Valid(v) = &verdict {
            self.touch(v, now);
        }
        Ok(verdict)
    }

    /// Forgets what this node knows of `token` (it was just signed out).
    pub fn forget(&self, token: &str) {
        self.cache.forget(&crate::auth::token_hash(token));
    }

    /// `Some(true)`: good, and marked used; `Some(false)`: past its absolute lifetime;
    /// `None`: idle as far as this node knows.
    fn still_valid(&self, v: &Valid, now: NaiveDateTime) -> Option<bool> {
        if now >= v.expires_at {
            return Some(false);
        }
        let last = v.last_used.load(Ordering::Relaxed);
        let now_us = now.and_utc().timestamp_micros();
        if now_us - last > self.idle().num_microseconds().unwrap_or(i64::MAX) {
            return None;
        }
        self.touch(v, now);
        Some(true)
    }

    fn touch(&self, v: &Valid, now: NaiveDateTime) {
        let now_us = now.and_utc().timestamp_micros();
        // Only write down a use once a second per session: the map is for the database.
        let last = v.last_used.load(Ordering::Relaxed);
        if now_us - last < 1_000_000 {
            return;
        }
        v.last_used.store(now_us, Ordering::Relaxed);
        if let Ok(mut t) = self.touched.lock() {
            t.insert(v.session_id.clone(), now_us);
        }
    }

    /// Runs a read with a connection: inline on SQLite, on the blocking pool otherwise.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Sessions, &mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if self.inline_reads {
            let mut conn = self.pool.get()?;
            return f(self, &mut conn);
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = this.pool.get()?;
            f(&this, &mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(format!("session check: {e}")))?
    }

    /// Reads the audit log on from where this node was and forgets the sessions of every
    /// agent it names (all of them for a role change).
    /// Unless `always`, only when this process committed since the last read.
    fn catch_up(&self, conn: &mut DbConn, always: bool) -> Result<(), StoreError> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let commits = crate::store::commits::count();
        if !always && commits <= self.seen_commits.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut cursor = *tail;
        loop {
            let rows: Vec<(i64, String, String)> = audit_log::table
                .filter(audit_log::id.gt(cursor))
                .order(audit_log::id.asc())
                .limit(5000)
                .select((audit_log::id, audit_log::target_type, audit_log::target_id))
                .load(conn)?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            if rows.iter().any(|r| r.1 == "role") {
                self.cache.clear();
            } else {
                self.cache.invalidate_agents(
                    rows.iter().filter(|r| r.1 == "agent").map(|r| r.2.as_str()),
                );
            }
            cursor = last;
            if rows.len() < 5000 {
                break;
            }
        }
        *tail = cursor;
        self.seen_commits.store(commits, Ordering::Release);
        Ok(())
    }

    /// Writes the uses seen since the last call to the sessions' `last_used_at`.
    fn write_uses(&self, conn: &mut DbConn) -> Result<usize, StoreError> {
        let batch: Vec<(String, i64)> = match self.touched.lock() {
            Ok(mut t) => t.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        crate::store::write_tx(conn, |conn| {
            for (id, us) in &batch {
                let Some(at) = chrono::DateTime::from_timestamp_micros(*us) else {
                    continue;
                };
                let at = at.naive_utc();
                diesel::update(
                    sessions::table.filter(sessions::id.eq(id)).filter(
                        sessions::last_used_at
                            .lt(at)
                            .or(sessions::last_used_at.is_null()),
                    ),
                )
                .set(sessions::last_used_at.eq(at))
                .execute(conn)?;
            }
            diesel::QueryResult::Ok(())
        })?;
        Ok(n)
    }

    /// The node's background work for sessions: reading other nodes' changes every
    /// `poll_ms`, writing session uses every `touch_interval_secs`.
    pub fn start(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let poll = Duration::from_millis(self.config.poll_ms.max(10));
        let touch = Duration::from_secs(self.config.touch_interval_secs.max(1));
        vec![
            // Read even without local commits: other nodes write too.
            self.every(poll, "reading changes for the session cache", |me, conn| {
                me.catch_up(conn, true)
            }),
            self.every(touch, "writing session uses", |me, conn| {
                me.write_uses(conn).map(drop)
            }),
        ]
    }

    /// Runs `work` with a connection on the blocking pool every `period`, logging failures.
    fn every(
        self: &Arc<Self>,
        period: Duration,
        what: &'static str,
        work: fn(&Sessions, &mut DbConn) -> Result<(), StoreError>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let me = Arc::clone(&this);
                let done = tokio::task::spawn_blocking(move || {
                    let mut conn = me.pool.get()?;
                    work(&me, &mut conn)
                })
                .await;
                if let Ok(Err(e)) = done {
                    tracing::warn!(error = %e, "{what} failed");
                }
            }
        })
    }
}
