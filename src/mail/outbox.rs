//! The `mail_outbox` table: a mail written in its caller's transaction (`enqueue`), claimed
//! by a sender under a lease (one UPDATE, so two senders never hold the same mail), marked
//! sent, rescheduled with back-off or given up; listed and retried by operators.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::Mail;
use crate::store::models::{MailRow, NewMailRow};
use crate::store::schema::mail_outbox as m;
use crate::store::{Db, DbConn};

/// Where a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a sender (until its lease ends).
    Sending,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up: tried for `mail.give_up_after_days`, or undeliverable.
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sending => "sending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<MailStatus> {
        match s {
            "pending" => Some(MailStatus::Pending),
            "sending" => Some(MailStatus::Sending),
            "sent" => Some(MailStatus::Sent),
            "failed" => Some(MailStatus::Failed),
            _ => None,
        }
    }
}

const OPEN: [&str; 2] = ["pending", "sending"];

/// Writes `mail` to the outbox, due at once. Call it inside the write transaction of the
/// change that asks for the mail: the mail then exists if and only if that change
/// committed, and the commit wakes this process's sender.
pub fn enqueue(conn: &mut DbConn, mail: &Mail<'_>, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(m::table)
        .values(&new_row(mail, now))
        .returning(m::id)
        .get_result(conn)
}

