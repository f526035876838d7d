#![allow(clippy::unwrap_used)] // a test: a failed setup fails loudly
//! SQLite has one writer at a time. A catalog change reads before it writes; if another
//! connection commits in between (an idempotency record, a purge task, a signing key), a
//! deferred transaction cannot upgrade and fails at once with SQLITE_BUSY — a 500 for the
//! client. Write transactions therefore take the write lock when they begin.

mod common;

use common::{create, Harness};
use frazil_catalog::store::{MetadataStore, SigningKeyRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_succeed_while_other_connections_write() {
    let h = Harness::sqlite().await;
    let ns = h.namespace("busy").await;
    let store = h.store.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = SigningKeyRecord {
                    kid: format!("k{n}"),
                    private_key: "x".into(),
                    public_key: "y".into(),
                    created_at_ms: n as i64,
                };
                store.insert_signing_key(&key).await.unwrap();
            }
            n
        })
    };
    for i in 0..150 {
        h.catalog
            .create_table(&h.env, &ns, create(&format!("t{i}")))
            .await
            .unwrap_or_else(|e| panic!("create table {i} failed beside another writer: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(
        written > 10,
        "the other writer committed only {written} rows"
    );
}
