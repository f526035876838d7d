//! Configuration: defaults that serve, a TOML file, then `FRAZIL_*` environment variables.
//! Reading them is strict (`load`): unknown keys and bad values stop the start-up by name.

mod load;
mod values;

use std::path::{Path, PathBuf};

use frazil_catalog::store::SqliteSync;
use frazil_catalog::StoragePolicy;
use frazil_storage::{S3Settings, StorageConfig};
use serde::{Deserialize, Serialize};

pub use load::Loaded;
pub use values::{ListenAddress, LogFilter, LogFormat, SessionSeconds};

/// Every option; docs/operations.md documents each one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: ListenAddress,
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
    /// Where environments may keep their tables: `file:///...` (or a path) and `s3://bucket/prefix`
    /// locations; a TOML array, or comma-separated in `FRAZIL_STORAGE_ROOTS`. Empty: only the
    /// warehouse. Environments created without `storage` go to `{first root}/{org}/{env}`.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub storage_roots: Vec<String>,
    pub s3_region: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
    pub s3_allow_http: bool,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// The URL clients reach this server at, used when printing catalog URIs.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// What to log (a `tracing` filter); else `info` for `serve`, `warn` for the other commands.
    /// `RUST_LOG` wins over it.
    pub log_level: Option<LogFilter>,
    /// How long a stopping server lets requests in flight finish, in seconds.
    pub shutdown_timeout_seconds: u64,
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
    /// How long the sessions of provider integrations' roles last, in seconds: the credentials
    /// vended to engines and those of Frazil's own I/O in their buckets (900 to 43200).
    pub vended_credentials_duration_seconds: SessionSeconds,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: ListenAddress::default(),
            data_dir: PathBuf::from("./frazil-data"),
            database_url: None,
            database_max_connections: 10,
            sqlite_synchronous: SqliteSync::Full,
            migrate_on_start: true,
            warehouse: None,
            storage_roots: Vec::new(),
            s3_region: None,
            s3_endpoint: None,
            s3_path_style: false,
            s3_allow_http: false,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            public_url: None,
            log_format: LogFormat::Text,
            log_level: None,
            shutdown_timeout_seconds: 30,
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
            vended_credentials_duration_seconds: SessionSeconds::default(),
        }
    }
}

impl Config {
    /// The defaults, the TOML `file`, then the `FRAZIL_*` variables; see [`load::load`].
    pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
        load::load(file)
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

    /// The root of the default environment (the `warehouse`), which lives at
    /// `{warehouse}/default/default`.
    pub fn default_storage(&self) -> anyhow::Result<StorageConfig> {
        match &self.warehouse {
            Some(location) => self.root_storage(location),
            None => self.root_storage(
                &self
                    .data_dir_absolute()?
                    .join("warehouse")
                    .to_string_lossy(),
            ),
        }
    }

    /// `storage_roots` (default: the warehouse), each with the server's S3 settings.
    pub fn storage_roots(&self) -> anyhow::Result<Vec<StorageConfig>> {
        if self.storage_roots.is_empty() {
            return Ok(vec![self.default_storage()?]);
        }
        self.storage_roots
            .iter()
            .map(|root| self.root_storage(root))
            .collect()
    }

    /// The rules of environment storage: the roots, and the data directory and SQLite
    /// database that no environment may hold.
    pub fn storage_policy(&self) -> anyhow::Result<StoragePolicy> {
        let mut policy = StoragePolicy::new(self.storage_roots()?)?
            .protect_data_dir(&self.data_dir_absolute()?)?;
        if let Some(file) = self.database_url()?.strip_prefix("sqlite://") {
            let file = file.split('?').next().unwrap_or(file);
            policy = policy.protect_database_file(Path::new(file))?;
        }
        Ok(policy)
    }

    /// A storage root: a URL, or a local path (made absolute and created); S3 roots are reached
    /// with the server's `s3_*` settings.
    fn root_storage(&self, location: &str) -> anyhow::Result<StorageConfig> {
        let location = match location.trim() {
            location if location.contains("://") => location.trim_end_matches('/').to_string(),
            path => directory_url(&std::path::absolute(path)?)?,
        };
        let s3 = location.starts_with("s3").then(|| S3Settings {
            region: self.s3_region.clone(),
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_path_style,
            allow_http: self.s3_allow_http,
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        });
        Ok(StorageConfig {
            location,
            s3,
            provider_integration: None,
        })
    }

    /// The sessions in which provider integrations' roles are assumed.
    pub fn role_sessions(&self) -> std::sync::Arc<frazil_storage::RoleSessions> {
        std::sync::Arc::new(frazil_storage::RoleSessions::new(
            self.vended_credentials_duration_seconds.duration(),
        ))
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

/// A list from a TOML array, or from one comma-separated string (an environment variable).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        One(String),
    }
    Ok(match List::deserialize(deserializer)? {
        List::Many(items) => items,
        List::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own Error
    fn storage_roots_come_as_a_list_or_comma_separated() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "frazil.toml",
                r#"storage_roots = ["file:///a", "s3://b/c"]"#,
            )?;
            let config = Config::load(Some(Path::new("frazil.toml"))).unwrap().config;
            assert_eq!(config.storage_roots, ["file:///a", "s3://b/c"]);
            jail.set_env("FRAZIL_STORAGE_ROOTS", "file:///x, s3://y/z");
            let config = Config::load(Some(Path::new("frazil.toml"))).unwrap().config;
            assert_eq!(config.storage_roots, ["file:///x", "s3://y/z"]);
            jail.set_env("FRAZIL_STORAGE_ROOTS", "file:///only");
            let config = Config::load(None).unwrap().config;
            assert_eq!(config.storage_roots, ["file:///only"]);
            Ok(())
        });
    }
}
