//! End-to-end test harness: starts the real `frazil` binary and stops it on drop.
//!
//! Every server gets its own temporary directory (data dir, warehouse, log) and its own metadata
//! store: a SQLite file in that directory, or a fresh Postgres database `frazil_rs_<uuid>` on
//! `$FRAZIL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), created
//! and dropped with `psql`.
//!
//! - `FRAZIL_BIN` selects the binary (default `<workspace>/target/debug/frazil`); build it first
//!   with `cargo build --bin frazil`.
//! - Every server starts with the fixed bootstrap credential [`BOOTSTRAP_CLIENT_ID`] /
//!   [`BOOTSTRAP_CLIENT_SECRET`] (a server administrator). Every catalog and admin route needs a
//!   bearer token: [`Server::token`] gets one, [`Server::admin`] drives the admin API (environments,
//!   clusters, API keys) with the administrator's token.
//! - The server's combined stdout/stderr is in `<tempdir>/frazil.log`; a server that exits early
//!   or panics while serving fails the test.

use std::fmt;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The organization and environment `frazil serve` creates on first start.
pub const ORG: &str = "default";
pub const ENV: &str = "default";
/// The `warehouse` a client sends with the warehouse URI layout.
pub const WAREHOUSE: &str = "default/default";

/// The server administrator every test server is bootstrapped with
/// (`FRAZIL_BOOTSTRAP_CLIENT_ID` / `FRAZIL_BOOTSTRAP_CLIENT_SECRET`).
pub const BOOTSTRAP_CLIENT_ID: &str = "frazil-test-admin";
pub const BOOTSTRAP_CLIENT_SECRET: &str = "frazil-test-admin-secret-7f3c19d2";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The metadata store behind a server. Every test runs against both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    pub const ALL: [Store; 2] = [Store::Sqlite, Store::Postgres];
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        })
    }
}

/// The two catalog URI layouts every client must be able to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{base}/iceberg/catalog/organizations/{org}/environments/{env}`, no warehouse.
    Tableflow,
    /// `{base}/iceberg/catalog` with `warehouse={org}/{env}`.
    Warehouse,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Tableflow, Layout::Warehouse];
}

/// `file:///...` of an absolute directory, without a trailing slash.
pub fn directory_url(dir: &Path) -> String {
    reqwest::Url::from_directory_path(dir)
        .map(|url| url.to_string().trim_end_matches('/').to_string())
        .unwrap_or_else(|()| panic!("not an absolute path: {}", dir.display()))
}

/// What [`Server::start`] lists as `storage_roots`: the default environment's warehouse and the
/// directory of [`Server::storage_location`].
fn default_roots(warehouse: &str, dir: &Path) -> Vec<String> {
    vec![
        warehouse.to_string(),
        directory_url(&dir.join("warehouses")),
    ]
}

/// The path of the `frazil` binary under test.
pub fn frazil_bin() -> PathBuf {
    match std::env::var_os("FRAZIL_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("debug")
            .join("frazil"),
    }
}

