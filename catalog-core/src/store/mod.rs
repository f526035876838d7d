//! The metadata store: where the catalog keeps environments, namespaces, tables and their current
//! metadata. One SQL implementation serves SQLite (the embedded default) and Postgres
//! (production); each has its own migrations.

mod changes;
mod idempotency_sql;
mod provider_sql;
mod purge_sql;
mod sql;
mod tenancy_sql;

use async_trait::async_trait;

pub use changes::ObjectListener;
pub use sql::{redact, Backend, SqlStore, SqliteSync};

use crate::model::{Environment, NamespaceIdent, NewEnvironment, Properties};
use crate::Result;

/// Tables and views share one name space per namespace; the kind tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Table,
    View,
}

impl ObjectKind {
    fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "view" {
            ObjectKind::View
        } else {
            ObjectKind::Table
        }
    }
}

#[derive(Debug, Clone)]
pub struct NamespaceRecord {
    pub uid: String,
    pub ident: NamespaceIdent,
    pub properties: Properties,
}

/// A table or view as stored: its current metadata file and that file's contents.
#[derive(Debug, Clone)]
pub struct ObjectRecord {
    pub uid: String,
    pub namespace_uid: String,
    pub name: String,
    pub kind: ObjectKind,
    pub metadata_location: String,
    pub metadata: String,
    /// The sequence number of the current metadata file (`{version:05}-...metadata.json`).
    pub version: i64,
    /// The table's or view's directory (its metadata's `location`, in `Location`'s spelling);
    /// no two objects' directories overlap. Empty only for a row from before the column that
    /// could not be filled (see `SqlStore::migrate`).
    pub location: String,
}

/// A table's or view's row without its metadata: which file is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPointer {
    pub uid: String,
    pub kind: ObjectKind,
    pub metadata_location: String,
    pub version: i64,
}

/// One table's pointer move in a commit: from `expected_location` to `new_location`.
#[derive(Debug, Clone)]
pub struct MetadataSwap {
    pub uid: String,
    pub env_uid: String,
    pub expected_location: String,
    pub new_location: String,
    pub metadata: String,
    pub version: i64,
    /// The object's new directory when the commit moves it (`set-location`), else `None`: only
    /// a move is checked against other objects' locations, so plain commits stay cheap.
    pub new_object_location: Option<String>,
}

/// Another table's or view's directory, or a pending purge, that a location would overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationConflict {
    pub location: String,
    pub env_uid: String,
    /// The files there belong to a dropped table and are waiting to be purged.
    pub pending_purge: bool,
}

impl LocationConflict {
    /// The 400 a create, register or move onto `location` gets. Another environment's object
    /// is not named (environments do not overlap unless configured before that rule).
    pub fn into_error(self, env_uid: &str, location: &str) -> crate::CatalogError {
        let message = if self.env_uid != env_uid {
            format!("Location {location} overlaps the storage of another environment")
        } else if self.pending_purge {
            format!(
                "Location {location} overlaps {}, whose files are waiting to be purged",
                self.location
            )
        } else {
            format!(
                "Location {location} overlaps the location {} of another table or view",
                self.location
            )
        };
        crate::CatalogError::BadRequest(message)
    }
}

/// A purge a drop asks for: the dropped table's directory, deleted from `due_at_ms` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPurge {
    pub location: String,
    pub due_at_ms: i64,
}

/// A purge task as a worker claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTask {
    pub id: String,
    pub env_uid: String,
    pub object_uid: String,
    pub location: String,
    /// Including this one.
    pub attempts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapOutcome {
    Committed,
    /// Another commit moved a pointer first; nothing was changed.
    Conflict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropOutcome {
    Dropped,
    NotEmpty,
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
}

/// An API key as stored: never its secret, only the secret's argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub org_id: Option<String>,
    pub env_id: Option<String>,
    pub role: String,
    pub description: String,
    pub secret_hash: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// A provider integration as stored: an environment's IAM role to assume, and its external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIntegrationRecord {
    pub env_uid: String,
    pub id: String,
    pub name: String,
    pub customer_role_arn: String,
    pub external_id: String,
    pub created_at_ms: i64,
}

/// A token signing key pair (Ed25519), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_key: String,
    pub public_key: String,
    pub created_at_ms: i64,
}

/// The final response of a request made with an Idempotency-Key, as replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub body: IdempotentBody,
}

/// What an idempotent response's body is rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentBody {
    /// Kept as it was sent: empty and small answers (errors, namespaces).
    Stored(String),
    /// An answer that carried a table's or view's metadata: only the metadata file's location
    /// is kept, and the answer is built again from that file on replay. `shape` is the server's
    /// own name for the form of the answer.
    Metadata { location: String, shape: String },
}

