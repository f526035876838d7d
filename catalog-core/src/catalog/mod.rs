//! The catalog service: every operation the REST API offers, on one environment at a time.

mod api_keys;
mod commits;
mod locks;
mod metadata_cache;
mod namespaces;
mod pointer_cache;
mod provider_integrations;
mod purge;
mod remote_signing;
mod storage_access;
mod tables;
mod tenancy;
mod views;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use frazil_storage::{AwsIdentity, CustomerRole, Location, RoleSessions, StorageConfig, Warehouse};

pub use api_keys::{verify_secret, ApiKey, IssuedApiKey, NewApiKey};
pub use commits::TableChange;
pub use provider_integrations::{NewProviderIntegration, ProviderIntegration};
pub use purge::PurgeOutcome;
pub(crate) use storage_access::unavailable as storage_access_unavailable;
pub use storage_access::VendedCredentials;
pub use tables::{CreateTable, LoadedTable};
pub use tenancy::{check_id, Cluster, Organization};
pub use views::{CreateView, LoadedView, ViewChange};

pub(crate) use metadata_cache::RefTypes;

use crate::access::{Access, Principal};
use crate::model::{Environment, NewEnvironment, Page, PageRequest};
use crate::secrets::MasterKey;
use crate::storage_policy::{check_no_overlap, StoragePolicy};
use crate::store::{MetadataStore, ObjectListener};
use crate::{CatalogError, Result};

/// Listings without a `pageSize` return pages of this many entries.
const DEFAULT_PAGE_SIZE: usize = 1000;
const MAX_PAGE_SIZE: usize = 10_000;

/// How long a table's pointer is trusted at most when no change to it was heard (see
/// `pointer_cache.rs`): the bound on staleness should a replica die between commit and `NOTIFY`.
pub const DEFAULT_POINTER_TTL: Duration = Duration::from_secs(5);

/// How long an environment read from the store is reused. Environments change rarely (storage
/// settings); another replica's change is seen after at most this long, this replica's at once.
const ENVIRONMENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a provider integration's role is reused. Its record never changes and cannot be
/// deleted while an environment names it; an id deleted and created again elsewhere (another
/// replica) is seen after at most this long.
const CUSTOMER_ROLE_CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Catalog {
    store: Arc<dyn MetadataStore>,
    warehouses: Mutex<HashMap<String, Arc<Warehouse>>>,
    commit_locks: locks::TableLocks,
    /// Parsed table metadata by metadata location, for commits.
    metadata_cache: metadata_cache::MetadataCache,
    /// Tables' current metadata locations by name, for loads.
    pointers: Arc<pointer_cache::PointerCache>,
    /// `(org, env)` -> the environment: every catalog request names one.
    environments: moka::future::Cache<(String, String), Environment>,
    /// Seals the secrets the store keeps (signing keys); without it none can be stored or read.
    master_key: Option<MasterKey>,
    /// How drops hand their purges to the purge worker.
    purge: purge::PurgeQueue,
    /// Where environments may keep their tables (the server's `storage_roots`).
    storage_policy: StoragePolicy,
    /// Frazil's own AWS principal, shown with provider integrations (looked up on first use).
    aws_identity: Arc<AwsIdentity>,
    /// Assumes the roles of provider integrations; caches their credentials.
    role_sessions: Arc<RoleSessions>,
    /// `(env uid, integration id)` -> the integration's role (records never change).
    customer_roles: moka::future::Cache<(String, String), CustomerRole>,
}

