//! Request and response bodies of the Iceberg REST catalog routes.

use std::collections::HashMap;

use iceberg::spec::{Schema, SortOrder, UnboundPartitionSpec, ViewVersion};
use iceberg::{TableRequirement, TableUpdate, ViewUpdate};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// `GET /v1/config`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, ToSchema)]
pub struct CatalogConfig {
    /// Properties a client applies before its own configuration.
    pub defaults: HashMap<String, String>,
    /// Properties that override the client's configuration (`prefix`, `namespace-separator`).
    pub overrides: HashMap<String, String>,
    /// The routes the caller may use, as `"METHOD /v1/{prefix}/..."`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
    /// Present when the server honours Idempotency-Key: how long it keeps a key (ISO 8601).
    #[serde(
        rename = "idempotency-key-lifetime",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub idempotency_key_lifetime: Option<String>,
}

/// `CreateNamespaceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespaceRequest {
    /// The namespace's levels, e.g. `["lkc-abc"]`.
    pub namespace: Vec<String>,
    #[serde(default)]
    pub properties: Option<HashMap<String, String>>,
}

/// Answer of create and load namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamespaceResponse {
    pub namespace: Vec<String>,
    pub properties: HashMap<String, String>,
}

/// `ListNamespacesResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListNamespacesResponse {
    pub namespaces: Vec<Vec<String>>,
    #[serde(rename = "next-page-token")]
    pub next_page_token: Option<String>,
}

/// `UpdateNamespacePropertiesRequest`: a key may not be both removed and updated.
#[derive(Debug, Clone, Serialize, Deserialize, Default, ToSchema)]
pub struct UpdateNamespacePropertiesRequest {
    #[serde(default)]
    pub removals: Option<Vec<String>>,
    #[serde(default)]
    pub updates: Option<HashMap<String, String>>,
}

/// `UpdateNamespacePropertiesResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateNamespacePropertiesResponse {
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub missing: Option<Vec<String>>,
}

/// `TableIdentifier`: a table's or view's namespace and name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct TableIdentifier {
    pub namespace: Vec<String>,
    pub name: String,
}

/// `ListTablesResponse` (also the answer of listViews).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListTablesResponse {
    pub identifiers: Vec<TableIdentifier>,
    #[serde(rename = "next-page-token")]
    pub next_page_token: Option<String>,
}

/// `CreateTableRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CreateTableRequest {
    pub name: String,
    #[serde(default)]
    pub location: Option<String>,
    /// Iceberg `Schema`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "crate::object::object")]
    pub schema: Schema,
    /// Iceberg `PartitionSpec` (field ids optional), as in the Iceberg REST spec.
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    #[schema(value_type = Option<Object>)]
    pub partition_spec: Option<UnboundPartitionSpec>,
    /// Iceberg `SortOrder`, as in the Iceberg REST spec.
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    #[schema(value_type = Option<Object>)]
    pub write_order: Option<SortOrder>,
    #[serde(default)]
    pub stage_create: Option<bool>,
    #[serde(default)]
    pub properties: Option<HashMap<String, String>>,
}

/// `RegisterTableRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegisterTableRequest {
    pub name: String,
    pub metadata_location: String,
    #[serde(default)]
    pub overwrite: Option<bool>,
}

/// `RenameTableRequest` (also the body of renameView).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RenameTableRequest {
    #[serde(deserialize_with = "crate::object::object")]
    pub source: TableIdentifier,
    #[serde(deserialize_with = "crate::object::object")]
    pub destination: TableIdentifier,
}

/// `CommitTableRequest`: requirements checked against the current metadata, then updates applied.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CommitTableRequest {
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub identifier: Option<TableIdentifier>,
    /// Iceberg `TableRequirement`s, as in the Iceberg REST spec.
    #[schema(value_type = Vec<Object>)]
    pub requirements: Vec<TableRequirement>,
    /// Iceberg `TableUpdate`s, as in the Iceberg REST spec.
    #[schema(value_type = Vec<Object>)]
    pub updates: Vec<TableUpdate>,
}

/// `CommitTransactionRequest`: every change names its table in `identifier`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CommitTransactionRequest {
    #[serde(deserialize_with = "crate::object::objects")]
    pub table_changes: Vec<CommitTableRequest>,
}

