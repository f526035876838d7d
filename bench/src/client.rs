//! The catalog under test, reached only through the Iceberg REST API: configuration, the three
//! ways of authenticating, and the namespace, table and commit calls the scenarios make.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

/// How the harness authenticates to the catalog.
#[derive(Debug, Clone)]
pub enum AuthMode {
    None,
    Bearer(String),
    ClientCredentials(Credentials),
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
}

impl AuthMode {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Bearer(_) => "bearer",
            AuthMode::ClientCredentials(_) => "client-credentials",
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    header: HeaderValue,
    refresh_at: Instant,
}

/// Bearer token source: static, or fetched with client credentials and refreshed before expiry.
#[derive(Debug)]
pub struct Auth {
    pub mode: AuthMode,
    token: RwLock<Option<Token>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Auth {
    pub fn new(mode: AuthMode) -> anyhow::Result<Self> {
        let token = match &mode {
            AuthMode::Bearer(token) => Some(Token {
                header: HeaderValue::from_str(&format!("Bearer {token}"))?,
                refresh_at: Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600),
            }),
            _ => None,
        };
        Ok(Self {
            mode,
            token: RwLock::new(token),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> Option<HeaderValue> {
        let guard = self.token.read().ok()?;
        guard
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.header.clone())
    }

    /// The `Authorization` value to send, if any.
    pub async fn header(&self, client: &reqwest::Client) -> anyhow::Result<Option<HeaderValue>> {
        let AuthMode::ClientCredentials(credentials) = &self.mode else {
            return Ok(self.cached());
        };
        if let Some(header) = self.cached() {
            return Ok(Some(header));
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(header) = self.cached() {
            return Ok(Some(header));
        }
        let issued = request_token(client, credentials).await?;
        let lifetime = Duration::from_secs(issued.expires_in.unwrap_or(3600).max(10));
        let token = Token {
            header: HeaderValue::from_str(&format!("Bearer {}", issued.access_token))?,
            refresh_at: Instant::now() + lifetime.mul_f64(0.8),
        };
        let header = token.header.clone();
        if let Ok(mut slot) = self.token.write() {
            *slot = Some(token);
        }
        Ok(Some(header))
    }
}

#[derive(Debug, Deserialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: Option<u64>,
}

/// One client-credentials token request.
pub async fn request_token(
    client: &reqwest::Client,
    credentials: &Credentials,
) -> anyhow::Result<IssuedToken> {
    let (status, body) = post_token_form(client, credentials).await?;
    if !status.is_success() {
        bail!(
            "token endpoint: HTTP {}: {}",
            status.as_u16(),
            snippet(&body)
        );
    }
    serde_json::from_slice(&body).context("the token endpoint answered without access_token")
}

/// POSTs the client-credentials form; the `token` scenario's unit of work.
pub async fn post_token_form(
    client: &reqwest::Client,
    credentials: &Credentials,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &credentials.client_id)
            .append_pair("client_secret", &credentials.client_secret);
        if let Some(scope) = &credentials.scope {
            form.append_pair("scope", scope);
        }
        form.finish()
    };
    let response = client
        .post(&credentials.token_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.bytes().await?))
}

/// A new HTTP client: each load-generating worker has its own, so `connections` is exact.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// `HTTP 409 CommitFailedException: message...` for an Iceberg error body.
    pub fn describe(&self) -> String {
        let parsed: Option<Value> = serde_json::from_slice(&self.body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        match error {
            Some(error) => format!(
                "HTTP {} {}: {}",
                self.status.as_u16(),
                error["type"].as_str().unwrap_or("?"),
                short(error["message"].as_str().unwrap_or(""), 100)
            ),
            None => format!("HTTP {}: {}", self.status.as_u16(), snippet(&self.body)),
        }
    }
}

pub fn snippet(body: &[u8]) -> String {
    short(&String::from_utf8_lossy(body), 100)
}

fn short(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(max).collect::<String>())
    }
}

/// The catalog: its URI, the resolved API base (with the prefix `/v1/config` gave), and auth.
#[derive(Debug)]
pub struct Catalog {
    pub uri: String,
    /// `{uri}/v1` or `{uri}/v1/{prefix}`.
    pub base: String,
    pub auth: Auth,
}

