//! The commit protocol (DESIGN.md): check requirements against the current row, apply updates,
//! write a new metadata file create-only, compare-and-swap every pointer in one transaction,
//! and retry from the top when another commit won the race.

use std::sync::Arc;

use frazil_storage::{table_location, Location, Warehouse};
use iceberg::{TableRequirement, TableUpdate};
use uuid::Uuid;

use super::metadata_cache::ParsedMetadata;
use super::tables::{object_location, serialize_metadata, to_json, write_metadata, LoadedTable};
use super::Catalog;
use crate::commit::{apply_updates, check_requirements, metadata_for_create};
use crate::model::{Environment, TableIdent};
use crate::store::{MetadataSwap, ObjectKind, ObjectRecord, SwapOutcome};
use crate::{CatalogError, Result};

/// How often a commit is recomputed after losing a compare-and-swap (to another replica: this
/// process serializes its own commits per table) before giving up with 409.
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// Most requirements, and most updates, one table's commit may carry. Real commits carry a
/// handful (an append is two updates); the cap bounds the work one request can ask for.
pub const MAX_UPDATES_PER_COMMIT: usize = 1_000;
/// Most tables one transaction may change.
pub const MAX_TABLES_PER_TRANSACTION: usize = 1_000;

/// One table's part of a commit.
#[derive(Debug, Clone)]
pub struct TableChange {
    pub ident: TableIdent,
    pub requirements: Vec<TableRequirement>,
    pub updates: Vec<TableUpdate>,
}

impl TableChange {
    fn check_size(&self) -> Result<()> {
        for (what, count) in [
            ("requirements", self.requirements.len()),
            ("updates", self.updates.len()),
        ] {
            if count > MAX_UPDATES_PER_COMMIT {
                return Err(CatalogError::BadRequest(format!(
                    "Too many {what} for table {}: {count} (at most {MAX_UPDATES_PER_COMMIT} per commit)",
                    self.ident
                )));
            }
        }
        Ok(())
    }

    fn creates(&self) -> bool {
        self.requirements
            .iter()
            .any(|r| matches!(r, TableRequirement::NotExist))
    }
}

impl Catalog {
    /// Commits to one table. A change asserting that the table does not exist creates it (the
    /// second half of a staged create).
    pub async fn commit_table(
        &self,
        env: &Environment,
        change: TableChange,
    ) -> Result<LoadedTable> {
        change.check_size()?;
        if change.creates() {
            return self.commit_create(env, change).await;
        }
        let mut committed = self.commit_changes(env, vec![change]).await?;
        Ok(committed.remove(0))
    }

    /// Commits to several tables atomically: all of them or none.
    pub async fn commit_transaction(
        &self,
        env: &Environment,
        changes: Vec<TableChange>,
    ) -> Result<()> {
        if changes.len() > MAX_TABLES_PER_TRANSACTION {
            return Err(CatalogError::BadRequest(format!(
                "Too many tables in one transaction: {} (at most {MAX_TABLES_PER_TRANSACTION})",
                changes.len()
            )));
        }
        for (i, change) in changes.iter().enumerate() {
            change.check_size()?;
            if change.creates() {
                return Err(CatalogError::BadRequest(format!(
                    "Cannot create table {} in a multi-table transaction; create it first",
                    change.ident
                )));
            }
            if changes[..i].iter().any(|c| c.ident == change.ident) {
                return Err(CatalogError::BadRequest(format!(
                    "Table {} appears more than once in the transaction",
                    change.ident
                )));
            }
        }
        self.commit_changes(env, changes).await.map(|_| ())
    }

