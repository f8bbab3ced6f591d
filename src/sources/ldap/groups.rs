//! Group memberships with nesting resolved. All groups under the group base are read once
//! (members and `memberOf`), kept as a graph, and each group's ancestors computed once, so a
//! person's groups cost no further searches. Works the same for OpenLDAP and Active
//! Directory (whose in-chain matching rule OpenLDAP lacks); cycles end where they close.

use std::borrow::Cow;

use ldap3::{Ldap, Scope};

use super::entry::{RawEntry, text};
use super::{Flavour, LdapSettings, paged};
use crate::fast_hash::FastMap;
use crate::sources::SourceError;

/// The groups under the group base and who is directly in each.
#[derive(Debug, Default)]
pub(super) struct GroupGraph {
    /// Normalised DN of each group node.
    names: Vec<String>,
    /// Normalised DN → group node.
    index: FastMap<String, u32>,
    /// Normalised DN of a member (person or group) → the groups that list it directly.
    parents: FastMap<String, Vec<u32>>,
    /// Group node → itself and every group it is nested in, sorted.
    ancestors: Vec<Box<[u32]>>,
}

impl GroupGraph {
    /// Reads every group under the group base.
    pub(super) async fn read(
        ldap: &mut Ldap,
        settings: &LdapSettings,
    ) -> Result<Self, SourceError> {
        let mut builder = GraphBuilder::default();
        let mut ranged: Vec<(String, u64)> = Vec::new();
        let attrs: Vec<String> = match settings.flavour {
            Flavour::OpenLdap => vec!["member".into(), "uniqueMember".into(), "memberOf".into()],
            Flavour::ActiveDirectory => vec!["member".into(), "memberOf".into()],
        };
        paged::search(
            ldap,
            settings,
            paged::Search {
                what: "group search",
                base: settings.group_base(),
                scope: Scope::Subtree,
                filter: &settings.group_filter,
                attrs: &attrs,
            },
            |tag| {
                let entry = RawEntry::parse(tag)?;
                let node = builder.group(&entry.dn);
                for (name, values) in &entry.attrs {
                    let kind = AttributeKind::of(name);
                    for value in values {
                        let Some(value) = text(value) else {
                            tracing::warn!(dn = %entry.dn, attribute = %name, "value is not UTF-8; ignored");
                            continue;
                        };
                        match kind {
                            AttributeKind::Member | AttributeKind::MemberRange(_) => {
                                builder.member(node, value);
                            }
                            AttributeKind::UniqueMember => builder.member(node, strip_uid(value)),
                            AttributeKind::MemberOf => builder.parent(node, value),
                            AttributeKind::Other => {}
                        }
                    }
                    if let AttributeKind::MemberRange(Some(next)) = kind {
                        ranged.push((entry.dn.clone(), next));
                    }
                }
                Ok(())
            },
        )
        .await?;
        for (dn, start) in ranged {
            read_member_ranges(ldap, settings, &mut builder, &dn, start).await?;
        }
        Ok(builder.finish())
    }

