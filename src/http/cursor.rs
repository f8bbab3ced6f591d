//! List cursors (RFC 9865): a keyset position (creation time, id) and the count carried from
//! a listing's first page, signed with HMAC-SHA256 under the server's cursor key, so that a
//! client can neither forge nor alter one; and the sealing other cursors use (the admin
//! agent list's), each kind under a domain of its own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::scim::error::{ScimError, ScimType};

/// A keyset position: (created_at, id).
pub type Position = (NaiveDateTime, String);

/// What the MAC covers besides the position: a cursor of another kind or version of this
/// format never verifies.
const DOMAIN: &[u8] = b"rollcall cursor v1\0";

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in message {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `base64url(payload) "." base64url(HMAC(domain ‖ payload))`: a payload a client can read
/// but neither forge nor alter. `domain` keeps kinds of token apart: a token sealed under one
/// never opens under another.
pub fn seal(key: &[u8], domain: &[u8], payload: &[u8]) -> String {
    let mac = hmac_sha256(key, &[domain, payload]);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// The payload of a token [`seal`]ed under `key` and `domain`; `None` for anything else.
pub fn open(key: &[u8], domain: &[u8], token: &str) -> Option<Vec<u8>> {
    let (payload, mac) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    let expected = hmac_sha256(key, &[domain, &payload]);
    bool::from(expected.as_slice().ct_eq(&mac)).then_some(payload)
}

/// The count a cursor carries from the first page of a listing: `totalResults` then, and a
/// fingerprint of the query it answered (a cursor presented with another filter is counted
/// again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub total: i64,
    pub query: String,
}

/// `base64url(<created micros>.<id>) "." base64url(HMAC)`: opaque to clients.
pub fn encode(key: &[u8], pos: &Position) -> String {
    encode_list(key, pos, None)
}

/// A cursor for the page after `pos`, carrying the first page's count when given
/// (`<micros>.<id>.<total>.<query fingerprint>`).
pub fn encode_list(key: &[u8], pos: &Position, carried: Option<&Carried>) -> String {
    let mut payload = format!("{}.{}", pos.0.and_utc().timestamp_micros(), pos.1);
    if let Some(c) = carried {
        payload.push_str(&format!(".{}.{}", c.total, c.query));
    }
    seal(key, DOMAIN, payload.as_bytes())
}

/// The position in a cursor this server issued; `400 invalidCursor` for anything else
/// (malformed, altered, signed with another key, or from before cursors were signed).
pub fn decode(key: &[u8], cursor: &str) -> Result<Position, ScimError> {
    decode_list(key, cursor).map(|(pos, _)| pos)
}

/// The position and, for cursors issued since 2026-12-03, the count carried from the first
/// page.
pub fn decode_list(key: &[u8], cursor: &str) -> Result<(Position, Option<Carried>), ScimError> {
    let bad = || {
        ScimError::bad_request(
            ScimType::InvalidCursor,
            "the cursor is not one Rollcall issued",
        )
    };
    let payload = open(key, DOMAIN, cursor).ok_or_else(bad)?;
    let text = String::from_utf8(payload).map_err(|_| bad())?;
    let mut parts = text.split('.');
    let micros: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let id = parts.next().ok_or_else(bad)?;
    let carried = match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) => None,
        (Some(total), Some(query), None) => Some(Carried {
            total: total.parse().map_err(|_| bad())?,
            query: query.to_owned(),
        }),
        _ => return Err(bad()),
    };
    let at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(bad)?
        .naive_utc();
    Ok(((at, id.to_owned()), carried))
}

/// A short fingerprint of a query (what a carried count is valid for).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test cases 1 and 2.
        let mac = hmac_sha256(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(
            hex::encode(mac),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = b"k".repeat(32);
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456)
            .expect("time")
            .naive_utc();
        let pos = (at, "0193-abc".to_owned());
        let c = encode(&key, &pos);
        assert_eq!(decode(&key, &c).expect("valid"), pos);
        // Another key, an altered position, an unsigned (old-style) cursor, junk.
        assert!(decode(b"other key", &c).is_err());
        let (payload, mac) = c.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(format!("{}.0193-abc", 1_764_000_000_123_457i64));
        assert!(decode(&key, &format!("{forged}.{mac}")).is_err());
        assert!(decode(&key, payload).is_err());
        // A carried count round-trips; a cursor with a stray field does not verify.
        let carried = Carried {
            total: 1234,
            query: fingerprint(&[b"Users", b"filter"]),
        };
        let c2 = encode_list(&key, &pos, Some(&carried));
        assert_eq!(
            decode_list(&key, &c2).expect("valid"),
            (pos.clone(), Some(carried))
        );
        assert_eq!(decode(&key, &c2).expect("valid"), pos);
        assert_eq!(decode_list(&key, &c).expect("valid").1, None);
        let odd = seal(&key, DOMAIN, b"1764000000123456.id.12");
        assert!(decode(&key, &odd).is_err());
        for junk in ["", ".", "a.b", "!!!.???", "é.é"] {
            let e = decode(&key, junk).expect_err(junk);
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
        }
    }
}
