//! The log: the level filter, text or JSON, colour only on a terminal, and HTTP errors that
//! any client can cause (malformed or abandoned requests) kept out of the error level.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

use crate::config::{Config, LogFormat};

/// Installs the process's subscriber, writing to stderr.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| filter(&config.log.level));
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").is_some(),
    );
    install(subscriber(filter, config.log.format, ansi, std::io::stderr));
}

/// Makes `subscriber` the process's, also for what is logged through the `log` crate (the
/// access log among it).
pub fn install(subscriber: Box<dyn Subscriber + Send + Sync>) {
    use tracing_subscriber::util::SubscriberInitExt;
    if subscriber.try_init().is_err() {
        eprintln!("rollcall: a log subscriber was already installed");
    }
}

/// Colour codes only when the log goes to a terminal (a file or the journal gets plain
/// text) and `NO_COLOR` is not set.
pub fn colour(is_terminal: bool, no_color: bool) -> bool {
    is_terminal && !no_color
}

/// The subscriber `init` installs, with any writer (tests capture it).
pub fn subscriber<W>(
    filter: EnvFilter,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let out: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt.json().with_filter(ClientNoise).boxed(),
        LogFormat::Text => fmt.with_filter(ClientNoise).boxed(),
    };
    Box::new(Registry::default().with(out).with(filter))
}

/// The log filter for `[log] level` (when `RUST_LOG` is not set). ldap3's connection task
/// warns once per message it can no longer hand to anyone: a sync run that stops reading
/// part-way (a malformed entry, a run abandoned) would log a line for each entry still in
/// flight, hundreds of them, while Rollcall reports the reason itself. Those warnings are
/// left out unless the level names ldap3.
pub fn filter(level: &str) -> EnvFilter {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    if level.contains("ldap3") {
        return filter;
    }
    match "ldap3::conn=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    }
}

/// The HTTP layer logs every connection that ended in a protocol error — a request that
/// does not parse, a head that is too large, a client that stalled — as an ERROR
/// `stream error: …`. Anyone who can reach the port can cause those, so they are not
/// errors of Rollcall's: they are counted here instead, and `client_error_summary` reports
/// them at most once a minute at INFO.
struct ClientNoise;

static CLIENT_ERRORS: AtomicU64 = AtomicU64::new(0);
static LAST_CLIENT_ERROR: Mutex<String> = Mutex::new(String::new());

fn is_client_noise(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target().starts_with("actix_http::h1")
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Filter<S> for ClientNoise {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        if !is_client_noise(event.metadata()) {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if !message.0.starts_with("stream error") {
            return true;
        }
        CLIENT_ERRORS.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = LAST_CLIENT_ERROR.lock() {
            message.0.truncate(200);
            *last = message.0;
        }
        false
    }
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Connections that ended in a client's protocol error since the last call, and the last
/// such error; resets the count.
pub fn take_client_errors() -> (u64, String) {
    let n = CLIENT_ERRORS.swap(0, Ordering::Relaxed);
    let last = LAST_CLIENT_ERROR
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    (n, last)
}

/// Logs, at INFO, how many client protocol errors were seen since the last call (nothing
/// when there were none). The server calls it once a minute.
pub fn client_error_summary() {
    let (n, last) = take_client_errors();
    if n > 0 {
        tracing::info!(
            target: "rollcall::http",
            count = n,
            last = %last,
            "HTTP connections ended by a client's malformed, oversized or stalled request"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(level: &str, ansi: bool, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let sub = subscriber(filter(level), LogFormat::Text, ansi, move || writer.clone());
        tracing::subscriber::with_default(sub, f);
        let bytes = out.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    /// What `level` lets through of one warning from ldap3's connection task, one from
    /// elsewhere in ldap3, and one of Rollcall's.
    fn logged(level: &str) -> String {
        capture(level, false, || {
            tracing::warn!(target: "ldap3::conn", "unmatched id: 17");
            tracing::warn!(target: "ldap3::search", "search warning");
            tracing::warn!(target: "rollcall::sync", "run stopped");
        })
    }

    #[test]
    fn ldap3_connection_warnings_are_left_out_unless_asked_for() {
        let default = logged("info");
        assert!(!default.contains("unmatched id"), "{default}");
        assert!(default.contains("search warning"), "{default}");
        assert!(default.contains("run stopped"), "{default}");

        let asked = logged("info,ldap3=debug");
        assert!(asked.contains("unmatched id"), "{asked}");

        // A level that does not parse falls back to info, still without the flood.
        let fallback = logged("not a level ===");
        assert!(!fallback.contains("unmatched id"), "{fallback}");
        assert!(fallback.contains("run stopped"), "{fallback}");
    }

    #[test]
    fn colour_only_on_a_terminal() {
        assert!(colour(true, false));
        assert!(!colour(false, false));
        assert!(!colour(true, true));
        let plain = capture("info", false, || tracing::info!("hello"));
        assert!(
            plain.contains("hello") && !plain.contains('\u{1b}'),
            "{plain:?}"
        );
        let coloured = capture("info", true, || tracing::info!("hello"));
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    }

    #[test]
    fn client_stream_errors_are_counted_not_logged_as_errors() {
        let out = capture("info", false, || {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", "parse error");
            tracing::error!(target: "actix_http::h1::dispatcher", "write zero; closing");
            tracing::error!(target: "rollcall::http", "database error");
        });
        assert!(!out.contains("stream error"), "{out}");
        assert!(out.contains("write zero"), "{out}");
        assert!(out.contains("database error"), "{out}");
        let (n, last) = take_client_errors();
        assert!(n >= 1);
        assert!(last.contains("stream error"), "{last}");
        let summary = capture("info", false, || {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", "slow");
            client_error_summary();
        });
        assert!(summary.contains(" INFO "), "{summary}");
        assert!(
            summary.contains("count=1") || summary.contains("count="),
            "{summary}"
        );
    }
}
