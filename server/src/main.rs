//! `frazil`: the Iceberg REST catalog server.

mod admin;
mod api_docs;
mod app;
mod auth;
mod body;
mod cli;
mod config;
mod data_dir;
mod error;
mod health;
mod housekeeping;
mod iceberg;
mod idempotency;
mod state;
mod timeout;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use clap::{Parser, Subcommand};
use frazil_catalog::store::SqlStore;
use frazil_catalog::Catalog;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "frazil",
    version,
    about = "Apache Iceberg REST catalog for tables materialized from Kafka topics"
)]
struct Cli {
    /// TOML configuration file; FRAZIL_* environment variables override it.
    #[arg(long, global = true, env = "FRAZIL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the catalog (SQLite and a local warehouse under ./frazil-data unless configured).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the server administrator credential if the server has none, and print it.
    Bootstrap,
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        command: cli::ApiKeyCommand,
    },
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: cli::KeysCommand,
    },
    /// Print an OpenAPI document of the server (the Iceberg REST catalog or the admin API).
    Openapi {
        /// Which API.
        #[arg(long, value_enum, default_value_t = Api::Iceberg)]
        api: Api,
        /// Which format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Write all four documents (iceberg and admin, JSON and YAML) into this directory
        /// instead, e.g. `openapi` to regenerate the checked-in ones.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Api {
    Iceberg,
    Admin,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Yaml,
}

/// `frazil openapi`: needs neither configuration nor database.
fn openapi(api: Api, format: Format, write: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(dir) = write {
        std::fs::create_dir_all(&dir)?;
        for (name, text) in api_docs::files() {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let docs = &*api_docs::DOCUMENTS;
    let text = match (api, format) {
        (Api::Iceberg, Format::Json) => &docs.iceberg_json,
        (Api::Iceberg, Format::Yaml) => &docs.iceberg_yaml,
        (Api::Admin, Format::Json) => &docs.admin_json,
        (Api::Admin, Format::Yaml) => &docs.admin_yaml,
    };
    print!("{text}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi { api, format, write } = cli.command {
        return openapi(api, format, write);
    }
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Bootstrap => cli::bootstrap(&config, &open_catalog(&config).await?).await,
            Command::ApiKey { command } => {
                cli::api_key(command, &open_catalog(&config).await?).await
            }
            Command::Keys { command } => cli::keys(command, &open_catalog(&config).await?).await,
            Command::Openapi { .. } => Ok(()),
        }
    })
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    data_dir::prepare(config)?;
    let url = config.database_url()?;
    let store = SqlStore::connect_with(
        &url,
        config.database_max_connections,
        config.sqlite_synchronous,
    )
    .await?;
    tracing::info!(database = %frazil_catalog::store::redact(&url), "connected to the metadata store");
    if config.migrate_on_start {
        store.migrate().await?;
    }
    Ok(store)
}

/// The catalog with the default organization and environment in place.
async fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    let store = open_store(config).await?;
    let catalog = Catalog::new(Arc::new(store)).with_storage_policy(config.storage_policy()?);
    let catalog = with_master_key(config, catalog).await?;
    catalog
        .ensure_environment("default", "default", config.default_storage()?)
        .await?;
    Ok(catalog)
}

/// The catalog sealing its stored secrets with the master key; keys stored in clear text by an
/// earlier version are sealed now, and a master key that opens none of the sealed ones stops
/// the start.
async fn with_master_key(config: &Config, catalog: Catalog) -> anyhow::Result<Catalog> {
    let configured = config.master_key.is_some() || config.master_key_file.is_some();
    if !configured && !config.database_url()?.starts_with("sqlite:") {
        tracing::warn!("no master_key or master_key_file: using one generated in the data directory; replicas sharing this database need the same key (FRAZIL_MASTER_KEY)");
    }
    let catalog = catalog.with_master_key(data_dir::master_key(config)?);
    let sealed = catalog.seal_signing_keys().await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed signing keys stored in clear text");
    }
    Ok(catalog)
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    data_dir::prepare(&config)?;
    let store = SqlStore::connect_with(
        &config.database_url()?,
        config.database_max_connections,
        config.sqlite_synchronous,
    )
    .await?;
    store.migrate().await?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let catalog = Catalog::with_pointer_ttl(
        Arc::new(store.clone()),
        Duration::from_millis(config.table_cache_ttl_ms),
    )
    .with_purge_delay(Duration::from_millis(config.purge_delay_ms))
    .with_storage_policy(config.storage_policy()?);
    let catalog = Arc::new(with_master_key(&config, catalog).await?);
    // Every replica purges dropped tables' files, whichever replica dropped them.
    tokio::spawn(catalog.clone().run_purge_worker(PURGE_POLL));
    let env = catalog
        .ensure_environment("default", "default", config.default_storage()?)
        .await?;
    cli::bootstrap(&config, &catalog).await?;
    let lifetime = Duration::from_secs(config.token_lifetime_seconds.max(1));
    let auth = Arc::new(
        Authenticator::new(catalog.clone(), lifetime, config.max_secret_verifications).await?,
    );
    spawn_key_refresh(auth.clone());
    housekeeping::spawn(catalog.clone());
    idempotency::spawn_pruner(
        store.clone(),
        Duration::from_millis(config.idempotency_prune_interval_ms.max(1)),
    );
    let state = AppState {
        catalog,
        store: store.clone(),
        auth,
        public_url: config.public_url(),
        load_cache: Default::default(),
        request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
    };
    let max_body = config.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(timeout::middleware))
            .configure(app::configure(state.clone(), max_body))
    })
    .bind(&config.listen)?
    .shutdown_timeout(30)
    .run();
    let base = config.public_url();
    println!("Frazil is serving the Iceberg REST catalog.");
    println!(
        "  catalog URI:   {base}/iceberg/catalog/organizations/{}/environments/{}",
        env.org_id, env.id
    );
    println!(
        "  or URI {base}/iceberg/catalog with warehouse {}/{}",
        env.org_id, env.id
    );
    println!("  token URL:     {{catalog URI}}/v1/oauth/tokens");
    println!("  API explorer:  {base}/docs (OpenAPI documents at {base}/api-docs/)");
    println!("  storage:       {}", env.storage.location);
    server.await?;
    tracing::info!("shut down");
    store.close().await;
    Ok(())
}

/// How often the purge worker looks for purges it was not woken for: other replicas' drops,
/// retries, delayed purges.
const PURGE_POLL: Duration = Duration::from_secs(1);

/// Picks up signing keys rotated by another process, so that this replica signs with the newest.
fn spawn_key_refresh(auth: Arc<Authenticator>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = auth.tokens.reload_keys().await {
                tracing::warn!(error = %e, "cannot reload token signing keys");
            }
        }
    });
}
