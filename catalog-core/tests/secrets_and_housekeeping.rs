#![allow(clippy::unwrap_used)] // a failed setup fails the test loudly
//! Secrets the store keeps are sealed with the master key, and the outbox of change events does
//! not grow without bound: on both stores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use frazil_catalog::store::{MetadataStore, SigningKeyRecord, SqlStore};
use frazil_catalog::{Catalog, MasterKey};

fn signing_key(kid: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_string(),
        private_key: "MC4CAQAwBQYDK2VwBCIEIPrivateKeyMaterialForTheTest".to_string(),
        public_key: "public".to_string(),
        created_at_ms: 1,
    }
}

#[tokio::test]
async fn signing_keys_are_stored_sealed_and_read_back_in_clear() {
    for h in Harness::both().await {
        let store = SqlStore::connect(&h.url, 2).await.unwrap();
        let (master_key, _) = MasterKey::generate();
        let catalog = Catalog::new(Arc::new(store.clone())).with_master_key(master_key.clone());

        let key = signing_key("k1");
        catalog.add_signing_key(&key).await.unwrap();
        let stored = store.signing_keys(false).await.unwrap();
        assert_eq!(stored.len(), 1, "{}", h.store_name);
        assert!(
            stored[0].private_key.starts_with("sealed:v1:"),
            "{stored:?}"
        );
        assert!(!stored[0].private_key.contains(&key.private_key));
        assert_eq!(catalog.signing_keys().await.unwrap(), vec![key.clone()]);

        // A key stored in clear text by an earlier version is sealed at start-up.
        let legacy = SigningKeyRecord {
            created_at_ms: 2,
            ..signing_key("k0")
        };
        store.insert_signing_key(&legacy).await.unwrap();
        assert_eq!(catalog.seal_signing_keys().await.unwrap(), 1);
        assert_eq!(catalog.seal_signing_keys().await.unwrap(), 0);
        let stored = store.signing_keys(true).await.unwrap();
        assert!(stored
            .iter()
            .all(|k| k.private_key.starts_with("sealed:v1:")));
        assert_eq!(catalog.signing_keys().await.unwrap(), vec![legacy, key]);

        // Another master key opens nothing: start-up stops instead of serving.
        let (other, _) = MasterKey::generate();
        let wrong = Catalog::new(Arc::new(store.clone())).with_master_key(other);
        let error = wrong.seal_signing_keys().await.unwrap_err().to_string();
        assert!(error.contains("master key"), "{error}");
        assert!(wrong.signing_keys().await.is_err());
        // Without a master key nothing is stored in clear text.
        let none = Catalog::new(Arc::new(store.clone()));
        assert!(none.add_signing_key(&signing_key("k2")).await.is_err());
        store.close().await;
        h.close().await;
    }
}

#[tokio::test]
async fn old_change_events_are_pruned_and_recent_ones_kept() {
    for h in Harness::both().await {
        let cluster = h.namespace("lkc-1").await;
        let first = h.table(&cluster, "old").await;
        h.catalog.drop_table(&h.env, &first, false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let midpoint = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = h.table(&cluster, "recent").await;
        h.catalog.drop_table(&h.env, &second, false).await.unwrap();

        // Older than the midpoint: the first table's events only.
        let old = h
            .catalog
            .prune_change_events(midpoint.elapsed())
            .await
            .unwrap();
        assert!(old >= 1, "{}: {old}", h.store_name);
        assert_eq!(
            h.catalog
                .prune_change_events(midpoint.elapsed())
                .await
                .unwrap(),
            0
        );
        let recent = h.catalog.prune_change_events(Duration::ZERO).await.unwrap();
        assert!(
            recent >= 1,
            "{}: the recent events were kept until now",
            h.store_name
        );
        h.close().await;
    }
}
