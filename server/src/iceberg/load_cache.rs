//! Serialized loadTable responses, keyed by metadata location and response shape. A metadata
//! file never changes once written, so an entry is valid for as long as the table points at that
//! location, on every replica: a hit needs only the one small query that reads the pointer.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::tables::Snapshots;

/// At most this many bytes of responses are kept (large tables' metadata can be megabytes).
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// A response body and the table `config` it was built with (the environment's storage settings
/// can change under an unchanged table).
#[derive(Debug, Clone)]
pub struct CachedLoad {
    pub config: Arc<HashMap<String, String>>,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct LoadCache(moka::future::Cache<(String, Snapshots), CachedLoad>);

impl Default for LoadCache {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|(location, _): &(String, Snapshots), load: &CachedLoad| {
                    u32::try_from(location.len() + load.body.len()).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }
}

impl LoadCache {
    /// The cached body for `location` in `shape`, if it was built with this `config`.
    pub async fn get(
        &self,
        location: &str,
        shape: Snapshots,
        config: &HashMap<String, String>,
    ) -> Option<Bytes> {
        let cached = self.0.get(&(location.to_string(), shape)).await?;
        (*cached.config == *config).then_some(cached.body)
    }

    pub async fn insert(
        &self,
        location: String,
        shape: Snapshots,
        config: HashMap<String, String>,
        body: Bytes,
    ) {
        let entry = CachedLoad {
            config: Arc::new(config),
            body,
        };
        self.0.insert((location, shape), entry).await;
    }
}
