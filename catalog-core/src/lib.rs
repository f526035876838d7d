//! Frazil's domain: organizations, environments (one Iceberg catalog each), namespaces (Kafka
//! clusters), tables (topics), the commit engine and the metadata stores. Knows no HTTP.

pub mod access;
mod catalog;
mod commit;
mod error;
mod model;
mod not_found;
mod role_arn;
mod secrets;
mod storage_policy;
pub mod store;
mod view;

pub use access::{Access, Principal, Role};
pub use catalog::{
    check_id, verify_secret, ApiKey, Catalog, Cluster, CreateTable, CreateView, IssuedApiKey,
    LoadedTable, LoadedView, NewApiKey, NewProviderIntegration, Organization, ProviderIntegration,
    PurgeOutcome, TableChange, VendedCredentials, ViewChange,
};
pub use error::{CatalogError, Result};
pub use model::{
    Environment, NamespaceIdent, NewEnvironment, Page, PageRequest, PropertiesUpdate, TableIdent,
};
pub use role_arn::RoleArn;
pub use secrets::MasterKey;
pub use storage_policy::StoragePolicy;
