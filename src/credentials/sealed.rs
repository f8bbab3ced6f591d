//! Secrets at rest (an agent's TOTP secret): XChaCha20-Poly1305 under a key from the
//! configuration, with a random 192-bit nonce, in the text form
//! `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id (derived from the key)
//! says which key sealed a value, so that after a key change the old keys still open what
//! they sealed, and [`Sealer::needs_reseal`] finds what to seal again. A context string
//! (e.g. the agent's id) is bound as associated data: a sealed value copied to another
//! row does not open there.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a sealed value could not be opened. Says nothing about the key or the plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("not a sealed value")]
    Malformed,
    #[error("sealed with the unknown key {0}")]
    UnknownKey(String),
    #[error("the sealed value was altered or belongs elsewhere")]
    Tampered,
}

/// Parses a 32-byte key given as 64 hex digits or as base64 (standard or URL-safe, padded
/// or not). The error never repeats the key.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| "not valid hex".to_owned())?
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| "must be 32 bytes as base64 or as 64 hex digits".to_owned())?
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "must be 32 bytes as base64 or as 64 hex digits (it decodes to {} bytes)",
            bytes.len()
        )
    })
}

/// The id of a key: the first 4 bytes of SHA-256 over a fixed label and the key, in hex.
/// Names the key without revealing it.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"rollcall sealing key id\0");
    h.update(key);
    hex::encode(&h.finalize()[..4])
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Key {
        Key {
            id: key_id(bytes),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }
}

