//! Agents' passwords: argon2id with the configured cost, computed on a bounded pool. At most
//! `workers` hashes run at once (each on the blocking pool, never on an async worker) and at
//! most `queue` wait for one; a hash asked for beyond that fails at once with
//! [`HashError::Busy`] (the HTTP layer answers 503 with `Retry-After`), so a storm of
//! sign-ins costs bounded CPU and memory and leaves the rest of the server running.
//! Passwords are hashed in NFKC, so that the same characters typed on another keyboard or
//! input method match.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use icu_normalizer::ComposingNormalizerBorrowed;
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::config::Argon2Config;

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full: try again after `retry_after`.
    #[error("password hashing is at capacity; retry after {retry_after:?}")]
    Busy { retry_after: Duration },
    /// The parameters are unusable or the hashing task died (logged; a 500).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Invalid,
    /// The password is right; when `needs_rehash`, the stored hash uses another algorithm
    /// or cost than the configured one: hash the password again and store that.
    Valid {
        needs_rehash: bool,
    },
}

impl Verdict {
    pub fn is_valid(self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }
}

/// The argon2id parameters in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Cost {
    /// From `[auth.argon2]`.
    pub fn from_config(c: &Argon2Config) -> Cost {
        Cost {
            memory_kib: c.memory_kib,
            iterations: c.iterations,
            parallelism: c.parallelism,
        }
    }

    /// OWASP's recommendation: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Cost = Cost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn argon2(self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(Params::DEFAULT_OUTPUT_LEN),
        )
        .map_err(|e| HashError::Internal(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The NFKC form of a password (what is hashed).
pub fn normalize(password: &str) -> std::borrow::Cow<'_, str> {
    if password.is_ascii() {
        return std::borrow::Cow::Borrowed(password);
    }
    ComposingNormalizerBorrowed::new_nfkc().normalize(password)
}

/// Hashes on the calling thread (a random 16-byte salt). Blocks for the whole cost: call it
/// only off the async workers; [`Hasher::hash`] does.
pub fn hash_now(cost: Cost, password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Internal(e.to_string()))?;
    cost.argon2()?
        .hash_password(normalize(password).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

/// Verifies on the calling thread, with the parameters stored in the hash. A hash that
/// does not parse never matches. A password stored before hashing normalised it (only
/// differs for text NFKC changes) still matches, and is reported as needing a rehash.
pub fn verify_now(cost: Cost, password: &str, stored: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Invalid;
    };
    let argon2 = Argon2::default();
    let normal = normalize(password);
    let matches = |text: &str| argon2.verify_password(text.as_bytes(), &parsed).is_ok();
    if matches(&normal) {
        Verdict::Valid {
            needs_rehash: needs_rehash(cost, stored),
        }
    } else if normal != password && matches(password) {
        Verdict::Valid { needs_rehash: true }
    } else {
        Verdict::Invalid
    }
}

/// Whether `stored` is anything but argon2id v19 with exactly `cost` and a 32-byte output.
pub fn needs_rehash(cost: Cost, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(Version::V0x13 as u32)
        || params.m_cost() != cost.memory_kib
        || params.t_cost() != cost.iterations
        || params.p_cost() != cost.parallelism
        || parsed
            .hash
            .is_none_or(|h| h.len() != Params::DEFAULT_OUTPUT_LEN)
}

/// The hashing pool. Cheap to clone (all clones share the pool).
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: Cost,
    workers: usize,
    /// workers + queue.
    capacity: usize,
    /// Permits for hashes admitted (running or queued): workers + queue.
    admitted: Arc<Semaphore>,
    /// Permits for hashes running: workers.
    running: Arc<Semaphore>,
    /// A hash of a random password, verified against when an account does not exist.
    dummy: String,
    /// Moving average of one hash's duration, in microseconds.
    average_micros: AtomicU64,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("cost", &self.inner.cost)
            .field("workers", &self.inner.workers)
            .finish()
    }
}

