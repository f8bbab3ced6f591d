//! The LDAP source: reads every person under a base DN from OpenLDAP or Active Directory
//! (simple bind over ldap, ldaps or StartTLS; paged searches) and reports them as a
//! `Snapshot`. The order of a read (connect, bind, schema, groups, disabled people, people)
//! lives here; settings, searches, the group graph, the entry mapping and the schema look-up
//! each have their own file under `ldap/`.

mod changes;
mod connect;
mod entry;
mod groups;
mod paged;
mod root_dse;
mod schema;
mod settings;
mod syncrepl;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ldap3::asn1::StructureTag;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};

use super::{Changes, Position, RecordSink, Snapshot, SourceError, SourceRecord, Usn};
use changes::{read_changes, refreshed};
use connect::{bind, connect};
use entry::EntryMapper;
use groups::GroupGraph;
use settings::Field;
pub use settings::{AttributeMap, Flavour, Incremental, LdapSettings};

/// Reads the whole directory: every person under `base_dn` matching `user_filter`.
pub async fn fetch(settings: &LdapSettings) -> Result<Snapshot, SourceError> {
    fetch_at(settings, SystemTime::now()).await
}

/// `fetch` with the clock passed in: `now` decides which Active Directory accounts have
/// expired.
pub async fn fetch_at(settings: &LdapSettings, now: SystemTime) -> Result<Snapshot, SourceError> {
    on_reader_thread(settings, now, Job::Full(None))
        .await
        .map(|c| c.snapshot)
}

/// `fetch`, handing the people to `sink` a page at a time as they are read instead of
/// collecting them: the snapshot returned has no records. The read fails if the receiving
/// end goes away.
pub async fn fetch_into(
    settings: &LdapSettings,
    sink: RecordSink,
) -> Result<Snapshot, SourceError> {
    on_reader_thread(settings, SystemTime::now(), Job::Full(Some(sink)))
        .await
        .map(|c| c.snapshot)
}

/// Reads what changed since `from` (see `Incremental` for how), or everyone when `from`
/// cannot be used: no position yet, the group memberships changed, the domain controller
/// or the sync cookie is not the one the position was taken from.
pub async fn fetch_changes(
    settings: &LdapSettings,
    from: Position,
) -> Result<Changes, SourceError> {
    on_reader_thread(settings, SystemTime::now(), Job::Changes(from)).await
}

enum Job {
    Full(Option<RecordSink>),
    Changes(Position),
}

/// Runs a read on a thread of its own (tokio's blocking pool) with a single-threaded
/// runtime: decoding and mapping a large directory is a second or more of CPU work that must
/// not hold up the caller's async workers, and keeping the connection, the decoding and the
/// mapping on one thread is markedly faster than passing every entry between threads.
/// Dropping the returned future abandons the read.
async fn on_reader_thread(
    settings: &LdapSettings,
    now: SystemTime,
    job: Job,
) -> Result<Changes, SourceError> {
    settings.validate()?;
    let settings = settings.clone();
    let (_cancel_on_drop, cancelled) = tokio::sync::oneshot::channel::<()>();
    let span = tracing::Span::current();
    let reader = tokio::task::spawn_blocking(move || {
        let _in_callers_span = span.enter();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Search(format!("cannot start the LDAP reader: {e}")))?;
        runtime.block_on(async {
            tokio::select! {
                result = session(&settings, now, job) => result,
                _ = cancelled => Err(SourceError::Search("read abandoned".into())),
            }
        })
    });
    match reader.await {
        Ok(result) => result,
        Err(e) => Err(SourceError::Search(format!("the LDAP reader failed: {e}"))),
    }
}

