//! `frazil`: the Iceberg REST catalog server.

mod app;
mod config;
mod error;
mod health;
mod iceberg;
mod state;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use clap::{Parser, Subcommand};
use frazil_catalog::store::SqlStore;
use frazil_catalog::Catalog;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
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
    let url = config.database_url()?;
    let store = SqlStore::connect(&url, config.database_max_connections).await?;
    tracing::info!(database = %frazil_catalog::store::redact(&url), "connected to the metadata store");
    Ok(store)
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    store.migrate().await?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    let catalog = Arc::new(Catalog::new(Arc::new(store.clone())));
    let env = catalog
        .ensure_environment("default", "default", config.default_storage()?)
        .await?;
    let state = AppState {
        catalog,
        store: store.clone(),
    };
    let max_body = config.max_body_bytes;
    let server =
        HttpServer::new(move || App::new().configure(app::configure(state.clone(), max_body)))
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
    println!("  storage:       {}", env.storage.location);
    server.await?;
    tracing::info!("shut down");
    store.close().await;
    Ok(())
}
