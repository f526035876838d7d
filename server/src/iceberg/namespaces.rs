//! Namespace routes.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use frazil_catalog::{NamespaceIdent, PageRequest};
use frazil_openapi::iceberg_rest::{
    CreateNamespaceRequest, ListNamespacesResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};
use serde::Deserialize;

use super::paths::{self, CatalogPath, NamespacePath};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;
use frazil_catalog::Access;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    parent: Option<String>,
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

pub async fn list(
    state: Data<AppState>,
    caller: Caller,
    path: Path<CatalogPath>,
    query: Query<ListQuery>,
) -> ApiResult<Json<ListNamespacesResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    // An empty `parent` means none, for older clients.
    let parent = query
        .parent
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(paths::namespace)
        .transpose()?;
    let page = PageRequest {
        token: query.page_token.clone(),
        size: query.page_size,
    };
    let listed = state
        .catalog
        .list_namespaces(&env, parent.as_ref(), &page)
        .await?;
    Ok(Json(ListNamespacesResponse {
        namespaces: listed
            .items
            .into_iter()
            .map(|ns| ns.levels().to_vec())
            .collect(),
        next_page_token: listed.next_token,
    }))
}

pub async fn create(
    state: Data<AppState>,
    caller: Caller,
    path: Path<CatalogPath>,
    body: crate::error::Body<CreateNamespaceRequest>,
) -> ApiResult<Json<NamespaceResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let body = body?.into_inner();
    let ns = NamespaceIdent::new(body.namespace)?;
    let properties = state
        .catalog
        .create_namespace(&env, &ns, body.properties.unwrap_or_default())
        .await?;
    Ok(Json(NamespaceResponse {
        namespace: ns.levels().to_vec(),
        properties,
    }))
}

pub async fn load(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
) -> ApiResult<Json<NamespaceResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let properties = state.catalog.load_namespace(&env, &ns).await?;
    Ok(Json(NamespaceResponse {
        namespace: ns.levels().to_vec(),
        properties,
    }))
}

pub async fn exists(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    Ok(match state.catalog.load_namespace(&env, &ns).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(frazil_catalog::CatalogError::NoSuchNamespace(_)) => HttpResponse::NotFound().finish(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn drop(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    state.catalog.drop_namespace(&env, &ns).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn update_properties(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    body: crate::error::Body<UpdateNamespacePropertiesRequest>,
) -> ApiResult<Json<UpdateNamespacePropertiesResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let body = body?.into_inner();
    let result = state
        .catalog
        .update_namespace_properties(
            &env,
            &ns,
            body.removals.unwrap_or_default(),
            body.updates.unwrap_or_default(),
        )
        .await?;
    Ok(Json(UpdateNamespacePropertiesResponse {
        updated: result.updated,
        removed: result.removed,
        missing: Some(result.missing),
    }))
}
