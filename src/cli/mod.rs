//! The operator commands of the `rollcall` binary that work on the configured database
//! directly (no running daemon needed): their shared pieces — exit codes, tables, the actor
//! a change is recorded under, the connection.

pub mod agents;
pub mod exit;
mod lookup;
pub mod mail;
pub mod report;
pub mod roles;
pub mod signin;
pub mod sync;
pub mod table;
mod view;

use crate::config::Config;
use crate::store::{self, DbConn, Target};

/// Who a change made at the command line is recorded as: `cli:<OS user>`.
pub fn actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.trim().is_empty())
        .or_else(|| {
            use std::os::unix::fs::MetadataExt;
            let uid = std::fs::metadata("/proc/self").ok()?.uid();
            Some(user_of(uid).unwrap_or_else(|| format!("uid{uid}")))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    format!("cli:{user}")
}

/// The name `/etc/passwd` gives the user `uid`.
fn user_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// A connection to the configured database, migrated, with the built-in roles in place.
pub fn connect(config: &Config) -> anyhow::Result<DbConn> {
    use anyhow::Context;
    let target = Target::parse(&config.database.url)?;
    let mut conn = store::connect(&target)
        .with_context(|| format!("connecting to {}", store::redact_url(&config.database.url)))?;
    store::migrate(&mut conn)?;
    crate::accounts::Accounts::from_config(config).prepare_roles(&mut conn, store::now())?;
    Ok(conn)
}

/// Prints `value` as indented JSON on standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
