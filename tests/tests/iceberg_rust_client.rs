//! The real `frazil` binary driven by iceberg-rust's REST client (`iceberg-catalog-rest`), and by
//! raw HTTP where the client has no call for it.
//!
//! Every scenario runs four times: {SQLite, Postgres} x {Tableflow URI, warehouse URI}, each
//! against its own freshly started server. Build the binary first: `cargo build --bin frazil`.
//!
//! The client logs in as the materializer does: a writer API key of `default/default` (created
//! through the admin API) as the `credential` property, exchanged at `{uri}/v1/oauth/tokens`.
//! Raw HTTP calls send a bearer token of the same key.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, ensure, Context};
use async_trait::async_trait;
use frazil_tests::{
    bearer_client, request_token, send, Layout, Role, Server, Store, ENV, ORG, WAREHOUSE,
};
use futures::{StreamExt, TryStreamExt};
use iceberg::io::LocalFsStorageFactory;
use iceberg::spec::{
    FormatVersion, NestedField, NullOrder, PrimitiveType, Schema, SortDirection, Transform, Type,
};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, CatalogBuilder, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation,
    TableIdent,
};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------
// the test matrix

/// One server per test; the client and raw HTTP through the given URI layout.
struct Ctx {
    catalog: RestCatalog,
    http: reqwest::Client,
    layout: Layout,
    // Last: stopped after the clients are gone.
    server: Server,
}

impl Ctx {
    async fn start(store: Store, layout: Layout) -> Ctx {
        let server = Server::start(store).await;
        match Self::connect(&server, layout).await {
            Ok((catalog, http)) => Ctx {
                catalog,
                http,
                layout,
                server,
            },
            Err(e) => panic!(
                "connecting to frazil ({store}, {layout:?}) failed: {e:#}\n--- frazil log ---\n{}",
                server.log_text()
            ),
        }
    }

    /// A writer key of the default environment; the client with it as `credential`, and a raw
    /// HTTP client with a token of it from the layout's token endpoint.
    async fn connect(
        server: &Server,
        layout: Layout,
    ) -> anyhow::Result<(RestCatalog, reqwest::Client)> {
        let writer = server
            .admin()
            .await?
            .create_api_key(ORG, ENV, Role::Writer)
            .await?;
        let mut props = HashMap::from([
            ("uri".to_string(), server.catalog_uri(layout)),
            ("credential".to_string(), writer.property()),
        ]);
        if layout == Layout::Warehouse {
            props.insert("warehouse".to_string(), WAREHOUSE.to_string());
        }
        let catalog = RestCatalogBuilder::default()
            .with_storage_factory(Arc::new(LocalFsStorageFactory))
            .load("frazil", props)
            .await
            .context("the REST catalog client accepts its configuration")?;
        let token =
            request_token(&reqwest::Client::new(), &server.token_url(layout), &writer).await?;
        Ok((catalog, bearer_client(&token)?))
    }

    /// `{uri}/v1` or `{uri}/v1/{org}/{env}`: where the client sends catalog requests.
    fn api(&self) -> String {
        self.server.api_prefix(self.layout)
    }
}

