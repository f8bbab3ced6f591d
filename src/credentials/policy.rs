//! Password policies. Two profiles, chosen per role (`[auth.password_policy]`):
//!
//! - `nist` (NIST SP 800-63B): at least 15 characters, or 8 for an agent who also uses a
//!   second factor; no composition rules; no expiry.
//! - `classic`: a minimum length, a number of character classes, expiry with a warning
//!   period, and no reuse of the last passwords (checked against their hashes, on the
//!   hashing pool).
//!
//! Both refuse a password longer than `max_length`, one on the blocklist, and one containing
//! the agent's user name or the local part of their email address. Lengths are counted in
//! Unicode characters of the NFKC form. Every refusal is a [`Violation`] naming its rule;
//! all of a password's violations are reported at once.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::blocklist::Blocklist;
use super::hashing::{HashError, Hasher};
use crate::config::{CharClass, ClassicConfig, NistConfig, PasswordPolicyConfig, PolicyProfile};
use crate::domain::names::fold;

/// A rule a password broke.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// `min_length`, `max_length`, `blocklisted`, `contains_user_name`, `contains_email`,
    /// `missing_class` or `reused`.
    pub rule: &'static str,
    /// What the rule asks for, in English, with its numbers.
    pub message: String,
}

impl Violation {
    fn new(rule: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            rule,
            message: message.into(),
        }
    }
}

/// A new password and what it is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub password: &'a str,
    pub user_name: &'a str,
    pub email: Option<&'a str>,
    /// The agent signs in with a second factor too.
    pub has_mfa: bool,
}

/// Where a password stands on its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Ok,
    /// Expires in `days_left` days (rounded up).
    Warn {
        days_left: u32,
    },
    Expired,
}

/// The profiles in force, per role, with the blocklist.
#[derive(Debug, Clone)]
pub struct Policies {
    default: PolicyProfile,
    roles: BTreeMap<String, PolicyProfile>,
    max_length: usize,
    nist: NistConfig,
    classic: ClassicConfig,
    blocklist: Blocklist,
}

/// A user name's shortest length for the containment rule, and an email local part's.
const MIN_USER_NAME: usize = 3;
const MIN_EMAIL_LOCAL: usize = 4;

impl Policies {
    pub fn new(config: &PasswordPolicyConfig, blocklist: Blocklist) -> Policies {
        Policies {
            default: config.profile,
            roles: config.roles.clone(),
            max_length: config.max_length,
            nist: config.nist.clone(),
            classic: config.classic.clone(),
            blocklist,
        }
    }

    /// From `[auth.password_policy]`, with the admin's blocklist.
    pub fn from_config(config: &PasswordPolicyConfig) -> Policies {
        let blocklist = match &config.blocklist {
            Some(text) => Blocklist::with_own(text),
            None => Blocklist::shipped(),
        };
        Policies::new(config, blocklist)
    }

    /// The profile that applies to agents of `role`.
    pub fn profile_for(&self, role: &str) -> PolicyProfile {
        self.roles.get(role).copied().unwrap_or(self.default)
    }

    pub fn blocklist(&self) -> &Blocklist {
        &self.blocklist
    }

    /// The rules that need no hashing: length, blocklist, user name and email, classes.
    /// Empty when the password passes them.
    pub fn check(&self, profile: PolicyProfile, c: &Candidate<'_>) -> Vec<Violation> {
        let password = super::hashing::normalize(c.password);
        let length = password.chars().count();
        let mut out = Vec::new();
        let min = match profile {
            PolicyProfile::Nist if c.has_mfa => self.nist.min_length_with_mfa,
            PolicyProfile::Nist => self.nist.min_length,
            PolicyProfile::Classic => self.classic.min_length,
        };
        if length < min {
            let mut message = format!("at least {min} characters");
            if profile == PolicyProfile::Nist && !c.has_mfa {
                message.push_str(&format!(
                    " ({} with a second factor)",
                    self.nist.min_length_with_mfa
                ));
            }
            out.push(Violation::new("min_length", message));
        }
        if length > self.max_length {
            out.push(Violation::new(
                "max_length",
                format!("at most {} characters", self.max_length),
            ));
        }
        if !password.is_empty() && self.blocklist.contains(&password) {
            out.push(Violation::new(
                "blocklisted",
                "not a commonly used or breached password",
            ));
        }
        let folded = fold(&password);
        let user_name = fold(c.user_name.trim());
        let mut names = vec![user_name.as_str()];
        if let Some((local, _)) = user_name.split_once('@') {
            names.push(local);
        }
        if names
            .iter()
            .any(|n| n.chars().count() >= MIN_USER_NAME && folded.contains(n))
        {
            out.push(Violation::new("contains_user_name", "not the user name"));
        }
        let email = c.email.map(|e| fold(e.trim())).unwrap_or_default();
        let local = email.split_once('@').map_or(email.as_str(), |(l, _)| l);
        if local.chars().count() >= MIN_EMAIL_LOCAL && folded.contains(local) {
            out.push(Violation::new(
                "contains_email",
                "not the email address's name (the part before @)",
            ));
        }
        if profile == PolicyProfile::Classic {
            let present: Vec<CharClass> = self
                .classic
                .classes
                .iter()
                .copied()
                .filter(|class| password.chars().any(|ch| is_in(*class, ch)))
                .collect();
            if present.len() < self.classic.min_classes {
                let listed: Vec<&str> = self.classic.classes.iter().map(|c| c.describe()).collect();
                let message = if self.classic.min_classes == self.classic.classes.len() {
                    format!("each of: {}", listed.join(", "))
                } else {
                    format!(
                        "at least {} of: {} (has {})",
                        self.classic.min_classes,
                        listed.join(", "),
                        present.len()
                    )
                };
                out.push(Violation::new("missing_class", message));
            }
        }
        out
    }

