#![allow(clippy::unwrap_used)] // a test: a failed setup fails loudly
//! Table and view locations never overlap, and purges delete only their own table's files,
//! later, through durable tasks: on both stores with a real local warehouse.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{create, metadata, Harness};
use frazil_catalog::{CatalogError, PageRequest, PurgeOutcome, TableChange, TableIdent};
use iceberg::TableUpdate;
use sqlx::Connection;

fn bad_request<T: std::fmt::Debug>(result: frazil_catalog::Result<T>) -> String {
    match result {
        Err(CatalogError::BadRequest(message)) => message,
        other => panic!("expected 400, got {other:?}"),
    }
}

/// The table's directory (its metadata's `location`).
async fn location_of(h: &Harness, ident: &TableIdent) -> String {
    let loaded = h.catalog.load_table(&h.env, ident).await.unwrap();
    metadata(&loaded.metadata).location().to_string()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn at(name: &str, location: &str) -> frazil_catalog::CreateTable {
    frazil_catalog::CreateTable {
        location: Some(location.to_string()),
        ..create(name)
    }
}

/// Runs SQL on the harness's database, as a row from before this version would have been.
async fn execute(h: &Harness, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&h.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn objects_cannot_take_the_root_or_overlap_another() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let ns = h.namespace("lkc-1").await;
        let t1 = h.table(&ns, "t1").await;
        let t2 = h.table(&ns, "t2").await;
        let t1_location = location_of(&h, &t1).await;
        let root = env.storage.location.trim_end_matches('/').to_string();
        let parent = t1_location.rsplit_once('/').unwrap().0.to_string();
        let before = files_below(&h.path_of(&root));

        let cases = [
            ("root", root.clone()),
            ("root-slash", format!("{root}/")),
            ("same", t1_location.clone()),
            ("same-escaped", t1_location.replace("/t1-", "/%741-")),
            ("inside", format!("{t1_location}/sub")),
            ("containing", parent.clone()),
        ];
        for (name, location) in &cases {
            let message = bad_request(c.create_table(env, &ns, at(name, location)).await);
            if *name != "root" && *name != "root-slash" {
                assert!(message.contains(&t1_location), "{name}: {message}");
            }
            let staged = frazil_catalog::CreateTable {
                stage_create: true,
                ..at(name, location)
            };
            bad_request(c.create_table(env, &ns, staged).await);
            let view = frazil_catalog::CreateView {
                name: format!("v-{name}"),
                location: Some(location.clone()),
                schema: common::schema(),
                version: view_version(),
                properties: HashMap::new(),
            };
            bad_request(c.create_view(env, &ns, view).await);
        }

        // Register: metadata files whose location is the root, or another table's directory.
        let t2_meta = c.load_table(env, &t2).await.unwrap().metadata;
        for (name, location) in [("reg-root", &root), ("reg-same", &t1_location)] {
            let mut doc: serde_json::Value = serde_json::from_str(&t2_meta).unwrap();
            doc["location"] = serde_json::Value::String(location.clone());
            let file = format!("{root}/elsewhere/{name}.metadata.json");
            let path = h.path_of(&file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, doc.to_string()).unwrap();
            bad_request(c.register_table(env, &ns, name, &file, false).await);
            std::fs::remove_file(&path).unwrap();
        }

        // Moves: a set-location onto t1's directory, alone and in a transaction.
        let t2_pointer = c.load_table(env, &t2).await.unwrap().metadata_location;
        let onto_t1 = |inside: bool| TableChange {
            ident: t2.clone(),
            requirements: vec![],
            updates: vec![TableUpdate::SetLocation {
                location: if inside {
                    format!("{t1_location}/data")
                } else {
                    t1_location.clone()
                },
            }],
        };
        bad_request(c.commit_table(env, onto_t1(false)).await);
        bad_request(c.commit_transaction(env, vec![onto_t1(true)]).await);
        assert_eq!(
            c.load_table(env, &t2).await.unwrap().metadata_location,
            t2_pointer,
            "{}",
            h.store_name
        );
        // A move to a directory of its own is fine.
        let fresh = format!("{root}/lkc-1/t2-moved");
        let moved = TableChange {
            updates: vec![TableUpdate::SetLocation {
                location: fresh.clone(),
            }],
            ..onto_t1(false)
        };
        c.commit_table(env, moved).await.unwrap();
        assert_eq!(location_of(&h, &t2).await, fresh);

        let tables = c
            .list_tables(env, &ns, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(
            tables.items,
            vec![t1.clone(), t2.clone()],
            "{}",
            h.store_name
        );
        let views = c
            .list_views(env, &ns, &PageRequest::default())
            .await
            .unwrap();
        assert!(views.items.is_empty());
        let after: Vec<PathBuf> = files_below(&h.path_of(&root))
            .into_iter()
            .filter(|f| !f.starts_with(h.path_of(&fresh)))
            .filter(|f| !f.starts_with(h.path_of(&format!("{root}/elsewhere"))))
            .collect();
        assert_eq!(after, before, "{}: no file written", h.store_name);
        h.close().await;
    }
}

fn view_version() -> iceberg::spec::ViewVersion {
    serde_json::from_value(serde_json::json!({
        "version-id": 1, "schema-id": 0, "timestamp-ms": 1, "summary": {},
        "representations": [{"type": "sql", "sql": "select 1", "dialect": "spark"}],
        "default-namespace": ["lkc-1"]
    }))
    .unwrap()
}

#[tokio::test]
async fn concurrent_nested_creates_do_not_both_land() {
    for h in Harness::both().await {
        let ns = h.namespace("race").await;
        let root = h.env.storage.location.trim_end_matches('/').to_string();
        let replica = h.replica();
        for i in 0..10 {
            let outer = format!("{root}/race/r{i}");
            let inner = format!("{outer}/inner");
            let (a, b) = tokio::join!(
                h.catalog
                    .create_table(&h.env, &ns, at(&format!("a{i}"), &outer)),
                replica.create_table(&h.env, &ns, at(&format!("b{i}"), &inner)),
            );
            assert!(
                a.is_ok() != b.is_ok(),
                "{} round {i}: exactly one lands: {:?} / {:?}",
                h.store_name,
                a.map(|_| ()),
                b.map(|_| ())
            );
        }
        h.close().await;
    }
}

#[tokio::test]
async fn purge_runs_later_and_never_follows_links() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let ns = h.namespace("lkc-1").await;
        let t = h.table(&ns, "t").await;
        let dir = h.path_of(&location_of(&h, &t).await);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("other-tenant.parquet"), b"keep").unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/part-0.parquet"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.join("data/escape")).unwrap();

        c.drop_table(env, &t, true).await.unwrap();
        assert!(dir.exists(), "the drop leaves the deletion to the worker");
        // A new table cannot move into files that are waiting to be purged.
        let inside = format!("{}/again", url::Url::from_file_path(&dir).unwrap());
        let message = bad_request(c.create_table(env, &ns, at("again", &inside)).await);
        assert!(message.contains("purged"), "{message}");

        // Another replica (or this one after a restart) finds the task in the store.
        let replica = h.replica();
        let outcome = replica.purge_next().await.unwrap();
        assert!(
            matches!(outcome, Some(PurgeOutcome::Purged { .. })),
            "{outcome:?}"
        );
        assert!(!dir.exists(), "{}", h.store_name);
        assert_eq!(
            std::fs::read(outside.path().join("other-tenant.parquet")).unwrap(),
            b"keep",
            "{}: the link's target is untouched",
            h.store_name
        );
        assert_eq!(replica.purge_next().await.unwrap(), None);
        h.close().await;
    }
}

