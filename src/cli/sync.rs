//! `rollcall sync NAME` (a run now, or a dry run as of a moment, with progress on a
//! terminal and the plan printed) and `rollcall sources` (each source's last run and next).

use anyhow::bail;

use crate::config::Config;

/// An RFC 3339 moment (`2027-01-15T09:00:00+08:00`) as UTC.
pub fn parse_moment(text: &str) -> Result<chrono::NaiveDateTime, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .map_err(|e| format!("{text:?} is not an RFC 3339 date-time with an offset: {e}"))
}

pub fn run(
    config: &Config,
    source: &str,
    (dry_run, force, incremental): (bool, bool, bool),
    as_of: Option<chrono::NaiveDateTime>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::sync::{RunOptions, RunStatus, runner};
    let Some(cfg) = config.sources.iter().find(|s| s.name == source).cloned() else {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "no source named {source:?} in the configuration (sources: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    };
    let pool = crate::server::open_store(config)?;
    let accounts = std::sync::Arc::new(crate::accounts::Accounts::from_config(config));
    let opts = RunOptions {
        dry_run,
        force,
        incremental,
        trigger: "cli",
        as_of,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // On a terminal, a progress line while a long run applies its changes.
    let progress: Option<crate::sync::Progress> = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| {
            let p: crate::sync::Progress = std::sync::Arc::new(|done: usize, total: usize| {
                let pct = done * 100 / total.max(1);
                eprint!("\rapplying changes: {done} of {total} ({pct}%)");
                if done >= total {
                    eprintln!();
                }
            });
            p
        })
    };
    let report = rt.block_on(runner::run_source(
        pool,
        accounts,
        std::sync::Arc::new(config.clone()),
        cfg,
        opts,
        progress,
    ))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    match report.status {
        RunStatus::Ok => Ok(()),
        RunStatus::Partial => bail!("{} changes could not be applied", report.failures.len()),
        RunStatus::Refused => bail!(
            "the guard refused the run: {}; nothing was changed (rerun with --force to apply it)",
            report.error.as_deref().unwrap_or("")
        ),
        RunStatus::Failed => bail!(
            "the run failed: {}; nothing was changed",
            report.error.as_deref().unwrap_or("")
        ),
    }
}

fn print_report(report: &crate::sync::RunReport) {
    let p = &report.plan;
    let verb = if report.dry_run { "would" } else { "did" };
    // A real run lists its changes when they fit on a screen; a dry run always does.
    let listed = report.dry_run || p.changes.len() + p.schedules.len() <= 100;
    if !p.changes.is_empty() && listed {
        println!("{:<8}  {:<32}  reason", "action", "agent");
        for c in &p.changes {
            println!("{:<8}  {:<32}  {}", c.action(), c.user_name(), c.reason());
        }
        println!();
    }
    if !p.schedules.is_empty() && listed {
        let at = |t: Option<chrono::NaiveDateTime>, note: &Option<String>| match (t, note) {
            (Some(t), Some(n)) => format!("{} UTC ({n})", t.format("%Y-%m-%d %H:%M")),
            (Some(t), None) => format!("{} UTC", t.format("%Y-%m-%d %H:%M")),
            _ => "-".to_owned(),
        };
        println!("{:<32}  {:<44}  leaves", "agent", "starts");
        for s in &p.schedules {
            let d = &s.schedule;
            println!(
                "{:<32}  {:<44}  {}",
                s.user_name,
                at(d.starts_at, &d.start_note),
                at(d.leaves_at, &d.leave_note)
            );
        }
        println!();
    }
    println!(
        "run {} of {}: {} records; {verb} create {}, update {}, link {}, disable {}, enable {}, activate {}, delete {}, date {}; {} unchanged{}",
        report.run_id,
        report.source,
        p.records,
        p.count("create"),
        p.count("update"),
        p.count("link"),
        p.count("disable"),
        p.count("enable"),
        p.count("activate"),
        p.count("delete"),
        p.schedules.len(),
        p.unchanged,
        if p.not_yet > 0 {
            format!("; {} start after the pre-hire window", p.not_yet)
        } else {
            String::new()
        },
    );
    match (&report.note, report.method) {
        (Some(why), "unchanged") => println!("{why}: nothing to do"),
        (Some(why), _) => println!("read everyone: {why}"),
        (None, "full" | "snapshot") => {}
        (None, method) => println!("changes read by {method}"),
    }
    if let Some(rows) = report.rows {
        println!(
            "export: {rows} rows, {} bad; sha256 {}",
            report.bad_rows.len(),
            report.snapshot_digest.as_deref().unwrap_or("-")
        );
    }
    for b in report.bad_rows.iter().take(20) {
        println!("bad row: line {}: {}", b.line, b.error);
    }
    if report.bad_rows.len() > 20 {
        println!(
            "… {} more bad rows (rollcall sync history / the run record)",
            report.bad_rows.len() - 20
        );
    }
    for d in p.disputes.iter().take(20) {
        let names: Vec<String> = d
            .candidates
            .iter()
            .map(|c| format!("{} ({})", c.user_name, c.source))
            .collect();
        println!(
            "not linked: {} ({} {}): {}: {}",
            d.user_name,
            d.by.as_str(),
            d.value,
            d.why,
            names.join(", ")
        );
    }
    if p.disputes.len() > 20 {
        println!(
            "… {} more people not linked (rollcall report conflicts)",
            p.disputes.len() - 20
        );
    }
    for (user, action, error) in &report.failures {
        println!("failed: {action} {user}: {error}");
    }
}

/// status, finished, created, updated, disabled, enabled, error
type LastRun = (
    String,
    Option<chrono::NaiveDateTime>,
    i32,
    i32,
    i32,
    i32,
    Option<String>,
);

pub fn sources(config: &Config) -> anyhow::Result<()> {
    use crate::store::schema::sync_runs;
    use diesel::prelude::*;
    let mut conn = super::connect(config)?;
    if config.sources.is_empty() {
        println!("no sources configured");
        return Ok(());
    }
    println!(
        "{:<16} {:<5} {:<20} {:<8} {:<20} {:<40} next run",
        "source", "kind", "schedule", "last", "finished", "counts"
    );
    for s in &config.sources {
        let last: Option<LastRun> = sync_runs::table
            .filter(sync_runs::source.eq(&s.name))
            .filter(sync_runs::mode.ne("dry_run"))
            .order(sync_runs::id.desc())
            .select((
                sync_runs::status,
                sync_runs::finished_at,
                sync_runs::created,
                sync_runs::updated,
                sync_runs::disabled,
                sync_runs::enabled,
                sync_runs::error,
            ))
            .first(&mut conn)
            .optional()?;
        let next = if s.enabled {
            s.cron()?
                .upcoming(chrono::Utc)
                .next()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "never".into())
        } else {
            "disabled".into()
        };
        let (status, finished, counts) = match last {
            Some((status, finished, c, u, d, e, error)) => (
                status,
                finished
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                match error {
                    Some(err) => err,
                    None => format!("+{c} ~{u} -{d} ↺{e}"),
                },
            ),
            None => ("never".into(), String::new(), String::new()),
        };
        let next = if s.watch {
            format!("{next} (and watched)")
        } else {
            next
        };
        println!(
            "{:<16} {:<5} {:<20} {:<8} {:<20} {:<40} {next}",
            s.name,
            s.kind.as_str(),
            s.schedule,
            status,
            finished,
            counts
        );
    }
    Ok(())
}
