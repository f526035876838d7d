//! Is an environment's storage usable? Asked when an administrator sets the location, so that a
//! location the server cannot write is refused then (400, naming the cause) rather than at the
//! first table create (500). The probe writes, reads back and deletes one small file, and leaves
//! nothing behind: not the file, not the directories it had to create.

use std::path::PathBuf;

use bytes::Bytes;
use uuid::Uuid;

use crate::{Location, Result, StorageError, Warehouse};

impl Warehouse {
    /// Writes, reads back and deletes a probe file at the root of this storage. Fails with
    /// [`StorageError::Unusable`] saying which step failed and why.
    pub async fn check_usable(&self) -> Result<()> {
        let created = self.create_local_root()?;
        let outcome = self.probe().await;
        // Innermost first; `remove_dir` only removes empty directories, so nothing else goes.
        for dir in created {
            let _ = std::fs::remove_dir(dir);
        }
        outcome
    }

    async fn probe(&self) -> Result<()> {
        let file = self
            .root()
            .join(&format!(".frazil-probe-{}", Uuid::now_v7()));
        let contents = Bytes::from(format!("frazil storage probe {file}\n"));
        let step = |action| move |e: StorageError| unusable(action, self.root(), &e);
        self.create_file(&file, contents.clone())
            .await
            .map_err(step("write to"))?;
        let read = self.read_file(&file).await.map_err(step("read back from"));
        let deleted = self.delete_file(&file).await.map_err(step("delete from"));
        if read? != contents {
            return Err(StorageError::Unusable {
                action: "read back from",
                location: self.root().to_string(),
                reason: "the probe file read back different bytes".into(),
            });
        }
        deleted
    }

    /// Creates a local root directory and the missing ones above it; returns those it created,
    /// innermost first, for [`Warehouse::check_usable`] to remove again. Not local: nothing.
    fn create_local_root(&self) -> Result<Vec<PathBuf>> {
        let Ok(dir) = self.root().url().to_file_path() else {
            return Ok(Vec::new());
        };
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| std::fs::symlink_metadata(d).is_err())
            .map(PathBuf::from)
            .collect();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            for created in &missing {
                let _ = std::fs::remove_dir(created);
            }
            return Err(unusable("write to", self.root(), &e));
        }
        Ok(missing)
    }
}

/// The innermost cause of `error`, without the OS's error number: "Permission denied".
fn unusable(action: &'static str, root: &Location, error: &dyn std::error::Error) -> StorageError {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let text = cause.to_string();
    let reason = match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    StorageError::Unusable {
        action,
        location: root.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageConfig;

    fn warehouse_at(dir: &std::path::Path) -> Warehouse {
        let location = Location::from_path_or_url(dir.to_str().unwrap()).unwrap();
        Warehouse::new(StorageConfig {
            location: location.to_string(),
            s3: None,
            provider_integration: None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_usable_location_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("a").join("b");
        warehouse_at(&env).check_usable().await.unwrap();
        assert!(!dir.path().join("a").exists(), "the probe left directories");
        std::fs::create_dir_all(&env).unwrap();
        warehouse_at(&env).check_usable().await.unwrap();
        assert_eq!(
            std::fs::read_dir(&env).unwrap().count(),
            0,
            "the probe left a file"
        );
    }

    #[tokio::test]
    async fn a_location_below_a_file_is_unusable_even_for_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let refused = warehouse_at(&file.join("env")).check_usable().await;
        let Err(e @ StorageError::Unusable { .. }) = refused else {
            panic!("{refused:?}");
        };
        let text = e.to_string();
        assert!(text.starts_with("cannot write to file:///"), "{text}");
        assert!(text.ends_with(": Not a directory"), "{text}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }
}
