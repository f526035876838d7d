//! Where environments may keep their tables. Frazil reaches an environment's storage with its
//! own identity (its local files, its S3 credentials), so a tenant must never choose it: storage
//! lies under roots the server's configuration lists, tenants get `{root}/{org}/{env}`, only a
//! server administrator picks another place under a root, and no two environments (nor the
//! server's own database and key files) share a directory.

use std::path::{Path, PathBuf};

use frazil_storage::{Location, StorageConfig};

use crate::model::Environment;
use crate::{CatalogError, Result};

/// The rules of environment storage, from the server's configuration.
#[derive(Debug, Clone, Default)]
pub struct StoragePolicy {
    /// `storage_roots`: every environment lives below one of these; the first takes the
    /// environments created without `storage`. Each carries the S3 settings it is reached with.
    roots: Vec<(Location, StorageConfig)>,
    /// Directories no environment may contain (the data directory).
    protected_dirs: Vec<Location>,
    /// Files no environment may contain, equal or lie inside (the database, key files).
    protected_files: Vec<Location>,
}

impl StoragePolicy {
    /// A policy with these roots and nothing protected yet.
    pub fn new(roots: Vec<StorageConfig>) -> Result<Self> {
        let roots = roots
            .into_iter()
            .map(|root| Ok((Location::parse(&root.location)?, root)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            roots,
            ..Self::default()
        })
    }

    /// Protects the data directory: no environment may contain it, nor equal or contain one of
    /// its files (the SQLite database and its journals, key files), listed now.
    pub fn protect_data_dir(mut self, data_dir: &Path) -> Result<Self> {
        self.protected_dirs.push(local_location(data_dir)?);
        if let Ok(entries) = std::fs::read_dir(data_dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| !t.is_dir()) {
                    self.protected_files.push(local_location(&entry.path())?);
                }
            }
        }
        Ok(self)
    }

    /// Protects a file that may not exist yet (a SQLite database outside the data directory)
    /// and its SQLite companions (`-wal`, `-shm`, `-journal`).
    pub fn protect_database_file(mut self, file: &Path) -> Result<Self> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            self.protected_files
                .push(local_location(&PathBuf::from(name))?);
        }
        Ok(self)
    }

    /// `{first root}/{org}/{env}`, with the root's S3 settings: an environment created without
    /// `storage`.
    pub fn default_storage(&self, org: &str, env: &str) -> Result<StorageConfig> {
        let (root, settings) = self.roots.first().ok_or_else(|| {
            CatalogError::Forbidden(
                "This server has no storage_roots configured: environments cannot be created"
                    .into(),
            )
        })?;
        Ok(StorageConfig {
            location: root.join(org).join(env).to_string(),
            s3: settings.s3.clone(),
            provider_integration: None,
        })
    }

    /// A server administrator's choice of storage: a URL or an absolute path (kept as its
    /// `file://` URL), which must lie below a root (403 otherwise); without `s3` settings the
    /// root's apply.
    pub fn chosen_storage(&self, mut storage: StorageConfig) -> Result<StorageConfig> {
        let location = Location::from_path_or_url(&storage.location)?;
        if !storage.location.contains("://") {
            storage.location = location.to_string();
        }
        let Some((_, root)) = self
            .roots
            .iter()
            .find(|(root, _)| comparable(&location).is_within(&comparable(root)))
        else {
            let roots: Vec<&str> = self.roots.iter().map(|(r, _)| r.as_str()).collect();
            return Err(CatalogError::Forbidden(format!(
                "Storage location {location} is outside every configured storage root \
                 (storage_roots: {}); add a root to the server's storage_roots to use it",
                roots.join(", ")
            )));
        };
        if storage.s3.is_none() && location.url().scheme() != "file" {
            storage.s3 = root.s3.clone();
        }
        Ok(storage)
    }

    /// Storage reached through a provider integration's role (`storage.provider_integration` is
    /// set and checked): Frazil uses the customer's credentials there, never its own, so it may
    /// lie in any `s3://` bucket, for an environment's admin too (bring your own bucket). It
    /// holds no static keys (400: the role is how it is reached), and only a server
    /// administrator may point it at another endpoint or allow plain HTTP than `current` has
    /// (403): an endpoint is where Frazil sends requests from inside its network.
    pub fn role_storage(
        &self,
        storage: StorageConfig,
        current: &StorageConfig,
        server_admin: bool,
    ) -> Result<StorageConfig> {
        let location = Location::parse(&storage.location)?;
        if !matches!(location.url().scheme(), "s3" | "s3a") {
            return Err(CatalogError::BadRequest(format!(
                "storage.provider_integration needs s3:// storage, not {location}"
            )));
        }
        let s3 = storage.s3.clone().unwrap_or_default();
        if s3.access_key_id.is_some() || s3.secret_access_key.is_some() {
            return Err(CatalogError::BadRequest(
                "Storage with a provider integration takes no static S3 keys \
                 (s3.access_key_id, s3.secret_access_key): Frazil reaches it with the \
                 integration's role"
                    .into(),
            ));
        }
        let was = current.s3.clone().unwrap_or_default();
        let new_endpoint = s3.endpoint.is_some() && s3.endpoint != was.endpoint;
        if !server_admin && (new_endpoint || (s3.allow_http && !was.allow_http)) {
            return Err(CatalogError::Forbidden(
                "Only a server administrator may set an S3 endpoint or allow plain HTTP: \
                 leave s3.endpoint and s3.allow_http out"
                    .into(),
            ));
        }
        Ok(storage)
    }

    /// 409 when `location` would hold the server's own files.
    pub fn check_not_protected(&self, location: &str) -> Result<()> {
        let location = Location::parse(location)?;
        let hit = self
            .protected_dirs
            .iter()
            .find(|dir| dir.is_within(&location))
            .or_else(|| {
                self.protected_files
                    .iter()
                    .find(|file| overlap(file, &location))
            })
            .cloned()
            .or_else(|| self.file_of_a_protected_dir(&location));
        match hit {
            Some(hit) => Err(CatalogError::Conflict(format!(
                "Storage location {location} would contain the server's own files ({hit}): \
                 choose a location that holds neither the data directory nor the database"
            ))),
            None => Ok(()),
        }
    }
}

