//! What the access log may show of a request line: the values of credential-like query
//! parameters are replaced by `[redacted]`.

use actix_web::dev::ServiceRequest;

/// Query parameters whose values are never logged, compared case-insensitively after
/// percent-decoding the name (documented in docs/scim.md). A name also counts when it ends
/// in one of them after `_`, `-` or `.` (`client_secret`, `x-api-key`, `id_token`).
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apikey",
    "key",
    "code",
    "auth",
    "authorization",
    "bearer",
    "credential",
    "credentials",
    "session",
    "sig",
    "signature",
];

const REDACTED: &str = "[redacted]";

/// Whether the query parameter `name` (already decoded) names a secret.
pub fn is_secret_param(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| {
        lower == *s
            || lower
                .strip_suffix(s)
                .is_some_and(|head| head.ends_with(['_', '-', '.']))
    })
}

/// `query` with the values of secret parameters replaced; names and other values as sent.
pub fn query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        out.push_str(name);
        if let Some(value) = value {
            out.push('=');
            if is_secret_param(&decode(name)) {
                out.push_str(REDACTED);
            } else {
                out.push_str(value);
            }
        }
    }
    out
}

/// Percent- and `+`-decoding, lossy (only used to compare names).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The request line as the access log shows it: `GET /scim/v2/Users?… HTTP/1.1`.
pub fn request_line(req: &ServiceRequest) -> String {
    let path = req.path();
    let qs = req.query_string();
    if qs.is_empty() {
        format!("{} {} {:?}", req.method(), path, req.version())
    } else {
        format!(
            "{} {}?{} {:?}",
            req.method(),
            path,
            query(qs),
            req.version()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_redacted() {
        assert_eq!(
            query("access_token=abc&filter=userName%20eq%20%22x%22"),
            "access_token=[redacted]&filter=userName%20eq%20%22x%22"
        );
        assert_eq!(query("Access_Token=abc"), "Access_Token=[redacted]");
        assert_eq!(query("access%5Ftoken=abc"), "access%5Ftoken=[redacted]");
        assert_eq!(
            query("client_secret=s&x-api-key=k"),
            "client_secret=[redacted]&x-api-key=[redacted]"
        );
        assert_eq!(
            query("PASSWORD=hunter2&count=5"),
            "PASSWORD=[redacted]&count=5"
        );
        assert_eq!(
            query("code=1&key=2&sig=3"),
            "code=[redacted]&key=[redacted]&sig=[redacted]"
        );
        assert_eq!(query("token"), "token");
        assert_eq!(query("a=1&&b=2&"), "a=1&&b=2&");
    }

    #[test]
    fn ordinary_names_are_kept() {
        for name in [
            "filter",
            "count",
            "startIndex",
            "monkey",
            "tokens",
            "keyboard",
            "attributes",
            "cursor",
        ] {
            assert!(!is_secret_param(name), "{name}");
        }
        for name in [
            "token",
            "ID_TOKEN",
            "refresh_token",
            "api-key",
            "apiKey",
            "session",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
    }

    #[test]
    fn decoding_never_panics() {
        for s in ["%", "%4", "%zz", "%%%", "é%e9", "+%2"] {
            let _ = decode(s);
            let _ = query(&format!("{s}={s}"));
        }
        assert_eq!(decode("a%5Fb+c"), "a_b c");
    }
}
