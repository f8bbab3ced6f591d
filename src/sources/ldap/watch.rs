//! Watching a directory (RFC 4533 refreshAndPersist): one connection keeps two persistent
//! content-sync searches open — the people, and the groups — so a change reaches Rollcall
//! as soon as the server sends it. The first event is the refresh (what changed since the
//! cookie, or everyone without one); then changes come in small batches, gathered until
//! the directory has been quiet for a moment. A change to a group is reported as such, at
//! once and without reading anything: it does not show on the members' entries, so the
//! caller decides when to run a full read; the groups are read again only before the next
//! batch of people is mapped. `reachable` is the cheap check (a TCP connect) a caller makes
//! while the directory is away.

use std::time::{Duration, Instant, SystemTime};

use ldap3::Ldap;
use ldap3::asn1::StructureTag;

use super::syncrepl::{Gathered, Message, Persist, State, SyncFailure};
use super::{Context, LdapSettings, connect, manager_keys, refreshed};
use crate::sources::{Changes, Snapshot, SourceError};

/// A batch is sent once the directory has been quiet this long …
const QUIET: Duration = Duration::from_millis(200);
/// … or this long after its first change, whichever comes first.
const MAX_BATCH_WAIT: Duration = Duration::from_secs(2);
/// With nothing from the server for this long, check that it still answers.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// What the watch has to report.
#[derive(Debug)]
pub enum Event {
    /// Changes to apply; `snapshot.position.cookie` is where to resume once applied.
    Changes(Box<Changes>),
    /// Some group's members changed: a full read is due.
    GroupsChanged,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The server no longer accepts the cookie: start again without one.
    #[error("the directory asked for a full refresh")]
    RefreshRequired,
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl From<SyncFailure> for WatchError {
    fn from(e: SyncFailure) -> Self {
        match e {
            SyncFailure::RefreshRequired => WatchError::RefreshRequired,
            SyncFailure::Limited(e) | SyncFailure::Other(e) => WatchError::Source(e),
        }
    }
}

/// An open watch on one directory.
pub struct Watcher {
    settings: LdapSettings,
    ldap: Ldap,
    ctx: Context,
    people: Persist,
    groups: Persist,
    /// The cookie the watch started from; `None`: its refresh reads everyone.
    started_from: Option<Vec<u8>>,
    state: Gathered,
    /// The people refresh is still running.
    refreshing: bool,
    /// What the refresh has mapped so far.
    refreshed: Snapshot,
    /// Changes of the persist phase (`entryUUID`, entry), read when their batch is sent.
    pending: Vec<(String, StructureTag)>,
    batch_started: Option<Instant>,
    last_change: Instant,
    groups_refreshing: bool,
    /// A group changed since the last `Event::GroupsChanged`.
    groups_changed: bool,
    /// A group changed since the groups were last read: read them before mapping people.
    groups_stale: bool,
}

impl Watcher {
    /// Connects, binds and opens the persistent searches, resuming from `cookie`.
    pub async fn open(
        settings: &LdapSettings,
        cookie: Option<Vec<u8>>,
    ) -> Result<Watcher, SourceError> {
        settings.validate()?;
        let settings = settings.clone();
        let mut ldap = connect(&settings).await?;
        let ctx = Context::read(&mut ldap, &settings).await?;
        if !ctx.root.offers_content_sync() {
            return Err(SourceError::Config(format!(
                "watch: {} does not offer RFC 4533 content sync (OpenLDAP: the syncprov overlay)",
                settings.url
            )));
        }
        let attrs = ctx
            .mapper(&settings, SystemTime::now())
            .requested_attributes();
        let people = Persist::start(&mut ldap, &settings, &attrs, cookie.as_deref()).await?;
        let mut group_search = settings.clone();
        group_search.base_dn = settings.group_base().to_owned();
        group_search.user_filter = settings.group_filter.clone();
        let groups = Persist::start(&mut ldap, &group_search, &["1.1".to_owned()], None).await?;
        tracing::debug!(url = %settings.url, base = %settings.base_dn, resumed = cookie.is_some(), "watch opened");
        Ok(Watcher {
            settings,
            ldap,
            ctx,
            people,
            groups,
            started_from: cookie,
            state: Gathered::default(),
            refreshing: true,
            refreshed: Snapshot::default(),
            pending: Vec::new(),
            batch_started: None,
            last_change: Instant::now(),
            groups_refreshing: true,
            groups_changed: false,
            groups_stale: false,
        })
    }