/// The Postgres server test databases are created on.
pub fn postgres_admin_url() -> String {
    std::env::var("FRAZIL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

/// A running `frazil serve`; killed (and its Postgres database dropped) on drop.
pub struct Server {
    store: Store,
    child: Option<Child>,
    base_url: String,
    warehouse_dir: PathBuf,
    log: PathBuf,
    postgres: Option<PostgresDatabase>,
    /// What every (re)start of the process is given.
    data_dir: PathBuf,
    database_url: String,
    warehouse_url: String,
    extra_env: Vec<(String, String)>,
    // Last: removed after the process is gone.
    dir: tempfile::TempDir,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("store", &self.store)
            .field("base_url", &self.base_url)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl Server {
    /// Starts the binary against a fresh `store` and waits until `/healthz` answers 200.
    ///
    /// Panics (failing the test) if the binary is missing, exits early, or does not answer
    /// within 30 s.
    pub async fn start(store: Store) -> Server {
        Self::start_with(store, &[]).await
    }

    /// [`Server::start`] with more `FRAZIL_*` settings, e.g. `("FRAZIL_PURGE_DELAY_MS", "3000")`.
    pub async fn start_with(store: Store, env: &[(&str, &str)]) -> Server {
        Self::start_configured(store, env, &default_roots).await
    }

    /// Starts the binary with `storage_roots` computed from the default environment's warehouse
    /// URL and the server's temporary directory. [`Server::start`] lists the warehouse and the
    /// directory of [`Server::storage_location`].
    pub async fn start_with_roots(
        store: Store,
        roots: impl Fn(&str, &Path) -> Vec<String>,
    ) -> Server {
        Self::start_configured(store, &[], &roots).await
    }

    async fn start_configured(
        store: Store,
        env: &[(&str, &str)],
        roots: &dyn Fn(&str, &Path) -> Vec<String>,
    ) -> Server {
        match Self::try_start(store, env, roots).await {
            Ok(server) => server,
            Err(e) => panic!("starting frazil ({store}) failed: {e:#}"),
        }
    }

    /// Kills the process with SIGKILL (no shutdown at all, as a crash), then starts it again on
    /// the same data directory, database and warehouse.
    pub async fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = self.spawn().await {
            panic!("restarting frazil ({}) failed: {e:#}", self.store);
        }
    }

    /// The server's temporary directory (data dir, warehouse, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn try_start(
        store: Store,
        env: &[(&str, &str)],
        roots: &dyn Fn(&str, &Path) -> Vec<String>,
    ) -> anyhow::Result<Server> {
        let bin = frazil_bin();
        if !bin.exists() {
            panic!(
                "the frazil binary is missing at {}: run `cargo build --bin frazil` first (or set FRAZIL_BIN)",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("frazil-rs-").tempdir()?;
        let data_dir = dir.path().join("data");
        let warehouse_dir = dir.path().join("warehouse");
        std::fs::create_dir_all(&data_dir)?;
        std::fs::create_dir_all(&warehouse_dir)?;
        let warehouse_url = directory_url(&warehouse_dir);
        let storage_roots = roots(&warehouse_url, dir.path()).join(",");

        let postgres = match store {
            Store::Sqlite => None,
            Store::Postgres => Some(PostgresDatabase::create(&postgres_admin_url())?),
        };
        let database_url = match &postgres {
            None => format!("sqlite://{}", data_dir.join("frazil.db").display()),
            Some(db) => db.url.clone(),
        };

        let mut server = Server {
            store,
            child: None,
            base_url: String::new(),
            warehouse_dir,
            log: dir.path().join("frazil.log"),
            postgres,
            data_dir,
            database_url,
            warehouse_url,
            extra_env: std::iter::once(("FRAZIL_STORAGE_ROOTS", storage_roots.as_str()))
                .chain(env.iter().copied())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Starts the process and waits until it is healthy.
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = frazil_bin();
        let server = self;
        // A free port can be taken by someone else between our probe and the server's bind:
        // try a few ports before giving up.
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            let log = File::options()
                .create(true)
                .append(true)
                .open(&server.log)?;
            let mut command = Command::new(&bin);
            command
                .arg("serve")
                .current_dir(server.dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            // Nothing from the caller's FRAZIL_* configuration leaks into the server under test.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("FRAZIL_") {
                    command.env_remove(key);
                }
            }
            command
                .env("FRAZIL_LISTEN", format!("127.0.0.1:{port}"))
                .env("FRAZIL_DATA_DIR", &server.data_dir)
                .env("FRAZIL_DATABASE_URL", &server.database_url)
                .env("FRAZIL_WAREHOUSE", &server.warehouse_url)
                .env("FRAZIL_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_CLIENT_ID)
                .env("FRAZIL_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_CLIENT_SECRET)
                .env("RUST_BACKTRACE", "1")
                .envs(server.extra_env.iter().map(|(k, v)| (k, v)));
            let child = command
                .spawn()
                .with_context(|| format!("spawning {}", bin.display()))?;
            server.child = Some(child);
            server.base_url = format!("http://127.0.0.1:{port}");
            match server.wait_healthy().await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let log = server.log_text();
                    server.stop();
                    if log.contains("Address already in use") {
                        last_error = Some(e);
                        continue;
                    }
                    bail!("{e:#}\n--- frazil log ---\n{log}");
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no free port")))
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/healthz", self.base_url);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("frazil exited with {status} before answering {url}");
                }
            }
            match client.get(&url).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => return Ok(()),
                Ok(response) => last = format!("HTTP {}", response.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("frazil did not answer {url} with 200 within {STARTUP_TIMEOUT:?} (last: {last})")
    }

    pub fn store(&self) -> Store {
        self.store
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The Tableflow-layout catalog URI (no warehouse needed).
    pub fn tableflow_uri(&self) -> String {
        format!(
            "{}/iceberg/catalog/organizations/{ORG}/environments/{ENV}",
            self.base_url
        )
    }

    /// The warehouse-layout catalog URI; clients send `warehouse=`[`WAREHOUSE`].
    pub fn warehouse_uri(&self) -> String {
        format!("{}/iceberg/catalog", self.base_url)
    }

    pub fn catalog_uri(&self, layout: Layout) -> String {
        match layout {
            Layout::Tableflow => self.tableflow_uri(),
            Layout::Warehouse => self.warehouse_uri(),
        }
    }

    /// The REST prefix a client computes after `/v1/config`: `{uri}/v1` for the Tableflow
    /// layout, `{uri}/v1/{org}/{env}` for the warehouse layout.
    pub fn api_prefix(&self, layout: Layout) -> String {
        match layout {
            Layout::Tableflow => format!("{}/v1", self.tableflow_uri()),
            Layout::Warehouse => format!("{}/v1/{ORG}/{ENV}", self.warehouse_uri()),
        }
    }

    /// The local directory of the default environment's `file://` warehouse.
    pub fn warehouse_dir(&self) -> &Path {
        &self.warehouse_dir
    }

    /// A new, empty local directory `<tempdir>/warehouses/<name>` as a `file://` location, for
    /// the storage a server administrator chooses for an environment (a storage root of
    /// [`Server::start`]).
    pub fn storage_location(&self, name: &str) -> anyhow::Result<String> {
        let dir = self.dir.path().join("warehouses").join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(directory_url(&dir))
    }

    /// The token endpoint of a catalog URI layout: `{catalog uri}/v1/oauth/tokens`.
    pub fn token_url(&self, layout: Layout) -> String {
        format!("{}/v1/oauth/tokens", self.catalog_uri(layout))
    }

    /// The server-wide token endpoint, `/oauth/token`.
    pub fn admin_token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url)
    }

    /// The server administrator's credential (the bootstrap one).
    pub fn admin_credential(&self) -> Credential {
        Credential::new(BOOTSTRAP_CLIENT_ID, BOOTSTRAP_CLIENT_SECRET)
    }

    /// A bearer token for `credential` from `/oauth/token` (client credentials, scope `catalog`).
    pub async fn token(&self, credential: &Credential) -> anyhow::Result<String> {
        request_token(&reqwest::Client::new(), &self.admin_token_url(), credential).await
    }

    /// The admin API with the server administrator's token.
    pub async fn admin(&self) -> anyhow::Result<Admin> {
        let token = self.token(&self.admin_credential()).await?;
        Ok(Admin::new(self.base_url.clone(), token))
    }

    /// The server's combined stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    /// SIGTERM, then SIGKILL if the process has not exited in time. Returns whether the process
    /// had already exited on its own.
    fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if terminated {
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let exited_early = self.stop();
        if let Some(db) = self.postgres.take() {
            db.drop_database();
        }
        if std::thread::panicking() {
            return;
        }
        let log = self.log_text();
        if exited_early {
            panic!("frazil ({}) exited while the test ran:\n{log}", self.store);
        }
        if log.contains("panicked at") {
            panic!("frazil ({}) panicked while serving:\n{log}", self.store);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A fresh database on a Postgres server, dropped by [`PostgresDatabase::drop_database`].
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("frazil_rs_{}", uuid::Uuid::new_v4().simple());
        let mut url = reqwest::Url::parse(admin_url)
            .with_context(|| format!("FRAZIL_TEST_POSTGRES_URL is not a URL: {admin_url}"))?;
        url.set_path(&format!("/{name}"));
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))
            .with_context(|| format!("creating the test database on {admin_url} (is Postgres running? set FRAZIL_TEST_POSTGRES_URL)"))?;
        Ok(Self {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        })
    }

    fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.admin_url, &sql) {
            eprintln!("warning: could not drop test database {}: {e:#}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("running psql (is it on PATH?)")?;
    if !output.status.success() {
        bail!(
            "psql -c {sql:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A name no other test uses: `{prefix}_{10 hex digits}`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..10])
}

/// A raw request's status and JSON body (`Null` when empty).
pub async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("HTTP {status}: body {text:?}"))?
    };
    Ok((status, body))
}

/// An HTTP client that sends `Authorization: Bearer <token>` with every request.
pub fn bearer_client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    value.set_sensitive(true);
    let headers = HeaderMap::from_iter([(AUTHORIZATION, value)]);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

// ------------------------------------------------------------------------------------------
// authentication

/// OAuth2 client credentials: an API key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Credential {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `id:secret`, the `credential` catalog property of iceberg-rust, PyIceberg and Iceberg Java.
    pub fn property(&self) -> String {
        format!("{}:{}", self.client_id, self.client_secret)
    }
}

/// A token request as Iceberg Java sends it: form body with `grant_type=client_credentials`,
/// `client_id`, `client_secret` and `scope=catalog`. Returns the access token of a 200 answer.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    credential: &Credential,
) -> anyhow::Result<String> {
    let (status, body) = send(http.post(token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", credential.client_id.as_str()),
        ("client_secret", credential.client_secret.as_str()),
        ("scope", "catalog"),
    ]))
    .await
    .with_context(|| format!("POST {token_url}"))?;
    ensure!(
        status == StatusCode::OK,
        "POST {token_url} for {}: HTTP {status} {body}",
        credential.client_id
    );
    ensure!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "POST {token_url}: token_type is not bearer in {body}"
    );
    body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("POST {token_url}: no access_token in {body}"))
}

