//! The catalog's behaviour on both metadata stores (SQLite file and Postgres database) with a
//! real local warehouse: namespaces, tables, commits, concurrency and transactions.

mod common;

use std::collections::HashMap;

use common::{create, metadata, ns, Harness};
use frazil_catalog::{CatalogError, PageRequest, TableChange, TableIdent};
use iceberg::{TableRequirement, TableUpdate};

fn set_property(key: &str, value: &str) -> TableUpdate {
    TableUpdate::SetProperties {
        updates: HashMap::from([(key.to_string(), value.to_string())]),
    }
}

#[tokio::test]
async fn namespaces_create_list_page_update_and_drop() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        for name in ["lkc-c", "lkc-a", "lkc-b"] {
            h.namespace(name).await;
        }
        let again = c
            .create_namespace(env, &ns(&["lkc-a"]), HashMap::new())
            .await;
        assert!(
            matches!(again, Err(CatalogError::NamespaceExists(_))),
            "{}: {again:?}",
            h.store_name
        );

        let orphan = c
            .create_namespace(env, &ns(&["missing", "child"]), HashMap::new())
            .await;
        assert!(
            matches!(orphan, Err(CatalogError::NoSuchNamespace(_))),
            "{}",
            h.store_name
        );
        c.create_namespace(env, &ns(&["lkc-a", "child"]), HashMap::new())
            .await
            .unwrap();

        let all = c
            .list_namespaces(env, None, &PageRequest::default())
            .await
            .unwrap();
        let names: Vec<String> = all.items.iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["lkc-a", "lkc-b", "lkc-c"], "{}", h.store_name);
        assert!(all.next_token.is_none());

        let first = PageRequest {
            token: Some(String::new()),
            size: Some(2),
        };
        let page1 = c.list_namespaces(env, None, &first).await.unwrap();
        assert_eq!(page1.items.len(), 2);
        let second = PageRequest {
            token: page1.next_token.clone(),
            size: Some(2),
        };
        let page2 = c.list_namespaces(env, None, &second).await.unwrap();
        assert_eq!(
            page2
                .items
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            ["lkc-c"]
        );
        assert!(page2.next_token.is_none(), "{}", h.store_name);

        let children = c
            .list_namespaces(env, Some(&ns(&["lkc-a"])), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(children.items, vec![ns(&["lkc-a", "child"])]);

        let lkc_b = ns(&["lkc-b"]);
        let updates = HashMap::from([("owner".to_string(), "team-x".to_string())]);
        let result = c
            .update_namespace_properties(env, &lkc_b, vec!["absent".into()], updates)
            .await
            .unwrap();
        assert_eq!(
            (result.updated, result.missing),
            (vec!["owner".to_string()], vec!["absent".to_string()])
        );
        let conflict = c
            .update_namespace_properties(
                env,
                &lkc_b,
                vec!["owner".into()],
                HashMap::from([("owner".into(), "y".into())]),
            )
            .await;
        assert!(matches!(conflict, Err(CatalogError::Unprocessable(_))));
        let props = c.load_namespace(env, &lkc_b).await.unwrap();
        assert_eq!(
            props.get("owner").map(String::as_str),
            Some("team-x"),
            "422 changed nothing"
        );

        let parent = c.drop_namespace(env, &ns(&["lkc-a"])).await;
        assert!(
            matches!(parent, Err(CatalogError::NamespaceNotEmpty(_))),
            "{}",
            h.store_name
        );
        c.drop_namespace(env, &ns(&["lkc-a", "child"]))
            .await
            .unwrap();
        c.drop_namespace(env, &ns(&["lkc-a"])).await.unwrap();
        let gone = c.drop_namespace(env, &ns(&["lkc-a"])).await;
        assert!(matches!(gone, Err(CatalogError::NoSuchNamespace(_))));
        h.close().await;
    }
}