/// One connection: connect, read, unbind.
async fn session(
    settings: &LdapSettings,
    now: SystemTime,
    job: Job,
) -> Result<Changes, SourceError> {
    let mut ldap = connect(settings).await?;
    let result = async {
        let ctx = Context::read(&mut ldap, settings).await?;
        match job {
            Job::Full(sink) => read_full(&mut ldap, settings, &ctx, now, sink)
                .await
                .map(Changes::full),
            Job::Changes(from) => read_changes(&mut ldap, settings, &ctx, from, now).await,
        }
    }
    .await;
    // Best effort: the connection closes when the last handle goes anyway.
    let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
    result
}

/// What every read needs before it reads people: the bind, attribute names, the server's
/// root DSE, the group graph and the people marked disabled.
struct Context {
    names: schema::Names,
    root: root_dse::RootDse,
    graph: Arc<GroupGraph>,
    disabled: Option<Arc<std::collections::HashSet<String>>>,
}

impl Context {
    async fn read(ldap: &mut Ldap, settings: &LdapSettings) -> Result<Context, SourceError> {
        bind(ldap, settings).await?;
        let root = root_dse::read(ldap, settings).await?;
        let names = schema::resolve(ldap, settings, root.subschema()).await?;
        let graph = Arc::new(GroupGraph::read(ldap, settings).await?);
        let disabled = match &settings.disabled_filter {
            Some(filter) => Some(Arc::new(read_disabled(ldap, settings, filter).await?)),
            None => None,
        };
        Ok(Context {
            names,
            root,
            graph,
            disabled,
        })
    }

    /// Reads the groups again (on a connection already bound).
    async fn refresh_groups(
        &mut self,
        ldap: &mut Ldap,
        settings: &LdapSettings,
    ) -> Result<(), SourceError> {
        self.graph = Arc::new(GroupGraph::read(ldap, settings).await?);
        Ok(())
    }

    /// Reads which of the people with these `entryUUID`s are disabled (`disabled_filter`),
    /// for mapping just those.
    async fn refresh_disabled_among(
        &mut self,
        ldap: &mut Ldap,
        settings: &LdapSettings,
        uuids: &[String],
    ) -> Result<(), SourceError> {
        let Some(filter) = &settings.disabled_filter else {
            return Ok(());
        };
        let mut dns = std::collections::HashSet::new();
        // Small batches name their people; a large one reads every disabled person.
        if uuids.len() > 200 {
            dns = read_disabled(ldap, settings, filter).await?;
        } else if !uuids.is_empty() {
            let any: String = uuids.iter().map(|u| format!("(entryUUID={u})")).collect();
            dns = read_disabled(ldap, settings, &format!("(&{filter}(|{any}))")).await?;
        }
        self.disabled = Some(Arc::new(dns));
        Ok(())
    }

    fn mapper(&self, settings: &LdapSettings, now: SystemTime) -> EntryMapper {
        EntryMapper::new(
            settings,
            &self.names,
            self.graph.clone(),
            self.disabled.clone(),
            now,
        )
    }

    /// Which method incremental reads use with this server.
    fn method(&self, settings: &LdapSettings) -> Incremental {
        match (settings.incremental, settings.flavour) {
            (Incremental::Auto, Flavour::ActiveDirectory) => Incremental::Usn,
            (Incremental::Auto, Flavour::OpenLdap) if self.root.offers_content_sync() => {
                Incremental::Syncrepl
            }
            (Incremental::Auto, Flavour::OpenLdap) => Incremental::ModifyTimestamp,
            (chosen, _) => chosen,
        }
    }
}

/// Reads every person: a paged search of `user_filter` under `base_dn`.
async fn read_full(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    now: SystemTime,
    sink: Option<RecordSink>,
) -> Result<Snapshot, SourceError> {
    // Taken before the read: what changes while the read runs is read again next time.
    let usn = match ctx.method(settings) {
        Incremental::Usn => root_dse::usn(ldap, settings, &ctx.root).await?,
        _ => None,
    };
    let (mut snapshot, read) = match sink {
        Some(sink) => {
            let (delivered, skipped) = read_people_into(ldap, settings, ctx, now, sink).await?;
            let snapshot = Snapshot {
                skipped,
                ..Snapshot::default()
            };
            (snapshot, delivered)
        }
        None => {
            let snapshot = read_people(ldap, settings, ctx, &settings.user_filter, now).await?;
            let read = snapshot.records.len();
            (snapshot, read)
        }
    };
    snapshot.position.usn = usn;
    snapshot.position.groups = Some(ctx.graph.digest());
    tracing::info!(
        url = %settings.url,
        base = %settings.base_dn,
        people = read,
        skipped = snapshot.skipped,
        groups = ctx.graph.len(),
        "LDAP directory read"
    );
    Ok(snapshot)
}