/// Generates, for each scenario `name(&Ctx) -> anyhow::Result<()>`, a module `name` with one
/// test per store and URI layout.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_tableflow() -> anyhow::Result<()> {
                super::$name(&Ctx::start(Store::Sqlite, Layout::Tableflow).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_warehouse() -> anyhow::Result<()> {
                super::$name(&Ctx::start(Store::Sqlite, Layout::Warehouse).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_tableflow() -> anyhow::Result<()> {
                super::$name(&Ctx::start(Store::Postgres, Layout::Tableflow).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_warehouse() -> anyhow::Result<()> {
                super::$name(&Ctx::start(Store::Postgres, Layout::Warehouse).await).await
            }
        }
    )*};
}

scenarios!(
    namespaces,
    drop_non_empty_namespace_fails,
    tables,
    property_commit,
    schema_sort_order_and_format_version,
    transactions_from_one_loaded_table_rebase,
    conflicting_commit,
    rename_tables,
    drop_and_register,
    paged_table_listing,
);

// ------------------------------------------------------------------------------------------
// helpers

fn ns(levels: &[&str]) -> NamespaceIdent {
    NamespaceIdent::from_strs(levels).expect("a valid namespace")
}

fn ident(namespace: &NamespaceIdent, name: &str) -> TableIdent {
    TableIdent::new(namespace.clone(), name.to_string())
}

fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `id long required, name string optional` (field ids 1 and 2).
fn schema() -> Schema {
    Schema::builder()
        .with_schema_id(0)
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "name", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .expect("a valid schema")
}

fn creation(name: &str, properties: &[(&str, &str)]) -> TableCreation {
    TableCreation::builder()
        .name(name.to_string())
        .schema(schema())
        .properties(props(properties))
        .build()
}

fn metadata_location(table: &Table) -> anyhow::Result<String> {
    Ok(table
        .metadata_location()
        .ok_or_else(|| anyhow!("table {} has no metadata location", table.identifier()))?
        .to_string())
}

/// The last path segment of a location.
fn file_name(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

/// Checks `{seq:05}-{uuidv7}.metadata.json`.
fn assert_metadata_file_name(location: &str, seq: u32) -> anyhow::Result<()> {
    let name = file_name(location);
    let prefix = format!("{seq:05}-");
    let id = name
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(".metadata.json"))
        .ok_or_else(|| anyhow!("metadata file {name:?} is not {prefix}<uuid>.metadata.json"))?;
    let id = uuid::Uuid::parse_str(id).with_context(|| format!("metadata file {name:?}"))?;
    ensure!(
        id.get_version_num() == 7,
        "metadata file {name:?}: expected a UUIDv7"
    );
    Ok(())
}

/// The local path of a `file://` location inside the server's warehouse.
fn local_path(ctx: &Ctx, location: &str) -> anyhow::Result<PathBuf> {
    let url = reqwest::Url::parse(location).with_context(|| format!("location {location:?}"))?;
    ensure!(
        url.scheme() == "file",
        "expected a file:// location, got {location}"
    );
    let path = url
        .to_file_path()
        .map_err(|()| anyhow!("not a local path: {location}"))?;
    ensure!(
        path.starts_with(ctx.server.warehouse_dir()),
        "{} is outside the warehouse {}",
        path.display(),
        ctx.server.warehouse_dir().display()
    );
    Ok(path)
}

/// Names of the `*.metadata.json` files in a directory, sorted.
fn metadata_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".metadata.json") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn expect_error<T: std::fmt::Debug>(
    result: iceberg::Result<T>,
    kind: ErrorKind,
    what: &str,
) -> anyhow::Result<iceberg::Error> {
    match result {
        Ok(value) => Err(anyhow!("{what}: expected {kind:?}, got Ok({value:?})")),
        Err(e) if e.kind() == kind => Ok(e),
        Err(e) => Err(anyhow!("{what}: expected {kind:?}, got {e}")),
    }
}

/// The namespace path segment: levels joined by 0x1F, percent-encoded.
fn ns_segment(namespace: &NamespaceIdent) -> String {
    namespace.as_ref().join("%1F")
}

// ------------------------------------------------------------------------------------------
// namespaces

async fn namespaces(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-abc123"]);
    let other = ns(&["lkc-xyz789"]);
    let child = ns(&["lkc-abc123", "staging"]);

    assert_eq!(c.list_namespaces(None).await?, vec![]);

    let created = c
        .create_namespace(&cluster, props(&[("owner", "team-a"), ("retention", "7d")]))
        .await?;
    assert_eq!(created.name(), &cluster);
    assert_eq!(
        created.properties(),
        &props(&[("owner", "team-a"), ("retention", "7d")])
    );
    c.create_namespace(&other, HashMap::new()).await?;
    c.create_namespace(&child, props(&[("stage", "yes")]))
        .await?;

    expect_error(
        c.create_namespace(&cluster, HashMap::new()).await,
        ErrorKind::NamespaceAlreadyExists,
        "creating an existing namespace",
    )?;
    // Under a missing parent: 404 NoSuchNamespaceException (the client has no kind for a 404
    // of this call, so it arrives as Unexpected with the server's body).
    let err = expect_error(
        c.create_namespace(&ns(&["lkc-missing", "child"]), HashMap::new())
            .await,
        ErrorKind::Unexpected,
        "creating a namespace under a missing parent",
    )?;
    let text = err.to_string();
    assert!(text.contains("404"), "expected HTTP 404, got {text}");
    assert!(text.contains("NoSuchNamespaceException"), "{text}");
    assert!(!c.namespace_exists(&ns(&["lkc-missing"])).await?);

    // Top-level listing: the two clusters, not the child.
    assert_eq!(
        sorted(c.list_namespaces(None).await?),
        vec![cluster.clone(), other.clone()]
    );
    // Listing below a parent: its children only.
    assert_eq!(
        c.list_namespaces(Some(&cluster)).await?,
        vec![child.clone()]
    );
    assert_eq!(c.list_namespaces(Some(&other)).await?, vec![]);
    expect_error(
        c.list_namespaces(Some(&ns(&["lkc-missing"]))).await,
        ErrorKind::NamespaceNotFound,
        "listing below a missing parent",
    )?;

    let loaded = c.get_namespace(&cluster).await?;
    assert_eq!(
        loaded.properties(),
        &props(&[("owner", "team-a"), ("retention", "7d")])
    );
    assert_eq!(
        c.get_namespace(&child).await?.properties(),
        &props(&[("stage", "yes")])
    );
    assert!(c.namespace_exists(&cluster).await?);
    assert!(c.namespace_exists(&child).await?);
    assert!(!c.namespace_exists(&ns(&["lkc-missing"])).await?);
    expect_error(
        c.get_namespace(&ns(&["lkc-missing"])).await,
        ErrorKind::NamespaceNotFound,
        "loading a missing namespace",
    )?;

    // Properties: iceberg-rust 0.10.1 has no client call for it (update_namespace answers
    // FeatureUnsupported), so over raw HTTP as the spec defines it.
    let (status, body) = send(
        ctx.http
            .post(format!(
                "{}/namespaces/{}/properties",
                ctx.api(),
                ns_segment(&cluster)
            ))
            .json(&json!({
                "removals": ["retention", "never-set"],
                "updates": {"owner": "team-b", "tier": "gold"}
            })),
    )
    .await?;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let strings = |v: &Value| -> Vec<String> {
        sorted(
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    assert_eq!(strings(&body["updated"]), vec!["owner", "tier"], "{body}");
    assert_eq!(strings(&body["removed"]), vec!["retention"], "{body}");
    assert_eq!(strings(&body["missing"]), vec!["never-set"], "{body}");
    assert_eq!(
        c.get_namespace(&cluster).await?.properties(),
        &props(&[("owner", "team-b"), ("tier", "gold")])
    );

    // A key both set and removed is 422 and changes nothing.
    let (status, body) = send(
        ctx.http
            .post(format!(
                "{}/namespaces/{}/properties",
                ctx.api(),
                ns_segment(&cluster)
            ))
            .json(&json!({"removals": ["owner"], "updates": {"owner": "team-c"}})),
    )
    .await?;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], json!(422), "{body}");
    assert_eq!(
        c.get_namespace(&cluster).await?.properties(),
        &props(&[("owner", "team-b"), ("tier", "gold")])
    );

    // Drop: child first, then the parent; dropping again is NamespaceNotFound.
    c.drop_namespace(&child).await?;
    assert!(!c.namespace_exists(&child).await?);
    assert_eq!(c.list_namespaces(Some(&cluster)).await?, vec![]);
    c.drop_namespace(&cluster).await?;
    assert!(!c.namespace_exists(&cluster).await?);
    expect_error(
        c.drop_namespace(&cluster).await,
        ErrorKind::NamespaceNotFound,
        "dropping a dropped namespace",
    )?;
    expect_error(
        c.get_namespace(&cluster).await,
        ErrorKind::NamespaceNotFound,
        "loading a dropped namespace",
    )?;
    assert_eq!(c.list_namespaces(None).await?, vec![other.clone()]);

    // The name is free again.
    let again = c.create_namespace(&cluster, HashMap::new()).await?;
    assert_eq!(again.properties(), &HashMap::new());
    assert_eq!(
        c.get_namespace(&cluster).await?.properties(),
        &HashMap::new()
    );
    Ok(())
}

