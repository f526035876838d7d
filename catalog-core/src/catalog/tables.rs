//! Tables: create (and stage-create), load, list, drop (and purge), register, rename.

use std::collections::HashMap;

use bytes::Bytes;
use frazil_storage::{metadata_file_name, table_location, Location, Warehouse};
use iceberg::spec::{Schema, SortOrder, TableMetadata, UnboundPartitionSpec};
use uuid::Uuid;

use super::{into_page, page_bounds, Catalog};
use crate::commit::{metadata_for_new_table, NewTableMetadata};
use crate::model::{Environment, NamespaceIdent, Page, PageRequest, TableIdent};
use crate::store::{MetadataSwap, NamespaceRecord, ObjectKind, ObjectRecord, SwapOutcome};
use crate::{CatalogError, Result};

/// A createTable request.
#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: String,
    pub location: Option<String>,
    pub schema: Schema,
    pub partition_spec: Option<UnboundPartitionSpec>,
    pub sort_order: Option<SortOrder>,
    pub properties: HashMap<String, String>,
    /// Return the metadata without creating the table (a create transaction begins).
    pub stage_create: bool,
}

/// A table as clients load it: its metadata file location (none when only staged), the metadata
/// text as stored, and the settings clients need to reach its files.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    pub metadata_location: Option<String>,
    pub metadata: String,
    pub config: HashMap<String, String>,
}

impl Catalog {
    pub async fn list_tables(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        page: &PageRequest,
    ) -> Result<Page<TableIdent>> {
        self.list_objects(env, ns, ObjectKind::Table, page).await
    }

