//! The admin REST API (`/admin/v1`): organizations, environments, Kafka clusters, API keys and
//! provider integrations.
//! Every route needs an admin token whose scope covers the resource.

mod convert;
// `pub(crate)`: the OpenAPI documents (`crate::api_docs`) name the handlers.
pub(crate) mod keys;
pub(crate) mod providers;
pub(crate) mod tenancy;

use actix_web::web::{self, ServiceConfig};
use serde::Deserialize;

use frazil_catalog::{Access, Environment};

use crate::app::resource;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// The environment `{org}/{env}`, once the caller is known to administer it (a foreign or
/// missing one reads as missing).
async fn administered(
    state: &AppState,
    caller: &Caller,
    org: &str,
    env: &str,
) -> ApiResult<Environment> {
    caller.0.authorize(org, Some(env), Access::Admin)?;
    Ok(state.catalog.admin_environment(org, env).await?)
}

/// `{org}` of the organization routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// Organization id.
    org: String,
}

/// `{org}/{env}` of the environment routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnvPath {
    /// Organization id.
    org: String,
    /// Environment id.
    env: String,
}

pub fn configure(cfg: &mut ServiceConfig) {
    const ORG: &str = "/admin/v1/organizations/{org}";
    const ENV: &str = "/admin/v1/organizations/{org}/environments/{env}";
    // The `Caller` extractor reads the access a route needs from its resource.
    let admin = |path: &str| resource(path).app_data(Access::Admin);
    cfg.service(
        admin("/admin/v1/organizations")
            .route(web::post().to(tenancy::create_organization))
            .route(web::get().to(tenancy::list_organizations)),
    )
    .service(
        admin(ORG)
            .route(web::get().to(tenancy::get_organization))
            .route(web::delete().to(tenancy::delete_organization)),
    )
    .service(
        admin(&format!("{ORG}/environments"))
            .route(web::post().to(tenancy::create_environment))
            .route(web::get().to(tenancy::list_environments)),
    )
    .service(
        admin(ENV)
            .route(web::get().to(tenancy::get_environment))
            .route(web::patch().to(tenancy::update_environment))
            .route(web::delete().to(tenancy::delete_environment)),
    )
    .service(
        admin(&format!("{ENV}/clusters"))
            .route(web::post().to(tenancy::register_cluster))
            .route(web::get().to(tenancy::list_clusters)),
    )
    .service(
        admin(&format!("{ENV}/clusters/{{cluster}}"))
            .route(web::delete().to(tenancy::delete_cluster)),
    )
    .service(
        admin(&format!("{ENV}/api-keys"))
            .route(web::post().to(keys::create_environment_key))
            .route(web::get().to(keys::list_environment_keys)),
    )
    .service(
        admin(&format!("{ENV}/api-keys/{{key}}"))
            .route(web::delete().to(keys::revoke_environment_key)),
    )
    .service(
        admin(&format!("{ENV}/provider-integrations"))
            .route(web::post().to(providers::create_provider_integration))
            .route(web::get().to(providers::list_provider_integrations)),
    )
    .service(
        admin(&format!("{ENV}/provider-integrations/{{integration}}"))
            .route(web::get().to(providers::get_provider_integration))
            .route(web::delete().to(providers::delete_provider_integration)),
    )
    .service(
        admin(&format!("{ORG}/api-keys"))
            .route(web::post().to(keys::create_organization_key))
            .route(web::get().to(keys::list_organization_keys)),
    )
    .service(
        admin(&format!("{ORG}/api-keys/{{key}}"))
            .route(web::delete().to(keys::revoke_organization_key)),
    );
}
