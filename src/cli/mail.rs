//! `rollcall mail …`: the mail outbox on the configured database (no running daemon
//! needed): list it, and make a failed mail due again (a running sender takes it at its
//! next look, within `mail.poll_secs`).

use clap::Subcommand;

use super::exit::Failure;
use super::print_json;
use super::table::Table;
use crate::api::mail::view;
use crate::config::Config;
use crate::mail::outbox::{self, MailStatus, Retry};
use crate::store;

#[derive(Subcommand)]
pub enum MailCommand {
    /// The outbox, newest first: template, recipient, status, attempts, last error.
    Outbox {
        /// Only mails with this status: pending, sending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        /// How many mails (newest first).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Try a failed (or pending) mail again now.
    Retry {
        id: i64,
        /// Print the mail as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: MailCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = super::connect(config)?;
    match cmd {
        MailCommand::Outbox {
            status,
            limit,
            json,
        } => {
            let status = status
                .map(|s| {
                    MailStatus::parse(&s).ok_or_else(|| {
                        Failure::usage(format!(
                            "--status {s:?}: use pending, sending, sent or failed"
                        ))
                    })
                })
                .transpose()?;
            let (rows, _) = outbox::list(&mut conn, status, None, limit.clamp(1, 10_000))?;
            let views: Vec<_> = rows.into_iter().map(view).collect();
            if json {
                return print_json(&views);
            }
            if !config.mail.enabled {
                eprintln!("mail is disabled (mail.enabled = false): mails wait here");
            }
            let mut table = Table::new([
                "ID",
                "TEMPLATE",
                "RECIPIENT",
                "STATUS",
                "ATTEMPTS",
                "CREATED",
                "NEXT/SENT",
                "LAST ERROR",
            ]);
            for m in &views {
                let error: String = m
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect();
                table.row([
                    m.id.to_string(),
                    m.template.clone(),
                    m.recipient.clone(),
                    m.status.clone(),
                    m.attempts.to_string(),
                    m.created_at.clone(),
                    m.sent_at
                        .clone()
                        .unwrap_or_else(|| m.next_attempt_at.clone()),
                    error,
                ]);
            }
            print!("{}", table.render());
            Ok(())
        }
        MailCommand::Retry { id, json } => match outbox::retry(&mut conn, id, store::now())? {
            Retry::Due(row) => {
                let v = view(*row);
                if json {
                    return print_json(&v);
                }
                println!("mail {id} ({}, to {}) is due now", v.template, v.recipient);
                Ok(())
            }
            Retry::NotFound => Err(Failure::not_found(format!("no mail {id}")).into()),
            Retry::AlreadySent => Err(Failure::new(
                super::exit::Exit::Conflict,
                format!("mail {id} was sent already"),
            )
            .into()),
        },
    }
}