    /// One page of a namespace's tables or views, in name order.
    pub(crate) async fn list_objects(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        kind: ObjectKind,
        page: &PageRequest,
    ) -> Result<Page<TableIdent>> {
        let record = self.namespace_record(env, ns).await?;
        let (after, limit) = page_bounds(page)?;
        let names = self
            .store
            .list_objects(&record.uid, kind, after.as_deref(), limit.map(|l| l + 1))
            .await?;
        let page = into_page(names, limit, String::clone);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|name| TableIdent {
                    namespace: ns.clone(),
                    name,
                })
                .collect(),
            next_token: page.next_token,
        })
    }

    pub async fn create_table(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        request: CreateTable,
    ) -> Result<LoadedTable> {
        let ident = TableIdent::new(ns.clone(), request.name.clone())?;
        let namespace = self.namespace_record(env, ns).await?;
        self.ensure_name_free(&namespace, &ident).await?;
        let warehouse = self.warehouse(env)?;
        let uuid = Uuid::now_v7();
        let location = match &request.location {
            Some(requested) => inside_warehouse(&warehouse, requested)?,
            None => table_location(warehouse.root(), ns.levels(), &ident.name, uuid),
        };
        let new = NewTableMetadata {
            schema: request.schema,
            partition_spec: request.partition_spec,
            sort_order: request.sort_order,
            properties: request.properties,
        };
        let metadata = metadata_for_new_table(new, location.as_str(), uuid)?;
        let metadata_json = to_json(&metadata)?;
        if request.stage_create {
            return Ok(self.loaded(env, None, metadata_json));
        }
        let metadata_location =
            write_metadata(&warehouse, metadata.location(), &metadata_json, 0).await?;
        let record = ObjectRecord {
            uid: Uuid::now_v7().to_string(),
            namespace_uid: namespace.uid.clone(),
            name: ident.name.clone(),
            kind: ObjectKind::Table,
            metadata_location: metadata_location.to_string(),
            metadata: metadata_json,
            version: 0,
        };
        self.insert_table(env, &warehouse, &namespace, &ident, record)
            .await
    }

    /// Inserts a new table row; if the name was taken meanwhile, removes the file just written.
    pub(crate) async fn insert_table(
        &self,
        env: &Environment,
        warehouse: &Warehouse,
        namespace: &NamespaceRecord,
        ident: &TableIdent,
        record: ObjectRecord,
    ) -> Result<LoadedTable> {
        if self.store.insert_object(&env.uid, &record).await? {
            return Ok(self.loaded(env, Some(record.metadata_location), record.metadata));
        }
        if let Ok(file) = Location::parse(&record.metadata_location) {
            let _ = warehouse.delete_file(&file).await;
        }
        self.ensure_name_free(namespace, ident).await?;
        Err(CatalogError::TableExists(ident.clone()))
    }

    /// The table's current metadata file, in one small query: callers that cache responses by
    /// metadata location (it names immutable content) need nothing more on a hit.
    pub async fn table_metadata_location(
        &self,
        env: &Environment,
        ident: &TableIdent,
    ) -> Result<String> {
        match self
            .store
            .object_location(&env.uid, &ident.namespace, &ident.name)
            .await?
        {
            Some((ObjectKind::Table, location)) => Ok(location),
            _ => Err(CatalogError::NoSuchTable(ident.clone())),
        }
    }

    /// Served from the store, never from object storage.
    pub async fn load_table(&self, env: &Environment, ident: &TableIdent) -> Result<LoadedTable> {
        let (_, record) = self.table_record(env, ident).await?;
        Ok(self.loaded(env, Some(record.metadata_location), record.metadata))
    }

    pub async fn drop_table(
        &self,
        env: &Environment,
        ident: &TableIdent,
        purge: bool,
    ) -> Result<()> {
        let record = self.remove_table(env, ident).await?;
        if purge {
            let warehouse = self.warehouse(env)?;
            let metadata: TableMetadata = from_json(&record.metadata)?;
            // Only files inside the environment's storage are ever deleted.
            let location = inside_warehouse(&warehouse, metadata.location())?;
            let deleted = warehouse.delete_tree(&location).await?;
            tracing::info!(table = %ident, %location, deleted, "purged table files");
        }
        Ok(())
    }

    /// Removes a table from the catalog but keeps its files, and returns its final metadata:
    /// every commit acknowledged before is in it, and every commit after fails.
    pub async fn unregister_table(
        &self,
        env: &Environment,
        ident: &TableIdent,
    ) -> Result<LoadedTable> {
        let record = self.remove_table(env, ident).await?;
        Ok(self.loaded(env, Some(record.metadata_location), record.metadata))
    }

    /// Deletes the table's row as last read; a commit that lands in between makes it read again.
    async fn remove_table(&self, env: &Environment, ident: &TableIdent) -> Result<ObjectRecord> {
        loop {
            let (_, record) = self.table_record(env, ident).await?;
            if self
                .store
                .delete_object(&env.uid, &record.uid, &record.metadata_location)
                .await?
            {
                return Ok(record);
            }
        }
    }

    /// Adopts an existing metadata file as a table; with `overwrite` it replaces a table's pointer.
    pub async fn register_table(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        name: &str,
        metadata_location: &str,
        overwrite: bool,
    ) -> Result<LoadedTable> {
        let ident = TableIdent::new(ns.clone(), name)?;
        let namespace = self.namespace_record(env, ns).await?;
        let warehouse = self.warehouse(env)?;
        let file = inside_warehouse(&warehouse, metadata_location)?;
        let text = warehouse.read_file(&file).await?;
        let text = String::from_utf8(text.to_vec()).map_err(|_| {
            CatalogError::BadRequest(format!("Metadata file is not UTF-8 JSON: {file}"))
        })?;
        let metadata: TableMetadata = serde_json::from_str(&text).map_err(|e| {
            CatalogError::BadRequest(format!("Invalid table metadata in {file}: {e}"))
        })?;
        let metadata_json = to_json(&metadata)?;
        let version = version_of(file.as_str());
        match self.store.object(&namespace.uid, name).await? {
            Some(existing) if overwrite && existing.kind == ObjectKind::Table => {
                let swap = MetadataSwap {
                    uid: existing.uid,
                    env_uid: env.uid.clone(),
                    expected_location: existing.metadata_location,
                    new_location: file.to_string(),
                    metadata: metadata_json.clone(),
                    version,
                };
                match self.store.swap_metadata(&[swap]).await? {
                    SwapOutcome::Committed => {
                        Ok(self.loaded(env, Some(file.to_string()), metadata_json))
                    }
                    SwapOutcome::Conflict => Err(CatalogError::CommitFailed(format!(
                        "Table {ident} changed while it was being registered; retry"
                    ))),
                }
            }
            Some(existing) => Err(name_taken(existing.kind, &ident)),
            None => {
                let record = ObjectRecord {
                    uid: Uuid::now_v7().to_string(),
                    namespace_uid: namespace.uid.clone(),
                    name: name.to_string(),
                    kind: ObjectKind::Table,
                    metadata_location: file.to_string(),
                    metadata: metadata_json,
                    version,
                };
                if self.store.insert_object(&env.uid, &record).await? {
                    Ok(self.loaded(env, Some(record.metadata_location), record.metadata))
                } else {
                    self.ensure_name_free(&namespace, &ident).await?;
                    Err(CatalogError::TableExists(ident))
                }
            }
        }
    }

    pub async fn rename_table(
        &self,
        env: &Environment,
        from: &TableIdent,
        to: &TableIdent,
    ) -> Result<()> {
        let (_, record) = self.table_record(env, from).await?;
        self.rename_object(env, &record, from, to).await
    }

    /// Moves a table or view; a destination name already taken is 409, whatever holds it.
    pub(crate) async fn rename_object(
        &self,
        env: &Environment,
        record: &ObjectRecord,
        from: &TableIdent,
        to: &TableIdent,
    ) -> Result<()> {
        let destination = self.namespace_record(env, &to.namespace).await?;
        TableIdent::new(to.namespace.clone(), to.name.clone())?;
        if self
            .store
            .rename_object(&env.uid, &record.uid, &destination.uid, &to.name)
            .await?
        {
            return Ok(());
        }
        match self.store.object(&destination.uid, &to.name).await? {
            Some(existing) => Err(CatalogError::RenameTargetExists {
                from: from.clone(),
                to: to.clone(),
                kind: match existing.kind {
                    ObjectKind::Table => "Table",
                    ObjectKind::View => "View",
                },
            }),
            None => Err(match record.kind {
                ObjectKind::Table => CatalogError::NoSuchTable(from.clone()),
                ObjectKind::View => CatalogError::NoSuchView(from.clone()),
            }),
        }
    }

    /// The namespace and the table row, or NoSuchTable (a view of that name is not a table).
    pub(crate) async fn table_record(
        &self,
        env: &Environment,
        ident: &TableIdent,
    ) -> Result<(NamespaceRecord, ObjectRecord)> {
        let not_found = || CatalogError::NoSuchTable(ident.clone());
        let namespace = self
            .store
            .namespace(&env.uid, &ident.namespace)
            .await?
            .ok_or_else(not_found)?;
        match self.store.object(&namespace.uid, &ident.name).await? {
            Some(record) if record.kind == ObjectKind::Table => Ok((namespace, record)),
            _ => Err(not_found()),
        }
    }

    pub(crate) async fn ensure_name_free(
        &self,
        namespace: &NamespaceRecord,
        ident: &TableIdent,
    ) -> Result<()> {
        match self.store.object(&namespace.uid, &ident.name).await? {
            Some(existing) => Err(name_taken(existing.kind, ident)),
            None => Ok(()),
        }
    }

    pub(crate) fn loaded(
        &self,
        env: &Environment,
        metadata_location: Option<String>,
        metadata: String,
    ) -> LoadedTable {
        LoadedTable {
            metadata_location,
            metadata,
            config: env.storage.client_config().into_iter().collect(),
        }
    }
}

