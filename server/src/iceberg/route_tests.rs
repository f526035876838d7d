//! The route table as the application serves it, in-process: every entry is registered under
//! both URI layouts and tags its requests with its endpoint; authorization reads the table (a
//! reader's write is 403 before its body is read); methods a path does not serve are 405 with
//! `Allow`; `/v1/config` advertises the same routes to every role.

use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{test, App};
use frazil_catalog::store::SqlStore;
use frazil_catalog::{Catalog, NewApiKey, Role};
use frazil_storage::StorageConfig;

use super::Endpoint;
use crate::state::AppState;

const PREFIXES: [&str; 2] = [
    "/iceberg/catalog/organizations/default/environments/default/v1",
    "/iceberg/catalog/v1/default/default",
];

/// The application over a fresh SQLite store with the `default/default` environment.
async fn app_state(dir: &std::path::Path) -> AppState {
    let url = format!("sqlite://{}", dir.join("f.db").display());
    let store = SqlStore::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let catalog = Arc::new(
        Catalog::new(Arc::new(store.clone()))
            .with_master_key(frazil_catalog::MasterKey::generate().0),
    );
    let location = url::Url::from_directory_path(dir).unwrap().to_string();
    catalog
        .ensure_environment(
            "default",
            "default",
            StorageConfig {
                location,
                s3: None,
                provider_integration: None,
            },
        )
        .await
        .unwrap();
    let auth = Arc::new(
        crate::auth::Authenticator::new(catalog.clone(), std::time::Duration::from_secs(60), 0)
            .await
            .unwrap(),
    );
    AppState {
        catalog,
        store,
        auth,
        public_url: "http://test".into(),
        load_cache: Default::default(),
        request_timeout: std::time::Duration::from_secs(60),
    }
}

/// A bearer token of a new key of `default/default` with `role`.
async fn token(state: &AppState, role: Role) -> String {
    let issued = state
        .catalog
        .create_api_key(NewApiKey {
            org_id: Some("default".into()),
            env_id: Some("default".into()),
            role: Some(role),
            description: format!("{role} of the route tests"),
            expires_at_ms: None,
            id: None,
            secret: None,
        })
        .await
        .unwrap();
    let token = state
        .auth
        .tokens
        .issue(&issued.key.principal(), "catalog")
        .unwrap();
    format!("Bearer {}", token.access_token)
}

/// `endpoint`'s path under `prefix`, with sample names for its parameters.
fn uri(prefix: &str, endpoint: Endpoint) -> String {
    let path = endpoint
        .path()
        .replace("{namespace}", "ns")
        .replace("{table}", "t")
        .replace("{view}", "v");
    format!("{prefix}{path}")
}

async fn body_json(response: ServiceResponse) -> serde_json::Value {
    let body = test::read_body(response).await;
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// Every entry of the table is routed, under both layouts, through its own route: the request
/// reaches the `Caller` extractor (401 without a token) tagged with that very endpoint.
#[actix_web::test]
async fn every_route_of_the_table_is_registered_under_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let state = app_state(dir.path()).await;
    let app = test::init_service(App::new().configure(crate::app::configure(state, 1 << 20))).await;
    for &endpoint in Endpoint::ALL {
        for prefix in PREFIXES {
            let request = test::TestRequest::default()
                .method(endpoint.method())
                .uri(&uri(prefix, endpoint))
                .set_payload("{}")
                .to_request();
            let response = app.call(request).await.unwrap();
            let status = response.status();
            let tagged = Endpoint::of(response.request());
            assert_eq!(
                (status.as_u16(), tagged),
                (401, Some(endpoint)),
                "{} under {prefix}",
                endpoint.spec()
            );
        }
    }
}

