//! Search result entries into `SourceRecord`s. Entries are read straight from the protocol
//! structure (no intermediate map per entry), attribute names are matched without regard to
//! case, and no content the directory can hold — binary where text is expected, missing
//! or repeated attributes, odd numbers — makes it panic: a bad value is logged and left
//! out, an entry without user name or key is skipped and counted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ldap3::asn1::{PL, StructureTag};

use super::groups::GroupGraph;
use super::schema::Names;
use super::{Field, Flavour, LdapSettings};
use crate::sources::{SourceError, SourceRecord};

/// One entry as the server sent it: DN and attributes with their raw values.
pub(super) struct RawEntry {
    pub dn: String,
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl RawEntry {
    /// Takes apart a SearchResultEntry.
    pub(super) fn parse(tag: StructureTag) -> Result<RawEntry, SourceError> {
        let (dn, attrs) = entry_parts(tag)?;
        let attrs = attrs
            .into_iter()
            .filter_map(attribute_parts)
            .map(|(name, values)| (name, values.into_iter().filter_map(primitive).collect()))
            .collect();
        Ok(RawEntry { dn, attrs })
    }

    /// The first value of `name` that is text.
    pub(super) fn first_text(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, values)| values.iter())
            .find_map(|v| text(v).map(str::to_owned))
    }
}

/// Splits a SearchResultEntry into its DN and its attribute list.
fn entry_parts(tag: StructureTag) -> Result<(String, Vec<StructureTag>), SourceError> {
    let malformed = || SourceError::Search("malformed search result entry from the server".into());
    let PL::C(parts) = tag.payload else {
        return Err(malformed());
    };
    let mut parts = parts.into_iter();
    let (Some(dn), Some(attrs)) = (parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let (PL::P(dn), PL::C(attrs)) = (dn.payload, attrs.payload) else {
        return Err(malformed());
    };
    let dn = String::from_utf8(dn).unwrap_or_else(|e| {
        let dn = String::from_utf8_lossy(e.as_bytes()).into_owned();
        tracing::warn!(%dn, "entry DN is not UTF-8; invalid bytes replaced");
        dn
    });
    Ok((dn, attrs))
}

/// Splits a PartialAttribute into its description and its value tags.
fn attribute_parts(tag: StructureTag) -> Option<(String, Vec<StructureTag>)> {
    let PL::C(parts) = tag.payload else {
        return None;
    };
    let mut parts = parts.into_iter();
    let (PL::P(name), PL::C(values)) = (parts.next()?.payload, parts.next()?.payload) else {
        return None;
    };
    Some((String::from_utf8(name).ok()?, values))
}

fn primitive(tag: StructureTag) -> Option<Vec<u8>> {
    match tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

/// A value as text, if it is UTF-8.
pub(super) fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok()
}

/// What an attribute of a person entry feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Field(Field),
    Key,
    MemberOf,
    AccountControl,
    AccountExpires,
}

/// Maps person entries to records; built once per read.
pub(super) struct EntryMapper {
    flavour: Flavour,
    /// Attribute name (lower case) → what it feeds. One name may feed several targets.
    table: Vec<(String, Target)>,
    /// The names to ask the server for.
    requested: Vec<String>,
    user_name_attr: String,
    graph: Arc<GroupGraph>,
    disabled: Option<Arc<HashSet<String>>>,
    /// `now` as a Windows FILETIME (100 ns ticks since 1601), for `accountExpires`.
    now_filetime: i64,
}

const MEMBER_OF: &str = "memberOf";
const USER_ACCOUNT_CONTROL: &str = "userAccountControl";
const ACCOUNT_EXPIRES: &str = "accountExpires";
/// `userAccountControl` flag ACCOUNTDISABLE.
const UF_ACCOUNTDISABLE: i64 = 0x2;
/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;

/// What one entry's attributes gave, before it becomes a record.
#[derive(Default)]
struct Found {
    fields: [Option<String>; 11],
    key: Option<Result<String, String>>,
    member_of: Vec<String>,
    account_control: Option<Vec<u8>>,
    account_expires: Option<Vec<u8>>,
}

