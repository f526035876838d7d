//! Domain errors. Each names what the client did or what failed; the server maps them to the
//! Iceberg error types clients dispatch on.

use crate::model::{NamespaceIdent, TableIdent};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    BadRequest(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller could not be authenticated (bad credentials, expired or revoked key).
    #[error("{0}")]
    Unauthorized(String),
    /// An admin resource (organization, environment, cluster, API key) does not exist.
    #[error("{0}")]
    NoSuchResource(String),
    /// An admin resource exists already, or cannot be removed while it holds others.
    #[error("{0}")]
    Conflict(String),
    #[error("Unable to find warehouse {0}")]
    NoSuchWarehouse(String),
    #[error("{}", crate::not_found::namespace(.0))]
    NoSuchNamespace(NamespaceIdent),
    #[error("Namespace already exists: {0}")]
    NamespaceExists(NamespaceIdent),
    #[error("Namespace {0} is not empty")]
    NamespaceNotEmpty(NamespaceIdent),
    #[error("{}", crate::not_found::object("Table", .0))]
    NoSuchTable(TableIdent),
    #[error("Table already exists: {0}")]
    TableExists(TableIdent),
    /// A table cannot take the name of a view.
    #[error("View with same name already exists: {0}")]
    ViewExists(TableIdent),
    #[error("{}", crate::not_found::object("View", .0))]
    NoSuchView(TableIdent),
    #[error("View already exists: {0}")]
    ViewAlreadyExists(TableIdent),
    /// A view cannot take the name of a table.
    #[error("Table with same name already exists: {0}")]
    TableNameTaken(TableIdent),
    /// A rename whose destination name is taken: `kind` is what holds it ("Table" or "View").
    #[error("Cannot rename {from} to {to}. {kind} already exists")]
    RenameTargetExists {
        from: TableIdent,
        to: TableIdent,
        kind: &'static str,
    },
    /// A file the catalog points at is not in storage.
    #[error("{0}")]
    NotFound(String),
    /// A requirement failed, or the commit lost too many races: the client may retry.
    #[error("{0}")]
    CommitFailed(String),
    /// Both key removal and update requested, and similar semantic conflicts.
    #[error("{0}")]
    Unprocessable(String),
    /// The metadata file was written but whether the store recorded it is unknown.
    #[error("Commit state is unknown: {0}")]
    CommitStateUnknown(String),
    /// A service the request needs (STS for a provider integration's role) failed or did not
    /// answer: the client may retry later. The message names what failed, never a secret.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

impl CatalogError {
    /// The admin API's answer for an organization that does not exist, or that the caller may
    /// not see (the two must read the same).
    pub fn no_such_organization(org: &str) -> Self {
        CatalogError::NoSuchResource(format!("Organization {org} does not exist"))
    }

    /// The admin API's answer for an environment that does not exist, or that the caller may
    /// not see.
    pub fn no_such_environment(org: &str, env: &str) -> Self {
        CatalogError::NoSuchResource(format!("Environment {org}/{env} does not exist"))
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Internal(format!("metadata store error: {e}"))
    }
}

impl From<frazil_storage::StorageError> for CatalogError {
    fn from(e: frazil_storage::StorageError) -> Self {
        match e {
            frazil_storage::StorageError::NotFound(location) => {
                CatalogError::NotFound(format!("Failed to open input stream for file: {location}"))
            }
            frazil_storage::StorageError::InvalidLocation { .. }
            | frazil_storage::StorageError::Unusable { .. } => {
                CatalogError::BadRequest(e.to_string())
            }
            frazil_storage::StorageError::Credentials(refused) => {
                crate::catalog::storage_access_unavailable(refused)
            }
            e => CatalogError::Internal(e.to_string()),
        }
    }
}
