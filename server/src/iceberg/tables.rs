//! Table routes.

use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::http::header::{self, EntityTag, HeaderValue};
use actix_web::web::{Data, Json, Query};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use frazil_catalog::{CreateTable, LoadedTable, TableChange};
use frazil_openapi::iceberg_rest::{
    CommitTableRequest, CommitTableResponse, CommitTransactionRequest, CreateTableRequest,
    ListTablesResponse, LoadCredentialsResponse, LoadTableResult, RegisterTableRequest,
    RenameTableRequest, ReportMetricsRequest, StorageCredential, UnregisterTableResult,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::delegation::{self, TableLocation};
use super::load_cache::{CachedLoad, Miss};
use super::paths::{self, CatalogRef, NamespaceRef, PageQuery, TableRef};
use super::remote_signing;
use super::reply::{self, internal, json_response, Shape};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables",
    operation_id = "listTables",
    tag = "Tables",
    summary = "List tables",
    description = "Lists the tables of a namespace, a page at a time: pass the answer's `next-page-token` as \
        `pageToken` to get the next page.",
    params(super::paths::NamespacePath, super::paths::PageQuery),
    responses(
        (status = 200, description = "A page of table identifiers", body = ListTablesResponse),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn list(
    state: Data<AppState>,
    namespace: NamespaceRef,
    query: Query<PageQuery>,
) -> ApiResult<Json<ListTablesResponse>> {
    let NamespaceRef { env, ns } = namespace;
    let listed = state.catalog.list_tables(&env, &ns, &query.page()).await?;
    Ok(Json(paths::identifiers(listed)))
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables",
    operation_id = "createTable",
    tag = "Tables",
    summary = "Create a table",
    description = "Creates a table from a schema, an optional partition spec, sort order, location and \
        properties, and writes its first metadata file. With `stage-create`, nothing is written: the \
        answer holds the metadata a client commits later with `assert-create` (a create \
        transaction).",
    params(super::paths::NamespacePath, crate::api_docs::IdempotencyKey, crate::api_docs::AccessDelegation),
    request_body = CreateTableRequest,
    responses(
        (status = 200, description = "The table's metadata", body = LoadTableResult, headers(("ETag" = String, description = "The version of the metadata: send it back in `If-None-Match`"))),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view of that name already exists", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, description = "Credentials were asked for and the provider integration's role could not be assumed (the message names the integration). The table was created: load it for credentials, or retry with the same `Idempotency-Key`", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn create(
    state: Data<AppState>,
    namespace: NamespaceRef,
    body: crate::error::Body<CreateTableRequest>,
    http: HttpRequest,
) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    let body = body?.into_inner();
    let ident = frazil_catalog::TableIdent {
        namespace: ns.clone(),
        name: body.name.clone(),
    };
    let request = CreateTable {
        name: body.name,
        location: body.location,
        schema: body.schema,
        partition_spec: body.partition_spec,
        sort_order: body.write_order,
        properties: body.properties.unwrap_or_default(),
        stage_create: body.stage_create.unwrap_or(false),
    };
    let mut table = state.catalog.create_table(&env, &ns, request).await?;
    with_signing(&mut table, &http, &env, &ident);
    let response = match &table.metadata_location {
        Some(location) => reply::respond(
            Shape::TABLE_CREATED,
            location,
            &table.metadata,
            &table.config,
            Some(etag(location, Snapshots::All)),
        ),
        // Staged: nothing was written, and the answer is kept as it is.
        None => load_table_response(&table, Snapshots::All),
    };
    with_table_location(response, &table)
}

/// Marks a create's or register's answer with the table's location, for the credentials it may
/// be given (`super::delegation`).
fn with_table_location(
    response: ApiResult<HttpResponse>,
    table: &LoadedTable,
) -> ApiResult<HttpResponse> {
    let mut response = response?;
    let location = delegation::table_location(&table.metadata)?;
    response
        .extensions_mut()
        .insert(TableLocation(location.into()));
    Ok(response)
}

/// `snapshots=all` (default) returns every snapshot; `refs` only those a branch or tag names.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Snapshots {
    #[default]
    All,
    Refs,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadQuery {
    /// `all` (the default) returns every snapshot; `refs` only those a branch or tag points at.
    #[serde(default)]
    #[param(inline)]
    snapshots: Snapshots,
}

/// The hot path: one small query for the table's metadata location, then the ETag (304) or the
/// cached response for that location; the metadata is read and serialized only on a miss.
#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}",
    operation_id = "loadTable",
    tag = "Tables",
    summary = "Load a table",
    description = "Returns the table's current metadata and its metadata location, with the storage settings \
        clients need in `config`. The answer carries an `ETag`: sent back in `If-None-Match`, it \
        gets 304 while the table has not changed. With `X-Iceberg-Access-Delegation: \
        vended-credentials`, short-lived credentials for the table's location are added where the \
        environment has a provider integration.",
    params(super::paths::TablePath, LoadQuery, crate::api_docs::IfNoneMatch, crate::api_docs::AccessDelegation),
    responses(
        (status = 200, description = "The table's metadata", body = LoadTableResult, headers(("ETag" = String, description = "The version of the metadata: send it back in `If-None-Match`"))),
        (status = 304, description = "The table has not changed since the `If-None-Match` ETag"),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, description = "Credentials were asked for and the provider integration's role could not be assumed (the message names the integration)", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn load(
    state: Data<AppState>,
    table: TableRef,
    query: Query<LoadQuery>,
    request: HttpRequest,
) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    let shape = query.snapshots;
    let location = state.catalog.table_metadata_location(&env, &ident).await?;
    let signing = remote_signing::table_config(&request, &env, &ident);
    let tag = remote_signing::tagged(etag(&location, shape), &signing);
    if if_none_match(&request, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(tag))
            .finish());
    }
    let config = env
        .storage
        .client_config()
        .into_iter()
        .chain(signing.iter().cloned())
        .collect();
    let build = async {
        let mut table = state.catalog.load_table(&env, &ident).await?;
        table.config.extend(signing.iter().cloned());
        if table.metadata_location.as_deref() != Some(location.as_str()) {
            return Err(Miss::Moved);
        }
        Ok(cached_answer(&table, shape)?)
    };
    match state
        .load_cache
        .get_or_build(&location, shape, &config, build)
        .await
    {
        Ok(cached) => Ok(cached_response(cached, tag)),
        Err(Miss::Failed(e)) => Err(e),
        // A commit landed in between: answer with the newer table.
        Err(Miss::Moved) => {
            let mut table = state.catalog.load_table(&env, &ident).await?;
            table.config.extend(signing);
            with_table_location(load_table_response(&table, shape), &table)
        }
    }
}

