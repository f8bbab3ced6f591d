//! Opening a directory connection: plain, LDAPS or StartTLS (a configured CA file or the
//! system roots), then the simple bind.

use super::*;

/// Opens the connection (TLS as configured) and starts driving it.
pub(super) async fn connect(settings: &LdapSettings) -> Result<Ldap, SourceError> {
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
pub(super) fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::sources::tls::ca_certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| SourceError::Config(format!("ca_file: {e}")))?;
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
pub(super) async fn bind(ldap: &mut Ldap, settings: &LdapSettings) -> Result<(), SourceError> {
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