#[tokio::test]
async fn tables_create_load_rename_drop_and_register() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let cluster = h.namespace("lkc-1").await;
        let other = h.namespace("lkc-2").await;
        let topic = h.table(&cluster, "orders.v1-eu").await;

        let duplicate = c.create_table(env, &cluster, create("orders.v1-eu")).await;
        assert!(
            matches!(duplicate, Err(CatalogError::TableExists(_))),
            "{}",
            h.store_name
        );
        let nowhere = c.create_table(env, &ns(&["nope"]), create("t")).await;
        assert!(matches!(nowhere, Err(CatalogError::NoSuchNamespace(_))));

        let loaded = c.load_table(env, &topic).await.unwrap();
        let location = loaded.metadata_location.clone().unwrap();
        assert!(
            location.contains("/lkc-1/orders.v1-eu-") && location.contains("/metadata/00000-"),
            "{location}"
        );
        assert!(h.path_of(&location).is_file(), "metadata file written");
        let on_disk = std::fs::read_to_string(h.path_of(&location)).unwrap();
        assert_eq!(metadata(&on_disk), metadata(&loaded.metadata));

        let moved = TableIdent::new(other.clone(), "orders-renamed").unwrap();
        c.rename_table(env, &topic, &moved).await.unwrap();
        assert!(matches!(
            c.load_table(env, &topic).await,
            Err(CatalogError::NoSuchTable(_))
        ));
        assert_eq!(
            c.load_table(env, &moved).await.unwrap().metadata_location,
            Some(location.clone())
        );
        let listed = c
            .list_tables(env, &other, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.items, vec![moved.clone()]);

        c.drop_table(env, &moved, false).await.unwrap();
        assert!(
            h.path_of(&location).is_file(),
            "a drop without purge keeps the files"
        );
        let registered = c
            .register_table(env, &cluster, "restored", &location, false)
            .await
            .unwrap();
        assert_eq!(registered.metadata_location, Some(location.clone()));
        let restored = TableIdent::new(cluster.clone(), "restored").unwrap();
        let outside = c
            .register_table(env, &cluster, "evil", "file:///etc/passwd", false)
            .await;
        assert!(
            matches!(outside, Err(CatalogError::BadRequest(_))),
            "{outside:?}"
        );

        c.drop_table(env, &restored, true).await.unwrap();
        // The drop leaves the deletion to the purge worker; here the test runs it.
        assert!(matches!(
            c.purge_next().await.unwrap(),
            Some(frazil_catalog::PurgeOutcome::Purged { .. })
        ));
        assert!(
            !h.path_of(&location).exists(),
            "a purge deletes the table's files"
        );
        assert!(!h
            .path_of(&location)
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .exists());
        h.close().await;
    }
}

#[tokio::test]
async fn commits_check_requirements_and_write_new_metadata_files() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let cluster = h.namespace("lkc-1").await;
        let topic = h.table(&cluster, "payments").await;
        let before = c.load_table(env, &topic).await.unwrap();
        let uuid = metadata(&before.metadata).uuid();

        let wrong = TableChange {
            ident: topic.clone(),
            requirements: vec![TableRequirement::UuidMatch {
                uuid: uuid::Uuid::nil(),
            }],
            updates: vec![set_property("a", "1")],
        };
        match c.commit_table(env, wrong).await {
            Err(CatalogError::CommitFailed(m)) => assert_eq!(
                m,
                format!(
                    "Requirement failed: UUID does not match: expected {} != {uuid}",
                    uuid::Uuid::nil()
                )
            ),
            other => panic!("{}: expected 409, got {other:?}", h.store_name),
        }
        let unchanged = c.load_table(env, &topic).await.unwrap();
        assert_eq!(unchanged.metadata_location, before.metadata_location);
        let metadata_dir = h
            .path_of(before.metadata_location.as_deref().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        assert_eq!(
            std::fs::read_dir(&metadata_dir).unwrap().count(),
            1,
            "a failed commit leaves no file"
        );

        let good = TableChange {
            ident: topic.clone(),
            requirements: vec![TableRequirement::UuidMatch { uuid }],
            updates: vec![set_property("a", "1")],
        };
        let after = c.commit_table(env, good.clone()).await.unwrap();
        let location = after.metadata_location.clone().unwrap();
        assert!(location.contains("/metadata/00001-"), "{location}");
        let committed = metadata(&after.metadata);
        assert_eq!(
            committed.properties().get("a").map(String::as_str),
            Some("1")
        );
        assert_eq!(
            committed.metadata_log()[0].metadata_file,
            before.metadata_location.clone().unwrap()
        );

        // A change that changes nothing writes nothing.
        let noop = TableChange {
            ident: topic.clone(),
            requirements: vec![TableRequirement::UuidMatch { uuid }],
            updates: vec![TableUpdate::SetCurrentSchema { schema_id: 0 }],
        };
        let same = c.commit_table(env, noop).await.unwrap();
        assert_eq!(same.metadata_location, Some(location));
        assert_eq!(std::fs::read_dir(&metadata_dir).unwrap().count(), 2);
        h.close().await;
    }
}

