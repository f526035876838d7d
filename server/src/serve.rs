//! `frazil serve`: the HTTP server and its background tasks, from start-up to a graceful stop.
//!
//! Start-up refuses what would go wrong later: a second server on one SQLite database
//! (`instance_lock`), an address it cannot listen on (named). A stop lets requests in flight
//! finish (`shutdown`), then ends the background tasks before the store closes.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use anyhow::Context;
use frazil_catalog::{Catalog, Environment};
use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::bootstrap::{self, Caller};
use crate::config::Config;
use crate::state::AppState;
use crate::{app, data_dir, housekeeping, idempotency, instance_lock, shutdown, startup, timeout};

/// How often the purge worker looks for purges it was not woken for: other replicas' drops,
/// retries, delayed purges.
const PURGE_POLL: Duration = Duration::from_secs(1);

pub async fn serve(config: Config) -> anyhow::Result<()> {
    data_dir::prepare(&config)?;
    let _lock = instance_lock::acquire(&config)?;
    let store = startup::open_store(&config).await?;
    let catalog = Catalog::with_pointer_ttl(
        Arc::new(store.clone()),
        Duration::from_millis(config.table_cache_ttl_ms),
    )
    .with_purge_delay(Duration::from_millis(config.purge_delay_ms))
    .with_storage_policy(config.storage_policy()?)
    .with_role_sessions(config.role_sessions());
    let catalog = Arc::new(startup::with_master_key(&config, catalog).await?);
    let env = catalog
        .ensure_environment("default", "default", config.default_storage()?)
        .await?;
    bootstrap::bootstrap(&config, &catalog, Caller::Serve).await?;
    let lifetime = Duration::from_secs(config.token_lifetime_seconds.max(1));
    let auth = Arc::new(
        Authenticator::new(catalog.clone(), lifetime, config.max_secret_verifications).await?,
    );
    let background = [
        // Every replica purges dropped tables' files, whichever replica dropped them.
        tokio::spawn(catalog.clone().run_purge_worker(PURGE_POLL)),
        spawn_key_refresh(auth.clone()),
        housekeeping::spawn(catalog.clone()),
        idempotency::spawn_pruner(
            store.clone(),
            Duration::from_millis(config.idempotency_prune_interval_ms.max(1)),
        ),
    ];
    let state = AppState {
        catalog,
        store: store.clone(),
        auth,
        public_url: config.public_url(),
        load_cache: Default::default(),
        request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
    };
    let max_body = config.max_body_bytes;
    let listen = config.listen.as_str();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(timeout::middleware))
            .configure(app::configure(state.clone(), max_body))
    })
    .bind(listen)
    .map_err(|e| cannot_listen(listen, e))?
    .shutdown_timeout(config.shutdown_timeout_seconds)
    .disable_signals()
    .run();
    shutdown::stop_on_signals(server.handle(), config.shutdown_timeout_seconds)
        .context("listening for SIGINT and SIGTERM")?;
    print_banner(&config, &env);
    server.await?;
    for task in background {
        task.abort();
    }
    store.close().await;
    tracing::info!("shut down");
    Ok(())
}

/// "cannot listen on 127.0.0.1:8181: address already in use", not the bare OS error.
fn cannot_listen(listen: &str, e: std::io::Error) -> anyhow::Error {
    let cause = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "address already in use (another server, or another frazil, listens there)".into()
        }
        std::io::ErrorKind::AddrNotAvailable => "no such address on this machine".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied (a port below 1024?)".into(),
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot listen on {listen} (listen, FRAZIL_LISTEN): {cause}")
}

/// The catalog URIs of the default environment and where the API is described.
fn print_banner(config: &Config, env: &Environment) {
    let base = config.public_url();
    let (org, id) = (&env.org_id, &env.id);
    let banner = format!(
        "Frazil is serving the Iceberg REST catalog.\n\
         \x20 catalog URI:   {base}/iceberg/catalog/organizations/{org}/environments/{id}\n\
         \x20 or URI {base}/iceberg/catalog with warehouse {org}/{id}\n\
         \x20 token URL:     {{catalog URI}}/v1/oauth/tokens\n\
         \x20 Swagger UI:    {base}/docs\n\
         \x20 API documents: {base}/api-docs/ (iceberg and admin, .json and .yaml)\n\
         \x20 storage:       {}\n",
        env.storage.location
    );
    if let Err(e) = crate::stdout::print(&banner) {
        tracing::warn!(error = %e, "cannot print the start-up banner");
    }
}

/// Picks up signing keys rotated by another process, so that this replica signs with the newest.
fn spawn_key_refresh(auth: Arc<Authenticator>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = auth.tokens.reload_keys().await {
                tracing::warn!(error = %e, "cannot reload token signing keys");
            }
        }
    })
}