async fn drop_non_empty_namespace_fails(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-full"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    c.create_table(&cluster, creation("orders", &[])).await?;

    let err = expect_error(
        c.drop_namespace(&cluster).await,
        ErrorKind::Unexpected,
        "dropping a namespace that holds a table",
    )?;
    let text = err.to_string();
    assert!(text.contains("409"), "expected HTTP 409, got {text}");
    assert!(
        text.contains("NamespaceNotEmptyException"),
        "expected NamespaceNotEmptyException, got {text}"
    );
    // Nothing changed.
    assert!(c.namespace_exists(&cluster).await?);
    assert!(c.table_exists(&ident(&cluster, "orders")).await?);
    assert_eq!(
        c.list_tables(&cluster).await?,
        vec![ident(&cluster, "orders")]
    );

    // A namespace with a child namespace is not empty either.
    let parent = ns(&["lkc-parent"]);
    c.create_namespace(&parent, HashMap::new()).await?;
    c.create_namespace(&ns(&["lkc-parent", "child"]), HashMap::new())
        .await?;
    let err = expect_error(
        c.drop_namespace(&parent).await,
        ErrorKind::Unexpected,
        "dropping a namespace that holds a namespace",
    )?;
    assert!(
        err.to_string().contains("NamespaceNotEmptyException"),
        "{err}"
    );
    assert!(c.namespace_exists(&parent).await?);

    // Once empty, it drops.
    c.drop_table(&ident(&cluster, "orders")).await?;
    c.drop_namespace(&cluster).await?;
    assert!(!c.namespace_exists(&cluster).await?);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// tables

async fn tables(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-tables"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    assert_eq!(c.list_tables(&cluster).await?, vec![]);

    // Topic names keep their dots and dashes.
    let orders = ident(&cluster, "shop.orders-v1");
    let created = c
        .create_table(
            &cluster,
            creation("shop.orders-v1", &[("kafka.topic", "shop.orders-v1")]),
        )
        .await?;
    assert_eq!(created.identifier(), &orders);
    let location = metadata_location(&created)?;
    assert_metadata_file_name(&location, 0)?;
    let path = local_path(ctx, &location)?;
    assert!(path.is_file(), "{} was not written", path.display());
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    assert_eq!(
        on_disk["table-uuid"],
        json!(created.metadata().uuid().to_string())
    );

    let meta = created.metadata();
    assert_eq!(meta.format_version(), FormatVersion::V2);
    assert_eq!(
        meta.properties().get("kafka.topic").map(String::as_str),
        Some("shop.orders-v1")
    );
    assert_eq!(meta.current_schema().as_struct(), schema().as_struct());
    assert_eq!(meta.last_column_id(), 2);
    assert_eq!(meta.current_snapshot(), None);
    // The table lives in the environment's warehouse, its metadata file below its location.
    let table_dir = local_path(ctx, meta.location())?;
    assert!(
        path.starts_with(&table_dir),
        "{} is not below the table location {}",
        path.display(),
        table_dir.display()
    );

    let loaded = c.load_table(&orders).await?;
    assert_eq!(loaded.identifier(), &orders);
    assert_eq!(metadata_location(&loaded)?, location);
    assert_eq!(loaded.metadata().uuid(), meta.uuid());
    assert_eq!(loaded.metadata().location(), meta.location());
    assert_eq!(
        loaded.metadata().current_schema().as_struct(),
        schema().as_struct()
    );
    assert_eq!(loaded.metadata().properties(), meta.properties());

    let payments = ident(&cluster, "payments");
    let second = c.create_table(&cluster, creation("payments", &[])).await?;
    assert_ne!(second.metadata().uuid(), meta.uuid());
    assert_ne!(second.metadata().location(), meta.location());

    assert!(c.table_exists(&orders).await?);
    assert!(c.table_exists(&payments).await?);
    assert!(!c.table_exists(&ident(&cluster, "missing")).await?);
    assert!(
        !c.table_exists(&ident(&ns(&["lkc-missing"]), "orders"))
            .await?
    );
    assert_eq!(
        sorted(c.list_tables(&cluster).await?),
        sorted(vec![orders.clone(), payments.clone()])
    );

    expect_error(
        c.create_table(&cluster, creation("payments", &[])).await,
        ErrorKind::TableAlreadyExists,
        "creating an existing table",
    )?;
    expect_error(
        c.create_table(&ns(&["lkc-missing"]), creation("t", &[]))
            .await,
        ErrorKind::NamespaceNotFound,
        "creating a table in a missing namespace",
    )?;
    expect_error(
        c.load_table(&ident(&cluster, "missing")).await,
        ErrorKind::TableNotFound,
        "loading a missing table",
    )?;
    expect_error(
        c.list_tables(&ns(&["lkc-missing"])).await,
        ErrorKind::NamespaceNotFound,
        "listing tables of a missing namespace",
    )?;
    // The failed create left the original table alone.
    assert_eq!(
        metadata_location(&c.load_table(&payments).await?)?,
        metadata_location(&second)?
    );
    Ok(())
}

async fn property_commit(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-commit"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    let orders = ident(&cluster, "orders");
    let table = c
        .create_table(
            &cluster,
            creation("orders", &[("keep", "me"), ("drop", "me")]),
        )
        .await?;
    let first_location = metadata_location(&table)?;

    let tx = Transaction::new(&table);
    let tx = tx
        .update_table_properties()
        .set("frazil.owner".to_string(), "materializer".to_string())
        .set("keep".to_string(), "changed".to_string())
        .remove("drop".to_string())
        .apply(tx)?;
    let committed = tx.commit(c).await?;

    let second_location = metadata_location(&committed)?;
    assert_ne!(second_location, first_location);
    assert_metadata_file_name(&second_location, 1)?;
    assert!(local_path(ctx, &second_location)?.is_file());
    // The previous file is kept and logged.
    assert!(local_path(ctx, &first_location)?.is_file());
    let expected_props = props(&[("frazil.owner", "materializer"), ("keep", "changed")]);
    let user_props = |t: &Table| -> HashMap<String, String> {
        t.metadata()
            .properties()
            .iter()
            .filter(|(k, _)| ["frazil.owner", "keep", "drop"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(user_props(&committed), expected_props);

    let reloaded = c.load_table(&orders).await?;
    assert_eq!(metadata_location(&reloaded)?, second_location);
    assert_eq!(user_props(&reloaded), expected_props);
    assert_eq!(reloaded.metadata().uuid(), table.metadata().uuid());
    let log: Vec<&str> = reloaded
        .metadata()
        .metadata_log()
        .iter()
        .map(|entry| entry.metadata_file.as_str())
        .collect();
    assert_eq!(log, vec![first_location.as_str()]);

    // What the server wrote is what it serves.
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(local_path(ctx, &second_location)?)?)?;
    assert_eq!(on_disk["properties"]["frazil.owner"], json!("materializer"));
    assert_eq!(on_disk["properties"]["keep"], json!("changed"));
    assert_eq!(on_disk["properties"].get("drop"), None);

    // The next commit is 00002-, from the reloaded table.
    let tx = Transaction::new(&reloaded);
    let tx = tx
        .update_table_properties()
        .set("keep".to_string(), "again".to_string())
        .apply(tx)?;
    let third = tx.commit(c).await?;
    let third_location = metadata_location(&third)?;
    assert_metadata_file_name(&third_location, 2)?;
    let reloaded = c.load_table(&orders).await?;
    assert_eq!(metadata_location(&reloaded)?, third_location);
    assert_eq!(
        reloaded
            .metadata()
            .properties()
            .get("keep")
            .map(String::as_str),
        Some("again")
    );
    let metadata_dir = local_path(ctx, &third_location)?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("no parent"))?;
    let files = metadata_files(&metadata_dir)?;
    assert_eq!(
        files,
        vec![
            file_name(&first_location).to_string(),
            file_name(&second_location).to_string(),
            file_name(&third_location).to_string(),
        ]
    );
    Ok(())
}

async fn schema_sort_order_and_format_version(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-evolve"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    let orders = ident(&cluster, "orders");
    let table = c.create_table(&cluster, creation("orders", &[])).await?;
    assert_eq!(table.metadata().default_sort_order_id(), 0);

    // A new column. (Schema change and sort order go in separate transactions: iceberg-rust
    // 0.10.1 computes the sort-order action's assert-current-schema-id against the schema the
    // same transaction adds, and a server checks every requirement against the base metadata,
    // so the combination is always a 409.)
    let tx = Transaction::new(&table);
    let tx = tx
        .update_schema()
        .add_column(AddColumn::optional(
            "note",
            Type::Primitive(PrimitiveType::String),
        ))
        .apply(tx)?;
    let committed = tx.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&committed)?, 1)?;
    assert_eq!(committed.metadata().current_schema_id(), 1);

    // A sort order on the evolved table.
    let tx = Transaction::new(&committed);
    let tx = tx
        .replace_sort_order()
        .asc("id", NullOrder::First)
        .desc("name", NullOrder::Last)
        .apply(tx)?;
    let committed = tx.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&committed)?, 2)?;

    let reloaded = c.load_table(&orders).await?;
    assert_eq!(
        metadata_location(&reloaded)?,
        metadata_location(&committed)?
    );
    let meta = reloaded.metadata();
    assert_eq!(meta.current_schema_id(), 1);
    assert_eq!(meta.schemas_iter().len(), 2);
    assert_eq!(meta.last_column_id(), 3);
    let note = meta
        .current_schema()
        .field_by_name("note")
        .ok_or_else(|| anyhow!("column note missing after the commit"))?;
    assert_eq!(note.id, 3);
    assert!(!note.required);
    assert_eq!(*note.field_type, Type::Primitive(PrimitiveType::String));

    let order = meta.default_sort_order();
    assert_eq!(order.order_id, 1);
    assert_eq!(order.fields.len(), 2);
    assert_eq!(order.fields[0].source_id, 1);
    assert_eq!(order.fields[0].transform, Transform::Identity);
    assert_eq!(order.fields[0].direction, SortDirection::Ascending);
    assert_eq!(order.fields[0].null_order, NullOrder::First);
    assert_eq!(order.fields[1].source_id, 2);
    assert_eq!(order.fields[1].direction, SortDirection::Descending);
    assert_eq!(order.fields[1].null_order, NullOrder::Last);

    // Format version upgrade, v2 -> v3.
    let tx = Transaction::new(&reloaded);
    let tx = tx
        .upgrade_table_version()
        .set_format_version(FormatVersion::V3)
        .apply(tx)?;
    let upgraded = tx.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&upgraded)?, 3)?;
    let reloaded = c.load_table(&orders).await?;
    assert_eq!(reloaded.metadata().format_version(), FormatVersion::V3);
    // Everything else survived.
    assert_eq!(reloaded.metadata().current_schema_id(), 1);
    assert_eq!(reloaded.metadata().default_sort_order_id(), 1);
    assert_eq!(reloaded.metadata().uuid(), table.metadata().uuid());
    let on_disk: Value = serde_json::from_slice(&std::fs::read(local_path(
        ctx,
        &metadata_location(&reloaded)?,
    )?)?)?;
    assert_eq!(on_disk["format-version"], json!(3));
    Ok(())
}

