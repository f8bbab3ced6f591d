//! Credentials: API tokens (256-bit random, stored as SHA-256), and agent passwords by
//! [`crate::credentials::hashing`] (argon2id) with the default cost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::credentials::hashing::{self, HashError};
use crate::store::models::TokenRow;
use crate::store::{DbConn, tokens};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Full SCIM provisioning (identity providers).
    Scim,
    /// The admin API.
    Admin,
    /// Read-only access.
    Read,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "scim" => Some(Scope::Scim),
            "admin" => Some(Scope::Admin),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scim => "scim",
            Scope::Admin => "admin",
            Scope::Read => "read",
        }
    }
}

/// Prefix that makes Rollcall tokens recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "rc_";

/// A new random token: prefix + 32 random bytes, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_name)
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

fn parse_scopes(s: &str) -> Vec<Scope> {
    s.split(',')
        .filter_map(|p| Scope::parse(p.trim()))
        .collect()
}

/// Checks a presented token against a stored row: hash compared in constant time, not
/// revoked, not expired.
pub fn check(row: &TokenRow, presented_hash: &str, now: NaiveDateTime) -> Option<Principal> {
    let same: bool = row
        .token_hash
        .as_bytes()
        .ct_eq(presented_hash.as_bytes())
        .into();
    if !same || row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return None;
    }
    Some(Principal {
        token_name: row.name.clone(),
        scopes: parse_scopes(&row.scopes),
    })
}

/// Caches token look-ups for a few seconds so that authentication costs no query on the
/// hot path; a revocation takes effect within [`TokenCache::TTL`].
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, Option<TokenRow>)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl TokenCache {
    pub const TTL: Duration = Duration::from_secs(5);
    const TOUCH_EVERY: Duration = Duration::from_secs(60);

    /// The cached verdict for `token`, if fresh and positive and no last-use write is due;
    /// `None` means "ask [`TokenCache::authenticate`]".
    pub fn cached(&self, token: &str) -> Option<Option<Principal>> {
        let hash = token_hash(token);
        let now = crate::store::now();
        let row = self.entries.lock().ok().and_then(|m| {
            m.get(&hash)
                .filter(|(at, _)| at.elapsed() < Self::TTL)
                .map(|(_, row)| row.clone())
        })?;
        let principal = row.as_ref().and_then(|r| check(r, &hash, now));
        if let Some(p) = &principal {
            let due = self.touched.lock().ok().is_none_or(|m| {
                m.get(&p.token_name)
                    .is_none_or(|t| t.elapsed() >= Self::TOUCH_EVERY)
            });
            if due {
                return None;
            }
        }
        Some(principal)
    }

    /// Authenticates `token`, reading the store when the cache has no fresh answer.
    pub fn authenticate(
        &self,
        conn: &mut DbConn,
        token: &str,
    ) -> diesel::QueryResult<Option<Principal>> {
        let hash = token_hash(token);
        let now = crate::store::now();
        let cached = self.entries.lock().ok().and_then(|m| {
            m.get(&hash)
                .filter(|(at, _)| at.elapsed() < Self::TTL)
                .map(|(_, row)| row.clone())
        });
        let row = match cached {
            Some(row) => row,
            None => {
                let row = tokens::by_hash(conn, &hash)?;
                if let Ok(mut m) = self.entries.lock() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(hash.clone(), (Instant::now(), row.clone()));
                }
                row
            }
        };
        let principal = row.as_ref().and_then(|r| check(r, &hash, now));
        if let Some(p) = &principal {
            self.touch(conn, &p.token_name, now);
        }
        Ok(principal)
    }

    /// Records last use at most once a minute per token.
    fn touch(&self, conn: &mut DbConn, name: &str, now: NaiveDateTime) {
        let due = match self.touched.lock() {
            Ok(mut m) => {
                let due = m.get(name).is_none_or(|t| t.elapsed() >= Self::TOUCH_EVERY);
                if due {
                    m.insert(name.to_owned(), Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if due && let Err(e) = tokens::touch(conn, name, now) {
            tracing::warn!(error = %e, "could not record token use");
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.lock() {
            m.clear();
        }
    }
}

/// Hashes a password with argon2id at OWASP's cost, on the calling thread (blocking: keep
/// it off the async workers; the sign-in path uses [`crate::credentials::hashing::Hasher`]).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    hashing::hash_now(hashing::Cost::OWASP, password)
}

/// Verifies a password against a stored hash on the calling thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    hashing::verify_now(hashing::Cost::OWASP, password, hash).is_valid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn check_rejects_revoked_expired_and_wrong() {
        let now = crate::store::now();
        let token = new_token();
        let mut row = TokenRow {
            name: "entra".into(),
            token_hash: token_hash(&token),
            scopes: "scim,read".into(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        let p = check(&row, &token_hash(&token), now).expect("valid");
        assert!(p.has(Scope::Scim) && p.has(Scope::Read) && !p.has(Scope::Admin));
        assert!(check(&row, &token_hash("rc_other"), now).is_none());
        row.expires_at = Some(now);
        assert!(check(&row, &token_hash(&token), now).is_none());
        row.expires_at = None;
        row.revoked_at = Some(now);
        assert!(check(&row, &token_hash(&token), now).is_none());
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
