//! Wire types of Frazil's admin REST API (`/admin/v1`). Errors use the Iceberg error body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key's role (documents `role`, which is read case-insensitively).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit; generated
    /// when left out.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationList {
    pub organizations: Vec<Organization>,
}

/// S3 settings as sent by operators; the secret is write-only.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Request {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub path_style: Option<bool>,
    pub allow_http: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageRequest {
    /// The warehouse root: `s3://bucket/prefix` (or `s3a://`), `file:///path`, or an absolute
    /// local path (`/path`, kept as its `file://` URL). The server checks it can write, read
    /// back and delete a file there before it keeps the setting (400 naming the cause).
    #[schema(pattern = "^((s3a?|file)://|/)")]
    pub location: String,
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub s3: Option<S3Request>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironmentRequest {
    /// 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit; generated
    /// when left out.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub id: Option<String>,
    pub name: String,
    /// Where the environment keeps its tables. Leave it out to get `{root}/{org}/{env}` below
    /// the server's first storage root; only a server administrator may choose a location (below
    /// a configured root) or S3 settings.
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub storage: Option<StorageRequest>,
}

/// A partial update: fields left out keep their value; `s3` fields are merged one by one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageUpdate {
    /// The warehouse root: `s3://bucket/prefix` (or `s3a://`), `file:///path`, or an absolute
    /// local path (`/path`, kept as its `file://` URL). The server checks it can write, read
    /// back and delete a file there before it keeps the setting (400 naming the cause).
    #[schema(pattern = "^((s3a?|file)://|/)")]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub s3: Option<S3Request>,
    /// The id of one of the environment's provider integrations, for `s3://` storage; `null`
    /// removes it. Left out, it is kept.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    pub provider_integration: Option<Option<String>>,
}

/// `Some(None)` for an explicit `null`, so that an update can tell "remove" from "keep" (a
/// field left out stays `None` through `#[serde(default)]`).
fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironmentRequest {
    pub name: Option<String>,
    /// Only a server administrator may change storage (below a configured root), except storage
    /// naming one of the environment's provider integrations (any `s3://` bucket, no static keys).
    #[serde(default, deserialize_with = "crate::object::optional_object")]
    pub storage: Option<StorageUpdate>,
}

/// S3 settings as shown: never the secret, only whether one is set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct S3View {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key_set: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StorageView {
    pub location: String,
    pub s3: Option<S3View>,
    /// The environment's provider integration, if its storage names one.
    pub provider_integration: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Environment {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub storage: StorageView,
    /// The Tableflow-layout catalog URI of this environment.
    pub catalog_uri: String,
    /// The `warehouse` value for the warehouse-layout URI `{base}/iceberg/catalog`.
    pub warehouse: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<Environment>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterClusterRequest {
    /// The Kafka cluster id (e.g. `lkc-abc123`), which becomes the top-level namespace: 1 to 64
    /// letters, digits, `.`, `_` or `-`, starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(value_type = Role)]
    pub role: String,
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339 time after which the key stops working.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// The key id: the OAuth2 client id.
    pub key: String,
    pub org_id: Option<String>,
    pub env_id: Option<String>,
    #[schema(value_type = Role)]
    pub role: String,
    pub description: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key secret: the OAuth2 client secret.
    pub secret: String,
    #[serde(flatten)]
    pub details: ApiKey,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

/// The AWS side of a provider integration, as sent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsIntegrationRequest {
    /// The IAM role in the customer's account that Frazil assumes.
    #[schema(example = "arn:aws:iam::123456789012:role/frazil-access")]
    pub customer_role_arn: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderIntegrationRequest {
    /// 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit; generated
    /// (`pi-...`) when left out.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub id: Option<String>,
    pub name: String,
    pub aws: AwsIntegrationRequest,
}

/// The AWS side of a provider integration, as shown: what the customer's role must trust.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AwsIntegration {
    pub customer_role_arn: String,
    /// Generated by Frazil, stable for the integration's life: the role's trust policy requires
    /// it (condition `sts:ExternalId`).
    pub external_id: String,
    /// Frazil's own AWS principal, the `Principal` of the role's trust policy; null when the
    /// server has no AWS identity (no credentials, or STS did not answer).
    pub frazil_principal_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderIntegration {
    pub id: String,
    pub name: String,
    pub aws: AwsIntegration,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderIntegrationList {
    pub provider_integrations: Vec<ProviderIntegration>,
}
