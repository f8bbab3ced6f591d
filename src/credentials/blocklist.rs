//! Passwords refused because they are common: the shipped list (`common-passwords.txt`, see
//! `common-passwords.NOTICE` beside it for its source and licence; rebuilt by
//! `scripts/make-blocklist`), embedded in the binary and read once, plus the admin's own list
//! (`auth.password_policy.blocklist`, usually from `blocklist_file`). Entries and candidates are compared by their
//! [`fold`](crate::domain::names::fold) (NFKC, then case-insensitive).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use crate::domain::names::fold;

const SHIPPED: &str = include_str!("common-passwords.txt");

static SHIPPED_SET: LazyLock<Arc<HashSet<String>>> =
    LazyLock::new(|| Arc::new(entries(SHIPPED).collect()));

fn entries(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(fold)
}

/// The shipped list and, when configured, the admin's.
#[derive(Clone)]
pub struct Blocklist {
    shipped: Arc<HashSet<String>>,
    own: HashSet<String>,
}

impl std::fmt::Debug for Blocklist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocklist")
            .field("shipped", &self.shipped.len())
            .field("own", &self.own.len())
            .finish()
    }
}

impl Blocklist {
    /// The shipped list alone.
    pub fn shipped() -> Blocklist {
        Blocklist {
            shipped: SHIPPED_SET.clone(),
            own: HashSet::new(),
        }
    }

    /// The shipped list and the passwords of `text` (one per line).
    pub fn with_own(text: &str) -> Blocklist {
        Blocklist {
            own: entries(text).collect(),
            ..Blocklist::shipped()
        }
    }

    /// Whether `password` (in any case or compatibility form) is on either list.
    pub fn contains(&self, password: &str) -> bool {
        let key = fold(password);
        self.shipped.contains(&key) || self.own.contains(&key)
    }

    /// Entries: (shipped, the admin's).
    pub fn len(&self) -> (usize, usize) {
        (self.shipped.len(), self.own.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_is_large_lower_case_and_sorted() {
        let (shipped, own) = Blocklist::shipped().len();
        assert!(shipped >= 10_000, "{shipped}");
        assert_eq!(own, 0);
        let lines: Vec<&str> = SHIPPED.lines().collect();
        assert!(
            lines.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(
            lines
                .iter()
                .all(|l| *l == l.to_lowercase() && !l.is_empty())
        );
    }

    #[test]
    fn common_passwords_are_found_in_any_case_and_width() {
        let b = Blocklist::shipped();
        for common in [
            "password",
            "PassWord",
            "123456",
            "qwerty",
            "ｐａｓｓｗｏｒｄ",
            "iloveyou",
        ] {
            assert!(b.contains(common), "{common}");
        }
        assert!(!b.contains("violet-harbour-kettle-7"));
        assert!(!b.contains(""));
    }

    #[test]
    fn the_admins_list_adds_entries() {
        let b = Blocklist::with_own("AcmeSupport2026\r\n\n  \nwinter-is-coming\n");
        assert_eq!(b.len().1, 2);
        assert!(b.contains("acmesupport2026"));
        assert!(b.contains("WINTER-IS-COMING"));
        assert!(b.contains("password"), "the shipped list still applies");
    }
}
