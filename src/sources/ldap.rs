//! The LDAP source: reads every person under a base DN from OpenLDAP or Active Directory
//! (simple bind over ldap, ldaps or StartTLS; paged searches) and reports them as a
//! `Snapshot`. The order of a read (connect, bind, schema, groups, disabled people, people)
//! lives here; settings, searches, the group graph, the entry mapping and the schema look-up
//! each have their own file under `ldap/`.

mod entry;
mod groups;
mod paged;
mod schema;
mod settings;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};

use super::{Snapshot, SourceError};
use entry::EntryMapper;
use groups::GroupGraph;
use settings::Field;
pub use settings::{AttributeMap, Flavour, LdapSettings};

/// Reads the whole directory: every person under `base_dn` matching `user_filter`.
pub async fn fetch(settings: &LdapSettings) -> Result<Snapshot, SourceError> {
    fetch_at(settings, SystemTime::now()).await
}

/// `fetch` with the clock passed in: `now` decides which Active Directory accounts have
/// expired.
///
/// The read runs on a thread of its own (tokio's blocking pool) with a single-threaded
/// runtime: decoding and mapping a large directory is a second or more of CPU work that must
/// not hold up the caller's async workers, and keeping the connection, the decoding and the
/// mapping on one thread is markedly faster than passing every entry between threads.
/// Dropping the returned future abandons the read.
pub async fn fetch_at(settings: &LdapSettings, now: SystemTime) -> Result<Snapshot, SourceError> {
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
                result = session(&settings, now) => result,
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
async fn session(settings: &LdapSettings, now: SystemTime) -> Result<Snapshot, SourceError> {
    let mut ldap = connect(settings).await?;
    let result = read(&mut ldap, settings, now).await;
    // Best effort: the connection closes when the last handle goes anyway.
    let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
    result
}

async fn read(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    now: SystemTime,
) -> Result<Snapshot, SourceError> {
    bind(ldap, settings).await?;
    let names = schema::resolve(ldap, settings).await?;
    let graph = GroupGraph::read(ldap, settings).await?;
    let disabled = match &settings.disabled_filter {
        Some(filter) => Some(read_disabled(ldap, settings, filter).await?),
        None => None,
    };

    let mapper = EntryMapper::new(settings, &names, &graph, disabled.as_ref(), now);
    let mut snapshot = Snapshot::default();
    let filter = settings.user_filter.as_str();
    let attrs = mapper.requested_attributes();
    paged::search(
        ldap,
        settings,
        paged::Search {
            what: "people search",
            base: &settings.base_dn,
            scope: Scope::Subtree,
            filter,
            attrs: &attrs,
        },
        |tag| {
            match mapper.map(tag)? {
                Some(record) => snapshot.records.push(record),
                None => snapshot.skipped += 1,
            }
            Ok(())
        },
    )
    .await?;
    tracing::info!(
        url = %settings.url,
        base = %settings.base_dn,
        people = snapshot.records.len(),
        skipped = snapshot.skipped,
        groups = graph.len(),
        "LDAP directory read"
    );
    Ok(snapshot)
}

/// Opens the connection (TLS as configured) and starts driving it.
async fn connect(settings: &LdapSettings) -> Result<Ldap, SourceError> {
    let mut conn_settings = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout())
        .set_starttls(settings.starttls);
    if let Some(ca_file) = &settings.ca_file {
        conn_settings = conn_settings.set_config(tls_config(ca_file)?);
    }
    let url = &settings.url;
    let (conn, ldap) = match LdapConnAsync::with_settings(conn_settings, url).await {
        Ok(pair) => pair,
        Err(LdapError::Timeout { .. }) => {
            return Err(SourceError::Timeout(format!(
                "no connection to {url} within {} s",
                settings.timeout_secs
            )));
        }
        Err(e) => return Err(SourceError::Connect(format!("{url}: {e}"))),
    };
    let url = url.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(%url, error = %e, "LDAP connection ended with an error");
        }
    });
    Ok(ldap)
}

/// A rustls configuration trusting only the CA certificates in `path`.
fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| SourceError::Config(format!("ca_file: cannot read {shown}: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| SourceError::Config(format!("ca_file: {shown} is not PEM: {e}")))?;
        roots.add(cert).map_err(|e| {
            SourceError::Config(format!("ca_file: unusable certificate in {shown}: {e}"))
        })?;
    }
    if roots.is_empty() {
        return Err(SourceError::Config(format!(
            "ca_file: no certificate in {shown}"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Simple bind with the configured DN; nothing to do for an anonymous read.
async fn bind(ldap: &mut Ldap, settings: &LdapSettings) -> Result<(), SourceError> {
    let (Some(dn), Some(password)) = (&settings.bind_dn, &settings.bind_password) else {
        return Ok(());
    };
    let result = ldap
        .with_timeout(settings.timeout())
        .simple_bind(dn, password)
        .await;
    match result {
        Ok(res) if res.rc == 0 => Ok(()),
        Ok(res) if res.rc == 49 => Err(SourceError::Bind(format!(
            "invalid credentials for {dn} at {}",
            settings.url
        ))),
        Ok(res) => Err(SourceError::Bind(format!(
            "{dn} at {}: result {} {}",
            settings.url,
            res.rc,
            paged::result_text(&res.text)
        ))),
        Err(LdapError::Timeout { .. }) => Err(SourceError::Timeout(format!(
            "bind as {dn} at {}: no answer within {} s",
            settings.url, settings.timeout_secs
        ))),
        Err(e) => Err(SourceError::Bind(format!("{dn} at {}: {e}", settings.url))),
    }
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
