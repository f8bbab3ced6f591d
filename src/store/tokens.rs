//! API tokens: only the SHA-256 of each token is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::TokenRow;
use super::schema::api_tokens;

pub fn insert(conn: &mut DbConn, row: &TokenRow) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .order(api_tokens::name)
        .select(TokenRow::as_select())
        .load(conn)
}

pub fn by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::name.eq(name))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::name.eq(name))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)
}

pub fn touch(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(api_tokens::table.filter(api_tokens::name.eq(name)))
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)
        .map(drop)
}
