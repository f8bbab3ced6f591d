//! Searches for the LDAP source: the Paged Results control (RFC 2696) driven page by page,
//! with every way a search can come back short turned into an error. A search either
//! delivers every entry the server has for it, or fails.

use std::time::Duration;

use ldap3::asn1::{PL, StructureTag, parse_tag};
use ldap3::controls::{PagedResults, RawControl};
use ldap3::{Ldap, LdapError, LdapResult, Scope};

use super::LdapSettings;
use crate::sources::SourceError;

const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// Protocol tags of the messages a search returns.
const SEARCH_RESULT_ENTRY: u64 = 4;
const SEARCH_RESULT_REFERENCE: u64 = 19;

/// Pages in a row that may come back empty before paging is taken to be stuck. Active
/// Directory can return empty pages while it scans, so some are normal.
const MAX_EMPTY_PAGES: u32 = 1000;

/// One search to run.
pub(super) struct Search<'a> {
    /// Names the search in errors and logs ("people search", …).
    pub what: &'a str,
    pub base: &'a str,
    pub scope: Scope,
    pub filter: &'a str,
    pub attrs: &'a [String],
}

/// Runs `search`, paged with the configured page size, handing each entry to `on_entry`.
/// Returns the number of entries. Anything short of the server's confirmation that the
/// search is complete is an error.
pub(super) async fn search<F>(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    search: Search<'_>,
    on_entry: F,
) -> Result<usize, SourceError>
where
    F: FnMut(StructureTag) -> Result<(), SourceError>,
{
    run(ldap, settings, settings.page_size, search, on_entry).await
}

/// Runs a search without paging (for reading a single entry).
pub(super) async fn search_unpaged<F>(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    search: Search<'_>,
    on_entry: F,
) -> Result<usize, SourceError>
where
    F: FnMut(StructureTag) -> Result<(), SourceError>,
{
    run(ldap, settings, 0, search, on_entry).await
}

async fn run<F>(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    page_size: i32,
    search: Search<'_>,
    mut on_entry: F,
) -> Result<usize, SourceError>
where
    F: FnMut(StructureTag) -> Result<(), SourceError>,
{
    let timeout = Duration::from_secs(settings.timeout_secs);
    let what = format!("{} under {:?}", search.what, search.base);
    let mut cookie: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut pages = 0u64;
    let mut empty_pages = 0u32;
    loop {
        pages += 1;
        if page_size > 0 {
            let control: RawControl = PagedResults {
                size: page_size,
                cookie: cookie.clone(),
            }
            .into();
            ldap.with_controls(vec![control]);
        }
        ldap.with_timeout(timeout);
        let mut stream = ldap
            .streaming_search(search.base, search.scope, search.filter, search.attrs)
            .await
            .map_err(|e| op_error(&what, settings, e))?;
        let mut in_page = 0usize;
        loop {
            match stream.next().await {
                Ok(Some(entry)) => match entry.0.id {
                    SEARCH_RESULT_ENTRY => {
                        in_page += 1;
                        if let Err(e) = on_entry(entry.0) {
                            // The rest of this search is of no use: the server is asked to
                            // stop sending it (what is already on its way is dropped), and
                            // the caller closes the connection.
                            let ldap = stream.ldap_handle();
                            let id = ldap.last_id();
                            let _ = tokio::time::timeout(Duration::from_secs(1), ldap.abandon(id))
                                .await;
                            let _ = stream.finish().await;
                            return Err(e);
                        }
                    }
                    SEARCH_RESULT_REFERENCE => {
                        tracing::debug!(search = %what, "search continuation reference ignored");
                    }
                    _ => {}
                },
                Ok(None) => break,
                Err(e) => return Err(op_error(&what, settings, e)),
            }
        }
        total += in_page;
        let result = stream.finish().await;
        check_result(&what, &result, total)?;
        if page_size == 0 {
            return Ok(total);
        }
        let response = result
            .ctrls
            .iter()
            .find(|c| c.1.ctype == PAGED_RESULTS_OID)
            .map(|c| response_cookie(&c.1));
        match response {
            // A server that does not page answers the first request in full (a size limit
            // would have shown in the result code).
            None if pages == 1 => return Ok(total),
            None => {
                return Err(SourceError::Truncated(format!(
                    "{what}: the server stopped paging after {total} entries (page {pages} came \
                     back without a paged-results control)"
                )));
            }
            Some(None) => {
                return Err(SourceError::Truncated(format!(
                    "{what}: malformed paged-results control after {total} entries"
                )));
            }
            Some(Some(next)) if next.is_empty() => return Ok(total),
            Some(Some(next)) => {
                if in_page == 0 {
                    empty_pages += 1;
                    if next == cookie || empty_pages > MAX_EMPTY_PAGES {
                        return Err(SourceError::Truncated(format!(
                            "{what}: paging made no progress after {total} entries"
                        )));
                    }
                } else {
                    empty_pages = 0;
                }
                cookie = next;
            }
        }
    }
}

