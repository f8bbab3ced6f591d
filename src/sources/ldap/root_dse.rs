//! The server's root DSE, read once per read of the directory: where its schema is, which
//! controls it offers (RFC 4533 content sync?) and, on Active
//! Directory, where its update sequence numbers stand (`highestCommittedUSN`) and which
//! database they count in (the `invocationId` of the NTDS Settings object named by
//! `dsServiceName`). A USN only means something with the `invocationId` it was read with:
//! another domain controller, or a restored one, counts differently.

use ldap3::{Ldap, Scope};

use super::entry::{RawEntry, format_guid, text};
use super::syncrepl::SYNC_REQUEST_OID;
use super::{LdapSettings, paged};
use crate::sources::{SourceError, Usn};

#[derive(Debug, Default)]
pub(super) struct RootDse {
    supported_controls: Vec<String>,
    subschema: Option<String>,
    highest_usn: Option<i64>,
    ds_service_name: Option<String>,
}

impl RootDse {
    pub(super) fn offers_content_sync(&self) -> bool {
        self.supported_controls
            .iter()
            .any(|c| c == SYNC_REQUEST_OID)
    }

    /// The DN of the subschema entry (`subschemaSubentry`).
    pub(super) fn subschema(&self) -> Option<&str> {
        self.subschema.as_deref()
    }
}

/// Reads the root DSE. A server that hides it is read as offering nothing.
pub(super) async fn read(ldap: &mut Ldap, settings: &LdapSettings) -> Result<RootDse, SourceError> {
    let attrs = [
        "supportedControl".to_owned(),
        "subschemaSubentry".to_owned(),
        "highestCommittedUSN".to_owned(),
        "dsServiceName".to_owned(),
    ];
    let mut root = RootDse::default();
    let read = paged::search_unpaged(
        ldap,
        settings,
        paged::Search {
            what: "root DSE read",
            base: "",
            scope: Scope::Base,
            filter: "(objectClass=*)",
            attrs: &attrs,
        },
        |tag| {
            let entry = RawEntry::parse(tag)?;
            root.subschema = entry.first_text("subschemaSubentry");
            root.ds_service_name = entry.first_text("dsServiceName");
            root.highest_usn = entry
                .first_text("highestCommittedUSN")
                .and_then(|t| t.trim().parse().ok());
            root.supported_controls = entry
                .attrs
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("supportedControl"))
                .flat_map(|(_, values)| values.iter().filter_map(|v| text(v).map(str::to_owned)))
                .collect();
            Ok(())
        },
    )
    .await;
    match read {
        Ok(_) => Ok(root),
        Err(SourceError::Search(e)) => {
            tracing::debug!(url = %settings.url, error = %e, "root DSE not readable");
            Ok(RootDse::default())
        }
        Err(e) => Err(e),
    }
}

/// Where Active Directory's update sequence numbers stand, or `None` when the server does
/// not show them (then incremental runs read everyone).
pub(super) async fn usn(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    root: &RootDse,
) -> Result<Option<Usn>, SourceError> {
    let (Some(highest), Some(service)) = (root.highest_usn, root.ds_service_name.as_deref()) else {
        return Ok(None);
    };
    let attrs = ["invocationId".to_owned()];
    let mut invocation_id = None;
    let read = paged::search_unpaged(
        ldap,
        settings,
        paged::Search {
            what: "invocationId read",
            base: service,
            scope: Scope::Base,
            filter: "(objectClass=*)",
            attrs: &attrs,
        },
        |tag| {
            let entry = RawEntry::parse(tag)?;
            invocation_id = entry
                .attrs
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("invocationId"))
                .and_then(|(_, values)| values.into_iter().next())
                .and_then(|v| format_guid(&v).or_else(|| text(&v).map(|t| t.trim().to_owned())));
            Ok(())
        },
    )
    .await;
    match read {
        Ok(_) => Ok(invocation_id.map(|invocation_id| Usn {
            invocation_id,
            highest,
        })),
        Err(SourceError::Search(e)) => {
            tracing::warn!(url = %settings.url, %service, error = %e, "invocationId not readable; incremental runs read everyone");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
