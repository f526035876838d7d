//! The data directory and the master key: what a local user must not read.
//!
//! The embedded default keeps its SQLite database (API key hashes, sealed signing keys), the
//! generated master key and the first administrator's credentials in the data directory. The
//! directory is made 0700 and those files 0600 before anything is written to them, so that no
//! other local user can read them whatever the umask (SQLite gives its `-wal` and `-shm` files
//! the database file's mode).
//!
//! The master key seals the secrets the store keeps. It comes from `master_key` (base64), else
//! from the file `master_key_file` names (a mounted Kubernetes Secret), else from
//! `{data_dir}/master.key`, generated on first start. Replicas over one Postgres must share one
//! key: each replica's own generated file would not open the others' keys, and start-up says so.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use frazil_catalog::MasterKey;

use crate::config::Config;

const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;
const MASTER_KEY_FILE: &str = "master.key";

/// Creates the data directory (0700) and, for a SQLite store, its database file (0600); narrows
/// the modes of ones created by an earlier version.
pub fn prepare(config: &Config) -> anyhow::Result<()> {
    let dir = config.data_dir_absolute()?;
    private_dir(&dir)?;
    if let Some(database) = sqlite_file(&config.database_url()?) {
        if let Some(parent) = database.parent() {
            std::fs::create_dir_all(parent)?;
        }
        private_file(&database)?;
        for suffix in ["-wal", "-shm"] {
            let mut name = database.clone().into_os_string();
            name.push(suffix);
            narrow(Path::new(&name), PRIVATE_FILE)?;
        }
    }
    Ok(())
}

/// The master key, from configuration or the data directory (generated there on first start).
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::from_base64(text).context("master_key (FRAZIL_MASTER_KEY)");
    }
    if let Some(file) = &config.master_key_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("master_key_file {}", file.display()))?;
        return MasterKey::from_base64(&text)
            .with_context(|| format!("master_key_file {}", file.display()));
    }
    let file = config.data_dir_absolute()?.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            narrow(&file, PRIVATE_FILE)?;
            MasterKey::from_base64(&text).with_context(|| format!("master key {}", file.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_master_key(&file),
        Err(e) => Err(e).with_context(|| format!("reading the master key {}", file.display())),
    }
}

fn generate_master_key(file: &Path) -> anyhow::Result<MasterKey> {
    let (key, text) = MasterKey::generate();
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(file)
        .with_context(|| format!("writing a new master key to {}", file.display()))?;
    writeln!(out, "{text}")?;
    out.sync_all()?;
    tracing::info!(file = %file.display(), "generated the master key that seals stored secrets; back it up with the database");
    Ok(key)
}

/// The path of a `sqlite://` database URL (without its `?options`), if it is one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    narrow(dir, PRIVATE_DIR)
}

/// Creates `file` empty with mode 0600 unless it exists; narrows an existing one's mode.
fn private_file(file: &Path) -> anyhow::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => narrow(file, PRIVATE_FILE),
        Err(e) => Err(e).with_context(|| format!("creating {}", file.display())),
    }
}

/// Takes away the permissions beyond `mode` from an existing file or directory.
fn narrow(path: &Path, mode: u32) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let current = meta.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(current & mode))
            .with_context(|| format!("making {} private", path.display()))?;
        tracing::info!(path = %path.display(), from = format!("{current:o}"), to = format!("{:o}", current & mode), "narrowed the permissions of a data file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    #[test]
    fn the_data_directory_and_database_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config_in(tmp.path());
        prepare(&config).unwrap();
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
        assert_eq!(mode(&tmp.path().join("data/frazil.db")), 0o600);
    }

    #[test]
    fn modes_of_an_earlier_version_are_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("frazil.db"), b"").unwrap();
        std::fs::set_permissions(data.join("frazil.db"), Permissions::from_mode(0o644)).unwrap();
        std::fs::write(data.join("frazil.db-wal"), b"").unwrap();
        std::fs::set_permissions(data.join("frazil.db-wal"), Permissions::from_mode(0o664))
            .unwrap();
        prepare(&config_in(tmp.path())).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("frazil.db")), 0o600);
        assert_eq!(mode(&data.join("frazil.db-wal")), 0o600);
    }

    #[test]
    fn a_generated_master_key_is_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config_in(tmp.path());
        prepare(&config).unwrap();
        let first = master_key(&config).unwrap();
        let file = tmp.path().join("data").join(MASTER_KEY_FILE);
        assert_eq!(mode(&file), 0o600);
        let sealed = first.seal("c", "secret").unwrap();
        let again = master_key(&config).unwrap();
        assert_eq!(again.open("c", &sealed).unwrap(), "secret");
    }

    #[test]
    fn a_configured_master_key_wins_and_a_bad_one_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, text) = MasterKey::generate();
        let config = Config {
            master_key: Some(text),
            ..config_in(tmp.path())
        };
        master_key(&config).unwrap();
        assert!(!tmp.path().join("data").join(MASTER_KEY_FILE).exists());
        let bad = Config {
            master_key: Some("short".into()),
            ..config_in(tmp.path())
        };
        let error = format!("{:#}", master_key(&bad).unwrap_err());
        assert!(error.contains("FRAZIL_MASTER_KEY"), "{error}");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:///d/frazil.db?mode=rwc"),
            Some(PathBuf::from("/d/frazil.db"))
        );
        assert_eq!(sqlite_file("postgres://h/db"), None);
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
