//! `rollcall serve`: opens the store, applies migrations, starts the HTTP listener and the
//! background tasks, and shuts down cleanly on SIGTERM/SIGINT.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};

use crate::config::Config;
use crate::http::{self, AppState};
use crate::store::{self, Pool, Target};

/// Opens the pool and brings the schema and built-in roles up to date.
pub fn open_store(config: &Config) -> anyhow::Result<Pool> {
    let target = Target::parse(&config.database.url)?;
    let pool = store::pool(&target, config.database.pool_size)?;
    let mut conn = pool.get()?;
    let applied = store::migrate(&mut conn)?;
    for m in &applied {
        tracing::info!(migration = %m, "applied migration");
    }
    crate::accounts::Accounts::from_config(config).prepare_roles(&mut conn, crate::store::now())?;
    // The key every node signs cursors with, made now rather than at the daemon's first
    // start: a `rollcall sync` run first (a first run holds SQLite's write lock while it
    // reads) would otherwise leave a `serve` started meanwhile waiting to write it.
    crate::store::keys::get_or_create(&mut conn, "cursor", crate::store::now())?;
    crate::webhooks::configured::apply(&mut conn, &config.webhooks, crate::store::now())?;
    Ok(pool)
}

/// Builds the actix application (also used by tests).
pub fn app_state(pool: Pool, config: Config) -> anyhow::Result<web::Data<Arc<AppState>>> {
    Ok(web::Data::new(Arc::new(AppState::new(pool, config)?)))
}

/// Serves on an already-bound listener until SIGTERM or SIGINT.
pub async fn serve(config: Config, pool: Pool, listener: TcpListener) -> anyhow::Result<()> {
    serve_until(config, pool, listener, wait_for_signal()).await
}

/// Serves on an already-bound listener until `shutdown` completes.
pub async fn serve_until(
    config: Config,
    pool: Pool,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + 'static,
) -> anyhow::Result<()> {
    let state = app_state(pool, config.clone())?;
    // Runs asked for over HTTP go on this (the main) runtime, not on an HTTP worker.
    let launcher = web::Data::new(crate::sync::launch::Launcher::new(
        tokio::runtime::Handle::current(),
        state.pool.clone(),
        Arc::new(state.accounts.clone()),
        Arc::new(config.clone()),
    ));
    let workers = config.server.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let addr = listener.local_addr()?;
    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .app_data(state.clone())
                .app_data(launcher.clone())
                .wrap(middleware::from_fn(http::limits::head_limit))
                .wrap(
                    middleware::Logger::new("%{request}xi %s %Dms")
                        .custom_request_replace("request", http::redact::request_line)
                        .log_target("rollcall::http"),
                )
                .configure(http::configure)
        }
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tracing::info!(%addr, workers, "listening");
    notify("READY=1");

    let purge = tokio::spawn(purge_loop(state.clone()));
    let client_errors = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            crate::logging::client_error_summary();
        }
    });
    let session_tasks = state.sessions.start();
    let schedules = crate::sync::scheduler::start(
        state.pool.clone(),
        Arc::new(state.accounts.clone()),
        Arc::new(config.clone()),
    );
    // Moments HR sources dated (starts, leavings), including those that fell due while the
    // daemon was stopped.
    let timers = crate::sync::timers::start(
        state.pool.clone(),
        Arc::new(state.accounts.clone()),
        &config,
    );
    let mail = crate::mail::sender::start(state.pool.clone(), &config.mail)?;
    let webhooks = crate::webhooks::deliver::start(
        state.pool.clone(),
        crate::webhooks::deliver::Settings::of(&config.webhook_delivery),
    );
    let signals = actix_web::rt::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        notify("STOPPING=1");
        handle.stop(true).await;
    });
    server.await?;
    purge.abort();
    client_errors.abort();
    webhooks.abort();
    timers.abort();
    for task in schedules.into_iter().chain(session_tasks) {
        task.abort();
    }
    if let Some(task) = mail {
        task.abort();
    }
    signals.abort();
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Purges deleted agents whose grace period ended, expired idempotency keys and old webhook
/// delivery attempts, on the configured interval.
async fn purge_loop(state: web::Data<Arc<AppState>>) {
    let every = Duration::from_secs(state.config.accounts.purge_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let st = state.clone();
        let outcome = web::block(move || -> anyhow::Result<usize> {
            let mut conn = st.pool.get()?;
            let now = crate::store::now();
            let keys = crate::api::idempotency::purge(&mut conn, now);
            if keys > 0 {
                tracing::debug!(keys, "purged expired idempotency keys");
            }
            let kept =
                chrono::Duration::days(i64::from(st.config.webhook_delivery.keep_deliveries_days));
            match crate::webhooks::purge_deliveries(&mut conn, now - kept) {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deliveries = n, "purged old webhook delivery attempts"),
                Err(e) => tracing::warn!(error = %e, "purging webhook delivery attempts failed"),
            }
            Ok(st.accounts.purge(&mut conn, now)?)
        })
        .await;
        match outcome {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(purged = n, "purged deleted agents"),
            Ok(Err(e)) => tracing::warn!(error = %e, "purge failed"),
            Err(e) => tracing::warn!(error = %e, "purge task failed"),
        }
    }
}

/// Tells systemd (Type=notify) about start-up and shutdown; a no-op elsewhere.
fn notify(state: &str) {
    #[cfg(unix)]
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        let sock = match std::os::unix::net::UnixDatagram::unbound() {
            Ok(s) => s,
            Err(_) => return,
        };
        let path = path.to_string_lossy().to_string();
        let result = if let Some(abstract_name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
        } else {
            sock.send_to(state.as_bytes(), &path)
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }
}
