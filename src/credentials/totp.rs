//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1 (RFC 2104),
//! 30-second steps, 6 digits, 160-bit secrets shown in base32 (RFC 4648, no padding) and as
//! an `otpauth://` URI for authenticator apps. A code is accepted for the current step or one
//! step either side, and never for a step at or before the last one accepted: the caller
//! stores the step [`Totp::verify`] returns, so no code is accepted twice.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// A TOTP secret (RFC 4226 recommends 160 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub const LEN: usize = 20;

    /// A new random 160-bit secret.
    pub fn generate() -> Secret {
        let mut bytes = vec![0u8; Self::LEN];
        rand::rng().fill_bytes(&mut bytes);
        Secret(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, upper case (what authenticator apps take).
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// Reads base32 as people type it: any case, spaces and padding ignored.
    pub fn from_base32(text: &str) -> Option<Secret> {
        let clean: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()?;
        (!bytes.is_empty()).then_some(Secret(bytes))
    }
}

/// HMAC-SHA1 (RFC 2104, block size 64).
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// HOTP (RFC 4226 §5.3): the `digits`-digit code for `counter`, zero-padded.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mac = hmac_sha1(key, &counter.to_be_bytes());
    let offset = usize::from(mac[19] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let digits = digits.clamp(1, 9);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// Characters percent-encoded in a URI's label and query values: all but unreserved ones.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// TOTP parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totp {
    pub digits: u32,
    /// Seconds per step.
    pub period: u64,
    /// Steps accepted either side of the current one.
    pub skew: u64,
}

impl Default for Totp {
    fn default() -> Self {
        Totp {
            digits: 6,
            period: 30,
            skew: 1,
        }
    }
}

impl Totp {
    /// The step `unix_secs` falls in (RFC 6238 T, with T0 = 0).
    pub fn step(&self, unix_secs: u64) -> u64 {
        unix_secs / self.period.max(1)
    }

    /// The code for `step`.
    pub fn code(&self, secret: &Secret, step: u64) -> String {
        hotp(secret.as_bytes(), step, self.digits)
    }

    /// Checks `code` at `unix_secs`: the step it matched (the current one or `skew` steps
    /// either side), unless that step is at or before `last_step` (the last step accepted
    /// for this secret). Each candidate is compared in constant time.
    pub fn verify(
        &self,
        secret: &Secret,
        code: &str,
        unix_secs: u64,
        last_step: Option<u64>,
    ) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = self.step(unix_secs);
        let mut matched = None;
        for step in now.saturating_sub(self.skew)..=now.saturating_add(self.skew) {
            let same: bool = self
                .code(secret, step)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into();
            if same && last_step.is_none_or(|last| step > last) && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }

    /// The `otpauth://totp/` URI (Key Uri Format) an authenticator app reads from a QR code:
    /// label `Issuer:account`, with the secret, issuer, algorithm, digits and period.
    pub fn uri(&self, issuer: &str, account: &str, secret: &Secret) -> String {
        let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
        let account = utf8_percent_encode(account, COMPONENT);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={}",
            secret.to_base32(),
            self.digits,
            self.period
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // A key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (count, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, count as u64, 6), *code, "count {count}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1() {
        let totp = Totp {
            digits: 8,
            ..Totp::default()
        };
        let secret = Secret::from_bytes(RFC_KEY);
        for (time, step, code) in [
            (59u64, 0x1u64, "94287082"),
            (1111111109, 0x23523EC, "07081804"),
            (1111111111, 0x23523ED, "14050471"),
            (1234567890, 0x273EF07, "89005924"),
            (2000000000, 0x3F940AA, "69279037"),
            (20000000000, 0x27BC86AA, "65353130"),
        ] {
            assert_eq!(totp.step(time), step, "T at {time}");
            assert_eq!(totp.code(&secret, step), code, "code at {time}");
            assert_eq!(totp.verify(&secret, code, time, None), Some(step));
        }
    }

    #[test]
    fn window_is_one_step_either_side_and_steps_are_used_once() {
        let totp = Totp::default();
        let secret = Secret::generate();
        let now = 1_700_000_015u64;
        let step = totp.step(now);
        let code = totp.code(&secret, step);
        assert_eq!(totp.verify(&secret, &code, now, None), Some(step));
        // Accepted 30 s early or late, not 60 s.
        assert_eq!(totp.verify(&secret, &code, now - 30, None), Some(step));
        assert_eq!(totp.verify(&secret, &code, now + 30, None), Some(step));
        assert_eq!(totp.verify(&secret, &code, now + 60, None), None);
        assert_eq!(totp.verify(&secret, &code, now - 60, None), None);
        // Replay: the same step, or an earlier one, is refused once accepted.
        assert_eq!(totp.verify(&secret, &code, now, Some(step)), None);
        assert_eq!(totp.verify(&secret, &code, now, Some(step + 1)), None);
        let next = totp.code(&secret, step + 1);
        assert_eq!(totp.verify(&secret, &next, now, Some(step)), Some(step + 1));
        let previous = totp.code(&secret, step - 1);
        assert_eq!(totp.verify(&secret, &previous, now, Some(step)), None);
        // Spaces are ignored; wrong lengths, letters and other codes are not accepted.
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(totp.verify(&secret, &spaced, now, None), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(totp.verify(&secret, bad, now, None), None, "{bad}");
        }
        // Step 0 and the largest times do not overflow.
        assert!(
            totp.verify(&secret, &totp.code(&secret, 0), 0, None)
                .is_some()
        );
        let _ = totp.verify(&secret, "000000", u64::MAX, None);
    }

    #[test]
    fn secrets_are_160_bits_in_base32() {
        let s = Secret::generate();
        assert_eq!(s.as_bytes().len(), 20);
        assert_ne!(s, Secret::generate());
        let text = s.to_base32();
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(Secret::from_base32(&text), Some(s.clone()));
        let typed = text.to_lowercase().replace("", " ");
        assert_eq!(Secret::from_base32(&typed), Some(s));
        // RFC 4648 §10.
        assert_eq!(Secret::from_bytes(b"foobar").to_base32(), "MZXW6YTBOI");
        assert_eq!(
            Secret::from_base32("MZXW6YTBOI======").map(|s| s.0),
            Some(b"foobar".to_vec())
        );
        assert_eq!(Secret::from_base32("not base32!"), None);
        assert_eq!(Secret::from_base32(""), None);
        assert_eq!(format!("{:?}", Secret::generate()), "Secret(…)");
    }

    #[test]
    fn uri_is_percent_encoded() {
        let secret = Secret::from_bytes(b"foobar");
        let uri = Totp::default().uri("Acme Support", "léa@example.com", &secret);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Support:l%C3%A9a%40example.com?secret=MZXW6YTBOI\
             &issuer=Acme%20Support&algorithm=SHA1&digits=6&period=30"
        );
        let odd = Totp::default().uri("A&B", "x:y?z", &secret);
        assert!(odd.starts_with("otpauth://totp/A%26B:x%3Ay%3Fz?"), "{odd}");
        assert!(odd.contains("&issuer=A%26B&"), "{odd}");
    }
}
