//! One server per SQLite database: `serve` holds an exclusive lock on `{database}.lock`.
//!
//! Two servers on one SQLite file both started, and the second served stale data: each caches
//! table pointers and hears only of its own commits (SQLite has no LISTEN/NOTIFY). A second
//! server now refuses to start, naming the lock file and the pid the first wrote into it.
//!
//! The lock is the operating system's (`flock`), so it goes away with the process however that
//! ends; the file stays, and the next server writes its pid over the old one. Only `serve` takes
//! it: the CLI commands (`api-key create`, `admin-key create`, `keys rotate`, ...) write through
//! SQLite's own locking in WAL mode, which is safe beside a running server, and the server reads
//! keys from the database on each use.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::data_dir;

/// Held while the server runs; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Locks the SQLite database of `config` for this process; `None` for Postgres, where replicas
/// share the database and hear of each other's changes.
pub fn acquire(config: &Config) -> anyhow::Result<Option<InstanceLock>> {
    let Some(database) = data_dir::sqlite_file(&config.database_url()?) else {
        return Ok(None);
    };
    let path = lock_path(&database);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "another frazil{} is serving the SQLite database {}: it holds the lock {}. Stop it \
             first, or give this server another data_dir or database_url",
            holder(&mut file),
            database.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Some(InstanceLock { _file: file }))
}

/// `{database}.lock`, beside the database whatever data directory each server was given.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// " (pid N)" from the lock file's holder, if it wrote one.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    match file.read_to_string(&mut text) {
        Ok(_) if !text.trim().is_empty() => format!(" (pid {})", text.trim()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: tmp.path().join("data"),
            ..Config::default()
        };
        data_dir::prepare(&config).unwrap();
        let first = acquire(&config).unwrap();
        assert!(first.is_some());
        let error = format!("{:#}", acquire(&config).unwrap_err());
        assert!(error.contains("frazil.db.lock"), "{error}");
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        drop(first);
        assert!(acquire(&config).unwrap().is_some());
    }

    #[test]
    fn postgres_is_not_locked() {
        let config = Config {
            database_url: Some("postgres://h/db".into()),
            ..Config::default()
        };
        assert!(acquire(&config).unwrap().is_none());
    }
}
