//! Object storage for Frazil: where an environment keeps its tables, and the metadata files of
//! those tables, and Frazil's own AWS identity. Every object-store and AWS SDK call of the
//! project lives in this crate.

mod aws;
mod config;
mod location;
mod probe;
mod role;
pub mod signing;
mod warehouse;

pub use aws::{trust_principal, AwsIdentity};
pub use config::{S3Settings, StorageConfig};
pub use location::{metadata_file_name, table_location, version_of, Location};
pub use role::{
    session_name, session_policy, AssumeRoleError, CustomerRole, DataAccess,
    RoleCredentialProvider, RoleSessions, TableGrant, TemporaryCredentials,
    DEFAULT_SESSION_DURATION, REFRESH_BEFORE_EXPIRY,
};
pub use warehouse::Warehouse;

/// What can go wrong with storage. `NotFound` is kept apart because callers answer it with 404.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("file already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid location {location}: {reason}")]
    InvalidLocation { location: String, reason: String },
    #[error("cannot delete {location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },
    /// A storage location the server cannot use: `action` is the step that failed.
    #[error("cannot {action} {location}: {reason}")]
    Unusable {
        action: &'static str,
        location: String,
        reason: String,
    },
    /// The storage is reached through a customer role that could not be assumed.
    #[error(transparent)]
    Credentials(#[from] AssumeRoleError),
    #[error("storage error at {location}: {source}")]
    Backend {
        location: String,
        #[source]
        source: object_store::Error,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
