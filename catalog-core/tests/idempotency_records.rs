#![allow(clippy::unwrap_used)] // tests: a failed step fails loudly
//! Idempotency-Key records on both stores: a claim is a lease that only its holder renews,
//! finishes or releases, and that a retry of the same request takes over once it ran out; a
//! finished record keeps a metadata answer as its file's location; the pruner deletes only what
//! expired. And the metadata a replay rebuilds its answer from is the metadata the answer carried.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ns, Harness};
use frazil_catalog::store::{
    IdempotencyClaim, IdempotentBody, IdempotentResponse, MetadataStore, ObjectKind,
};
use frazil_catalog::TableChange;
use iceberg::TableUpdate;

fn claim<'a>(key: &'a str, claim_id: &'a str) -> IdempotencyClaim<'a> {
    IdempotencyClaim {
        scope: "org/env",
        key,
        claim_id,
    }
}

#[tokio::test]
async fn claims_are_leases_that_only_their_holder_finishes() {
    for h in Harness::both().await {
        let (_, store) = h.remote_replica(Duration::ZERO).await;
        let name = h.store_name;
        let (a, b, c) = (claim("k1", "a"), claim("k1", "b"), claim("k1", "c"));
        assert!(store
            .claim_idempotency_key(&a, "fp", 1_000, 5_000)
            .await
            .unwrap());
        assert!(!store
            .claim_idempotency_key(&b, "fp", 1_100, 5_100)
            .await
            .unwrap());
        // held: no take-over while the lease runs, and renewing extends it
        assert!(!store
            .take_over_idempotency_key(&b, "fp", 4_000, 8_000)
            .await
            .unwrap());
        assert!(store.renew_idempotency_key(&a, 9_000).await.unwrap());
        assert!(!store
            .take_over_idempotency_key(&b, "fp", 8_000, 12_000)
            .await
            .unwrap());
        let record = store
            .idempotency_record("org/env", "k1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.lease_until_ms, record.response),
            (9_000, None),
            "{name}"
        );
        // the lease ran out (the holder died): another request cannot take it, the same can, once
        assert!(!store
            .take_over_idempotency_key(&b, "other", 9_500, 13_000)
            .await
            .unwrap());
        assert!(store
            .take_over_idempotency_key(&b, "fp", 9_500, 13_000)
            .await
            .unwrap());
        assert!(!store
            .take_over_idempotency_key(&c, "fp", 9_600, 13_100)
            .await
            .unwrap());
        // the old holder can neither renew, nor finish, nor release the new claim
        let answer = IdempotentResponse {
            status: 200,
            content_type: Some("application/json".into()),
            etag: Some("\"t1\"".into()),
            body: IdempotentBody::Metadata {
                location: "file:///w/t/metadata/00001-a.metadata.json".into(),
                shape: "table+as-written".into(),
            },
        };
        assert!(!store.renew_idempotency_key(&a, 20_000).await.unwrap());
        assert!(!store.finish_idempotency_key(&a, &answer).await.unwrap());
        store.release_idempotency_key(&a).await.unwrap();
        let record = store
            .idempotency_record("org/env", "k1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.created_at_ms, record.response),
            (9_500, None),
            "{name}"
        );
        // the holder finishes it: the record is the location, and is never taken over again
        assert!(store.finish_idempotency_key(&b, &answer).await.unwrap());
        let record = store
            .idempotency_record("org/env", "k1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.response.as_ref(), Some(&answer), "{name}");
        assert!(!store
            .take_over_idempotency_key(&c, "fp", 99_000, 103_000)
            .await
            .unwrap());
        assert!(!store.finish_idempotency_key(&b, &answer).await.unwrap());
        // a small answer keeps its body
        let stored = IdempotentResponse {
            body: IdempotentBody::Stored("{\"error\":{}}".into()),
            status: 404,
            ..answer.clone()
        };
        let d = claim("k2", "d");
        assert!(store
            .claim_idempotency_key(&d, "fp", 9_000, 30_000)
            .await
            .unwrap());
        assert!(store.finish_idempotency_key(&d, &stored).await.unwrap());
        let record = store
            .idempotency_record("org/env", "k2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.response, Some(stored), "{name}");
        // a released claim is gone: the key is free again
        let e = claim("k3", "e");
        assert!(store
            .claim_idempotency_key(&e, "fp", 9_000, 50_000)
            .await
            .unwrap());
        store.release_idempotency_key(&e).await.unwrap();
        assert!(store
            .idempotency_record("org/env", "k3")
            .await
            .unwrap()
            .is_none());
        store.close().await;
        h.close().await;
    }
}

#[tokio::test]
async fn pruning_deletes_expired_records_but_not_running_claims() {
    for h in Harness::both().await {
        let (_, store) = h.remote_replica(Duration::ZERO).await;
        let name = h.store_name;
        let done = IdempotentResponse {
            status: 204,
            content_type: None,
            etag: None,
            body: IdempotentBody::Stored(String::new()),
        };
        let (old, running, fresh) = (claim("old", "1"), claim("running", "2"), claim("new", "3"));
        assert!(store
            .claim_idempotency_key(&old, "fp", 1_000, 2_000)
            .await
            .unwrap());
        assert!(store.finish_idempotency_key(&old, &done).await.unwrap());
        assert!(store
            .claim_idempotency_key(&running, "fp", 1_000, 50_000)
            .await
            .unwrap());
        assert!(store
            .claim_idempotency_key(&fresh, "fp", 20_000, 21_000)
            .await
            .unwrap());
        assert!(store.finish_idempotency_key(&fresh, &done).await.unwrap());
        // older than the lifetime (created before 10,000), at 30,000
        assert_eq!(
            store.purge_idempotency_keys(10_000, 30_000).await.unwrap(),
            1,
            "{name}"
        );
        assert!(store
            .idempotency_record("org/env", "old")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .idempotency_record("org/env", "running")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .idempotency_record("org/env", "new")
            .await
            .unwrap()
            .is_some());
        // once its lease ran out unrenewed, the old claim goes too
        assert_eq!(
            store.purge_idempotency_keys(10_000, 60_000).await.unwrap(),
            1,
            "{name}"
        );
        assert!(store
            .idempotency_record("org/env", "running")
            .await
            .unwrap()
            .is_none());
        store.close().await;
        h.close().await;
    }
}

#[tokio::test]
async fn metadata_at_a_location_is_what_the_answers_carried() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let table = h.table(&h.namespace("replay").await, "t").await;
        let change = TableChange {
            ident: table.clone(),
            requirements: vec![],
            updates: vec![TableUpdate::SetProperties {
                updates: HashMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
            }],
        };
        let committed = c.commit_table(env, change).await.unwrap();
        let location = committed.metadata_location.clone().unwrap();
        // as written (a commit's file), and parsed and serialized again (a registered file)
        for as_written in [true, false] {
            let metadata = c
                .metadata_at(env, ObjectKind::Table, &location, as_written)
                .await
                .unwrap();
            assert_eq!(
                metadata, committed.metadata,
                "{} {as_written}",
                h.store_name
            );
        }
        // A live table's directory cannot be registered twice: register the dropped one's file.
        c.drop_table(env, &table, false).await.unwrap();
        let registered = c
            .register_table(env, &ns(&["replay"]), "again", &location, false)
            .await
            .unwrap();
        let metadata = c
            .metadata_at(env, ObjectKind::Table, &location, false)
            .await
            .unwrap();
        assert_eq!(metadata, registered.metadata, "{}", h.store_name);
        // only files of the environment's storage are read
        let outside = c
            .metadata_at(env, ObjectKind::Table, "file:///etc/passwd", true)
            .await;
        assert!(outside.is_err(), "{}", h.store_name);
        h.close().await;
    }
}
