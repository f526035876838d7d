//! View routes.

use actix_web::web::{Data, Json, Query};
use actix_web::HttpResponse;
use frazil_catalog::{CatalogError, CreateView, LoadedView, ViewChange};
use frazil_openapi::iceberg_rest::{
    CommitViewRequest, CreateViewRequest, ListTablesResponse, LoadViewResult, RegisterViewRequest,
    RenameTableRequest, ViewRequirement,
};

use super::paths::{self, CatalogRef, NamespaceRef, PageQuery, ViewRef};
use super::reply::{self, Shape};
use super::tables::raw;
use crate::error::{ApiResult, Body};
use crate::state::AppState;

#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views",
    operation_id = "listViews",
    tag = "Views",
    summary = "List views",
    description = "Lists the views of a namespace, a page at a time: pass the answer's `next-page-token` as \
        `pageToken` to get the next page.",
    params(super::paths::NamespacePath, super::paths::PageQuery),
    responses(
        (status = 200, description = "A page of view identifiers", body = ListTablesResponse),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn list(
    state: Data<AppState>,
    namespace: NamespaceRef,
    query: Query<PageQuery>,
) -> ApiResult<Json<ListTablesResponse>> {
    let NamespaceRef { env, ns } = namespace;
    let listed = state.catalog.list_views(&env, &ns, &query.page()).await?;
    Ok(Json(paths::identifiers(listed)))
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views",
    operation_id = "createView",
    tag = "Views",
    summary = "Create a view",
    description = "Creates a view from its schema and first version, and writes its first metadata file.",
    params(super::paths::NamespacePath),
    request_body = CreateViewRequest,
    responses(
        (status = 200, description = "The view's metadata", body = LoadViewResult),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view of that name already exists", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn create(
    state: Data<AppState>,
    namespace: NamespaceRef,
    body: Body<CreateViewRequest>,
) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    let body = body?.into_inner();
    let request = CreateView {
        name: body.name,
        location: body.location,
        schema: body.schema,
        version: body.view_version,
        properties: body.properties,
    };
    let view = state.catalog.create_view(&env, &ns, request).await?;
    view_response(&view)
}

#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views/{view}",
    operation_id = "loadView",
    tag = "Views",
    summary = "Load a view",
    description = "Returns the view's current metadata and its metadata location.",
    params(super::paths::ViewPath),
    responses(
        (status = 200, description = "The view's metadata", body = LoadViewResult),
        (status = 404, description = "The environment, the namespace or the view does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn load(state: Data<AppState>, view: ViewRef) -> ApiResult<HttpResponse> {
    let ViewRef { env, ident } = view;
    let view = state.catalog.load_view(&env, &ident).await?;
    view_response(&view)
}

#[utoipa::path(
    head,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views/{view}",
    operation_id = "viewExists",
    tag = "Views",
    summary = "Check that a view exists",
    description = "Answers 204 if the view exists and 404 if not, without a body.",
    params(super::paths::ViewPath),
    responses(
        (status = 204, description = "The view exists"),
        (status = 400, description = "Malformed path"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not read this environment"),
        (status = 404, description = "The environment, the namespace or the view does not exist"),
        (status = 503, description = "The request timed out; retry"),
        (status = "5XX", description = "Server error"),
    ),
)]
pub async fn exists(state: Data<AppState>, view: ViewRef) -> ApiResult<HttpResponse> {
    let ViewRef { env, ident } = view;
    Ok(match state.catalog.load_view(&env, &ident).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(CatalogError::NoSuchView(_)) => HttpResponse::NotFound().finish(),
        Err(e) => return Err(e.into()),
    })
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views/{view}",
    operation_id = "replaceView",
    tag = "Views",
    summary = "Replace a view",
    description = "Checks the requirements (the view's UUID), applies the updates (typically a new version), \
        writes a new metadata file and swaps the view's pointer to it atomically.",
    params(super::paths::ViewPath, crate::api_docs::IdempotencyKey),
    request_body = CommitViewRequest,
    responses(
        (status = 200, description = "The new metadata", body = LoadViewResult),
        (status = 404, description = "The environment, the namespace or the view does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A requirement failed: the view changed since it was loaded (CommitFailedException)", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn replace(
    state: Data<AppState>,
    view: ViewRef,
    body: Body<CommitViewRequest>,
) -> ApiResult<HttpResponse> {
    let ViewRef { env, ident } = view;
    let body = body?.into_inner();
    let assert_uuids = body
        .requirements
        .iter()
        .map(|r| match r {
            ViewRequirement::AssertViewUuid { uuid } => *uuid,
        })
        .collect();
    let change = ViewChange {
        ident,
        assert_uuids,
        updates: body.updates,
    };
    let view = state.catalog.replace_view(&env, change).await?;
    committed_view_response(&view, Shape::VIEW_COMMITTED)
}

#[utoipa::path(
    delete,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/views/{view}",
    operation_id = "dropView",
    tag = "Views",
    summary = "Drop a view",
    description = "Removes the view from the catalog.",
    params(super::paths::ViewPath, crate::api_docs::IdempotencyKey),
    responses(
        (status = 204, description = "The view was dropped"),
        (status = 404, description = "The environment, the namespace or the view does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn drop(state: Data<AppState>, view: ViewRef) -> ApiResult<HttpResponse> {
    let ViewRef { env, ident } = view;
    state.catalog.drop_view(&env, &ident).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/views/rename",
    operation_id = "renameView",
    tag = "Views",
    summary = "Rename a view",
    description = "Moves a view to a new name, possibly in another namespace of the same environment.",
    params(super::paths::CatalogPath, crate::api_docs::IdempotencyKey),
    request_body = RenameTableRequest,
    responses(
        (status = 204, description = "The view was renamed"),
        (status = 404, description = "The environment, the source view or the destination namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view already has the destination name", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn rename(
    state: Data<AppState>,
    catalog: CatalogRef,
    body: Body<RenameTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = catalog.env;
    let body = body?.into_inner();
    let from = paths::identifier(body.source.namespace, body.source.name)?;
    let to = paths::identifier(body.destination.namespace, body.destination.name)?;
    state.catalog.rename_view(&env, &from, &to).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/register-view",
    operation_id = "registerView",
    tag = "Views",
    summary = "Register a view",
    description = "Adds a view to the catalog from an existing view metadata file.",
    params(super::paths::NamespacePath, crate::api_docs::IdempotencyKey),
    request_body = RegisterViewRequest,
    responses(
        (status = 200, description = "The view's metadata", body = LoadViewResult),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view of that name already exists", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn register(
    state: Data<AppState>,
    namespace: NamespaceRef,
    body: Body<RegisterViewRequest>,
) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    let body = body?.into_inner();
    let view = state
        .catalog
        .register_view(&env, &ns, &body.name, &body.metadata_location)
        .await?;
    committed_view_response(&view, Shape::VIEW_REGISTERED)
}

/// The answer of a change an Idempotency-Key retry replays, marked for its record.
fn committed_view_response(view: &LoadedView, shape: Shape) -> ApiResult<HttpResponse> {
    reply::respond(
        shape,
        &view.metadata_location,
        &view.metadata,
        &view.config,
        None,
    )
}

fn view_response(view: &LoadedView) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(LoadViewResult {
        metadata_location: &view.metadata_location,
        metadata: raw(&view.metadata)?,
        config: view.config.clone(),
    }))
}
