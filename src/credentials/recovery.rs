//! MFA recovery codes: `xxxx-xxxx-xxxx`, twelve characters of Crockford's base32 alphabet
//! (digits and lower-case letters without i, l, o and u: 60 random bits), stored as SHA-256
//! hashes of their canonical form. Reading a code forgives case, spaces, missing dashes and
//! the look-alikes Crockford maps (o → 0; i, l → 1). Each code is good once: the caller marks
//! the one [`find`] returns as used.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Crockford's base32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const GROUPS: usize = 3;
const GROUP_LEN: usize = 4;

/// Random bits in one code.
pub const BITS: u32 = (GROUPS * GROUP_LEN) as u32 * 5;

/// `n` new codes, as shown to the agent.
pub fn generate(n: usize) -> Vec<String> {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| {
            let groups: Vec<String> = (0..GROUPS)
                .map(|_| {
                    (0..GROUP_LEN)
                        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                        .collect()
                })
                .collect();
            groups.join("-")
        })
        .collect()
}

/// The canonical form of a typed code (twelve alphabet characters), if it can be one.
fn canonical(code: &str) -> Option<String> {
    let mut out = String::with_capacity(GROUPS * GROUP_LEN);
    for c in code.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == GROUPS * GROUP_LEN).then_some(out)
}

/// What is stored for a code: SHA-256 of its canonical form, in hex. A code can only be
/// guessed, never derived from this (60 random bits), so a fast hash is enough.
pub fn hash(code: &str) -> Option<String> {
    canonical(code).map(|c| hex::encode(Sha256::digest(c.as_bytes())))
}

/// The index in `stored` (hashes from [`hash`]; used ones left out by the caller) of the
/// code typed, comparing with every stored hash in constant time.
pub fn find(code: &str, stored: &[String]) -> Option<usize> {
    let presented = hash(code)?;
    let mut found = None;
    for (i, h) in stored.iter().enumerate() {
        let same: bool = h.as_bytes().ct_eq(presented.as_bytes()).into();
        if same && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_random_and_long_enough() {
        const { assert!(BITS >= 60) };
        let codes = generate(10);
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(parts.len(), 3);
            assert!(parts.iter().all(|p| p.len() == 4));
            assert!(
                code.chars()
                    .all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
                "{code}"
            );
            assert!(!code.contains(['i', 'l', 'o', 'u']), "{code}");
        }
        assert!(generate(0).is_empty());
    }

    #[test]
    fn stored_hashes_find_their_code_however_typed() {
        let codes = generate(10);
        let stored: Vec<String> = codes.iter().map(|c| hash(c).expect("hash")).collect();
        assert!(stored.iter().all(|h| h.len() == 64));
        assert!(
            !stored
                .iter()
                .any(|h| codes.iter().any(|c| h.contains(c.as_str())))
        );
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(find(code, &stored), Some(i));
            assert_eq!(find(&code.to_uppercase(), &stored), Some(i));
            assert_eq!(find(&code.replace('-', ""), &stored), Some(i));
            assert_eq!(find(&code.replace('-', " "), &stored), Some(i));
        }
        assert_eq!(hash("0000-1111-abcd"), hash("OOOO-IlIl-ABCD"));
        // Used codes (taken out of the list by the caller) no longer match.
        let rest: Vec<String> = stored[1..].to_vec();
        assert_eq!(find(&codes[0], &rest), None);
        for bad in [
            "",
            "0000-1111",
            "0000-1111-abcd-e",
            "0000-1111-abcu",
            "ÿÿÿÿ-1111-abcd",
        ] {
            assert_eq!(find(bad, &stored), None, "{bad}");
            assert!(hash(bad).is_none(), "{bad}");
        }
    }
}
