//! Table locations and purges against the real `frazil` binary, on SQLite and on Postgres:
//! a table cannot take the warehouse root or another table's directory (400), a drop with
//! purge answers 204 and the purge worker deletes the files shortly after, and a purge task
//! survives a crash of the server (SIGKILL right after the drop) and runs after the restart.
//!
//! Build the binary first: `cargo build --bin frazil`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use frazil_tests::{bearer_client, send, Layout, Server, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

const NS: &str = "lkc-purge";

fn schema() -> Value {
    json!({"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "id", "required": true, "type": "long"}]})
}

/// The catalog API prefix and a client with the administrator's token.
async fn client(server: &Server) -> anyhow::Result<(String, reqwest::Client)> {
    let token = server.token(&server.admin_credential()).await?;
    let http = bearer_client(&token)?;
    let api = server.api_prefix(Layout::Tableflow);
    let (status, body) = send(
        http.post(format!("{api}/namespaces"))
            .json(&json!({"namespace": [NS]})),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "create namespace: {status} {body}"
    );
    Ok((api, http))
}

/// Creates a table (at `location` if given); the status and body as answered.
async fn create(
    http: &reqwest::Client,
    api: &str,
    name: &str,
    location: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut body = json!({"name": name, "schema": schema()});
    if let Some(location) = location {
        body["location"] = json!(location);
    }
    send(
        http.post(format!("{api}/namespaces/{NS}/tables"))
            .json(&body),
    )
    .await
}

/// The local directory of a created table.
fn table_dir(created: &Value) -> anyhow::Result<PathBuf> {
    let location = created["metadata"]["location"]
        .as_str()
        .context("no location")?;
    reqwest::Url::parse(location)?
        .to_file_path()
        .map_err(|()| anyhow::anyhow!("not a local location: {location}"))
}

async fn wait_gone(dir: &Path, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while dir.exists() {
        ensure!(
            Instant::now() < deadline,
            "{} still exists after {within:?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn locations_are_checked_and_purge_runs_in_the_background(
    store: Store,
) -> anyhow::Result<()> {
    let server = Server::start(store).await;
    let (api, http) = client(&server).await?;
    let (status, t1) = create(&http, &api, "t1", None).await?;
    ensure!(status == StatusCode::OK, "{status} {t1}");
    let t1_location = t1["metadata"]["location"].as_str().context("location")?;
    let root = reqwest::Url::from_directory_path(server.warehouse_dir())
        .map_err(|()| anyhow::anyhow!("warehouse dir"))?
        .to_string();
    let parent = t1_location.rsplit_once('/').context("parent")?.0;
    for (name, location) in [
        ("at_root", root.clone()),
        ("same", t1_location.to_string()),
        ("inside", format!("{t1_location}/x")),
        ("containing", parent.to_string()),
    ] {
        let (status, body) = create(&http, &api, name, Some(&location)).await?;
        ensure!(
            status == StatusCode::BAD_REQUEST
                && body["error"]["type"] == "BadRequestException"
                && body["error"]["code"] == 400,
            "{store} {name}: {status} {body}"
        );
        let (status, _) = send(http.get(format!("{api}/namespaces/{NS}/tables/{name}"))).await?;
        ensure!(
            status == StatusCode::NOT_FOUND,
            "{name} was created: {status}"
        );
    }

    let dir = table_dir(&t1)?;
    ensure!(dir.exists());
    let dropped = http
        .delete(format!(
            "{api}/namespaces/{NS}/tables/t1?purgeRequested=true"
        ))
        .send()
        .await?;
    ensure!(
        dropped.status() == StatusCode::NO_CONTENT,
        "{}",
        dropped.status()
    );
    wait_gone(&dir, Duration::from_secs(10)).await?;
    // The worker did it (its log line follows the deletion).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log_text().contains("purged a dropped table's files") {
        ensure!(Instant::now() < deadline, "no purge in the log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn a_purge_task_survives_a_crash(store: Store) -> anyhow::Result<()> {
    // The worker may run the purge only 3 s after the drop: time to kill the server before.
    let mut server = Server::start_with(store, &[("FRAZIL_PURGE_DELAY_MS", "3000")]).await;
    let (api, http) = client(&server).await?;
    let (status, created) = create(&http, &api, "doomed", None).await?;
    ensure!(status == StatusCode::OK, "{status} {created}");
    let dir = table_dir(&created)?;
    let dropped = http
        .delete(format!(
            "{api}/namespaces/{NS}/tables/doomed?purgeRequested=true"
        ))
        .send()
        .await?;
    ensure!(
        dropped.status() == StatusCode::NO_CONTENT,
        "{}",
        dropped.status()
    );
    server.kill_and_restart().await;
    ensure!(dir.exists(), "{store}: the files outlived the crash");
    wait_gone(&dir, Duration::from_secs(15)).await?;
    Ok(())
}

macro_rules! per_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(frazil_tests::Store::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(frazil_tests::Store::Postgres).await
            }
        }
    )*};
}

per_store!(
    locations_are_checked_and_purge_runs_in_the_background,
    a_purge_task_survives_a_crash
);
