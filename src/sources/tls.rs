//! The CA certificates a source trusts instead of the built-in roots (`ca_file`): read from
//! a PEM file and checked, for the directory's TLS and an HR export's HTTPS alike.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::SourceError;

/// The certificates in the PEM file `path`, each one a usable trust anchor; an error naming
/// `ca_file` when the file cannot be read, is not PEM, or holds no certificate.
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, SourceError> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| SourceError::Config(format!("ca_file: cannot read {shown}: {e}")))?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| SourceError::Config(format!("ca_file: {shown} is not PEM: {e}")))?;
        let mut check = rustls::RootCertStore::empty();
        check.add(cert.clone()).map_err(|e| {
            SourceError::Config(format!("ca_file: unusable certificate in {shown}: {e}"))
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(SourceError::Config(format!(
            "ca_file: no certificate in {shown}"
        )));
    }
    Ok(certs)
}