/// A reader's write is refused by the table's access level, with a message that says why, before
/// its body (here not JSON at all) or its Idempotency-Key is looked at; its reads pass.
#[actix_web::test]
async fn a_readers_write_is_403_read_only_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let state = app_state(dir.path()).await;
    let reader = token(&state, Role::Reader).await;
    let app = test::init_service(App::new().configure(crate::app::configure(state, 1 << 20))).await;
    for &endpoint in Endpoint::ALL {
        if endpoint.access() == frazil_catalog::Access::Read {
            continue;
        }
        for prefix in PREFIXES {
            let request = test::TestRequest::default()
                .method(endpoint.method())
                .uri(&uri(prefix, endpoint))
                .insert_header((header::AUTHORIZATION, reader.as_str()))
                .insert_header(("Idempotency-Key", "not a uuid"))
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("not json")
                .to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(response.status(), 403, "{}", endpoint.spec());
            let body = body_json(response).await;
            assert_eq!(body["error"]["type"], "ForbiddenException");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("This API key is read-only (role reader)")
                    && message.contains(endpoint.action()),
                "{}: {message}",
                endpoint.spec()
            );
        }
    }
    let request = test::TestRequest::get()
        .uri(&format!("{}/namespaces", PREFIXES[0]))
        .insert_header((header::AUTHORIZATION, reader.as_str()))
        .to_request();
    assert_eq!(test::call_service(&app, request).await.status(), 200);
    let request = test::TestRequest::post()
        .uri(&format!("{}/namespaces", PREFIXES[1]))
        .insert_header((header::AUTHORIZATION, reader.as_str()))
        .set_json(serde_json::json!({"namespace": ["ns"]}))
        .to_request();
    let body = body_json(test::call_service(&app, request).await).await;
    assert_eq!(
        body["error"]["message"],
        "This API key is read-only (role reader): it cannot create a namespace. \
         Writes need an API key with role writer."
    );
}

/// A method a path does not serve is 405 with `Allow` and an Iceberg error body, on catalog
/// paths and on the token endpoint alike.
#[actix_web::test]
async fn an_unserved_method_is_405_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let state = app_state(dir.path()).await;
    let app = test::init_service(App::new().configure(crate::app::configure(state, 1 << 20))).await;
    let table = uri(PREFIXES[1], Endpoint::LoadTable);
    let cases = [
        ("PUT", table.as_str(), "GET, HEAD, POST, DELETE"),
        ("GET", "/oauth/token", "POST"),
        ("GET", "/iceberg/catalog/v1/oauth/tokens", "POST"),
        (
            "GET",
            "/iceberg/catalog/organizations/default/environments/default/v1/oauth/tokens",
            "POST",
        ),
        ("DELETE", "/iceberg/catalog/v1/config", "GET"),
    ];
    for (method, path, allowed) in cases {
        let request = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path)
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut allow: Vec<&str> = allow.split(',').map(str::trim).collect();
        let mut expected: Vec<&str> = allowed.split(", ").collect();
        allow.sort_unstable();
        expected.sort_unstable();
        assert_eq!(allow, expected, "{method} {path}: Allow");
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], 405, "{method} {path}: {body}");
    }
}

/// `/v1/config` advertises every route of the table to a reader and a writer alike: a reader's
/// write reaches the server and is refused there with a message, not by the client.
#[actix_web::test]
async fn config_advertises_every_route_to_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let state = app_state(dir.path()).await;
    let reader = token(&state, Role::Reader).await;
    let writer = token(&state, Role::Writer).await;
    let app = test::init_service(App::new().configure(crate::app::configure(state, 1 << 20))).await;
    let every: Vec<&str> = Endpoint::ALL.iter().map(|e| e.spec()).collect();
    for token in [&reader, &writer] {
        for uri in [
            "/iceberg/catalog/organizations/default/environments/default/v1/config",
            "/iceberg/catalog/v1/config?warehouse=default/default",
        ] {
            let request = test::TestRequest::get()
                .uri(uri)
                .insert_header((header::AUTHORIZATION, token.as_str()))
                .to_request();
            let body = body_json(test::call_service(&app, request).await).await;
            assert_eq!(body["endpoints"], serde_json::json!(every), "{uri}");
        }
    }
}