impl Hasher {
    /// A pool of `workers` (at least 1) with `queue` places. Computes the dummy hash once,
    /// on this thread.
    pub fn new(cost: Cost, workers: usize, queue: usize) -> Result<Hasher, HashError> {
        let workers = workers.max(1);
        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        let started = Instant::now();
        let dummy = hash_now(cost, &hex::encode(random))?;
        Ok(Hasher {
            inner: Arc::new(Inner {
                cost,
                workers,
                capacity: workers + queue,
                admitted: Arc::new(Semaphore::new(workers + queue)),
                running: Arc::new(Semaphore::new(workers)),
                dummy,
                average_micros: AtomicU64::new(micros(started.elapsed())),
            }),
        })
    }

    /// From `[auth.argon2]`.
    pub fn from_config(c: &Argon2Config) -> Result<Hasher, HashError> {
        Hasher::new(Cost::from_config(c), c.worker_count(), c.queue)
    }

    pub fn cost(&self) -> Cost {
        self.inner.cost
    }

    /// Hashes admitted now (running and waiting).
    pub fn in_flight(&self) -> usize {
        let i = &self.inner;
        i.capacity.saturating_sub(i.admitted.available_permits())
    }

    /// Hashes `password` with a new random salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let cost = self.inner.cost;
        let password = password.to_owned();
        self.run(move || hash_now(cost, &password)).await?
    }

    /// Verifies `password` against `stored`, or — when the account does not exist
    /// (`None`) — against a dummy hash of the same cost, which never matches: the answer
    /// takes as long whether the account exists or not.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let cost = self.inner.cost;
        let password = password.to_owned();
        let (stored, exists) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.inner.dummy.clone(), false),
        };
        let verdict = self
            .run(move || verify_now(cost, &password, &stored))
            .await?;
        Ok(if exists { verdict } else { Verdict::Invalid })
    }

    /// Whether `stored` should be replaced by a hash with the configured cost.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        needs_rehash(self.inner.cost, stored)
    }

    /// Runs `work` on the blocking pool once a worker is free; fails at once when the
    /// queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let inner = &self.inner;
        let Ok(admitted) = inner.admitted.clone().try_acquire_owned() else {
            return Err(HashError::Busy {
                retry_after: self.retry_after(),
            });
        };
        let running = inner
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError::Internal(e.to_string()))?;
        let this = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = work();
            this.record(started.elapsed());
            drop(running);
            drop(admitted);
            out
        })
        .await
        .map_err(|e| HashError::Internal(e.to_string()))
    }

    /// About when a place should be free: the time the queue ahead needs, at least a
    /// second.
    fn retry_after(&self) -> Duration {
        let i = &self.inner;
        let each = i.average_micros.load(Ordering::Relaxed);
        let rounds = i.capacity.div_ceil(i.workers) as u64;
        Duration::from_micros(each.saturating_mul(rounds))
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(60))
    }
}

