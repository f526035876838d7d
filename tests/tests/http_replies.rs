//! What a person with curl meets: `GET /` and `GET /api-docs/` point to the documents instead
//! of a bare 404, and every JSON answer (errors too) ends in a newline, so that output does not
//! run into the prompt; an `Idempotency-Key` replay stays byte for byte the first answer.

use anyhow::ensure;
use frazil_tests::{bearer_client, unique, Server, Store};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Status, content type and raw body; the body's length must match Content-Length.
async fn raw(response: Response) -> anyhow::Result<(StatusCode, String, Vec<u8>)> {
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, length) = (header(CONTENT_TYPE), header(CONTENT_LENGTH));
    let body = response.bytes().await?.to_vec();
    ensure!(
        length.is_empty() || length == body.len().to_string(),
        "Content-Length {length} for a body of {} bytes",
        body.len()
    );
    Ok((status, content_type, body))
}

fn json_line(what: &str, body: &[u8]) -> anyhow::Result<Value> {
    ensure!(
        body.ends_with(b"\n") && !body.ends_with(b"\n\n"),
        "{what}: the body does not end in one newline: {:?}",
        String::from_utf8_lossy(body)
    );
    Ok(serde_json::from_slice(body)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_and_the_api_docs_index_point_to_the_documents() -> anyhow::Result<()> {
    let server = Server::start(Store::Sqlite).await;
    let http = reqwest::Client::new();
    let base = server.base_url();

    let (status, kind, body) = raw(http.get(format!("{base}/")).send().await?).await?;
    ensure!(
        status == StatusCode::OK && kind.starts_with("application/json"),
        "GET /: {status} {kind}"
    );
    let root = json_line("GET /", &body)?;
    ensure!(root["links"]["docs"] == json!("/docs/"), "GET /: {root}");
    ensure!(
        root["links"]["api_docs"] == json!("/api-docs/"),
        "GET /: {root}"
    );

    for path in ["/api-docs/", "/api-docs"] {
        let (status, _, body) = raw(http.get(format!("{base}{path}")).send().await?).await?;
        ensure!(status == StatusCode::OK, "GET {path}: {status}");
        let index = json_line(path, &body)?;
        ensure!(index["docs"] == json!("/docs/"), "{path}: {index}");
        let documents = index["documents"].as_array().cloned().unwrap_or_default();
        for name in ["iceberg.json", "iceberg.yaml", "admin.json", "admin.yaml"] {
            let listed = documents.iter().find(|d| d["name"] == json!(name));
            let url = listed.and_then(|d| d["url"].as_str()).unwrap_or_default();
            ensure!(
                url == format!("/api-docs/{name}"),
                "{path} does not list {name}: {index}"
            );
            let status = http.get(format!("{base}{url}")).send().await?.status();
            ensure!(status == StatusCode::OK, "GET {url}: {status}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_and_error_bodies_end_in_a_newline() -> anyhow::Result<()> {
    let server = Server::start(Store::Sqlite).await;
    let base = server.base_url();
    let token = server.token(&server.admin_credential()).await?;
    let http = bearer_client(&token)?;
    let uri = server.tableflow_uri();

    let (status, _, body) = raw(http.get(format!("{uri}/v1/config")).send().await?).await?;
    ensure!(status == StatusCode::OK, "config: {status}");
    json_line("config", &body)?;

    let answers = [
        (
            "a missing table",
            http.get(format!("{uri}/v1/namespaces/nope/tables/t")),
        ),
        (
            "no token",
            reqwest::Client::new().get(format!("{uri}/v1/namespaces")),
        ),
        ("no route", http.get(format!("{base}/no/such/route"))),
        (
            "no catalog route",
            http.get(format!("{uri}/v1/no-such-route")),
        ),
        (
            "a method not allowed",
            http.put(format!("{uri}/v1/namespaces")),
        ),
        (
            "a token request",
            reqwest::Client::new()
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "nobody"),
                    ("client_secret", "wrong"),
                ]),
        ),
    ];
    for (what, request) in answers {
        let (status, kind, body) = raw(request.send().await?).await?;
        ensure!(status.is_client_error(), "{what}: {status}");
        ensure!(kind.starts_with("application/json"), "{what}: {kind}");
        json_line(what, &body)?;
    }

    // An Idempotency-Key replay is the first answer, byte for byte, newline included.
    let key = uuid::Uuid::now_v7().to_string();
    let namespace = json!({"namespace": [unique("replayed")]});
    let mut first = None;
    for attempt in 0..2 {
        let request = http
            .post(format!("{uri}/v1/namespaces"))
            .header("Idempotency-Key", &key)
            .json(&namespace);
        let (status, _, body) = raw(request.send().await?).await?;
        ensure!(
            status == StatusCode::OK,
            "create namespace ({attempt}): {status}"
        );
        json_line("create namespace", &body)?;
        match &first {
            None => first = Some(body),
            Some(first) => ensure!(
                *first == body,
                "the replay differs: {:?} then {:?}",
                String::from_utf8_lossy(first),
                String::from_utf8_lossy(&body)
            ),
        }
    }
    Ok(())
}
