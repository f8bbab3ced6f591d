//! Multi-row `INSERT` statements for SQLite with a fixed number of rows.
//!
//! A bulk writer on SQLite spends much of its time around each single-row statement rather
//! than in it: SQLite opens a cursor on the table and on every index per statement, and
//! diesel walks the statement for each execution. A statement of [`ROWS`] rows does that
//! once per [`ROWS`] rows. Its values borrow the caller's rows, and its query id is a type,
//! so diesel prepares it once per connection (diesel's own fixed-size batch insert caches
//! only values that borrow nothing).

use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::HasSqlType;
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

/// Rows per multi-row statement: 64 agent rows bind 1,728 values, well under SQLite's limit
/// of 32,766 per statement (in alternating cold syncs of 100,000 agents, 64 rows took a
/// median 3.52 s against 3.91 s for 32).
pub const ROWS: usize = 64;

/// A row that binds its own values, in the order of `HEAD`'s columns.
pub trait BindRow {
    /// `INSERT … INTO table (columns) VALUES `
    const HEAD: &'static str;
    /// Names the statement for diesel's statement cache.
    type Marker: 'static;
    fn bind<'b>(&'b self, out: &mut RowOut<'_, '_, 'b>) -> QueryResult<()>;
}

/// Where a row binds its values: one placeholder each, separated by commas.
pub struct RowOut<'o, 'a, 'b> {
    out: &'o mut AstPass<'a, 'b, Sqlite>,
    first: bool,
}

impl<'b> RowOut<'_, '_, 'b> {
    pub fn bind<T, U>(&mut self, value: &'b U) -> QueryResult<()>
    where
        Sqlite: HasSqlType<T>,
        U: ToSql<T, Sqlite> + ?Sized,
    {
        if !self.first {
            self.out.push_sql(", ");
        }
        self.first = false;
        self.out.push_bind_param::<T, U>(value)
    }
}

/// One statement inserting `N` rows.
pub struct MultiInsert<'a, R, const N: usize>(pub &'a [R; N]);

impl<R: BindRow, const N: usize> QueryId for MultiInsert<'_, R, N> {
    type QueryId = (R::Marker, [(); N]);
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<R: BindRow, const N: usize> QueryFragment<Sqlite> for MultiInsert<'_, R, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(R::HEAD);
        for (i, row) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql("(");
            row.bind(&mut RowOut {
                out: &mut out,
                first: true,
            })?;
            out.push_sql(")");
        }
        Ok(())
    }
}

impl<R, const N: usize> RunQueryDsl<SqliteConnection> for MultiInsert<'_, R, N> {}

/// Inserts `rows` in order, [`ROWS`] per statement and the rest one per statement. Calls
/// `written` with the connection, each statement's rows and the number SQLite reports it
/// inserted.
pub fn insert_each<R: BindRow>(
    conn: &mut SqliteConnection,
    rows: &[R],
    mut written: impl FnMut(&mut SqliteConnection, &[R], usize) -> QueryResult<()>,
) -> QueryResult<()> {
    let (batches, rest) = rows.as_chunks::<ROWS>();
    for batch in batches {
        let n = MultiInsert(batch).execute(conn)?;
        written(conn, batch, n)?;
    }
    for row in rest {
        let n = MultiInsert(std::array::from_ref(row)).execute(conn)?;
        written(conn, std::slice::from_ref(row), n)?;
    }
    Ok(())
}

/// Inserts `rows`, all of which must go in.
pub fn insert_all<R: BindRow>(conn: &mut SqliteConnection, rows: &[R]) -> QueryResult<()> {
    insert_each(conn, rows, |_, _, _| Ok(()))
}
