//! Authentication and authorization of the real `frazil` binary, end to end:
//!
//! - the route table: every catalog route `/v1/config` advertises (and `/v1/config` itself),
//!   under both URI layouts, without a token, with a reader token, with tokens of other
//!   environments, and finally with a writer token (which proves every request of the table is
//!   valid, so that a refusal is the role's doing and not the body's);
//! - the admin API refusing reader, writer and other-environment admin tokens;
//! - the `oauth2` crate as a real OAuth2 client of `{catalog uri}/v1/oauth/tokens`;
//! - iceberg-rust's REST client with a reader key: it reads what a writer wrote and cannot change
//!   it;
//! - a revoked key's tokens stop working.
//!
//! Every test starts its own server, on SQLite and on Postgres. Build the binary first:
//! `cargo build --bin frazil`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context};
use frazil_tests::{
    bearer_client, request_token, send, Admin, Credential, Layout, Role, Server, Store, ENV, ORG,
    WAREHOUSE,
};
use iceberg::io::LocalFsStorageFactory;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------
// the test matrix

/// One test per store for each `name(store)`.
macro_rules! per_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                let server = Server::start(Store::Sqlite).await;
                super::report(&server, super::$name(&server).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                let server = Server::start(Store::Postgres).await;
                super::report(&server, super::$name(&server).await)
            }
        }
    )*};
}

