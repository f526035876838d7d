//! Parsed table metadata by metadata location, for commits. A metadata file never changes once
//! written, so an entry is right for as long as a table points at its location, on every
//! replica: a commit reads only the table's pointer (one small query) and, on a hit, neither
//! reads nor parses the metadata text. That keeps a commit's cost, and above all a rejected
//! commit's cost, independent of how many snapshots the table has.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::TableMetadata;

use super::tables::{from_json, ref_types_of};
use crate::Result;

/// At most this many bytes of metadata text are represented (the parsed form takes a few times
/// as much memory).
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// A branch's or tag's type by ref name, as the metadata records it. The `iceberg` crate does
/// not expose it, and the requirement messages clients read name it.
pub(crate) type RefTypes = HashMap<String, String>;

/// One metadata file's contents, parsed.
#[derive(Debug)]
pub(crate) struct ParsedMetadata {
    pub metadata: TableMetadata,
    pub ref_types: RefTypes,
}

impl ParsedMetadata {
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(Self {
            metadata: from_json(text)?,
            ref_types: ref_types_of(text)?,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MetadataCache(moka::sync::Cache<String, (Arc<ParsedMetadata>, u32)>);

impl Default for MetadataCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }
}

impl MetadataCache {
    /// Least recently used entries go first. Every commit adds a new location, and the newest
    /// is the one the next commit needs; moka's default admission policy (TinyLFU) turns away
    /// a new entry that has not been used yet once the cache is full, which made every commit
    /// of a busy catalog re-read and re-parse the metadata.
    fn with_capacity(bytes: u64) -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(bytes)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .weigher(
                    |location: &String, (_, text_bytes): &(Arc<ParsedMetadata>, u32)| {
                        u32::try_from(location.len())
                            .unwrap_or(u32::MAX)
                            .saturating_add(*text_bytes)
                    },
                )
                .build(),
        )
    }

    pub fn get(&self, location: &str) -> Option<Arc<ParsedMetadata>> {
        self.0.get(location).map(|(parsed, _)| parsed)
    }

    /// Remembers the contents of the file at `location` (`text_bytes`: its size as JSON).
    pub fn insert(&self, location: String, parsed: Arc<ParsedMetadata>, text_bytes: usize) {
        let weight = u32::try_from(text_bytes).unwrap_or(u32::MAX);
        self.0.insert(location, (parsed, weight));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tables::to_json;

    #[test]
    fn a_full_cache_still_takes_the_newest_metadata() {
        let (metadata, _) = crate::commit::tests::table();
        let entry = Arc::new(ParsedMetadata::from_json(&to_json(&metadata).unwrap()).unwrap());
        let cache = MetadataCache::with_capacity(10_000);
        // Versions of a busy table, each used once by the commit after it, fill the cache.
        for version in 0..100 {
            let location = format!("file:///w/t/metadata/{version:05}.metadata.json");
            cache.insert(location.clone(), entry.clone(), 1_000);
            cache.0.run_pending_tasks();
            assert!(
                cache.get(&location).is_some(),
                "version {version} was turned away"
            );
        }
        assert!(cache
            .get("file:///w/t/metadata/00000.metadata.json")
            .is_none());
    }
}