impl Catalog {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self::with_pointer_ttl(store, DEFAULT_POINTER_TTL)
    }

    /// A catalog whose loads trust a table's cached pointer for at most `ttl` (zero: every load
    /// reads it from the store).
    pub fn with_pointer_ttl(store: Arc<dyn MetadataStore>, ttl: Duration) -> Self {
        let pointers = Arc::new(pointer_cache::PointerCache::new(ttl));
        let listener: Arc<dyn ObjectListener> = pointers.clone();
        store.watch_objects(Arc::downgrade(&listener));
        Self {
            store,
            warehouses: Mutex::default(),
            commit_locks: locks::TableLocks::default(),
            metadata_cache: metadata_cache::MetadataCache::default(),
            pointers,
            environments: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ENVIRONMENT_CACHE_TTL)
                .build(),
            master_key: None,
            purge: purge::PurgeQueue::default(),
            storage_policy: StoragePolicy::default(),
            aws_identity: Arc::default(),
            role_sessions: Arc::default(),
            customer_roles: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CUSTOMER_ROLE_CACHE_TTL)
                .build(),
        }
    }

    /// This catalog, assuming customer roles through `sessions` (their duration is that of
    /// vended credentials).
    pub fn with_role_sessions(mut self, sessions: Arc<RoleSessions>) -> Self {
        self.role_sessions = sessions;
        self
    }

    /// This catalog, sealing the secrets it stores with `master_key`.
    pub fn with_master_key(mut self, master_key: MasterKey) -> Self {
        self.master_key = Some(master_key);
        self
    }

    fn master_key(&self) -> Result<&MasterKey> {
        self.master_key.as_ref().ok_or_else(|| {
            CatalogError::Internal("no master key: the catalog cannot seal or open secrets".into())
        })
    }

    /// The same catalog with these storage rules (without, no environment can be created
    /// through the admin API: there is no root to put it under).
    pub fn with_storage_policy(mut self, policy: StoragePolicy) -> Self {
        self.storage_policy = policy;
        self
    }

    /// Whether this replica hears every change to tables now, so that loads are served from its
    /// cache of table pointers (Postgres: while it is LISTENing).
    pub fn hears_table_changes(&self) -> bool {
        self.pointers.is_hearing()
    }

    /// Deletes the outbox's change events older than `retention`; returns how many. Nothing
    /// reads the outbox yet (the Glue sync will), so events are kept for a fixed time.
    pub async fn prune_change_events(&self, retention: Duration) -> Result<u64> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let before_ms = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(retention_ms);
        self.store.prune_table_events(before_ms).await
    }

    /// Makes sure organization `org` has environment `env` (the embedded default's first start)
    /// at `{root}/{org}/{env}`. An environment left at `root` itself by an older version (it would
    /// overlap every other environment) moves there while it holds no namespace; one that holds
    /// tables stays, and the server warns.
    pub async fn ensure_environment(
        &self,
        org: &str,
        env: &str,
        root: StorageConfig,
    ) -> Result<Environment> {
        let root_location = Location::parse(&root.location)?;
        self.store.ensure_organization(org, org).await?;
        if let Some(existing) = self.store.environment(org, env).await? {
            return self.move_off_root(existing, &root_location).await;
        }
        let new = NewEnvironment {
            org_id: org.to_string(),
            id: env.to_string(),
            name: env.to_string(),
            storage: StorageConfig {
                location: root_location.join(org).join(env).to_string(),
                s3: root.s3,
                provider_integration: None,
            },
        };
        // The server's own configuration places it: no tenant chose this location.
        match self.store.create_environment(&new, &|_| Ok(())).await? {
            Some(created) => Ok(created),
            // Another replica created it at the same moment.
            None => self.environment(org, env).await,
        }
    }

    /// Moves an environment that sits at the storage root itself (as versions before
    /// `storage_roots` created the default one) to `{root}/{org}/{env}`, if it holds no namespace.
    async fn move_off_root(&self, env: Environment, root: &Location) -> Result<Environment> {
        if Location::parse(&env.storage.location).ok().as_ref() != Some(root) {
            return Ok(env);
        }
        let has_namespaces = !self
            .store
            .list_namespaces(&env.uid, "", None, Some(1))
            .await?
            .is_empty();
        if has_namespaces {
            tracing::warn!(
                location = %root,
                "environment {}/{} keeps its tables at the storage root itself, which overlaps \
                 every environment below it: list another root first in storage_roots for new \
                 environments (see docs/operations.md, Tenancy and storage)",
                env.org_id,
                env.id
            );
            return Ok(env);
        }
        let mut moved = env.clone();
        moved.storage.location = root.join(&env.org_id).join(&env.id).to_string();
        let placement = |others: &[Environment]| {
            check_no_overlap(&moved.storage.location, Some(&env.uid), others)
        };
        match self.store.update_environment(&moved, &placement).await {
            Ok(()) => {
                tracing::info!(location = %moved.storage.location, "moved the empty environment {}/{} off the storage root", env.org_id, env.id);
                Ok(moved)
            }
            Err(CatalogError::Conflict(reason)) => {
                tracing::warn!(
                    "environment {}/{} stays at the storage root: {reason}",
                    env.org_id,
                    env.id
                );
                Ok(env)
            }
            Err(e) => Err(e),
        }
    }

    /// The environment a catalog URI of the Tableflow layout names.
    pub async fn environment(&self, org: &str, env: &str) -> Result<Environment> {
        let key = (org.to_string(), env.to_string());
        if let Some(found) = self.environments.get(&key).await {
            return Ok(found);
        }
        let found = self
            .store
            .environment(org, env)
            .await?
            .ok_or_else(|| CatalogError::NoSuchWarehouse(format!("{org}/{env}")))?;
        self.environments.insert(key, found.clone()).await;
        Ok(found)
    }

    /// An authorization decision (of [`Principal::authorize`] or a caller's finer one), with
    /// the one rule it cannot apply alone: a role too low for an environment that does not
    /// exist is answered as the missing environment (404), since 403 is only for one the caller
    /// can use. An organization key whose token asked for a lower role would otherwise learn
    /// from 403 against 404 which environment ids exist.
    pub async fn forbidden_or_missing(
        &self,
        decided: Result<()>,
        org: &str,
        env: Option<&str>,
        access: Access,
    ) -> Result<()> {
        let (Err(CatalogError::Forbidden(_)), Some(env)) = (&decided, env) else {
            return decided;
        };
        match self.environment(org, env).await {
            Ok(_) => decided,
            Err(CatalogError::NoSuchWarehouse(_)) if access == Access::Admin => {
                Err(CatalogError::no_such_environment(org, env))
            }
            Err(e) => Err(e),
        }
    }

    /// Drops a cached environment after this replica changed or deleted it.
    pub(crate) async fn forget_environment(&self, org: &str, env: &str) {
        self.environments
            .invalidate(&(org.to_string(), env.to_string()))
            .await;
    }

    /// The environment a `warehouse` names for `principal`, once it may read there:
    /// `{org}/{env}`, or a bare environment id, looked up within the principal's organization
    /// (server-wide, where unique, for a server key). One it may not read answers exactly as a
    /// missing one: NoSuchWarehouse with the name as given, so other tenants' ids cannot be
    /// probed.
    pub async fn environment_for_warehouse(
        &self,
        warehouse: &str,
        principal: &Principal,
    ) -> Result<Environment> {
        let warehouse = warehouse.trim_matches('/');
        let as_given = |e: CatalogError| match e {
            CatalogError::NoSuchWarehouse(_) => CatalogError::NoSuchWarehouse(warehouse.into()),
            e => e,
        };
        let (org, env) = match (warehouse.split_once('/'), &principal.org_id) {
            (Some((org, env)), _) => (org.to_string(), env.to_string()),
            (None, Some(org)) => (org.clone(), warehouse.to_string()),
            (None, None) => {
                let mut found = self.store.environments_with_id(warehouse).await?;
                if found.len() != 1 {
                    return Err(CatalogError::NoSuchWarehouse(warehouse.into()));
                }
                let env = found.remove(0);
                (env.org_id, env.id)
            }
        };
        principal
            .authorize(&org, Some(&env), Access::Read)
            .map_err(as_given)?;
        self.environment(&org, &env).await.map_err(as_given)
    }

    /// The storage of an environment, opened once per process. Storage that names a provider
    /// integration is reached with the integration's role only.
    pub async fn warehouse(&self, env: &Environment) -> Result<Arc<Warehouse>> {
        if let Some(w) = self.cached_warehouse(env) {
            return Ok(w);
        }
        let warehouse = Arc::new(self.open_storage(env, &env.storage).await?);
        let mut warehouses = self.warehouses.lock().unwrap_or_else(|e| e.into_inner());
        warehouses.insert(env.uid.clone(), warehouse.clone());
        Ok(warehouse)
    }

    fn cached_warehouse(&self, env: &Environment) -> Option<Arc<Warehouse>> {
        let warehouses = self.warehouses.lock().unwrap_or_else(|e| e.into_inner());
        warehouses
            .get(&env.uid)
            .filter(|w| *w.config() == env.storage)
            .cloned()
    }

    /// `storage` of `env` (its own or one being set), with the role of the provider integration
    /// it names, if any.
    async fn open_storage(&self, env: &Environment, storage: &StorageConfig) -> Result<Warehouse> {
        let Some(id) = &storage.provider_integration else {
            return Ok(Warehouse::new(storage.clone())?);
        };
        let role = self.customer_role(env, id).await?;
        Ok(Warehouse::with_role(
            storage.clone(),
            self.role_sessions.clone(),
            role,
        )?)
    }
}

/// A listing's page bounds: `(after, limit)`; no token means everything at once.
fn page_bounds(page: &PageRequest) -> Result<(Option<String>, Option<usize>)> {
    let Some(token) = page.token.as_deref() else {
        return Ok((None, None));
    };
    let size = page
        .size
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    if token.is_empty() {
        return Ok((None, Some(size)));
    }
    let after = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| CatalogError::BadRequest(format!("Invalid page token: {token}")))?;
    Ok((Some(after), Some(size)))
}

/// Cuts the one-extra row a paged query fetched into a page and its next token.
fn into_page<T>(mut items: Vec<T>, limit: Option<usize>, key: impl Fn(&T) -> String) -> Page<T> {
    let next_token = match limit {
        Some(limit) if items.len() > limit => {
            items.truncate(limit);
            items.last().map(|last| URL_SAFE_NO_PAD.encode(key(last)))
        }
        _ => None,
    };
    Page { items, next_token }
}
