#![allow(clippy::unwrap_used)] // a test: a failed setup fails loudly
//! Replicas over one store: each keeps its own caches and commit locks, so only the store's
//! compare-and-swap orders their commits. A replica must never commit against, or report
//! requirements from, a version of a table that another replica has replaced.

mod common;

use std::time::{Duration, Instant};

use common::{metadata, Harness};
use frazil_catalog::{CatalogError, TableChange, TableIdent};
use iceberg::{TableRequirement, TableUpdate};
use serde_json::json;
use sqlx::Connection;

fn append(snapshot_id: i64, parent: Option<i64>, sequence: i64) -> Vec<TableUpdate> {
    serde_json::from_value(json!([
        {"action": "add-snapshot", "snapshot": {
            "snapshot-id": snapshot_id,
            "parent-snapshot-id": parent,
            "sequence-number": sequence,
            "timestamp-ms": chrono::Utc::now().timestamp_millis(),
            "manifest-list": format!("file:///nowhere/snap-{snapshot_id}.avro"),
            "summary": {"operation": "append"},
            "schema-id": 0}},
        {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": snapshot_id}
    ]))
    .unwrap()
}

fn main_is(snapshot_id: Option<i64>) -> TableRequirement {
    TableRequirement::RefSnapshotIdMatch {
        r#ref: "main".into(),
        snapshot_id,
    }
}

fn change(
    ident: &TableIdent,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> TableChange {
    TableChange {
        ident: ident.clone(),
        requirements,
        updates,
    }
}

fn conflict_message(result: frazil_catalog::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(CatalogError::CommitFailed(message)) => message,
        other => panic!("expected 409 CommitFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_replica_commits_against_the_version_another_replica_wrote() {
    for h in Harness::both().await {
        let (a, env) = (&h.catalog, &h.env);
        let b = h.replica();
        let topic = h.table(&h.namespace("lkc-1").await, "orders").await;

        // Both replicas commit once, so both have the table's metadata cached.
        a.commit_table(env, change(&topic, vec![main_is(None)], append(1, None, 1)))
            .await
            .unwrap();
        b.commit_table(
            env,
            change(&topic, vec![main_is(Some(1))], append(2, Some(1), 2)),
        )
        .await
        .unwrap();
        // `a` still holds the version it wrote; the table has moved on.
        let stale = a
            .commit_table(
                env,
                change(&topic, vec![main_is(Some(1))], append(3, Some(1), 2)),
            )
            .await;
        assert_eq!(
            conflict_message(stale),
            "Requirement failed: branch main has changed: expected id 1 != 2",
            "{}",
            h.store_name
        );
        a.commit_table(
            env,
            change(&topic, vec![main_is(Some(2))], append(3, Some(2), 3)),
        )
        .await
        .unwrap();

        // A tag made on one replica is named as a tag by the other.
        let tag: Vec<TableUpdate> = serde_json::from_value(json!([
            {"action": "set-snapshot-ref", "ref-name": "audit", "type": "tag", "snapshot-id": 1}
        ]))
        .unwrap();
        b.commit_table(env, change(&topic, vec![], tag))
            .await
            .unwrap();
        let audit_is_new = TableRequirement::RefSnapshotIdMatch {
            r#ref: "audit".into(),
            snapshot_id: None,
        };
        let message = conflict_message(
            a.commit_table(env, change(&topic, vec![audit_is_new], vec![]))
                .await,
        );
        assert_eq!(
            message, "Requirement failed: tag audit was created concurrently",
            "{}",
            h.store_name
        );

        // Every acknowledged commit is in the table, in order, whichever replica loads it.
        for replica in [a, &b] {
            let m = metadata(&replica.load_table(env, &topic).await.unwrap().metadata);
            assert_eq!(m.snapshot_for_ref("main").unwrap().snapshot_id(), 3);
            let log: Vec<i64> = m.history().iter().map(|l| l.snapshot_id).collect();
            assert_eq!(log, vec![1, 2, 3], "{}", h.store_name);
            assert_eq!(m.metadata_log().len(), 4, "{}", h.store_name);
        }
        h.close().await;
    }
}

#[tokio::test]
async fn writers_on_two_replicas_lose_no_commit() {
    for h in Harness::both().await {
        let env = &h.env;
        let replicas = [h.replica(), h.replica()];
        let topic = h.table(&h.namespace("lkc-1").await, "clicks").await;
        // Each writer retries on 409 from a fresh load, as clients do.
        let writers = (0..8i64).map(|w| {
            let catalog = &replicas[(w % 2) as usize];
            let topic = topic.clone();
            async move {
                let mut acked = Vec::new();
                for i in 0..5i64 {
                    let id = 1 + w * 100 + i;
                    loop {
                        let m = metadata(&catalog.load_table(env, &topic).await.unwrap().metadata);
                        let parent = m.snapshot_for_ref("main").map(|s| s.snapshot_id());
                        let sequence = m.last_sequence_number() + 1;
                        let commit =
                            change(&topic, vec![main_is(parent)], append(id, parent, sequence));
                        match catalog.commit_table(env, commit).await {
                            Ok(_) => break,
                            Err(CatalogError::CommitFailed(_)) => continue,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    acked.push(id);
                }
                acked
            }
        });
        let acked: Vec<i64> = futures::future::join_all(writers)
            .await
            .into_iter()
            .flatten()
            .collect();
        let m = metadata(&h.catalog.load_table(env, &topic).await.unwrap().metadata);
        let mut log: Vec<i64> = m.history().iter().map(|l| l.snapshot_id).collect();
        assert_eq!(
            log.len(),
            40,
            "{}: one snapshot per acknowledged commit",
            h.store_name
        );
        log.sort_unstable();
        let mut expected = acked;
        expected.sort_unstable();
        assert_eq!(log, expected, "{}", h.store_name);
        h.close().await;
    }
}

/// Polls `f` until it returns true, for at most `limit`; returns how long that took.
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if f().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test]
async fn loads_on_the_committing_replica_see_the_commit_at_once() {
    for h in Harness::both().await {
        let (a, env) = (&h.catalog, &h.env);
        let topic = h.table(&h.namespace("lkc-1").await, "orders").await;
        // Cached by the first load...
        let before = a.table_metadata_location(env, &topic).await.unwrap();
        assert_eq!(
            a.table_metadata_location(env, &topic).await.unwrap(),
            before
        );
        // ...and replaced by the commit before it is acknowledged.
        let committed = a
            .commit_table(env, change(&topic, vec![main_is(None)], append(1, None, 1)))
            .await
            .unwrap();
        let after = a.table_metadata_location(env, &topic).await.unwrap();
        assert_ne!(after, before, "{}", h.store_name);
        assert_eq!(Some(after), committed.metadata_location, "{}", h.store_name);

        // Renamed and dropped tables are gone from the cache at once too.
        let renamed = TableIdent::new(topic.namespace.clone(), "orders-v2").unwrap();
        a.rename_table(env, &topic, &renamed).await.unwrap();
        assert!(matches!(
            a.table_metadata_location(env, &topic).await,
            Err(CatalogError::NoSuchTable(_))
        ));
        a.table_metadata_location(env, &renamed).await.unwrap();
        a.drop_table(env, &renamed, false).await.unwrap();
        assert!(matches!(
            a.table_metadata_location(env, &renamed).await,
            Err(CatalogError::NoSuchTable(_))
        ));
        h.close().await;
    }
}

/// Two server processes over one Postgres: the second caches table pointers for a minute, yet
/// sees the first's commits and drops within moments, because it hears them (LISTEN/NOTIFY).
#[tokio::test]
async fn another_replica_hears_of_commits_and_drops_through_postgres() {
    let h = Harness::postgres().await;
    let (a, env) = (&h.catalog, &h.env);
    let (b, b_store) = h.remote_replica(Duration::from_secs(60)).await;
    let topic = h.table(&h.namespace("lkc-1").await, "orders").await;
    // b has to be listening before the first change it is to hear of.
    let listening = eventually(Duration::from_secs(10), || async {
        b.hears_table_changes()
    })
    .await;
    assert!(listening.is_some(), "replica b never started listening");
    let before = b.table_metadata_location(env, &topic).await.unwrap();

    let committed = a
        .commit_table(env, change(&topic, vec![main_is(None)], append(1, None, 1)))
        .await
        .unwrap()
        .metadata_location
        .unwrap();
    assert_ne!(committed, before);
    let seen = eventually(Duration::from_secs(2), || async {
        b.table_metadata_location(env, &topic).await.unwrap() == committed
    })
    .await;
    assert!(seen.is_some(), "replica b kept serving the old pointer");

    a.drop_table(env, &topic, false).await.unwrap();
    let gone = eventually(Duration::from_secs(2), || async {
        matches!(
            b.table_metadata_location(env, &topic).await,
            Err(CatalogError::NoSuchTable(_))
        )
    })
    .await;
    assert!(gone.is_some(), "replica b kept serving a dropped table");
    b_store.close().await;
    h.close().await;
}

/// A replica hears its own commits twice: at once, in-process, and again as the echo of its own
/// NOTIFY. The echo must not drop the pointer the commit has just moved, or the loads and
/// commits that follow every commit would all go to the database.
#[tokio::test]
async fn a_replica_keeps_serving_its_own_commit_after_the_echo_of_its_notify() {
    let h = Harness::postgres().await;
    let (a, env) = (&h.catalog, &h.env);
    let (b, b_store) = h.remote_replica(Duration::from_secs(60)).await;
    let topic = h.table(&h.namespace("lkc-1").await, "orders").await;
    let listening = eventually(Duration::from_secs(10), || async {
        a.hears_table_changes() && b.hears_table_changes()
    })
    .await;
    assert!(listening.is_some(), "a replica never started listening");
    a.table_metadata_location(env, &topic).await.unwrap();
    b.table_metadata_location(env, &topic).await.unwrap();

    let committed = b
        .commit_table(env, change(&topic, vec![main_is(None)], append(1, None, 1)))
        .await
        .unwrap()
        .metadata_location
        .unwrap();
    // Once replica a has heard the NOTIFY, it has reached b too (one NOTIFY goes to every
    // listener); a moment more for b to pass it on.
    let heard = eventually(Duration::from_secs(2), || async {
        a.table_metadata_location(env, &topic).await.unwrap() == committed
    })
    .await;
    assert!(heard.is_some(), "replica a never heard of b's commit");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Move the row behind every replica's back (no NOTIFY): b answers from memory.
    let mut db = sqlx::PgConnection::connect(&h.url).await.unwrap();
    sqlx::query("UPDATE catalog_objects SET metadata_location = 'file:///elsewhere.metadata.json'")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        b.table_metadata_location(env, &topic).await.unwrap(),
        committed,
        "replica b dropped its own commit's pointer when it heard its own NOTIFY"
    );
    db.close().await.unwrap();
    b_store.close().await;
    h.close().await;
}