    /// Number of groups known (those under the group base and the parents they name).
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// A fingerprint of every direct membership in the graph. Two reads with the same
    /// fingerprint saw the same groups with the same members; incremental runs compare it
    /// with the previous run's, because a group change does not show on its members'
    /// entries (neither OpenLDAP's memberof overlay nor Active Directory's `memberOf`
    /// back-link changes the member's `entryCSN`, `modifyTimestamp` or `uSNChanged`).
    pub(super) fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        // Order-independent without sorting: the sum of one hash per (member, group) edge.
        let mut sum: u128 = 0;
        let mut edges: u64 = 0;
        for (member, parents) in &self.parents {
            for &p in parents {
                let Some(group) = self.names.get(p as usize) else {
                    continue;
                };
                let mut hash = Sha256::new();
                hash.update(member.as_bytes());
                hash.update(b"\0");
                hash.update(group.as_bytes());
                let bytes = hash.finalize();
                let mut first = [0u8; 16];
                first.copy_from_slice(&bytes[..16]);
                sum = sum.wrapping_add(u128::from_le_bytes(first));
                edges += 1;
            }
        }
        format!("{edges}:{sum:032x}")
    }

    /// Every group the person with `dn` is in, nesting resolved: the groups listing the
    /// person as a member, plus the person's own `memberOf` values. Lower-cased, sorted,
    /// without duplicates.
    pub(super) fn groups_of(&self, dn: &str, member_of: &[String]) -> Vec<String> {
        let mut nodes: Vec<u32> = Vec::new();
        let mut outside: Vec<String> = Vec::new();
        if let Some(parents) = self.parents.get(normalized_dn(dn).as_ref()) {
            for &p in parents {
                nodes.extend_from_slice(self.ancestors_of(p));
            }
        }
        for group in member_of {
            let group = normalized_dn(group);
            match self.index.get(group.as_ref()) {
                Some(&g) => nodes.extend_from_slice(self.ancestors_of(g)),
                None => {
                    // A group the graph does not hold (outside the group base); what holds
                    // it may still be known.
                    if let Some(parents) = self.parents.get(group.as_ref()) {
                        for &p in parents {
                            nodes.extend_from_slice(self.ancestors_of(p));
                        }
                    }
                    outside.push(group.into_owned());
                }
            }
        }
        nodes.sort_unstable();
        nodes.dedup();
        let mut groups: Vec<String> = nodes
            .iter()
            .filter_map(|&g| self.names.get(g as usize).cloned())
            .chain(outside)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    fn ancestors_of(&self, node: u32) -> &[u32] {
        self.ancestors.get(node as usize).map_or(&[], |a| a)
    }
}

/// How a group attribute is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttributeKind {
    Member,
    UniqueMember,
    /// Active Directory's `member;range=LOW-HIGH`: a slice of a large group; holds the
    /// next slice's start unless this was the last.
    MemberRange(Option<u64>),
    MemberOf,
    Other,
}

impl AttributeKind {
    fn of(name: &str) -> Self {
        if name.eq_ignore_ascii_case("member") {
            AttributeKind::Member
        } else if name.eq_ignore_ascii_case("uniqueMember") {
            AttributeKind::UniqueMember
        } else if name.eq_ignore_ascii_case("memberOf") {
            AttributeKind::MemberOf
        } else if let Some(range) = member_range(name) {
            AttributeKind::MemberRange(range)
        } else {
            AttributeKind::Other
        }
    }
}

/// For `member;range=LOW-HIGH`: `Some(Some(HIGH + 1))`, or `Some(None)` when HIGH is `*`
/// (the last slice). `None` for any other attribute.
fn member_range(name: &str) -> Option<Option<u64>> {
    let (base, option) = name.split_once(';')?;
    if !base.eq_ignore_ascii_case("member") {
        return None;
    }
    let range = option
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("range="))
        .and_then(|_| option.get(6..))?;
    let (_, high) = range.split_once('-')?;
    if high == "*" {
        return Some(None);
    }
    Some(Some(high.parse::<u64>().ok()?.checked_add(1)?))
}

/// Reads the remaining slices of a large Active Directory group, from `start` on.
async fn read_member_ranges(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    builder: &mut GraphBuilder,
    dn: &str,
    mut start: u64,
) -> Result<(), SourceError> {
    let node = builder.group(dn);
    loop {
        let attrs = [format!("member;range={start}-*")];
        let mut next = None;
        paged::search_unpaged(
            ldap,
            settings,
            paged::Search {
                what: "group member range read",
                base: dn,
                scope: Scope::Base,
                filter: "(objectClass=*)",
                attrs: &attrs,
            },
            |tag| {
                let entry = RawEntry::parse(tag)?;
                for (name, values) in &entry.attrs {
                    if let Some(range) = member_range(name) {
                        next = range;
                        for value in values.iter().filter_map(|v| text(v)) {
                            builder.member(node, value);
                        }
                    }
                }
                Ok(())
            },
        )
        .await?;
        match next {
            Some(n) if n > start => start = n,
            Some(_) => {
                return Err(SourceError::Truncated(format!(
                    "members of {dn}: the server's ranges do not advance past {start}"
                )));
            }
            None => return Ok(()),
        }
    }
}

