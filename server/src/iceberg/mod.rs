//! The Iceberg REST catalog API, under both catalog URI layouts:
//! - Tableflow: `/iceberg/catalog/organizations/{org}/environments/{env}` + `/v1/...`
//! - warehouse: `/iceberg/catalog` + `/v1/config?warehouse={org}/{env}`, then `/v1/{org}/{env}/...`

mod config;
mod namespaces;
mod paths;
mod tables;

use actix_web::web::{self, ServiceConfig};
use frazil_catalog::Access;

use crate::app::resource;

/// The routes below a catalog prefix, as `/v1/config` advertises them in `endpoints`, with the
/// access each needs. A unit test checks that this list and the route table agree.
pub const ENDPOINTS: &[(&str, Access)] = &[
    ("GET /v1/{prefix}/namespaces", Access::Read),
    ("POST /v1/{prefix}/namespaces", Access::Write),
    ("GET /v1/{prefix}/namespaces/{namespace}", Access::Read),
    ("HEAD /v1/{prefix}/namespaces/{namespace}", Access::Read),
    ("DELETE /v1/{prefix}/namespaces/{namespace}", Access::Write),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/properties",
        Access::Write,
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/tables",
        Access::Read,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables",
        Access::Write,
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        Access::Read,
    ),
    (
        "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        Access::Read,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        Access::Write,
    ),
    (
        "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        Access::Write,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/register",
        Access::Write,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
        Access::Read,
    ),
    ("POST /v1/{prefix}/tables/rename", Access::Write),
    ("POST /v1/{prefix}/transactions/commit", Access::Write),
];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/iceberg/catalog/organizations/{org}/environments/{env}/v1/config")
            .route(web::get().to(config::tableflow_config)),
    )
    .service(resource("/iceberg/catalog/v1/config").route(web::get().to(config::warehouse_config)))
    .service(
        web::scope("/iceberg/catalog/organizations/{org}/environments/{env}/v1")
            .configure(catalog_routes),
    )
    .service(web::scope("/iceberg/catalog/v1/{org}/{env}").configure(catalog_routes));
}

/// One route per entry of [`ENDPOINTS`], relative to the catalog prefix.
fn catalog_routes(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/namespaces")
            .route(web::get().to(namespaces::list))
            .route(web::post().to(namespaces::create)),
    )
    .service(
        resource("/namespaces/{namespace}")
            .route(web::get().to(namespaces::load))
            .route(web::head().to(namespaces::exists))
            .route(web::delete().to(namespaces::drop)),
    )
    .service(
        resource("/namespaces/{namespace}/properties")
            .route(web::post().to(namespaces::update_properties)),
    )
    .service(
        resource("/namespaces/{namespace}/tables")
            .route(web::get().to(tables::list))
            .route(web::post().to(tables::create)),
    )
    .service(
        resource("/namespaces/{namespace}/tables/{table}")
            .route(web::get().to(tables::load))
            .route(web::head().to(tables::exists))
            .route(web::post().to(tables::commit))
            .route(web::delete().to(tables::drop)),
    )
    .service(resource("/namespaces/{namespace}/register").route(web::post().to(tables::register)))
    .service(
        resource("/namespaces/{namespace}/tables/{table}/metrics")
            .route(web::post().to(tables::report_metrics)),
    )
    .service(resource("/tables/rename").route(web::post().to(tables::rename)))
    .service(resource("/transactions/commit").route(web::post().to(tables::commit_transaction)));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::{test, App};
    use frazil_catalog::store::SqlStore;
    use frazil_catalog::Catalog;
    use frazil_storage::StorageConfig;

    use super::ENDPOINTS;
    use crate::state::AppState;

    /// Every advertised endpoint is routed, under both layouts, to a handler (not the fallback).
    #[actix_web::test]
    async fn every_advertised_endpoint_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let store = SqlStore::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let catalog = Arc::new(Catalog::new(Arc::new(store.clone())));
        let location = url::Url::from_directory_path(dir.path())
            .unwrap()
            .to_string();
        catalog
            .ensure_environment("default", "default", StorageConfig { location, s3: None })
            .await
            .unwrap();
        let auth = Arc::new(
            crate::auth::Authenticator::new(catalog.clone(), std::time::Duration::from_secs(60))
                .await
                .unwrap(),
        );
        let state = AppState {
            catalog,
            store,
            auth,
            public_url: "http://test".into(),
        };
        let app =
            test::init_service(App::new().configure(crate::app::configure(state, 1 << 20))).await;
        let prefixes = [
            "/iceberg/catalog/organizations/default/environments/default/v1",
            "/iceberg/catalog/v1/default/default",
        ];
        for (endpoint, _) in ENDPOINTS {
            let (method, template) = endpoint.split_once(' ').unwrap();
            for prefix in prefixes {
                let path = template
                    .replace("/v1/{prefix}", prefix)
                    .replace("{namespace}", "ns")
                    .replace("{table}", "t");
                let request = test::TestRequest::default()
                    .method(method.parse().unwrap())
                    .uri(&path)
                    .set_payload("{}")
                    .to_request();
                let response = test::call_service(&app, request).await;
                let status = response.status();
                let body = test::read_body(response).await;
                let text = String::from_utf8_lossy(&body);
                assert!(
                    status != 405
                        && !text.contains("No route for")
                        && !text.contains("is not allowed"),
                    "{method} {path} is advertised but not served: {status} {text}"
                );
            }
        }
    }
}