    /// The fingerprint of the group memberships as the watch read them when it opened (or
    /// last read them): compared with the stored one, it tells whether the groups changed
    /// while no watch was open.
    pub fn groups_digest(&self) -> String {
        self.ctx.graph.digest()
    }

    /// Waits for the next event. An error means the watch is over: open a new one.
    pub async fn next(&mut self) -> Result<Event, WatchError> {
        loop {
            if self.groups_changed && !self.refreshing {
                // Reported as it happens; a burst of group changes costs no read here.
                self.groups_changed = false;
                return Ok(Event::GroupsChanged);
            }
            let deadline = self
                .batch_started
                .map(|first| (first + MAX_BATCH_WAIT).min(self.last_change + QUIET));
            let sleep_until = deadline.unwrap_or_else(|| Instant::now() + HEARTBEAT);
            tokio::select! {
                message = self.people.next() => {
                    if self.take_people(message?)? {
                        return Ok(Event::Changes(Box::new(self.take_refresh())));
                    }
                }
                message = self.groups.next() => self.take_group(message?),
                _ = tokio::time::sleep_until(sleep_until.into()) => {
                    if deadline.is_some() {
                        return Ok(Event::Changes(Box::new(self.take_batch().await?)));
                    }
                    self.heartbeat().await?;
                }
            }
        }
    }

    /// Takes a message of the people search; true when it ended the refresh.
    fn take_people(&mut self, message: Message) -> Result<bool, SourceError> {
        let is_change = matches!(
            &message,
            Message::Entry(s, _) if matches!(s.state, State::Add | State::Modify | State::Delete)
        );
        let entry = self.state.take(message);
        if self.refreshing {
            if let Some((_, tag)) = entry {
                let mapper = self.ctx.mapper(&self.settings, SystemTime::now());
                match mapper.map(tag)? {
                    Some(record) => self.refreshed.records.push(record),
                    None => self.refreshed.skipped += 1,
                }
            }
            if self.state.refresh_done.is_some() {
                self.refreshing = false;
                return Ok(true);
            }
            return Ok(false);
        }
        if let Some(changed) = entry {
            self.pending.push(changed);
        }
        if is_change {
            let now = Instant::now();
            self.batch_started.get_or_insert(now);
            self.last_change = now;
        }
        Ok(false)
    }

    fn take_group(&mut self, message: Message) {
        if self.groups_refreshing {
            let mut g = Gathered::default();
            g.take(message);
            if g.refresh_done.is_some() {
                self.groups_refreshing = false;
            }
            return;
        }
        match message {
            Message::Entry(..) | Message::Info(super::syncrepl::SyncInfo::IdSet { .. }) => {
                tracing::debug!("a group changed in the directory");
                self.groups_changed = true;
                self.groups_stale = true;
            }
            Message::Info(_) => {}
        }
    }

    /// The refresh as one set of changes: everyone when the watch started without a cookie.
    fn take_refresh(&mut self) -> Changes {
        let state = std::mem::take(&mut self.state);
        let mut snapshot = std::mem::take(&mut self.refreshed);
        snapshot.position.cookie = state.cookie.or_else(|| self.started_from.clone());
        let started_from =
            std::mem::replace(&mut self.started_from, snapshot.position.cookie.clone());
        let full = started_from.is_none();
        // Only a refresh that mapped everyone makes the stored fingerprint of the groups
        // current; otherwise the one stored stays, so that groups changed while the watch
        // was away are still seen as changed (see `groups_digest`).
        if full {
            snapshot.position.groups = Some(self.ctx.graph.digest());
        }
        // refresh_done = Some(false): the refresh was a present phase, which lists everyone
        // still there.
        let present = (!full && state.refresh_done == Some(false)).then_some(state.present);
        refreshed(snapshot, full, state.deleted, present)
    }