impl Found {
    /// Takes what `target` needs from the values of attribute `name`; the first value wins
    /// for single-valued targets.
    fn take(
        &mut self,
        mapper: &EntryMapper,
        dn: &str,
        name: &str,
        target: Target,
        values: &mut dyn Iterator<Item = Vec<u8>>,
    ) {
        match target {
            Target::Field(field) => {
                if let Some(slot @ None) = self.fields.get_mut(field as usize) {
                    *slot = first_text(dn, name, values);
                }
            }
            Target::Key if self.key.is_none() => {
                self.key = values.next().map(|v| mapper.key(v));
            }
            Target::MemberOf => {
                for value in values {
                    match String::from_utf8(value) {
                        Ok(group) => self.member_of.push(group),
                        Err(_) => {
                            tracing::warn!(%dn, attribute = name, "value is not UTF-8; ignored")
                        }
                    }
                }
            }
            Target::AccountControl if self.account_control.is_none() => {
                self.account_control = values.next();
            }
            Target::AccountExpires if self.account_expires.is_none() => {
                self.account_expires = values.next();
            }
            _ => {}
        }
    }
}

impl EntryMapper {
    pub(super) fn new(
        settings: &LdapSettings,
        names: &Names,
        graph: Arc<GroupGraph>,
        disabled: Option<Arc<HashSet<String>>>,
        now: SystemTime,
    ) -> Self {
        let mut wanted: Vec<(&str, Target)> = vec![(settings.flavour.key_attribute(), Target::Key)];
        for (field, name) in settings.attributes.fields() {
            if let Some(name) = name {
                wanted.push((name, Target::Field(field)));
            }
        }
        wanted.push((MEMBER_OF, Target::MemberOf));
        if settings.flavour == Flavour::ActiveDirectory {
            wanted.push((USER_ACCOUNT_CONTROL, Target::AccountControl));
            wanted.push((ACCOUNT_EXPIRES, Target::AccountExpires));
        }
        let mut table = Vec::new();
        let mut requested: Vec<String> = Vec::new();
        for (name, target) in wanted {
            for accepted in names.accepted(name) {
                table.push((accepted, target));
            }
            if !requested.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                requested.push(name.to_owned());
            }
        }
        EntryMapper {
            flavour: settings.flavour,
            table,
            requested,
            user_name_attr: settings.attributes.user_name.clone(),
            graph,
            disabled,
            now_filetime: filetime(now),
        }
    }

    pub(super) fn requested_attributes(&self) -> Vec<String> {
        self.requested.clone()
    }

    /// Maps one SearchResultEntry; `None` when it is skipped (logged with its DN).
    pub(super) fn map(&self, tag: StructureTag) -> Result<Option<SourceRecord>, SourceError> {
        let (dn, attrs) = entry_parts(tag)?;
        let mut found = Found::default();
        for attr in attrs {
            let Some((name, values)) = attribute_parts(attr) else {
                continue;
            };
            let matching = || {
                self.table
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .map(|(_, target)| *target)
            };
            match matching().count() {
                0 => {}
                // The usual case: the values move into the record without copies.
                1 => {
                    if let Some(target) = matching().next() {
                        let mut values = values.into_iter().filter_map(primitive);
                        found.take(self, &dn, &name, target, &mut values);
                    }
                }
                _ => {
                    let values: Vec<Vec<u8>> = values.into_iter().filter_map(primitive).collect();
                    for target in matching() {
                        found.take(self, &dn, &name, target, &mut values.iter().cloned());
                    }
                }
            }
        }
        let Found {
            fields,
            key,
            member_of,
            account_control,
            account_expires,
        } = found;

        let [
            user_name,
            given_name,
            family_name,
            display_name,
            nickname,
            email,
            phone,
            employee_number,
            department,
            title,
            manager_dn,
        ] = fields;
        let Some(user_name) = user_name else {
            tracing::warn!(%dn, attribute = %self.user_name_attr, "entry skipped: no user name");
            return Ok(None);
        };
        let key = match key {
            Some(Ok(key)) => key,
            Some(Err(why)) => {
                tracing::warn!(%dn, "entry skipped: {why}");
                return Ok(None);
            }
            None => {
                tracing::warn!(%dn, attribute = self.flavour.key_attribute(), "entry skipped: no key attribute");
                return Ok(None);
            }
        };
        let mut disabled = self.disabled.as_ref().is_some_and(|set| set.contains(&dn));
        if self.flavour == Flavour::ActiveDirectory {
            if let Some(value) = account_control {
                disabled |= account_disabled(&dn, &value);
            }
            if let Some(value) = account_expires {
                disabled |= account_expired(&dn, &value, self.now_filetime);
            }
        }
        let groups = self.graph.groups_of(&dn, &member_of);
        Ok(Some(SourceRecord {
            key,
            dn,
            user_name,
            given_name,
            family_name,
            display_name,
            nickname,
            email,
            phone,
            employee_number,
            department,
            title,
            manager_dn,
            disabled,
            groups,
            employment: None,
        }))
    }

    /// The stable key from the key attribute's value, or why there is none.
    fn key(&self, value: Vec<u8>) -> Result<String, String> {
        match self.flavour {
            Flavour::OpenLdap => match String::from_utf8(value) {
                Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_ascii_lowercase()),
                _ => Err("entryUUID is empty or not text".into()),
            },
            Flavour::ActiveDirectory => format_guid(&value)
                .ok_or_else(|| format!("objectGUID is {} bytes, not 16", value.len())),
        }
    }
}

