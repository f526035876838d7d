//! Opening the metadata store and the catalog, shared by `serve` and the operator commands so
//! that both see the same data directory, master key and default environment.

use std::sync::Arc;

use frazil_catalog::store::SqlStore;
use frazil_catalog::Catalog;

use crate::config::Config;
use crate::data_dir;

/// The store, migrated when `migrate_on_start`.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let store = connect(config).await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    Ok(store)
}

/// The store as configured, without migrating it.
pub async fn connect(config: &Config) -> anyhow::Result<SqlStore> {
    data_dir::prepare(config)?;
    let url = config.database_url()?;
    let store = SqlStore::connect_with(
        &url,
        config.database_max_connections,
        config.sqlite_synchronous,
    )
    .await?;
    tracing::info!(database = %frazil_catalog::store::redact(&url), "connected to the metadata store");
    Ok(store)
}

/// The catalog with the default organization and environment in place.
pub async fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    let store = open_store(config).await?;
    let catalog = Catalog::new(Arc::new(store))
        .with_storage_policy(config.storage_policy()?)
        .with_role_sessions(config.role_sessions());
    let catalog = with_master_key(config, catalog).await?;
    catalog
        .ensure_environment("default", "default", config.default_storage()?)
        .await?;
    Ok(catalog)
}

/// The catalog sealing its stored secrets with the master key; keys stored in clear text by an
/// earlier version are sealed now, and a master key that opens none of the sealed ones stops
/// the start.
pub async fn with_master_key(config: &Config, catalog: Catalog) -> anyhow::Result<Catalog> {
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

/// `frazil migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = connect(config).await?;
    store.migrate().await?;
    store.close().await;
    Ok(crate::stdout::print("Migrations applied.\n")?)
}
