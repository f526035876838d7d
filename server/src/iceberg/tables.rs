//! Table routes.

use actix_web::http::header::{self, EntityTag};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use frazil_catalog::{CreateTable, LoadedTable, TableChange};
use frazil_openapi::iceberg_rest::{
    CommitTableRequest, CommitTableResponse, CommitTransactionRequest, CreateTableRequest,
    ListTablesResponse, LoadCredentialsResponse, LoadTableResult, RegisterTableRequest,
    RenameTableRequest, ReportMetricsRequest, UnregisterTableResult,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::paths::{self, NamespacePath, PageQuery, TablePath};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use frazil_catalog::Access;

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
    let listed = state.catalog.list_tables(&env, &ns, &query.page()).await?;
    Ok(Json(paths::identifiers(listed)))
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
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, Hash)]
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

/// The hot path: one small query for the table's metadata location, then the ETag (304) or the
/// cached response for that location; the metadata is read and serialized only on a miss.
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
    let shape = query.snapshots;
    let location = state.catalog.table_metadata_location(&env, &ident).await?;
    let tag = etag(&location, shape);
    if if_none_match(&request, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(tag))
            .finish());
    }
    let config = env.storage.client_config().into_iter().collect();
    if let Some(body) = state.load_cache.get(&location, shape, &config).await {
        return Ok(json_response(body, Some(tag)));
    }
    let table = state.catalog.load_table(&env, &ident).await?;
    let body = load_table_body(&table, shape)?;
    let tag = table.metadata_location.as_deref().map(|l| etag(l, shape));
    if let Some(location) = table.metadata_location {
        let cache = &state.load_cache;
        cache
            .insert(location, shape, table.config, body.clone())
            .await;
    }
    Ok(json_response(body, tag))
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
        .insert_header(header::ETag(etag(location, Snapshots::All)))
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

/// Removes the table from the catalog, keeping its files, and returns its final metadata.
pub async fn unregister(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
) -> ApiResult<HttpResponse> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Write)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    let table = state.catalog.unregister_table(&env, &ident).await?;
    Ok(HttpResponse::Ok().json(UnregisterTableResult {
        metadata_location: table.metadata_location.as_deref().unwrap_or_default(),
        metadata: raw(&table.metadata)?,
    }))
}

/// Frazil does not vend storage credentials yet: engines use their own, and the table's
/// `config` carries the storage endpoint settings. The list is therefore empty.
pub async fn credentials(
    state: Data<AppState>,
    caller: Caller,
    path: Path<TablePath>,
) -> ApiResult<Json<LoadCredentialsResponse>> {
    let env = state
        .environment(&caller, &path.org, &path.env, Access::Read)
        .await?;
    let ident = paths::table(&path.namespace, &path.table)?;
    state.catalog.load_table(&env, &ident).await?;
    Ok(Json(LoadCredentialsResponse {
        storage_credentials: Vec::new(),
    }))
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
    let body = load_table_body(table, snapshots)?;
    let tag = table
        .metadata_location
        .as_deref()
        .map(|l| etag(l, snapshots));
    Ok(json_response(body, tag))
}

/// The serialized `LoadTableResult` of `table` in the `snapshots` shape.
fn load_table_body(table: &LoadedTable, snapshots: Snapshots) -> ApiResult<Bytes> {
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
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| ApiError::from(frazil_catalog::CatalogError::Internal(e.to_string())))
}

fn json_response(body: Bytes, tag: Option<EntityTag>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type(actix_web::http::header::ContentType::json());
    if let Some(tag) = tag {
        response.insert_header(header::ETag(tag));
    }
    response.body(body)
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

pub(super) fn raw(json: &str) -> ApiResult<&RawValue> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::from(frazil_catalog::CatalogError::Internal(e.to_string())))
}

/// A tag per (metadata file, response shape): a table's tag changes with every commit, and the
/// `all` and `refs` answers of one version differ.
fn etag(metadata_location: &str, snapshots: Snapshots) -> EntityTag {
    let shape = match snapshots {
        Snapshots::All => "all",
        Snapshots::Refs => "refs",
    };
    let key = format!("{metadata_location}\n{shape}");
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