/// [`enqueue`] for many mails at once (the activation links of an import): multi-row
/// statements on PostgreSQL (2,000 rows: 18,000 parameters, under its 65,535).
pub fn enqueue_many(conn: &mut DbConn, mails: &[Mail<'_>], now: NaiveDateTime) -> QueryResult<()> {
    for chunk in mails.chunks(2000) {
        let rows: Vec<NewMailRow<'_>> = chunk.iter().map(|mail| new_row(mail, now)).collect();
        match conn {
            DbConn::Pg(pg) => {
                diesel::insert_into(m::table).values(&rows).execute(pg)?;
            }
            DbConn::Sqlite(_) => {
                for row in &rows {
                    diesel::insert_into(m::table).values(row).execute(conn)?;
                }
            }
        }
    }
    Ok(())
}

fn new_row<'a>(mail: &'a Mail<'a>, now: NaiveDateTime) -> NewMailRow<'a> {
    NewMailRow {
        agent_id: mail.agent_id,
        recipient: mail.to,
        language: mail.language,
        template: mail.template.as_str(),
        parameters: mail.values.to_string(),
        status: MailStatus::Pending.as_str(),
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
    }
}

/// Claims up to `limit` due mails for `owner` until `lease_until` and counts an attempt on
/// each: mails pending whose time has come, and mails whose sender's lease ran out (a node
/// that stopped while sending). The candidates are read first; the claim is one UPDATE
/// that checks each candidate again (on PostgreSQL a row another sender claimed meanwhile
/// is re-checked after its lock is released, and skipped), so two senders never hold the
/// same mail.
pub fn claim(
    conn: &mut DbConn,
    owner: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<MailRow>> {
    let free = || m::claimed_until.is_null().or(m::claimed_until.lt(now));
    let due: Vec<i64> = m::table
        .filter(m::status.eq_any(OPEN))
        .filter(m::next_attempt_at.le(now))
        .filter(free())
        .order((m::next_attempt_at.asc(), m::id.asc()))
        .select(m::id)
        .limit(limit)
        .load(conn)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let claimed: Vec<i64> = diesel::update(
        m::table
            .filter(m::id.eq_any(&due))
            .filter(m::status.eq_any(OPEN))
            .filter(m::next_attempt_at.le(now))
            .filter(free()),
    )
    .set((
        m::status.eq(MailStatus::Sending.as_str()),
        m::claimed_by.eq(owner),
        m::claimed_until.eq(lease_until),
        m::attempts.eq(m::attempts + 1),
    ))
    .returning(m::id)
    .get_results(conn)?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    m::table
        .filter(m::id.eq_any(&claimed))
        .filter(m::claimed_by.eq(owner))
        .order(m::id.asc())
        .select(MailRow::as_select())
        .load(conn)
}

/// Mail `id`, claimed by `owner`, was accepted by the SMTP server.
pub fn mark_sent(conn: &mut DbConn, id: i64, owner: &str, now: NaiveDateTime) -> QueryResult<bool> {
    finish(conn, id, owner, MailStatus::Sent, None, now, Some(now))
}

/// Mail `id` failed this time: tried again at `next`, with the error kept.
pub fn mark_retry(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    error: &str,
    next: NaiveDateTime,
) -> QueryResult<bool> {
    finish(
        conn,
        id,
        owner,
        MailStatus::Pending,
        Some(error),
        next,
        None,
    )
}

/// Mail `id` is given up.
pub fn mark_failed(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    error: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    finish(conn, id, owner, MailStatus::Failed, Some(error), now, None)
}

/// Ends `owner`'s claim on mail `id`; false when the claim was lost (its lease ran out and
/// another sender took the mail).
fn finish(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    status: MailStatus,
    error: Option<&str>,
    next: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    let n = diesel::update(
        m::table
            .filter(m::id.eq(id))
            .filter(m::claimed_by.eq(owner))
            .filter(m::status.eq(MailStatus::Sending.as_str())),
    )
    .set((
        m::status.eq(status.as_str()),
        m::last_error.eq(error),
        m::next_attempt_at.eq(next),
        m::sent_at.eq(sent_at),
        m::claimed_by.eq(None::<String>),
        m::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// When the next open mail falls due: the earliest attempt time of a pending mail, or the
/// end of a claimed mail's lease.
pub fn next_due(conn: &mut DbConn) -> QueryResult<Option<NaiveDateTime>> {
    let pending: Option<NaiveDateTime> = m::table
        .filter(m::status.eq(MailStatus::Pending.as_str()))
        .select(diesel::dsl::min(m::next_attempt_at))
        .first(conn)?;
    let leased: Option<NaiveDateTime> = m::table
        .filter(m::status.eq(MailStatus::Sending.as_str()))
        .select(diesel::dsl::min(m::claimed_until))
        .first(conn)?;
    Ok(match (pending, leased) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones: 30 s, doubling,
/// at most `max`.
pub fn backoff(attempts: i32, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let wait = Duration::seconds(30 * (1_i64 << doublings));
    wait.min(max).max(Duration::seconds(1).min(max))
}

/// A page of the outbox, newest first, below id `before`; with the id to continue from.
pub fn list(
    conn: &mut DbConn,
    status: Option<MailStatus>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<MailRow>, Option<i64>)> {
    let limit = limit.max(1);
    let mut q = m::table.into_boxed::<Db>();
    if let Some(s) = status {
        q = q.filter(m::status.eq(s.as_str()));
    }
    if let Some(b) = before {
        q = q.filter(m::id.lt(b));
    }
    let rows: Vec<MailRow> = q
        .order(m::id.desc())
        .limit(limit + 1)
        .select(MailRow::as_select())
        .load(conn)?;
    Ok(crate::store::newest_first_page(rows, limit, |r| r.id))
}

/// Mail `id`.
pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<Option<MailRow>> {
    m::table
        .filter(m::id.eq(id))
        .select(MailRow::as_select())
        .first(conn)
        .optional()
}

/// What an operator's retry did.
#[derive(Debug)]
pub enum Retry {
    /// The mail is due now (the give-up age counts again from now).
    Due(Box<MailRow>),
    NotFound,
    /// A sent mail is not sent again.
    AlreadySent,
}

/// Makes a failed or pending mail due now, in a write transaction (whose commit wakes this
/// process's sender). A mail being sent keeps its lease; it is only made due again when
/// the attempt fails.
pub fn retry(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<Retry> {
    crate::store::write_tx(conn, |conn| {
        let Some(row) = get(conn, id)? else {
            return Ok(Retry::NotFound);
        };
        match MailStatus::parse(&row.status) {
            Some(MailStatus::Sent) => return Ok(Retry::AlreadySent),
            Some(MailStatus::Sending) => {
                diesel::update(m::table.filter(m::id.eq(id)))
                    .set(m::retried_at.eq(now))
                    .execute(conn)?;
            }
            _ => {
                diesel::update(m::table.filter(m::id.eq(id)))
                    .set((
                        m::status.eq(MailStatus::Pending.as_str()),
                        m::next_attempt_at.eq(now),
                        m::retried_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(get(conn, id)?.map_or(Retry::NotFound, |row| Retry::Due(Box::new(row))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::minutes(15);
        let waits: Vec<i64> = (1..=8).map(|a| backoff(a, cap).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(backoff(0, cap).num_seconds(), 30);
        assert_eq!(backoff(i32::MAX, cap), cap);
        assert_eq!(backoff(3, Duration::seconds(1)).num_seconds(), 1);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            MailStatus::Pending,
            MailStatus::Sending,
            MailStatus::Sent,
            MailStatus::Failed,
        ] {
            assert_eq!(MailStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MailStatus::parse("queued"), None);
    }
}