/// Reads everyone under the base and hands them to `sink` page by page, mapped on a
/// thread of its own: decoding the protocol keeps the reading thread busy on its own, so
/// mapping the entries (names, values, groups) beside it rather than after it shortens the
/// read by about the mapping's share. Returns how many people were delivered and skipped.
async fn read_people_into(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    now: SystemTime,
    sink: RecordSink,
) -> Result<(usize, usize), SourceError> {
    let mapper = ctx.mapper(settings, now);
    let attrs = mapper.requested_attributes();
    let (pages, raw) = std::sync::mpsc::sync_channel::<Vec<StructureTag>>(4);
    let span = tracing::Span::current();
    let mapping = std::thread::Builder::new()
        .name("ldap-mapper".into())
        .spawn(move || {
            let _in_callers_span = span.enter();
            map_pages(&mapper, raw, &sink)
        })
        .map_err(|e| SourceError::Search(format!("cannot start the LDAP mapping thread: {e}")))?;
    let mut page = Vec::with_capacity(SINK_PAGE);
    // Set when the mapping thread has stopped taking pages: then its error is the reason.
    let mapper_gone = std::cell::Cell::new(false);
    let hand_over = |page: Vec<StructureTag>| {
        pages.send(page).map_err(|_| {
            mapper_gone.set(true);
            stopped_reading()
        })
    };
    let read = paged::search(
        ldap,
        settings,
        people_search(settings, &settings.user_filter, &attrs),
        |tag| {
            page.push(tag);
            if page.len() >= SINK_PAGE {
                hand_over(std::mem::replace(&mut page, Vec::with_capacity(SINK_PAGE)))?;
            }
            Ok(())
        },
    )
    .await
    .and_then(|_| {
        if page.is_empty() {
            Ok(())
        } else {
            hand_over(page)
        }
    });
    drop(pages);
    let mapped = mapping
        .join()
        .unwrap_or_else(|_| Err(SourceError::Search("the LDAP mapping thread failed".into())));
    match (read, mapped) {
        // The mapping stopped first (a malformed entry, nobody receiving): its reason, not
        // the reading side's "stopped reading".
        (Err(_), Err(m)) if mapper_gone.get() => Err(m),
        // The search failing is the reason the run fails, whatever the mapping did since.
        (Err(e), _) => Err(e),
        (Ok(()), mapped) => mapped,
    }
}

/// Maps the pages of entries from `pages` and hands each page of people to `sink`, until
/// the reading side is done. Stops at the first entry the server sent malformed, or when
/// the receiving end is gone; returns how many people were delivered and skipped.
fn map_pages(
    mapper: &EntryMapper,
    pages: std::sync::mpsc::Receiver<Vec<StructureTag>>,
    sink: &RecordSink,
) -> Result<(usize, usize), SourceError> {
    let (mut delivered, mut skipped) = (0, 0);
    for page in pages {
        let mut records = Vec::with_capacity(page.len());
        for tag in page {
            match mapper.map(tag)? {
                Some(record) => records.push(record),
                None => skipped += 1,
            }
        }
        if !records.is_empty() {
            delivered += records.len();
            sink.send(records).map_err(|_| stopped_reading())?;
        }
    }
    Ok((delivered, skipped))
}

fn stopped_reading() -> SourceError {
    SourceError::Search("the run stopped reading".into())
}

