//! The SQL metadata store over sqlx's `Any` driver: the same statements run on SQLite and on
//! Postgres (`$n` placeholders work on both); only the migrations differ per backend.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use frazil_storage::version_of;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};
use uuid::Uuid;

use super::changes::{Changes, ObjectListener};
use super::{
    ApiKeyRecord, DropOutcome, IdempotencyClaim, IdempotencyRecord, IdempotentResponse,
    LocationConflict, MetadataStore, MetadataSwap, NamespaceRecord, NewPurge, ObjectKind,
    ObjectPointer, ObjectRecord, OrganizationRecord, Placement, ProviderIntegrationRecord,
    PurgeTask, SigningKeyRecord, SwapOutcome,
};
use crate::model::{Environment, NamespaceIdent, NewEnvironment, Properties};
use crate::{CatalogError, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// Announces changed tables and views to the caches of this and (Postgres) other replicas.
    changes: Arc<Changes>,
    /// SQLite has one writer at a time; a transaction that finds the database locked sleeps in
    /// SQLite's busy handler (1, 2, 5, 10 ms ...). Writers of this process queue here instead.
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// An insert's outcome: `false` when a unique key refused the row (the id is taken).
pub(super) fn inserted(
    result: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>,
) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How SQLite makes a commit durable (its `synchronous` pragma, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// Every commit is synced to disk before it is acknowledged: it survives power loss.
    #[default]
    Full,
    /// Commits are synced at checkpoints: a power loss can take the last commits back (never
    /// corrupts the database). Faster; for data that can be written again.
    Normal,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "PRAGMA synchronous = FULL",
            Self::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

impl SqlStore {
    /// Connects to `sqlite://path` (created if missing; every commit synced to disk) or
    /// `postgres://...`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        Self::connect_with(url, max_connections, SqliteSync::Full).await
    }

    /// [`SqlStore::connect`], choosing how SQLite makes commits durable.
    pub async fn connect_with(url: &str, max_connections: u32, sync: SqliteSync) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(CatalogError::BadRequest(format!(
                "unsupported database URL (use sqlite:// or postgres://): {}",
                redact(url)
            )));
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        first_connection(&options, &url).await?;
        let changes = match backend {
            Backend::Sqlite => Changes::in_process(),
            Backend::Postgres => Changes::postgres(&url),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; commits wait for the write lock.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute(sync.pragma()).await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            backend,
            changes,
            sqlite_writer: (backend == Backend::Sqlite).then(Arc::default),
        })
    }

    /// A transaction that writes catalog objects, with SQLite's writer turn held until dropped.
    pub(super) async fn write_transaction(
        &self,
    ) -> Result<(
        Option<tokio::sync::OwnedMutexGuard<()>>,
        sqlx::Transaction<'static, sqlx::Any>,
    )> {
        let Some(writer) = &self.sqlite_writer else {
            return Ok((None, self.pool.begin().await?));
        };
        let turn = writer.clone().lock_owned().await;
        // IMMEDIATE takes SQLite's write lock now (waiting up to busy_timeout). A deferred
        // transaction reads first and cannot upgrade to a writer if another connection (an
        // idempotency record, a purge task) committed in between: SQLITE_BUSY at once.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((Some(turn), tx))
    }

    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| CatalogError::Internal(format!("migration failed: {e}")))?;
        self.fill_locations().await
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.changes.close();
        self.pool.close().await;
    }
}

/// Longest the first connection may take before start-up gives up on the database.
const FIRST_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One connection attempt before the pool is built: the pool retries a refused connection until
/// its acquire timeout (30 s) and then says only "pool timed out", so a wrong host or password
/// would be silent that long and then unexplained. This names the database (without password)
/// and the cause at once.
async fn first_connection(options: &AnyConnectOptions, url: &str) -> Result<()> {
    let attempt = tokio::time::timeout(FIRST_CONNECT_TIMEOUT, AnyConnection::connect_with(options));
    let cause = match attempt.await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", FIRST_CONNECT_TIMEOUT.as_secs()),
    };
    Err(CatalogError::Internal(format!(
        "cannot connect to the database {}: {cause}",
        database_name(url)
    )))
}

