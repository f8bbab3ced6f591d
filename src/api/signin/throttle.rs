//! Failed sign-ins per client address, in this node's memory: past
//! `signin.address_failures` in `signin.address_window_secs` the address is refused (429
//! with `Retry-After`) until its window ends. Independent of the per-account lock, so one
//! address guessing many accounts is slowed without locking any of them out; the
//! per-account lock is what stops many addresses guessing one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses kept before old windows are swept.
const SWEEP_AT: usize = 10_000;

pub struct Throttle {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when `ip` is throttled at `now`.
    pub fn refused(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = seen.get(&ip)?;
        let ends = *start + self.window;
        (*count >= self.limit && now < ends).then(|| ends.duration_since(now).as_secs().max(1))
    }

    /// Counts a failed sign-in from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_past_its_limit_until_the_window_ends() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..2 {
            t.failed(ip, t0);
        }
        assert_eq!(t.refused(ip, t0), None);
        t.failed(ip, t0);
        assert_eq!(t.refused(ip, t0 + Duration::from_secs(10)), Some(50));
        assert_eq!(t.refused(other, t0), None);
        assert_eq!(t.refused(ip, t0 + Duration::from_secs(61)), None);
        // A new window starts counting from zero.
        t.failed(ip, t0 + Duration::from_secs(61));
        assert_eq!(t.refused(ip, t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn a_zero_limit_never_throttles() {
        let t = Throttle::new(0, Duration::from_secs(60));
        let ip: IpAddr = "::1".parse().unwrap();
        t.failed(ip, Instant::now());
        assert_eq!(t.refused(ip, Instant::now()), None);
    }
}
