//! RFC 4533 content synchronisation ("syncrepl") as a consumer: the Sync Request control,
//! and the Sync State / Sync Done controls and Sync Info messages the server answers with,
//! read without panicking on anything the server sends. `refresh` runs a refreshOnly
//! search to its end; `Persist` keeps a refreshAndPersist search open and hands out what
//! arrives.

use std::collections::HashSet;

use ldap3::asn1::{PL, StructureTag, TagClass, parse_tag};
use ldap3::controls::{RawControl, RefreshMode, SyncRequest};
use ldap3::{Ldap, LdapError, Scope, SearchOptions};

use super::LdapSettings;
use crate::sources::SourceError;

pub(super) const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";
const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
const SYNC_INFO_OID: &str = "1.3.6.1.4.1.4203.1.9.1.4";

/// Result code `e-syncRefreshRequired` (RFC 4533 §2.10): the cookie is too old, start over.
const SYNC_REFRESH_REQUIRED: u32 = 4096;

const SEARCH_RESULT_ENTRY: u64 = 4;
const INTERMEDIATE_RESPONSE: u64 = 25;

/// The state a Sync State control gives an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Present,
    Add,
    Modify,
    Delete,
}

/// A Sync State control: the entry's state, its `entryUUID` and maybe a new cookie.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SyncState {
    pub state: State,
    pub uuid: String,
    pub cookie: Option<Vec<u8>>,
}

/// A Sync Info message (an intermediate response).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SyncInfo {
    NewCookie(Vec<u8>),
    /// The end of a delete phase (`deletes`) or of a present phase; `refresh_done`: the
    /// refresh is over.
    Refresh {
        deletes: bool,
        cookie: Option<Vec<u8>>,
        refresh_done: bool,
    },
    /// Many entries at once: deleted (`refresh_deletes`) or still present.
    IdSet {
        cookie: Option<Vec<u8>>,
        refresh_deletes: bool,
        uuids: Vec<String>,
    },
}

/// One message of a sync search.
#[derive(Debug)]
pub(super) enum Message {
    /// An entry and its state; for `Delete` and `Present` the entry may carry no attributes.
    Entry(SyncState, StructureTag),
    Info(SyncInfo),
}

/// An `entryUUID` as OpenLDAP writes it: lower-case, hyphenated.
fn uuid_text(bytes: &[u8]) -> Option<String> {
    let b: [u8; 16] = bytes.try_into().ok()?;
    Some(uuid::Uuid::from_bytes(b).hyphenated().to_string())
}

fn children(tag: StructureTag) -> Option<Vec<StructureTag>> {
    match tag.payload {
        PL::C(parts) => Some(parts),
        PL::P(_) => None,
    }
}