/// Turns a search's final result into an error unless it is plain success.
fn check_result(what: &str, result: &LdapResult, total: usize) -> Result<(), SourceError> {
    let text = result_text(&result.text);
    match result.rc {
        0 => Ok(()),
        3 => Err(SourceError::Truncated(format!(
            "{what}: the server's time limit stopped the search after {total} entries"
        ))),
        4 => Err(SourceError::Truncated(format!(
            "{what}: the server's size limit stopped the search after {total} entries"
        ))),
        11 => Err(SourceError::Truncated(format!(
            "{what}: administrative limit exceeded after {total} entries{text}"
        ))),
        10 => Err(SourceError::Search(format!(
            "{what}: the server referred the search to {}; point url and base_dn at the server \
             holding the entries",
            result.refs.join(", ")
        ))),
        32 => Err(SourceError::Search(format!(
            "{what}: the base does not exist"
        ))),
        50 => Err(SourceError::Search(format!(
            "{what}: insufficient access rights{text}"
        ))),
        rc => Err(SourceError::Search(format!(
            "{what}: result code {rc}{text}"
        ))),
    }
}

/// The server's diagnostic message, ready to append (empty when there is none).
pub(super) fn result_text(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

fn op_error(what: &str, settings: &LdapSettings, e: LdapError) -> SourceError {
    match e {
        LdapError::Timeout { .. } => SourceError::Timeout(format!(
            "{what}: no answer within {} s",
            settings.timeout_secs
        )),
        LdapError::FilterParsing => SourceError::Config(format!("{what}: invalid filter")),
        LdapError::EndOfStream | LdapError::ResultRecv { .. } | LdapError::OpSend { .. } => {
            SourceError::Search(format!("{what}: connection to {} lost", settings.url))
        }
        other => SourceError::Search(format!("{what}: {other}")),
    }
}

/// The cookie of a paged-results response control: `Some(cookie)`, or `None` when the
/// control cannot be read.
fn response_cookie(control: &RawControl) -> Option<Vec<u8>> {
    let value = control.val.as_deref()?;
    let (_, tag) = parse_tag(value).ok()?;
    let PL::C(parts) = tag.payload else {
        return None;
    };
    let mut parts = parts.into_iter();
    let _size = parts.next()?;
    match parts.next()?.payload {
        PL::P(cookie) => Some(cookie),
        PL::C(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(val: Option<Vec<u8>>) -> RawControl {
        RawControl {
            ctype: PAGED_RESULTS_OID.into(),
            crit: false,
            val,
        }
    }

    #[test]
    fn cookies_round_trip() {
        let sent: RawControl = PagedResults {
            size: 0,
            cookie: b"abc\x00\xff".to_vec(),
        }
        .into();
        assert_eq!(
            response_cookie(&control(sent.val)),
            Some(b"abc\x00\xff".to_vec())
        );
        let last: RawControl = PagedResults {
            size: 12,
            cookie: vec![],
        }
        .into();
        assert_eq!(response_cookie(&control(last.val)), Some(vec![]));
    }

    #[test]
    fn malformed_controls_are_none_not_panics() {
        for val in [
            None,
            Some(vec![]),
            Some(vec![0x30]),
            Some(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
            Some(vec![0x04, 0x02, 0x41, 0x42]),
            Some(vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Some(vec![0x30, 0x05, 0x02, 0x01, 0x00, 0x30, 0x00]),
        ] {
            assert_eq!(response_cookie(&control(val)), None);
        }
    }

    #[test]
    fn result_codes() {
        let res = |rc| LdapResult {
            rc,
            matched: String::new(),
            text: String::new(),
            refs: vec![],
            ctrls: vec![],
        };
        assert!(check_result("s", &res(0), 3).is_ok());
        assert!(matches!(
            check_result("s", &res(4), 3),
            Err(SourceError::Truncated(_))
        ));
        assert!(matches!(
            check_result("s", &res(11), 3),
            Err(SourceError::Truncated(_))
        ));
        assert!(matches!(
            check_result("s", &res(32), 3),
            Err(SourceError::Search(_))
        ));
    }
}