impl StoragePolicy {
    /// The file directly in a protected directory that `location` is or lies inside, looked up
    /// now: files written there after start (a key file) are protected too.
    fn file_of_a_protected_dir(&self, location: &Location) -> Option<Location> {
        self.protected_dirs.iter().find_map(|dir| {
            let below = location
                .as_str()
                .strip_prefix(dir.as_str())?
                .strip_prefix('/')?;
            let file = dir.join(below.split('/').next()?);
            let path = file.url().to_file_path().ok()?;
            path.symlink_metadata()
                .is_ok_and(|m| !m.is_dir())
                .then_some(file)
        })
    }
}

/// 409 when `location` is, contains or lies inside the location of another environment
/// (`others` may include the environment being changed, `uid`, which is skipped).
pub fn check_no_overlap(location: &str, uid: Option<&str>, others: &[Environment]) -> Result<()> {
    let location = Location::parse(location)?;
    for other in others.iter().filter(|o| Some(o.uid.as_str()) != uid) {
        let Ok(theirs) = Location::parse(&other.storage.location) else {
            continue;
        };
        if overlap(&location, &theirs) {
            return Err(CatalogError::Conflict(format!(
                "Storage location {location} overlaps the storage of environment {}/{} \
                 ({theirs}): environments may not share a location or lie inside one another",
                other.org_id, other.id
            )));
        }
    }
    Ok(())
}

/// Equal, or one inside the other, segment-wise (`s3a://` and `s3://` name the same bucket).
fn overlap(a: &Location, b: &Location) -> bool {
    let (a, b) = (comparable(a), comparable(b));
    a.is_within(&b) || b.is_within(&a)
}

/// `s3a://` read as `s3://`, so both spellings of one bucket compare equal.
fn comparable(location: &Location) -> Location {
    match location.as_str().strip_prefix("s3a://") {
        Some(rest) => Location::parse(&format!("s3://{rest}")).unwrap_or_else(|_| location.clone()),
        None => location.clone(),
    }
}

