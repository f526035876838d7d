//! Table routes.

use actix_web::http::header::{self, EntityTag};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use frazil_catalog::{CreateTable, LoadedTable, PageRequest, TableChange};
use frazil_openapi::iceberg_rest::{
    CommitTableRequest, CommitTableResponse, CommitTransactionRequest, CreateTableRequest,
    ListTablesResponse, LoadTableResult, RegisterTableRequest, RenameTableRequest,
    ReportMetricsRequest, TableIdentifier,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::paths::{self, NamespacePath, TablePath};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use frazil_catalog::Access;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

pub async fn list(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    query: Query<ListQuery>,
) -> ApiResult<Json<ListTablesResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let page = PageRequest {
        token: query.page_token.clone(),
        size: query.page_size,
    };
    let listed = state.catalog.list_tables(&env, &ns, &page).await?;
    Ok(Json(ListTablesResponse {
        identifiers: listed
            .items
            .into_iter()
            .map(|t| TableIdentifier {
                namespace: t.namespace.levels().to_vec(),
                name: t.name,
            })
            .collect(),
        next_page_token: listed.next_token,
    }))
}

pub async fn create(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    body: crate::error::Body<CreateTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let body = body?.into_inner();
    let request = CreateTable {
        name: body.name,
        location: body.location,
        schema: body.schema,
        partition_spec: body.partition_spec,
        sort_order: body.write_order,
        properties: body.properties.unwrap_or_default(),
        stage_create: body.stage_create.unwrap_or(false),
    };
    let table = state.catalog.create_table(&env, &ns, request).await?;
    load_table_response(&table, Snapshots::All)
}

/// `snapshots=all` (default) returns every snapshot; `refs` only those a branch or tag names.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Snapshots {
    #[default]
    All,
    Refs,
}

#[derive(Debug, Deserialize)]
pub struct LoadQuery {
    #[serde(default)]
    snapshots: Snapshots,
}

pub async fn load(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
    query: Query<LoadQuery>,
    request: HttpRequest,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    let table = state.catalog.load_table(&env, &ident).await?;
    let tag = etag(&table, query.snapshots);
    if if_none_match(&request, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(tag))
            .finish());
    }
    load_table_response(&table, query.snapshots)
}

pub async fn exists(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    Ok(match state.catalog.load_table(&env, &ident).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(frazil_catalog::CatalogError::NoSuchTable(_)) => HttpResponse::NotFound().finish(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn commit(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
    body: crate::error::Body<CommitTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    let body = body?.into_inner();
    let change = TableChange {
        ident,
        requirements: body.requirements,
        updates: body.updates,
    };
    let table = state.catalog.commit_table(&env, change).await?;
    let location = table.metadata_location.as_deref().unwrap_or_default();
    let response = CommitTableResponse {
        metadata_location: location,
        metadata: raw(&table.metadata)?,
    };
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag(&table, Snapshots::All)))
        .json(response))
}

pub async fn commit_transaction(
    state: Data<AppState>,
    caller: Caller,
    path: Path<super::paths::CatalogPath>,
    body: crate::error::Body<CommitTransactionRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let mut changes = Vec::new();
    for change in body?.into_inner().table_changes {
        let identifier = change.identifier.ok_or_else(|| {
            ApiError::bad_request("Every table change of a transaction needs its identifier")
        })?;
        changes.push(TableChange {
            ident: paths::identifier(identifier.namespace, identifier.name)?,
            requirements: change.requirements,
            updates: change.updates,
        });
    }
    state.catalog.commit_transaction(&env, changes).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct DropQuery {
    #[serde(rename = "purgeRequested", default, deserialize_with = "lenient_bool")]
    purge_requested: bool,
}

/// `true`/`false` in any case: PyIceberg sends Python's `True`.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(serde::de::Error::custom(format!(
            "expected true or false, got {text:?}"
        ))),
    }
}

pub async fn drop(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
    query: Query<DropQuery>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    state
        .catalog
        .drop_table(&env, &ident, query.purge_requested)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn register(
    state: Data<AppState>,
    caller: Caller,
    path: Path<NamespacePath>,
    body: crate::error::Body<RegisterTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ns = paths::namespace(&path.namespace)?;
    let body = body?.into_inner();
    let table = state
        .catalog
        .register_table(
            &env,
            &ns,
            &body.name,
            &body.metadata_location,
            body.overwrite.unwrap_or(false),
        )
        .await?;
    load_table_response(&table, Snapshots::All)
}

pub async fn rename(
    state: Data<AppState>,
    caller: Caller,
    path: Path<super::paths::CatalogPath>,
    body: crate::error::Body<RenameTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let body = body?.into_inner();
    let from = paths::identifier(body.source.namespace, body.source.name)?;
    let to = paths::identifier(body.destination.namespace, body.destination.name)?;
    state.catalog.rename_table(&env, &from, &to).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Metrics reports are accepted for existing tables and dropped: Frazil does not store them yet.
pub async fn report_metrics(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
    body: crate::error::Body<ReportMetricsRequest>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    state.catalog.load_table(&env, &ident).await?;
    tracing::debug!(table = %ident, report_type = %body?.report_type, "metrics report received");
    Ok(HttpResponse::NoContent().finish())
}

fn load_table_response(table: &LoadedTable, snapshots: Snapshots) -> ApiResult<HttpResponse> {
    let filtered;
    let metadata = match snapshots {
        Snapshots::All => table.metadata.as_str(),
        Snapshots::Refs => {
            filtered = only_referenced_snapshots(&table.metadata)?;
            filtered.as_str()
        }
    };
    let body = LoadTableResult {
        metadata_location: table.metadata_location.as_deref(),
        metadata: raw(metadata)?,
        config: table.config.clone(),
    };
    let mut response = HttpResponse::Ok();
    if table.metadata_location.is_some() {
        response.insert_header(header::ETag(etag(table, snapshots)));
    }
    Ok(response.json(body))
}

/// Keeps only the snapshots a branch or tag points at; `snapshot-log` stays whole.
fn only_referenced_snapshots(metadata: &str) -> ApiResult<String> {
    let mut value: serde_json::Value = serde_json::from_str(metadata)
        .map_err(|e| ApiError::from(frazil_catalog::CatalogError::Internal(e.to_string())))?;
    let referenced: Vec<i64> = value["refs"]
        .as_object()
        .map(|refs| {
            refs.values()
                .filter_map(|r| r["snapshot-id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    if let Some(snapshots) = value.get_mut("snapshots").and_then(|s| s.as_array_mut()) {
        snapshots.retain(|s| {
            s["snapshot-id"]
                .as_i64()
                .is_some_and(|id| referenced.contains(&id))
        });
    }
    Ok(value.to_string())
}

fn raw(json: &str) -> ApiResult<&RawValue> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::from(frazil_catalog::CatalogError::Internal(e.to_string())))
}

/// A tag per (metadata file, response shape): a table's tag changes with every commit, and the
/// `all` and `refs` answers of one version differ.
fn etag(table: &LoadedTable, snapshots: Snapshots) -> EntityTag {
    let shape = match snapshots {
        Snapshots::All => "all",
        Snapshots::Refs => "refs",
    };
    let key = format!(
        "{}\n{shape}",
        table.metadata_location.as_deref().unwrap_or_default()
    );
    EntityTag::new_strong(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes())
            .simple()
            .to_string(),
    )
}

fn if_none_match(request: &HttpRequest, tag: &EntityTag) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == tag.to_string()
        })
}
