//! Tells this process's readers that a write transaction committed: a count of commits and
//! a wake-up for whoever waits on it. Readers that keep something derived from the database
//! (the session cache, the webhook deliverer, the mail sender) compare the count with the
//! one they last saw, or wait for it to move, instead of polling the database as fast as
//! they must answer. Other processes on the same database are not seen here: those readers
//! also poll at their own interval.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

static COMMITS: AtomicU64 = AtomicU64::new(0);
static COMMITTED: Notify = Notify::const_new();

/// Called by `store::write_tx` after a commit succeeded (never before: a reader woken
/// early would read the database before the change is visible, and then sleep on it).
pub(crate) fn committed() {
    COMMITS.fetch_add(1, Ordering::Release);
    COMMITTED.notify_waiters();
}

/// How many write transactions this process has committed.
pub fn count() -> u64 {
    COMMITS.load(Ordering::Acquire)
}

/// Waits until the count is past `seen`, or `timeout` passes; returns the count then.
pub async fn wait_past(seen: u64, timeout: std::time::Duration) -> u64 {
    let notified = COMMITTED.notified();
    tokio::pin!(notified);
    // Registered before reading the count, so a commit between the read and the wait is
    // not missed.
    notified.as_mut().enable();
    let now = count();
    if now > seen {
        return now;
    }
    let _ = tokio::time::timeout(timeout, notified).await;
    count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_a_waiter() {
        let seen = count();
        let waiter = tokio::spawn(wait_past(seen, std::time::Duration::from_secs(5)));
        tokio::task::yield_now().await;
        committed();
        let after = waiter.await.expect("waiter");
        assert!(after > seen);
        // Nothing new: returns after the timeout with the same count.
        let start = std::time::Instant::now();
        let same = wait_past(count(), std::time::Duration::from_millis(30)).await;
        assert_eq!(same, count());
        assert!(start.elapsed() >= std::time::Duration::from_millis(25));
    }
}
