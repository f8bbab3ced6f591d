//! Reports an auditor asks for: `orphans` (active agents no source vouches for), `leavers`
//! (people who left, when Rollcall disabled them and the delay against the target: the
//! access-removal evidence of SOX and ISO 27001 A.5.18), `upcoming` (joiners and leavers of
//! the next days), `conflicts` (people a source could not link to one agent). Each names the runs and export snapshots it rests on. Read-only.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::store::DbConn;
use crate::store::schema::{agent_links, agent_schedule as sch, agents, sync_runs};

/// A source's last good run: what a report's rows rest on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Basis {
    pub source: String,
    pub run_id: Option<i64>,
    pub finished_at: Option<NaiveDateTime>,
    /// People the run read (an export's rows, a directory's records).
    pub records: Option<i32>,
    /// An export's SHA-256.
    pub snapshot_digest: Option<String>,
    /// The source's newest run when it came after this one and changed nothing (refused by
    /// the guard or failed): what it saw is not in the report.
    pub not_applied: Option<NotApplied>,
}

/// A run newer than a report's basis that was refused or failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotApplied {
    pub run_id: i64,
    pub status: String,
    pub started_at: NaiveDateTime,
    pub error: Option<String>,
}

/// A report: named columns and rows of text, and what it rests on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub report: &'static str,
    pub generated_at: NaiveDateTime,
    pub basis: Vec<Basis>,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Report {
    /// The rows as objects keyed by column (the JSON form).
    pub fn objects(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| ((*c).to_owned(), serde_json::Value::String(v.clone())))
                    .collect()
            })
            .collect()
    }
}

/// The configured sources a report speaks of: names (of their runs) and tags (of their
/// agents).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub names: Vec<String>,
    pub tags: Vec<String>,
    /// `[ownership]`'s status owners, by name and by the tag their agents carry (`scim`
    /// for identity providers: every `scim:<token>`); `None` when status is not configured.
    pub status_owners: Option<Vec<(String, String)>>,
}

impl Sources {
    pub fn of(config: &crate::config::Config) -> Sources {
        let status_owners = config.ownership.status_owners().map(|names| {
            names
                .into_iter()
                .filter_map(|name| {
                    if name == crate::config::SCIM_OWNER {
                        return Some((name.to_owned(), "scim".to_owned()));
                    }
                    let source = config.sources.iter().find(|s| s.name == name)?;
                    Some((name.to_owned(), source.tag()))
                })
                .collect()
        });
        Sources {
            names: config.sources.iter().map(|s| s.name.clone()).collect(),
            tags: config.sources.iter().map(|s| s.tag()).collect(),
            status_owners,
        }
    }
}

/// The last applied run (ok or partial) of each configured source, and the newest run after
/// it when that one changed nothing.
pub fn basis(conn: &mut DbConn, sources: &Sources) -> QueryResult<Vec<Basis>> {
    let mut out = Vec::new();
    for source in &sources.names {
        type Row = (i64, Option<NaiveDateTime>, i32, Option<i32>, Option<String>);
        let run: Option<Row> = sync_runs::table
            .filter(sync_runs::source.eq(source))
            .filter(sync_runs::status.eq_any(["ok", "partial"]))
            .filter(sync_runs::mode.ne("dry_run"))
            .order(sync_runs::id.desc())
            .select((
                sync_runs::id,
                sync_runs::finished_at,
                sync_runs::records,
                sync_runs::source_rows,
                sync_runs::snapshot_digest,
            ))
            .first(conn)
            .optional()?;
        let newest: Option<(i64, String, NaiveDateTime, Option<String>)> = sync_runs::table
            .filter(sync_runs::source.eq(source))
            .filter(sync_runs::mode.ne("dry_run"))
            .filter(sync_runs::id.gt(run.as_ref().map_or(0, |r| r.0)))
            .filter(sync_runs::finished_at.is_not_null())
            .order(sync_runs::id.desc())
            .select((
                sync_runs::id,
                sync_runs::status,
                sync_runs::started_at,
                sync_runs::error,
            ))
            .first(conn)
            .optional()?;
        let not_applied = newest
            .filter(|(_, status, _, _)| status == "refused" || status == "failed")
            .map(|(run_id, status, started_at, error)| NotApplied {
                run_id,
                status,
                started_at,
                error,
            });
        out.push(match run {
            Some((id, finished_at, records, rows, digest)) => Basis {
                source: source.clone(),
                run_id: Some(id),
                finished_at,
                records: Some(rows.unwrap_or(records)),
                snapshot_digest: digest,
                not_applied,
            },
            None => Basis {
                source: source.clone(),
                run_id: None,
                finished_at: None,
                records: None,
                snapshot_digest: None,
                not_applied,
            },
        });
    }
    Ok(out)
}