fn name_taken(kind: ObjectKind, ident: &TableIdent) -> CatalogError {
    match kind {
        ObjectKind::Table => CatalogError::TableExists(ident.clone()),
        ObjectKind::View => CatalogError::ViewExists(ident.clone()),
    }
}

/// Every location the catalog reads, writes or deletes must lie inside the environment's storage.
pub(crate) fn inside_warehouse(warehouse: &Warehouse, location: &str) -> Result<Location> {
    let parsed = Location::parse(location)?;
    if !parsed.is_within(warehouse.root()) {
        return Err(CatalogError::BadRequest(format!(
            "Location {location} is outside the environment's storage {}",
            warehouse.root()
        )));
    }
    Ok(parsed)
}

/// Writes `{table or view location}/metadata/{version:05}-{uuidv7}.metadata.json`, create-only.
pub(crate) async fn write_metadata(
    warehouse: &Warehouse,
    object_location: &str,
    metadata_json: &str,
    version: i64,
) -> Result<Location> {
    let table = inside_warehouse(warehouse, object_location)?;
    let version = u64::try_from(version).unwrap_or_default();
    let file = table.join("metadata").join(&metadata_file_name(version));
    warehouse
        .create_file(&file, Bytes::from(metadata_json.to_string()))
        .await?;
    Ok(file)
}

/// The sequence number a metadata file's name starts with (`00042-...`), else 0.
pub(crate) fn version_of(location: &str) -> i64 {
    let name = location.rsplit('/').next().unwrap_or_default();
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// The metadata as JSON, with its lists in a stable order: snapshots in commit order (readers
/// take the last as the newest), schemas, specs and sort orders by id. The builder keeps them in
/// hash maps, which would shuffle them on every write.
pub(crate) fn to_json(metadata: &TableMetadata) -> Result<String> {
    let fail = |e: serde_json::Error| {
        CatalogError::Internal(format!("cannot serialize table metadata: {e}"))
    };
    let mut value = serde_json::to_value(metadata).map_err(fail)?;
    sort_list(
        &mut value,
        "snapshots",
        &["sequence-number", "timestamp-ms", "snapshot-id"],
    );
    sort_list(&mut value, "schemas", &["schema-id"]);
    sort_list(&mut value, "partition-specs", &["spec-id"]);
    sort_list(&mut value, "sort-orders", &["order-id"]);
    serde_json::to_string(&value).map_err(fail)
}

fn sort_list(metadata: &mut serde_json::Value, list: &str, keys: &[&str]) {
    if let Some(items) = metadata.get_mut(list).and_then(|v| v.as_array_mut()) {
        items.sort_by_key(|item| {
            keys.iter()
                .map(|k| item[*k].as_i64().unwrap_or(i64::MIN))
                .collect::<Vec<_>>()
        });
    }
}

pub(crate) fn from_json(text: &str) -> Result<TableMetadata> {
    serde_json::from_str(text)
        .map_err(|e| CatalogError::Internal(format!("stored table metadata is unreadable: {e}")))
}
