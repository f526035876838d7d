//! What every handler shares.

use std::sync::Arc;

use frazil_catalog::store::SqlStore;
use frazil_catalog::Catalog;

#[derive(Debug, Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: SqlStore,
}
