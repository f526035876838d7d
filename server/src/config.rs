//! Configuration: defaults that serve, a TOML file, then `FRAZIL_*` environment variables.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use frazil_catalog::store::SqliteSync;
use frazil_storage::{S3Settings, StorageConfig};
use serde::{Deserialize, Serialize};

/// Every option; docs/operations.md documents each one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// Where the embedded defaults keep their files (database, warehouse).
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default `sqlite://{data_dir}/frazil.db`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// SQLite only: `full` syncs every commit to disk before acknowledging it (survives power
    /// loss); `normal` syncs at checkpoints (faster; a power loss can lose the last commits).
    pub sqlite_synchronous: SqliteSync,
    /// Run pending migrations at start-up.
    pub migrate_on_start: bool,
    /// Storage of the default environment: `file:///...` or `s3://bucket/prefix`;
    /// default `{data_dir}/warehouse`.
    pub warehouse: Option<String>,
    pub s3_region: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
    pub s3_allow_http: bool,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// The URL clients reach this server at, used when printing catalog URIs.
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may run, in milliseconds: reads are cut with 503, writes with 504.
    pub request_timeout_ms: u64,
    /// Lifetime of access tokens, in seconds.
    pub token_lifetime_seconds: u64,
    /// Most API key secrets checked (argon2id) at once; 0: one per core. Beyond it a token
    /// request waits briefly, then gets 503.
    pub max_secret_verifications: usize,
    /// How often each replica deletes expired Idempotency-Key records, in milliseconds.
    pub idempotency_prune_interval_ms: u64,
    /// Longest a replica trusts a table's cached metadata location when it heard of no change
    /// to it, in milliseconds (0: every load reads it from the database). Changes are heard at
    /// once (Postgres: LISTEN/NOTIFY); this bounds staleness should a replica die mid-commit.
    pub table_cache_ttl_ms: u64,
    /// How long a dropped table's files are kept before the purge worker may delete them, in
    /// milliseconds (0: at once). A window to restore the table by registering its metadata.
    pub purge_delay_ms: u64,
    /// The master key that seals stored secrets (signing keys): 32 bytes as base64. Else read
    /// from `master_key_file`, else from `{data_dir}/master.key` (generated on first start).
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    /// The server administrator's credentials to create on first start (else one is generated).
    pub bootstrap_client_id: Option<String>,
    pub bootstrap_client_secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8181".into(),
            data_dir: PathBuf::from("./frazil-data"),
            database_url: None,
            database_max_connections: 10,
            sqlite_synchronous: SqliteSync::Full,
            migrate_on_start: true,
            warehouse: None,
            s3_region: None,
            s3_endpoint: None,
            s3_path_style: false,
            s3_allow_http: false,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            public_url: None,
            log_format: "text".into(),
            max_body_bytes: 32 * 1024 * 1024,
            request_timeout_ms: 60_000,
            token_lifetime_seconds: 3600,
            max_secret_verifications: 0,
            idempotency_prune_interval_ms: 60_000,
            table_cache_ttl_ms: 5_000,
            purge_delay_ms: 0,
            master_key: None,
            master_key_file: None,
            bootstrap_client_id: None,
            bootstrap_client_secret: None,
        }
    }
}

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        Ok(figment.merge(Env::prefixed("FRAZIL_")).extract()?)
    }

    pub fn data_dir_absolute(&self) -> anyhow::Result<PathBuf> {
        Ok(std::path::absolute(&self.data_dir)?)
    }

    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!(
                "sqlite://{}",
                self.data_dir_absolute()?.join("frazil.db").display()
            )),
        }
    }

    /// Storage of the default environment, created on first start.
    pub fn default_storage(&self) -> anyhow::Result<StorageConfig> {
        let location = match &self.warehouse {
            Some(location) if location.contains("://") => location.clone(),
            Some(path) => directory_url(&std::path::absolute(path)?)?,
            None => directory_url(&self.data_dir_absolute()?.join("warehouse"))?,
        };
        let s3 = location.starts_with("s3").then(|| S3Settings {
            region: self.s3_region.clone(),
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_path_style,
            allow_http: self.s3_allow_http,
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        });
        Ok(StorageConfig { location, s3 })
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

fn directory_url(path: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(path)?;
    let url = url::Url::from_directory_path(path)
        .map_err(|_| anyhow::anyhow!("not an absolute directory: {}", path.display()))?;
    Ok(url.to_string().trim_end_matches('/').to_string())
}
