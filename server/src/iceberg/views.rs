//! View routes.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use frazil_catalog::{Access, CatalogError, CreateView, LoadedView, ViewChange};
use frazil_openapi::iceberg_rest::{
    CommitViewRequest, CreateViewRequest, ListTablesResponse, LoadViewResult, RegisterViewRequest,
    RenameTableRequest, ViewRequirement,
};

use super::paths::{self, CatalogPath, NamespacePath, PageQuery, ViewPath};
use super::tables::raw;
use crate::auth::Caller;
use crate::error::{ApiResult, Body};
use crate::state::AppState;

pub async fn list(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    query: Query<PageQuery>,
) -> ApiResult<Json<ListTablesResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let listed = state.catalog.list_views(&env, &ns, &query.page()).await?;
    Ok(Json(paths::identifiers(listed)))
}

pub async fn create(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    body: Body<CreateViewRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
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

pub async fn load(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ViewPath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.view)?;
    let view = state.catalog.load_view(&env, &ident).await?;
    view_response(&view)
}

pub async fn exists(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ViewPath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.view)?;
    Ok(match state.catalog.load_view(&env, &ident).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(CatalogError::NoSuchView(_)) => HttpResponse::NotFound().finish(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn replace(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ViewPath>,
    body: Body<CommitViewRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ident = paths::table(&path.namespace, &path.view)?;
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
    view_response(&view)
}

pub async fn drop(
    state: Data<AppState>,
    caller: Caller,
    path: Path<ViewPath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ident = paths::table(&path.namespace, &path.view)?;
    state.catalog.drop_view(&env, &ident).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn rename(
    state: Data<AppState>,
    caller: Caller,
    path: Path<CatalogPath>,
    body: Body<RenameTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let body = body?.into_inner();
    let from = paths::identifier(body.source.namespace, body.source.name)?;
    let to = paths::identifier(body.destination.namespace, body.destination.name)?;
    state.catalog.rename_view(&env, &from, &to).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn register(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    body: Body<RegisterViewRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let body = body?.into_inner();
    let view = state
        .catalog
        .register_view(&env, &ns, &body.name, &body.metadata_location)
        .await?;
    view_response(&view)
}

fn view_response(view: &LoadedView) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(LoadViewResult {
        metadata_location: &view.metadata_location,
        metadata: raw(&view.metadata)?,
        config: view.config.clone(),
    }))
}