/// What the load cache keeps of a table version: the answer, and the table location that vended
/// credentials are scoped to (read once per version, not per load).
fn cached_answer(table: &LoadedTable, shape: Snapshots) -> ApiResult<CachedLoad> {
    Ok(CachedLoad {
        body: load_table_body(table, shape)?,
        table_location: delegation::table_location(&table.metadata)?.into(),
    })
}

fn cached_response(cached: CachedLoad, tag: EntityTag) -> HttpResponse {
    let mut response = json_response(cached.body, Some(tag));
    let location = TableLocation(cached.table_location);
    response.extensions_mut().insert(location);
    response
}

#[utoipa::path(
    head,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}",
    operation_id = "tableExists",
    tag = "Tables",
    summary = "Check that a table exists",
    description = "Answers 204 if the table exists and 404 if not, without a body.",
    params(super::paths::TablePath),
    responses(
        (status = 204, description = "The table exists"),
        (status = 400, description = "Malformed path"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not read this environment"),
        (status = 404, description = "The environment, the namespace or the table does not exist"),
        (status = 503, description = "The request timed out; retry"),
        (status = "5XX", description = "Server error"),
    ),
)]
pub async fn exists(state: Data<AppState>, table: TableRef) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    Ok(
        match state.catalog.table_metadata_location(&env, &ident).await {
            Ok(_) => HttpResponse::NoContent().finish(),
            Err(frazil_catalog::CatalogError::NoSuchTable(_)) => HttpResponse::NotFound().finish(),
            Err(e) => return Err(e.into()),
        },
    )
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}",
    operation_id = "updateTable",
    tag = "Tables",
    summary = "Commit updates to a table",
    description = "Checks every requirement against the table's current metadata, applies the updates, writes a \
        new metadata file and swaps the table's pointer to it atomically. A requirement that fails \
        answers 409 and changes nothing: reload and retry.",
    params(super::paths::TablePath, crate::api_docs::IdempotencyKey),
    request_body = CommitTableRequest,
    responses(
        (status = 200, description = "The new metadata", body = CommitTableResponse, headers(("ETag" = String, description = "The version of the metadata: send it back in `If-None-Match`"))),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A requirement failed: the table changed since it was loaded (CommitFailedException)", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", description = "The commit state is unknown (CommitStateUnknownException, e.g. 504 when cut by the request timeout): reload to find out whether it landed", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn commit(
    state: Data<AppState>,
    table: TableRef,
    body: crate::error::Body<CommitTableRequest>,
) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    let body = body?.into_inner();
    let change = TableChange {
        ident,
        requirements: body.requirements,
        updates: body.updates,
    };
    let catalog = state.catalog.clone();
    let table = run_to_completion(async move { catalog.commit_table(&env, change).await }).await?;
    let location = table.metadata_location.as_deref().unwrap_or_default();
    reply::respond(
        Shape::TABLE_COMMITTED,
        location,
        &table.metadata,
        &table.config,
        Some(etag(location, Snapshots::All)),
    )
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/transactions/commit",
    operation_id = "commitTransaction",
    tag = "Tables",
    summary = "Commit updates to several tables",
    description = "Commits changes to several tables of the environment atomically: either every table's \
        requirements hold and all changes land, or none does.",
    params(super::paths::CatalogPath, crate::api_docs::IdempotencyKey),
    request_body = CommitTransactionRequest,
    responses(
        (status = 204, description = "Every change landed"),
        (status = 404, description = "The environment or one of the tables does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A requirement failed (CommitFailedException): nothing changed", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", description = "The commit state is unknown (CommitStateUnknownException, e.g. 504 when cut by the request timeout): reload to find out whether it landed", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn commit_transaction(
    state: Data<AppState>,
    catalog: CatalogRef,
    body: crate::error::Body<CommitTransactionRequest>,
) -> ApiResult<HttpResponse> {
    let env = catalog.env;
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
    let catalog = state.catalog.clone();
    run_to_completion(async move { catalog.commit_transaction(&env, changes).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Runs a commit in its own task, so that a request cut by the timeout or a client that goes
/// away never stops it half-way: it lands whole or not at all, and cleans up its own files.
async fn run_to_completion<T: Send + 'static>(
    commit: impl std::future::Future<Output = frazil_catalog::Result<T>> + Send + 'static,
) -> ApiResult<T> {
    match tokio::spawn(commit).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(frazil_catalog::CatalogError::CommitStateUnknown(format!(
            "The commit task failed: {e}"
        ))
        .into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DropQuery {
    /// Also delete the table's data and metadata files (`true` or `false`, in any case).
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

#[utoipa::path(
    delete,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}",
    operation_id = "dropTable",
    tag = "Tables",
    summary = "Drop a table",
    description = "Removes the table from the catalog; with `purgeRequested=true` its files are deleted too.",
    params(super::paths::TablePath, DropQuery, crate::api_docs::IdempotencyKey),
    responses(
        (status = 204, description = "The table was dropped"),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn drop(
    state: Data<AppState>,
    table: TableRef,
    query: Query<DropQuery>,
) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    state
        .catalog
        .drop_table(&env, &ident, query.purge_requested)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/register",
    operation_id = "registerTable",
    tag = "Tables",
    summary = "Register a table",
    description = "Adds a table to the catalog from an existing metadata file; with `overwrite`, replaces the \
        table of that name.",
    params(super::paths::NamespacePath, crate::api_docs::IdempotencyKey, crate::api_docs::AccessDelegation),
    request_body = RegisterTableRequest,
    responses(
        (status = 200, description = "The table's metadata", body = LoadTableResult, headers(("ETag" = String, description = "The version of the metadata: send it back in `If-None-Match`"))),
        (status = 404, description = "The environment or the namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view of that name already exists", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, description = "Credentials were asked for and the provider integration's role could not be assumed (the message names the integration). The table was registered: load it for credentials, or retry with the same `Idempotency-Key`", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn register(
    state: Data<AppState>,
    namespace: NamespaceRef,
    body: crate::error::Body<RegisterTableRequest>,
    http: HttpRequest,
) -> ApiResult<HttpResponse> {
    let NamespaceRef { env, ns } = namespace;
    let body = body?.into_inner();
    let ident = frazil_catalog::TableIdent {
        namespace: ns.clone(),
        name: body.name.clone(),
    };
    let mut table = state
        .catalog
        .register_table(
            &env,
            &ns,
            &body.name,
            &body.metadata_location,
            body.overwrite.unwrap_or(false),
        )
        .await?;
    with_signing(&mut table, &http, &env, &ident);
    let location = table.metadata_location.as_deref().unwrap_or_default();
    let response = reply::respond(
        Shape::TABLE_REGISTERED,
        location,
        &table.metadata,
        &table.config,
        Some(etag(location, Snapshots::All)),
    );
    with_table_location(response, &table)
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/tables/rename",
    operation_id = "renameTable",
    tag = "Tables",
    summary = "Rename a table",
    description = "Moves a table to a new name, possibly in another namespace of the same environment.",
    params(super::paths::CatalogPath, crate::api_docs::IdempotencyKey),
    request_body = RenameTableRequest,
    responses(
        (status = 204, description = "The table was renamed"),
        (status = 404, description = "The environment, the source table or the destination namespace does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "A table or view already has the destination name", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn rename(
    state: Data<AppState>,
    catalog: CatalogRef,
    body: crate::error::Body<RenameTableRequest>,
) -> ApiResult<HttpResponse> {
    let env = catalog.env;
    let body = body?.into_inner();
    let from = paths::identifier(body.source.namespace, body.source.name)?;
    let to = paths::identifier(body.destination.namespace, body.destination.name)?;
    state.catalog.rename_table(&env, &from, &to).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the table from the catalog, keeping its files, and returns its final metadata.
#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}/unregister",
    operation_id = "unregisterTable",
    tag = "Tables",
    summary = "Unregister a table",
    description = "Removes the table from the catalog but keeps its files, and returns its final metadata (to \
        register it elsewhere).",
    params(super::paths::TablePath, crate::api_docs::IdempotencyKey),
    responses(
        (status = 200, description = "The table's final metadata", body = UnregisterTableResult),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn unregister(state: Data<AppState>, table: TableRef) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    let table = state.catalog.unregister_table(&env, &ident).await?;
    let location = table.metadata_location.as_deref().unwrap_or_default();
    reply::respond(
        Shape::TABLE_UNREGISTERED,
        location,
        &table.metadata,
        &table.config,
        None,
    )
}

/// Vended credentials for the table alone, for clients that refresh them (`DuckDB`, and Iceberg
/// Java's `VendedCredentialsProvider`). The spec does not declare `X-Iceberg-Access-Delegation`
/// on this route, and clients refreshing credentials do not all send it: the route vends without
/// it. The list is empty where the environment has no provider integration.
#[utoipa::path(
    get,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}/credentials",
    operation_id = "loadCredentials",
    tag = "Tables",
    summary = "Load storage credentials",
    description = "Short-lived S3 credentials for the table's location, as loadTable's \
        `storage-credentials` carries them with `X-Iceberg-Access-Delegation: vended-credentials` \
        (this route needs no header): readers' credentials read, writers' also write and delete. \
        The list is empty when the environment's storage has no provider integration: Frazil never \
        hands out static keys. 503 when the integration's role cannot be assumed.",
    params(super::paths::TablePath),
    responses(
        (status = 200, description = "The table's credentials, or none", body = LoadCredentialsResponse),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, description = "The provider integration's role could not be assumed (the message names the integration)", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn credentials(
    state: Data<AppState>,
    table: TableRef,
    caller: Caller,
) -> ApiResult<Json<LoadCredentialsResponse>> {
    let TableRef { env, ident } = table;
    let table = state.catalog.load_table(&env, &ident).await?;
    let location = delegation::table_location(&table.metadata)?;
    let vended = delegation::vend(&state, &caller.0, &env, &location).await?;
    let storage_credentials = vended
        .into_iter()
        .map(|v| StorageCredential {
            prefix: v.prefix,
            config: v.config.into_iter().collect(),
        })
        .collect();
    Ok(Json(LoadCredentialsResponse {
        storage_credentials,
    }))
}

/// Metrics reports are accepted for existing tables and dropped: Frazil does not store them yet.
#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}/metrics",
    operation_id = "reportMetrics",
    tag = "Tables",
    summary = "Report metrics",
    description = "Accepts a scan or commit report for an existing table. Frazil does not store reports: they \
        are checked and dropped.",
    params(super::paths::TablePath),
    request_body = ReportMetricsRequest,
    responses(
        (status = 204, description = "The report was accepted"),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn report_metrics(
    state: Data<AppState>,
    table: TableRef,
    body: crate::error::Body<ReportMetricsRequest>,
) -> ApiResult<HttpResponse> {
    let TableRef { env, ident } = table;
    state.catalog.load_table(&env, &ident).await?;
    tracing::debug!(table = %ident, report_type = %body?.report_type, "metrics report received");
    Ok(HttpResponse::NoContent().finish())
}

/// Adds the remote-signing `config` to a created or registered table's answer, when asked for
/// (see [`remote_signing::table_config`]).
fn with_signing(
    table: &mut LoadedTable,
    request: &HttpRequest,
    env: &frazil_catalog::Environment,
    ident: &frazil_catalog::TableIdent,
) {
    table
        .config
        .extend(remote_signing::table_config(request, env, ident));
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
    reply::body(
        table.metadata_location.as_deref(),
        metadata,
        Some(&table.config),
    )
}

/// Keeps only the snapshots a branch or tag points at; `snapshot-log` stays whole.
fn only_referenced_snapshots(metadata: &str) -> ApiResult<String> {
    // Taken apart as raw JSON, not built into a `serde_json::Value`: after every commit, the
    // writers that lost the race reload the table this way, and a tree of megabytes of
    // metadata costs several times more than scanning it.
    #[derive(Deserialize)]
    struct Snapshot {
        #[serde(rename = "snapshot-id")]
        snapshot_id: Option<i64>,
    }
    let mut document: BTreeMap<&str, &RawValue> =
        serde_json::from_str(metadata).map_err(internal)?;
    let referenced: HashSet<i64> = match document.get("refs") {
        Some(refs) => serde_json::from_str::<HashMap<String, Snapshot>>(refs.get())
            .map_err(internal)?
            .into_values()
            .filter_map(|r| r.snapshot_id)
            .collect(),
        None => HashSet::new(),
    };
    let kept;
    if let Some(snapshots) = document.get("snapshots") {
        let all: Vec<&RawValue> = serde_json::from_str(snapshots.get()).map_err(internal)?;
        let mut referenced_only = Vec::with_capacity(referenced.len());
        for snapshot in all {
            let id = serde_json::from_str::<Snapshot>(snapshot.get()).map_err(internal)?;
            if id.snapshot_id.is_some_and(|id| referenced.contains(&id)) {
                referenced_only.push(snapshot);
            }
        }
        kept = serde_json::value::to_raw_value(&referenced_only).map_err(internal)?;
        document.insert("snapshots", &kept);
    }
    serde_json::to_string(&document).map_err(internal)
}

pub(super) fn raw(json: &str) -> ApiResult<&RawValue> {
    serde_json::from_str(json).map_err(internal)
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
    matches_tag(request.headers().get_all(header::IF_NONE_MATCH), tag)
}

/// Whether `If-None-Match` values name `tag` (or are `*`).
pub(super) fn matches_tag<'a>(
    if_none_match: impl Iterator<Item = &'a HeaderValue>,
    tag: &EntityTag,
) -> bool {
    if_none_match
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == tag.to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_keeps_the_snapshots_a_branch_or_tag_names_and_everything_else() {
        let metadata = serde_json::json!({
            "format-version": 2,
            "current-snapshot-id": 3,
            "refs": {"main": {"snapshot-id": 3, "type": "branch"},
                     "audit": {"snapshot-id": 1, "type": "tag"}},
            "snapshots": [
                {"snapshot-id": 1, "sequence-number": 1, "summary": {"operation": "append"}},
                {"snapshot-id": 2, "parent-snapshot-id": 1, "sequence-number": 2},
                {"snapshot-id": 3, "parent-snapshot-id": 2, "sequence-number": 3}
            ],
            "snapshot-log": [{"snapshot-id": 1, "timestamp-ms": 1},
                             {"snapshot-id": 2, "timestamp-ms": 2},
                             {"snapshot-id": 3, "timestamp-ms": 3}],
            "properties": {"a.b": "\"quoted\""}
        });
        let filtered = only_referenced_snapshots(&metadata.to_string()).unwrap();
        let filtered: serde_json::Value = serde_json::from_str(&filtered).unwrap();
        let mut expected = metadata.clone();
        expected["snapshots"] =
            serde_json::json!([metadata["snapshots"][0], metadata["snapshots"][2]]);
        assert_eq!(filtered, expected);
        // No refs (a table without snapshots): nothing to keep, nothing else changes.
        let empty = serde_json::json!({"format-version": 2, "snapshots": []});
        let filtered = only_referenced_snapshots(&empty.to_string()).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&filtered).unwrap(),
            empty
        );
    }

    /// The spliced bodies are exactly what the wire types serialize to.
    #[test]
    fn metadata_bodies_match_the_wire_types() {
        let metadata = r#"{"format-version":2,"table-uuid":"9c12d441-03fe-4693-9a96-a0705ddf69c1","snapshots":[{"snapshot-id":1}]}"#;
        let config = HashMap::from([("s3.endpoint".to_string(), "http://s3\"x".to_string())]);
        let raw_metadata: &RawValue = serde_json::from_str(metadata).unwrap();
        for location in [Some("file:///w/t/metadata/00001-a.metadata.json"), None] {
            let mut expected = serde_json::to_vec(&LoadTableResult {
                metadata_location: location,
                metadata: raw_metadata,
                config: config.clone(),
                storage_credentials: Vec::new(),
            })
            .unwrap();
            expected.push(b'\n');
            let body = reply::body(location, metadata, Some(&config)).unwrap();
            assert_eq!(body, expected);
        }
        let mut expected = serde_json::to_vec(&CommitTableResponse {
            metadata_location: "file:///w/t/metadata/00001-a.metadata.json",
            metadata: raw_metadata,
        })
        .unwrap();
        expected.push(b'\n');
        let body = reply::body(
            Some("file:///w/t/metadata/00001-a.metadata.json"),
            metadata,
            None,
        )
        .unwrap();
        assert_eq!(body, expected);
    }
}
