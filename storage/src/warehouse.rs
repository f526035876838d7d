//! Reading, writing and deleting files of one environment's storage through `object_store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{
    AssumeRoleError, CustomerRole, Location, Result, RoleCredentialProvider, RoleSessions,
    StorageConfig, StorageError,
};

/// One environment's storage: its root location and the object stores that serve it (one per
/// S3 bucket, or the local file system), built once and reused.
#[derive(Debug)]
pub struct Warehouse {
    config: StorageConfig,
    root: Location,
    /// The customer role whose credentials reach this storage (a provider integration), and
    /// the sessions that assume it; without, the storage's keys or the server's own.
    role: Option<(Arc<RoleSessions>, CustomerRole)>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Warehouse {
    pub fn new(config: StorageConfig) -> Result<Self> {
        let root = Location::parse(&config.location)?;
        Ok(Self {
            config,
            root,
            role: None,
            stores: Mutex::default(),
        })
    }

    /// Storage reached only with `role`'s credentials (assumed through `sessions`, cached and
    /// refreshed before they expire), never with static keys nor the server's own credentials.
    pub fn with_role(
        config: StorageConfig,
        sessions: Arc<RoleSessions>,
        role: CustomerRole,
    ) -> Result<Self> {
        Ok(Self {
            role: Some((sessions, role)),
            ..Self::new(config)?
        })
    }

    /// The customer role this storage is reached with, if any.
    pub fn role(&self) -> Option<&CustomerRole> {
        self.role.as_ref().map(|(_, role)| role)
    }

    pub fn root(&self) -> &Location {
        &self.root
    }

    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// Writes a new file; fails with `AlreadyExists` rather than replace an existing one.
    pub async fn create_file(&self, location: &Location, contents: Bytes) -> Result<()> {
        let (store, path) = self.resolve(location)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match store
            .put_opts(&path, PutPayload::from(contents), options)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StorageError::AlreadyExists(location.to_string()))
            }
            Err(source) => Err(backend(location, source)),
        }
    }

    pub async fn read_file(&self, location: &Location) -> Result<Bytes> {
        let (store, path) = self.resolve(location)?;
        let read = async { store.get(&path).await?.bytes().await };
        read.await.map_err(|source| backend(location, source))
    }

    pub async fn delete_file(&self, location: &Location) -> Result<()> {
        let (store, path) = self.resolve(location)?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(backend(location, source)),
        }
    }

    /// Deletes every file below `location` (a table purge). Symbolic links are never followed:
    /// a link inside the tree is removed as a link and what it points at stays. The caller
    /// decides first that no other table lives inside `location`.
    pub async fn delete_tree(&self, location: &Location) -> Result<()> {
        self.check_within(location)?;
        if location.url().scheme() == "file" {
            return delete_local_tree(location).await;
        }
        let (store, prefix) = self.resolve(location)?;
        // object_store matches prefixes segment-wise: `t` never lists `t-2/...`.
        let paths = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        store
            .delete_stream(paths)
            .try_collect::<Vec<Path>>()
            .await
            .map_err(|source| backend(location, source))?;
        Ok(())
    }

    /// The store serving `location` and the path of `location` in it. A location outside this
    /// environment's root is refused: an environment's storage reaches nothing but its own.
    fn resolve(&self, location: &Location) -> Result<(Arc<dyn ObjectStore>, Path)> {
        self.check_within(location)?;
        let url = location.url();
        // The local store is rooted at the environment's directory: paths are relative to it.
        let url_path = match url.scheme() {
            "file" => &url.path()[self.root.url().path().len()..],
            _ => url.path(),
        };
        let path = Path::from_url_path(url_path).map_err(|e| StorageError::InvalidLocation {
            location: location.to_string(),
            reason: e.to_string(),
        })?;
        let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok((store.clone(), path));
        }
        let store = self.build_store(location)?;
        stores.insert(key, store.clone());
        Ok((store, path))
    }

    fn check_within(&self, location: &Location) -> Result<()> {
        if location.is_within(&self.root) {
            return Ok(());
        }
        Err(StorageError::InvalidLocation {
            location: location.to_string(),
            reason: format!("it lies outside the environment's storage {}", self.root),
        })
    }

    fn build_store(&self, location: &Location) -> Result<Arc<dyn ObjectStore>> {
        let url = location.url();
        if url.scheme() == "file" {
            return self.local_store();
        }
        let s3 = self.config.s3.clone().unwrap_or_default();
        let region = s3.region.clone();
        // The environment gives connection settings (endpoint variables); credentials come from
        // it only for storage without a role (see below).
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(url.host_str().unwrap_or_default())
            .with_region(s3.region.unwrap_or_else(|| "us-east-1".to_string()))
            .with_virtual_hosted_style_request(!s3.path_style)
            .with_allow_http(s3.allow_http);
        if let Some(endpoint) = s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some((sessions, role)) = &self.role {
            // A credential provider takes precedence over every other credential source of the
            // builder (static keys, web identity, instance metadata): the role's, and only it.
            let provider = RoleCredentialProvider::new(sessions.clone(), role.clone(), region);
            builder = builder
                .with_credentials(Arc::new(provider))
                .with_skip_signature(false);
        } else if let (Some(key), Some(secret)) = (s3.access_key_id, s3.secret_access_key) {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .map_err(|source| backend(location, source))?;
        Ok(Arc::new(store))
    }
}