    async fn commit_changes(
        &self,
        env: &Environment,
        changes: Vec<TableChange>,
    ) -> Result<Vec<LoadedTable>> {
        let warehouse = self.warehouse(env).await?;
        // A commit that is already stale (the loser of a race, retrying writers) is answered
        // before it queues for the tables' locks behind the commit that beat it.
        for change in &changes {
            self.checked_table(env, change, true).await?;
        }
        let keys: Vec<String> = changes.iter().map(|c| lock_key(env, &c.ident)).collect();
        let _locked = self.commit_locks.lock(&keys).await;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut written = Vec::new();
            // After a lost swap, the cache is behind another replica: read the store.
            let cached = attempt == 1;
            let prepared = self
                .prepare(env, &warehouse, &changes, cached, &mut written)
                .await;
            let prepared = match prepared {
                Ok(prepared) => prepared,
                Err(e) => {
                    delete_orphans(&warehouse, &written).await;
                    return Err(e);
                }
            };
            if prepared.swaps.is_empty() {
                return Ok(prepared.results);
            }
            match self.store.swap_metadata(&prepared.swaps).await {
                Ok(SwapOutcome::Committed) => {
                    for (location, parsed, text_bytes) in prepared.parsed {
                        self.metadata_cache.insert(location, parsed, text_bytes);
                    }
                    return Ok(prepared.results);
                }
                Ok(SwapOutcome::Conflict) => {
                    tracing::debug!(attempt, "commit lost a race; recomputing");
                    delete_orphans(&warehouse, &written).await;
                    backoff(attempt).await;
                }
                // The files may be what the table now points at: keep them.
                Err(e @ CatalogError::CommitStateUnknown(_)) => return Err(e),
                Err(e) => {
                    delete_orphans(&warehouse, &written).await;
                    return Err(e);
                }
            }
        }
        Err(CatalogError::CommitFailed(format!(
            "Commit failed: other commits changed the table {MAX_ATTEMPTS} times while this one was applied; retry"
        )))
    }

    /// Computes every table's new metadata against its current row and writes the files.
    async fn prepare(
        &self,
        env: &Environment,
        warehouse: &Warehouse,
        changes: &[TableChange],
        cached: bool,
        written: &mut Vec<Location>,
    ) -> Result<Prepared> {
        let mut prepared = Prepared::default();
        for change in changes {
            let current = self.checked_table(env, change, cached).await?;
            let base = &current.parsed;
            let next = apply_updates(
                base.metadata.clone(),
                &current.location,
                change.updates.clone(),
            )?;
            let Some(next) = next else {
                // Nothing changes: the answer is the current metadata.
                let json = to_json(&base.metadata)?;
                prepared
                    .results
                    .push(self.loaded(env, Some(current.location), json));
                continue;
            };
            // A set-location moves the table: checked before any file is written there.
            let new_object_location = if next.location() == base.metadata.location() {
                None
            } else {
                let moved = object_location(warehouse, next.location())?;
                self.ensure_location_free(env, &moved, Some(&current.uid))
                    .await?;
                Some(moved.to_string())
            };
            let (json, ref_types) = serialize_metadata(&next)?;
            let version = current.version + 1;
            let file = write_metadata(warehouse, next.location(), &json, version).await?;
            written.push(file.clone());
            prepared.swaps.push(MetadataSwap {
                uid: current.uid,
                env_uid: env.uid.clone(),
                expected_location: current.location,
                new_location: file.to_string(),
                metadata: json.clone(),
                version,
                new_object_location,
            });
            let parsed = ParsedMetadata {
                metadata: next,
                ref_types,
            };
            prepared
                .parsed
                .push((file.to_string(), Arc::new(parsed), json.len()));
            prepared
                .results
                .push(self.loaded(env, Some(file.to_string()), json));
        }
        Ok(prepared)
    }

    /// The table as `change`'s requirements hold against it. With `cached`, its pointer comes
    /// from this replica's cache: stale at worst by another replica's commit this replica has not
    /// heard of yet, so a failed requirement is confirmed against the store (unless this process
    /// makes every change), and the compare-and-swap catches a pass on a stale pointer.
    async fn checked_table(
        &self,
        env: &Environment,
        change: &TableChange,
        cached: bool,
    ) -> Result<CurrentTable> {
        let check = |current: &CurrentTable| {
            check_requirements(
                &change.requirements,
                &current.parsed.metadata,
                &current.parsed.ref_types,
            )
        };
        let current = self.current_table(env, &change.ident, cached).await?;
        match check(&current) {
            Ok(()) => Ok(current),
            Err(_) if cached && !self.store.is_single_process() => {
                let current = self.current_table(env, &change.ident, false).await?;
                check(&current)?;
                Ok(current)
            }
            Err(e) => Err(e),
        }
    }

    /// A table's current pointer (from this replica's cache with `cached`, else from the store)
    /// and its parsed metadata: on cache hits, no query at all.
    pub(super) async fn current_table(
        &self,
        env: &Environment,
        ident: &TableIdent,
        cached: bool,
    ) -> Result<CurrentTable> {
        let pointer = if cached {
            self.cached_pointer(env, ident).await?
        } else {
            self.store
                .object_pointer(&env.uid, &ident.namespace, &ident.name)
                .await?
        };
        let pointer = pointer
            .filter(|p| p.kind == ObjectKind::Table)
            .ok_or_else(|| CatalogError::NoSuchTable(ident.clone()))?;
        if let Some(parsed) = self.metadata_cache.get(&pointer.metadata_location) {
            return Ok(CurrentTable {
                uid: pointer.uid,
                location: pointer.metadata_location,
                version: pointer.version,
                parsed,
            });
        }
        let (_, record) = self.table_record(env, ident).await?;
        let parsed = Arc::new(ParsedMetadata::from_json(&record.metadata)?);
        self.metadata_cache.insert(
            record.metadata_location.clone(),
            parsed.clone(),
            record.metadata.len(),
        );
        Ok(CurrentTable {
            uid: record.uid,
            location: record.metadata_location,
            version: record.version,
            parsed,
        })
    }

    async fn commit_create(&self, env: &Environment, change: TableChange) -> Result<LoadedTable> {
        if change.requirements.len() != 1 {
            return Err(CatalogError::BadRequest(
                "Invalid create requirements: assert-create must be the only requirement".into(),
            ));
        }
        let ident = change.ident;
        let namespace = self.namespace_record(env, &ident.namespace).await?;
        if self
            .store
            .object(&namespace.uid, &ident.name)
            .await?
            .is_some()
        {
            return Err(CatalogError::CommitFailed(
                "Requirement failed: table already exists".into(),
            ));
        }
        let warehouse = self.warehouse(env).await?;
        let default_location = table_location(
            warehouse.root(),
            ident.namespace.levels(),
            &ident.name,
            Uuid::now_v7(),
        );
        let metadata = metadata_for_create(change.updates, default_location.as_str())?;
        let location = object_location(&warehouse, metadata.location())?;
        self.ensure_location_free(env, &location, None).await?;
        let json = to_json(&metadata)?;
        let file = write_metadata(&warehouse, metadata.location(), &json, 0).await?;
        let record = ObjectRecord {
            uid: Uuid::now_v7().to_string(),
            namespace_uid: namespace.uid.clone(),
            name: ident.name.clone(),
            kind: ObjectKind::Table,
            metadata_location: file.to_string(),
            metadata: json,
            version: 0,
            location: location.to_string(),
        };
        match self
            .insert_table(env, &warehouse, &namespace, &ident, record)
            .await
        {
            Err(CatalogError::TableExists(_) | CatalogError::ViewExists(_)) => Err(
                CatalogError::CommitFailed("Requirement failed: table already exists".into()),
            ),
            other => other,
        }
    }
}

/// A table as a commit starts from.
pub(super) struct CurrentTable {
    uid: String,
    location: String,
    version: i64,
    pub(super) parsed: Arc<ParsedMetadata>,
}

/// What one attempt of a commit computed: the pointer moves, the answers, and the new metadata
/// to remember once the moves are committed.
#[derive(Default)]
struct Prepared {
    swaps: Vec<MetadataSwap>,
    results: Vec<LoadedTable>,
    parsed: Vec<(String, Arc<ParsedMetadata>, usize)>,
}

pub(crate) fn lock_key(env: &Environment, ident: &TableIdent) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}",
        env.uid,
        ident.namespace.key(),
        ident.name
    )
}

/// Random, growing pauses spread replicas that keep colliding on one table.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling_ms = 2u64.pow(attempt.min(8));
    let pause = rand::random_range(0..=ceiling_ms);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// A known-failed commit's files are never referenced: remove them, best-effort.
pub(crate) async fn delete_orphans(warehouse: &Warehouse, files: &[Location]) {
    for file in files {
        if let Err(e) = warehouse.delete_file(file).await {
            tracing::warn!(%file, error = %e, "could not delete an orphaned metadata file");
        }
    }
}