// ------------------------------------------------------------------------------------------
// concurrent commits

/// iceberg-rust's `Transaction::commit` reloads the table and re-applies its actions before it
/// sends the commit, so two transactions built from one loaded table both land when they do not
/// conflict.
async fn transactions_from_one_loaded_table_rebase(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-rebase"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    let orders = ident(&cluster, "orders");
    let table = c.create_table(&cluster, creation("orders", &[])).await?;

    let tx1 = Transaction::new(&table);
    let tx1 = tx1
        .update_table_properties()
        .set("a".to_string(), "1".to_string())
        .apply(tx1)?;
    let tx2 = Transaction::new(&table);
    let tx2 = tx2
        .update_table_properties()
        .set("b".to_string(), "2".to_string())
        .apply(tx2)?;
    let after1 = tx1.commit(c).await?;
    let after2 = tx2.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&after1)?, 1)?;
    assert_metadata_file_name(&metadata_location(&after2)?, 2)?;

    let reloaded = c.load_table(&orders).await?;
    assert_eq!(metadata_location(&reloaded)?, metadata_location(&after2)?);
    let p = reloaded.metadata().properties();
    assert_eq!(p.get("a").map(String::as_str), Some("1"));
    assert_eq!(p.get("b").map(String::as_str), Some("2"));
    assert_eq!(
        reloaded
            .metadata()
            .metadata_log()
            .iter()
            .map(|l| l.metadata_file.clone())
            .collect::<Vec<_>>(),
        vec![metadata_location(&table)?, metadata_location(&after1)?]
    );
    Ok(())
}