/// A local table directory and everything in it, by the file system's own recursive removal,
/// which removes symbolic links without following them (object_store's local listing follows
/// them, so its delete would reach files outside the table). A location that is a regular file
/// is refused: a table location is a directory, and a file there is not the table's.
async fn delete_local_tree(location: &Location) -> Result<()> {
    let dir = location
        .url()
        .to_file_path()
        .map_err(|()| StorageError::InvalidLocation {
            location: location.to_string(),
            reason: "not a local path".into(),
        })?;
    let io_error = |e: std::io::Error| StorageError::Io {
        location: location.to_string(),
        source: e,
    };
    let kind = match tokio::fs::symlink_metadata(&dir).await {
        Ok(meta) => meta.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(e)),
    };
    let removed = if kind.is_dir() {
        tokio::fs::remove_dir_all(&dir).await
    } else if kind.is_symlink() {
        tokio::fs::remove_file(&dir).await
    } else {
        Err(std::io::Error::other(
            "the table location is not a directory; refusing to delete it",
        ))
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(e)),
    }
}

impl Warehouse {
    /// The local file system below the environment's directory (created if missing), never `/`.
    fn local_store(&self) -> Result<Arc<dyn ObjectStore>> {
        let invalid = |reason: String| StorageError::InvalidLocation {
            location: self.root.to_string(),
            reason,
        };
        let dir = self
            .root
            .url()
            .to_file_path()
            .map_err(|()| invalid("not a local directory".into()))?;
        std::fs::create_dir_all(&dir).map_err(|e| invalid(format!("cannot create it: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| invalid(e.to_string()))?;
        Ok(Arc::new(store))
    }
}

fn backend(location: &Location, source: object_store::Error) -> StorageError {
    if let Some(refused) = assume_role_error(&source) {
        return StorageError::Credentials(refused);
    }
    match source {
        object_store::Error::NotFound { .. } => StorageError::NotFound(location.to_string()),
        source => StorageError::Backend {
            location: location.to_string(),
            source,
        },
    }
}

/// The customer role's refusal behind a store error, however deep the store wrapped it.
fn assume_role_error(error: &(dyn std::error::Error + 'static)) -> Option<AssumeRoleError> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<AssumeRoleError>() {
            return Some(refused.clone());
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_warehouse(dir: &tempfile::TempDir) -> Warehouse {
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        Warehouse::new(StorageConfig {
            location: url.to_string(),
            s3: None,
            provider_integration: None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn files_are_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = local_warehouse(&dir);
        let file = warehouse.root().join("t").join("00001-a.metadata.json");
        warehouse
            .create_file(&file, Bytes::from_static(b"one"))
            .await
            .unwrap();
        let again = warehouse
            .create_file(&file, Bytes::from_static(b"two"))
            .await;
        assert!(
            matches!(again, Err(StorageError::AlreadyExists(_))),
            "{again:?}"
        );
        assert_eq!(
            warehouse.read_file(&file).await.unwrap(),
            Bytes::from_static(b"one")
        );
    }

    #[tokio::test]
    async fn delete_tree_removes_only_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = local_warehouse(&dir);
        let table = warehouse.root().join("ns").join("t");
        let sibling = warehouse.root().join("ns").join("t2");
        for f in ["metadata/1.json", "data/a.parquet"] {
            let loc = f.split('/').fold(table.clone(), |l, s| l.join(s));
            warehouse
                .create_file(&loc, Bytes::from_static(b"x"))
                .await
                .unwrap();
        }
        let kept = sibling.join("data.parquet");
        warehouse
            .create_file(&kept, Bytes::from_static(b"x"))
            .await
            .unwrap();
        warehouse.delete_tree(&table).await.unwrap();
        assert!(!dir.path().join("ns/t").exists());
        assert_eq!(
            warehouse.read_file(&kept).await.unwrap(),
            Bytes::from_static(b"x")
        );
        let missing = warehouse
            .read_file(&table.join("metadata").join("1.json"))
            .await;
        assert!(matches!(missing, Err(StorageError::NotFound(_))));
    }

    #[tokio::test]
    async fn delete_tree_removes_links_but_not_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious.parquet"), b"keep").unwrap();
        let warehouse = local_warehouse(&dir);
        let table = warehouse.root().join("t");
        let file = table.join("metadata").join("1.json");
        warehouse
            .create_file(&file, Bytes::from_static(b"x"))
            .await
            .unwrap();
        let table_dir = dir.path().join("t");
        std::os::unix::fs::symlink(outside.path(), table_dir.join("data")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("precious.parquet"),
            table_dir.join("metadata/linked.parquet"),
        )
        .unwrap();
        warehouse.delete_tree(&table).await.unwrap();
        assert!(!table_dir.exists());
        assert_eq!(
            std::fs::read(outside.path().join("precious.parquet")).unwrap(),
            b"keep"
        );
    }

    #[tokio::test]
    async fn the_local_store_reaches_nothing_outside_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("other-tenant").join("secret.parquet");
        std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
        std::fs::write(&secret, b"theirs").unwrap();
        let env_dir = dir.path().join("env");
        let warehouse = Warehouse::new(StorageConfig {
            location: url::Url::from_directory_path(&env_dir).unwrap().to_string(),
            s3: None,
            provider_integration: None,
        })
        .unwrap();
        let env_url = warehouse.root().to_string();
        let outside = [
            url::Url::from_file_path(&secret).unwrap().to_string(),
            // `%2E%2E` is `..`: it must not climb out of the environment.
            format!("{env_url}/%2E%2E/other-tenant/secret.parquet"),
            // A sibling whose name starts with the environment's.
            format!("{env_url}-x/f"),
            "file:///etc/passwd".to_string(),
        ];
        for location in outside {
            let location = Location::parse(&location).unwrap();
            let read = warehouse.read_file(&location).await;
            assert!(
                matches!(read, Err(StorageError::InvalidLocation { .. })),
                "{location}: {read:?}"
            );
            let deleted = warehouse.delete_file(&location).await;
            assert!(deleted.is_err(), "{location}: {deleted:?}");
            let purged = warehouse.delete_tree(&location).await;
            assert!(purged.is_err(), "{location}: {purged:?}");
        }
        let tree =
            Location::parse(url::Url::from_directory_path(dir.path()).unwrap().as_str()).unwrap();
        assert!(warehouse.delete_tree(&tree).await.is_err());
        assert_eq!(std::fs::read(&secret).unwrap(), b"theirs");
        // Its own files are reached below its directory, which the store creates.
        let own = warehouse.root().join("ns").join("f.json");
        warehouse
            .create_file(&own, Bytes::from_static(b"mine"))
            .await
            .unwrap();
        assert_eq!(std::fs::read(env_dir.join("ns/f.json")).unwrap(), b"mine");
    }
}
