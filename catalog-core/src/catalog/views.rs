//! Views: create, load, list, replace (commit), drop, rename, register. Views share the name
//! space of tables: a name belongs to one table or one view.

use std::collections::HashMap;

use frazil_storage::table_location;
use iceberg::spec::{Schema, ViewMetadata, ViewVersion};
use iceberg::ViewUpdate;
use uuid::Uuid;

use super::commits::{backoff, delete_orphans, lock_key, MAX_ATTEMPTS};
use super::tables::{inside_warehouse, object_location, write_metadata};
use super::Catalog;
use crate::model::{Environment, NamespaceIdent, Page, PageRequest, TableIdent};
use crate::store::{MetadataSwap, NamespaceRecord, ObjectKind, ObjectRecord, SwapOutcome};
use crate::view::{
    apply_view_updates, check_view_uuid, metadata_for_new_view, view_from_json, view_to_json,
};
use crate::{CatalogError, Result};
use frazil_storage::version_of;

/// A createView request.
#[derive(Debug, Clone)]
pub struct CreateView {
    pub name: String,
    pub location: Option<String>,
    pub schema: Schema,
    pub version: ViewVersion,
    pub properties: HashMap<String, String>,
}

/// A replaceView request: its `assert-view-uuid` requirements and the updates.
#[derive(Debug, Clone)]
pub struct ViewChange {
    pub ident: TableIdent,
    pub assert_uuids: Vec<Uuid>,
    pub updates: Vec<ViewUpdate>,
}

/// A view as clients load it.
#[derive(Debug, Clone)]
pub struct LoadedView {
    pub metadata_location: String,
    pub metadata: String,
    pub config: HashMap<String, String>,
}

impl Catalog {
    pub async fn list_views(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        page: &PageRequest,
    ) -> Result<Page<TableIdent>> {
        self.list_objects(env, ns, ObjectKind::View, page).await
    }

    pub async fn create_view(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        request: CreateView,
    ) -> Result<LoadedView> {
        let ident = TableIdent::new(ns.clone(), request.name.clone())?;
        let namespace = self.namespace_record(env, ns).await?;
        self.ensure_view_name_free(&namespace, &ident).await?;
        let warehouse = self.warehouse(env).await?;
        let location = match &request.location {
            Some(requested) => object_location(&warehouse, requested)?,
            None => table_location(warehouse.root(), ns.levels(), &ident.name, Uuid::now_v7()),
        };
        self.ensure_location_free(env, &location, None).await?;
        let metadata = metadata_for_new_view(
            location.as_str(),
            request.schema,
            request.version,
            request.properties,
        )?;
        let json = view_to_json(&metadata)?;
        let file = write_metadata(&warehouse, metadata.location(), &json, 0).await?;
        let record = ObjectRecord {
            uid: Uuid::now_v7().to_string(),
            namespace_uid: namespace.uid.clone(),
            name: ident.name.clone(),
            kind: ObjectKind::View,
            metadata_location: file.to_string(),
            metadata: json,
            version: 0,
            location: location.to_string(),
        };
        let inserted = self.store.insert_object(&env.uid, &record).await;
        if let Ok(true) = inserted {
            return Ok(self.loaded_view(env, record));
        }
        let _ = warehouse.delete_file(&file).await;
        inserted?;
        self.ensure_view_name_free(&namespace, &ident).await?;
        Err(CatalogError::ViewAlreadyExists(ident))
    }

    /// Served from the store, never from object storage.
    pub async fn load_view(&self, env: &Environment, ident: &TableIdent) -> Result<LoadedView> {
        let record = self.view_record(env, ident).await?;
        Ok(self.loaded_view(env, record))
    }

