//! `GET /v1/config`: the first call of every client.

use std::collections::HashMap;

use actix_web::web::{Data, Json, Path, Query};
use frazil_openapi::iceberg_rest::CatalogConfig;
use serde::Deserialize;

use super::paths::CatalogPath;
use super::ENDPOINTS;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ConfigQuery {
    warehouse: Option<String>,
}

/// The Tableflow layout: the URI names the environment; any `warehouse` is ignored (DuckDB
/// sends its ATTACH path there).
pub async fn tableflow_config(
    state: Data<AppState>,
    path: Path<CatalogPath>,
) -> ApiResult<Json<CatalogConfig>> {
    state.environment(&path.org, &path.env).await?;
    Ok(Json(catalog_config(None)))
}

/// The warehouse layout: `warehouse` names the environment, answered with its `prefix`.
/// Without a `warehouse`, the default organization's default environment is used if it exists.
pub async fn warehouse_config(
    state: Data<AppState>,
    query: Query<ConfigQuery>,
) -> ApiResult<Json<CatalogConfig>> {
    let warehouse = query.warehouse.as_deref().filter(|w| !w.is_empty());
    let env = match warehouse {
        Some(w) => state.catalog.environment_for_warehouse(w).await?,
        None => state
            .catalog
            .environment("default", "default")
            .await
            .map_err(|_| {
                ApiError::bad_request(
                    "A warehouse is required: set warehouse to {organization}/{environment}",
                )
            })?,
    };
    Ok(Json(catalog_config(Some(format!(
        "{}/{}",
        env.org_id, env.id
    )))))
}

fn catalog_config(prefix: Option<String>) -> CatalogConfig {
    let mut overrides = HashMap::from([("namespace-separator".to_string(), "%1F".to_string())]);
    if let Some(prefix) = prefix {
        overrides.insert("prefix".to_string(), prefix);
    }
    CatalogConfig {
        defaults: HashMap::new(),
        overrides,
        endpoints: Some(ENDPOINTS.iter().map(|e| e.to_string()).collect()),
    }
}
