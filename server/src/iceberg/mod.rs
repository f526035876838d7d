//! The Iceberg REST catalog API, under both catalog URI layouts:
//! - Tableflow: `/iceberg/catalog/organizations/{org}/environments/{env}` + `/v1/...`
//! - warehouse: `/iceberg/catalog` + `/v1/config?warehouse={org}/{env}`, then `/v1/{org}/{env}/...`

// `pub(crate)`: the OpenAPI documents (`crate::api_docs`) name the handlers.
pub(crate) mod config;
mod load_cache;
pub(crate) mod namespaces;
mod paths;
pub(crate) mod tables;
pub(crate) mod views;

use actix_web::web::{self, ServiceConfig};
use frazil_catalog::Access;

pub use load_cache::LoadCache;

use actix_web::middleware::from_fn;

use crate::app::resource;
use crate::auth::Caller;
use crate::idempotency;

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
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
        Access::Write,
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
        Access::Read,
    ),
    ("POST /v1/{prefix}/tables/rename", Access::Write),
    ("POST /v1/{prefix}/transactions/commit", Access::Write),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/views",
        Access::Read,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/views",
        Access::Write,
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
        Access::Read,
    ),
    (
        "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
        Access::Read,
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
        Access::Write,
    ),
    (
        "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
        Access::Write,
    ),
    ("POST /v1/{prefix}/views/rename", Access::Write),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/register-view",
        Access::Write,
    ),
];

/// Routes of the Iceberg REST spec that Frazil does not serve yet. They answer 501 with an
/// Iceberg error body (clients map it to `UnsupportedOperationException`) and are not
/// advertised in `/v1/config`, so clients never call them. A test checks that every operation of
/// the spec is either in [`ENDPOINTS`] or here.
pub const NOT_SUPPORTED: &[(&str, &str)] = &[
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/plan",
        "Server-side scan planning is not supported: plan scans in the client",
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/plan/{plan-id}",
        "Server-side scan planning is not supported: plan scans in the client",
    ),
    (
        "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}/plan/{plan-id}",
        "Server-side scan planning is not supported: plan scans in the client",
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/tasks",
        "Server-side scan planning is not supported: plan scans in the client",
    ),
    (
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign",
        "Remote signing is not supported: configure storage credentials in the client",
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/functions",
        "Functions are not supported",
    ),
    (
        "GET /v1/{prefix}/namespaces/{namespace}/functions/{function}",
        "Functions are not supported",
    ),
];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/iceberg/catalog/organizations/{org}/environments/{env}/v1/config")
            .route(web::get().to(config::tableflow_config)),
    )
    .service(resource("/iceberg/catalog/v1/config").route(web::get().to(config::warehouse_config)))
    .service(
        web::scope("/iceberg/catalog/organizations/{org}/environments/{env}/v1")
            .wrap(from_fn(idempotency::middleware))
            .configure(catalog_routes),
    )
    .service(
        web::scope("/iceberg/catalog/v1/{org}/{env}")
            .wrap(from_fn(idempotency::middleware))
            .configure(catalog_routes),
    );
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
    .service(
        resource("/namespaces/{namespace}/tables/{table}/unregister")
            .route(web::post().to(tables::unregister)),
    )
    .service(
        resource("/namespaces/{namespace}/tables/{table}/credentials")
            .route(web::get().to(tables::credentials)),
    )
    .service(resource("/tables/rename").route(web::post().to(tables::rename)))
    .service(resource("/transactions/commit").route(web::post().to(tables::commit_transaction)))
    .service(
        resource("/namespaces/{namespace}/views")
            .route(web::get().to(views::list))
            .route(web::post().to(views::create)),
    )
    .service(
        resource("/namespaces/{namespace}/views/{view}")
            .route(web::get().to(views::load))
            .route(web::head().to(views::exists))
            .route(web::post().to(views::replace))
            .route(web::delete().to(views::drop)),
    )
    .service(resource("/views/rename").route(web::post().to(views::rename)))
    .service(
        resource("/namespaces/{namespace}/register-view").route(web::post().to(views::register)),
    );
    // One resource per path: actix tries only the first resource whose path matches.
    let mut paths: Vec<&str> = Vec::new();
    for (endpoint, _) in NOT_SUPPORTED {
        let path = endpoint.split_once(' ').map_or("", |(_, p)| p);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    for path in paths {
        // `{plan-id}` is not a valid capture name for the router.
        let route_path = path
            .trim_start_matches("/v1/{prefix}")
            .replace("{plan-id}", "{plan_id}");
        let mut unsupported = resource(route_path);
        for (endpoint, message) in NOT_SUPPORTED {
            let Some((method, template)) = endpoint.split_once(' ') else {
                continue;
            };
            if template == path {
                let method = method.parse().unwrap_or(actix_web::http::Method::POST);
                unsupported = unsupported.route(
                    web::method(method).to(move |caller: Caller| not_supported(caller, message)),
                );
            }
        }
        cfg.service(unsupported);
    }
}