/// Seals with the current key; opens with it or any old key.
pub struct Sealer {
    current: Key,
    old: Vec<Key>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.id)
            .field("old", &self.old.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

fn associated_data(key_id: &str, context: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(32 + key_id.len() + context.len());
    ad.extend_from_slice(b"rollcall sealed ");
    ad.extend_from_slice(VERSION.as_bytes());
    ad.push(0);
    ad.extend_from_slice(key_id.as_bytes());
    ad.push(0);
    ad.extend_from_slice(context.as_bytes());
    ad
}

impl Sealer {
    pub fn new(current: &[u8; 32], old: &[[u8; 32]]) -> Sealer {
        Sealer {
            current: Key::new(current),
            old: old.iter().map(Key::new).collect(),
        }
    }

    /// From `[auth.mfa]`: `None` when no key is configured. The keys were checked when the
    /// configuration was loaded; a bad one is still an error here, never a panic.
    pub fn from_config(mfa: &crate::config::MfaConfig) -> Result<Option<Sealer>, String> {
        let Some(key) = &mfa.key else {
            return Ok(None);
        };
        let current = parse_key(key).map_err(|e| format!("auth.mfa.key: {e}"))?;
        let old = mfa
            .old_keys
            .0
            .iter()
            .enumerate()
            .map(|(i, k)| parse_key(k).map_err(|e| format!("auth.mfa.old_keys[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Sealer::new(&current, &old)))
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` for `context` (the same context must be given to open it).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ad = associated_data(&self.current.id, context);
        // Encryption fails only for a plaintext beyond the cipher's limit (256 GiB).
        let sealed = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &ad,
                },
            )
            .unwrap_or_default();
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!(
            "{VERSION}:{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(body)
        )
    }

    /// Opens a value [`Sealer::seal`] produced with this context, under the current or an
    /// old key.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let (id, body) = split(sealed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let ad = associated_data(id, context);
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &ad,
                },
            )
            .map_err(|_| SealError::Tampered)
    }

    /// Whether `sealed` was sealed under another key than the current one (or is not a
    /// sealed value): open it and seal it again.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        split(sealed).map_or(true, |(id, _)| id != self.current.id)
    }
}

fn split(sealed: &str) -> Result<(&str, &str), SealError> {
    let mut parts = sealed.trim().splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(body)) if !id.is_empty() && !body.is_empty() => {
            Ok((id, body))
        }
        _ => Err(SealError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [7; 32];
    const B: [u8; 32] = [9; 32];

    #[test]
    fn keys_parse_from_hex_and_base64_and_bad_ones_are_explained() {
        let hex_key = hex::encode(A);
        assert_eq!(parse_key(&hex_key), Ok(A));
        assert_eq!(parse_key(&format!(" {}\n", STANDARD.encode(A))), Ok(A));
        assert_eq!(parse_key(&URL_SAFE_NO_PAD.encode(A)), Ok(A));
        let short = parse_key(&STANDARD.encode([1u8; 16])).expect_err("16 bytes");
        assert!(short.contains("16 bytes"), "{short}");
        let junk = parse_key("not a key at all!").expect_err("junk");
        assert!(junk.contains("32 bytes"), "{junk}");
        assert!(
            !junk.contains("not a key"),
            "the error must not echo the key"
        );
        assert!(parse_key("").is_err());
    }

    #[test]
    fn seal_then_open_and_every_value_differs() {
        let s = Sealer::new(&A, &[]);
        let one = s.seal("agent-1", b"JBSWY3DPEHPK3PXP");
        let two = s.seal("agent-1", b"JBSWY3DPEHPK3PXP");
        assert_ne!(one, two, "random nonce");
        assert!(one.starts_with(&format!("v1:{}:", key_id(&A))), "{one}");
        assert_eq!(key_id(&A).len(), 8);
        assert_eq!(s.open("agent-1", &one).expect("open"), b"JBSWY3DPEHPK3PXP");
        assert_eq!(s.open("agent-1", &two).expect("open"), b"JBSWY3DPEHPK3PXP");
        assert_eq!(
            s.open("agent-1", &s.seal("agent-1", b"")).expect("empty"),
            b""
        );
    }

    #[test]
    fn another_context_or_key_or_any_change_is_refused() {
        let s = Sealer::new(&A, &[]);
        let sealed = s.seal("agent-1", b"secret");
        assert_eq!(s.open("agent-2", &sealed), Err(SealError::Tampered));
        let other = Sealer::new(&B, &[]);
        assert_eq!(
            other.open("agent-1", &sealed),
            Err(SealError::UnknownKey(key_id(&A)))
        );
        // Flip each byte of the body in turn: never opens, never panics.
        let (prefix, body) = sealed.rsplit_once(':').expect("form");
        let raw = URL_SAFE_NO_PAD.decode(body).expect("b64");
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let text = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(&bad));
            assert_eq!(
                s.open("agent-1", &text),
                Err(SealError::Tampered),
                "byte {i}"
            );
        }
        // A key id rewritten to the other key's is refused too (the id is authenticated).
        let relabelled = sealed.replace(&key_id(&A), &key_id(&B));
        let both = Sealer::new(&B, &[A]);
        assert_eq!(both.open("agent-1", &relabelled), Err(SealError::Tampered));
        for junk in [
            "",
            "v1",
            "v1::",
            "v2:abc:def",
            &format!("v1:{}:", key_id(&A)),
            &format!("v1:{}:!!!", key_id(&A)),
            &format!("v1:{}:AAAA", key_id(&A)),
            &format!("{prefix}:{}", &body[..body.len() / 2]),
        ] {
            assert!(s.open("agent-1", junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn old_keys_still_open_and_values_under_them_need_resealing() {
        let before = Sealer::new(&A, &[]);
        let old_value = before.seal("agent-1", b"secret");
        let after = Sealer::new(&B, &[A]);
        assert_eq!(
            after.open("agent-1", &old_value).expect("old key"),
            b"secret"
        );
        assert!(after.needs_reseal(&old_value));
        let fresh = after.seal("agent-1", b"secret");
        assert!(!after.needs_reseal(&fresh));
        assert!(fresh.contains(after.current_key_id()));
        assert!(after.needs_reseal("garbage"));
        // Dropping the old key leaves its values unreadable, with a clear error.
        let only_new = Sealer::new(&B, &[]);
        assert!(matches!(
            only_new.open("agent-1", &old_value),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let s = Sealer::new(&A, &[B]);
        let shown = format!("{s:?}");
        assert!(shown.contains(&key_id(&A)) && shown.contains(&key_id(&B)));
        assert!(!shown.contains(&hex::encode(A)));
    }
}