#[tokio::test]
async fn a_failing_purge_is_retried() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let ns = h.namespace("lkc-1").await;
        let t = h.table(&ns, "t").await;
        let dir = h.path_of(&location_of(&h, &t).await);
        c.drop_table(env, &t, true).await.unwrap();

        // The table's location is a plain file for now: the deletion fails.
        let aside = dir.with_extension("aside");
        std::fs::rename(&dir, &aside).unwrap();
        std::fs::write(&dir, b"not a directory").unwrap();
        let failed = c.purge_next().await.unwrap();
        assert!(
            matches!(&failed, Some(PurgeOutcome::Failed { retry_in, .. }) if *retry_in == Duration::from_secs(1)),
            "{failed:?}"
        );
        assert_eq!(c.purge_next().await.unwrap(), None, "not due again yet");

        std::fs::remove_file(&dir).unwrap();
        std::fs::rename(&aside, &dir).unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let retried = c.purge_next().await.unwrap();
        assert!(
            matches!(retried, Some(PurgeOutcome::Purged { .. })),
            "{}: {retried:?}",
            h.store_name
        );
        assert!(!dir.exists());
        h.close().await;
    }
}

#[tokio::test]
async fn purge_refuses_a_tree_holding_another_live_table() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let ns = h.namespace("lkc-1").await;
        let outer = h.table(&ns, "outer").await;
        let inner = h.table(&ns, "inner").await;
        let outer_location = location_of(&h, &outer).await;
        let inner_dir = h.path_of(&location_of(&h, &inner).await);
        // A nesting the catalog allowed before locations were checked.
        execute(
            &h,
            &format!(
                "UPDATE catalog_objects SET location = '{outer_location}/nested' WHERE name = 'inner'"
            ),
        )
        .await;
        let message = bad_request(c.drop_table(env, &outer, true).await);
        assert!(message.contains("Refusing to purge"), "{message}");
        c.load_table(env, &outer).await.unwrap();

        // And at deletion time: a task whose tree now holds a live table is abandoned.
        execute(
            &h,
            "UPDATE catalog_objects SET location = NULL WHERE name = 'inner'",
        )
        .await;
        c.drop_table(env, &outer, true).await.unwrap();
        execute(
            &h,
            &format!(
                "UPDATE catalog_objects SET location = '{outer_location}/nested' WHERE name = 'inner'"
            ),
        )
        .await;
        let outcome = c.purge_next().await.unwrap();
        assert!(
            matches!(outcome, Some(PurgeOutcome::Abandoned { .. })),
            "{}: {outcome:?}",
            h.store_name
        );
        assert!(h.path_of(&outer_location).exists());
        assert!(inner_dir.exists());
        h.close().await;
    }
}

#[tokio::test]
async fn rows_from_before_the_location_column_are_filled_at_start() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let ns = h.namespace("lkc-1").await;
        let old = h.table(&ns, "old").await;
        let old_location = location_of(&h, &old).await;
        execute(&h, "UPDATE catalog_objects SET location = NULL").await;

        let restarted = frazil_catalog::store::SqlStore::connect(&h.url, 2)
            .await
            .unwrap();
        restarted.migrate().await.unwrap();
        restarted.close().await;

        let message = bad_request(c.create_table(env, &ns, at("copy", &old_location)).await);
        assert!(
            message.contains(&old_location),
            "{}: {message}",
            h.store_name
        );
        h.close().await;
    }
}