#[tokio::test]
async fn concurrent_commits_all_land_through_server_side_retry() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let cluster = h.namespace("lkc-1").await;
        let topic = h.table(&cluster, "clicks").await;
        let writers = 16;
        let commits = (0..writers).map(|i| {
            let change = TableChange {
                ident: topic.clone(),
                requirements: vec![],
                updates: vec![set_property(&format!("writer-{i}"), "done")],
            };
            c.commit_table(env, change)
        });
        let results = futures::future::join_all(commits).await;
        for r in &results {
            assert!(r.is_ok(), "{}: {r:?}", h.store_name);
        }
        let last = metadata(&c.load_table(env, &topic).await.unwrap().metadata);
        for i in 0..writers {
            assert_eq!(
                last.properties()
                    .get(&format!("writer-{i}"))
                    .map(String::as_str),
                Some("done"),
                "{}",
                h.store_name
            );
        }
        assert_eq!(
            last.metadata_log().len(),
            writers,
            "one metadata version per commit"
        );
        h.close().await;
    }
}

#[tokio::test]
async fn transactions_commit_all_tables_or_none() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let cluster = h.namespace("lkc-1").await;
        let a = h.table(&cluster, "a").await;
        let b = h.table(&cluster, "b").await;
        let before_a = c.load_table(env, &a).await.unwrap().metadata_location;
        let before_b = c.load_table(env, &b).await.unwrap().metadata_location;
        let change = |ident: &TableIdent, requirements| TableChange {
            ident: ident.clone(),
            requirements,
            updates: vec![set_property("batch", "1")],
        };
        let failing = vec![
            change(&a, vec![]),
            change(
                &b,
                vec![TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: 42,
                }],
            ),
        ];
        let result = c.commit_transaction(env, failing).await;
        assert!(
            matches!(result, Err(CatalogError::CommitFailed(_))),
            "{}: {result:?}",
            h.store_name
        );
        assert_eq!(
            c.load_table(env, &a).await.unwrap().metadata_location,
            before_a,
            "a is untouched"
        );
        assert_eq!(
            c.load_table(env, &b).await.unwrap().metadata_location,
            before_b
        );

        c.commit_transaction(env, vec![change(&a, vec![]), change(&b, vec![])])
            .await
            .unwrap();
        for t in [&a, &b] {
            let m = metadata(&c.load_table(env, t).await.unwrap().metadata);
            assert_eq!(
                m.properties().get("batch").map(String::as_str),
                Some("1"),
                "{}",
                h.store_name
            );
        }
        h.close().await;
    }
}

#[tokio::test]
async fn staged_create_is_completed_by_an_assert_create_commit() {
    for h in Harness::both().await {
        let (c, env) = (&h.catalog, &h.env);
        let cluster = h.namespace("lkc-1").await;
        let staged = c
            .create_table(
                env,
                &cluster,
                frazil_catalog::CreateTable {
                    stage_create: true,
                    ..create("ctas")
                },
            )
            .await
            .unwrap();
        assert!(staged.metadata_location.is_none());
        let ident = TableIdent::new(cluster.clone(), "ctas").unwrap();
        assert!(
            matches!(
                c.load_table(env, &ident).await,
                Err(CatalogError::NoSuchTable(_))
            ),
            "staging creates nothing"
        );

        let m = metadata(&staged.metadata);
        let updates = vec![
            TableUpdate::AssignUuid { uuid: m.uuid() },
            TableUpdate::UpgradeFormatVersion {
                format_version: m.format_version(),
            },
            TableUpdate::AddSchema {
                schema: (**m.current_schema()).clone(),
            },
            TableUpdate::SetCurrentSchema { schema_id: -1 },
            TableUpdate::SetLocation {
                location: m.location().to_string(),
            },
            set_property("created-by", "ctas"),
        ];
        let create_change = TableChange {
            ident: ident.clone(),
            requirements: vec![TableRequirement::NotExist],
            updates,
        };
        let created = c.commit_table(env, create_change.clone()).await.unwrap();
        let created_meta = metadata(&created.metadata);
        assert_eq!(created_meta.uuid(), m.uuid());
        assert_eq!(
            created_meta
                .properties()
                .get("created-by")
                .map(String::as_str),
            Some("ctas")
        );
        assert_eq!(
            c.load_table(env, &ident).await.unwrap().metadata_location,
            created.metadata_location
        );

        match c.commit_table(env, create_change).await {
            Err(CatalogError::CommitFailed(m)) => {
                assert_eq!(m, "Requirement failed: table already exists")
            }
            other => panic!("{}: {other:?}", h.store_name),
        }
        h.close().await;
    }
}
