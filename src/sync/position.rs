//! Where a source's next incremental run starts (`source_state`): saved only after the run
//! that read it was applied.

use super::*;

/// Where the next incremental run of `source` starts, as the last successful run left it.
/// `since` is that run's start (the caller takes the overlap off).
pub fn position(conn: &mut DbConn, source: &str) -> Result<Position, SyncError> {
    Ok(stored(conn, source)?.0)
}

/// The stored position of `source` and its last full run.
fn stored(conn: &mut DbConn, source: &str) -> Result<(Position, Option<NaiveDateTime>), SyncError> {
    use crate::store::schema::source_state as st;
    type Row = (
        (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<NaiveDateTime>,
        ),
        (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<NaiveDateTime>,
        ),
    );
    let row: Option<Row> = st::table
        .filter(st::source.eq(source))
        .select((
            (
                st::cursor,
                st::sync_cookie,
                st::usn_invocation_id,
                st::usn_highest,
                st::groups_digest,
                st::last_full_at,
            ),
            (
                st::export_etag,
                st::export_last_modified,
                st::export_digest,
                st::replan_at,
            ),
        ))
        .first(conn)
        .optional()?;
    let Some((
        (since, cookie, invocation_id, highest, groups, last_full),
        (etag, last_modified, digest, replan_at),
    )) = row
    else {
        return Ok((Position::default(), None));
    };
    use base64::Engine as _;
    let position = Position {
        since: since.and_then(|t| NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").ok()),
        cookie: cookie.and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok()),
        usn: match (invocation_id, highest) {
            (Some(invocation_id), Some(highest)) => Some(Usn {
                invocation_id,
                highest,
            }),
            _ => None,
        },
        groups,
        export: (etag.is_some() || last_modified.is_some() || digest.is_some()).then_some(
            crate::sources::ExportMark {
                etag,
                last_modified,
                digest,
                replan_at,
            },
        ),
    };
    Ok((position, last_full))
}

/// Records where the next incremental run starts, after a run was applied: `at` is when
/// that run began reading; the parts of `next` the read did not produce (`None`) keep
/// their stored value.
pub fn save_position(
    conn: &mut DbConn,
    source: &str,
    at: Option<NaiveDateTime>,
    full: bool,
    next: &Position,
    now: NaiveDateTime,
) -> Result<(), SyncError> {
    use crate::store::schema::source_state as st;
    use base64::Engine as _;
    write_tx(conn, |conn| -> Result<(), SyncError> {
        let (old, last_full) = stored(conn, source)?;
        let since = at.or(old.since);
        let cookie = next.cookie.clone().or(old.cookie);
        let usn = next.usn.clone().or(old.usn);
        let groups = next.groups.clone().or(old.groups);
        let export = next.export.clone().or(old.export).unwrap_or_default();
        diesel::delete(st::table.filter(st::source.eq(source))).execute(conn)?;
        diesel::insert_into(st::table)
            .values((
                st::source.eq(source),
                st::cursor.eq(since.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())),
                st::cursor_kind.eq(Some("modify_timestamp")),
                st::last_full_at.eq(if full { at.or(Some(now)) } else { last_full }),
                st::updated_at.eq(now),
                st::sync_cookie
                    .eq(cookie.map(|c| base64::engine::general_purpose::STANDARD.encode(c))),
                st::usn_invocation_id.eq(usn.as_ref().map(|u| u.invocation_id.clone())),
                st::usn_highest.eq(usn.as_ref().map(|u| u.highest)),
                st::groups_digest.eq(groups),
                st::export_etag.eq(export.etag),
                st::export_last_modified.eq(export.last_modified),
                st::export_digest.eq(export.digest),
                st::replan_at.eq(export.replan_at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Forgets the content-sync cookie of `source` (the server no longer accepts it).
pub fn forget_cookie(conn: &mut DbConn, source: &str) -> Result<(), SyncError> {
    use crate::store::schema::source_state as st;
    diesel::update(st::table.filter(st::source.eq(source)))
        .set(st::sync_cookie.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}