/// `uniqueMember` values may end in an optional UID (`…#'0101'B`); the DN is the part
/// before it.
fn strip_uid(value: &str) -> &str {
    match value.rfind("#'") {
        Some(i) if value.ends_with("'B") => value.get(..i).unwrap_or(value),
        _ => value,
    }
}

/// Collects groups and edges while groups are read.
#[derive(Default)]
struct GraphBuilder {
    graph: GroupGraph,
}

impl GraphBuilder {
    /// The node of the group with `dn`, added if new.
    fn group(&mut self, dn: &str) -> u32 {
        let dn = normalize_dn(dn);
        if let Some(&node) = self.graph.index.get(&dn) {
            return node;
        }
        let node = u32::try_from(self.graph.names.len()).unwrap_or(u32::MAX);
        self.graph.names.push(dn.clone());
        self.graph.index.insert(dn, node);
        node
    }

    /// `member_dn` is directly in group `node`.
    fn member(&mut self, node: u32, member_dn: &str) {
        self.graph
            .parents
            .entry(normalized_dn(member_dn).into_owned())
            .or_default()
            .push(node);
    }

    /// Group `node` is directly in the group with `parent_dn`.
    fn parent(&mut self, node: u32, parent_dn: &str) {
        let parent = self.group(parent_dn);
        if let Some(name) = self.graph.names.get(node as usize).cloned() {
            self.graph.parents.entry(name).or_default().push(parent);
        }
    }

    /// Removes duplicate edges and computes each group's ancestors.
    fn finish(mut self) -> GroupGraph {
        for parents in self.graph.parents.values_mut() {
            parents.sort_unstable();
            parents.dedup();
        }
        let graph = &self.graph;
        let n = graph.names.len();
        let mut seen = vec![false; n];
        let mut ancestors = Vec::with_capacity(n);
        let mut stack: Vec<u32> = Vec::new();
        let mut found: Vec<u32> = Vec::new();
        for node in 0..n {
            stack.clear();
            found.clear();
            stack.push(node as u32);
            while let Some(g) = stack.pop() {
                let Some(mark) = seen.get_mut(g as usize) else {
                    continue;
                };
                if *mark {
                    continue;
                }
                *mark = true;
                found.push(g);
                if let Some(parents) = graph
                    .names
                    .get(g as usize)
                    .and_then(|n| graph.parents.get(n))
                {
                    stack.extend(parents.iter().copied());
                }
            }
            for &g in &found {
                if let Some(mark) = seen.get_mut(g as usize) {
                    *mark = false;
                }
            }
            found.sort_unstable();
            ancestors.push(found.clone().into_boxed_slice());
        }
        self.graph.ancestors = ancestors;
        self.graph
    }
}

/// A DN in a form fit for comparing: no spaces around separators, hex escapes of ordinary
/// characters decoded, lower case. (DN matching proper needs the schema; this covers the
/// differences servers and administrators actually produce.)
pub(super) fn normalize_dn(dn: &str) -> String {
    normalized_dn(dn).into_owned()
}