/// A catalog whose `load_table` answers with the table as it was first loaded: a writer that
/// has not seen another writer's commit. `Transaction::commit` refreshes through `load_table`,
/// so through this view it commits against the stale metadata, as a writer racing another one
/// between its refresh and its commit does.
#[derive(Debug)]
struct StaleView<'a> {
    inner: &'a RestCatalog,
    stale: Table,
}

#[async_trait]
impl Catalog for StaleView<'_> {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        if table == self.stale.identifier() {
            Ok(self.stale.clone())
        } else {
            self.inner.load_table(table).await
        }
    }
    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await
    }
}

async fn conflicting_commit(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-conflict"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    let orders = ident(&cluster, "orders");
    // No client-side retries: the conflict surfaces at once.
    let table = c
        .create_table(
            &cluster,
            creation("orders", &[("commit.retry.num-retries", "0")]),
        )
        .await?;
    let base_location = metadata_location(&table)?;

    // Two transactions from the same loaded table, each replacing the sort order (the action
    // requires default-sort-order-id 0 and current-schema-id 0).
    let tx1 = Transaction::new(&table);
    let tx1 = tx1
        .replace_sort_order()
        .asc("id", NullOrder::First)
        .apply(tx1)?;
    let tx2 = Transaction::new(&table);
    let tx2 = tx2
        .replace_sort_order()
        .desc("name", NullOrder::Last)
        .apply(tx2)?;

    let winner = tx1.commit(c).await?;
    let winner_location = metadata_location(&winner)?;
    assert_metadata_file_name(&winner_location, 1)?;

    let stale = StaleView {
        inner: c,
        stale: table.clone(),
    };
    let err = expect_error(
        tx2.commit(&stale).await,
        ErrorKind::CatalogCommitConflicts,
        "committing against stale metadata",
    )?;
    assert!(err.retryable(), "a commit conflict is retryable: {err}");

    // The loser changed nothing and left no file behind.
    let reloaded = c.load_table(&orders).await?;
    assert_eq!(metadata_location(&reloaded)?, winner_location);
    let order = reloaded.metadata().default_sort_order();
    assert_eq!(order.order_id, 1);
    assert_eq!(order.fields.len(), 1);
    assert_eq!(order.fields[0].source_id, 1);
    assert_eq!(order.fields[0].direction, SortDirection::Ascending);
    let metadata_dir = local_path(ctx, &winner_location)?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("no parent"))?;
    assert_eq!(
        metadata_files(&metadata_dir)?,
        vec![
            file_name(&base_location).to_string(),
            file_name(&winner_location).to_string()
        ]
    );

    // The same stale requirement over raw HTTP: 409 CommitFailedException in the Iceberg error
    // body, and still nothing changes.
    let (status, body) = send(
        ctx.http
            .post(format!(
                "{}/namespaces/{}/tables/orders",
                ctx.api(),
                ns_segment(&cluster)
            ))
            .json(&json!({
                "requirements": [
                    {"type": "assert-table-uuid", "uuid": table.metadata().uuid().to_string()},
                    {"type": "assert-default-sort-order-id", "default-sort-order-id": 0}
                ],
                "updates": [
                    {"action": "set-properties", "updates": {"lost": "update"}}
                ]
            })),
    )
    .await?;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["error"]["type"],
        json!("CommitFailedException"),
        "{body}"
    );
    assert_eq!(body["error"]["code"], json!(409), "{body}");
    let reloaded = c.load_table(&orders).await?;
    assert_eq!(metadata_location(&reloaded)?, winner_location);
    assert_eq!(reloaded.metadata().properties().get("lost"), None);
    assert_eq!(metadata_files(&metadata_dir)?.len(), 2);

    // Rebased on the current metadata (a fresh Transaction::commit reloads), the change lands.
    let tx3 = Transaction::new(&table);
    let tx3 = tx3
        .replace_sort_order()
        .desc("name", NullOrder::Last)
        .apply(tx3)?;
    let after = tx3.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&after)?, 2)?;
    let order = c
        .load_table(&orders)
        .await?
        .metadata()
        .default_sort_order()
        .clone();
    assert_eq!(order.order_id, 2);
    assert_eq!(order.fields[0].source_id, 2);
    assert_eq!(order.fields[0].direction, SortDirection::Descending);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// rename, drop, register