/// The people matching `filter`, mapped.
async fn read_people(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    filter: &str,
    now: SystemTime,
) -> Result<Snapshot, SourceError> {
    let mut snapshot = Snapshot::default();
    people(ldap, settings, ctx, filter, now, |record| {
        match record {
            Some(record) => snapshot.records.push(record),
            None => snapshot.skipped += 1,
        }
        Ok(())
    })
    .await?;
    Ok(snapshot)
}

/// Entries handed to the mapping thread, and people to a sink, per page (see `fetch_into`).
const SINK_PAGE: usize = 500;

/// Runs a paged search of `filter` and hands each entry, mapped (`None`: skipped, the
/// reason logged), to `on_person`.
async fn people<F>(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    filter: &str,
    now: SystemTime,
    mut on_person: F,
) -> Result<(), SourceError>
where
    F: FnMut(Option<SourceRecord>) -> Result<(), SourceError>,
{
    let mapper = ctx.mapper(settings, now);
    let attrs = mapper.requested_attributes();
    paged::search(
        ldap,
        settings,
        people_search(settings, filter, &attrs),
        |tag| on_person(mapper.map(tag)?),
    )
    .await?;
    Ok(())
}

/// The search for the people matching `filter` under the base, asking for `attrs`.
fn people_search<'a>(
    settings: &'a LdapSettings,
    filter: &'a str,
    attrs: &'a [String],
) -> paged::Search<'a> {
    paged::Search {
        what: "people search",
        base: &settings.base_dn,
        scope: Scope::Subtree,
        filter,
        attrs,
    }
}

/// `(&(user_filter)(extra))`
fn and_filter(user_filter: &str, extra: &str) -> String {
    let base = user_filter.trim();
    if base.starts_with('(') {
        format!("(&{base}{extra})")
    } else {
        format!("(&({base}){extra})")
    }
}

/// The keys of the managers the records name but do not hold, read one entry at a time.
async fn manager_keys(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    records: &[crate::sources::SourceRecord],
) -> Result<std::collections::HashMap<String, String>, SourceError> {
    let held: std::collections::HashSet<String> =
        records.iter().map(|r| r.dn.to_ascii_lowercase()).collect();
    let mut wanted: Vec<String> = records
        .iter()
        .filter_map(|r| r.manager_dn.as_deref())
        .map(str::to_ascii_lowercase)
        .filter(|dn| !held.contains(dn))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut keys = std::collections::HashMap::new();
    let attrs = [settings.flavour.key_attribute().to_owned()];
    for dn in wanted {
        let mut found = None;
        let read = paged::search_unpaged(
            ldap,
            settings,
            paged::Search {
                what: "manager look-up",
                base: &dn,
                scope: Scope::Base,
                filter: "(objectClass=*)",
                attrs: &attrs,
            },
            |tag| {
                found = entry::key_of(settings.flavour, tag);
                Ok(())
            },
        )
        .await;
        match read {
            Ok(_) => {
                if let Some(key) = found {
                    keys.insert(dn, key);
                }
            }
            // A manager who is not (or no longer) in the directory: no key.
            Err(SourceError::Search(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(keys)
}

/// DNs of the people the server finds with `(&(user_filter)(disabled_filter))`.
async fn read_disabled(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    disabled_filter: &str,
) -> Result<std::collections::HashSet<String>, SourceError> {
    let filter = format!("(&{}{})", settings.user_filter, disabled_filter);
    let attrs = ["1.1".to_owned()];
    let mut dns = std::collections::HashSet::new();
    paged::search(
        ldap,
        settings,
        paged::Search {
            what: "disabled people search",
            base: &settings.base_dn,
            scope: Scope::Subtree,
            filter: &filter,
            attrs: &attrs,
        },
        |tag| {
            dns.insert(entry::RawEntry::parse(tag)?.dn);
            Ok(())
        },
    )
    .await?;
    Ok(dns)
}
