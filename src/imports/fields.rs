//! The checks of single cells an import makes before the gateway's own: email and phone
//! syntax, lists in one cell, the chat limit, channels from the configured catalog. Pure.

use std::collections::HashSet;

/// The separators of a list in one cell (skill groups, channels): `;`, `,`, `、` and their
/// fullwidth forms `；` and `，`.
pub fn split_list(cell: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    cell.split([';', ',', '、', '；', '，'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(s.to_lowercase()))
        .map(str::to_owned)
        .collect()
}

/// An email address: one `@`, something before it, a domain with a dot after it, no spaces.
pub fn check_email(s: &str) -> Result<(), String> {
    let bad = || Err(format!("{s:?} is not an email address (name@example.com)"));
    let Some((local, domain)) = s.split_once('@') else {
        return bad();
    };
    if local.is_empty()
        || domain.contains('@')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return bad();
    }
    Ok(())
}

/// A phone number: digits with an optional leading `+`, spaces, `-`, `.`, `(` `)` as
/// grouping, and 5 to 20 digits in all.
pub fn check_phone(s: &str) -> Result<(), String> {
    let body = s.strip_prefix('+').unwrap_or(s);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(format!(
            "{s:?} is not a phone number (digits, optionally a leading + and spaces or dashes)"
        ));
    }
    Ok(())
}

/// The chat limit: a whole number, 0 or more.
pub fn parse_max_chats(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of chats (0 or more)")),
    }
}

/// Each channel in the cell as the catalog spells it (compared without case); an unknown
/// one is an error naming the catalog.
pub fn channels(cell: &str, catalog: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for c in split_list(cell) {
        match catalog.iter().find(|k| k.eq_ignore_ascii_case(&c)) {
            Some(k) => out.push(k.clone()),
            None => {
                return Err(format!(
                    "unknown channel {c:?}; channels: {}",
                    catalog.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_any_separator() {
        assert_eq!(
            split_list("售前、售后; vip ,VIP，退款；"),
            vec!["售前", "售后", "vip", "退款"]
        );
        assert!(split_list(" ; ").is_empty());
    }

    #[test]
    fn emails() {
        for ok in ["a@b.cn", "li.lei+cs@example.com.cn", "李雷@例子.中国"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.cn", "a@b", "a b@c.cn", "a@b@c.cn", "a@.cn", "a@b..cn",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in [
            "+86 138 0013 8000",
            "010-12345678",
            "(555) 123.4567",
            "12345",
        ] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1234",
            "call me",
            "+86 138 0013 8000 ext 5",
            "++8613800138000",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chat_limits_and_channels() {
        assert_eq!(parse_max_chats("8"), Ok(8));
        assert!(parse_max_chats("-1").is_err());
        assert!(parse_max_chats("3.5").is_err());
        assert!(parse_max_chats("many").is_err());
        let catalog = vec!["web".to_owned(), "wechat".to_owned()];
        assert_eq!(
            channels("Web、wechat", &catalog),
            Ok(vec!["web".into(), "wechat".into()])
        );
        assert!(
            channels("web;fax", &catalog)
                .unwrap_err()
                .contains("\"fax\"")
        );
    }
}