/// An Idempotency-Key's record: what request claimed it, and its response once finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// `None` while the request that claimed the key is still running.
    pub response: Option<IdempotentResponse>,
    pub created_at_ms: i64,
    /// Until when the claim of a running request holds: its replica renews it while the
    /// request's operation runs, so a claim past it was left by a replica that died.
    pub lease_until_ms: i64,
}

/// One claim of an Idempotency-Key: `claim_id` tells the holder's claim from a later one that
/// took over after its lease ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub claim_id: &'a str,
}

/// A check of a new or changed environment against every existing one, run by the store with
/// environment changes serialized.
pub type Placement<'a> = dyn Fn(&[Environment]) -> Result<()> + Send + Sync + 'a;

#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// Creates an organization; `false` when the id is taken.
    async fn create_organization(&self, id: &str, name: &str) -> Result<bool>;
    async fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>>;
    async fn list_organizations(&self) -> Result<Vec<OrganizationRecord>>;
    /// Deletes an organization without environments, and its organization-wide API keys.
    async fn delete_organization(&self, id: &str) -> Result<DropOutcome>;
    async fn list_environments(&self, org_id: &str) -> Result<Vec<Environment>>;
    /// Stores an environment's name and storage settings. `placement` sees every environment
    /// while no other environment can be created or changed, and may refuse the change.
    async fn update_environment(&self, env: &Environment, placement: &Placement<'_>) -> Result<()>;
    /// Deletes an environment without namespaces, and its API keys.
    async fn delete_environment(&self, env: &Environment) -> Result<DropOutcome>;

    /// Adds a provider integration; `false` when its environment has one with that id.
    async fn insert_provider_integration(&self, record: &ProviderIntegrationRecord)
        -> Result<bool>;
    async fn provider_integration(
        &self,
        env_uid: &str,
        id: &str,
    ) -> Result<Option<ProviderIntegrationRecord>>;
    /// An environment's provider integrations, by id.
    async fn list_provider_integrations(
        &self,
        env_uid: &str,
    ) -> Result<Vec<ProviderIntegrationRecord>>;
    /// Deletes a provider integration; `false` when it does not exist. `in_use` sees every
    /// environment while no environment can be changed (none can start using it meanwhile),
    /// and may refuse.
    async fn delete_provider_integration(
        &self,
        env_uid: &str,
        id: &str,
        in_use: &Placement<'_>,
    ) -> Result<bool>;

    /// Adds an API key; `false` when the id is taken.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<bool>;
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>>;
    /// The keys of exactly this scope (org `None`: server keys; env `None`: organization keys).
    async fn list_api_keys(
        &self,
        org_id: Option<&str>,
        env_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; `false` when it does not exist or already was.
    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool>;
    async fn touch_api_key(&self, id: &str, at_ms: i64) -> Result<()>;
    /// True when the server has an active server-wide administrator key.
    async fn has_server_admin(&self) -> Result<bool>;

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;
    /// Signing keys, newest first: the unretired ones, or all of them.
    async fn signing_keys(&self, include_retired: bool) -> Result<Vec<SigningKeyRecord>>;
    /// Replaces a signing key's stored private key (sealing one stored before sealing existed).
    async fn set_signing_key_private(&self, kid: &str, private_key: &str) -> Result<()>;
    /// Retires every key but `keep` that was created before `before_ms`.
    async fn retire_signing_keys(&self, keep: &str, before_ms: i64, at_ms: i64) -> Result<u64>;

    /// Claims a key for the request with this fingerprint, leased until `lease_until_ms`;
    /// `false` when it is taken.
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool>;
    /// Takes over the unfinished claim of a request with this fingerprint whose lease ran out
    /// before `at_ms` (its replica died); `false` when it is finished, still held, or gone.
    async fn take_over_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool>;
    /// Extends the holder's lease; `false` when the claim is no longer this one's.
    async fn renew_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        lease_until_ms: i64,
    ) -> Result<bool>;
    async fn idempotency_record(&self, scope: &str, key: &str)
        -> Result<Option<IdempotencyRecord>>;
    /// Records the final response of the holder's claim; `false` when the claim is no longer
    /// this one's.
    async fn finish_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
        response: &IdempotentResponse,
    ) -> Result<bool>;
    /// Forgets the holder's unfinished claim (its request failed with a 5xx): a retry runs again.
    async fn release_idempotency_key(&self, claim: &IdempotencyClaim<'_>) -> Result<()>;
    /// Forgets a record created before `before_ms` that no running request holds (finished, or
    /// its lease ran out before `now_ms`), so that its key can be claimed anew.
    async fn forget_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<()>;
    /// Deletes the records created before `before_ms` whose lease ran out before `now_ms`.
    async fn purge_idempotency_keys(&self, before_ms: i64, now_ms: i64) -> Result<u64>;
    /// Deletes the outbox's change events recorded before `before_ms`; returns how many.
    async fn prune_table_events(&self, before_ms: i64) -> Result<u64>;

    /// Creates the organization if it does not exist yet.
    async fn ensure_organization(&self, id: &str, name: &str) -> Result<()>;
    /// Creates an environment; `None` when the organization already has one with that id.
    /// `placement` sees every environment while no other environment can be created or
    /// changed, and may refuse the new one (two environments must not share storage).
    async fn create_environment(
        &self,
        env: &NewEnvironment,
        placement: &Placement<'_>,
    ) -> Result<Option<Environment>>;
    async fn environment(&self, org_id: &str, env_id: &str) -> Result<Option<Environment>>;
    /// Environments with this id, in any organization (a `warehouse` may name only the env).
    async fn environments_with_id(&self, env_id: &str) -> Result<Vec<Environment>>;

    /// Creates a namespace; `false` when it already exists.
    async fn create_namespace(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
        properties: &Properties,
    ) -> Result<bool>;
    async fn namespace(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
    ) -> Result<Option<NamespaceRecord>>;
    /// Direct children of `parent` ("" = top level) in name order, after the key `after`.
    async fn list_namespaces(
        &self,
        env_uid: &str,
        parent_key: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<NamespaceIdent>>;
    async fn set_namespace_properties(&self, ns_uid: &str, properties: &Properties) -> Result<()>;
    /// Drops a namespace only if it holds no table, view or child namespace.
    async fn drop_namespace(&self, env_uid: &str, ns: &NamespaceIdent) -> Result<DropOutcome>;

    /// Names of the tables (or views) of a namespace, in name order, after `after`.
    async fn list_objects(
        &self,
        ns_uid: &str,
        kind: ObjectKind,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>>;
    /// A table's or view's row without its metadata, in one small query: the hot path of
    /// loadTable and of commits, whose metadata is cached by location.
    async fn object_pointer(
        &self,
        env_uid: &str,
        ns: &NamespaceIdent,
        name: &str,
    ) -> Result<Option<ObjectPointer>>;
    /// The table or view with this name, whatever its kind.
    async fn object(&self, ns_uid: &str, name: &str) -> Result<Option<ObjectRecord>>;
    /// Adds a table or view; `false` when the name is taken.
    async fn insert_object(&self, env_uid: &str, object: &ObjectRecord) -> Result<bool>;
    /// Moves every pointer in one transaction, or none. An error while committing the
    /// transaction is `CommitStateUnknown`.
    async fn swap_metadata(&self, swaps: &[MetadataSwap]) -> Result<SwapOutcome>;
    /// Tells `listener` of every later change to a table or view (pointer moved, renamed,
    /// dropped) made by any replica, and whether every change is heard (`resynchronized`,
    /// at once if so already) or may go unheard (`deaf`).
    fn watch_objects(&self, listener: std::sync::Weak<dyn ObjectListener>);
    /// Whether every change to this store is made by this process (SQLite, the embedded
    /// store), so that what this process heard is all there is.
    fn is_single_process(&self) -> bool;
    /// Removes a table or view if it still points at `metadata_location`; `false` when it is
    /// gone or a commit moved it meanwhile. With `purge`, a purge task is added in the same
    /// transaction.
    async fn delete_object(
        &self,
        env_uid: &str,
        uid: &str,
        metadata_location: &str,
        purge: Option<&NewPurge>,
    ) -> Result<bool>;
    /// The first other object (not `exclude_uid`) whose location equals, contains or lies
    /// inside `location`, or with `pending_purges` a purge task's location that does; found
    /// through the location index. Inserts and moves check again inside their transaction.
    async fn location_conflict(
        &self,
        location: &str,
        exclude_uid: Option<&str>,
        pending_purges: bool,
    ) -> Result<Option<LocationConflict>>;
    /// The environment with this uid.
    async fn environment_by_uid(&self, uid: &str) -> Result<Option<Environment>>;
    /// Claims the purge task due first (at `now_ms` or before), moving it `lease_ms` ahead so
    /// no other worker takes it meanwhile; `None` when none is due.
    async fn claim_purge_task(&self, now_ms: i64, lease_ms: i64) -> Result<Option<PurgeTask>>;
    /// Removes a purge task: done, or abandoned.
    async fn finish_purge_task(&self, id: &str) -> Result<()>;
    /// Puts a failed purge task back, due again at `due_at_ms`.
    async fn retry_purge_task(&self, id: &str, due_at_ms: i64, error: &str) -> Result<()>;
    /// Moves a table or view to another namespace and/or name; `false` when the name is taken.
    async fn rename_object(
        &self,
        env_uid: &str,
        uid: &str,
        ns_uid: &str,
        name: &str,
    ) -> Result<bool>;
}
