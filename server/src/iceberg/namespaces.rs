//! Namespace routes.

use actix_web::web::{Data, Json, Query};
use actix_web::HttpResponse;
use frazil_catalog::{NamespaceIdent, PageRequest};
use frazil_openapi::iceberg_rest::{
    CreateNamespaceRequest, ListNamespacesResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};
use serde::Deserialize;

use super::paths::{self, CatalogRef, NamespaceRef};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The namespace to list under, its levels joined by 0x1F (`%1F`); none (or empty) for the
    /// top level.
    parent: Option<String>,
    /// The `next-page-token` of the previous page; none for the first page.
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    /// The most namespaces to return in one page.
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces",
    operation_id = "listNamespaces",
    tag = "Namespaces",
    summary = "List namespaces",
    description = "Lists the namespaces directly under `parent` (the top-level ones, i.e. the Kafka clusters, \
        without it), a page at a time: pass the answer's `next-page-token` as `pageToken` to get the \
        next page.",
    params(super::paths::CatalogPath, ListQuery),
    responses(
        (status = 200, description = "A page of namespaces", body = ListNamespacesResponse),
        (status = 404, description = "The environment or the `parent` namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn list(
    state: Data<AppState>,
    catalog: CatalogRef,
    query: Query<ListQuery>,
) -> ApiResult<Json<ListNamespacesResponse>> {
    let env = catalog.env;
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

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces",
    operation_id = "createNamespace",
    tag = "Namespaces",
    summary = "Create a namespace",
    description = "Creates a namespace with the given properties; its parent namespaces need not exist.",
    params(super::paths::CatalogPath, crate::api_docs::IdempotencyKey),
    request_body = CreateNamespaceRequest,
    responses(
        (status = 200, description = "The namespace as created, with its properties", body = NamespaceResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The namespace already exists", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn create(
    state: Data<AppState>,
    catalog: CatalogRef,
    body: crate::error::Body<CreateNamespaceRequest>,
) -> ApiResult<Json<NamespaceResponse>> {
    let env = catalog.env;
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

#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}",
    operation_id = "loadNamespaceMetadata",
    tag = "Namespaces",
    summary = "Load a namespace",
    description = "Returns the namespace's properties.",
    params(super::paths::NamespacePath),
    responses(
        (status = 200, description = "The namespace and its properties", body = NamespaceResponse),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn load(
    state: Data<AppState>,
    namespace: NamespaceRef,
) -> ApiResult<Json<NamespaceResponse>> {
    let NamespaceRef { env, ns } = namespace;
    let properties = state.catalog.load_namespace(&env, &ns).await?;
    Ok(Json(NamespaceResponse {
        namespace: ns.levels().to_vec(),
        properties,
    }))
}

#[utoipa::path(
    head,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}",
    operation_id = "namespaceExists",
    tag = "Namespaces",
    summary = "Check that a namespace exists",
    description = "Answers 204 if the namespace exists and 404 if not, without a body.",
    params(super::paths::NamespacePath),
    responses(
        (status = 204, description = "The namespace exists"),
        (status = 400, description = "Malformed path"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not read this environment"),
        (status = 404, description = "The environment or the namespace does not exist"),
        (status = 503, description = "The request timed out; retry"),
        (status = "5XX", description = "Server error"),
    ),
)]
pub async fn exists(state: Data<AppState>, namespace: NamespaceRef) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    Ok(match state.catalog.load_namespace(&env, &ns).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(frazil_catalog::CatalogError::NoSuchNamespace(_)) => HttpResponse::NotFound().finish(),
        Err(e) => return Err(e.into()),
    })
}

#[utoipa::path(
    delete,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}",
    operation_id = "dropNamespace",
    tag = "Namespaces",
    summary = "Drop a namespace",
    description = "Drops the namespace, which must hold no table, view or namespace.",
    params(super::paths::NamespacePath, crate::api_docs::IdempotencyKey),
    responses(
        (status = 204, description = "The namespace was dropped"),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The namespace is not empty (NamespaceNotEmptyException)", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn drop(state: Data<AppState>, namespace: NamespaceRef) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    state.catalog.drop_namespace(&env, &ns).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/properties",
    operation_id = "updateProperties",
    tag = "Namespaces",
    summary = "Set or remove namespace properties",
    description = "Removes the `removals` keys and sets the `updates` ones, and says which were updated, \
        removed, or asked to be removed but missing.",
    params(super::paths::NamespacePath, crate::api_docs::IdempotencyKey),
    request_body = UpdateNamespacePropertiesRequest,
    responses(
        (status = 200, description = "What changed", body = UpdateNamespacePropertiesResponse),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 422, description = "A key is both removed and updated, or the `Idempotency-Key` was used for a different request", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn update_properties(
    state: Data<AppState>,
    namespace: NamespaceRef,
    body: crate::error::Body<UpdateNamespacePropertiesRequest>,
) -> ApiResult<Json<UpdateNamespacePropertiesResponse>> {
    let NamespaceRef { env, ns } = namespace;
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
