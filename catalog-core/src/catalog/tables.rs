//! Tables: create (and stage-create), load, list, drop (and purge), register, rename.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use frazil_storage::{metadata_file_name, table_location, version_of, Location, Warehouse};
use iceberg::spec::{Schema, SortOrder, TableMetadata, UnboundPartitionSpec};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::metadata_cache::RefTypes;
use super::pointer_cache::PointerCache;
use super::{into_page, page_bounds, Catalog};
use crate::commit::{metadata_for_new_table, NewTableMetadata};
use crate::model::{Environment, NamespaceIdent, Page, PageRequest, TableIdent};
use crate::store::{
    MetadataSwap, NamespaceRecord, NewPurge, ObjectKind, ObjectPointer, ObjectRecord, SwapOutcome,
};
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
        let warehouse = self.warehouse(env).await?;
        let uuid = Uuid::now_v7();
        let location = match &request.location {
            Some(requested) => object_location(&warehouse, requested)?,
            None => table_location(warehouse.root(), ns.levels(), &ident.name, uuid),
        };
        self.ensure_location_free(env, &location, None).await?;
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
            location: location.to_string(),
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
        let inserted = self.store.insert_object(&env.uid, &record).await;
        if let Ok(true) = inserted {
            return Ok(self.loaded(env, Some(record.metadata_location), record.metadata));
        }
        if let Ok(file) = Location::parse(&record.metadata_location) {
            let _ = warehouse.delete_file(&file).await;
        }
        inserted?;
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
        match self.cached_pointer(env, ident).await? {
            Some(pointer) if pointer.kind == ObjectKind::Table => Ok(pointer.metadata_location),
            _ => Err(CatalogError::NoSuchTable(ident.clone())),
        }
    }

    /// A table's or view's pointer from this replica's cache, else from the store (and cached).
    pub(super) async fn cached_pointer(
        &self,
        env: &Environment,
        ident: &TableIdent,
    ) -> Result<Option<ObjectPointer>> {
        let key = PointerCache::key(&env.uid, &ident.namespace.key(), &ident.name);
        if let Some(pointer) = self.pointers.get(&key) {
            return Ok(Some(pointer));
        }
        let ticket = self.pointers.ticket();
        let pointer = self
            .store
            .object_pointer(&env.uid, &ident.namespace, &ident.name)
            .await?;
        if let Some(pointer) = &pointer {
            self.pointers.insert(key, pointer.clone(), ticket);
        }
        Ok(pointer)
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
        if !purge {
            self.remove_table(env, ident, |_| Ok(None)).await?;
            return Ok(());
        }
        let warehouse = self.warehouse(env).await?;
        let delay = self.purge.delay;
        let record = self
            .remove_table(env, ident, |record| {
                let location = purge_location(&warehouse, record)?;
                let due_at_ms = chrono::Utc::now().timestamp_millis()
                    + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                Ok(Some(NewPurge {
                    location: location.to_string(),
                    due_at_ms,
                }))
            })
            .await?;
        tracing::info!(table = %ident, location = %record.location, "table dropped; its files will be purged");
        self.purge.wake.notify_one();
        Ok(())
    }

    /// Removes a table from the catalog but keeps its files, and returns its final metadata:
    /// every commit acknowledged before is in it, and every commit after fails.
    pub async fn unregister_table(
        &self,
        env: &Environment,
        ident: &TableIdent,
    ) -> Result<LoadedTable> {
        let record = self.remove_table(env, ident, |_| Ok(None)).await?;
        Ok(self.loaded(env, Some(record.metadata_location), record.metadata))
    }

    /// Deletes the table's row as last read, with the purge `purge` asks for it (in the same
    /// transaction); a commit that lands in between makes it read again.
    async fn remove_table(
        &self,
        env: &Environment,
        ident: &TableIdent,
        purge: impl Fn(&ObjectRecord) -> Result<Option<NewPurge>>,
    ) -> Result<ObjectRecord> {
        loop {
            let (_, record) = self.table_record(env, ident).await?;
            let purge = purge(&record)?;
            if let Some(purge) = &purge {
                self.ensure_purge_is_own(&purge.location, &record.uid)
                    .await?;
            }
            if self
                .store
                .delete_object(
                    &env.uid,
                    &record.uid,
                    &record.metadata_location,
                    purge.as_ref(),
                )
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
        let warehouse = self.warehouse(env).await?;
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
        let location = object_location(&warehouse, metadata.location())?;
        match self.store.object(&namespace.uid, name).await? {
            Some(existing) if overwrite && existing.kind == ObjectKind::Table => {
                let moved = existing.location != location.as_str();
                if moved {
                    self.ensure_location_free(env, &location, Some(&existing.uid))
                        .await?;
                }
                let swap = MetadataSwap {
                    uid: existing.uid,
                    env_uid: env.uid.clone(),
                    expected_location: existing.metadata_location,
                    new_location: file.to_string(),
                    metadata: metadata_json.clone(),
                    version,
                    new_object_location: moved.then(|| location.to_string()),
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
                self.ensure_location_free(env, &location, None).await?;
                let record = ObjectRecord {
                    uid: Uuid::now_v7().to_string(),
                    namespace_uid: namespace.uid.clone(),
                    name: name.to_string(),
                    kind: ObjectKind::Table,
                    metadata_location: file.to_string(),
                    metadata: metadata_json,
                    version,
                    location: location.to_string(),
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

    /// The metadata that the file at `location` holds, as this catalog's answers carry it: the
    /// text as it is for a file the catalog wrote itself (`as_written`), else parsed and
    /// serialized the catalog's way (a registered file). An Idempotency-Key replay rebuilds
    /// its answer from it instead of keeping the answer's megabytes.
    pub async fn metadata_at(
        &self,
        env: &Environment,
        kind: ObjectKind,
        location: &str,
        as_written: bool,
    ) -> Result<String> {
        let warehouse = self.warehouse(env).await?;
        let file = inside_warehouse(&warehouse, location)?;
        let bytes = warehouse.read_file(&file).await?;
        let unreadable = || CatalogError::Internal(format!("metadata file {file} is not UTF-8"));
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| unreadable())?;
        match (as_written, kind) {
            (true, _) => Ok(text),
            (false, ObjectKind::Table) => to_json(&from_json(&text)?),
            (false, ObjectKind::View) => {
                crate::view::view_to_json(&crate::view::view_from_json(&text)?)
            }
        }
    }

    /// Refuses `location` when another table's or view's directory (in any environment) equals,
    /// contains or lies inside it, or files waiting to be purged do. Checked before any file is
    /// written; the store checks again in the transaction that records the location.
    pub(crate) async fn ensure_location_free(
        &self,
        env: &Environment,
        location: &Location,
        exclude_uid: Option<&str>,
    ) -> Result<()> {
        match self
            .store
            .location_conflict(location.as_str(), exclude_uid, true)
            .await?
        {
            Some(conflict) => Err(conflict.into_error(&env.uid, location.as_str())),
            None => Ok(()),
        }
    }

    /// Refuses to purge `location` when another live table or view lies inside it, contains it
    /// or shares it (possible only for rows from before locations were checked).
    pub(crate) async fn ensure_purge_is_own(&self, location: &str, uid: &str) -> Result<()> {
        match self.store.location_conflict(location, Some(uid), false).await? {
            Some(conflict) => Err(CatalogError::BadRequest(format!(
                "Refusing to purge {location}: the table or view at {} shares those files; drop without purge",
                conflict.location
            ))),
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

/// A table's or view's directory: inside the environment's storage and strictly below its root,
/// so that no object owns the whole warehouse (and a purge of it cannot delete every table).
pub(crate) fn object_location(warehouse: &Warehouse, location: &str) -> Result<Location> {
    let parsed = inside_warehouse(warehouse, location)?;
    if parsed == *warehouse.root() {
        return Err(CatalogError::BadRequest(format!(
            "Location {location} is the root of the environment's storage; a table or view needs a directory below it"
        )));
    }
    Ok(parsed)
}

/// The directory a purge of `record` deletes: its recorded location (older rows: the one in
/// its metadata), which must lie strictly below the environment's root.
fn purge_location(warehouse: &Warehouse, record: &ObjectRecord) -> Result<Location> {
    let location = if record.location.is_empty() {
        from_json(&record.metadata)?.location().to_string()
    } else {
        record.location.clone()
    };
    object_location(warehouse, &location)
        .map_err(|e| CatalogError::BadRequest(format!("Refusing to purge: {e}")))
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

/// The metadata as JSON, with its lists in a stable order: snapshots in commit order (readers
/// take the last as the newest), schemas, specs and sort orders by id; and the keys of `refs`
/// and `properties` in name order. The builder keeps them in hash maps, which would shuffle them
/// on every write.
pub(crate) fn to_json(metadata: &TableMetadata) -> Result<String> {
    Ok(serialize_metadata(metadata)?.0)
}

/// [`to_json`], and the type of every ref (read off the JSON on the way).
///
/// Serialized once; then only the four lists are taken apart, as raw JSON values sorted by the
/// ids read out of each, and put back. Building a `serde_json::Value` of the whole document
/// instead costs several times more, and commits pay it on every version of every table.
pub(crate) fn serialize_metadata(metadata: &TableMetadata) -> Result<(String, RefTypes)> {
    let fail = |e: serde_json::Error| {
        CatalogError::Internal(format!("cannot serialize table metadata: {e}"))
    };
    let text = serde_json::to_string(metadata).map_err(fail)?;
    let mut document: BTreeMap<&str, &RawValue> = serde_json::from_str(&text).map_err(fail)?;
    let sorted: Vec<(&str, Box<RawValue>)> = ORDERED_LISTS
        .iter()
        .filter_map(|(list, key)| Some((*list, document.get(list)?, key)))
        .map(|(list, raw, key)| Ok((list, sort_list(raw, *key)?)))
        .collect::<std::result::Result<_, serde_json::Error>>()
        .map_err(fail)?;
    let ordered: Vec<(&str, Box<RawValue>)> = ORDERED_MAPS
        .iter()
        .filter_map(|map| Some((*map, document.get(map)?)))
        .map(|(map, raw)| Ok((map, sort_map(raw)?)))
        .collect::<std::result::Result<_, serde_json::Error>>()
        .map_err(fail)?;
    for (key, raw) in sorted.iter().chain(&ordered) {
        document.insert(key, raw);
    }
    let ref_types = match document.get("refs") {
        Some(refs) => ref_types(refs.get()).map_err(fail)?,
        None => RefTypes::new(),
    };
    Ok((serde_json::to_string(&document).map_err(fail)?, ref_types))
}

/// The ids an entry of an ordered list is sorted by.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Ids {
    sequence_number: Option<i64>,
    timestamp_ms: Option<i64>,
    snapshot_id: Option<i64>,
    schema_id: Option<i64>,
    spec_id: Option<i64>,
    order_id: Option<i64>,
}

type SortKey = fn(&Ids) -> [Option<i64>; 3];

/// Snapshots in commit order (readers take the last as the newest); the rest by id.
const ORDERED_LISTS: [(&str, SortKey); 4] = [
    ("snapshots", |i| {
        [i.sequence_number, i.timestamp_ms, i.snapshot_id]
    }),
    ("schemas", |i| [i.schema_id, None, None]),
    ("partition-specs", |i| [i.spec_id, None, None]),
    ("sort-orders", |i| [i.order_id, None, None]),
];

/// Top-level objects whose keys are written in name order.
const ORDERED_MAPS: [&str; 2] = ["refs", "properties"];

fn sort_map(map: &RawValue) -> serde_json::Result<Box<RawValue>> {
    let entries: BTreeMap<&str, &RawValue> = serde_json::from_str(map.get())?;
    serde_json::value::to_raw_value(&entries)
}

fn sort_list(list: &RawValue, key: SortKey) -> serde_json::Result<Box<RawValue>> {
    let items: Vec<&RawValue> = serde_json::from_str(list.get())?;
    let mut keyed = items
        .into_iter()
        .map(|item| Ok((key(&serde_json::from_str(item.get())?), item)))
        .collect::<serde_json::Result<Vec<_>>>()?;
    keyed.sort_by_key(|(key, _)| *key);
    let items: Vec<&RawValue> = keyed.into_iter().map(|(_, item)| item).collect();
    serde_json::value::to_raw_value(&items)
}

/// The type of every ref of a metadata document.
pub(crate) fn ref_types_of(metadata_json: &str) -> Result<RefTypes> {
    #[derive(Deserialize)]
    struct Refs<'a> {
        #[serde(borrow)]
        refs: Option<&'a RawValue>,
    }
    let unreadable =
        |e| CatalogError::Internal(format!("stored table metadata is unreadable: {e}"));
    let document: Refs = serde_json::from_str(metadata_json).map_err(unreadable)?;
    match document.refs {
        Some(refs) => ref_types(refs.get()).map_err(unreadable),
        None => Ok(RefTypes::new()),
    }
}

fn ref_types(refs: &str) -> serde_json::Result<RefTypes> {
    #[derive(Deserialize)]
    struct Ref {
        #[serde(rename = "type")]
        kind: String,
    }
    let refs: HashMap<String, Ref> = serde_json::from_str(refs)?;
    Ok(refs.into_iter().map(|(name, r)| (name, r.kind)).collect())
}

pub(crate) fn from_json(text: &str) -> Result<TableMetadata> {
    serde_json::from_str(text)
        .map_err(|e| CatalogError::Internal(format!("stored table metadata is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::apply_updates;
    use iceberg::TableUpdate;
    use serde_json::{json, Value};

    fn schema(fields: i32) -> Value {
        let fields: Vec<Value> = (1..=fields)
            .map(
                |id| json!({"id": id, "name": format!("c{id}"), "required": false, "type": "long"}),
            )
            .collect();
        json!({"type": "struct", "fields": fields})
    }

    /// A table with two more schemas, four properties and 30 snapshots (ids not in commit
    /// order), a branch and a tag.
    fn evolved_table() -> TableMetadata {
        let (base, _) = crate::commit::tests::table();
        let now = chrono::Utc::now().timestamp_millis();
        let mut updates = vec![
            json!({"action": "add-schema", "schema": schema(2)}),
            json!({"action": "add-schema", "schema": schema(3)}),
            json!({"action": "set-properties", "updates": {"write.format.default": "parquet",
                "commit.retry.num-retries": "4", "owner": "materializer", "a.b": "c"}}),
        ];
        let mut parent = None;
        for seq in 1..=30i64 {
            let id = (seq * 7919) % 101 + 1000;
            updates.push(json!({"action": "add-snapshot", "snapshot": {
                "snapshot-id": id, "parent-snapshot-id": parent, "sequence-number": seq,
                "timestamp-ms": now + seq, "manifest-list": format!("file:///w/t/metadata/snap-{id}.avro"),
                "summary": {"operation": "append"}, "schema-id": 0}}));
            updates.push(json!({"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": id}));
            parent = Some(id);
        }
        updates.push(json!({"action": "set-snapshot-ref", "ref-name": "v1", "type": "tag", "snapshot-id": 1000 + 7919 % 101}));
        let updates: Vec<TableUpdate> = serde_json::from_value(Value::Array(updates)).unwrap();
        apply_updates(base, "file:///w/t/metadata/00000-a.metadata.json", updates)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn metadata_is_written_with_snapshots_in_commit_order_and_lists_by_id() {
        let metadata = evolved_table();
        let (json, ref_types) = serialize_metadata(&metadata).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        let ids = |list: &str, key: &str| -> Vec<i64> {
            value[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item[key].as_i64().unwrap())
                .collect()
        };
        assert_eq!(
            ids("snapshots", "sequence-number"),
            (1..=30).collect::<Vec<_>>()
        );
        assert_eq!(ids("schemas", "schema-id"), vec![0, 1, 2]);
        assert_eq!(
            ref_types,
            RefTypes::from([
                ("main".into(), "branch".into()),
                ("v1".into(), "tag".into())
            ])
        );
        // Nothing is lost or changed on the way: the text reads back as the same metadata.
        let back: TableMetadata = serde_json::from_str(&json).unwrap();
        assert_eq!(back, metadata);
        // And it is stable: the same metadata always gives the same text.
        assert_eq!(serialize_metadata(&back).unwrap().0, json);
    }
}