fn local_location(path: &Path) -> Result<Location> {
    let path = std::path::absolute(path)
        .map_err(|e| CatalogError::Internal(format!("{}: {e}", path.display())))?;
    let url = url::Url::from_file_path(&path).map_err(|()| {
        CatalogError::Internal(format!("not an absolute path: {}", path.display()))
    })?;
    Ok(Location::parse(url.as_str())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use frazil_storage::S3Settings;

    fn local(location: &str) -> StorageConfig {
        StorageConfig {
            location: location.into(),
            s3: None,
            provider_integration: None,
        }
    }

    fn env(org: &str, id: &str, location: &str) -> Environment {
        Environment {
            uid: format!("{org}-{id}"),
            org_id: org.into(),
            id: id.into(),
            name: id.into(),
            storage: local(location),
        }
    }

    #[test]
    fn tenants_get_a_directory_of_their_own_below_the_first_root() {
        let policy =
            StoragePolicy::new(vec![local("file:///srv/wh/"), local("file:///b")]).unwrap();
        let storage = policy.default_storage("acme", "prod").unwrap();
        assert_eq!(storage.location, "file:///srv/wh/acme/prod");
        assert!(StoragePolicy::default().default_storage("a", "b").is_err());
    }

    #[test]
    fn chosen_locations_lie_below_a_root() {
        let policy =
            StoragePolicy::new(vec![local("file:///srv/wh"), local("s3://bkt/t")]).unwrap();
        assert!(policy.chosen_storage(local("file:///srv/wh/x")).is_ok());
        assert!(policy.chosen_storage(local("s3a://bkt/t/x")).is_ok());
        for outside in [
            "file:///srv/wh-other",
            "file:///srv",
            "s3://other/t/x",
            "file:///",
        ] {
            let refused = policy.chosen_storage(local(outside));
            assert!(
                matches!(&refused, Err(CatalogError::Forbidden(m)) if m.contains("storage_roots")),
                "{outside}: {refused:?}"
            );
        }
    }

    fn role(location: &str, s3: S3Settings) -> StorageConfig {
        StorageConfig {
            location: location.into(),
            s3: Some(s3),
            provider_integration: Some("pi-1".into()),
        }
    }

    #[test]
    fn storage_reached_through_a_role_may_be_any_bucket_without_keys() {
        let policy = StoragePolicy::new(vec![local("s3://frazil/wh")]).unwrap();
        let current = local("s3://frazil/wh/a/b");
        let mine = role("s3://customer-bucket/lake", S3Settings::default());
        assert_eq!(
            policy.role_storage(mine.clone(), &current, false).unwrap(),
            mine
        );
        let keyed = S3Settings {
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("s".into()),
            ..S3Settings::default()
        };
        for admin in [false, true] {
            let refused = policy.role_storage(role("s3://c/l", keyed.clone()), &current, admin);
            assert!(
                matches!(&refused, Err(CatalogError::BadRequest(m)) if m.contains("static S3 keys")),
                "{refused:?}"
            );
        }
        let refused =
            policy.role_storage(role("file:///tmp/x", S3Settings::default()), &current, true);
        assert!(matches!(refused, Err(CatalogError::BadRequest(_))));
    }

    #[test]
    fn only_server_admins_point_role_storage_at_an_endpoint() {
        let policy = StoragePolicy::default();
        let endpoint = |e: &str| S3Settings {
            endpoint: Some(e.into()),
            ..S3Settings::default()
        };
        let current = role("s3://c/l", endpoint("http://minio:9000"));
        // the endpoint it has stays; another is a server administrator's choice
        assert!(policy
            .role_storage(
                role("s3://d/l", endpoint("http://minio:9000")),
                &current,
                false
            )
            .is_ok());
        for changed in [
            endpoint("http://169.254.169.254"),
            S3Settings {
                allow_http: true,
                ..endpoint("http://minio:9000")
            },
        ] {
            let refused = policy.role_storage(role("s3://c/l", changed.clone()), &current, false);
            assert!(
                matches!(refused, Err(CatalogError::Forbidden(_))),
                "{changed:?}"
            );
            assert!(policy
                .role_storage(role("s3://c/l", changed), &current, true)
                .is_ok());
        }
    }

    #[test]
    fn locations_may_not_overlap() {
        let others = [env("a", "x", "file:///srv/wh/a/x")];
        for clash in [
            "file:///srv/wh/a/x",
            "file:///srv/wh/a/x/y",
            "file:///srv/wh/a",
            "file:///srv/wh/a/x/",
        ] {
            assert!(
                matches!(
                    check_no_overlap(clash, None, &others),
                    Err(CatalogError::Conflict(_))
                ),
                "{clash}"
            );
        }
        assert!(check_no_overlap("file:///srv/wh/a/x2", None, &others).is_ok());
        assert!(check_no_overlap("file:///srv/wh/a/x/y", Some("a-x"), &others).is_ok());
    }

    #[test]
    fn the_data_directory_and_database_are_protected() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("warehouse")).unwrap();
        std::fs::write(data.join("master.key"), b"k").unwrap();
        let policy = StoragePolicy::default()
            .protect_data_dir(&data)
            .unwrap()
            .protect_database_file(&dir.path().join("db").join("frazil.db"))
            .unwrap();
        let url = |p: &Path| url::Url::from_file_path(p).unwrap().to_string();
        for clash in [
            url(dir.path()),
            url(&data),
            url(&data.join("master.key")),
            url(&dir.path().join("db")),
            url(&dir.path().join("db").join("frazil.db-wal")),
        ] {
            assert!(
                matches!(
                    policy.check_not_protected(&clash),
                    Err(CatalogError::Conflict(_))
                ),
                "{clash}"
            );
        }
        assert!(policy
            .check_not_protected(&url(&data.join("warehouse").join("a")))
            .is_ok());
        std::fs::write(data.join("later.key"), b"k").unwrap();
        assert!(matches!(
            policy.check_not_protected(&url(&data.join("later.key"))),
            Err(CatalogError::Conflict(_))
        ));
    }
}
