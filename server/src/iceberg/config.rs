//! `GET /v1/config`: the first call of every client. It lists every route the environment
//! serves, to every caller: clients refuse to call a route that is not listed, with a message
//! ("Server does not support endpoint") that would send a reader's user looking for a server
//! bug. A read-only key's write reaches the server instead, and its 403 says the key is
//! read-only.

use std::collections::HashMap;

use actix_web::web::{Data, Json, Path, Query};
use frazil_catalog::{Access, Environment};
use frazil_openapi::iceberg_rest::CatalogConfig;
use serde::Deserialize;

use super::paths::CatalogPath;
use super::Endpoint;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfigQuery {
    /// The environment, as `{organization}/{environment}` (or an environment id of the caller's
    /// organization). Without one: the token's own environment for an environment key, else
    /// `default/default`.
    warehouse: Option<String>,
}

/// The Tableflow layout: the URI names the environment; any `warehouse` is ignored (DuckDB
/// sends its ATTACH path there).
#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/config",
    operation_id = "getConfig",
    tag = "Configuration API",
    summary = "Get the catalog configuration",
    description = "The first call of every client. `overrides` sets `namespace-separator` \
        (`%1F`); `endpoints` lists every route the environment serves, whatever the token's role \
        (a reader's write is refused with 403 `ForbiddenException`); `idempotency-key-lifetime` says how long an `Idempotency-Key` is remembered. \
        Any `warehouse` query parameter is ignored: the path names the environment.",
    params(super::paths::CatalogPath),
    responses(
        (status = 200, description = "The catalog configuration", body = CatalogConfig),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "`NoSuchWarehouseException`: the environment does not exist, or the token may not see it (both read the same)", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn tableflow_config(
    state: Data<AppState>,
    caller: Caller,
    path: Path<CatalogPath>,
) -> ApiResult<Json<CatalogConfig>> {
    state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    Ok(Json(catalog_config(None)))
}

/// The warehouse layout: `warehouse` (`{org}/{env}`, or an environment id of the caller's
/// organization) names the environment, answered with its `prefix`. Without one: the caller's own environment for an
/// environment key, else `default/default`.
#[utoipa::path(
    get,
    path = "/iceberg/catalog/v1/config",
    operation_id = "getWarehouseConfig",
    tag = "Configuration API",
    summary = "Get the catalog configuration of a warehouse",
    description = "The first call of a client configured with the catalog URI \
        `/iceberg/catalog` and a `warehouse`. As getConfig, with the environment's `prefix` \
        (`{org}/{env}`) in `overrides`: the client then calls `/iceberg/catalog/v1/{prefix}/...`, \
        which serves the operations documented here under the Tableflow layout.",
    params(ConfigQuery),
    responses(
        (status = 200, description = "The catalog configuration, with `prefix` in `overrides`", body = CatalogConfig),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "`NoSuchWarehouseException`: the warehouse does not exist, or the token may not see it (both read the same)", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn warehouse_config(
    state: Data<AppState>,
    caller: Caller,
    query: Query<ConfigQuery>,
) -> ApiResult<Json<CatalogConfig>> {
    let env = resolve_warehouse(
        &state,
        &caller,
        query.warehouse.as_deref().filter(|w| !w.is_empty()),
    )
    .await?;
    Ok(Json(catalog_config(Some(format!(
        "{}/{}",
        env.org_id, env.id
    )))))
}

/// The named environment, or without a name the caller's own (else `default/default`). One the
/// caller may not read answers exactly as a missing one.
async fn resolve_warehouse(
    state: &AppState,
    caller: &Caller,
    warehouse: Option<&str>,
) -> ApiResult<Environment> {
    let principal = &caller.0;
    let named = match (warehouse, &principal.org_id, &principal.env_id) {
        (Some(w), _, _) => w.to_string(),
        (None, Some(org), Some(env)) => format!("{org}/{env}"),
        (None, _, _) => "default/default".to_string(),
    };
    state
        .catalog
        .environment_for_warehouse(&named, principal)
        .await
        .map_err(|e| match warehouse {
            Some(_) => ApiError::from(e),
            None => ApiError::bad_request(
                "A warehouse is required: set warehouse to {organization}/{environment}",
            ),
        })
}

fn catalog_config(prefix: Option<String>) -> CatalogConfig {
    let mut overrides = HashMap::from([("namespace-separator".to_string(), "%1F".to_string())]);
    if let Some(prefix) = prefix {
        overrides.insert("prefix".to_string(), prefix);
    }
    let endpoints = Endpoint::ALL.iter().map(|e| e.spec().to_string()).collect();
    CatalogConfig {
        defaults: HashMap::new(),
        overrides,
        endpoints: Some(endpoints),
        idempotency_key_lifetime: Some(crate::idempotency::LIFETIME_ISO8601.to_string()),
    }
}
