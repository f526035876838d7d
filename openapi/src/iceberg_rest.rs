//! Request and response bodies of the Iceberg REST catalog routes.

use std::collections::HashMap;

use iceberg::spec::{Schema, SortOrder, UnboundPartitionSpec, ViewVersion};
use iceberg::{TableRequirement, TableUpdate, ViewUpdate};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `GET /v1/config`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CatalogConfig {
    pub defaults: HashMap<String, String>,
    pub overrides: HashMap<String, String>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespaceRequest {
    pub namespace: Vec<String>,
    #[serde(default)]
    pub properties: Option<HashMap<String, String>>,
}

/// Answer of create and load namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamespaceResponse {
    pub namespace: Vec<String>,
    pub properties: HashMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListNamespacesResponse {
    pub namespaces: Vec<Vec<String>>,
    #[serde(rename = "next-page-token")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct UpdateNamespacePropertiesRequest {
    #[serde(default)]
    pub removals: Option<Vec<String>>,
    #[serde(default)]
    pub updates: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateNamespacePropertiesResponse {
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub missing: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableIdentifier {
    pub namespace: Vec<String>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTablesResponse {
    pub identifiers: Vec<TableIdentifier>,
    #[serde(rename = "next-page-token")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CreateTableRequest {
    pub name: String,
    #[serde(default)]
    pub location: Option<String>,
    pub schema: Schema,
    #[serde(default)]
    pub partition_spec: Option<UnboundPartitionSpec>,
    #[serde(default)]
    pub write_order: Option<SortOrder>,
    #[serde(default)]
    pub stage_create: Option<bool>,
    #[serde(default)]
    pub properties: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegisterTableRequest {
    pub name: String,
    pub metadata_location: String,
    #[serde(default)]
    pub overwrite: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RenameTableRequest {
    pub source: TableIdentifier,
    pub destination: TableIdentifier,
}

#[derive(Debug, Deserialize)]
pub struct CommitTableRequest {
    #[serde(default)]
    pub identifier: Option<TableIdentifier>,
    pub requirements: Vec<TableRequirement>,
    pub updates: Vec<TableUpdate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommitTransactionRequest {
    pub table_changes: Vec<CommitTableRequest>,
}

/// `LoadTableResult`: the metadata travels as the stored JSON text, never re-parsed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LoadTableResult<'a> {
    pub metadata_location: Option<&'a str>,
    pub metadata: &'a RawValue,
    pub config: HashMap<String, String>,
}

/// `CommitTableResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommitTableResponse<'a> {
    pub metadata_location: &'a str,
    pub metadata: &'a RawValue,
}

/// `ReportMetricsRequest`: accepted and validated for its discriminator only.
#[derive(Debug, Deserialize)]
pub struct ReportMetricsRequest {
    #[serde(rename = "report-type")]
    pub report_type: String,
}

/// `CreateViewRequest`: all four of name, schema, view-version and properties are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CreateViewRequest {
    pub name: String,
    #[serde(default)]
    pub location: Option<String>,
    pub schema: Schema,
    pub view_version: ViewVersion,
    pub properties: HashMap<String, String>,
}

/// `ViewRequirement`: the spec defines one.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ViewRequirement {
    AssertViewUuid { uuid: uuid::Uuid },
}

/// `CommitViewRequest` (replaceView).
#[derive(Debug, Deserialize)]
pub struct CommitViewRequest {
    #[serde(default)]
    pub identifier: Option<TableIdentifier>,
    #[serde(default)]
    pub requirements: Vec<ViewRequirement>,
    pub updates: Vec<ViewUpdate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegisterViewRequest {
    pub name: String,
    pub metadata_location: String,
}

/// `LoadViewResult`: the metadata travels as the stored JSON text.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LoadViewResult<'a> {
    pub metadata_location: &'a str,
    pub metadata: &'a RawValue,
    pub config: HashMap<String, String>,
}

/// `UnregisterTableResult`: the table's final metadata.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UnregisterTableResult<'a> {
    pub metadata_location: &'a str,
    pub metadata: &'a RawValue,
}

/// One storage prefix's client settings in `LoadCredentialsResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageCredential {
    pub prefix: String,
    pub config: HashMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadCredentialsResponse {
    #[serde(rename = "storage-credentials")]
    pub storage_credentials: Vec<StorageCredential>,
}