/// The stable key of an entry read for its key attribute alone.
pub(super) fn key_of(flavour: Flavour, tag: StructureTag) -> Option<String> {
    let entry = RawEntry::parse(tag).ok()?;
    let name = flavour.key_attribute();
    let value = entry
        .attrs
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))?
        .1
        .into_iter()
        .next()?;
    match flavour {
        Flavour::OpenLdap => String::from_utf8(value)
            .ok()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        Flavour::ActiveDirectory => format_guid(&value),
    }
}

/// The first non-empty UTF-8 value; values that are not UTF-8 are logged and passed over.
fn first_text(
    dn: &str,
    attribute: &str,
    values: &mut dyn Iterator<Item = Vec<u8>>,
) -> Option<String> {
    for value in values {
        match String::from_utf8(value) {
            Ok(s) if s.is_empty() => {}
            Ok(s) => return Some(s),
            Err(_) => {
                tracing::warn!(%dn, attribute, "value is not UTF-8; ignored");
            }
        }
    }
    None
}

/// An AD `objectGUID` (16 bytes; first three fields little-endian) as the lower-case UUID
/// string AD's tools show.
pub(super) fn format_guid(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let ordered = [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ];
    Some(uuid::Uuid::from_bytes(ordered).hyphenated().to_string())
}

/// Reads an AD integer attribute.
fn ad_integer(value: &[u8]) -> Option<i64> {
    text(value)?.trim().parse().ok()
}

/// `userAccountControl` has ACCOUNTDISABLE set. A value that is not a number counts as
/// disabled: an account whose state cannot be read gets no access.
fn account_disabled(dn: &str, value: &[u8]) -> bool {
    match ad_integer(value) {
        Some(flags) => flags & UF_ACCOUNTDISABLE != 0,
        None => {
            tracing::warn!(%dn, "userAccountControl is not a number; treated as disabled");
            true
        }
    }
}

/// `accountExpires` (FILETIME; 0 and i64::MAX mean never) lies at or before `now`. A value
/// that is not a number counts as expired.
fn account_expired(dn: &str, value: &[u8], now_filetime: i64) -> bool {
    match ad_integer(value) {
        Some(0) | Some(i64::MAX) => false,
        Some(t) if t < 0 => {
            tracing::warn!(%dn, value = t, "accountExpires is negative; treated as never");
            false
        }
        Some(t) => t <= now_filetime,
        None => {
            tracing::warn!(%dn, "accountExpires is not a number; treated as expired");
            true
        }
    }
}

