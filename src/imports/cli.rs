//! `rollcall import`: the template, an import of a file with a progress bar on a terminal,
//! the summary and errors (or `--json`), the report CSV, and the exit status.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Context, Mode, Options, Outcome};
use crate::accounts::Accounts;
use crate::cli::exit::{Exit, Failure, Reported};
use crate::config::Config;
use crate::store::DbConn;

/// What the command was asked.
pub struct Args {
    pub file: Option<PathBuf>,
    /// `Some(None)`: the template to stdout; `Some(Some(path))`: to a file.
    pub template: Option<Option<PathBuf>>,
    pub valid_only: bool,
    pub dry_run: bool,
    pub json: bool,
    pub report: Option<PathBuf>,
}

/// Runs the command. Rows refused (nothing written under all-or-nothing; the valid rows
/// written with `--valid-only`) end it with [`Exit::Invalid`], a file that cannot be read
/// at all with [`Exit::NoInput`], both after the report is printed.
pub fn run(config: &Config, conn: &mut DbConn, args: Args) -> anyhow::Result<()> {
    if let Some(target) = args.template {
        let bytes = super::template();
        match target {
            Some(path) => std::fs::write(&path, bytes)
                .with_context(|| format!("writing {}", path.display()))?,
            None => std::io::stdout().write_all(&bytes)?,
        }
        return Ok(());
    }
    let Some(path) = args.file else {
        anyhow::bail!("name the file to import (or --template for the columns)");
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Failure::new(Exit::NoInput, format!("reading {}: {e}", path.display())))?;
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let opts = Options {
        mode: if args.valid_only {
            Mode::ValidOnly
        } else {
            Mode::AllOrNothing
        },
        dry_run: args.dry_run,
    };
    // Approval of imported agents (`[accounts.approval] import`) is the gateway's.
    let accounts = Accounts::from_config(config);
    let actor = crate::cli::actor();
    let ctx = Context {
        accounts: &accounts,
        channels: &config.accounts.channels,
        actor: &actor,
    };
    let id = super::record::begin(conn, &actor, &file_name, opts, crate::store::now())?;
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message("writing");
        bar
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let outcome = super::run(conn, &ctx, &id, &file_name, bytes, opts, Some(&progress))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(report_path) = &args.report {
        write_report(report_path, &outcome)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.report)?);
    } else {
        print_report(&outcome);
    }
    let r = &outcome.report;
    if r.error.is_some() {
        Err(Reported(Exit::NoInput).into())
    } else if !r.errors.is_empty() {
        Err(Reported(Exit::Invalid).into())
    } else {
        Ok(())
    }
}

fn write_report(path: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    if outcome.report_csv.is_empty() {
        eprintln!("no row was refused: no report written");
        return Ok(());
    }
    std::fs::write(path, &outcome.report_csv)
        .with_context(|| format!("writing the report to {}", path.display()))
}

fn print_report(outcome: &Outcome) {
    let r = &outcome.report;
    if let Some(e) = &r.error {
        println!("import {} of {}: {e}", r.id, r.file_name);
        return;
    }
    for p in &r.preview {
        let changed = if p.changed.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.changed.join(", "))
        };
        println!(
            "line {:>6}  {:<9}  {}{changed}",
            p.line,
            format!("{:?}", p.action).to_lowercase(),
            p.user_name
        );
    }
    let s = &r.summary;
    let verb = if r.dry_run { "would be " } else { "" };
    println!(
        "import {} of {}: {} rows; {verb}created {}, {verb}updated {}, unchanged {}, refused {}",
        r.id, r.file_name, s.rows, s.created, s.updated, s.unchanged, s.errors
    );
    for e in &r.errors {
        println!("line {}, {}: {}", e.line, e.column, e.detail);
    }
    if !r.errors.is_empty() {
        if r.written {
            println!("the valid rows were imported; fix the refused rows and import them again");
        } else if !r.dry_run {
            println!(
                "nothing was imported (fix the rows, or use --valid-only to import the valid rows)"
            );
        }
    }
}