    /// Replaces a view's metadata: checks `assert-view-uuid`, applies the updates and swaps the
    /// pointer, recomputing from the fresh row when another commit won the race.
    pub async fn replace_view(&self, env: &Environment, change: ViewChange) -> Result<LoadedView> {
        let warehouse = self.warehouse(env).await?;
        let _locked = self
            .commit_locks
            .lock(&[lock_key(env, &change.ident)])
            .await;
        for attempt in 1..=MAX_ATTEMPTS {
            let record = self.view_record(env, &change.ident).await?;
            let current = view_from_json(&record.metadata)?;
            for uuid in &change.assert_uuids {
                check_view_uuid(*uuid, &current)?;
            }
            let before = current.location().to_string();
            let Some(next) = apply_view_updates(current, change.updates.clone())? else {
                return Ok(self.loaded_view(env, record));
            };
            let new_object_location = if next.location() == before {
                None
            } else {
                let moved = object_location(&warehouse, next.location())?;
                self.ensure_location_free(env, &moved, Some(&record.uid))
                    .await?;
                Some(moved.to_string())
            };
            let json = view_to_json(&next)?;
            let file =
                write_metadata(&warehouse, next.location(), &json, record.version + 1).await?;
            let swap = MetadataSwap {
                uid: record.uid.clone(),
                env_uid: env.uid.clone(),
                expected_location: record.metadata_location.clone(),
                new_location: file.to_string(),
                metadata: json.clone(),
                version: record.version + 1,
                new_object_location: new_object_location.clone(),
            };
            match self.store.swap_metadata(&[swap]).await {
                Ok(SwapOutcome::Committed) => {
                    let committed = ObjectRecord {
                        metadata_location: file.to_string(),
                        metadata: json,
                        version: record.version + 1,
                        location: new_object_location.unwrap_or(record.location),
                        ..record
                    };
                    return Ok(self.loaded_view(env, committed));
                }
                Ok(SwapOutcome::Conflict) => {
                    delete_orphans(&warehouse, std::slice::from_ref(&file)).await;
                    backoff(attempt).await;
                }
                Err(e @ CatalogError::CommitStateUnknown(_)) => return Err(e),
                Err(e) => {
                    delete_orphans(&warehouse, std::slice::from_ref(&file)).await;
                    return Err(e);
                }
            }
        }
        Err(CatalogError::CommitFailed(format!(
            "Commit failed: other commits changed the view {MAX_ATTEMPTS} times while this one was applied; retry"
        )))
    }

    /// Forgets a view; its metadata files stay in storage.
    pub async fn drop_view(&self, env: &Environment, ident: &TableIdent) -> Result<()> {
        loop {
            let record = self.view_record(env, ident).await?;
            if self
                .store
                .delete_object(&env.uid, &record.uid, &record.metadata_location, None)
                .await?
            {
                return Ok(());
            }
        }
    }

    pub async fn rename_view(
        &self,
        env: &Environment,
        from: &TableIdent,
        to: &TableIdent,
    ) -> Result<()> {
        let record = self.view_record(env, from).await?;
        self.rename_object(env, &record, from, to).await
    }

    /// Adopts an existing view metadata file as a view.
    pub async fn register_view(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        name: &str,
        metadata_location: &str,
    ) -> Result<LoadedView> {
        let ident = TableIdent::new(ns.clone(), name)?;
        let namespace = self.namespace_record(env, ns).await?;
        self.ensure_view_name_free(&namespace, &ident).await?;
        let warehouse = self.warehouse(env).await?;
        let file = inside_warehouse(&warehouse, metadata_location)?;
        let text = warehouse.read_file(&file).await?;
        let metadata: ViewMetadata = serde_json::from_slice(&text).map_err(|e| {
            CatalogError::BadRequest(format!("Invalid view metadata in {file}: {e}"))
        })?;
        let location = object_location(&warehouse, metadata.location())?;
        self.ensure_location_free(env, &location, None).await?;
        let record = ObjectRecord {
            uid: Uuid::now_v7().to_string(),
            namespace_uid: namespace.uid.clone(),
            name: name.to_string(),
            kind: ObjectKind::View,
            metadata_location: file.to_string(),
            metadata: view_to_json(&metadata)?,
            version: version_of(file.as_str()),
            location: location.to_string(),
        };
        if self.store.insert_object(&env.uid, &record).await? {
            return Ok(self.loaded_view(env, record));
        }
        self.ensure_view_name_free(&namespace, &ident).await?;
        Err(CatalogError::ViewAlreadyExists(ident))
    }

    /// The view row, or NoSuchView (a table of that name is not a view, and a missing
    /// namespace holds no view).
    async fn view_record(&self, env: &Environment, ident: &TableIdent) -> Result<ObjectRecord> {
        let not_found = || CatalogError::NoSuchView(ident.clone());
        let namespace = self
            .store
            .namespace(&env.uid, &ident.namespace)
            .await?
            .ok_or_else(not_found)?;
        match self.store.object(&namespace.uid, &ident.name).await? {
            Some(record) if record.kind == ObjectKind::View => Ok(record),
            _ => Err(not_found()),
        }
    }

    async fn ensure_view_name_free(
        &self,
        namespace: &NamespaceRecord,
        ident: &TableIdent,
    ) -> Result<()> {
        match self.store.object(&namespace.uid, &ident.name).await? {
            Some(existing) if existing.kind == ObjectKind::Table => {
                Err(CatalogError::TableNameTaken(ident.clone()))
            }
            Some(_) => Err(CatalogError::ViewAlreadyExists(ident.clone())),
            None => Ok(()),
        }
    }

    fn loaded_view(&self, env: &Environment, record: ObjectRecord) -> LoadedView {
        LoadedView {
            metadata_location: record.metadata_location,
            metadata: record.metadata,
            config: env.storage.client_config().into_iter().collect(),
        }
    }
}
