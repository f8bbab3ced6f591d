//! The admin list's search and sort columns of an agent (`agents.search_text`,
//! `agents.sort_name`): what they hold, the trigrams a term is looked up by, and filling them
//! for rows written before they existed. Every write of an agent row (`store::agents`)
//! computes them from the row it writes, so no door can leave them stale.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::models::AgentRow;
use super::schema::agents;
use super::{DbConn, write_tx};
use crate::domain::names::fold;

/// What separates the fields of `search_text`: a term never holds it (control characters
/// are refused in a search), so no match spans two fields.
pub const SEPARATOR: char = '\n';

/// The folded text a search looks in: display name, given and family name (both orders, and
/// family name then given name without a space, as Chinese names are written), nickname,
/// formatted name, user name, email and agent number — one per line, each once.
pub fn search_text(row: &AgentRow) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(8);
    let mut push = |s: Option<&str>| {
        if let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) {
            let f: String = fold(s)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if !parts.contains(&f) {
                parts.push(f);
            }
        }
    };
    push(row.display_name.as_deref());
    let given = row.given_name.as_deref().map(str::trim).unwrap_or("");
    let family = row.family_name.as_deref().map(str::trim).unwrap_or("");
    if !given.is_empty() && !family.is_empty() {
        push(Some(&format!("{given} {family}")));
        push(Some(&format!("{family} {given}")));
        push(Some(&format!("{family}{given}")));
    } else {
        push(Some(given));
        push(Some(family));
    }
    push(row.nickname.as_deref());
    push(row.formatted_name.as_deref());
    push(Some(&row.user_name));
    push(row.email.as_deref());
    push(row.employee_number.as_deref());
    parts.join(&SEPARATOR.to_string())
}

/// The key "sort by display name" orders by: the folded display name, else the formatted
/// name, given and family name, or user name.
pub fn sort_name(row: &AgentRow) -> String {
    let pick = [
        row.display_name.clone(),
        row.formatted_name.clone(),
        match (row.given_name.as_deref(), row.family_name.as_deref()) {
            (None, None) => None,
            (g, f) => Some(format!("{} {}", g.unwrap_or(""), f.unwrap_or(""))),
        },
    ]
    .into_iter()
    .flatten()
    .map(|s| s.trim().to_owned())
    .find(|s| !s.is_empty())
    .unwrap_or_else(|| row.user_name.clone());
    fold(&pick)
}

/// The distinct three-character substrings of a folded term, by character (what the
/// PostgreSQL index holds per row, see `rollcall_trigrams`).
pub fn trigrams(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    let mut out: Vec<String> = Vec::new();
    for w in chars.windows(3) {
        let g: String = w.iter().collect();
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// Computes the search and sort columns of rows that have none (written before
/// 2026-12-03), in chunks; returns how many were filled.
pub fn fill(conn: &mut DbConn) -> QueryResult<usize> {
    let mut filled = 0;
    loop {
        let rows: Vec<AgentRow> = agents::table
            .filter(agents::search_text.is_null())
            .select(AgentRow::as_select())
            .limit(500)
            .load(conn)?;
        if rows.is_empty() {
            return Ok(filled);
        }
        write_tx(conn, |conn| -> QueryResult<()> {
            for row in &rows {
                diesel::update(agents::table.filter(agents::id.eq(&row.id)))
                    .set((
                        agents::search_text.eq(Some(search_text(row))),
                        agents::sort_name.eq(sort_name(row)),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })?;
        filled += rows.len();
    }
}

/// SQLite: the highest rowid of `agents` (0 when empty). Rows inserted after this is read,
/// in the same write transaction, have higher ones: what [`index_new_rows`] indexes.
pub fn last_rowid(c: &mut diesel::SqliteConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let last: Last =
        diesel::sql_query("SELECT coalesce(max(rowid), 0) AS n FROM agents").get_result(c)?;
    Ok(last.n)
}

/// SQLite: adds the agents inserted after `rowid` (see [`last_rowid`]) to the trigram index
/// `agent_search`, in one statement. Inserts are indexed here rather than by a trigger:
/// FTS5 writes its pending terms to disk at every statement's savepoint, so a trigger wrote
/// an index segment per multi-row statement (see the migration `agent_search`).
pub fn index_new_rows(c: &mut diesel::SqliteConnection, rowid: i64) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO agent_search (rowid, search_text) SELECT rowid, search_text FROM agents \
         WHERE rowid > ? AND search_text IS NOT NULL",
    )
    .bind::<diesel::sql_types::BigInt, _>(rowid)
    .execute(c)?;
    Ok(())
}

/// The two columns as a changeset / insertable pair for one row.
pub type Columns = (
    diesel::dsl::Eq<agents::search_text, diesel::dsl::AsExprOf<Option<String>, Nullable<Text>>>,
    diesel::dsl::Eq<agents::sort_name, diesel::dsl::AsExprOf<String, Text>>,
);

/// The search and sort columns computed from `row`, to write with it.
pub fn columns(row: &AgentRow) -> Columns {
    use diesel::IntoSql;
    (
        agents::search_text.eq(Some(search_text(row)).into_sql::<Nullable<Text>>()),
        agents::sort_name.eq(sort_name(row).into_sql::<Text>()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AgentRow {
        AgentRow {
            id: "a".into(),
            preferred_language: None,
            external_id: None,
            user_name: "Wang.Wei@Example.COM".into(),
            display_name: Some("王伟".into()),
            given_name: Some("伟".into()),
            family_name: Some("王".into()),
            middle_name: None,
            formatted_name: None,
            nickname: Some("Ｗｅｉ".into()),
            title: None,
            email: Some("Wang.Wei@Example.COM".into()),
            phone: None,
            employee_number: Some("CS-004217".into()),
            department: None,
            manager_id: None,
            role: "agent".into(),
            permission_overrides: "{}".into(),
            max_concurrent_chats: None,
            status: "active".into(),
            login_blocked: false,
            sessions_revoked_at: None,
            password_hash: None,
            password_changed_at: None,
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            source: "admin".into(),
            source_key: None,
            last_seen_at: None,
            disabled_at: None,
            disabled_reason: None,
            purge_after: None,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
            version: 1,
            emails_inline: true,
            phones_inline: false,
            user_name_key: None,
            user_name_clash: String::new(),
        }
    }

    #[test]
    fn search_text_folds_and_dedupes() {
        let t = search_text(&row());
        // Family name then given name, as written in Chinese, equals the display name: once.
        assert_eq!(
            t, "王伟\n伟 王\n王 伟\nwei\nwang.wei@example.com\ncs-004217",
            "{t:?}"
        );
        assert!(t.contains(&fold("WANG")));
        assert!(t.contains("004217"));
    }

    #[test]
    fn sort_name_falls_back() {
        let mut r = row();
        assert_eq!(sort_name(&r), "王伟");
        r.display_name = None;
        assert_eq!(sort_name(&r), "伟 王");
        r.given_name = None;
        r.family_name = None;
        assert_eq!(sort_name(&r), "wang.wei@example.com");
        r.display_name = Some("  Ａnna ".into());
        assert_eq!(sort_name(&r), "anna");
    }

    #[test]
    fn trigrams_by_character() {
        assert_eq!(trigrams("wang"), ["wan", "ang"]);
        assert_eq!(trigrams("王小明"), ["王小明"]);
        assert_eq!(trigrams("aaaa"), ["aaa"]);
        assert!(trigrams("ab").is_empty());
    }
}