fn primitive(tag: StructureTag) -> Option<Vec<u8>> {
    match tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

fn is_universal(tag: &StructureTag, id: u64) -> bool {
    tag.class == TagClass::Universal && tag.id == id
}

const BOOLEAN: u64 = 1;
const INTEGER_ENUMERATED: u64 = 10;
const OCTET_STRING: u64 = 4;
const SET: u64 = 17;

fn boolean(tag: StructureTag) -> Option<bool> {
    primitive(tag).and_then(|b| b.first().map(|v| *v != 0))
}

/// Parses the value of a Sync State control.
pub(super) fn parse_state(value: &[u8]) -> Option<SyncState> {
    let (_, tag) = parse_tag(value).ok()?;
    let mut parts = children(tag)?.into_iter();
    let state = parts.next()?;
    if !is_universal(&state, INTEGER_ENUMERATED) {
        return None;
    }
    let state = match primitive(state)?.as_slice() {
        [0] => State::Present,
        [1] => State::Add,
        [2] => State::Modify,
        [3] => State::Delete,
        _ => return None,
    };
    let uuid = uuid_text(&primitive(parts.next()?)?)?;
    let cookie = match parts.next() {
        Some(tag) => Some(primitive(tag)?),
        None => None,
    };
    Some(SyncState {
        state,
        uuid,
        cookie,
    })
}

/// Parses the value of a Sync Done control: (cookie, refreshDeletes).
pub(super) fn parse_done(value: &[u8]) -> Option<(Option<Vec<u8>>, bool)> {
    let (_, tag) = parse_tag(value).ok()?;
    let mut cookie = None;
    let mut refresh_deletes = false;
    for part in children(tag)? {
        if is_universal(&part, OCTET_STRING) && cookie.is_none() {
            cookie = Some(primitive(part)?);
        } else if is_universal(&part, BOOLEAN) {
            refresh_deletes = boolean(part)?;
        } else {
            return None;
        }
    }
    Some((cookie, refresh_deletes))
}

/// Parses the value of a Sync Info message.
pub(super) fn parse_info(value: &[u8]) -> Option<SyncInfo> {
    let (_, tag) = parse_tag(value).ok()?;
    if tag.class != TagClass::Context {
        return None;
    }
    let id = tag.id;
    if id == 0 {
        return Some(SyncInfo::NewCookie(primitive(tag)?));
    }
    if !(1..=3).contains(&id) {
        return None;
    }
    let mut cookie = None;
    // refreshDone defaults to TRUE, refreshDeletes to FALSE.
    let mut flag = id != 3;
    let mut uuids = Vec::new();
    for part in children(tag)? {
        if is_universal(&part, OCTET_STRING) && cookie.is_none() {
            cookie = Some(primitive(part)?);
        } else if is_universal(&part, BOOLEAN) {
            flag = boolean(part)?;
        } else if id == 3 && is_universal(&part, SET) {
            for uuid in children(part)? {
                uuids.push(uuid_text(&primitive(uuid)?)?);
            }
        } else {
            return None;
        }
    }
    Some(match id {
        1 | 2 => SyncInfo::Refresh {
            deletes: id == 1,
            cookie,
            refresh_done: flag,
        },
        _ => SyncInfo::IdSet {
            cookie,
            refresh_deletes: flag,
            uuids,
        },
    })
}

/// The OID and value of an IntermediateResponse.
fn intermediate_parts(tag: StructureTag) -> Option<(Option<String>, Option<Vec<u8>>)> {
    let mut oid = None;
    let mut value = None;
    for part in children(tag)? {
        match (part.class, part.id) {
            (TagClass::Context, 0) => oid = String::from_utf8(primitive(part)?).ok(),
            (TagClass::Context, 1) => value = primitive(part),
            _ => {}
        }
    }
    Some((oid, value))
}

/// Turns one item of the search stream into a message; `Ok(None)` for what a sync search
/// may ignore (references, other intermediate responses).
fn message(entry: ldap3::ResultEntry, what: &str) -> Result<Option<Message>, SourceError> {
    let malformed = |part: &str| SourceError::Search(format!("{what}: malformed {part}"));
    let (tag, controls) = (entry.0, entry.1);
    match tag.id {
        SEARCH_RESULT_ENTRY => {
            let state = controls
                .iter()
                .find(|c| c.1.ctype == SYNC_STATE_OID)
                .ok_or_else(|| malformed("entry (no Sync State control)"))?;
            let state = state
                .1
                .val
                .as_deref()
                .and_then(parse_state)
                .ok_or_else(|| malformed("Sync State control"))?;
            Ok(Some(Message::Entry(state, tag)))
        }
        INTERMEDIATE_RESPONSE => {
            let (oid, value) =
                intermediate_parts(tag).ok_or_else(|| malformed("intermediate response"))?;
            if oid.as_deref().is_some_and(|o| o != SYNC_INFO_OID) {
                return Ok(None);
            }
            let info = value
                .as_deref()
                .and_then(parse_info)
                .ok_or_else(|| malformed("Sync Info message"))?;
            Ok(Some(Message::Info(info)))
        }
        _ => Ok(None),
    }
}

/// How a refresh ended.
#[derive(Debug)]
pub(super) struct Done {
    /// The cookie to resume from next time (`None`: keep the one sent).
    pub cookie: Option<Vec<u8>>,
    /// True: the refresh listed deleted entries (delete phase). False: it listed the
    /// entries still present, and every entry not listed or changed is gone.
    pub refresh_deletes: bool,
}

/// Why a sync search could not be used.
#[derive(Debug)]
pub(super) enum SyncFailure {
    /// The server wants a fresh start: the cookie is too old or unknown.
    RefreshRequired,
    /// The server's size or administrative limit cut the search.
    Limited(SourceError),
    Other(SourceError),
}

impl From<SourceError> for SyncFailure {
    fn from(e: SourceError) -> Self {
        SyncFailure::Other(e)
    }
}

fn request(cookie: Option<&[u8]>, mode: RefreshMode) -> RawControl {
    let mut control: RawControl = SyncRequest {
        mode,
        cookie: cookie.map(<[u8]>::to_vec),
        reload_hint: false,
    }
    .into();
    // A server that cannot sync must say so, not answer an ordinary search.
    control.crit = true;
    control
}

/// Runs a refreshOnly sync search of the people under `base_dn`, handing each message to
/// `on_message`, and returns how it ended.
pub(super) async fn refresh<F>(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    attrs: &[String],
    cookie: Option<&[u8]>,
    mut on_message: F,
) -> Result<Done, SyncFailure>
where
    F: FnMut(Message) -> Result<(), SourceError>,
{
    let what = format!("content sync under {:?}", settings.base_dn);
    ldap.with_controls(vec![request(cookie, RefreshMode::RefreshOnly)]);
    // Ask for everything the server allows: a client asking for no limit gets the soft one.
    ldap.with_search_options(SearchOptions::new().sizelimit(i32::MAX));
    ldap.with_timeout(settings.timeout());
    let mut stream = ldap
        .streaming_search(
            &settings.base_dn,
            Scope::Subtree,
            &settings.user_filter,
            attrs,
        )
        .await
        .map_err(|e| SyncFailure::Other(op_error(&what, settings, e)))?;
    loop {
        match stream.next().await {
            Ok(Some(entry)) => {
                if let Some(m) = message(entry, &what)?
                    && let Err(e) = on_message(m)
                {
                    let _ = stream.finish().await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => return Err(SyncFailure::Other(op_error(&what, settings, e))),
        }
    }
    let result = stream.finish().await;
    match result.rc {
        0 => {}
        SYNC_REFRESH_REQUIRED => return Err(SyncFailure::RefreshRequired),
        4 | 11 => {
            return Err(SyncFailure::Limited(SourceError::Truncated(format!(
                "{what}: the server's limits stopped the search (result {}); give the bind DN \
                 unlimited size for sync searches",
                result.rc
            ))));
        }
        rc => {
            return Err(SyncFailure::Other(SourceError::Search(format!(
                "{what}: result code {rc}{}",
                super::paged::result_text(&result.text)
            ))));
        }
    }
    let done = result
        .ctrls
        .iter()
        .find(|c| c.1.ctype == SYNC_DONE_OID)
        .and_then(|c| c.1.val.as_deref().map(parse_done));
    match done {
        Some(Some((cookie, refresh_deletes))) => Ok(Done {
            cookie,
            refresh_deletes,
        }),
        // The control's value is optional; absent means no new cookie, delete phase.
        None => Ok(Done {
            cookie: None,
            refresh_deletes: true,
        }),
        Some(None) => Err(SyncFailure::Other(SourceError::Search(format!(
            "{what}: malformed Sync Done control"
        )))),
    }
}

/// An open refreshAndPersist search.
pub(super) struct Persist {
    stream: ldap3::SearchStream<'static, String, Vec<String>>,
    what: String,
    url: String,
}

impl Persist {
    /// Starts a refreshAndPersist search from `cookie` (from scratch without one).
    pub(super) async fn start(
        ldap: &mut Ldap,
        settings: &LdapSettings,
        attrs: &[String],
        cookie: Option<&[u8]>,
    ) -> Result<Persist, SourceError> {
        let what = format!("persistent content sync under {:?}", settings.base_dn);
        ldap.with_controls(vec![request(cookie, RefreshMode::RefreshAndPersist)]);
        ldap.with_search_options(SearchOptions::new().sizelimit(i32::MAX));
        let stream = ldap
            .streaming_search(
                &settings.base_dn,
                Scope::Subtree,
                &settings.user_filter,
                attrs.to_vec(),
            )
            .await
            .map_err(|e| op_error(&what, settings, e))?;
        Ok(Persist {
            stream,
            what,
            url: settings.url.clone(),
        })
    }

    /// The next message; waits as long as it takes. `Err(RefreshRequired)` when the server
    /// wants a fresh start, another error when the search or the connection ended.
    pub(super) async fn next(&mut self) -> Result<Message, SyncFailure> {
        loop {
            match self.stream.next().await {
                Ok(Some(entry)) => {
                    if let Some(m) = message(entry, &self.what)? {
                        return Ok(m);
                    }
                }
                Ok(None) => {
                    let rc = self.stream.res.as_ref().map(|r| r.rc);
                    return Err(match rc {
                        Some(SYNC_REFRESH_REQUIRED) => SyncFailure::RefreshRequired,
                        Some(rc) => SyncFailure::Other(SourceError::Search(format!(
                            "{}: the server ended the search (result code {rc})",
                            self.what
                        ))),
                        None => SyncFailure::Other(SourceError::Search(format!(
                            "{}: connection to {} lost",
                            self.what, self.url
                        ))),
                    });
                }
                Err(e) => {
                    return Err(SyncFailure::Other(SourceError::Search(format!(
                        "{}: {e}",
                        self.what
                    ))));
                }
            }
        }
    }
}

fn op_error(what: &str, settings: &LdapSettings, e: LdapError) -> SourceError {
    match e {
        LdapError::Timeout { .. } => SourceError::Timeout(format!(
            "{what}: no answer within {} s",
            settings.timeout_secs
        )),
        LdapError::EndOfStream | LdapError::ResultRecv { .. } | LdapError::OpSend { .. } => {
            SourceError::Search(format!("{what}: connection to {} lost", settings.url))
        }
        other => SourceError::Search(format!("{what}: {other}")),
    }
}

/// The bookkeeping of a refresh: which keys were reported present or deleted, the last
/// cookie, and whether the server said the refresh is over.
#[derive(Debug, Default)]
pub(super) struct Gathered {
    /// Keys reported present (unchanged).
    pub present: HashSet<String>,
    /// Keys reported deleted.
    pub deleted: HashSet<String>,
    /// The last cookie seen in a message.
    pub cookie: Option<Vec<u8>>,
    /// The refresh is over (persist mode): `Some(true)` after a delete phase, `Some(false)`
    /// after a present phase.
    pub refresh_done: Option<bool>,
}

impl Gathered {
    /// Takes one message; an added or changed entry is handed back (with its key) for the
    /// caller to read.
    pub(super) fn take(&mut self, message: Message) -> Option<(String, StructureTag)> {
        match message {
            Message::Entry(state, tag) => {
                if state.cookie.is_some() {
                    self.cookie = state.cookie;
                }
                match state.state {
                    State::Add | State::Modify => {
                        self.deleted.remove(&state.uuid);
                        return Some((state.uuid, tag));
                    }
                    State::Present => {
                        self.present.insert(state.uuid);
                    }
                    State::Delete => {
                        self.present.remove(&state.uuid);
                        self.deleted.insert(state.uuid);
                    }
                }
            }
            Message::Info(info) => match info {
                SyncInfo::NewCookie(c) => self.cookie = Some(c),
                SyncInfo::Refresh {
                    deletes,
                    cookie,
                    refresh_done,
                } => {
                    if cookie.is_some() {
                        self.cookie = cookie;
                    }
                    if refresh_done {
                        self.refresh_done = Some(deletes);
                    }
                }
                SyncInfo::IdSet {
                    cookie,
                    refresh_deletes,
                    uuids,
                } => {
                    if cookie.is_some() {
                        self.cookie = cookie;
                    }
                    if refresh_deletes {
                        for uuid in &uuids {
                            self.present.remove(uuid);
                        }
                        self.deleted.extend(uuids);
                    } else {
                        self.present.extend(uuids);
                    }
                }
            },
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_state_from_openldap() {
        // `ldapsearch -E sync=ro` against slapd 2.5: state add, entryUUID
        // 4e42ec6a-7bf1-1041-8531-8774abfda254, no cookie.
        let value = [
            0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10, 0x4e, 0x42, 0xec, 0x6a, 0x7b, 0xf1, 0x10,
            0x41, 0x85, 0x31, 0x87, 0x74, 0xab, 0xfd, 0xa2, 0x54,
        ];
        assert_eq!(
            parse_state(&value),
            Some(SyncState {
                state: State::Add,
                uuid: "4e42ec6a-7bf1-1041-8531-8774abfda254".into(),
                cookie: None,
            })
        );
    }

    #[test]
    fn sync_done_with_and_without_cookie() {
        // SEQUENCE { BOOLEAN TRUE }: no cookie, refreshDeletes.
        assert_eq!(
            parse_done(&[0x30, 0x03, 0x01, 0x01, 0xff]),
            Some((None, true))
        );
        // SEQUENCE { OCTET STRING "c1" }: a cookie, present phase.
        assert_eq!(
            parse_done(&[0x30, 0x04, 0x04, 0x02, b'c', b'1']),
            Some((Some(b"c1".to_vec()), false))
        );
        assert_eq!(parse_done(&[0x30, 0x00]), Some((None, false)));
    }

    #[test]
    fn sync_info_variants() {
        assert_eq!(
            parse_info(&[0x80, 0x02, b'c', b'2']),
            Some(SyncInfo::NewCookie(b"c2".to_vec()))
        );
        // refreshPresent [2] SEQUENCE { cookie, refreshDone FALSE }
        assert_eq!(
            parse_info(&[0xa2, 0x07, 0x04, 0x02, b'c', b'3', 0x01, 0x01, 0x00]),
            Some(SyncInfo::Refresh {
                deletes: false,
                cookie: Some(b"c3".to_vec()),
                refresh_done: false,
            })
        );
        // refreshDelete [1] SEQUENCE {}: refreshDone defaults to TRUE.
        assert_eq!(
            parse_info(&[0xa1, 0x00]),
            Some(SyncInfo::Refresh {
                deletes: true,
                cookie: None,
                refresh_done: true,
            })
        );
        // syncIdSet [3] SEQUENCE { refreshDeletes TRUE, SET { uuid } }
        let mut value = vec![0xa3, 0x17, 0x01, 0x01, 0xff, 0x31, 0x12, 0x04, 0x10];
        value.extend([0x11; 16]);
        assert_eq!(
            parse_info(&value),
            Some(SyncInfo::IdSet {
                cookie: None,
                refresh_deletes: true,
                uuids: vec!["11111111-1111-1111-1111-111111111111".into()],
            })
        );
    }

    #[test]
    fn malformed_values_are_none_not_panics() {
        let bad: [&[u8]; 10] = [
            &[],
            &[0x30],
            &[0x30, 0x03, 0x0a, 0x01, 0x07],
            &[0x30, 0x06, 0x0a, 0x01, 0x01, 0x04, 0x01, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x04, 0x02, 0x41, 0x42],
            &[0xa4, 0x00],
            &[0xa3, 0x04, 0x31, 0x02, 0x04, 0x00],
            &[0x30, 0x03, 0x02, 0x01, 0x05],
            &[0x81, 0x00],
        ];
        for value in bad {
            assert_eq!(parse_state(value), None, "{value:?}");
            assert!(
                parse_info(value).is_none() || value == [0x81, 0x00].as_slice(),
                "{value:?}"
            );
            let _ = parse_done(value);
        }
    }

    #[test]
    fn gathering_a_refresh() {
        let mut g = Gathered::default();
        let tag = StructureTag {
            class: TagClass::Application,
            id: SEARCH_RESULT_ENTRY,
            payload: PL::C(vec![]),
        };
        let state = |state, uuid: &str| SyncState {
            state,
            uuid: uuid.into(),
            cookie: None,
        };
        assert!(
            g.take(Message::Info(SyncInfo::IdSet {
                cookie: None,
                refresh_deletes: false,
                uuids: vec!["a".into(), "b".into()],
            }))
            .is_none()
        );
        let changed = g.take(Message::Entry(state(State::Add, "c"), tag.clone()));
        assert_eq!(changed.map(|(k, _)| k).as_deref(), Some("c"));
        assert!(
            g.take(Message::Entry(state(State::Delete, "d"), tag))
                .is_none()
        );
        g.take(Message::Info(SyncInfo::Refresh {
            deletes: false,
            cookie: Some(b"k".to_vec()),
            refresh_done: true,
        }));
        assert_eq!(g.present.len(), 2);
        assert!(g.deleted.contains("d"));
        assert_eq!(g.cookie.as_deref(), Some(b"k".as_slice()));
        assert_eq!(g.refresh_done, Some(false));
    }
}
