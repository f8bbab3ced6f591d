//! The sessions a node has answered for, in memory, by token hash: the verdict and when the
//! session ends. Entries are dropped per agent when the audit log shows the agent changed,
//! and all at once when a role changed; a verdict read from the database while such a
//! change was being seen is answered but not kept (the epoch check), so a stale "yes" can
//! never stay behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::NaiveDateTime;

/// Why a session is no good, as `GET /api/v1/auth/session` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No session has this token.
    Invalid,
    /// Past its absolute or idle lifetime.
    Expired,
    /// Signed out, revoked by an admin, or ended by a password change or reset.
    Revoked,
    /// The agent is suspended or pending.
    Disabled,
    /// The agent was deleted.
    Deleted,
    /// The agent was forced offline.
    ForcedOffline,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::Invalid => "invalid",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::Disabled => "disabled",
            Reason::Deleted => "deleted",
            Reason::ForcedOffline => "forced_offline",
        }
    }
}

/// A session found good: what the check answers, ready to send.
#[derive(Debug)]
pub struct Valid {
    pub session_id: String,
    pub agent_id: String,
    pub expires_at: NaiveDateTime,
    /// The answer's JSON body.
    pub body: actix_web::web::Bytes,
    /// When this node last saw the session used (unix microseconds).
    pub last_used: AtomicI64,
    /// A step the agent must take before the session is good for work; until then only the
    /// endpoints that take that step (and sign-out) accept it.
    pub required: Option<Required>,
}

/// A step an agent must take before its session is good for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// The password is an initial or reset one: change it (`POST /auth/password`).
    PasswordChange,
    /// The password is past its expiry (classic policy): change it.
    PasswordExpired,
    /// The role must use a second factor and the agent has none: enrol one.
    MfaEnrollment,
}

impl Required {
    pub fn code(self) -> &'static str {
        match self {
            Required::PasswordChange => "password_change_required",
            Required::PasswordExpired => "password_expired",
            Required::MfaEnrollment => "mfa_enrollment_required",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Valid(Arc<Valid>),
    Refused(Reason),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (String, Verdict)>,
    by_agent: HashMap<String, Vec<String>>,
}

/// Token hash → verdict, with the agent each belongs to.
#[derive(Default)]
pub struct Cache {
    inner: RwLock<Inner>,
    /// Moves on every invalidation.
    epoch: AtomicU64,
}

impl Cache {
    pub fn get(&self, token_hash: &str) -> Option<Verdict> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(token_hash).map(|(_, v)| v.clone())
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `verdict` unless an invalidation happened since `epoch` was read (before the
    /// database read the verdict comes from).
    pub fn put(&self, token_hash: &str, agent_id: &str, verdict: Verdict, epoch: u64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let previous = inner
            .entries
            .insert(token_hash.to_owned(), (agent_id.to_owned(), verdict));
        if previous.is_none() && !agent_id.is_empty() {
            inner
                .by_agent
                .entry(agent_id.to_owned())
                .or_default()
                .push(token_hash.to_owned());
        }
    }

    /// Forgets one token (its session ended by time).
    pub fn forget(&self, token_hash: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some((agent, _)) = inner.entries.remove(token_hash)
            && let Some(list) = inner.by_agent.get_mut(&agent)
        {
            list.retain(|t| t != token_hash);
            if list.is_empty() {
                inner.by_agent.remove(&agent);
            }
        }
    }

    /// Forgets every session of these agents.
    pub fn invalidate_agents<'a>(&self, agents: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for agent in agents {
            if let Some(tokens) = inner.by_agent.remove(agent) {
                for t in tokens {
                    inner.entries.remove(&t);
                }
            }
        }
    }

    /// Forgets everything (a role changed: any agent's permissions may have).
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        inner.entries.clear();
        inner.by_agent.clear();
    }

    pub fn len(&self) -> usize {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(agent: &str) -> Verdict {
        Verdict::Valid(Arc::new(Valid {
            session_id: "s".into(),
            agent_id: agent.into(),
            expires_at: chrono::NaiveDateTime::default(),
            body: actix_web::web::Bytes::from_static(b"{}"),
            last_used: AtomicI64::new(0),
            required: None,
        }))
    }

    #[test]
    fn invalidation_drops_only_that_agents_sessions() {
        let c = Cache::default();
        c.put("t1", "a", valid("a"), c.epoch());
        c.put("t2", "a", valid("a"), c.epoch());
        c.put("t3", "b", valid("b"), c.epoch());
        c.invalidate_agents(["a"]);
        assert!(c.get("t1").is_none() && c.get("t2").is_none());
        assert!(c.get("t3").is_some());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn a_verdict_read_before_an_invalidation_is_not_kept() {
        let c = Cache::default();
        let before = c.epoch();
        // The change is seen while the verdict was being read from the database.
        c.invalidate_agents(["a"]);
        c.put("t1", "a", valid("a"), before);
        assert!(c.get("t1").is_none());
        c.put("t1", "a", valid("a"), c.epoch());
        assert!(c.get("t1").is_some());
        c.forget("t1");
        assert!(c.get("t1").is_none());
    }
}