/// [`normalize_dn`], borrowing `dn` when it is already in that form: the usual case for
/// the DNs a directory sends back (OpenLDAP keeps the case they were written with, but
/// many directories are written in lower case throughout).
pub(super) fn normalized_dn(dn: &str) -> Cow<'_, str> {
    // Printable ASCII without capitals, spaces, escapes or quotes normalises to itself.
    let plain =
        |b: &u8| b.is_ascii_graphic() && !b.is_ascii_uppercase() && !matches!(b, b'\\' | b'"');
    if dn.as_bytes().iter().all(plain) {
        return Cow::Borrowed(dn);
    }
    const SPECIAL: &[u8] = b",+\"\\<>;=";
    let bytes = dn.trim().as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    // `out` up to here must stay; spaces after it are dropped before a separator.
    let mut keep = 0;
    let mut after_separator = true;
    let mut in_quotes = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if in_quotes {
            out.push(b);
            if b == b'\\' {
                if let Some(&next) = bytes.get(i) {
                    out.push(next);
                    i += 1;
                }
            } else if b == b'"' {
                in_quotes = false;
            }
            keep = out.len();
            continue;
        }
        match b {
            b'\\' => {
                let hex = bytes
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match (hex, bytes.get(i)) {
                    (Some(v), _) => {
                        i += 2;
                        if SPECIAL.contains(&v) || v == b' ' || v == b'#' || v < 0x20 {
                            out.push(b'\\');
                        }
                        out.push(v);
                    }
                    (None, Some(&next)) => {
                        i += 1;
                        out.push(b'\\');
                        out.push(next);
                    }
                    (None, None) => out.push(b'\\'),
                }
                keep = out.len();
                after_separator = false;
            }
            b',' | b'+' | b'=' => {
                out.truncate(keep);
                out.push(b);
                keep = out.len();
                after_separator = true;
            }
            b' ' if after_separator => {}
            b'"' => {
                out.push(b);
                keep = out.len();
                in_quotes = true;
                after_separator = false;
            }
            _ => {
                out.push(b);
                if b != b' ' {
                    keep = out.len();
                }
                after_separator = false;
            }
        }
    }
    out.truncate(keep);
    if out.is_ascii() {
        out.make_ascii_lowercase();
    }
    Cow::Owned(match String::from_utf8(out) {
        Ok(s) if s.is_ascii() => s,
        Ok(s) => s.to_lowercase(),
        Err(e) => String::from_utf8_lossy(e.as_bytes()).to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_normalisation() {
        assert_eq!(
            normalize_dn(" UID=Alice , ou=People,  DC=Example,dc=com "),
            "uid=alice,ou=people,dc=example,dc=com"
        );
        assert_eq!(normalize_dn("cn = Team  Lead,dc=x"), "cn=team  lead,dc=x");
        assert_eq!(
            normalize_dn("cn=Smith\\2C John,dc=x"),
            "cn=smith\\, john,dc=x"
        );
        assert_eq!(
            normalize_dn("cn=Smith\\, John,dc=x"),
            "cn=smith\\, john,dc=x"
        );
        assert_eq!(normalize_dn("cn=Z\\C3\\A9,dc=x"), "cn=zé,dc=x");
        assert_eq!(normalize_dn("cn=ZÉ,dc=x"), "cn=zé,dc=x");
        assert_eq!(normalize_dn("cn=trailing\\ ,dc=x"), "cn=trailing\\ ,dc=x");
        assert_eq!(normalize_dn("cn=a+sn=B,dc=x"), "cn=a+sn=b,dc=x");
        assert_eq!(
            normalize_dn("cn=\"Quoted, Name\",dc=x"),
            "cn=\"quoted, name\",dc=x"
        );
        assert_eq!(normalize_dn(""), "");
        // Never panics on junk.
        for junk in ["\\", "\\4", "\\zz", "\"", "==,,++", "\\C3", "cn=\\ff\\fe"] {
            let _ = normalize_dn(junk);
        }
    }

    #[test]
    fn normal_dns_are_borrowed_and_the_rest_normalised_once() {
        for dn in [
            "uid=agent000001,ou=people,dc=example,dc=com",
            "cn=a+sn=b,dc=x",
            "",
            "x",
        ] {
            assert!(
                matches!(normalized_dn(dn), Cow::Borrowed(d) if d == dn),
                "{dn}"
            );
        }
        for dn in [
            "UID=a,dc=x",
            "uid=a, dc=x",
            " uid=a,dc=x",
            "uid=a,dc=x\t",
            "cn=Smith\\2C John,dc=x",
            "cn=\"q, n\",dc=x",
            "cn=ZÉ,dc=x",
            "cn=zé,dc=x",
        ] {
            let once = normalize_dn(dn);
            assert_eq!(normalized_dn(&once).as_ref(), once, "{dn}");
        }
        assert_eq!(normalize_dn("UID=a, DC=x"), "uid=a,dc=x");
    }

    fn graph(edges: &[(&str, &str)], extra_groups: &[&str]) -> GroupGraph {
        let mut b = GraphBuilder::default();
        for g in extra_groups {
            b.group(g);
        }
        for (group, member) in edges {
            let node = b.group(group);
            b.member(node, member);
        }
        b.finish()
    }

    #[test]
    fn nested_groups_and_cycles() {
        let g = graph(
            &[
                ("cn=tier1", "uid=ann"),
                ("cn=support", "cn=tier1"),
                ("cn=all", "cn=support"),
                ("cn=a", "cn=b"),
                ("cn=b", "cn=a"),
                ("cn=a", "uid=bea"),
                ("cn=self", "cn=self"),
                ("cn=self", "uid=cy"),
            ],
            &[],
        );
        assert_eq!(
            g.groups_of("UID=Ann", &[]),
            ["cn=all", "cn=support", "cn=tier1"]
        );
        assert_eq!(g.groups_of("uid=bea", &[]), ["cn=a", "cn=b"]);
        assert_eq!(g.groups_of("uid=cy", &[]), ["cn=self"]);
        assert!(g.groups_of("uid=nobody", &[]).is_empty());
    }

    #[test]
    fn member_of_adds_and_resolves() {
        let g = graph(
            &[("cn=all", "cn=support"), ("cn=all", "cn=Outside,ou=x")],
            &["cn=support"],
        );
        // memberOf names a group the graph knows: its ancestors follow.
        assert_eq!(
            g.groups_of("uid=d", &["CN=Support".into()]),
            ["cn=all", "cn=support"]
        );
        // memberOf names a group outside the group base: kept, and what holds it resolved.
        assert_eq!(
            g.groups_of("uid=d", &["cn=outside, ou=X".into(), "cn=elsewhere".into()]),
            ["cn=all", "cn=elsewhere", "cn=outside,ou=x"]
        );
    }

    #[test]
    fn digest_follows_memberships_not_read_order() {
        let a = graph(
            &[("cn=t1", "uid=a"), ("cn=t2", "uid=b"), ("cn=all", "cn=t1")],
            &[],
        );
        let b = graph(
            &[("cn=all", "cn=t1"), ("CN=T2", "uid=b"), ("cn=t1", "uid=a")],
            &[],
        );
        assert_eq!(a.digest(), b.digest());
        // uid=b moves from t2 to t1: a different fingerprint.
        let moved = graph(
            &[("cn=t1", "uid=a"), ("cn=t1", "uid=b"), ("cn=all", "cn=t1")],
            &["cn=t2"],
        );
        assert_ne!(a.digest(), moved.digest());
        assert_ne!(a.digest(), GroupGraph::default().digest());
    }

    #[test]
    fn group_memberof_edges() {
        let mut b = GraphBuilder::default();
        let team = b.group("cn=team");
        b.member(team, "uid=e");
        b.parent(team, "cn=Department,ou=elsewhere");
        let g = b.finish();
        assert_eq!(
            g.groups_of("uid=e", &[]),
            ["cn=department,ou=elsewhere", "cn=team"]
        );
    }

    #[test]
    fn ranges_and_unique_members() {
        assert_eq!(member_range("member;range=0-1499"), Some(Some(1500)));
        assert_eq!(member_range("Member;Range=1500-*"), Some(None));
        assert_eq!(member_range("member"), None);
        assert_eq!(member_range("member;range=0-x"), None);
        assert_eq!(member_range("member;range=0-18446744073709551615"), None);
        assert_eq!(member_range("memberOf;range=0-1"), None);
        assert_eq!(member_range("member;ran"), None);
        assert_eq!(AttributeKind::of("MEMBER"), AttributeKind::Member);
        assert_eq!(strip_uid("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
        assert_eq!(strip_uid("uid=a,dc=x"), "uid=a,dc=x");
        assert_eq!(strip_uid("cn=#'B"), "cn=");
    }

    #[test]
    fn long_chain() {
        let names: Vec<String> = (0..2000).map(|i| format!("cn=g{i}")).collect();
        let edges: Vec<(&str, &str)> = names
            .windows(2)
            .map(|w| (w[1].as_str(), w[0].as_str()))
            .chain([("cn=g0", "uid=deep")])
            .collect();
        let g = graph(&edges, &[]);
        assert_eq!(g.groups_of("uid=deep", &[]).len(), 2000);
    }
}
