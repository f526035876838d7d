//! Serialized loadTable responses, keyed by metadata location, response shape and table config.
//! A metadata file never changes once written, so an entry is valid for as long as the table
//! points at that location, on every replica: a hit needs only the one small query that reads
//! the pointer. Concurrent misses of one key are built once (a commit followed by many readers
//! reloading the table, each of which would otherwise parse the whole metadata).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;

use super::tables::Snapshots;
use crate::error::ApiError;

/// At most this many bytes of responses are kept (large tables' metadata can be megabytes).
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// (metadata location, shape, fingerprint of the table `config`): the environment's storage
/// settings can change under an unchanged table.
type Key = (String, Snapshots, u64);

/// A cached answer: the serialized `LoadTableResult` (without credentials: those are added per
/// request, see `super::delegation`) and the table location it names.
#[derive(Debug, Clone)]
pub struct CachedLoad {
    pub body: Bytes,
    pub table_location: Arc<str>,
}

/// Why a response was not built for the cache.
#[derive(Debug, Clone)]
pub enum Miss {
    /// The table moved to another metadata file since its pointer was read.
    Moved,
    Failed(ApiError),
}

impl From<frazil_catalog::CatalogError> for Miss {
    fn from(e: frazil_catalog::CatalogError) -> Self {
        Miss::Failed(e.into())
    }
}

impl From<ApiError> for Miss {
    fn from(e: ApiError) -> Self {
        Miss::Failed(e)
    }
}

#[derive(Debug, Clone)]
pub struct LoadCache(moka::future::Cache<Key, CachedLoad>);

impl Default for LoadCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }
}

impl LoadCache {
    fn with_capacity(bytes: u64) -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(bytes)
                // Keys name immutable versions: the newest is the one clients load next, and
                // moka's default (TinyLFU) would turn it away from a full cache until it had
                // been asked for a few times.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .weigher(|(location, _, _): &Key, cached: &CachedLoad| {
                    let size = location.len() + cached.body.len() + cached.table_location.len();
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }
}

fn fingerprint(config: &HashMap<String, String>) -> u64 {
    let mut hasher = DefaultHasher::new();
    config.iter().collect::<BTreeMap<_, _>>().hash(&mut hasher);
    hasher.finish()
}

impl LoadCache {
    /// The response for `location` in `shape` with `config`, built by `build` unless cached
    /// (once for all concurrent callers). Errors are not cached.
    pub async fn get_or_build(
        &self,
        location: &str,
        shape: Snapshots,
        config: &HashMap<String, String>,
        build: impl Future<Output = Result<CachedLoad, Miss>>,
    ) -> Result<CachedLoad, Miss> {
        let key = (location.to_string(), shape, fingerprint(config));
        self.0
            .try_get_with(key, build)
            .await
            .map_err(|e| (*e).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_cache_still_keeps_the_newest_version() {
        let cache = LoadCache::with_capacity(10_000);
        let config = HashMap::new();
        let body = CachedLoad {
            body: Bytes::from(vec![b' '; 1_000]),
            table_location: "file:///w/t".into(),
        };
        // Each commit's new version, built once by the first reload and wanted by the next.
        for version in 0..100 {
            let location = format!("file:///w/t/metadata/{version:05}.metadata.json");
            let built = cache
                .get_or_build(&location, Snapshots::Refs, &config, async {
                    Ok(body.clone())
                })
                .await;
            assert!(built.is_ok());
            cache.0.run_pending_tasks().await;
            let again = cache
                .get_or_build(&location, Snapshots::Refs, &config, async {
                    Err(Miss::Moved)
                })
                .await;
            assert!(again.is_ok(), "version {version} was turned away");
        }
    }
}