/// 501 for a spec route Frazil does not serve, once the caller is authenticated.
async fn not_supported(
    _caller: Caller,
    message: &'static str,
) -> crate::error::ApiResult<actix_web::HttpResponse> {
    Err(crate::error::ApiError::new(
        actix_web::http::StatusCode::NOT_IMPLEMENTED,
        "UnsupportedOperationException",
        message,
    ))
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
        let catalog = Arc::new(
            Catalog::new(Arc::new(store.clone()))
                .with_master_key(frazil_catalog::MasterKey::generate().0),
        );
        let location = url::Url::from_directory_path(dir.path())
            .unwrap()
            .to_string();
        catalog
            .ensure_environment("default", "default", StorageConfig { location, s3: None })
            .await
            .unwrap();
        let auth = Arc::new(
            crate::auth::Authenticator::new(catalog.clone(), std::time::Duration::from_secs(60), 0)
                .await
                .unwrap(),
        );
        let state = AppState {
            catalog,
            store,
            auth,
            public_url: "http://test".into(),
            load_cache: Default::default(),
            request_timeout: std::time::Duration::from_secs(60),
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
                    .replace("{table}", "t")
                    .replace("{view}", "v");
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

/// The route table against the Iceberg REST spec itself.
#[cfg(test)]
mod spec_tests {
    use super::{ENDPOINTS, NOT_SUPPORTED};

    /// Routes of the spec served outside the catalog prefix, by the config and auth modules.
    const OUTSIDE_PREFIX: &[&str] = &["GET /v1/config", "POST /v1/oauth/tokens"];

    /// Every operation of the vendored Iceberg REST spec, as `"VERB /path"`.
    fn spec_operations() -> Vec<String> {
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../openapi/reference/rest-catalog-open-api.yaml");
        let text = std::fs::read_to_string(&spec).unwrap();
        let paths = text.split("\npaths:\n").nth(1).unwrap();
        let paths = paths.split("\ncomponents:").next().unwrap();
        let mut operations = Vec::new();
        let mut current = "";
        for line in paths.lines() {
            if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
                current = path;
            } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            {
                if ["get", "post", "put", "delete", "head", "patch"].contains(&method) {
                    operations.push(format!("{} /{current}", method.to_uppercase()));
                }
            }
        }
        operations
    }

    #[test]
    fn every_spec_operation_is_served_or_not_supported() {
        let operations = spec_operations();
        assert!(operations.len() >= 35, "parsed only {operations:?}");
        for operation in &operations {
            let served = ENDPOINTS.iter().any(|(e, _)| e == operation);
            let unsupported = NOT_SUPPORTED.iter().any(|(e, _)| e == operation);
            let outside = OUTSIDE_PREFIX.contains(&operation.as_str());
            assert!(
                served || unsupported || outside,
                "{operation} is in the spec but neither served nor listed as not supported"
            );
            assert!(
                !(served && unsupported),
                "{operation} is both served and unsupported"
            );
        }
        // And nothing is advertised or listed that the spec does not define.
        let listed = ENDPOINTS
            .iter()
            .map(|(e, _)| *e)
            .chain(NOT_SUPPORTED.iter().map(|(e, _)| *e));
        for endpoint in listed {
            assert!(
                operations.iter().any(|o| o == endpoint),
                "{endpoint} is not an operation of the spec"
            );
        }
    }
}