async fn rename_tables(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let source_ns = ns(&["lkc-source"]);
    let target_ns = ns(&["lkc-target"]);
    c.create_namespace(&source_ns, HashMap::new()).await?;
    c.create_namespace(&target_ns, HashMap::new()).await?;
    let table = c
        .create_table(&source_ns, creation("orders", &[("k", "v")]))
        .await?;
    let location = metadata_location(&table)?;
    c.create_table(&source_ns, creation("taken", &[])).await?;

    // Within a namespace.
    let from = ident(&source_ns, "orders");
    let renamed = ident(&source_ns, "orders_v2");
    c.rename_table(&from, &renamed).await?;
    assert!(!c.table_exists(&from).await?);
    assert!(c.table_exists(&renamed).await?);
    expect_error(
        c.load_table(&from).await,
        ErrorKind::TableNotFound,
        "loading the old name",
    )?;
    let loaded = c.load_table(&renamed).await?;
    assert_eq!(loaded.identifier(), &renamed);
    assert_eq!(loaded.metadata().uuid(), table.metadata().uuid());
    assert_eq!(metadata_location(&loaded)?, location);
    assert_eq!(
        loaded.metadata().properties().get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(
        sorted(c.list_tables(&source_ns).await?),
        vec![renamed.clone(), ident(&source_ns, "taken")]
    );

    // Onto an existing name: refused, nothing moves.
    expect_error(
        c.rename_table(&renamed, &ident(&source_ns, "taken")).await,
        ErrorKind::TableAlreadyExists,
        "renaming onto an existing table",
    )?;
    assert!(c.table_exists(&renamed).await?);
    // A missing source.
    expect_error(
        c.rename_table(&ident(&source_ns, "missing"), &ident(&source_ns, "x"))
            .await,
        ErrorKind::TableNotFound,
        "renaming a missing table",
    )?;
    // Into a missing namespace: 404, nothing moves.
    expect_error(
        c.rename_table(&renamed, &ident(&ns(&["lkc-missing"]), "orders"))
            .await,
        ErrorKind::TableNotFound,
        "renaming into a missing namespace",
    )?;
    assert!(c.table_exists(&renamed).await?);

    // Across namespaces.
    let moved = ident(&target_ns, "orders");
    c.rename_table(&renamed, &moved).await?;
    assert!(!c.table_exists(&renamed).await?);
    assert_eq!(
        c.list_tables(&source_ns).await?,
        vec![ident(&source_ns, "taken")]
    );
    assert_eq!(c.list_tables(&target_ns).await?, vec![moved.clone()]);
    let loaded = c.load_table(&moved).await?;
    assert_eq!(loaded.metadata().uuid(), table.metadata().uuid());
    assert_eq!(metadata_location(&loaded)?, location);

    // The moved table takes commits under its new name.
    let tx = Transaction::new(&loaded);
    let tx = tx
        .update_table_properties()
        .set("moved".to_string(), "yes".to_string())
        .apply(tx)?;
    let committed = tx.commit(c).await?;
    assert_metadata_file_name(&metadata_location(&committed)?, 1)?;
    assert_eq!(
        c.load_table(&moved)
            .await?
            .metadata()
            .properties()
            .get("moved")
            .map(String::as_str),
        Some("yes")
    );
    // The source namespace can go once its last table is gone; the moved table is unaffected.
    c.drop_table(&ident(&source_ns, "taken")).await?;
    c.drop_namespace(&source_ns).await?;
    assert!(c.table_exists(&moved).await?);
    Ok(())
}

async fn drop_and_register(ctx: &Ctx) -> anyhow::Result<()> {
    let c = &ctx.catalog;
    let cluster = ns(&["lkc-register"]);
    let archive = ns(&["lkc-archive"]);
    c.create_namespace(&cluster, HashMap::new()).await?;
    c.create_namespace(&archive, HashMap::new()).await?;
    let orders = ident(&cluster, "orders");
    let table = c.create_table(&cluster, creation("orders", &[])).await?;
    let tx = Transaction::new(&table);
    let tx = tx
        .update_table_properties()
        .set("state".to_string(), "committed".to_string())
        .apply(tx)?;
    let committed = tx.commit(c).await?;
    let location = metadata_location(&committed)?;
    assert_metadata_file_name(&location, 1)?;

    // Drop without purge: gone from the catalog, files kept.
    c.drop_table(&orders).await?;
    assert!(!c.table_exists(&orders).await?);
    assert_eq!(c.list_tables(&cluster).await?, vec![]);
    expect_error(
        c.load_table(&orders).await,
        ErrorKind::TableNotFound,
        "loading a dropped table",
    )?;
    expect_error(
        c.drop_table(&orders).await,
        ErrorKind::TableNotFound,
        "dropping a dropped table",
    )?;
    assert!(local_path(ctx, &location)?.is_file());
    assert!(local_path(ctx, &metadata_location(&table)?)?.is_file());

    // Register the kept metadata file under another name.
    let restored = ident(&archive, "orders_restored");
    let registered = c.register_table(&restored, location.clone()).await?;
    assert_eq!(registered.identifier(), &restored);
    assert_eq!(metadata_location(&registered)?, location);
    assert_eq!(registered.metadata().uuid(), table.metadata().uuid());
    assert_eq!(
        registered
            .metadata()
            .properties()
            .get("state")
            .map(String::as_str),
        Some("committed")
    );
    let loaded = c.load_table(&restored).await?;
    assert_eq!(metadata_location(&loaded)?, location);
    assert_eq!(c.list_tables(&archive).await?, vec![restored.clone()]);

    expect_error(
        c.register_table(&restored, location.clone()).await,
        ErrorKind::TableAlreadyExists,
        "registering onto an existing table",
    )?;
    expect_error(
        c.register_table(&ident(&ns(&["lkc-missing"]), "t"), location.clone())
            .await,
        ErrorKind::NamespaceNotFound,
        "registering into a missing namespace",
    )?;

    // The registered table continues the sequence: 00002-.
    let tx = Transaction::new(&loaded);
    let tx = tx
        .update_table_properties()
        .set("state".to_string(), "restored".to_string())
        .apply(tx)?;
    let next = tx.commit(c).await?;
    let next_location = metadata_location(&next)?;
    assert_metadata_file_name(&next_location, 2)?;
    let reloaded = c.load_table(&restored).await?;
    assert_eq!(metadata_location(&reloaded)?, next_location);
    assert_eq!(
        reloaded
            .metadata()
            .properties()
            .get("state")
            .map(String::as_str),
        Some("restored")
    );

    // Purge: gone from the catalog and its files deleted.
    let table_dir = local_path(ctx, reloaded.metadata().location())?;
    assert!(table_dir.is_dir());
    c.purge_table(&restored).await?;
    assert!(!c.table_exists(&restored).await?);
    // The server's purge worker deletes the files shortly after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while table_dir.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !local_path(ctx, &next_location)?.exists(),
        "purge left {next_location}"
    );
    assert!(
        !local_path(ctx, &location)?.exists(),
        "purge left {location}"
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------
// raw HTTP: paged listing

async fn paged_table_listing(ctx: &Ctx) -> anyhow::Result<()> {
    const TABLES: usize = 2_500;
    let cluster = "lkc-pages";
    let api = ctx.api();
    let (status, body) = send(
        ctx.http
            .post(format!("{api}/namespaces"))
            .json(&json!({"namespace": [cluster]})),
    )
    .await?;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let names: Vec<String> = (0..TABLES)
        .map(|i| format!("topic.orders-{i:04}"))
        .collect();
    let tables_url = format!("{api}/namespaces/{cluster}/tables");
    futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let request = ctx.http.post(&tables_url).json(&json!({
                "name": name,
                "schema": {
                    "type": "struct",
                    "schema-id": 0,
                    "fields": [{"id": 1, "name": "id", "required": true, "type": "long"}]
                }
            }));
            async move {
                let (status, body) = send(request).await?;
                ensure!(
                    status == reqwest::StatusCode::OK,
                    "creating {name}: HTTP {status} {body}"
                );
                ensure!(
                    body["metadata-location"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(".metadata.json")),
                    "creating {name}: no metadata-location in {body}"
                );
                Ok(())
            }
        })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;

    // Paged: pageToken= (empty) starts paging; follow next-page-token until null.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut page_sizes = Vec::new();
    let mut token = String::new();
    loop {
        let (status, body) = send(
            ctx.http
                .get(&tables_url)
                .query(&[("pageToken", token.as_str()), ("pageSize", "100")]),
        )
        .await?;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        let identifiers = body["identifiers"]
            .as_array()
            .ok_or_else(|| anyhow!("no identifiers in {body}"))?;
        page_sizes.push(identifiers.len());
        for id in identifiers {
            assert_eq!(id["namespace"], json!([cluster]), "{id}");
            let name = id["name"]
                .as_str()
                .ok_or_else(|| anyhow!("no name in {id}"))?;
            *seen.entry(name.to_string()).or_default() += 1;
        }
        match &body["next-page-token"] {
            Value::Null => break,
            Value::String(next) => {
                ensure!(!next.is_empty(), "empty next-page-token in {body}");
                token = next.clone();
            }
            other => panic!("next-page-token is neither a string nor null: {other}"),
        }
        ensure!(page_sizes.len() <= TABLES, "paging does not end");
    }
    assert_eq!(page_sizes, vec![100; TABLES / 100]);
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        duplicates.is_empty(),
        "listed more than once: {duplicates:?}"
    );
    let expected: Vec<&String> = names.iter().collect();
    let listed: Vec<&String> = seen.keys().collect();
    assert_eq!(listed, expected);

    // Unpaged (no pageToken): everything in one answer.
    let (status, body) = send(ctx.http.get(&tables_url)).await?;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(
        body["identifiers"].as_array().map(Vec::len),
        Some(TABLES),
        "unpaged listing"
    );
    assert_eq!(
        body.get("next-page-token").unwrap_or(&Value::Null),
        &Value::Null
    );

    // The client's own listing follows the same pages.
    let listed = ctx.catalog.list_tables(&ns(&[cluster])).await?;
    assert_eq!(listed.len(), TABLES);
    Ok(())
}
