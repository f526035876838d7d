//! Organizations, environments and clusters.

use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use frazil_catalog::{Access, CatalogError};
use frazil_openapi::admin as wire;
use serde::Deserialize;

use super::convert;
use super::{EnvPath, OrgPath};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ClusterPath {
    org: String,
    env: String,
    cluster: String,
}

fn server_admin_only(caller: &Caller) -> ApiResult<()> {
    if caller.0.is_server_admin() {
        Ok(())
    } else {
        Err(CatalogError::Forbidden("Only a server administrator key may do this".into()).into())
    }
}

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

pub async fn delete_organization(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<HttpResponse> {
    server_admin_only(&caller)?;
    state.catalog.delete_organization(&path.org).await?;
    Ok(HttpResponse::NoContent().finish())
}

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
            &path.org,
            body.id,
            body.name,
            convert::storage(body.storage),
        )
        .await?;
    Ok(HttpResponse::Created().json(convert::environment(env, &state.public_url)))
}

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

pub async fn get_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::Environment>> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    let env = state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
    Ok(Json(convert::environment(env, &state.public_url)))
}

pub async fn update_environment(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::UpdateEnvironmentRequest>,
) -> ApiResult<Json<wire::Environment>> {
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
        .update_environment(&path.org, &path.env, body.name, storage)
        .await?;
    Ok(Json(convert::environment(env, &state.public_url)))
}

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

pub async fn register_cluster(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::RegisterClusterRequest>,
) -> ApiResult<HttpResponse> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    let env = state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
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

pub async fn list_clusters(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::ClusterList>> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    let env = state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
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

pub async fn delete_cluster(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ClusterPath>,
) -> ApiResult<HttpResponse> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    let env = state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
    state
        .catalog
        .delete_cluster(&env, &path.cluster)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