/// Where a database URL points, for messages: `host:port` and the URL without its password.
fn database_name(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme().starts_with("postgres") && u.host_str().is_some() => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().unwrap_or(5432);
            format!("at {host}:{port} ({})", redact(url))
        }
        _ => redact(url),
    }
}

/// `sqlite://path` -> create the parent directory and ask sqlx to create the file if missing.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                CatalogError::Internal(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

pub(super) fn environment_from_row(row: &AnyRow) -> Result<Environment> {
    let storage: String = row.try_get("storage")?;
    Ok(Environment {
        uid: row.try_get("uid")?,
        org_id: row.try_get("org_id")?,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        storage: serde_json::from_str(&storage).map_err(|e| {
            CatalogError::Internal(format!("stored storage settings are unreadable: {e}"))
        })?,
    })
}

fn properties_from_json(json: &str) -> Result<Properties> {
    serde_json::from_str(json)
        .map_err(|e| CatalogError::Internal(format!("stored properties are unreadable: {e}")))
}

fn properties_to_json(properties: &Properties) -> String {
    serde_json::to_string(properties).unwrap_or_else(|_| "{}".into())
}

fn limit_value(limit: Option<usize>) -> i64 {
    limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

#[async_trait]
impl MetadataStore for SqlStore {
    async fn create_organization(&self, id: &str, name: &str) -> Result<bool> {
        self.create_organization_row(id, name, now_ms()).await
    }

    async fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>> {
        self.organization_row(id).await
    }

    async fn list_organizations(&self) -> Result<Vec<OrganizationRecord>> {
        self.organization_rows().await
    }

    async fn delete_organization(&self, id: &str) -> Result<DropOutcome> {
        self.delete_organization_row(id).await
    }

    async fn list_environments(&self, org_id: &str) -> Result<Vec<Environment>> {
        self.environment_rows(org_id).await
    }

    async fn update_environment(&self, env: &Environment, placement: &Placement<'_>) -> Result<()> {
        self.update_environment_row(env, placement).await
    }

    async fn delete_environment(&self, env: &Environment) -> Result<DropOutcome> {
        self.delete_environment_row(env).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<bool> {
        self.insert_api_key_row(key).await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        self.api_key_row(id).await
    }

    async fn list_api_keys(
        &self,
        org_id: Option<&str>,
        env_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>> {
        self.api_key_rows(org_id, env_id).await
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        self.revoke_api_key_row(id, at_ms).await
    }

    async fn touch_api_key(&self, id: &str, at_ms: i64) -> Result<()> {
        self.touch_api_key_row(id, at_ms).await
    }

    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        self.claim_idempotency_key_row(claim, fingerprint, at_ms, lease_until_ms)
            .await
    }

    async fn take_over_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        self.take_over_idempotency_key_row(claim, fingerprint, at_ms, lease_until_ms)
            .await
    }

    async fn renew_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        lease_until_ms: i64,
    ) -> Result<bool> {
        self.renew_idempotency_key_row(claim, lease_until_ms).await
    }

    async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        self.idempotency_row(scope, key).await
    }

    async fn finish_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        response: &IdempotentResponse,
    ) -> Result<bool> {
        self.finish_idempotency_key_row(claim, response).await
    }

    async fn release_idempotency_key(&self, claim: &IdempotencyClaim<'_>) -> Result<()> {
        self.release_idempotency_key_row(claim).await
    }

    async fn forget_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.forget_idempotency_key_row(scope, key, before_ms, now_ms)
            .await
    }

    async fn purge_idempotency_keys(&self, before_ms: i64, now_ms: i64) -> Result<u64> {
        self.purge_idempotency_key_rows(before_ms, now_ms).await
    }

    async fn prune_table_events(&self, before_ms: i64) -> Result<u64> {
        // Events are numbered in the order they were recorded: delete up to the first young one
        // (the primary key's range, not a scan of the whole outbox for old rows).
        let pruned = sqlx::query(
            "DELETE FROM table_events WHERE seq < COALESCE(\
               (SELECT seq FROM table_events WHERE created_at_ms >= $1 ORDER BY seq LIMIT 1), \
               (SELECT COALESCE(MAX(seq), 0) + 1 FROM table_events))",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(pruned.rows_affected())
    }

    async fn insert_provider_integration(
        &self,
        record: &ProviderIntegrationRecord,
    ) -> Result<bool> {
        self.insert_provider_integration_row(record).await
    }

    async fn provider_integration(
        &self,
        env_uid: &str,
        id: &str,
    ) -> Result<Option<ProviderIntegrationRecord>> {
        self.provider_integration_row(env_uid, id).await
    }

    async fn list_provider_integrations(
        &self,
        env_uid: &str,
    ) -> Result<Vec<ProviderIntegrationRecord>> {
        self.provider_integration_rows(env_uid).await
    }

    async fn delete_provider_integration(
        &self,
        env_uid: &str,
        id: &str,
        in_use: &Placement<'_>,
    ) -> Result<bool> {
        self.delete_provider_integration_row(env_uid, id, in_use)
            .await
    }

    async fn has_server_admin(&self) -> Result<bool> {
        self.has_server_admin_row().await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        self.insert_signing_key_row(key).await
    }

    async fn signing_keys(&self, include_retired: bool) -> Result<Vec<SigningKeyRecord>> {
        self.signing_key_rows(include_retired).await
    }

    async fn set_signing_key_private(&self, kid: &str, private_key: &str) -> Result<()> {
        self.set_signing_key_private_row(kid, private_key).await
    }

    async fn retire_signing_keys(&self, keep: &str, before_ms: i64, at_ms: i64) -> Result<u64> {
        self.retire_signing_key_rows(keep, before_ms, at_ms).await
    }

    async fn ensure_organization(&self, id: &str, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO organizations (id, name, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_environment(
        &self,
        env: &NewEnvironment,
        placement: &Placement<'_>,
    ) -> Result<Option<Environment>> {
        self.insert_environment_row(env, placement).await
    }

    async fn environment(&self, org_id: &str, env_id: &str) -> Result<Option<Environment>> {
        let row = sqlx::query(
            "SELECT uid, org_id, id, name, storage FROM environments WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(env_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(environment_from_row).transpose()
    }

    async fn environments_with_id(&self, env_id: &str) -> Result<Vec<Environment>> {
        let rows =
            sqlx::query("SELECT uid, org_id, id, name, storage FROM environments WHERE id = $1")
                .bind(env_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(environment_from_row).collect()
    }

    async fn create_namespace(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
        properties: &Properties,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO namespaces (uid, env_uid, name, parent, properties, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(env_uid)
        .bind(ns.key())
        .bind(ns.parent_key())
        .bind(properties_to_json(properties))
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn namespace(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
    ) -> Result<Option<NamespaceRecord>> {
        let row =
            sqlx::query("SELECT uid, properties FROM namespaces WHERE env_uid = $1 AND name = $2")
                .bind(env_uid)
                .bind(ns.key())
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let properties: String = row.try_get("properties")?;
        Ok(Some(NamespaceRecord {
            uid: row.try_get("uid")?,
            ident: ns.clone(),
            properties: properties_from_json(&properties)?,
        }))
    }

    async fn list_namespaces(
        &self,
        env_uid: &str,
        parent_key: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<NamespaceIdent>> {
        let rows = sqlx::query(
            "SELECT name FROM namespaces WHERE env_uid = $1 AND parent = $2 AND name > $3 ORDER BY name LIMIT $4",
        )
        .bind(env_uid)
        .bind(parent_key)
        .bind(after.unwrap_or(""))
        .bind(limit_value(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(NamespaceIdent::from_key(&r.try_get::<String, _>("name")?)))
            .collect()
    }

    async fn set_namespace_properties(&self, ns_uid: &str, properties: &Properties) -> Result<()> {
        sqlx::query("UPDATE namespaces SET properties = $1 WHERE uid = $2")
            .bind(properties_to_json(properties))
            .bind(ns_uid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn drop_namespace(&self, env_uid: &str, ns: &NamespaceIdent) -> Result<DropOutcome> {
        // One statement decides emptiness and deletes, so a concurrent create cannot slip in
        // between a check and the delete.
        let deleted = sqlx::query(
            "DELETE FROM namespaces WHERE env_uid = $1 AND name = $2 \
             AND NOT EXISTS (SELECT 1 FROM catalog_objects o WHERE o.namespace_uid = namespaces.uid) \
             AND NOT EXISTS (SELECT 1 FROM namespaces c WHERE c.env_uid = $1 AND c.parent = $2)",
        )
        .bind(env_uid)
        .bind(ns.key())
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 1 {
            return Ok(DropOutcome::Dropped);
        }
        Ok(match self.namespace(env_uid, ns).await? {
            Some(_) => DropOutcome::NotEmpty,
            None => DropOutcome::Missing,
        })
    }

    async fn list_objects(
        &self,
        ns_uid: &str,
        kind: ObjectKind,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM catalog_objects WHERE namespace_uid = $1 AND kind = $2 AND name > $3 ORDER BY name LIMIT $4",
        )
        .bind(ns_uid)
        .bind(kind.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit_value(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    async fn object_pointer(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
        name: &str,
    ) -> Result<Option<ObjectPointer>> {
        let row = sqlx::query(
            "SELECT o.uid, o.kind, o.metadata_location FROM catalog_objects o \
             JOIN namespaces n ON n.uid = o.namespace_uid \
             WHERE n.env_uid = $1 AND n.name = $2 AND o.name = $3",
        )
        .bind(env_uid)
        .bind(ns.key())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let metadata_location: String = row.try_get("metadata_location")?;
        Ok(Some(ObjectPointer {
            uid: row.try_get("uid")?,
            kind: ObjectKind::parse(&row.try_get::<String, _>("kind")?),
            version: version_of(&metadata_location),
            metadata_location,
        }))
    }

    async fn object(&self, ns_uid: &str, name: &str) -> Result<Option<ObjectRecord>> {
        let row = sqlx::query(
            "SELECT uid, namespace_uid, name, kind, metadata_location, metadata, metadata_version, location \
             FROM catalog_objects WHERE namespace_uid = $1 AND name = $2",
        )
        .bind(ns_uid)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ObjectRecord {
            uid: row.try_get("uid")?,
            namespace_uid: row.try_get("namespace_uid")?,
            name: row.try_get("name")?,
            kind: ObjectKind::parse(&row.try_get::<String, _>("kind")?),
            metadata_location: row.try_get("metadata_location")?,
            metadata: row.try_get("metadata")?,
            version: row.try_get("metadata_version")?,
            location: row
                .try_get::<Option<String>, _>("location")?
                .unwrap_or_default(),
        }))
    }

    async fn insert_object(&self, env_uid: &str, object: &ObjectRecord) -> Result<bool> {
        let (_writing, mut tx) = self.write_transaction().await?;
        self.claim_location(&mut tx, env_uid, &object.location, None)
            .await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO catalog_objects (uid, namespace_uid, name, kind, metadata_location, metadata, metadata_version, created_at_ms, updated_at_ms, location) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
        )
        .bind(&object.uid)
        .bind(&object.namespace_uid)
        .bind(&object.name)
        .bind(object.kind.as_str())
        .bind(&object.metadata_location)
        .bind(&object.metadata)
        .bind(object.version)
        .bind(now)
        .bind(&object.location)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        record_event(
            &mut tx,
            env_uid,
            &object.uid,
            "created",
            &object.metadata_location,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn swap_metadata(&self, swaps: &[MetadataSwap]) -> Result<SwapOutcome> {
        let moves = swaps.iter().any(|s| s.new_object_location.is_some());
        let outcome = match (swaps, self.backend) {
            ([swap], Backend::Postgres) if !moves => self.swap_one_postgres(swap).await,
            _ => self.swap_in_transaction(swaps).await,
        };
        match outcome {
            Ok(SwapOutcome::Committed) => {
                let moves: Vec<(&str, &str)> = swaps
                    .iter()
                    .map(|s| (s.uid.as_str(), s.new_location.as_str()))
                    .collect();
                self.changes.announce_moves(&moves);
            }
            // Maybe committed: caches drop the object (a needless drop only costs a miss).
            Err(CatalogError::CommitStateUnknown(_)) => {
                let uids: Vec<&str> = swaps.iter().map(|s| s.uid.as_str()).collect();
                self.changes.announce(&uids);
            }
            _ => {}
        }
        outcome
    }

    fn watch_objects(&self, listener: Weak<dyn ObjectListener>) {
        self.changes.subscribe(listener)
    }

    fn is_single_process(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    async fn delete_object(
        &self,
        env_uid: &str,
        uid: &str,
        metadata_location: &str,
        purge: Option<&NewPurge>,
    ) -> Result<bool> {
        let (_writing, mut tx) = self.write_transaction().await?;
        let deleted =
            sqlx::query("DELETE FROM catalog_objects WHERE uid = $1 AND metadata_location = $2")
                .bind(uid)
                .bind(metadata_location)
                .execute(&mut *tx)
                .await?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(purge) = purge {
            Self::add_purge_task(&mut tx, env_uid, uid, purge, now_ms()).await?;
        }
        record_event(&mut tx, env_uid, uid, "dropped", "").await?;
        tx.commit().await?;
        self.changes.announce(&[uid]);
        Ok(true)
    }

    async fn location_conflict(
        &self,
        location: &str,
        exclude_uid: Option<&str>,
        pending_purges: bool,
    ) -> Result<Option<LocationConflict>> {
        self.location_conflict_row(location, exclude_uid, pending_purges)
            .await
    }

    async fn environment_by_uid(&self, uid: &str) -> Result<Option<Environment>> {
        self.environment_by_uid_row(uid).await
    }

    async fn claim_purge_task(&self, now_ms: i64, lease_ms: i64) -> Result<Option<PurgeTask>> {
        // SQLite: one writer; the claim queues with this process's other writes.
        let _writing = match &self.sqlite_writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        };
        self.claim_purge_task_row(now_ms, lease_ms).await
    }

    async fn finish_purge_task(&self, id: &str) -> Result<()> {
        self.finish_purge_task_row(id).await
    }

    async fn retry_purge_task(&self, id: &str, due_at_ms: i64, error: &str) -> Result<()> {
        self.retry_purge_task_row(id, due_at_ms, error).await
    }

    async fn rename_object(
        &self,
        env_uid: &str,
        uid: &str,
        ns_uid: &str,
        name: &str,
    ) -> Result<bool> {
        let (_writing, mut tx) = self.write_transaction().await?;
        let renamed = sqlx::query("UPDATE catalog_objects SET namespace_uid = $1, name = $2, updated_at_ms = $3 WHERE uid = $4")
            .bind(ns_uid)
            .bind(name)
            .bind(now_ms())
            .bind(uid)
            .execute(&mut *tx)
            .await;
        match renamed {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => return Ok(false),
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        record_event(&mut tx, env_uid, uid, "renamed", "").await?;
        tx.commit().await?;
        self.changes.announce(&[uid]);
        Ok(true)
    }
}

impl SqlStore {
    /// Every pointer move in one explicit transaction (multi-table commits, and SQLite).
    async fn swap_in_transaction(&self, swaps: &[MetadataSwap]) -> Result<SwapOutcome> {
        let (_writing, mut tx) = self.write_transaction().await?;
        // A move takes its environment's location lock before any row lock, as creates do.
        if let Some(swap) = swaps.iter().find(|s| s.new_object_location.is_some()) {
            self.lock_locations(&mut tx, &swap.env_uid).await?;
        }
        let now = now_ms();
        for swap in swaps {
            // The compare-and-swap: only moves the pointer the commit was computed from. A
            // moved object's location changes with it; other commits leave the indexed column be.
            let statement = match swap.new_object_location {
                None => "UPDATE catalog_objects SET metadata_location = $1, metadata = $2, metadata_version = $3, updated_at_ms = $4 \
                         WHERE uid = $5 AND metadata_location = $6",
                Some(_) => "UPDATE catalog_objects SET metadata_location = $1, metadata = $2, metadata_version = $3, updated_at_ms = $4, \
                            location = $7 WHERE uid = $5 AND metadata_location = $6",
            };
            let mut update = sqlx::query(statement)
                .bind(&swap.new_location)
                .bind(&swap.metadata)
                .bind(swap.version)
                .bind(now)
                .bind(&swap.uid)
                .bind(&swap.expected_location);
            if let Some(location) = &swap.new_object_location {
                update = update.bind(location);
            }
            let moved = update.execute(&mut *tx).await;
            let moved = match moved {
                Ok(moved) => moved,
                Err(e) if is_unique_violation(&e) => {
                    let location = swap.new_object_location.as_deref().unwrap_or_default();
                    return Err(CatalogError::BadRequest(format!(
                        "Location {location} is the location of another table or view"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            if moved.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(SwapOutcome::Conflict);
            }
            record_event(
                &mut tx,
                &swap.env_uid,
                &swap.uid,
                "committed",
                &swap.new_location,
            )
            .await?;
        }
        // Checked once every pointer moved, so objects that trade places in one transaction
        // are judged by where they end up.
        for swap in swaps {
            if let Some(location) = &swap.new_object_location {
                self.claim_location(&mut tx, &swap.env_uid, location, Some(&swap.uid))
                    .await?;
            }
        }
        tx.commit().await.map_err(|e| {
            CatalogError::CommitStateUnknown(format!(
                "the metadata store did not confirm the commit: {e}"
            ))
        })?;
        Ok(SwapOutcome::Committed)
    }

    /// A single table's commit on Postgres: the compare-and-swap and its outbox event in one
    /// statement, which Postgres runs as one transaction (one round trip instead of four).
    async fn swap_one_postgres(&self, swap: &MetadataSwap) -> Result<SwapOutcome> {
        let inserted = sqlx::query(
            "WITH moved AS (\
               UPDATE catalog_objects SET metadata_location = $1, metadata = $2, metadata_version = $3, updated_at_ms = $4 \
               WHERE uid = $5 AND metadata_location = $6 RETURNING uid) \
             INSERT INTO table_events (env_uid, object_uid, kind, metadata_location, created_at_ms) \
             SELECT $7, uid, 'committed', $1, $4 FROM moved",
        )
        .bind(&swap.new_location)
        .bind(&swap.metadata)
        .bind(swap.version)
        .bind(now_ms())
        .bind(&swap.uid)
        .bind(&swap.expected_location)
        .bind(&swap.env_uid)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => Ok(SwapOutcome::Committed),
            Ok(_) => Ok(SwapOutcome::Conflict),
            // Postgres answered with an error, or the statement was never sent: nothing changed.
            Err(
                e
                @ (sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed),
            ) => Err(e.into()),
            // The connection failed while the statement ran: it may have committed.
            Err(e) => Err(CatalogError::CommitStateUnknown(format!(
                "the metadata store did not confirm the commit: {e}"
            ))),
        }
    }
}

/// The outbox: every change to a table is recorded in the transaction that makes it, for
/// integrations (Glue sync, notifications) to consume.
async fn record_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    env_uid: &str,
    object_uid: &str,
    kind: &str,
    metadata_location: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO table_events (env_uid, object_uid, kind, metadata_location, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(env_uid)
    .bind(object_uid)
    .bind(kind)
    .bind(metadata_location)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use sqlx::Row;

    use super::*;

    async fn synchronous_of(store: &SqlStore) -> i64 {
        let row = sqlx::query("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        row.try_get(0).unwrap()
    }

    /// An acknowledged commit survives power loss only if SQLite synced it before answering:
    /// `synchronous = FULL` (2) on every connection of the pool, unless asked otherwise.
    #[tokio::test]
    async fn sqlite_syncs_every_commit_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("full.db").display());
        let full = SqlStore::connect(&url, 2).await.unwrap();
        assert_eq!(synchronous_of(&full).await, 2, "FULL");
        let url = format!("sqlite://{}", dir.path().join("normal.db").display());
        let normal = SqlStore::connect_with(&url, 2, SqliteSync::Normal)
            .await
            .unwrap();
        assert_eq!(synchronous_of(&normal).await, 1, "NORMAL");
    }
}