#[derive(Debug, Deserialize, Default)]
struct ConfigResponse {
    #[serde(default)]
    overrides: HashMap<String, String>,
    #[serde(default)]
    defaults: HashMap<String, String>,
}

impl Catalog {
    /// Calls `/v1/config` (with `warehouse` if given) and resolves the prefix.
    pub async fn connect(uri: &str, warehouse: Option<String>, auth: Auth) -> anyhow::Result<Self> {
        let uri = uri.trim_end_matches('/').to_string();
        let client = http_client()?;
        let mut request = client.get(format!("{uri}/v1/config"));
        if let Some(warehouse) = &warehouse {
            request = request.query(&[("warehouse", warehouse)]);
        }
        if let Some(header) = auth.header(&client).await? {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("GET {uri}/v1/config"))?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!(
                "GET {uri}/v1/config: HTTP {}: {}",
                status.as_u16(),
                snippet(&body)
            );
        }
        let config: ConfigResponse =
            serde_json::from_slice(&body).context("/v1/config is not a catalog configuration")?;
        let uri_override = config
            .overrides
            .get("uri")
            .cloned()
            .map(|u| u.trim_end_matches('/').to_string());
        let root = uri_override.unwrap_or_else(|| uri.clone());
        let prefix = config
            .overrides
            .get("prefix")
            .or_else(|| config.defaults.get("prefix"))
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty());
        let base = match prefix {
            Some(prefix) => format!("{root}/v1/{prefix}"),
            None => format!("{root}/v1"),
        };
        Ok(Self { uri, base, auth })
    }

    /// One request below the API base (`path` starts without a slash), read whole.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
        headers: &[(&'static str, HeaderValue)],
    ) -> anyhow::Result<Response> {
        let mut request = client.request(method, format!("{}/{path}", self.base));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(header) = self.auth.header(client).await? {
            request = request.header(AUTHORIZATION, header);
        }
        for (name, value) in headers {
            request = request.header(*name, value.clone());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Creates a namespace; false if it already existed.
    pub async fn create_namespace(
        &self,
        client: &reqwest::Client,
        name: &str,
    ) -> anyhow::Result<bool> {
        let body = json!({"namespace": [name], "properties": {"created-by": "frazil-bench"}});
        let response = self
            .send(
                client,
                Method::POST,
                "namespaces",
                &[],
                Some(body.to_string()),
                &[],
            )
            .await?;
        match response.status.as_u16() {
            200..=299 => Ok(true),
            409 => Ok(false),
            _ => bail!("create namespace {name}: {}", response.describe()),
        }
    }

    /// Creates a (format v2, unpartitioned) table, or loads it if it already exists.
    pub async fn create_table(
        &self,
        client: &reqwest::Client,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<TableHandle> {
        let body = json!({
            "name": name,
            "schema": {
                "type": "struct",
                "schema-id": 0,
                "fields": [
                    {"id": 1, "name": "id", "required": true, "type": "long"},
                    {"id": 2, "name": "key", "required": false, "type": "string"},
                    {"id": 3, "name": "payload", "required": false, "type": "string"},
                    {"id": 4, "name": "ts", "required": false, "type": "timestamptz"}
                ]
            },
            "properties": {"format-version": "2", "created-by": "frazil-bench"}
        });
        let response = self
            .send(
                client,
                Method::POST,
                &format!("namespaces/{ns}/tables"),
                &[],
                Some(body.to_string()),
                &[],
            )
            .await?;
        match response.status.as_u16() {
            200..=299 => TableHandle::from_load_result(ns, name, &response.body),
            409 => self.load_state(client, ns, name).await,
            _ => bail!("create table {ns}.{name}: {}", response.describe()),
        }
    }

    /// The table's current state, from `loadTable?snapshots=refs`.
    pub async fn load_state(
        &self,
        client: &reqwest::Client,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<TableHandle> {
        let response = self
            .send(
                client,
                Method::GET,
                &table_path(ns, name),
                &[("snapshots", "refs")],
                None,
                &[],
            )
            .await?;
        if !response.status.is_success() {
            bail!("load table {ns}.{name}: {}", response.describe());
        }
        TableHandle::from_load_result(ns, name, &response.body)
    }

    /// One append commit (add-snapshot + set-snapshot-ref main, asserting main's current
    /// snapshot) built on `table`'s view; the view advances on success.
    pub async fn append(
        &self,
        client: &reqwest::Client,
        table: &mut TableHandle,
    ) -> Result<Appended, CommitError> {
        self.append_batch(client, table, 1).await
    }

    /// One commit of `count` appends in a row (each an add-snapshot whose parent is the one
    /// before, then set-snapshot-ref main), asserting main's current snapshot; the view advances
    /// on success. `count` 1 is the ordinary append.
    pub async fn append_batch(
        &self,
        client: &reqwest::Client,
        table: &mut TableHandle,
        count: usize,
    ) -> Result<Appended, CommitError> {
        let ids: Vec<i64> = (0..count.max(1)).map(|_| new_snapshot_id()).collect();
        let (body, sequence, timestamp) = table.append_batch_body(&ids);
        let response = self
            .send(client, Method::POST, &table.path(), &[], Some(body), &[])
            .await
            .map_err(|e| CommitError::Failed(format!("{e:#}")))?;
        match response.status.as_u16() {
            200..=299 => {
                let snapshot_id = *ids.last().unwrap_or(&0);
                table.main = Some(snapshot_id);
                table.last_sequence_number = sequence;
                table.last_updated_ms = timestamp;
                table.snapshots += ids.len();
                Ok(Appended {
                    snapshot_id,
                    response_bytes: response.body.len(),
                })
            }
            409 => Err(CommitError::Conflict(response.describe())),
            _ => Err(CommitError::Failed(response.describe())),
        }
    }

    /// Every snapshot id of the table's snapshot log, and the ancestry of `main`.
    pub async fn snapshot_lineage(
        &self,
        client: &reqwest::Client,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<Lineage> {
        let response = self
            .send(
                client,
                Method::GET,
                &table_path(ns, name),
                &[("snapshots", "all")],
                None,
                &[],
            )
            .await?;
        if !response.status.is_success() {
            bail!("load table {ns}.{name}: {}", response.describe());
        }
        let value: Value = serde_json::from_slice(&response.body)?;
        let metadata = &value["metadata"];
        let log: HashSet<i64> = metadata["snapshot-log"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["snapshot-id"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        let parents: HashMap<i64, Option<i64>> = metadata["snapshots"]
            .as_array()
            .map(|snapshots| {
                snapshots
                    .iter()
                    .filter_map(|s| {
                        Some((s["snapshot-id"].as_i64()?, s["parent-snapshot-id"].as_i64()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut ancestry = HashSet::new();
        let mut cursor = metadata["refs"]["main"]["snapshot-id"].as_i64();
        while let Some(id) = cursor {
            if !ancestry.insert(id) {
                break;
            }
            cursor = parents.get(&id).copied().flatten();
        }
        Ok(Lineage {
            snapshot_log: log,
            ancestry,
            snapshots: parents.len(),
        })
    }
}

pub struct Lineage {
    pub snapshot_log: HashSet<i64>,
    pub ancestry: HashSet<i64>,
    pub snapshots: usize,
}

/// The path of a table below the API base. Names the harness makes need no escaping.
pub fn table_path(ns: &str, name: &str) -> String {
    format!("namespaces/{ns}/tables/{name}")
}

#[derive(Debug)]
pub enum CommitError {
    /// 409: a requirement failed (someone else committed first).
    Conflict(String),
    Failed(String),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Conflict(m) | CommitError::Failed(m) => f.write_str(m),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub snapshot_id: i64,
    /// Size of the commit response, i.e. of the new table metadata.
    pub response_bytes: usize,
}

/// What a writer knows of a table: enough to build the next append commit.
#[derive(Debug, Clone)]
pub struct TableHandle {
    pub ns: String,
    pub name: String,
    pub location: String,
    pub main: Option<i64>,
    pub last_sequence_number: i64,
    pub last_updated_ms: i64,
    /// Snapshots this handle has seen committed (not necessarily all of the table's).
    pub snapshots: usize,
}

#[derive(Debug, Deserialize)]
struct LoadResultPart {
    metadata: MetadataPart,
}

#[derive(Debug, Deserialize)]
struct MetadataPart {
    location: String,
    #[serde(rename = "last-sequence-number", default)]
    last_sequence_number: i64,
    #[serde(rename = "last-updated-ms", default)]
    last_updated_ms: i64,
    #[serde(rename = "current-snapshot-id", default)]
    current_snapshot_id: Option<i64>,
    #[serde(default)]
    refs: HashMap<String, RefPart>,
}

#[derive(Debug, Deserialize)]
struct RefPart {
    #[serde(rename = "snapshot-id")]
    snapshot_id: i64,
}

impl TableHandle {
    pub fn from_load_result(ns: &str, name: &str, body: &[u8]) -> anyhow::Result<Self> {
        let parsed: LoadResultPart = serde_json::from_slice(body)
            .with_context(|| format!("{ns}.{name}: not a LoadTableResult"))?;
        let metadata = parsed.metadata;
        let main = metadata
            .refs
            .get("main")
            .map(|r| r.snapshot_id)
            .or(metadata.current_snapshot_id.filter(|id| *id >= 0));
        Ok(Self {
            ns: ns.to_string(),
            name: name.to_string(),
            location: metadata.location.trim_end_matches('/').to_string(),
            main,
            last_sequence_number: metadata.last_sequence_number,
            last_updated_ms: metadata.last_updated_ms,
            snapshots: 0,
        })
    }

    pub fn path(&self) -> String {
        table_path(&self.ns, &self.name)
    }

    /// The commit body of appends in a row on top of this view, one per id (one id: the
    /// ordinary append): each snapshot's parent is the one before it and its sequence number the
    /// next, and each add-snapshot is followed by set-snapshot-ref main. Returns (body, last
    /// sequence number, timestamp).
    pub fn append_batch_body(&self, snapshot_ids: &[i64]) -> (String, i64, i64) {
        let timestamp = chrono::Utc::now()
            .timestamp_millis()
            .max(self.last_updated_ms);
        let mut updates = Vec::with_capacity(2 * snapshot_ids.len());
        let mut parent = self.main;
        let mut sequence = self.last_sequence_number;
        for &snapshot_id in snapshot_ids {
            sequence += 1;
            let snapshot = json!({
                "snapshot-id": snapshot_id,
                "parent-snapshot-id": parent,
                "sequence-number": sequence,
                "timestamp-ms": timestamp,
                "manifest-list": format!(
                    "{}/metadata/snap-{snapshot_id}-1-{}.avro",
                    self.location,
                    uuid::Uuid::new_v4()
                ),
                "summary": {
                    "operation": "append",
                    "added-data-files": "1",
                    "added-records": "1000",
                    "added-files-size": "65536",
                    "changed-partition-count": "1",
                    "total-records": (sequence * 1000).to_string(),
                    "total-files-size": (sequence * 65536).to_string(),
                    "total-data-files": sequence.to_string(),
                    "total-delete-files": "0",
                    "total-position-deletes": "0",
                    "total-equality-deletes": "0"
                },
                "schema-id": 0
            });
            updates.push(json!({"action": "add-snapshot", "snapshot": snapshot}));
            updates.push(
                json!({"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
                 "snapshot-id": snapshot_id}),
            );
            parent = Some(snapshot_id);
        }
        let body = json!({
            "requirements": [
                {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": self.main}
            ],
            "updates": updates
        });
        (body.to_string(), sequence, timestamp)
    }
}

/// A random positive snapshot id.
pub fn new_snapshot_id() -> i64 {
    (rand::random::<u64>() >> 1).max(1) as i64
}

/// The number of entries in a listNamespaces or listTables page and its next token.
pub fn parse_page(body: &[u8], field: &str) -> anyhow::Result<(usize, Option<String>)> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(rename = "next-page-token", default)]
        next: Option<String>,
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    }
    let page: Page = serde_json::from_slice(body)?;
    let count = page
        .rest
        .get(field)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Ok((count, page.next.filter(|t| !t.is_empty())))
}
