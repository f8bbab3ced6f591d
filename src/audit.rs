//! The append-only audit log. Every entry carries the SHA-256 of the previous one, so a
//! changed or removed row breaks the chain (`rollcall audit verify`).

pub mod provenance;
pub mod search;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::models::{AuditRow, NewAuditRow};
use crate::store::multi_insert::{self, BindRow, RowOut};
use crate::store::schema::audit_log;
use crate::store::times::{SqliteTime, SqliteTimes};
use crate::store::{DbConn, DbConn::Pg};

/// Hash standing before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One thing that happened, before it is chained.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: NaiveDateTime,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<&'a str>,
}

fn digest(prev: &str, row: &NewAuditRow) -> String {
    digest_parts(
        prev,
        &timestamp(row.at),
        [
            &row.actor,
            &row.action,
            &row.target_type,
            &row.target_id,
            row.before.as_deref().unwrap_or(""),
            row.after.as_deref().unwrap_or(""),
            row.reason.as_deref().unwrap_or(""),
        ],
    )
}

/// How `at` enters the hash.
fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The hash of an entry: the previous hash, the time, then actor, action, target type,
/// target id, before, after and reason (absent ones as empty), each preceded by its length.
fn digest_parts(prev: &str, at: &str, rest: [&str; 7]) -> String {
    let mut h = Sha256::new();
    for part in [prev, at].into_iter().chain(rest) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry. Must run inside the caller's write transaction.
pub fn append(conn: &mut DbConn, entry: Entry<'_>) -> QueryResult<()> {
    if let Pg(_) = conn {
        // Serialise appenders across nodes so the chain stays linear.
        crate::store::lock_writes(conn)?;
    }
    let prev: Option<String> = audit_log::table
        .order(audit_log::id.desc())
        .select(audit_log::hash)
        .first(conn)
        .optional()?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let mut row = NewAuditRow {
        at: entry.at,
        actor: entry.actor.to_owned(),
        action: entry.action.to_owned(),
        target_type: entry.target_type.to_owned(),
        target_id: entry.target_id.to_owned(),
        before: entry.before.map(|v| v.to_string()),
        after: entry.after.map(|v| v.to_string()),
        reason: entry.reason.map(str::to_owned),
        prev_hash: prev.clone(),
        hash: String::new(),
    };
    row.hash = digest(&prev, &row);
    diesel::insert_into(audit_log::table)
        .values(&row)
        .execute(conn)
        .map(drop)
}

/// An entry whose `before` and `after` are JSON text already (a bulk writer renders each
/// snapshot once, for the audit entry and the event alike).
#[derive(Debug, Clone)]
pub struct TextEntry<'a> {
    pub at: NaiveDateTime,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// An audit row borrowing its content from a [`TextEntry`].
#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRef<'a> {
    at: NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    reason: Option<&'a str>,
    prev_hash: String,
    hash: String,
}

/// An entry with its time as SQLite text, for multi-row inserts.
struct AuditBind<'a> {
    row: &'a NewAuditRef<'a>,
    at: SqliteTime,
}

impl BindRow for AuditBind<'_> {
    const HEAD: &'static str = "INSERT INTO audit_log (at, actor, action, target_type, \
        target_id, before, after, reason, prev_hash, hash) VALUES ";
    type Marker = AuditMarker;

    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()> {
        let r = self.row;
        out.bind::<Timestamp, _>(&self.at)?;
        out.bind::<Text, _>(r.actor)?;
        out.bind::<Text, _>(r.action)?;
        out.bind::<Text, _>(r.target_type)?;
        out.bind::<Text, _>(r.target_id)?;
        out.bind::<Nullable<Text>, _>(&r.before)?;
        out.bind::<Nullable<Text>, _>(&r.after)?;
        out.bind::<Nullable<Text>, _>(&r.reason)?;
        out.bind::<Text, _>(&r.prev_hash)?;
        out.bind::<Text, _>(&r.hash)?;
        Ok(())
    }
}

/// Names the audit entries' multi-row statement for diesel's statement cache.
struct AuditMarker;

/// Appends several entries, chained in order, with multi-row statements. Must run inside
/// the caller's write transaction.
pub fn append_many(conn: &mut DbConn, entries: &[TextEntry<'_>]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Pg(_) = conn {
        crate::store::lock_writes(conn)?;
    }
    let mut prev: String = audit_log::table
        .order(audit_log::id.desc())
        .select(audit_log::hash)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| GENESIS.to_owned());
    let mut rows = Vec::with_capacity(entries.len());
    // A bulk writer stamps every entry with the same time: format it once.
    let mut at: Option<(NaiveDateTime, String)> = None;
    for entry in entries {
        let at_text = match &at {
            Some((t, text)) if *t == entry.at => text,
            _ => &at.insert((entry.at, timestamp(entry.at))).1,
        };
        let hash = digest_parts(
            &prev,
            at_text,
            [
                entry.actor,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.before.unwrap_or(""),
                entry.after.unwrap_or(""),
                entry.reason.unwrap_or(""),
            ],
        );
        rows.push(NewAuditRef {
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            before: entry.before,
            after: entry.after,
            reason: entry.reason,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    // Multi-row statements on both backends (see `store::agents::insert_rows`).
    match conn {
        DbConn::Sqlite(c) => {
            let mut times = SqliteTimes::default();
            let rows: Vec<AuditBind<'_>> = rows
                .iter()
                .map(|row| AuditBind {
                    at: times.of(row.at),
                    row,
                })
                .collect();
            multi_insert::insert_all(c, &rows)?;
        }
        Pg(c) => {
            for chunk in rows.chunks(400) {
                diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Entries about one target, oldest first.
pub fn for_target(conn: &mut DbConn, target_id: &str) -> QueryResult<Vec<AuditRow>> {
    audit_log::table
        .filter(audit_log::target_id.eq(target_id))
        .order(audit_log::id.asc())
        .select(AuditRow::as_select())
        .load(conn)
}

/// The most recent entries, newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<AuditRow>> {
    audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        entries: u64,
    },
    /// The first entry whose `prev_hash` or `hash` does not fit.
    Broken {
        id: i64,
        reason: String,
    },
}

/// Re-computes every hash, in pages.
pub fn verify(conn: &mut DbConn) -> QueryResult<Verdict> {
    let mut prev = GENESIS.to_owned();
    let mut last_id = i64::MIN;
    let mut count = 0u64;
    loop {
        let page: Vec<AuditRow> = audit_log::table
            .filter(audit_log::id.gt(last_id))
            .order(audit_log::id.asc())
            .limit(5000)
            .select(AuditRow::as_select())
            .load(conn)?;
        if page.is_empty() {
            return Ok(Verdict::Intact { entries: count });
        }
        for r in page {
            if r.prev_hash != prev {
                return Ok(Verdict::Broken {
                    id: r.id,
                    reason: "prev_hash does not match".into(),
                });
            }
            let recomputed = digest(
                &prev,
                &NewAuditRow {
                    at: r.at,
                    actor: r.actor.clone(),
                    action: r.action.clone(),
                    target_type: r.target_type.clone(),
                    target_id: r.target_id.clone(),
                    before: r.before.clone(),
                    after: r.after.clone(),
                    reason: r.reason.clone(),
                    prev_hash: r.prev_hash.clone(),
                    hash: String::new(),
                },
            );
            if recomputed != r.hash {
                return Ok(Verdict::Broken {
                    id: r.id,
                    reason: "content does not match its hash".into(),
                });
            }
            prev = r.hash;
            last_id = r.id;
            count += 1;
        }
    }
}
