//! Organizations, environments and clusters.

use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use frazil_catalog::{Access, CatalogError};
use frazil_openapi::admin as wire;
use serde::Deserialize;

use super::convert;
use super::{administered, EnvPath, OrgPath};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClusterPath {
    /// Organization id.
    org: String,
    /// Environment id.
    env: String,
    /// Kafka cluster id.
    cluster: String,
}

fn server_admin_only(caller: &Caller) -> ApiResult<()> {
    if caller.0.is_server_admin() {
        Ok(())
    } else {
        Err(CatalogError::Forbidden("Only a server administrator key may do this".into()).into())
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations",
    operation_id = "createOrganization",
    tag = "Organizations",
    summary = "Create an organization",
    description = "Creates an organization (a tenant). Only a server administrator key may. Without `id`, one \
        is generated.",
    request_body = wire::CreateOrganizationRequest,
    responses(
        (status = 201, description = "The organization", body = wire::Organization),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 409, description = "An organization with that id already exists", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn create_organization(
    state: Data<AppState>,
    caller: Caller,
    body: crate::error::Body<wire::CreateOrganizationRequest>,
) -> ApiResult<HttpResponse> {
    server_admin_only(&caller)?;
    let body = body?.into_inner();
    let org = state
        .catalog
        .create_organization(body.id, body.name)
        .await?;
    Ok(HttpResponse::Created().json(convert::organization(org)))
}

/// A server administrator sees every organization; an organization's admin sees its own.
#[utoipa::path(
    get,
    path = "/admin/v1/organizations",
    operation_id = "listOrganizations",
    tag = "Organizations",
    summary = "List organizations",
    description = "A server administrator sees every organization; an organization's admin key sees its own.",
    responses(
        (status = 200, description = "The organizations", body = wire::OrganizationList),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_organizations(
    state: Data<AppState>,
    caller: Caller,
) -> ApiResult<Json<wire::OrganizationList>> {
    let organizations = match (&caller.0.org_id, caller.0.is_server_admin()) {
        (None, true) => state.catalog.organizations().await?,
        (Some(org), _) => {
            caller.0.authorize(org, None, Access::Admin)?;
            vec![state.catalog.organization(org).await?]
        }
        (None, false) => return Err(CatalogError::Forbidden("Admin role required".into()).into()),
    };
    Ok(Json(wire::OrganizationList {
        organizations: organizations
            .into_iter()
            .map(convert::organization)
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}",
    operation_id = "getOrganization",
    tag = "Organizations",
    summary = "Get an organization",
    description = "Returns the organization.",
    params(super::OrgPath),
    responses(
        (status = 200, description = "The organization", body = wire::Organization),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn get_organization(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<Json<wire::Organization>> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    Ok(Json(convert::organization(
        state.catalog.organization(&path.org).await?,
    )))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}",
    operation_id = "deleteOrganization",
    tag = "Organizations",
    summary = "Delete an organization",
    description = "Deletes an organization that holds no environment. Only a server administrator key may.",
    params(super::OrgPath),
    responses(
        (status = 204, description = "The organization was deleted"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The organization still has environments", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn delete_organization(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<HttpResponse> {
    server_admin_only(&caller)?;
    state.catalog.delete_organization(&path.org).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations/{org}/environments",
    operation_id = "createEnvironment",
    tag = "Environments",
    summary = "Create an environment",
    description = "Creates an environment (a catalog) in the organization. Without `storage` it lives at \
        `{root}/{org}/{env}` below the server's first storage root; only a server administrator may \
        choose `storage` (403 otherwise), and only below a configured root (403 naming \
        `storage_roots`). Its location may not overlap another environment's or hold the server's \
        own files (409), and the server must be able to write, read back and delete a file there \
        (400 naming the cause). Without `id`, one is generated. The answer gives its catalog URI and warehouse.",
    params(super::OrgPath),
    request_body = wire::CreateEnvironmentRequest,
    responses(
        (status = 201, description = "The environment", body = wire::Environment),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "An environment with that id already exists, or its location overlaps another environment's or the server's own files", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn create_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
    body: crate::error::Body<wire::CreateEnvironmentRequest>,
) -> ApiResult<HttpResponse> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    let body = body?.into_inner();
    let env = state
        .catalog
        .create_environment(
            &caller.0,
            &path.org,
            body.id,
            body.name,
            body.storage.map(convert::storage),
        )
        .await?;
    Ok(HttpResponse::Created().json(convert::environment(env, &state.public_url)))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments",
    operation_id = "listEnvironments",
    tag = "Environments",
    summary = "List environments",
    description = "Lists the organization's environments.",
    params(super::OrgPath),
    responses(
        (status = 200, description = "The environments", body = wire::EnvironmentList),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_environments(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<Json<wire::EnvironmentList>> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    let envs = state.catalog.environments(&path.org).await?;
    Ok(Json(wire::EnvironmentList {
        environments: envs
            .into_iter()
            .map(|e| convert::environment(e, &state.public_url))
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments/{env}",
    operation_id = "getEnvironment",
    tag = "Environments",
    summary = "Get an environment",
    description = "Returns the environment, its storage settings (never the S3 secret) and catalog URI.",
    params(super::EnvPath),
    responses(
        (status = 200, description = "The environment", body = wire::Environment),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn get_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::Environment>> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    Ok(Json(convert::environment(env, &state.public_url)))
}

#[utoipa::path(
    patch,
    path = "/admin/v1/organizations/{org}/environments/{env}",
    operation_id = "updateEnvironment",
    tag = "Environments",
    summary = "Update an environment",
    description = "Renames the environment or changes its storage settings; fields left out keep their value, \
        and `s3` fields are merged one by one. Only a server administrator may change storage, below \
        a configured root, except storage that names one of the environment's provider integrations: \
        reached with the customer's role, it may be in any `s3://` bucket for the environment's \
        admins too, holds no static keys (naming the integration drops them; keys given with it \
        are 400), and only a server administrator may give it a new endpoint or plain HTTP (403). \
        The location may move only while the environment holds no namespace, \
        and not onto another environment's storage or the server's own files (409); the server \
        must be able to write, read back and delete a file at the new storage (400 naming the cause). \
        `storage.provider_integration` names one of the environment's provider integrations for \
        `s3://` storage (400 naming the field otherwise); `null` removes it.",
    params(super::EnvPath),
    request_body = wire::UpdateEnvironmentRequest,
    responses(
        (status = 200, description = "The environment as updated", body = wire::Environment),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The location cannot move: the environment holds tables, or the new location overlaps another environment's or the server's own files", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn update_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::UpdateEnvironmentRequest>,
) -> ApiResult<Json<wire::Environment>> {
    // Refused callers learn nothing from a malformed body: authorize before parsing it.
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    let body = body?.into_inner();
    let current = state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
    let storage = body
        .storage
        .map(|update| convert::storage_update(&current.storage, update));
    let env = state
        .catalog
        .update_environment(&caller.0, &path.org, &path.env, body.name, storage)
        .await?;
    Ok(Json(convert::environment(env, &state.public_url)))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}/environments/{env}",
    operation_id = "deleteEnvironment",
    tag = "Environments",
    summary = "Delete an environment",
    description = "Deletes an environment that has no cluster left. Needs an organization admin key.",
    params(super::EnvPath),
    responses(
        (status = 204, description = "The environment was deleted"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The environment still has clusters", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn delete_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<HttpResponse> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    state
        .catalog
        .delete_environment(&path.org, &path.env)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations/{org}/environments/{env}/clusters",
    operation_id = "registerCluster",
    tag = "Clusters",
    summary = "Register a Kafka cluster",
    description = "Registers a Kafka cluster in the environment: its id becomes a top-level namespace.",
    params(super::EnvPath),
    request_body = wire::RegisterClusterRequest,
    responses(
        (status = 201, description = "The cluster", body = wire::Cluster),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The cluster is already registered", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn register_cluster(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::RegisterClusterRequest>,
) -> ApiResult<HttpResponse> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    let body = body?.into_inner();
    let cluster = state
        .catalog
        .register_cluster(&env, &body.id, body.name)
        .await?;
    Ok(HttpResponse::Created().json(wire::Cluster {
        id: cluster.id,
        name: cluster.name,
    }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments/{env}/clusters",
    operation_id = "listClusters",
    tag = "Clusters",
    summary = "List Kafka clusters",
    description = "Lists the clusters registered in the environment.",
    params(super::EnvPath),
    responses(
        (status = 200, description = "The clusters", body = wire::ClusterList),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_clusters(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::ClusterList>> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    let clusters = state.catalog.clusters(&env).await?;
    Ok(Json(wire::ClusterList {
        clusters: clusters
            .into_iter()
            .map(|c| wire::Cluster {
                id: c.id,
                name: c.name,
            })
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}/environments/{env}/clusters/{cluster}",
    operation_id = "deleteCluster",
    tag = "Clusters",
    summary = "Delete a Kafka cluster",
    description = "Removes a cluster whose namespace holds no table or view.",
    params(ClusterPath),
    responses(
        (status = 204, description = "The cluster was deleted"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment or the cluster does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The cluster's namespace is not empty", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn delete_cluster(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ClusterPath>,
) -> ApiResult<HttpResponse> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    state
        .catalog
        .delete_cluster(&env, &path.cluster)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
