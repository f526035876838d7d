//! What every handler shares.

use std::sync::Arc;

use frazil_catalog::store::SqlStore;
use frazil_catalog::Catalog;

use crate::auth::Authenticator;
use crate::iceberg::LoadCache;

#[derive(Debug, Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: SqlStore,
    pub auth: Arc<Authenticator>,
    /// The base URL clients reach this server at (for catalog URIs in admin answers).
    pub public_url: String,
    /// Serialized loadTable responses by metadata location and shape.
    pub load_cache: LoadCache,
    /// Longest a request may run before it is cut (503 for reads, 504 for writes).
    pub request_timeout: std::time::Duration,
}
