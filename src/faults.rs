//! Pause points for crash tests. With `ROLLCALL_PAUSE_AT=<name>` (or `<name>#<n>`, the n-th
//! time) in its environment, a process that reaches the named point says so on stderr and
//! waits there for ever, so that a test or `scripts/prove-crash` can kill it at a known
//! place. Without it — always, in production — a point costs one read of a value set once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Target {
    name: String,
    nth: usize,
    seen: AtomicUsize,
}

fn target() -> Option<&'static Target> {
    static AT: OnceLock<Option<Target>> = OnceLock::new();
    AT.get_or_init(|| {
        let spec = std::env::var("ROLLCALL_PAUSE_AT").ok()?;
        let (name, nth) = match spec.split_once('#') {
            Some((name, n)) => (name, n.parse().ok()?),
            None => (spec.as_str(), 1),
        };
        (!name.is_empty()).then(|| Target {
            name: name.to_owned(),
            nth,
            seen: AtomicUsize::new(0),
        })
    })
    .as_ref()
}

/// Waits here for ever when this is the configured point (and its n-th arrival).
pub fn pause_point(name: &str) {
    let Some(t) = target() else { return };
    if t.name != name || t.seen.fetch_add(1, Ordering::SeqCst) + 1 != t.nth {
        return;
    }
    eprintln!("rollcall: paused at {name} (pid {})", std::process::id());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
