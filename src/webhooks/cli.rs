//! `rollcall webhooks …`: the webhook endpoints on the configured database (no running
//! daemon needed): list, show, the delivery attempts, the backlog, replay, enable and
//! disable. Tables by default, `--json` for scripts; exit codes as in `cli::exit`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::endpoints::{self, EndpointPatch, Replay};
use super::{Endpoint, WebhookError};
use crate::cli::table::Table;
use crate::cli::{actor, connect, print_json};
use crate::config::Config;
use crate::store::{self, DbConn};

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// List the endpoints with their state.
    List(Output),
    /// Show one endpoint (by id or name).
    Show {
        endpoint: String,
        #[command(flatten)]
        out: Output,
    },
    /// The endpoint's delivery attempts, newest first.
    Deliveries {
        endpoint: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        out: Output,
    },
    /// What waits to be delivered.
    Backlog {
        endpoint: String,
        #[command(flatten)]
        out: Output,
    },
    /// Deliver events again: every one from --from on, or the one --event.
    Replay {
        endpoint: String,
        #[arg(long, conflicts_with = "event", required_unless_present = "event")]
        from: Option<i64>,
        #[arg(long)]
        event: Option<i64>,
    },
    /// Enable an endpoint: delivery resumes where it stopped.
    Enable { endpoint: String },
    /// Disable an endpoint: its backlog is kept.
    Disable {
        endpoint: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Args)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn find(conn: &mut DbConn, key: &str) -> anyhow::Result<Endpoint> {
    Ok(super::find(conn, key)?
        .ok_or_else(|| WebhookError::NotFound(format!("no webhook endpoint {key:?}")))?)
}

fn time(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
    .unwrap_or_default()
}

fn state(e: &Endpoint) -> String {
    if !e.enabled {
        format!("disabled: {}", e.disabled_reason.as_deref().unwrap_or(""))
    } else if e.attempts > 0 {
        format!("retrying ({} failed)", e.attempts)
    } else {
        "enabled".into()
    }
}

fn as_json(e: &Endpoint) -> serde_json::Value {
    json!({
        "id": e.id,
        "name": e.name,
        "url": e.url,
        "events": e.events,
        "enabled": e.enabled,
        "disabledReason": e.disabled_reason,
        "origin": e.origin,
        "cursor": e.cursor,
        "secrets": e.secrets.iter().map(|s| super::sign::hint(s)).collect::<Vec<_>>(),
        "attempts": e.attempts,
        "nextAttemptAt": time(e.next_attempt_at),
        "failingSince": time(e.failing_since),
        "replayEvent": e.replay_event,
    })
}

/// Runs one `webhooks` command.
pub fn run(cmd: WebhooksCommand, config: &Config) -> anyhow::Result<()> {
    let mut conn = connect(config)?;
    super::configured::apply(&mut conn, &config.webhooks, store::now())?;
    let conn = &mut conn;
    let now = store::now();
    match cmd {
        WebhooksCommand::List(out) => {
            let all = super::list(conn)?;
            if out.json {
                return print_json(&all.iter().map(as_json).collect::<Vec<_>>());
            }
            let mut t = Table::new(["ID", "NAME", "ORIGIN", "CURSOR", "STATE", "URL"]);
            for e in &all {
                t.row([
                    e.id.to_string(),
                    e.name.clone(),
                    e.origin.clone(),
                    e.cursor.to_string(),
                    state(e),
                    e.url.clone(),
                ]);
            }
            print!("{}", t.render());
            Ok(())
        }
        WebhooksCommand::Show { endpoint, out } => {
            let e = find(conn, &endpoint)?;
            show(&e, out.json)
        }
        WebhooksCommand::Deliveries {
            endpoint,
            limit,
            out,
        } => {
            let e = find(conn, &endpoint)?;
            let (rows, _) = super::deliveries(conn, e.id, None, limit.clamp(1, 10_000))?;
            if out.json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        json!({"id": r.id, "eventId": r.event_id, "attempt": r.attempt,
                        "at": time(Some(r.at)), "status": r.status, "error": r.error,
                        "durationMs": r.duration_ms})
                    })
                    .collect();
                return print_json(&v);
            }
            let mut t = Table::new(["AT", "EVENT", "ATTEMPT", "RESULT", "MS"]);
            for r in rows {
                t.row([
                    time(Some(r.at)),
                    r.event_id.to_string(),
                    r.attempt.to_string(),
                    r.status
                        .map(|s| s.to_string())
                        .or(r.error)
                        .unwrap_or_default(),
                    r.duration_ms.to_string(),
                ]);
            }
            print!("{}", t.render());
            Ok(())
        }
        WebhooksCommand::Backlog { endpoint, out } => {
            let e = find(conn, &endpoint)?;
            let b = super::backlog(conn, &e)?;
            let age = b.oldest.map(|(_, at)| (now - at).num_seconds().max(0));
            if out.json {
                return print_json(&json!({
                    "cursor": e.cursor,
                    "waiting": b.waiting,
                    "oldestEventId": b.oldest.map(|(id, _)| id),
                    "oldestAgeSecs": age,
                }));
            }
            println!(
                "{}: {} events waiting after event {}",
                e.name, b.waiting, e.cursor
            );
            if let (Some((id, at)), Some(age)) = (b.oldest, age) {
                println!("oldest: event {id} at {} ({age} s ago)", time(Some(at)));
            }
            Ok(())
        }
        WebhooksCommand::Replay {
            endpoint,
            from,
            event,
        } => {
            let e = find(conn, &endpoint)?;
            let what = match (from, event) {
                (Some(n), _) => Replay::From(n),
                (None, Some(n)) => Replay::One(n),
                (None, None) => {
                    return Err(crate::cli::exit::Failure::usage("give --from or --event").into());
                }
            };
            let e = endpoints::replay(conn, &actor(), e.id, what, now)?;
            println!("{}: replay under way (cursor {})", e.name, e.cursor);
            Ok(())
        }
        WebhooksCommand::Enable { endpoint } => {
            let e = find(conn, &endpoint)?;
            let e = set_enabled(conn, &e, true, None)?;
            println!("{}: {}", e.name, state(&e));
            Ok(())
        }
        WebhooksCommand::Disable { endpoint, reason } => {
            let e = find(conn, &endpoint)?;
            let e = set_enabled(conn, &e, false, reason.as_deref())?;
            println!("{}: {}", e.name, state(&e));
            Ok(())
        }
    }
}

fn set_enabled(
    conn: &mut DbConn,
    e: &Endpoint,
    enabled: bool,
    reason: Option<&str>,
) -> anyhow::Result<Endpoint> {
    Ok(endpoints::update(
        conn,
        &actor(),
        e.id,
        EndpointPatch {
            enabled: Some(enabled),
            ..EndpointPatch::default()
        },
        reason,
        store::now(),
    )?)
}

fn show(e: &Endpoint, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&as_json(e));
    }
    let events = if e.events.is_empty() {
        "all".to_owned()
    } else {
        e.events.join(", ")
    };
    println!("id:       {}", e.id);
    println!("name:     {}", e.name);
    println!("url:      {}", e.url);
    println!("origin:   {}", e.origin);
    println!("events:   {events}");
    println!("state:    {}", state(e));
    println!("cursor:   {}", e.cursor);
    println!("secrets:  {}", e.secrets.len());
    if e.attempts > 0 {
        println!(
            "failing since {}; next attempt {}",
            time(e.failing_since),
            time(e.next_attempt_at)
        );
    }
    if let Some(r) = e.replay_event {
        println!("replay:   event {r} waits to be delivered again");
    }
    Ok(())
}
