//! Bulk inserts of agent rows and their value rows: multi-row statements on both backends.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use crate::store::DbConn;
use crate::store::models::{AgentRow, AgentValueRow};
use crate::store::multi_insert::{self, BindRow, RowOut};
use crate::store::schema::{agent_values, agents};
use crate::store::search;
use crate::store::times::{SqliteTime, SqliteTimes};

/// Rows per multi-row INSERT on PostgreSQL: well under the 65,535 bound parameters for the
/// widest table, and few round trips.
pub const INSERT_CHUNK: usize = 200;

/// Writes many agent rows, leaving out any that would break a uniqueness rule (a user name
/// taken by a live agent): returns, per row in order, whether it was written. Nothing is
/// rolled back, so this needs no savepoint inside a caller's transaction.
/// PostgreSQL: multi-row statements (one round trip per chunk) that return the ids written.
/// SQLite: runs of plain rows through `multi_insert` (a statement of a fixed number of rows,
/// prepared once), other rows one by one (`insert_one`).
pub fn insert_rows(
    conn: &mut DbConn,
    rows: &[(&AgentRow, Option<&str>)],
) -> QueryResult<Vec<bool>> {
    let mut written = Vec::with_capacity(rows.len());
    match conn {
        DbConn::Sqlite(c) => {
            let last = search::last_rowid(c)?;
            let mut times = SqliteTimes::default();
            let mut at = 0;
            while at < rows.len() {
                // A run of plain rows goes in through multi-row statements; a row that sets
                // more than the usual columns goes in alone.
                let run = rows[at..]
                    .iter()
                    .take_while(|(row, _)| is_plain(row))
                    .count();
                if run == 0 {
                    let (row, digest) = rows[at];
                    written.push(insert_one(c, row, digest)?);
                    at += 1;
                    continue;
                }
                let plain: Vec<PlainAgent<'_>> = rows[at..at + run]
                    .iter()
                    .map(|&(row, digest)| PlainAgent::new(row, digest, &mut times))
                    .collect();
                multi_insert::insert_each(c, &plain, |c, batch, n| {
                    if n == batch.len() {
                        written.extend(std::iter::repeat_n(true, n));
                        return Ok(());
                    }
                    // A clash left some out; the ids are new, so a row holding one of
                    // them is a row this statement wrote.
                    let ids: Vec<&str> = batch.iter().map(|p| p.row.id.as_str()).collect();
                    let present: std::collections::HashSet<String> = agents::table
                        .filter(agents::id.eq_any(&ids))
                        .select(agents::id)
                        .load(c)?
                        .into_iter()
                        .collect();
                    written.extend(batch.iter().map(|p| present.contains(&p.row.id)));
                    Ok(())
                })?;
                at += run;
            }
            search::index_new_rows(c, last)?;
        }
        DbConn::Pg(c) => {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let owned: Vec<NewAgent> = chunk
                    .iter()
                    .map(|(row, digest)| NewAgent {
                        row: (*row).clone(),
                        sync_digest: digest.map(str::to_owned),
                        sync_version: digest.map(|_| row.version),
                        search_text: Some(search::search_text(row)),
                        sort_name: search::sort_name(row),
                    })
                    .collect();
                let ids: std::collections::HashSet<String> = diesel::insert_into(agents::table)
                    .values(&owned)
                    .on_conflict_do_nothing()
                    .returning(agents::id)
                    .get_results::<String>(c)?
                    .into_iter()
                    .collect();
                written.extend(chunk.iter().map(|(row, _)| ids.contains(&row.id)));
            }
        }
    }
    Ok(written)
}

/// A plain agent row (see `is_plain`) with its timestamps as SQLite text, for multi-row
/// inserts: the columns a new agent usually sets.
struct PlainAgent<'a> {
    row: &'a AgentRow,
    digest: Option<&'a str>,
    sync_version: Option<i64>,
    search_text: String,
    sort_name: String,
    last_seen_at: Option<SqliteTime>,
    created_at: SqliteTime,
    updated_at: SqliteTime,
}

impl<'a> PlainAgent<'a> {
    fn new(row: &'a AgentRow, digest: Option<&'a str>, times: &mut SqliteTimes) -> Self {
        PlainAgent {
            row,
            digest,
            sync_version: digest.map(|_| row.version),
            search_text: search::search_text(row),
            sort_name: search::sort_name(row),
            last_seen_at: times.opt(row.last_seen_at),
            created_at: times.of(row.created_at),
            updated_at: times.of(row.updated_at),
        }
    }
}