impl Inner {
    /// Folds one hash's duration into the moving average (weight 1/8).
    fn record(&self, took: Duration) {
        let now = micros(took);
        let _ = self
            .average_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(avg - avg / 8 + now / 8)
            });
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small enough for fast tests; OWASP's cost is tested once.
    const CHEAP: Cost = Cost {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hash_and_verify_with_owasp_cost() {
        let h = Hasher::new(Cost::OWASP, 1, 4).expect("hasher");
        let stored = h.hash("correct horse battery").await.expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            h.verify("correct horse battery", Some(&stored))
                .await
                .expect("verify"),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify("correct horse batterY", Some(&stored))
                .await
                .expect("verify"),
            Verdict::Invalid
        );
        assert!(!h.needs_rehash(&stored));
        // Same password, new salt.
        assert_ne!(stored, h.hash("correct horse battery").await.expect("hash"));
    }

    #[tokio::test]
    async fn unknown_accounts_cost_a_verification_and_never_match() {
        let h = Hasher::new(CHEAP, 1, 4).expect("hasher");
        assert!(h.inner.dummy.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert_eq!(h.verify("", None).await.expect("verify"), Verdict::Invalid);
        assert_eq!(
            h.verify("anything", None).await.expect("verify"),
            Verdict::Invalid
        );
        assert!(!h.needs_rehash(&h.inner.dummy), "same cost as real hashes");
    }

    #[tokio::test]
    async fn other_cost_or_algorithm_needs_rehash_but_still_verifies() {
        let h = Hasher::new(CHEAP, 1, 4).expect("hasher");
        let stronger = Cost {
            iterations: 2,
            ..CHEAP
        };
        let old = hash_now(stronger, "pw").expect("hash");
        assert!(h.needs_rehash(&old));
        assert_eq!(
            h.verify("pw", Some(&old)).await.expect("verify"),
            Verdict::Valid { needs_rehash: true }
        );
        // argon2i, and argon2id v16, with the same cost.
        let salt = SaltString::encode_b64(&[1u8; 16]).expect("salt");
        for (alg, ver) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let params = Params::new(256, 1, 1, None).expect("params");
            let other = Argon2::new(alg, ver, params)
                .hash_password(b"pw", &salt)
                .expect("hash")
                .to_string();
            assert!(h.needs_rehash(&other), "{other}");
            assert_eq!(
                h.verify("pw", Some(&other)).await.expect("verify"),
                Verdict::Valid { needs_rehash: true },
                "{other}"
            );
        }
        for junk in [
            "",
            "plain",
            "$2b$12$abcdefghijklmnopqrstuv",
            "$argon2id$v=19$",
        ] {
            assert!(h.needs_rehash(junk));
            assert_eq!(
                h.verify("pw", Some(junk)).await.expect("verify"),
                Verdict::Invalid
            );
        }
    }

    #[tokio::test]
    async fn passwords_are_compared_in_nfkc() {
        let h = Hasher::new(CHEAP, 1, 4).expect("hasher");
        // "é" composed and decomposed; fullwidth and ASCII letters.
        let stored = h.hash("caf\u{e9} ＰＡＳＳ").await.expect("hash");
        assert!(
            h.verify("cafe\u{301} PASS", Some(&stored))
                .await
                .expect("verify")
                .is_valid()
        );
        // A hash of the raw, unnormalised text (as stored before) matches and is renewed.
        let raw = Cost::argon2(CHEAP)
            .expect("argon2")
            .hash_password(
                "ＰＡＳＳ".as_bytes(),
                &SaltString::encode_b64(&[2u8; 16]).expect("salt"),
            )
            .expect("hash")
            .to_string();
        assert_eq!(
            h.verify("ＰＡＳＳ", Some(&raw)).await.expect("verify"),
            Verdict::Valid { needs_rehash: true }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_calls_fail_at_once_as_busy() {
        let h = Hasher::new(CHEAP, 2, 3).expect("hasher");
        // Hold both workers, so admitted hashes wait in the queue.
        let hold = h
            .inner
            .running
            .clone()
            .acquire_many_owned(2)
            .await
            .expect("permits");
        let mut waiting = Vec::new();
        for i in 0..5 {
            let h = h.clone();
            waiting.push(tokio::spawn(async move { h.hash(&format!("pw{i}")).await }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.in_flight() < 5 {
            assert!(Instant::now() < deadline, "admitted {}", h.in_flight());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let started = Instant::now();
        let err = h.verify("pw", None).await.expect_err("full");
        assert!(started.elapsed() < Duration::from_millis(100), "at once");
        let HashError::Busy { retry_after } = err else {
            panic!("expected busy, got {err:?}");
        };
        assert!(retry_after >= Duration::from_secs(1) && retry_after <= Duration::from_secs(60));
        assert!(matches!(h.hash("x").await, Err(HashError::Busy { .. })));
        // Freed workers drain the queue; then there is room again.
        drop(hold);
        for w in waiting {
            let stored = w.await.expect("task").expect("hash");
            assert!(stored.starts_with("$argon2id$"));
        }
        assert_eq!(h.in_flight(), 0);
        assert!(h.verify("pw", None).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_workers_run_at_once() {
        let h = Hasher::new(CHEAP, 2, 64).expect("hasher");
        let peak = Arc::new(AtomicU64::new(0));
        let now = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (h, peak, now) = (h.clone(), peak.clone(), now.clone());
            tasks.push(tokio::spawn(async move {
                h.run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("ran");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn config_gives_the_pool_its_size() {
        let c = Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
            workers: Some(3),
            queue: 7,
        };
        let h = Hasher::from_config(&c).expect("hasher");
        assert_eq!(h.inner.workers, 3);
        assert_eq!(h.inner.capacity, 10);
        assert_eq!(h.cost().memory_kib, 256);
        assert!(Argon2Config::default().worker_count() >= 1);
        assert_eq!(Argon2Config::default().memory_kib, Cost::OWASP.memory_kib);
    }
}