/// The role of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Writer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ------------------------------------------------------------------------------------------
// the admin API

/// An environment as the admin API created it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub org: String,
    pub id: String,
    /// Its storage location.
    pub location: String,
    /// The Tableflow-layout catalog URI.
    pub catalog_uri: String,
    /// `{org}/{env}`, for the warehouse layout.
    pub warehouse: String,
}

/// `/admin/v1` with one bearer token.
#[derive(Debug, Clone)]
pub struct Admin {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

impl Admin {
    pub fn new(base_url: String, token: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url,
            token,
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// `method {base}{path}` with the token and an optional JSON body: status and JSON answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        send(request).await
    }

    /// A create call that must answer 201.
    async fn create(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.request(Method::POST, path, Some(&body)).await?;
        ensure!(
            status == StatusCode::CREATED,
            "POST {path} {body}: expected 201, got {status} {answer}"
        );
        Ok(answer)
    }

    pub async fn create_organization(&self, id: &str, name: &str) -> anyhow::Result<Value> {
        self.create("/admin/v1/organizations", json!({"id": id, "name": name}))
            .await
    }

    /// An environment with `file://` (or `s3://`) storage at `location` (a server administrator
    /// below a storage root).
    pub async fn create_environment(
        &self,
        org: &str,
        id: &str,
        location: &str,
    ) -> anyhow::Result<Environment> {
        let request = json!({"id": id, "name": id, "storage": {"location": location}});
        self.create_environment_with(org, request).await
    }

