//! Standard Webhooks signing (<https://www.standardwebhooks.com>, "Signature scheme"):
//! secrets are `whsec_` and the base64 of the key; a message is signed as
//! `v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>`, one signature per secret
//! separated by spaces while a rotation keeps two. Pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::http::cursor::hmac_sha256;

const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key of a secret (`whsec_<base64>`); an error saying what is wrong otherwise.
pub fn key_of(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret
        .strip_prefix(PREFIX)
        .ok_or_else(|| "a secret starts with whsec_".to_owned())?;
    let key = STANDARD
        .decode(b64)
        .map_err(|_| "a secret is whsec_ and base64".to_owned())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "a secret's key is 24 to 64 bytes (this one has {})",
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` header: one `v1,` signature per key, newest first.
pub fn signature(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    keys.iter()
        .map(|k| {
            let mac = hmac_sha256(k, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            format!("v1,{}", STANDARD.encode(mac))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A secret as it may be shown after it was created: its start only.
pub fn hint(secret: &str) -> String {
    secret.chars().take(PREFIX.len() + 4).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference libraries'
    /// tests); the Python library of the integration tests verifies the same value.
    #[test]
    fn the_specification_example() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let sig = signature(
            &[key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_keys_sign_twice_newest_first() {
        let a = key_of(&new_secret()).expect("a");
        let b = key_of(&new_secret()).expect("b");
        let both = signature(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        let (first, second) = both.split_once(' ').expect("two");
        assert_eq!(first, signature(&[a], "msg_1", 1, b"{}"));
        assert_eq!(second, signature(&[b], "msg_1", 1, b"{}"));
    }

    #[test]
    fn secrets_are_checked() {
        assert!(key_of(&new_secret()).is_ok());
        assert!(key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(key_of("whsec_not base64!").is_err());
        assert!(key_of("whsec_c2hvcnQ=").is_err());
        assert_eq!(hint("whsec_abcdefgh"), "whsec_abcd…");
    }
}