/// One test per store and URI layout for each `name(server, layout)`.
macro_rules! per_store_and_layout {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_tableflow() -> anyhow::Result<()> {
                let server = Server::start(Store::Sqlite).await;
                super::report(&server, super::$name(&server, Layout::Tableflow).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_warehouse() -> anyhow::Result<()> {
                let server = Server::start(Store::Sqlite).await;
                super::report(&server, super::$name(&server, Layout::Warehouse).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_tableflow() -> anyhow::Result<()> {
                let server = Server::start(Store::Postgres).await;
                super::report(&server, super::$name(&server, Layout::Tableflow).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_warehouse() -> anyhow::Result<()> {
                let server = Server::start(Store::Postgres).await;
                super::report(&server, super::$name(&server, Layout::Warehouse).await)
            }
        }
    )*};
}

per_store_and_layout!(catalog_route_table, reader_key_with_iceberg_rust);
per_store!(admin_route_table, oauth2_crate_client, revoked_key);

/// A failed test's error with the end of the server's log.
fn report(server: &Server, result: anyhow::Result<()>) -> anyhow::Result<()> {
    result.map_err(|e| {
        let log = server.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        anyhow!(
            "{e:#}\n--- frazil ({}) log, last lines ---\n{tail}",
            server.store()
        )
    })
}

// ------------------------------------------------------------------------------------------
// helpers

/// One request of a route table.
#[derive(Debug, Clone)]
struct Route {
    /// As `/v1/config` advertises it (`GET /v1/{prefix}/namespaces`), or `GET /v1/config`.
    endpoint: String,
    method: Method,
    url: String,
    body: Option<Value>,
    /// Needs more than the reader role.
    write: bool,
}

impl Route {
    fn new(endpoint: &str, url: String, body: Option<Value>, write: bool) -> Route {
        let method = endpoint
            .split_once(' ')
            .and_then(|(m, _)| m.parse().ok())
            .unwrap_or_else(|| panic!("no method in {endpoint:?}"));
        Route {
            endpoint: endpoint.to_string(),
            method,
            url,
            body,
            write,
        }
    }

    fn request(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        let request = http.request(self.method.clone(), &self.url);
        match &self.body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    async fn send(&self, http: &reqwest::Client) -> anyhow::Result<(StatusCode, Value)> {
        send(self.request(http))
            .await
            .with_context(|| format!("{} {}", self.method, self.url))
    }

    /// Whether `status` is the answer of a caller allowed to use the route: 2xx, except for the
    /// S3 signer, which on this fixture's local storage answers 400 "nothing to sign" once the
    /// caller is authorized (signing itself is tested on S3 in tests/clients/test_remote_signing.py).
    fn allowed(&self, status: StatusCode) -> bool {
        match self.endpoint.ends_with("/sign") {
            true => status == StatusCode::BAD_REQUEST,
            false => status.is_success(),
        }
    }
}

/// Checks an Iceberg error answer: status, and (except for HEAD, which has no body)
/// `{"error": {"type", "code", "message"}}`. Returns a line describing the mismatch.
fn check_error(
    route: &Route,
    who: &str,
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    error_type: &str,
) -> Option<String> {
    let mismatch = |what: String| Some(format!("{who}: {} {} -> {what}", route.method, route.url));
    if status != expected {
        return mismatch(format!(
            "expected {expected} {error_type}, got {status} {body}"
        ));
    }
    if route.method == Method::HEAD {
        return None;
    }
    let error = &body["error"];
    if error["type"] != json!(error_type)
        || error["code"] != json!(expected.as_u16())
        || !error["message"].is_string()
    {
        return mismatch(format!(
            "expected an Iceberg error body of type {error_type} and code {}, got {body}",
            expected.as_u16()
        ));
    }
    None
}

/// Whether an admin API `url` names an organization other than `own_org` or an environment
/// other than `own_env` (both URLs), which an environment key must not tell from missing ones.
fn hidden_from(url: &str, own_org: &str, own_env: &str) -> bool {
    let other_org = url.contains("/organizations/")
        && url != own_org
        && !url.starts_with(&format!("{own_org}/"));
    let other_env = url.starts_with(&format!("{own_org}/environments/"))
        && url != own_env
        && !url.starts_with(&format!("{own_env}/"));
    other_org || other_env
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The `endpoints` that `GET {config_url}` lists for a token.
async fn advertised(config_url: &str, token: &str) -> anyhow::Result<BTreeSet<String>> {
    let (status, body) = send(bearer_client(token)?.get(config_url)).await?;
    ensure!(
        status == StatusCode::OK,
        "GET {config_url}: {status} {body}"
    );
    Ok(strings(&body["endpoints"]).into_iter().collect())
}

/// `GET /v1/config` of the default environment in a layout.
fn config_url(server: &Server, layout: Layout) -> String {
    match layout {
        Layout::Tableflow => format!("{}/v1/config", server.tableflow_uri()),
        Layout::Warehouse => format!("{}/v1/config?warehouse={WAREHOUSE}", server.warehouse_uri()),
    }
}

/// `id long required`.
fn table_schema() -> Value {
    json!({
        "type": "struct",
        "schema-id": 0,
        "fields": [{"id": 1, "name": "id", "required": true, "type": "long"}]
    })
}

/// What a catalog holds: per top-level namespace its properties and its tables' metadata
/// locations.
#[derive(Debug, PartialEq, Eq)]
struct NamespaceState {
    properties: BTreeMap<String, String>,
    tables: BTreeMap<String, String>,
    views: BTreeMap<String, String>,
}

async fn catalog_state(
    http: &reqwest::Client,
    api: &str,
) -> anyhow::Result<BTreeMap<String, NamespaceState>> {
    let get = |url: String| async move {
        let (status, body) = send(http.get(&url)).await?;
        ensure!(status == StatusCode::OK, "GET {url}: {status} {body}");
        anyhow::Ok(body)
    };
    let mut state = BTreeMap::new();
    let listing = get(format!("{api}/namespaces")).await?;
    for namespace in listing["namespaces"]
        .as_array()
        .ok_or_else(|| anyhow!("no namespaces in {listing}"))?
    {
        let levels = strings(namespace);
        let segment = levels.join("%1F");
        let loaded = get(format!("{api}/namespaces/{segment}")).await?;
        let properties = loaded["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut objects = [BTreeMap::new(), BTreeMap::new()];
        for (kind, found) in ["tables", "views"].into_iter().zip(objects.iter_mut()) {
            let listed = get(format!("{api}/namespaces/{segment}/{kind}")).await?;
            for id in listed["identifiers"].as_array().into_iter().flatten() {
                let name = id["name"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no name in {id}"))?;
                let object = get(format!("{api}/namespaces/{segment}/{kind}/{name}")).await?;
                let location = object["metadata-location"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no metadata-location in {object}"))?;
                found.insert(name.to_string(), location.to_string());
            }
        }
        let [tables, views] = objects;
        state.insert(
            levels.join("."),
            NamespaceState {
                properties,
                tables,
                views,
            },
        );
    }
    Ok(state)
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.strip_prefix(dir)?.to_string_lossy().into_owned());
            }
        }
    }
    Ok(files)
}

/// Creates a table over raw HTTP; its `(table-uuid, metadata-location)`.
async fn create_table(
    http: &reqwest::Client,
    api: &str,
    namespace: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let (status, body) = send(
        http.post(format!("{api}/namespaces/{namespace}/tables"))
            .json(&json!({"name": name, "schema": table_schema()})),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "creating {namespace}.{name}: {status} {body}"
    );
    match (
        body["metadata"]["table-uuid"].as_str(),
        body["metadata-location"].as_str(),
    ) {
        (Some(uuid), Some(location)) => Ok((uuid.to_string(), location.to_string())),
        _ => Err(anyhow!("no table-uuid or metadata-location in {body}")),
    }
}

/// Creates view `namespace.name`; returns its uuid and metadata location.
async fn create_view(
    http: &reqwest::Client,
    api: &str,
    namespace: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let (status, body) = send(
        http.post(format!("{api}/namespaces/{namespace}/views"))
            .json(&view_request(namespace, name)),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "creating view {namespace}.{name}: {status} {body}"
    );
    match (
        body["metadata"]["view-uuid"].as_str(),
        body["metadata-location"].as_str(),
    ) {
        (Some(uuid), Some(location)) => Ok((uuid.to_string(), location.to_string())),
        _ => Err(anyhow!("no view-uuid or metadata-location in {body}")),
    }
}

/// A createView body: one SQL version over a one-column schema.
fn view_request(namespace: &str, name: &str) -> Value {
    json!({
        "name": name,
        "schema": table_schema(),
        "view-version": {
            "version-id": 1,
            "schema-id": -1,
            "timestamp-ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default(),
            "summary": {"engine-name": "frazil-tests"},
            "representations": [{"type": "sql", "sql": "select 1 as id", "dialect": "spark"}],
            "default-namespace": [namespace]
        },
        "properties": {}
    })
}

/// A token of `credential` from `{catalog uri}/v1/oauth/tokens`.
async fn token_at(catalog_uri: &str, credential: &Credential) -> anyhow::Result<String> {
    request_token(
        &reqwest::Client::new(),
        &format!("{catalog_uri}/v1/oauth/tokens"),
        credential,
    )
    .await
}

// ------------------------------------------------------------------------------------------
// the catalog route table

const CLUSTER: &str = "lkc-routes";
const EMPTY_NAMESPACE: &str = "lkc-empty";

/// Every catalog route of the default environment in `layout`, each with a request that a
/// writer may make successfully against the fixture (in this order), and whether it writes.
fn catalog_routes(server: &Server, layout: Layout, fixture: &Fixture) -> Vec<Route> {
    let Fixture {
        orders_uuid,
        archived_location,
        report_uuid,
        archived_view_location,
    } = fixture;
    let api = server.api_prefix(layout);
    let ns = format!("{api}/namespaces/{CLUSTER}");
    let orders = format!("{ns}/tables/orders");
    let commit = |key: &str| {
        json!({
            "requirements": [{"type": "assert-table-uuid", "uuid": orders_uuid}],
            "updates": [{"action": "set-properties", "updates": {key: "yes"}}]
        })
    };
    let mut transaction_change = commit("transaction");
    transaction_change["identifier"] = json!({"namespace": [CLUSTER], "name": "orders"});
    vec![
        Route::new("GET /v1/config", config_url(server, layout), None, false),
        Route::new(
            "GET /v1/{prefix}/namespaces",
            format!("{api}/namespaces"),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces",
            format!("{api}/namespaces"),
            Some(json!({"namespace": ["lkc-created"], "properties": {"owner": "test"}})),
            true,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}",
            ns.clone(),
            None,
            false,
        ),
        Route::new(
            "HEAD /v1/{prefix}/namespaces/{namespace}",
            ns.clone(),
            None,
            false,
        ),
        Route::new(
            "DELETE /v1/{prefix}/namespaces/{namespace}",
            format!("{api}/namespaces/{EMPTY_NAMESPACE}"),
            None,
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/properties",
            format!("{ns}/properties"),
            Some(json!({"removals": [], "updates": {"touched": "yes"}})),
            true,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}/tables",
            format!("{ns}/tables"),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/tables",
            format!("{ns}/tables"),
            Some(json!({"name": "created", "schema": table_schema()})),
            true,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            orders.clone(),
            None,
            false,
        ),
        Route::new(
            "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            orders.clone(),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            orders.clone(),
            Some(commit("committed")),
            true,
        ),
        Route::new(
            "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            format!("{ns}/tables/doomed"),
            None,
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/register",
            format!("{ns}/register"),
            Some(json!({"name": "registered", "metadata-location": archived_location})),
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
            format!("{orders}/metrics"),
            Some(json!({
                "report-type": "scan-report",
                "table-name": format!("{CLUSTER}.orders"),
                "snapshot-id": -1,
                "filter": {"type": "true"},
                "schema-id": 0,
                "projected-field-ids": [1],
                "projected-field-names": ["id"],
                "metrics": {}
            })),
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/tables/rename",
            format!("{api}/tables/rename"),
            Some(json!({
                "source": {"namespace": [CLUSTER], "name": "movable"},
                "destination": {"namespace": [CLUSTER], "name": "moved"}
            })),
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/transactions/commit",
            format!("{api}/transactions/commit"),
            Some(json!({"table-changes": [transaction_change]})),
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
            format!("{ns}/tables/unregistered/unregister"),
            None,
            true,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
            format!("{orders}/credentials"),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign",
            format!("{orders}/sign"),
            Some(json!({
                "region": "us-east-1",
                "uri": "https://lake.s3.us-east-1.amazonaws.com/orders/metadata/v1.metadata.json",
                "method": "GET",
                "headers": {}
            })),
            false,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}/views",
            format!("{ns}/views"),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/views",
            format!("{ns}/views"),
            Some(view_request(CLUSTER, "created_view")),
            true,
        ),
        Route::new(
            "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
            format!("{ns}/views/report"),
            None,
            false,
        ),
        Route::new(
            "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
            format!("{ns}/views/report"),
            None,
            false,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
            format!("{ns}/views/report"),
            Some(json!({
                "requirements": [{"type": "assert-view-uuid", "uuid": report_uuid}],
                "updates": [{"action": "set-properties", "updates": {"replaced": "yes"}}]
            })),
            true,
        ),
        Route::new(
            "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
            format!("{ns}/views/doomed_view"),
            None,
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/views/rename",
            format!("{api}/views/rename"),
            Some(json!({
                "source": {"namespace": [CLUSTER], "name": "movable_view"},
                "destination": {"namespace": [CLUSTER], "name": "moved_view"}
            })),
            true,
        ),
        Route::new(
            "POST /v1/{prefix}/namespaces/{namespace}/register-view",
            format!("{ns}/register-view"),
            Some(json!({"name": "registered_view", "metadata-location": archived_view_location})),
            true,
        ),
    ]
}

/// What the route table's requests refer to.
struct Fixture {
    orders_uuid: String,
    report_uuid: String,
    /// Metadata files of a table and a view dropped without purge, for the register routes
    /// (a live object's directory cannot be registered a second time).
    archived_location: String,
    archived_view_location: String,
}

/// The route table of the catalog: no token 401, reader 2xx or 403, other environments 403,
/// nothing changed by any of them; then a writer 2xx on every route.
async fn catalog_route_table(server: &Server, layout: Layout) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    let token_uri = server.catalog_uri(layout);
    let api = server.api_prefix(layout);

    // The fixture: a cluster registered through the admin API, an empty namespace, and three
    // tables that the writer pass commits to, drops and renames.
    admin.register_cluster(ORG, ENV, CLUSTER).await?;
    let writer_key = admin.create_api_key(ORG, ENV, Role::Writer).await?;
    let reader_key = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let writer_token = token_at(&token_uri, &writer_key).await?;
    let reader_token = token_at(&token_uri, &reader_key).await?;
    let writer = bearer_client(&writer_token)?;
    let (status, body) = send(
        writer
            .post(format!("{api}/namespaces"))
            .json(&json!({"namespace": [EMPTY_NAMESPACE]})),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "creating {EMPTY_NAMESPACE}: {status} {body}"
    );
    let (orders_uuid, orders_location) = create_table(&writer, &api, CLUSTER, "orders").await?;
    create_table(&writer, &api, CLUSTER, "doomed").await?;
    create_table(&writer, &api, CLUSTER, "movable").await?;
    create_table(&writer, &api, CLUSTER, "unregistered").await?;
    let (report_uuid, report_location) = create_view(&writer, &api, CLUSTER, "report").await?;
    create_view(&writer, &api, CLUSTER, "doomed_view").await?;
    create_view(&writer, &api, CLUSTER, "movable_view").await?;
    let (_, archived_location) = create_table(&writer, &api, CLUSTER, "archived").await?;
    let (_, archived_view_location) = create_view(&writer, &api, CLUSTER, "archived_view").await?;
    for dropped in ["tables/archived", "views/archived_view"] {
        let (status, body) =
            send(writer.delete(format!("{api}/namespaces/{CLUSTER}/{dropped}"))).await?;
        ensure!(
            status == StatusCode::NO_CONTENT,
            "dropping {dropped}: {status} {body}"
        );
    }
    let fixture = Fixture {
        orders_uuid,
        report_uuid,
        archived_location: archived_location.clone(),
        archived_view_location: archived_view_location.clone(),
    };

    // Writers of two other environments: one in the same organization, one in another.
    let staging = admin
        .create_environment(ORG, "staging", &server.storage_location("staging")?)
        .await?;
    admin.create_organization("acme", "Acme").await?;
    let acme = admin
        .create_environment("acme", "prod", &server.storage_location("acme-prod")?)
        .await?;
    let mut foreign = Vec::new();
    for env in [&staging, &acme] {
        let key = admin
            .create_api_key(&env.org, &env.id, Role::Writer)
            .await?;
        let token = token_at(&env.catalog_uri, &key).await?;
        // The token is good where it belongs.
        let own_config = format!("{}/v1/config", env.catalog_uri);
        let (status, body) = send(bearer_client(&token)?.get(&own_config)).await?;
        ensure!(
            status == StatusCode::OK,
            "a writer of {} on its own {own_config}: {status} {body}",
            env.warehouse
        );
        foreign.push((format!("writer of {}", env.warehouse), token));
    }

    let routes = catalog_routes(server, layout, &fixture);

    // The table covers exactly what the server advertises, role by role.
    let config = config_url(server, layout);
    let all: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.endpoint != "GET /v1/config")
        .map(|r| r.endpoint.clone())
        .collect();
    assert_eq!(
        advertised(&config, admin.token()).await?,
        all,
        "the administrator's /v1/config endpoints and the route table differ"
    );
    assert_eq!(advertised(&config, &writer_token).await?, all);
    // A reader is told about the writes too: its client sends them, and the server refuses
    // them with a 403 that says the key is read-only.
    assert_eq!(
        advertised(&config, &reader_token).await?,
        all,
        "a reader's /v1/config lists every route, as a writer's"
    );

    let before = catalog_state(&writer, &api).await?;
    let files_before = files_below(server.warehouse_dir())?;
    ensure!(
        before.len() == 2 && before[CLUSTER].tables.len() == 4 && before[CLUSTER].views.len() == 3,
        "unexpected fixture: {before:?}"
    );

    let mut failures = Vec::new();

    // No token, and tokens that are not Frazil's: 401 NotAuthorizedException.
    let anonymous = reqwest::Client::new();
    let garbage = bearer_client("not-a-token")?;
    let forged = bearer_client(&format!("{writer_token}x"))?;
    for route in &routes {
        for (who, http) in [
            ("no token", &anonymous),
            ("malformed token", &garbage),
            ("token with a broken signature", &forged),
        ] {
            let (status, body) = route.send(http).await?;
            failures.extend(check_error(
                route,
                who,
                status,
                &body,
                StatusCode::UNAUTHORIZED,
                "NotAuthorizedException",
            ));
        }
    }

    // A reader: reads succeed, writes are 403 ForbiddenException.
    let reader = bearer_client(&reader_token)?;
    for route in &routes {
        let (status, body) = route.send(&reader).await?;
        if route.write {
            failures.extend(check_error(
                route,
                "reader",
                status,
                &body,
                StatusCode::FORBIDDEN,
                "ForbiddenException",
            ));
        } else if !route.allowed(status) {
            failures.push(format!(
                "reader: {} {} -> expected 2xx, got {status} {body}",
                route.method, route.url
            ));
        }
    }

    // Another environment's writer: the environment reads as missing everywhere, reads included
    // (404 NoSuchWarehouseException, as for one that does not exist).
    for (who, token) in &foreign {
        let http = bearer_client(token)?;
        for route in &routes {
            let (status, body) = route.send(&http).await?;
            failures.extend(check_error(
                route,
                who,
                status,
                &body,
                StatusCode::NOT_FOUND,
                "NoSuchWarehouseException",
            ));
        }
    }

    ensure!(
        failures.is_empty(),
        "{} refusals went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing changed: same namespaces, properties, tables and metadata locations, and no
    // file was written.
    assert_eq!(catalog_state(&writer, &api).await?, before);
    assert_eq!(files_below(server.warehouse_dir())?, files_before);

    // The writer may do all of it: every request of the table is valid.
    for route in &routes {
        let (status, body) = route.send(&writer).await?;
        if !route.allowed(status) {
            failures.push(format!(
                "writer: {} {} -> expected 2xx, got {status} {body}",
                route.method, route.url
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "the writer was refused:\n{}",
        failures.join("\n")
    );
    let after = catalog_state(&writer, &api).await?;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        vec!["lkc-created", CLUSTER]
    );
    let cluster = &after[CLUSTER];
    assert_eq!(
        cluster.tables.keys().collect::<Vec<_>>(),
        vec!["created", "moved", "orders", "registered"]
    );
    assert_ne!(cluster.tables["orders"], orders_location);
    assert_eq!(cluster.tables["registered"], archived_location);
    assert_eq!(
        cluster.views.keys().collect::<Vec<_>>(),
        vec!["created_view", "moved_view", "registered_view", "report"]
    );
    assert_ne!(cluster.views["report"], report_location);
    assert_eq!(cluster.views["registered_view"], archived_view_location);
    assert_eq!(
        cluster.properties.get("touched").map(String::as_str),
        Some("yes")
    );
    let (_, orders) = send(writer.get(format!("{api}/namespaces/{CLUSTER}/tables/orders"))).await?;
    let properties = &orders["metadata"]["properties"];
    assert_eq!(properties["committed"], json!("yes"), "{orders}");
    assert_eq!(properties["transaction"], json!("yes"), "{orders}");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// the admin route table

/// What the admin API shows, without what a token request changes (`last_used_at`).
async fn admin_state(admin: &Admin) -> anyhow::Result<Vec<(String, Value)>> {
    let mut state = Vec::new();
    for path in [
        "/admin/v1/organizations".to_string(),
        format!("/admin/v1/organizations/{ORG}"),
        format!("/admin/v1/organizations/{ORG}/environments"),
        format!("/admin/v1/organizations/{ORG}/environments/{ENV}/clusters"),
        format!("/admin/v1/organizations/{ORG}/environments/{ENV}/api-keys"),
        format!("/admin/v1/organizations/{ORG}/api-keys"),
    ] {
        let (status, mut body) = admin.request(Method::GET, &path, None).await?;
        ensure!(status == StatusCode::OK, "GET {path}: {status} {body}");
        for key in body["api_keys"].as_array_mut().into_iter().flatten() {
            if let Some(key) = key.as_object_mut() {
                key.remove("last_used_at");
            }
        }
        state.push((path, body));
    }
    Ok(state)
}

/// The admin API refuses readers, writers and other environments' admins (403), and callers
/// without a token (401); it changes nothing for them. The administrator may do all of it.
async fn admin_route_table(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    // Things the refused callers try to delete.
    admin.create_organization("spare-org", "Spare").await?;
    admin
        .create_environment(ORG, "spare", &server.storage_location("spare")?)
        .await?;
    admin.register_cluster(ORG, ENV, "lkc-spare").await?;
    let spare_key = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let (status, body) = admin
        .request(
            Method::POST,
            &format!("/admin/v1/organizations/{ORG}/api-keys"),
            Some(&json!({"role": "admin"})),
        )
        .await?;
    ensure!(
        status == StatusCode::CREATED,
        "an organization key: {status} {body}"
    );
    let spare_org_key = body["key"]
        .as_str()
        .ok_or_else(|| anyhow!("no key in {body}"))?
        .to_string();

    let tableflow = server.tableflow_uri();
    let reader = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let writer = admin.create_api_key(ORG, ENV, Role::Writer).await?;
    let staging = admin
        .create_environment(ORG, "staging", &server.storage_location("staging")?)
        .await?;
    let staging_admin = admin.create_api_key(ORG, &staging.id, Role::Admin).await?;
    let refused = [
        ("reader", token_at(&tableflow, &reader).await?),
        ("writer", token_at(&tableflow, &writer).await?),
        (
            "admin of default/staging",
            token_at(&staging.catalog_uri, &staging_admin).await?,
        ),
    ];

    let base = server.base_url();
    let org = format!("{base}/admin/v1/organizations/{ORG}");
    let env = format!("{org}/environments/{ENV}");
    let spare_location = server.storage_location("intruder")?;
    let routes = vec![
        Route::new(
            "POST /admin/v1/organizations",
            format!("{base}/admin/v1/organizations"),
            Some(json!({"id": "intruder", "name": "Intruder"})),
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations",
            format!("{base}/admin/v1/organizations"),
            None,
            true,
        ),
        Route::new("GET /admin/v1/organizations/{org}", org.clone(), None, true),
        Route::new(
            "DELETE /admin/v1/organizations/{org}",
            format!("{base}/admin/v1/organizations/spare-org"),
            None,
            true,
        ),
        Route::new(
            "POST /admin/v1/organizations/{org}/environments",
            format!("{org}/environments"),
            Some(
                json!({"id": "intruder", "name": "Intruder", "storage": {"location": spare_location}}),
            ),
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations/{org}/environments",
            format!("{org}/environments"),
            None,
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations/{org}/environments/{env}",
            env.clone(),
            None,
            true,
        ),
        Route::new(
            "PATCH /admin/v1/organizations/{org}/environments/{env}",
            env.clone(),
            Some(json!({"name": "renamed"})),
            true,
        ),
        Route::new(
            "DELETE /admin/v1/organizations/{org}/environments/{env}",
            format!("{org}/environments/spare"),
            None,
            true,
        ),
        Route::new(
            "POST /admin/v1/organizations/{org}/environments/{env}/clusters",
            format!("{env}/clusters"),
            Some(json!({"id": "lkc-intruder"})),
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations/{org}/environments/{env}/clusters",
            format!("{env}/clusters"),
            None,
            true,
        ),
        Route::new(
            "DELETE /admin/v1/organizations/{org}/environments/{env}/clusters/{cluster}",
            format!("{env}/clusters/lkc-spare"),
            None,
            true,
        ),
        Route::new(
            "POST /admin/v1/organizations/{org}/environments/{env}/api-keys",
            format!("{env}/api-keys"),
            Some(json!({"role": "admin"})),
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations/{org}/environments/{env}/api-keys",
            format!("{env}/api-keys"),
            None,
            true,
        ),
        Route::new(
            "DELETE /admin/v1/organizations/{org}/environments/{env}/api-keys/{key}",
            format!("{env}/api-keys/{}", spare_key.client_id),
            None,
            true,
        ),
        Route::new(
            "POST /admin/v1/organizations/{org}/api-keys",
            format!("{org}/api-keys"),
            Some(json!({"role": "admin"})),
            true,
        ),
        Route::new(
            "GET /admin/v1/organizations/{org}/api-keys",
            format!("{org}/api-keys"),
            None,
            true,
        ),
        Route::new(
            "DELETE /admin/v1/organizations/{org}/api-keys/{key}",
            format!("{org}/api-keys/{spare_org_key}"),
            None,
            true,
        ),
    ];

    let before = admin_state(&admin).await?;
    let mut failures = Vec::new();
    let anonymous = reqwest::Client::new();
    let garbage = bearer_client("not-a-token")?;
    for route in &routes {
        for (who, http) in [("no token", &anonymous), ("malformed token", &garbage)] {
            let (status, body) = route.send(http).await?;
            failures.extend(check_error(
                route,
                who,
                status,
                &body,
                StatusCode::UNAUTHORIZED,
                "NotAuthorizedException",
            ));
        }
        for (who, token) in &refused {
            let (status, body) = route.send(&bearer_client(token)?).await?;
            // Another organization, or another environment than the key's own, reads as
            // missing; the rest (a role too low, or the key's organization as a whole) is 403.
            let own_env = if who.contains("staging") {
                format!("{org}/environments/staging")
            } else {
                env.clone()
            };
            let (expected, error_type) = if hidden_from(&route.url, &org, &own_env) {
                (StatusCode::NOT_FOUND, "NotFoundException")
            } else {
                (StatusCode::FORBIDDEN, "ForbiddenException")
            };
            failures.extend(check_error(route, who, status, &body, expected, error_type));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} refusals went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        admin_state(&admin).await?,
        before,
        "a refused caller changed something"
    );
    // The refused keys still work on the catalog: nothing revoked them.
    let (status, _) =
        send(bearer_client(&refused[0].1)?.get(config_url(server, Layout::Tableflow))).await?;
    assert_eq!(status, StatusCode::OK);

    // The server administrator may do every one of these.
    let http = bearer_client(admin.token())?;
    for route in &routes {
        let (status, body) = route.send(&http).await?;
        if !status.is_success() {
            failures.push(format!(
                "admin: {} {} -> expected 2xx, got {status} {body}",
                route.method, route.url
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "the administrator was refused:\n{}",
        failures.join("\n")
    );
    assert_ne!(admin_state(&admin).await?, before);
    // The revoked spare key cannot get a token any more.
    let (status, body) = send(
        reqwest::Client::new()
            .post(server.token_url(Layout::Tableflow))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", spare_key.client_id.as_str()),
                ("client_secret", spare_key.client_secret.as_str()),
            ]),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], json!("invalid_client"), "{body}");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// the oauth2 crate as the client

async fn oauth2_crate_client(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    let key = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let every_endpoint = advertised(&config_url(server, Layout::Tableflow), admin.token())
        .await?
        .into_iter()
        .collect::<BTreeSet<_>>();

    for layout in Layout::ALL {
        let token_url = TokenUrl::new(server.token_url(layout))?;
        for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
            let what = format!("{layout:?} layout, {auth_type:?}");
            let client = BasicClient::new(ClientId::new(key.client_id.clone()))
                .set_client_secret(ClientSecret::new(key.client_secret.clone()))
                .set_token_uri(token_url.clone())
                .set_auth_type(auth_type.clone());
            let token = client
                .exchange_client_credentials()
                .add_scope(Scope::new("catalog".to_string()))
                .request_async(&http)
                .await
                .map_err(|e| anyhow!("{what}: token request failed: {e:?}"))?;
            assert_eq!(token.token_type(), &BasicTokenType::Bearer, "{what}");
            let lifetime = token
                .expires_in()
                .ok_or_else(|| anyhow!("{what}: no expires_in"))?;
            assert!(
                lifetime > Duration::from_secs(60),
                "{what}: expires in {lifetime:?}"
            );
            assert_eq!(
                token.scopes(),
                Some(&vec![Scope::new("catalog".to_string())]),
                "{what}"
            );

            // The token opens the catalog, which lists every endpoint to a reader too.
            let (status, body) =
                send(bearer_client(token.access_token().secret())?.get(config_url(server, layout)))
                    .await?;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            assert_eq!(
                strings(&body["endpoints"])
                    .into_iter()
                    .collect::<BTreeSet<_>>(),
                every_endpoint,
                "{what}"
            );

            // A wrong secret, and an unknown client: the crate reports the server's
            // invalid_client.
            for (id, secret) in [
                (key.client_id.as_str(), "wrong-secret-wrong-secret"),
                ("FRZNOSUCHKEY2345678", key.client_secret.as_str()),
            ] {
                let bad = BasicClient::new(ClientId::new(id.to_string()))
                    .set_client_secret(ClientSecret::new(secret.to_string()))
                    .set_token_uri(token_url.clone())
                    .set_auth_type(auth_type.clone());
                match bad
                    .exchange_client_credentials()
                    .add_scope(Scope::new("catalog".to_string()))
                    .request_async(&http)
                    .await
                {
                    Err(RequestTokenError::ServerResponse(response)) => {
                        assert_eq!(
                            response.error(),
                            &BasicErrorResponseType::InvalidClient,
                            "{what}: {response:?}"
                        );
                    }
                    Err(other) => {
                        return Err(anyhow!(
                            "{what}: client {id}: expected invalid_client, got {other:?}"
                        ))
                    }
                    Ok(_) => return Err(anyhow!("{what}: client {id} got a token")),
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// iceberg-rust with a reader key

async fn rest_catalog(
    server: &Server,
    layout: Layout,
    credential: &Credential,
) -> anyhow::Result<RestCatalog> {
    let mut props = HashMap::from([
        ("uri".to_string(), server.catalog_uri(layout)),
        ("credential".to_string(), credential.property()),
    ]);
    if layout == Layout::Warehouse {
        props.insert("warehouse".to_string(), WAREHOUSE.to_string());
    }
    Ok(RestCatalogBuilder::default()
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .load("frazil", props)
        .await?)
}

fn expect_forbidden<T: std::fmt::Debug>(
    result: iceberg::Result<T>,
    what: &str,
) -> anyhow::Result<()> {
    match result {
        Ok(value) => Err(anyhow!("{what}: a reader succeeded: {value:?}")),
        Err(e) => {
            let text = e.to_string();
            ensure!(
                text.contains("ForbiddenException") && text.contains("403"),
                "{what}: expected 403 ForbiddenException, got {text}"
            );
            Ok(())
        }
    }
}

async fn reader_key_with_iceberg_rust(server: &Server, layout: Layout) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    let cluster = "lkc-readers";
    admin.register_cluster(ORG, ENV, cluster).await?;
    let writer_key = admin.create_api_key(ORG, ENV, Role::Writer).await?;
    let reader_key = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let writer = rest_catalog(server, layout, &writer_key).await?;
    let reader = rest_catalog(server, layout, &reader_key).await?;

    // The materializer creates a table and commits to it.
    let namespace = NamespaceIdent::new(cluster.to_string());
    let orders = TableIdent::new(namespace.clone(), "orders".to_string());
    let schema = Schema::builder()
        .with_schema_id(0)
        .with_fields(vec![NestedField::required(
            1,
            "id",
            Type::Primitive(PrimitiveType::Long),
        )
        .into()])
        .build()?;
    let created = writer
        .create_table(
            &namespace,
            TableCreation::builder()
                .name("orders".to_string())
                .schema(schema.clone())
                .build(),
        )
        .await?;
    let tx = Transaction::new(&created);
    let tx = tx
        .update_table_properties()
        .set("written-by".to_string(), "materializer".to_string())
        .apply(tx)?;
    let table = tx.commit(&writer).await?;
    let location = table
        .metadata_location()
        .ok_or_else(|| anyhow!("no metadata location"))?
        .to_string();
    let metadata_dir = reqwest::Url::parse(&location)?
        .to_file_path()
        .map_err(|()| anyhow!("not a local file: {location}"))?
        .parent()
        .ok_or_else(|| anyhow!("no parent of {location}"))?
        .to_path_buf();
    let files_before = files_below(&metadata_dir)?;

    // The reader sees it all.
    assert_eq!(reader.list_namespaces(None).await?, vec![namespace.clone()]);
    assert_eq!(reader.list_tables(&namespace).await?, vec![orders.clone()]);
    assert!(reader.table_exists(&orders).await?);
    let loaded = reader.load_table(&orders).await?;
    assert_eq!(loaded.metadata_location(), Some(location.as_str()));
    assert_eq!(loaded.metadata().uuid(), table.metadata().uuid());
    assert_eq!(
        loaded
            .metadata()
            .properties()
            .get("written-by")
            .map(String::as_str),
        Some("materializer")
    );

    // ... and can change none of it.
    let tx = Transaction::new(&loaded);
    let tx = tx
        .update_table_properties()
        .set("written-by".to_string(), "reader".to_string())
        .apply(tx)?;
    expect_forbidden(tx.commit(&reader).await, "a reader's commit")?;
    expect_forbidden(
        reader
            .create_table(
                &namespace,
                TableCreation::builder()
                    .name("intruder".to_string())
                    .schema(schema)
                    .build(),
            )
            .await,
        "a reader's create table",
    )?;
    expect_forbidden(
        reader
            .rename_table(
                &orders,
                &TableIdent::new(namespace.clone(), "moved".to_string()),
            )
            .await,
        "a reader's rename",
    )?;
    expect_forbidden(reader.drop_table(&orders).await, "a reader's drop table")?;
    expect_forbidden(
        reader
            .create_namespace(
                &NamespaceIdent::new("lkc-intruder".to_string()),
                HashMap::new(),
            )
            .await,
        "a reader's create namespace",
    )?;
    expect_forbidden(
        reader.drop_namespace(&namespace).await,
        "a reader's drop namespace",
    )?;

    // Unchanged: same metadata file, same properties, no new file, nothing else created.
    let reloaded = writer.load_table(&orders).await?;
    assert_eq!(reloaded.metadata_location(), Some(location.as_str()));
    assert_eq!(
        reloaded
            .metadata()
            .properties()
            .get("written-by")
            .map(String::as_str),
        Some("materializer")
    );
    assert_eq!(files_below(&metadata_dir)?, files_before);
    assert_eq!(writer.list_namespaces(None).await?, vec![namespace.clone()]);
    assert_eq!(writer.list_tables(&namespace).await?, vec![orders.clone()]);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// revocation

async fn revoked_key(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    let key = admin.create_api_key(ORG, ENV, Role::Reader).await?;
    let token = token_at(&server.tableflow_uri(), &key).await?;
    let http = bearer_client(&token)?;
    let config = config_url(server, Layout::Tableflow);
    let (status, body) = send(http.get(&config)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    admin.revoke_api_key(ORG, ENV, &key.client_id).await?;
    let revoked = Instant::now();
    // Refused within 5 seconds (a little slack for a loaded machine).
    let (status, body) = loop {
        let (status, body) = send(http.get(&config)).await?;
        if status != StatusCode::OK || revoked.elapsed() > Duration::from_secs(7) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked key's token still works {:?} after the revocation: {body}",
        revoked.elapsed()
    );
    assert_eq!(
        body["error"]["type"],
        json!("NotAuthorizedException"),
        "{body}"
    );
    assert!(
        revoked.elapsed() <= Duration::from_secs(6),
        "refused only after {:?}",
        revoked.elapsed()
    );

    // No new token for it either.
    let (status, body) = send(
        reqwest::Client::new()
            .post(server.token_url(Layout::Tableflow))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", key.client_id.as_str()),
                ("client_secret", key.client_secret.as_str()),
                ("scope", "catalog"),
            ]),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], json!("invalid_client"), "{body}");

    // The admin API lists it as revoked.
    let (status, body) = admin
        .request(
            Method::GET,
            &format!("/admin/v1/organizations/{ORG}/environments/{ENV}/api-keys"),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["api_keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["key"] == json!(key.client_id)))
        .ok_or_else(|| anyhow!("{} is not listed: {body}", key.client_id))?;
    assert!(listed["revoked_at"].is_string(), "{listed}");
    assert!(listed.get("secret").is_none(), "{listed}");
    Ok(())
}
