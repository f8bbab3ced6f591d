//! Reads a directory with Rollcall's LDAP source and reports how long it took and how much
//! memory it needed: `ldap_fetch URL BASE_DN [BIND_DN] [--page-size N] [--ad]`, with the bind
//! password in `ROLLCALL_LDAP_PASSWORD`. Used by `scripts/bench-ldap`.

use std::time::Instant;

use rollcall::sources::ldap::{Flavour, LdapSettings, fetch};

// The allocator `rollcall` itself runs with, so the read is timed as the daemon does it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> anyhow::Error {
    anyhow::anyhow!("usage: ldap_fetch URL BASE_DN [BIND_DN] [--page-size N] [--ad]")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let mut page_size = None;
    let mut flavour = Flavour::OpenLdap;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--page-size" => page_size = Some(args.next().ok_or_else(usage)?.parse()?),
            "--ad" => flavour = Flavour::ActiveDirectory,
            _ if arg.starts_with("--") => return Err(usage()),
            _ => positional.push(arg),
        }
    }
    let (url, base) = match positional.as_slice() {
        [url, base, ..] => (url.clone(), base.clone()),
        _ => return Err(usage()),
    };
    let mut settings = LdapSettings::new(url, base, flavour);
    if let Some(bind_dn) = positional.get(2) {
        settings.bind_dn = Some(bind_dn.clone());
        settings.bind_password = Some(
            std::env::var("ROLLCALL_LDAP_PASSWORD")
                .map_err(|_| anyhow::anyhow!("set ROLLCALL_LDAP_PASSWORD to bind as {bind_dn}"))?,
        );
    }
    if let Some(page_size) = page_size {
        settings.page_size = page_size;
    }

    let started = Instant::now();
    let snapshot = fetch(&settings).await?;
    let elapsed = started.elapsed();
    let memberships: usize = snapshot.records.iter().map(|r| r.groups.len()).sum();
    println!(
        "people={} skipped={} memberships={} elapsed={:.3}s peak_rss={}",
        snapshot.records.len(),
        snapshot.skipped,
        memberships,
        elapsed.as_secs_f64(),
        peak_rss().unwrap_or_else(|| "unknown".into()),
    );
    Ok(())
}

/// VmHWM from /proc/self/status, e.g. "61.2 MiB".
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{:.1} MiB", kib / 1024.0))
}