    /// The changes gathered since the last batch. Which of these people are disabled is
    /// read again first (`disabled_filter`), and the groups if one changed since they were
    /// last read, so the people are mapped as the directory stands now.
    async fn take_batch(&mut self) -> Result<Changes, WatchError> {
        self.batch_started = None;
        let mut ldap = self.ldap.clone();
        if self.groups_stale {
            self.ctx.refresh_groups(&mut ldap, &self.settings).await?;
            self.groups_stale = false;
        }
        let pending = std::mem::take(&mut self.pending);
        let uuids: Vec<String> = pending.iter().map(|(u, _)| u.clone()).collect();
        self.ctx
            .refresh_disabled_among(&mut ldap, &self.settings, &uuids)
            .await?;
        let state = std::mem::take(&mut self.state);
        let mapper = self.ctx.mapper(&self.settings, SystemTime::now());
        let mut snapshot = Snapshot::default();
        for (_, tag) in pending {
            match mapper.map(tag)? {
                Some(record) => snapshot.records.push(record),
                None => snapshot.skipped += 1,
            }
        }
        let keys = manager_keys(&mut ldap, &self.settings, &snapshot.records).await?;
        if let Some(cookie) = state.cookie {
            self.started_from = Some(cookie.clone());
            snapshot.position.cookie = Some(cookie);
        }
        // A batch maps a few people: the groups' fingerprint stays what the last full read
        // stored, until the full run that a group change calls for stores its own.
        Ok(Changes {
            snapshot,
            full: false,
            method: "syncrepl",
            note: None,
            gone: state.deleted,
            present: None,
            manager_keys: keys,
        })
    }

    /// Checks that the server still answers on this connection.
    async fn heartbeat(&mut self) -> Result<(), SourceError> {
        let mut ldap = self.ldap.clone();
        let answer = ldap
            .with_timeout(self.settings.timeout())
            .search("", ldap3::Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(e) => Err(SourceError::Search(format!(
                "watch: {} does not answer: {e}",
                self.settings.url
            ))),
        }
    }
}

/// Whether the directory of `settings` accepts a TCP connection within `limit` (or its
/// `timeout_secs`, if shorter): what a caller checks, cheaply, while the directory is away,
/// before opening a watch again. Nothing is sent; no TLS, no bind.
pub async fn reachable(settings: &LdapSettings, limit: Duration) -> bool {
    let Ok(url) = url::Url::parse(&settings.url) else {
        return false;
    };
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_owned())
    else {
        return false;
    };
    let port = url
        .port()
        .unwrap_or(if url.scheme() == "ldaps" { 636 } else { 389 });
    let limit = limit.min(settings.timeout());
    // std's connect with a time limit, on a blocking thread (name resolution blocks too).
    let connected = tokio::task::spawn_blocking(move || {
        use std::net::ToSocketAddrs;
        let Ok(addrs) = (host.as_str(), port).to_socket_addrs() else {
            return false;
        };
        addrs
            .into_iter()
            .any(|addr| std::net::TcpStream::connect_timeout(&addr, limit).is_ok())
    });
    matches!(connected.await, Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::ldap::Flavour;

    #[tokio::test]
    async fn reachable_is_a_tcp_connect_to_the_urls_host_and_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("address").port();
        let url = format!("ldap://127.0.0.1:{port}");
        let settings = LdapSettings::new(url, "dc=x", Flavour::OpenLdap);
        let limit = Duration::from_secs(2);
        assert!(reachable(&settings, limit).await);
        drop(listener);
        assert!(!reachable(&settings, limit).await);
        let unparsable = LdapSettings::new("not a url", "dc=x", Flavour::OpenLdap);
        assert!(!reachable(&unparsable, limit).await);
    }
}