    /// How many previous password hashes the reuse rule looks at (0 for `nist`).
    pub fn history_len(&self, profile: PolicyProfile) -> usize {
        match profile {
            PolicyProfile::Nist => 0,
            PolicyProfile::Classic => self.classic.history,
        }
    }

    /// The reuse rule: `previous` holds the agent's earlier password hashes, newest first
    /// (the current one included); the first [`Policies::history_len`] are verified against
    /// `password`, each on the hashing pool.
    pub async fn check_reuse(
        &self,
        profile: PolicyProfile,
        hasher: &Hasher,
        password: &str,
        previous: &[String],
    ) -> Result<Option<Violation>, HashError> {
        let n = self.history_len(profile);
        for stored in previous.iter().take(n) {
            if hasher.verify(password, Some(stored)).await?.is_valid() {
                return Ok(Some(Violation::new(
                    "reused",
                    format!("not one of the last {n} passwords"),
                )));
            }
        }
        Ok(None)
    }

    /// [`Policies::check`] and then [`Policies::check_reuse`]: every violation.
    pub async fn check_all(
        &self,
        profile: PolicyProfile,
        hasher: &Hasher,
        candidate: &Candidate<'_>,
        previous: &[String],
    ) -> Result<Vec<Violation>, HashError> {
        let mut out = self.check(profile, candidate);
        if let Some(v) = self
            .check_reuse(profile, hasher, candidate.password, previous)
            .await?
        {
            out.push(v);
        }
        Ok(out)
    }

    /// Where a password changed at `changed_at` stands at `now` (both UTC).
    pub fn expiry(
        &self,
        profile: PolicyProfile,
        changed_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Expiry {
        if profile == PolicyProfile::Nist || self.classic.expire_days == 0 {
            return Expiry::Ok;
        }
        let expires = changed_at + chrono::Duration::days(i64::from(self.classic.expire_days));
        if now >= expires {
            return Expiry::Expired;
        }
        let left = expires - now;
        let days_left = u32::try_from(
            (left.num_seconds() + 86_399) / 86_400, // rounded up
        )
        .unwrap_or(u32::MAX);
        if days_left <= self.classic.warn_days {
            Expiry::Warn { days_left }
        } else {
            Expiry::Ok
        }
    }
}

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I) so that one read aloud
/// or copied by hand comes out right.
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-=?@_";

impl Policies {
    /// A random password for an agent of `profile` (an initial password): 20 characters or
    /// the profile's minimum plus 4, with a character of every class, so that it passes
    /// either profile.
    pub fn generate(&self, profile: PolicyProfile) -> String {
        use rand::Rng;
        use rand::seq::SliceRandom;
        let min = match profile {
            PolicyProfile::Nist => self.nist.min_length,
            PolicyProfile::Classic => self.classic.min_length,
        };
        let len = (min + 4).clamp(20, self.max_length);
        let mut rng = rand::rng();
        let all: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
        let mut out: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS]
            .iter()
            .map(|set| set[rng.random_range(0..set.len())])
            .collect();
        while out.len() < len {
            out.push(all[rng.random_range(0..all.len())]);
        }
        out.shuffle(&mut rng);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn is_in(class: CharClass, c: char) -> bool {
    match class {
        CharClass::Upper => c.is_uppercase(),
        CharClass::Lower => c.is_lowercase(),
        CharClass::Digit => c.is_numeric(),
        CharClass::Symbol => !c.is_alphanumeric(),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
