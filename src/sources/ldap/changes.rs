//! Incremental reads: what changed since a stored position — RFC 4533 content sync, Active
//! Directory's `uSNChanged`, or `modifyTimestamp` — or a full read when the position is
//! gone.

use super::*;

/// An incremental read from `from`.
pub(super) async fn read_changes(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    from: Position,
    now: SystemTime,
) -> Result<Changes, SourceError> {
    let digest = ctx.graph.digest();
    let method = ctx.method(settings);
    let full = |why: String, snapshot: Snapshot| {
        tracing::info!(url = %settings.url, "incremental read reads everyone: {why}");
        let mut changes = Changes::full(snapshot);
        changes.note = Some(why);
        changes
    };
    if from.groups.as_ref().is_some_and(|g| *g != digest) {
        let snapshot = read_full(ldap, settings, ctx, now, None).await?;
        return Ok(full("group memberships changed".into(), snapshot));
    }
    let mut changes = match method {
        Incremental::Syncrepl | Incremental::Auto => {
            match content_sync(ldap, settings, ctx, from.cookie.as_deref(), now).await {
                Ok(changes) => changes,
                Err(syncrepl::SyncFailure::RefreshRequired) => {
                    match content_sync(ldap, settings, ctx, None, now).await {
                        Ok(mut changes) => {
                            changes.note = Some("the server asked for a full refresh".into());
                            changes
                        }
                        Err(e) => return Err(sync_error(e)),
                    }
                }
                Err(syncrepl::SyncFailure::Limited(e)) if from.cookie.is_none() => {
                    // Without a cookie the first content sync reads everyone in one search,
                    // which the server's size limit for the bind DN may forbid: fall back
                    // to modifyTimestamp until the limit is lifted.
                    tracing::warn!(url = %settings.url, error = %e, "content sync cut by the server's limits; using modifyTimestamp");
                    by_timestamp(ldap, settings, ctx, from.since, now).await?
                }
                Err(e) => return Err(sync_error(e)),
            }
        }
        Incremental::Usn => {
            let current = root_dse::usn(ldap, settings, &ctx.root).await?;
            match (&from.usn, &current) {
                (Some(prev), Some(cur)) if prev.invocation_id == cur.invocation_id => {
                    let filter = and_filter(
                        &settings.user_filter,
                        &format!("(uSNChanged>={})", prev.highest.saturating_add(1)),
                    );
                    let mut snapshot = read_people(ldap, settings, ctx, &filter, now).await?;
                    snapshot.position.usn = Some(Usn {
                        invocation_id: cur.invocation_id.clone(),
                        highest: cur.highest.max(prev.highest),
                    });
                    Changes {
                        snapshot,
                        method: "usn",
                        ..Changes::default()
                    }
                }
                (_, None) => {
                    let snapshot = read_full(ldap, settings, ctx, now, None).await?;
                    full(
                        "the server shows no highestCommittedUSN/invocationId".into(),
                        snapshot,
                    )
                }
                (None, Some(_)) => {
                    let snapshot = read_full(ldap, settings, ctx, now, None).await?;
                    full("no previous USN".into(), snapshot)
                }
                (Some(_), Some(_)) => {
                    let snapshot = read_full(ldap, settings, ctx, now, None).await?;
                    full(
                        "another domain controller (or a restored one) answers: its invocationId differs".into(),
                        snapshot,
                    )
                }
            }
        }
        Incremental::ModifyTimestamp => by_timestamp(ldap, settings, ctx, from.since, now).await?,
    };
    changes.snapshot.position.groups = Some(digest);
    if !changes.full {
        changes.manager_keys = manager_keys(ldap, settings, &changes.snapshot.records).await?;
    }
    tracing::info!(
        url = %settings.url,
        method = changes.method,
        full = changes.full,
        changed = changes.snapshot.records.len(),
        gone = changes.gone.len(),
        "LDAP changes read"
    );
    Ok(changes)
}

/// The people whose entry changed at or after `since`; everyone without it.
async fn by_timestamp(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    since: Option<chrono::NaiveDateTime>,
    now: SystemTime,
) -> Result<Changes, SourceError> {
    let Some(since) = since else {
        let snapshot = read_full(ldap, settings, ctx, now, None).await?;
        let mut changes = Changes::full(snapshot);
        changes.note = Some("no previous run".into());
        return Ok(changes);
    };
    let filter = and_filter(
        &settings.user_filter,
        &format!("(modifyTimestamp>={})", since.format("%Y%m%d%H%M%SZ")),
    );
    let snapshot = read_people(ldap, settings, ctx, &filter, now).await?;
    Ok(Changes {
        snapshot,
        method: "modify_timestamp",
        ..Changes::default()
    })
}

fn sync_error(e: syncrepl::SyncFailure) -> SourceError {
    match e {
        syncrepl::SyncFailure::RefreshRequired => {
            SourceError::Search("content sync: the server asked for a full refresh again".into())
        }
        syncrepl::SyncFailure::Limited(e) | syncrepl::SyncFailure::Other(e) => e,
    }
}

/// A refreshOnly content sync from `cookie` (everyone without one).
async fn content_sync(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    ctx: &Context,
    cookie: Option<&[u8]>,
    now: SystemTime,
) -> Result<Changes, syncrepl::SyncFailure> {
    let mapper = ctx.mapper(settings, now);
    let attrs = mapper.requested_attributes();
    let mut gathered = syncrepl::Gathered::default();
    let mut snapshot = Snapshot::default();
    let done = syncrepl::refresh(ldap, settings, &attrs, cookie, |message| {
        if let Some((_, tag)) = gathered.take(message) {
            match mapper.map(tag)? {
                Some(record) => snapshot.records.push(record),
                None => snapshot.skipped += 1,
            }
        }
        Ok(())
    })
    .await?;
    snapshot.position.cookie = done
        .cookie
        .or(gathered.cookie)
        .or_else(|| cookie.map(<[u8]>::to_vec));
    let full = cookie.is_none();
    let present = (!full && !done.refresh_deletes).then_some(gathered.present);
    tracing::debug!(
        url = %settings.url,
        full,
        phase = if present.is_some() { "present" } else { "delete" },
        changed = snapshot.records.len(),
        deleted = gathered.deleted.len(),
        "content sync read"
    );
    Ok(refreshed(snapshot, full, gathered.deleted, present))
}

/// The changes of a content-sync refresh: everyone when it started without a cookie
/// (`full`); otherwise the changed people, the deleted keys and, after a present phase,
/// the keys still there.
pub(super) fn refreshed(
    snapshot: Snapshot,
    full: bool,
    deleted: std::collections::HashSet<String>,
    present: Option<std::collections::HashSet<String>>,
) -> Changes {
    Changes {
        snapshot,
        full,
        method: "syncrepl",
        note: full.then(|| "no sync cookie yet".to_owned()),
        gone: if full { Default::default() } else { deleted },
        present: if full { None } else { present },
        manager_keys: Default::default(),
    }
}