impl BindRow for PlainAgent<'_> {
    const HEAD: &'static str = "INSERT OR IGNORE INTO agents (id, external_id, user_name, \
        display_name, given_name, family_name, middle_name, formatted_name, nickname, title, \
        email, phone, employee_number, department, manager_id, role, status, source, \
        source_key, last_seen_at, created_at, updated_at, sync_digest, sync_version, \
        emails_inline, phones_inline, user_name_key, search_text, sort_name) VALUES ";
    type Marker = AgentRow;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        let r = self.row;
        out.bind::<Text, _>(&r.id)?;
        out.bind::<Nullable<Text>, _>(&r.external_id)?;
        out.bind::<Text, _>(&r.user_name)?;
        for text in [
            &r.display_name,
            &r.given_name,
            &r.family_name,
            &r.middle_name,
            &r.formatted_name,
            &r.nickname,
            &r.title,
            &r.email,
            &r.phone,
            &r.employee_number,
            &r.department,
            &r.manager_id,
        ] {
            out.bind::<Nullable<Text>, _>(text)?;
        }
        out.bind::<Text, _>(&r.role)?;
        out.bind::<Text, _>(&r.status)?;
        out.bind::<Text, _>(&r.source)?;
        out.bind::<Nullable<Text>, _>(&r.source_key)?;
        out.bind::<Nullable<Timestamp>, _>(&self.last_seen_at)?;
        out.bind::<Timestamp, _>(&self.created_at)?;
        out.bind::<Timestamp, _>(&self.updated_at)?;
        out.bind::<Nullable<Text>, _>(&self.digest)?;
        out.bind::<Nullable<BigInt>, _>(&self.sync_version)?;
        out.bind::<Bool, _>(&r.emails_inline)?;
        out.bind::<Bool, _>(&r.phones_inline)?;
        out.bind::<Nullable<Text>, _>(&r.user_name_key)?;
        out.bind::<Text, _>(&self.search_text)?;
        out.bind::<Text, _>(&self.sort_name)?;
        Ok(())
    }
}

/// One agent row on SQLite that sets more than a plain row's columns (plain rows go
/// through `PlainAgent`); false when a clash left it out. Such rows are rare (an agent
/// created suspended, say), so the derived insert, whose SQL is rebuilt per row, will do.
fn insert_one(
    c: &mut diesel::SqliteConnection,
    row: &AgentRow,
    digest: Option<&str>,
) -> QueryResult<bool> {
    let new = NewAgent {
        row: row.clone(),
        sync_digest: digest.map(str::to_owned),
        sync_version: digest.map(|_| row.version),
        search_text: Some(search::search_text(row)),
        sort_name: search::sort_name(row),
    };
    let n = diesel::insert_or_ignore_into(agents::table)
        .values(&new)
        .execute(c)?;
    Ok(n == 1)
}

/// Whether every column a plain row (`PlainAgent`) leaves out holds its default.
fn is_plain(row: &AgentRow) -> bool {
    row.permission_overrides == "{}"
        && row.max_concurrent_chats.is_none()
        && !row.login_blocked
        && row.sessions_revoked_at.is_none()
        && row.password_hash.is_none()
        && row.password_changed_at.is_none()
        && !row.must_change_password
        && row.failed_logins == 0
        && row.locked_until.is_none()
        && row.disabled_at.is_none()
        && row.disabled_reason.is_none()
        && row.purge_after.is_none()
        && row.version == 1
        && row.user_name_clash.is_empty()
}

/// An agent row with what its owning source wrote (see `OwnedAgent::digest`).
#[derive(Insertable)]
#[diesel(table_name = agents)]
struct NewAgent {
    #[diesel(embed)]
    row: AgentRow,
    sync_digest: Option<String>,
    sync_version: Option<i64>,
    search_text: Option<String>,
    sort_name: String,
}

impl BindRow for &AgentValueRow {
    const HEAD: &'static str = "INSERT INTO agent_values \
        (agent_id, attr, position, value, kind, is_primary, display) VALUES ";
    type Marker = AgentValueRow;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        out.bind::<Text, _>(&self.agent_id)?;
        out.bind::<Text, _>(&self.attr)?;
        out.bind::<Integer, _>(&self.position)?;
        out.bind::<Text, _>(&self.value)?;
        out.bind::<Nullable<Text>, _>(&self.kind)?;
        out.bind::<Bool, _>(&self.is_primary)?;
        out.bind::<Nullable<Text>, _>(&self.display)?;
        Ok(())
    }
}

/// Writes many value rows (as [`insert_rows`], multi-row statements on both backends).
pub fn insert_value_rows(conn: &mut DbConn, values: &[&AgentValueRow]) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => multi_insert::insert_all(c, values)?,
        DbConn::Pg(c) => {
            for chunk in values.chunks(INSERT_CHUNK * 4) {
                let owned: Vec<AgentValueRow> = chunk.iter().map(|v| (*v).clone()).collect();
                diesel::insert_into(agent_values::table)
                    .values(&owned)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}
