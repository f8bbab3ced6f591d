//! Getting an export's bytes: a file, or an HTTP(S) GET with the configured header and `If-None-Match` / `If-Modified-Since` from the last export
//! processed, so an unchanged one is answered `304` and not read again.

use std::time::Duration;

use super::settings::HrSettings;
use crate::sources::{ExportMark, SourceError};

/// Exports larger than this are refused (a runaway server must not fill the memory).
const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

/// What a fetch got.
pub enum Got {
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// The server says the export is the one already processed (`304`).
    NotModified,
}

/// Reads the export; with `mark`, asks an HTTP server only for a changed one.
pub fn get(settings: &HrSettings, mark: Option<&ExportMark>) -> Result<Got, SourceError> {
    if let Some(path) = &settings.path {
        let bytes = std::fs::read(path)
            .map_err(|e| SourceError::Connect(format!("cannot read {}: {e}", path.display())))?;
        return Ok(Got::Body {
            bytes,
            etag: None,
            last_modified: None,
        });
    }
    let Some(url) = &settings.url else {
        return Err(SourceError::Config("no path or url".into()));
    };
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca_file) = &settings.ca_file {
        let roots: Vec<ureq::tls::Certificate<'static>> =
            crate::sources::tls::ca_certificates(ca_file)?
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(settings.timeout_secs.max(1))))
        .build()
        .into();
    let mut request = agent.get(url);
    if let (Some(name), Some(value)) = (&settings.header, &settings.header_value) {
        request = request.header(name.as_str(), value.0.trim());
    }
    if let Some(mark) = mark {
        if let Some(etag) = &mark.etag {
            request = request.header("If-None-Match", etag.as_str());
        }
        if let Some(lm) = &mark.last_modified {
            request = request.header("If-Modified-Since", lm.as_str());
        }
    }
    let mut response = request.call().map_err(|e| match e {
        ureq::Error::Timeout(_) => SourceError::Timeout(format!("{url}: {e}")),
        other => SourceError::Connect(format!("{url}: {other}")),
    })?;
    let status = response.status().as_u16();
    if status == 304 {
        return Ok(Got::NotModified);
    }
    if !(200..300).contains(&status) {
        return Err(SourceError::Search(format!("{url} answered HTTP {status}")));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_EXPORT_BYTES)
        .read_to_vec()
        .map_err(|e| {
            SourceError::Truncated(format!("{url}: the export could not be read whole: {e}"))
        })?;
    Ok(Got::Body {
        bytes,
        etag,
        last_modified,
    })
}
