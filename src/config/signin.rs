//! `[sessions]` (lifetimes of the sessions the chat platform checks, how fast other nodes'
//! changes are seen) and `[signin]` (lockout, per-address throttling).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session unused this long ends (seconds).
    pub idle_timeout_secs: u64,
    /// A session ends this long after sign-in, used or not (seconds).
    pub absolute_timeout_secs: u64,
    /// How often a node reads the audit log for changes made by other nodes (ms). A change
    /// made on this node is seen by its next session check.
    pub poll_ms: u64,
    /// How often a node writes when its sessions were last used (seconds); idle expiry is
    /// exact to about this.
    pub touch_interval_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            idle_timeout_secs: 8 * 3600,
            absolute_timeout_secs: 24 * 3600,
            poll_ms: 250,
            touch_interval_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigninConfig {
    /// Failed sign-ins in a row before an account is locked.
    pub lockout_threshold: u32,
    /// The first lock's length (seconds); each further failure doubles it.
    pub lockout_base_secs: u64,
    /// The longest lock (seconds).
    pub lockout_max_secs: u64,
    /// Failed sign-ins one client address may make per window before it is throttled.
    pub address_failures: u32,
    /// That window (seconds).
    pub address_window_secs: u64,
    /// A header holding the client's address, set by a reverse proxy in front of Rollcall
    /// (e.g. "X-Forwarded-For": its first entry is used). Unset: the connection's peer.
    pub client_ip_header: Option<String>,
}

impl Default for SigninConfig {
    fn default() -> Self {
        SigninConfig {
            lockout_threshold: 5,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            address_failures: 50,
            address_window_secs: 300,
            client_ip_header: None,
        }
    }
}

impl SigninConfig {
    /// How long an account stays locked after `failures` failed sign-ins in a row (zero
    /// below the threshold): the base doubling with each failure past it, capped.
    pub fn lock_for(&self, failures: u32) -> std::time::Duration {
        if self.lockout_threshold == 0 || failures < self.lockout_threshold {
            return std::time::Duration::ZERO;
        }
        let doublings = (failures - self.lockout_threshold).min(32);
        let secs = self
            .lockout_base_secs
            .saturating_mul(1u64 << doublings)
            .min(self.lockout_max_secs);
        std::time::Duration::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_past_the_threshold_and_are_capped() {
        let c = SigninConfig::default();
        assert_eq!(c.lock_for(4).as_secs(), 0);
        assert_eq!(c.lock_for(5).as_secs(), 30);
        assert_eq!(c.lock_for(6).as_secs(), 60);
        assert_eq!(c.lock_for(8).as_secs(), 240);
        assert_eq!(c.lock_for(20).as_secs(), 3600);
        assert_eq!(c.lock_for(u32::MAX).as_secs(), 3600);
        let off = SigninConfig {
            lockout_threshold: 0,
            ..SigninConfig::default()
        };
        assert_eq!(off.lock_for(100).as_secs(), 0);
    }
}