    /// An environment created without `storage`: at `{root}/{org}/{env}`.
    pub async fn create_environment_at_default(
        &self,
        org: &str,
        id: &str,
    ) -> anyhow::Result<Environment> {
        let request = json!({"id": id, "name": id});
        self.create_environment_with(org, request).await
    }

    async fn create_environment_with(
        &self,
        org: &str,
        request: Value,
    ) -> anyhow::Result<Environment> {
        let body = self
            .create(
                &format!("/admin/v1/organizations/{org}/environments"),
                request,
            )
            .await?;
        let field = |name: &str| -> anyhow::Result<String> {
            body[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no {name} in the created environment {body}"))
        };
        Ok(Environment {
            org: org.to_string(),
            id: field("id")?,
            location: body["storage"]["location"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no storage location in {body}"))?,
            catalog_uri: field("catalog_uri")?,
            warehouse: field("warehouse")?,
        })
    }

    /// Registers a Kafka cluster: the top-level namespace `cluster` in `org`/`env`.
    pub async fn register_cluster(
        &self,
        org: &str,
        env: &str,
        cluster: &str,
    ) -> anyhow::Result<()> {
        self.create(
            &format!("/admin/v1/organizations/{org}/environments/{env}/clusters"),
            json!({"id": cluster}),
        )
        .await?;
        Ok(())
    }

    /// A new API key of `org`/`env` with `role`, as client credentials.
    pub async fn create_api_key(
        &self,
        org: &str,
        env: &str,
        role: Role,
    ) -> anyhow::Result<Credential> {
        let body = self
            .create(
                &format!("/admin/v1/organizations/{org}/environments/{env}/api-keys"),
                json!({"role": role.as_str(), "description": format!("frazil-tests {role}")}),
            )
            .await?;
        ensure!(
            body["role"] == json!(role.as_str()),
            "created key has role {} instead of {role}: {body}",
            body["role"]
        );
        match (body["key"].as_str(), body["secret"].as_str()) {
            (Some(key), Some(secret)) => Ok(Credential::new(key, secret)),
            _ => Err(anyhow!("no key and secret in the created API key {body}")),
        }
    }

    /// Revokes an environment's API key (204).
    pub async fn revoke_api_key(&self, org: &str, env: &str, key: &str) -> anyhow::Result<()> {
        let path = format!("/admin/v1/organizations/{org}/environments/{env}/api-keys/{key}");
        let (status, body) = self.request(Method::DELETE, &path, None).await?;
        ensure!(
            status.is_success(),
            "DELETE {path}: expected 204, got {status} {body}"
        );
        Ok(())
    }
}
