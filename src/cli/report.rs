//! `rollcall report orphans | leavers | upcoming | conflicts`: the auditor's reports (`reports`) as a
//! table with the runs they rest on, or `--json`, or `--csv`.

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::reports::{self, Report, Sources};

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Active agents no source vouches for (terminated at HR, owned by a source no longer
    /// configured, made by hand and known to no source).
    Orphans(Format),
    /// People who left in the last days: when, when their agent was disabled, the delay
    /// against `reports.leaver_target_minutes`.
    Leavers {
        /// How many days back.
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[command(flatten)]
        format: Format,
    },
    /// Joiners and leavers of the next days.
    Upcoming {
        /// How many days ahead.
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[command(flatten)]
        format: Format,
    },
    /// People a source could not link to one agent (two candidates): linked and created as
    /// neither until settled.
    Conflicts(Format),
}

#[derive(Args)]
pub struct Format {
    /// Print JSON (rows as objects, with the runs the report rests on).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (UTF-8 with a BOM, cells safe for spreadsheets).
    #[arg(long)]
    csv: bool,
}

pub fn run(cmd: ReportCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = super::connect(config)?;
    let sources = Sources::of(config);
    let now = crate::store::now();
    let (report, format) = match cmd {
        ReportCommand::Orphans(format) => (reports::orphans(&mut conn, &sources, now)?, format),
        ReportCommand::Leavers { days, format } => {
            let target = chrono::Duration::minutes(i64::from(config.reports.leaver_target_minutes));
            (
                reports::leavers(&mut conn, &sources, i64::from(days), target, now)?,
                format,
            )
        }
        ReportCommand::Conflicts(format) => (reports::conflicts(&mut conn, &sources, now)?, format),
        ReportCommand::Upcoming { days, format } => (
            reports::upcoming(&mut conn, &sources, i64::from(days), now)?,
            format,
        ),
    };
    if format.json {
        let mut value = serde_json::to_value(&report)?;
        value["rows"] = serde_json::to_value(report.objects())?;
        if let Some(o) = value.as_object_mut() {
            o.remove("columns");
        }
        return super::print_json(&value);
    }
    if format.csv {
        use std::io::Write;
        let bytes = crate::csv_out::to_csv(&report.columns, report.rows.iter());
        std::io::stdout().write_all(&bytes)?;
        return Ok(());
    }
    print_table(&report);
    Ok(())
}

fn print_table(report: &Report) {
    let mut table = super::table::Table::new(report.columns.iter().copied());
    for row in &report.rows {
        table.row(row);
    }
    if table.is_empty() {
        println!(
            "no {} ({} UTC)",
            report.report,
            report.generated_at.format("%Y-%m-%d %H:%M")
        );
    } else {
        print!("{}", table.render());
        println!(
            "{} rows ({} UTC)",
            report.rows.len(),
            report.generated_at.format("%Y-%m-%d %H:%M")
        );
    }
    for b in &report.basis {
        match b.run_id {
            Some(id) => println!(
                "rests on {} run {id} ({} UTC): {} people{}",
                b.source,
                b.finished_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                b.records.unwrap_or_default(),
                b.snapshot_digest
                    .as_deref()
                    .map(|d| format!(", export sha256 {d}"))
                    .unwrap_or_default()
            ),
            None => println!("{}: no applied run yet", b.source),
        }
        if let Some(n) = &b.not_applied {
            println!(
                "  the newer {} run {} ({} UTC) was {} and changed nothing: {}",
                b.source,
                n.run_id,
                n.started_at.format("%Y-%m-%d %H:%M:%S"),
                n.status,
                n.error.as_deref().unwrap_or("no reason recorded")
            );
        }
    }
}
