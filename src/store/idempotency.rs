//! Stored responses of admin API requests sent with an `Idempotency-Key`
//! (`idempotency_keys`): claimed before the request runs, completed with its response,
//! purged after a day.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::{DbConn, write_tx};

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = ik)]
pub struct IdempotencyRow {
    pub actor: String,
    pub idem_key: String,
    pub method: String,
    pub path: String,
    pub body_hash: String,
    /// `None` while the first request with this key runs.
    pub status: Option<i32>,
    /// JSON object of the response headers kept (`Location`, `ETag`, `Content-Type`).
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or expired): it is now this request's, which runs.
    New,
    /// The key is held by an earlier request (finished or still running).
    Taken(IdempotencyRow),
}

/// Claims `(actor, key)` for a request, in a write transaction: of two requests with the
/// same key at once, one inserts and the other finds its row. A row created before
/// `expired_before` is replaced.
#[allow(clippy::too_many_arguments)]
pub fn claim(
    conn: &mut DbConn,
    actor: &str,
    key: &str,
    method: &str,
    path: &str,
    body_hash: &str,
    now: NaiveDateTime,
    expired_before: NaiveDateTime,
) -> QueryResult<Claim> {
    write_tx(conn, |conn| {
        let found: Option<IdempotencyRow> = ik::table
            .filter(ik::actor.eq(actor))
            .filter(ik::idem_key.eq(key))
            .select(IdempotencyRow::as_select())
            .first(conn)
            .optional()?;
        match found {
            Some(row) if row.created_at >= expired_before => return Ok(Claim::Taken(row)),
            Some(_) => release(conn, actor, key)?,
            None => {}
        }
        diesel::insert_into(ik::table)
            .values((
                ik::actor.eq(actor),
                ik::idem_key.eq(key),
                ik::method.eq(method),
                ik::path.eq(path),
                ik::body_hash.eq(body_hash),
                ik::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Claim::New)
    })
}

/// Stores the response of the request that claimed `(actor, key)`.
pub fn complete(
    conn: &mut DbConn,
    actor: &str,
    key: &str,
    status: i32,
    headers: &str,
    body: &str,
) -> QueryResult<()> {
    write_tx(conn, |conn| {
        diesel::update(
            ik::table
                .filter(ik::actor.eq(actor))
                .filter(ik::idem_key.eq(key)),
        )
        .set((
            ik::status.eq(Some(status)),
            ik::response_headers.eq(Some(headers)),
            ik::response_body.eq(Some(body)),
        ))
        .execute(conn)
        .map(drop)
    })
}

/// Frees `(actor, key)` (its request failed before it could change anything for certain).
pub fn release(conn: &mut DbConn, actor: &str, key: &str) -> QueryResult<()> {
    write_tx(conn, |conn| {
        diesel::delete(
            ik::table
                .filter(ik::actor.eq(actor))
                .filter(ik::idem_key.eq(key)),
        )
        .execute(conn)
        .map(drop)
    })
}

/// Deletes keys created before `before`; returns how many.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    write_tx(conn, |conn| {
        diesel::delete(ik::table.filter(ik::created_at.lt(before))).execute(conn)
    })
}
