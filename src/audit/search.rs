//! Reading the audit log by filters, newest first, a page at a time (keyset on the entry
//! id): for `GET /api/v1/audit` and the command line.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::models::AuditRow;
use crate::store::schema::audit_log;
use crate::store::{Db, DbConn};

/// Which actions an entry may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionMatch {
    /// Exactly this action (`agent.update`).
    Exact(String),
    /// Every action starting with this text (`agent.` from `agent.` or `agent.*`).
    Prefix(String),
    /// Any of these actions (`security`: the security log, [`SECURITY_ACTIONS`]).
    OneOf(Vec<String>),
}

/// The security log: sign-ins and their failures, locks, session revocations, password and
/// second-factor changes.
pub const SECURITY_ACTIONS: &[&str] = &[
    "agent.signin",
    "agent.signin_failed",
    "agent.signin_new_ip",
    "agent.lock",
    "agent.unlock",
    "session.revoke",
    "agent.password_change",
    "agent.password_reset",
    "agent.password_reset_request",
    "agent.activation_link",
    "agent.mfa_enroll",
    "agent.mfa_remove",
];

impl ActionMatch {
    /// `agent.*` and `agent.` are prefixes; anything else is one action.
    pub fn parse(s: &str) -> ActionMatch {
        if s == "security" {
            ActionMatch::OneOf(SECURITY_ACTIONS.iter().map(|a| (*a).to_owned()).collect())
        } else if let Some(p) = s.strip_suffix('*') {
            ActionMatch::Prefix(p.to_owned())
        } else if s.ends_with('.') {
            ActionMatch::Prefix(s.to_owned())
        } else {
            ActionMatch::Exact(s.to_owned())
        }
    }
}

/// The filters of a search; every given one must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The agent, group or other target the entry is about.
    pub target_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<ActionMatch>,
    /// Entries at or after this time.
    pub from: Option<NaiveDateTime>,
    /// Entries before this time.
    pub to: Option<NaiveDateTime>,
}

/// One page, newest first, and whether older entries match too.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// The id of the last entry of the page when more follow: where the next page starts
    /// (below it).
    pub next_before: Option<i64>,
}

/// `LIKE` text matching `prefix` literally (`%`, `_` and `\` escaped), then anything.
pub fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Entries matching `filter` with an id below `before` (all when `None`), newest first, at
/// most `limit` of them.
pub fn search(
    conn: &mut DbConn,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<AuditPage> {
    let limit = limit.max(1);
    let mut q = audit_log::table.into_boxed::<Db>();
    if let Some(t) = &filter.target_id {
        q = q.filter(audit_log::target_id.eq(t.clone()));
    }
    if let Some(a) = &filter.actor {
        q = q.filter(audit_log::actor.eq(a.clone()));
    }
    match &filter.action {
        Some(ActionMatch::Exact(a)) => q = q.filter(audit_log::action.eq(a.clone())),
        Some(ActionMatch::OneOf(list)) => q = q.filter(audit_log::action.eq_any(list.clone())),
        Some(ActionMatch::Prefix(p)) if !p.is_empty() => {
            q = q.filter(audit_log::action.like(like_prefix(p)).escape('\\'));
        }
        _ => {}
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_log::at.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_log::at.lt(to));
    }
    if let Some(b) = before {
        q = q.filter(audit_log::id.lt(b));
    }
    let rows: Vec<AuditRow> = q
        .order(audit_log::id.desc())
        .limit(limit + 1)
        .select(AuditRow::as_select())
        .load(conn)?;
    let (entries, next_before) = crate::store::newest_first_page(rows, limit, |e| e.id);
    Ok(AuditPage {
        entries,
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_as_exact_or_prefix() {
        assert_eq!(
            ActionMatch::parse("agent.update"),
            ActionMatch::Exact("agent.update".into())
        );
        assert_eq!(
            ActionMatch::parse("agent."),
            ActionMatch::Prefix("agent.".into())
        );
        assert_eq!(
            ActionMatch::parse("agent.*"),
            ActionMatch::Prefix("agent.".into())
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_prefix("agent."), "agent.%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