/// `LoadTableResult`: the metadata travels as the stored JSON text, never re-parsed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct LoadTableResult<'a> {
    /// Absent for a staged create, which has no metadata file yet.
    pub metadata_location: Option<&'a str>,
    /// Iceberg `TableMetadata`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    pub metadata: &'a RawValue,
    /// Client settings for the table's storage (e.g. `s3.endpoint`); with
    /// `X-Iceberg-Access-Delegation: vended-credentials`, also the vended credentials
    /// (`s3.access-key-id`, `s3.secret-access-key`, `s3.session-token`,
    /// `s3.session-token-expires-at-ms`).
    pub config: HashMap<String, String>,
    /// With `X-Iceberg-Access-Delegation: vended-credentials`, where the environment's storage has
    /// a provider integration: one entry for the table's location, with the credentials as in
    /// `config`. Absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_credentials: Vec<StorageCredential>,
}

/// `CommitTableResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CommitTableResponse<'a> {
    pub metadata_location: &'a str,
    /// Iceberg `TableMetadata`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    pub metadata: &'a RawValue,
}

/// `ReportMetricsRequest`: accepted and validated for its discriminator only.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReportMetricsRequest {
    /// `scan-report` or `commit-report`; the rest of the report is not read.
    #[serde(rename = "report-type")]
    pub report_type: String,
}

/// `CreateViewRequest`: all four of name, schema, view-version and properties are required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CreateViewRequest {
    pub name: String,
    #[serde(default)]
    pub location: Option<String>,
    /// Iceberg `Schema`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "crate::object::object")]
    pub schema: Schema,
    /// Iceberg `ViewVersion`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "crate::object::object")]
    pub view_version: ViewVersion,
    /// Required by the spec, but Iceberg Java leaves it out when a view has no properties.
    #[serde(default)]
    #[schema(required = true)]
    pub properties: HashMap<String, String>,
}

/// `ViewRequirement`: the spec defines one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ViewRequirement {
    /// The view's UUID must be this one.
    AssertViewUuid { uuid: uuid::Uuid },
}

/// `CommitViewRequest` (replaceView).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CommitViewRequest {
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub identifier: Option<TableIdentifier>,
    #[serde(default)]
    pub requirements: Vec<ViewRequirement>,
    /// Iceberg `ViewUpdate`s, as in the Iceberg REST spec.
    #[schema(value_type = Vec<Object>)]
    pub updates: Vec<ViewUpdate>,
}

/// `RegisterViewRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RegisterViewRequest {
    pub name: String,
    pub metadata_location: String,
}

/// `LoadViewResult`: the metadata travels as the stored JSON text.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct LoadViewResult<'a> {
    pub metadata_location: &'a str,
    /// Iceberg `ViewMetadata`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    pub metadata: &'a RawValue,
    pub config: HashMap<String, String>,
}

/// `UnregisterTableResult`: the table's final metadata.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct UnregisterTableResult<'a> {
    pub metadata_location: &'a str,
    /// Iceberg `TableMetadata`, as in the Iceberg REST spec.
    #[schema(value_type = Object)]
    pub metadata: &'a RawValue,
}

/// One storage prefix's client settings in `storage-credentials` (loadTable and
/// loadCredentials): clients use the entry with the longest prefix of a file's location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StorageCredential {
    pub prefix: String,
    pub config: HashMap<String, String>,
}

/// `LoadCredentialsResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoadCredentialsResponse {
    #[serde(rename = "storage-credentials")]
    pub storage_credentials: Vec<StorageCredential>,
}

/// `RemoteSignRequest`: an S3 request a remote-signing client is about to send.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemoteSignRequest {
    /// The region the client addresses (the signature's scope).
    pub region: String,
    /// The full request URI, encoded, with its query.
    pub uri: String,
    /// `GET`, `HEAD`, `PUT`, `POST` or `DELETE`.
    pub method: String,
    /// The request's headers, each with its values.
    pub headers: std::collections::BTreeMap<String, Vec<String>>,
    /// Passed through from the table's `remote-signing-config`; Frazil sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<HashMap<String, String>>,
    /// The body, for requests whose body says what they do (DeleteObjects' keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The storage provider; only `s3` (the default) is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// `RemoteSignResult`: the URI to send the request to and every header to send with it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemoteSignResult {
    pub uri: String,
    pub headers: std::collections::BTreeMap<String, Vec<String>>,
}
