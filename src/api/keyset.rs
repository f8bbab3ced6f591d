//! Opaque cursors of the admin API's keyset lists (audit entries, sync runs): the id a page
//! ends at, signed like the SCIM cursors (`http::cursor`, HMAC-SHA256 under the server's
//! cursor key) with the kind of list in the signed text, so that a cursor is neither forged,
//! altered nor taken from one list to another.

use chrono::DateTime;

use super::problem::Problem;
use crate::http::cursor;

/// The cursor continuing a list of `kind` below `id`.
pub fn encode(key: &[u8], kind: &str, id: i64) -> String {
    let epoch = DateTime::UNIX_EPOCH.naive_utc();
    cursor::encode(key, &(epoch, format!("{kind}:{id}")))
}

/// The id a cursor of `kind` continues below; a 400 problem for anything this server did
/// not issue for that kind of list.
pub fn decode(key: &[u8], kind: &str, text: &str) -> Result<i64, Problem> {
    let bad = || Problem::bad_request("the cursor is not one Rollcall issued for this list");
    let (_, payload) = cursor::decode(key, text).map_err(|_| bad())?;
    payload
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(bad)
}

/// The page size a request asks for: `default` when absent; 1 to `max`, else a 400.
pub fn limit(asked: Option<i64>, default: i64, max: i64) -> Result<i64, Problem> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(Problem::bad_request(format!(
            "limit must be between 1 and {max} (got {n})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_in_their_list() {
        let key = b"k".repeat(32);
        let c = encode(&key, "audit", 42);
        assert_eq!(decode(&key, "audit", &c).expect("valid"), 42);
        assert_eq!(
            decode(&key, "runs", &c).expect_err("other list").status,
            400
        );
        assert_eq!(
            decode(b"other", "audit", &c).expect_err("other key").status,
            400
        );
        assert_eq!(decode(&key, "audit", "junk").expect_err("junk").status, 400);
        // A SCIM cursor (a time and an agent id) is not an audit cursor.
        let scim = cursor::encode(&key, &(DateTime::UNIX_EPOCH.naive_utc(), "0193-ab".into()));
        assert_eq!(decode(&key, "audit", &scim).expect_err("scim").status, 400);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None, 50, 500).expect("default"), 50);
        assert_eq!(limit(Some(500), 50, 500).expect("max"), 500);
        assert_eq!(limit(Some(0), 50, 500).expect_err("zero").status, 400);
        assert_eq!(limit(Some(501), 50, 500).expect_err("big").status, 400);
    }
}
