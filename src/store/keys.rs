//! Server keys shared by every node on one database (`server_keys`): created once, by the
//! first node that needs one, and read by the others.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use rand::RngCore;

use super::DbConn;
use super::schema::server_keys;

/// The 32-byte key named `name`, created (random) when there is none yet. Two nodes that
/// start at once both try to insert; the loser's insert fails on the primary key and it
/// reads the winner's key.
pub fn get_or_create(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> QueryResult<Vec<u8>> {
    if let Some(key) = get(conn, name)? {
        return Ok(key);
    }
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    let inserted = diesel::insert_into(server_keys::table)
        .values((
            server_keys::name.eq(name),
            server_keys::secret.eq(hex::encode(fresh)),
            server_keys::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e),
    }
    get(conn, name)?.ok_or(Error::NotFound)
}

fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<Vec<u8>>> {
    let secret: Option<String> = server_keys::table
        .filter(server_keys::name.eq(name))
        .select(server_keys::secret)
        .first(conn)
        .optional()?;
    Ok(secret
        .and_then(|s| hex::decode(s).ok())
        .filter(|k| !k.is_empty()))
}
