//! Timestamps bound to SQLite as text formatted once. Diesel formats a `NaiveDateTime` for
//! SQLite on every bind; a bulk writer stamps hundreds of rows (and their audit entries)
//! with the same time, so it formats that time once and binds the same text.

use std::rc::Rc;

use chrono::NaiveDateTime;
use diesel::expression::AsExpression;
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// The text SQLite stores for a timestamp: what diesel's own `ToSql` writes.
const FORMAT: &str = "%F %T%.f";

/// A timestamp as SQLite text, bound as a `Timestamp`.
#[derive(Debug, Clone, AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct SqliteTime(Rc<str>);

impl ToSql<Timestamp, Sqlite> for SqliteTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> diesel::serialize::Result {
        out.set_value(&*self.0);
        Ok(IsNull::No)
    }
}

/// Formats timestamps as [`SqliteTime`], remembering the last one formatted.
#[derive(Debug, Default)]
pub struct SqliteTimes {
    last: Option<(NaiveDateTime, Rc<str>)>,
}

impl SqliteTimes {
    pub fn of(&mut self, at: NaiveDateTime) -> SqliteTime {
        match &self.last {
            Some((t, text)) if *t == at => SqliteTime(Rc::clone(text)),
            _ => {
                let text: Rc<str> = at.format(FORMAT).to_string().into();
                self.last = Some((at, Rc::clone(&text)));
                SqliteTime(text)
            }
        }
    }

    pub fn opt(&mut self, at: Option<NaiveDateTime>) -> Option<SqliteTime> {
        at.map(|t| self.of(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use diesel::prelude::*;
    use diesel::sql_types::Bool;

    #[derive(QueryableByName)]
    struct Same {
        #[diesel(sql_type = Bool)]
        same: bool,
    }

    /// The text bound is the text diesel binds for the same time (SQLite compares the two
    /// texts), and it reads back as that time.
    #[test]
    fn same_text_as_diesel() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let at = chrono::DateTime::from_timestamp(1_764_614_407, 567_353_000)
            .unwrap()
            .naive_utc();
        let whole = at.with_nanosecond(0).unwrap();
        let mut times = SqliteTimes::default();
        for t in [at, at, whole] {
            let same: Same = diesel::sql_query("SELECT ?1 = ?2 AS same")
                .bind::<Timestamp, _>(times.of(t))
                .bind::<Timestamp, _>(t)
                .get_result(&mut conn)
                .unwrap();
            assert!(same.same, "{t}");
            let back: NaiveDateTime = diesel::select(times.of(t).into_sql::<Timestamp>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(back, t);
        }
        let other: Same = diesel::sql_query("SELECT ?1 = ?2 AS same")
            .bind::<Timestamp, _>(times.of(whole))
            .bind::<Timestamp, _>(at)
            .get_result(&mut conn)
            .unwrap();
        assert!(!other.same);
    }
}