fn at(t: Option<NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A delay as people read it: `42 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn delay(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// People whose termination took effect in the last `days`: when, when their agent was
/// disabled, and whether that was within `target`.
pub fn leavers(
    conn: &mut DbConn,
    sources: &Sources,
    days: i64,
    target: Duration,
    now: NaiveDateTime,
) -> QueryResult<Report> {
    type Row = (
        String,
        Option<String>,
        String,
        Option<NaiveDateTime>,
        Option<String>,
        String,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = sch::table
        .inner_join(agents::table)
        .filter(sch::terminated_at.ge(now - Duration::days(days)))
        .filter(sch::terminated_at.le(now))
        .order((sch::terminated_at, agents::id))
        .select((
            agents::user_name,
            agents::employee_number,
            sch::source,
            sch::terminated_at,
            sch::leave_note,
            agents::status,
            agents::disabled_at,
        ))
        .load(conn)?;
    let rows = rows
        .into_iter()
        .map(|(user, number, source, left, note, status, disabled)| {
            let left_at = left.unwrap_or(now);
            let (disabled_at, took, verdict) = match (status.as_str(), disabled) {
                ("active" | "pending", _) => {
                    (String::new(), String::new(), "NOT DISABLED".to_owned())
                }
                (_, Some(d)) if d <= left_at => {
                    (at(Some(d)), "0 s".to_owned(), "yes (before)".to_owned())
                }
                (_, Some(d)) => {
                    let took = d - left_at;
                    let ok = if took <= target { "yes" } else { "NO" };
                    (at(Some(d)), delay(took), ok.to_owned())
                }
                (_, None) => (String::new(), String::new(), "unknown".to_owned()),
            };
            vec![
                user,
                number.unwrap_or_default(),
                source,
                at(left),
                note.unwrap_or_default(),
                disabled_at,
                took,
                verdict,
            ]
        })
        .collect();
    Ok(Report {
        report: "leavers",
        generated_at: now,
        basis: basis(conn, sources)?,
        columns: vec![
            "agent",
            "employeeNumber",
            "source",
            "leftAt",
            "asStated",
            "disabledAt",
            "delay",
            "withinTarget",
        ],
        rows,
    })
}

/// Joiners and leavers of the next `days`: moments not yet acted on.
pub fn upcoming(
    conn: &mut DbConn,
    sources: &Sources,
    days: i64,
    now: NaiveDateTime,
) -> QueryResult<Report> {
    type Row = (
        String,
        Option<String>,
        String,
        Option<NaiveDateTime>,
        Option<String>,
        String,
    );
    let until = now + Duration::days(days);
    let joiners: Vec<Row> = sch::table
        .inner_join(agents::table)
        .filter(sch::start_done_at.is_null())
        .filter(sch::starts_at.gt(now))
        .filter(sch::starts_at.le(until))
        .select((
            agents::user_name,
            agents::employee_number,
            sch::source,
            sch::starts_at,
            sch::start_note,
            agents::status,
        ))
        .load(conn)?;
    let leavers: Vec<Row> = sch::table
        .inner_join(agents::table)
        .filter(sch::leave_done_at.is_null())
        .filter(sch::leaves_at.gt(now))
        .filter(sch::leaves_at.le(until))
        .select((
            agents::user_name,
            agents::employee_number,
            sch::source,
            sch::leaves_at,
            sch::leave_note,
            agents::status,
        ))
        .load(conn)?;
    let mut rows: Vec<(NaiveDateTime, Vec<String>)> = joiners
        .into_iter()
        .map(|r| ("joiner", r))
        .chain(leavers.into_iter().map(|r| ("leaver", r)))
        .map(|(kind, (user, number, source, when, note, status))| {
            (
                when.unwrap_or(now),
                vec![
                    at(when),
                    kind.to_owned(),
                    user,
                    number.unwrap_or_default(),
                    source,
                    note.unwrap_or_default(),
                    status,
                ],
            )
        })
        .collect();
    rows.sort();
    Ok(Report {
        report: "upcoming",
        generated_at: now,
        basis: basis(conn, sources)?,
        columns: vec![
            "at",
            "kind",
            "agent",
            "employeeNumber",
            "source",
            "asStated",
            "statusNow",
        ],
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    })
}

/// Active agents no source vouches for: terminated (or past their leaving moment) at their
/// HR source; to be removed by a source's newest run, which the guard refused (held);
/// owned by a sync source that is no longer configured; and, when `[ownership]`
/// names the sources that own status, known (made or linked) to none of them — otherwise,
/// when sync sources are configured, made by hand or by an import and known to none.
pub fn orphans(conn: &mut DbConn, sources: &Sources, now: NaiveDateTime) -> QueryResult<Report> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let left: Vec<(String, Option<String>, String, Option<String>)> = sch::table
        .inner_join(agents::table)
        .filter(agents::status.eq("active"))
        .filter(sch::terminated_at.le(now).or(sch::leaves_at.le(now)))
        .order(agents::user_name)
        .select((
            agents::user_name,
            agents::employee_number,
            sch::source,
            sch::leave_note,
        ))
        .load(conn)?;
    let mut listed = std::collections::HashSet::new();
    for (user, number, source, note) in left {
        listed.insert(user.clone());
        rows.push(vec![
            user,
            number.unwrap_or_default(),
            source.clone(),
            format!(
                "left at {source} ({}) but still active",
                note.unwrap_or_else(|| "terminated".into())
            ),
        ]);
    }
    let active: Vec<(String, String, Option<String>, String)> = agents::table
        .filter(agents::status.eq("active"))
        .order(agents::user_name)
        .select((
            agents::id,
            agents::user_name,
            agents::employee_number,
            agents::source,
        ))
        .load(conn)?;
    let linked: std::collections::HashSet<String> = match &sources.status_owners {
        Some(owners) => agent_links::table
            .filter(agent_links::source.eq_any(owners.iter().map(|(_, tag)| tag.clone())))
            .select(agent_links::agent_id)
            .load(conn)?
            .into_iter()
            .collect(),
        None => Default::default(),
    };
    let basis = basis(conn, sources)?;
    let held = held_removals(conn, &basis)?;
    for (id, user, number, source) in active {
        if listed.contains(&user) {
            continue;
        }
        let synced = crate::domain::is_sync_source(&source);
        let why = if let Some(why) = held.get(&id) {
            Some(why.clone())
        } else if synced && !sources.tags.contains(&source) {
            Some(format!("owned by {source}, which is no longer configured"))
        } else if let Some(owners) = &sources.status_owners {
            let kind = if source.starts_with("scim:") {
                "scim"
            } else {
                &source
            };
            let known = linked.contains(&id) || owners.iter().any(|(_, tag)| tag == kind);
            let names: Vec<&str> = owners.iter().map(|(n, _)| n.as_str()).collect();
            (!known).then(|| {
                format!(
                    "made by {source}; unknown to every source that owns status ({})",
                    names.join(", ")
                )
            })
        } else {
            (!synced && !source.starts_with("scim:") && !sources.tags.is_empty())
                .then(|| format!("made by {source}; unknown to every source"))
        };
        if let Some(why) = why {
            rows.push(vec![user, number.unwrap_or_default(), source, why]);
        }
    }
    Ok(Report {
        report: "orphans",
        generated_at: now,
        basis,
        columns: vec!["agent", "employeeNumber", "source", "why"],
        rows,
    })
}

/// Agents whose removal the newest run of a source planned but the guard refused (the
/// person missing from that run, or left): agent id → why, from the refused run's plan.
fn held_removals(
    conn: &mut DbConn,
    basis: &[Basis],
) -> QueryResult<std::collections::HashMap<String, String>> {
    let mut held = std::collections::HashMap::new();
    for b in basis {
        let Some(n) = b.not_applied.as_ref().filter(|n| n.status == "refused") else {
            continue;
        };
        let plan: Option<String> = sync_runs::table
            .find(n.run_id)
            .select(sync_runs::plan)
            .first(conn)?;
        let plan: serde_json::Value = plan
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let removals = plan["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| matches!(c["action"].as_str(), Some("disable" | "delete")));
        for c in removals {
            let Some(id) = c["agent_id"].as_str() else {
                continue;
            };
            held.entry(id.to_owned()).or_insert_with(|| {
                format!(
                    "{} at {} run {}, held: the guard refused that run ({})",
                    c["reason"].as_str().unwrap_or("to be removed"),
                    b.source,
                    n.run_id,
                    n.error.as_deref().unwrap_or("no reason recorded")
                )
            });
        }
    }
    Ok(held)
}

/// People the last applied run of each source could not link: two agents were
/// candidates (or their agent was linked to another person), so the run linked and created
/// neither. Settled by correcting the data (one agent keeps the key) or merging by hand.
pub fn conflicts(conn: &mut DbConn, sources: &Sources, now: NaiveDateTime) -> QueryResult<Report> {
    let basis = basis(conn, sources)?;
    let mut rows = Vec::new();
    for b in &basis {
        let Some(id) = b.run_id else { continue };
        let json: Option<String> = sync_runs::table
            .find(id)
            .select(sync_runs::disputes)
            .first(conn)?;
        let disputes: Vec<crate::sync::plan::Dispute> = json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        for d in disputes {
            let candidates: Vec<String> = d
                .candidates
                .iter()
                .map(|c| format!("{} ({}, {})", c.user_name, c.source, c.agent_id))
                .collect();
            rows.push(vec![
                b.source.clone(),
                d.user_name,
                d.key,
                format!("{} = {}", d.by.as_str(), d.value),
                d.why,
                candidates.join("; "),
            ]);
        }
    }
    Ok(Report {
        report: "conflicts",
        generated_at: now,
        basis,
        columns: vec!["source", "person", "key", "matched", "why", "candidates"],
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_as_people_say_them() {
        assert_eq!(delay(Duration::seconds(42)), "42 s");
        assert_eq!(delay(Duration::seconds(-5)), "0 s");
        assert_eq!(delay(Duration::minutes(12)), "12 min");
        assert_eq!(delay(Duration::minutes(185)), "3 h 5 min");
        assert_eq!(delay(Duration::hours(52)), "2 d 4 h");
    }
}