/// `now` as a Windows FILETIME.
fn filetime(now: SystemTime) -> i64 {
    let since_unix = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos() / 100).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos() / 100).unwrap_or(i64::MAX),
    };
    since_unix.saturating_add(FILETIME_UNIX_OFFSET_SECS * 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::TagClass;
    use std::time::Duration;

    fn prim(bytes: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn cons(id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(inner),
        }
    }

    fn attr(name: &[u8], values: &[&[u8]]) -> StructureTag {
        cons(
            16,
            vec![
                prim(name),
                cons(17, values.iter().map(|v| prim(v)).collect()),
            ],
        )
    }

    fn entry(dn: &[u8], attrs: Vec<StructureTag>) -> StructureTag {
        cons(4, vec![prim(dn), cons(16, attrs)])
    }

    fn map(flavour: Flavour, tag: StructureTag) -> Result<Option<SourceRecord>, SourceError> {
        let settings = LdapSettings::new("ldap://h", "dc=x", flavour);
        let graph = Arc::new(GroupGraph::default());
        let mapper = EntryMapper::new(&settings, &Names::default(), graph, None, UNIX_EPOCH);
        mapper.map(tag)
    }

    #[test]
    fn values_that_are_not_text_are_left_out() {
        let record = map(
            Flavour::OpenLdap,
            entry(
                b"uid=a,dc=x",
                vec![
                    attr(b"entryUUID", &[b"6787E676-7B38-1041-89A3-9B875DBD0FC8"]),
                    attr(b"UID", &[b"", b"a"]),
                    attr(b"sn", &[&[0xff, 0xfe], b"Second"]),
                    attr(b"mail", &[&[0xc3]]),
                    attr(b"displayName", &[&vec![b'x'; 1 << 20]]),
                    attr(b"memberOf", &[&[0xff], b"cn=G,dc=x"]),
                    attr(&[0xff], &[b"junk"]),
                ],
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(record.key, "6787e676-7b38-1041-89a3-9b875dbd0fc8");
        assert_eq!(record.user_name, "a");
        assert_eq!(record.family_name.as_deref(), Some("Second"));
        assert_eq!(record.email, None);
        assert_eq!(record.display_name.map(|d| d.len()), Some(1 << 20));
        assert_eq!(record.groups, ["cn=g,dc=x"]);
    }

    #[test]
    fn entries_without_name_or_key_are_skipped() {
        let no_name = entry(b"cn=a", vec![attr(b"entryUUID", &[b"u"])]);
        assert!(map(Flavour::OpenLdap, no_name).unwrap().is_none());
        let no_key = entry(b"cn=a", vec![attr(b"uid", &[b"a"])]);
        assert!(map(Flavour::OpenLdap, no_key).unwrap().is_none());
        let short_guid = entry(
            b"cn=a",
            vec![
                attr(b"sAMAccountName", &[b"a"]),
                attr(b"objectGUID", &[b"\x01\x02"]),
            ],
        );
        assert!(map(Flavour::ActiveDirectory, short_guid).unwrap().is_none());
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let odd = [
            prim(b"not constructed"),
            cons(4, vec![]),
            cons(4, vec![prim(b"dn")]),
            cons(4, vec![cons(16, vec![]), cons(16, vec![])]),
            cons(4, vec![prim(b"dn"), prim(b"attrs")]),
        ];
        for tag in odd {
            assert!(map(Flavour::OpenLdap, tag.clone()).is_err(), "{tag:?}");
            assert!(RawEntry::parse(tag).is_err());
        }
        // Odd attributes inside a sound entry are passed over.
        let tag = entry(
            &[0xff, b'd', b'n'],
            vec![
                prim(b"x"),
                cons(16, vec![prim(b"uid")]),
                cons(16, vec![cons(16, vec![]), cons(17, vec![])]),
                cons(16, vec![prim(b"uid"), prim(b"a")]),
                cons(16, vec![prim(b"uid"), cons(17, vec![cons(4, vec![])])]),
            ],
        );
        assert!(map(Flavour::OpenLdap, tag.clone()).unwrap().is_none());
        assert_eq!(RawEntry::parse(tag).unwrap().dn, "\u{fffd}dn");
    }

    #[test]
    fn guid_formatting() {
        let bytes = [
            0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c,
            0x33, 0x01,
        ];
        assert_eq!(
            format_guid(&bytes).as_deref(),
            Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        );
        assert_eq!(format_guid(&bytes[..15]), None);
        assert_eq!(format_guid(&[0; 17]), None);
        assert_eq!(format_guid(&[]), None);
    }

    #[test]
    fn account_control_flags() {
        assert!(!account_disabled("x", b"512"));
        assert!(account_disabled("x", b"514"));
        assert!(account_disabled("x", b"66050"));
        assert!(!account_disabled("x", b"66048"));
        assert!(account_disabled("x", b"garbage"));
        assert!(account_disabled("x", &[0xff, 0xfe]));
        assert!(!account_disabled("x", b"-2147483136"));
    }

    #[test]
    fn account_expiry() {
        // 2026-01-01T00:00:00Z
        let now = filetime(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
        assert_eq!(now, 134_116_992_000_000_000);
        assert!(!account_expired("x", b"0", now));
        assert!(!account_expired("x", b"9223372036854775807", now));
        assert!(account_expired("x", b"130000000000000000", now));
        assert!(account_expired("x", now.to_string().as_bytes(), now));
        assert!(!account_expired("x", (now + 1).to_string().as_bytes(), now));
        assert!(!account_expired("x", b"-5", now));
        assert!(account_expired("x", b"99999999999999999999999", now));
        assert!(account_expired("x", b"", now));
    }

    #[test]
    fn filetime_of_the_unix_epoch() {
        assert_eq!(filetime(UNIX_EPOCH), 116_444_736_000_000_000);
        assert_eq!(
            filetime(UNIX_EPOCH - Duration::from_secs(1)),
            116_444_736_000_000_000 - 10_000_000
        );
    }
}
