//! The Iceberg REST catalog API, under both catalog URI layouts:
//! - Tableflow: `/iceberg/catalog/organizations/{org}/environments/{env}` + `/v1/...`
//! - warehouse: `/iceberg/catalog` + `/v1/config?warehouse={org}/{env}`, then `/v1/{org}/{env}/...`

// `pub(crate)`: the OpenAPI documents (`crate::api_docs`) name the config handlers, and the
// idempotency middleware rebuilds answers with `reply`. The route table (`endpoints`) names the
// other handlers.
pub(crate) mod config;
mod delegation;
mod endpoints;
mod load_cache;
mod namespaces;
mod paths;
mod remote_signing;
pub(crate) mod reply;
#[cfg(test)]
mod route_tests;
mod tables;
mod views;

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use actix_web::Route;
use frazil_catalog::Access;

pub use endpoints::{Endpoint, Operations};
pub use load_cache::LoadCache;

use crate::app::resource;
use crate::auth::Caller;

/// Routes of the Iceberg REST spec that Frazil does not serve yet. They answer 501 with an
/// Iceberg error body (clients map it to `UnsupportedOperationException`) and are not
/// advertised in `/v1/config`, so clients never call them. A test checks that every operation of
/// the spec is either in the route table ([`Endpoint`]) or here.
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
            .app_data(Access::Read)
            .route(web::get().to(config::tableflow_config)),
    )
    .service(
        resource("/iceberg/catalog/v1/config")
            .app_data(Access::Read)
            .route(web::get().to(config::warehouse_config)),
    )
    .service(
        web::scope("/iceberg/catalog/organizations/{org}/environments/{env}/v1")
            .configure(catalog_routes),
    )
    .service(web::scope("/iceberg/catalog/v1/{org}/{env}").configure(catalog_routes));
}

/// Every route of the table and every route of [`NOT_SUPPORTED`], relative to the catalog
/// prefix, as one resource per path: actix tries only the first resource whose path matches, and
/// a resource answers the methods it does not serve with 405 and `Allow`.
fn catalog_routes(cfg: &mut ServiceConfig) {
    let mut by_path: Vec<(String, Vec<Route>)> = Vec::new();
    let mut add = |path: String, route: Route| match by_path.iter_mut().find(|(p, _)| *p == path) {
        Some((_, routes)) => routes.push(route),
        None => by_path.push((path, vec![route])),
    };
    for endpoint in Endpoint::ALL {
        add(endpoint.path().to_string(), endpoint.route());
    }
    for (operation, message) in NOT_SUPPORTED {
        let Some((method, template)) = operation.split_once(' ') else {
            continue;
        };
        // `{plan-id}` is not a valid capture name for the router.
        let path = template
            .trim_start_matches("/v1/{prefix}")
            .replace("{plan-id}", "{plan_id}");
        let method = method.parse().unwrap_or(Method::POST);
        add(
            path,
            web::method(method).to(move |caller: Caller| not_supported(caller, message)),
        );
    }
    for (path, routes) in by_path {
        // The routes of the table carry their own access; the 501s need a readable environment.
        let resource = routes
            .into_iter()
            .fold(resource(&path).app_data(Access::Read), |r, route| {
                r.route(route)
            });
        cfg.service(resource);
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

/// The route table against the Iceberg REST spec itself.
#[cfg(test)]
mod spec_tests {
    use super::{Endpoint, NOT_SUPPORTED};

    /// Routes of the spec served outside the catalog prefix, by the config and auth modules.
    const OUTSIDE_PREFIX: &[&str] = &["GET /v1/config", "POST /v1/oauth/tokens"];

    /// Every operation of the vendored Iceberg REST spec, as `"VERB /path"`, and whether it
    /// declares the `Idempotency-Key` header.
    fn spec_operations() -> Vec<(String, bool)> {
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../openapi/reference/rest-catalog-open-api.yaml");
        let text = std::fs::read_to_string(&spec).unwrap();
        let paths = text.split("\npaths:\n").nth(1).unwrap();
        let paths = paths.split("\ncomponents:").next().unwrap();
        let mut operations: Vec<(String, bool)> = Vec::new();
        let mut current = "";
        for line in paths.lines() {
            if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
                current = path;
            } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            {
                if ["get", "post", "put", "delete", "head", "patch"].contains(&method) {
                    operations.push((format!("{} /{current}", method.to_uppercase()), false));
                }
            } else if line.trim() == "- $ref: '#/components/parameters/idempotency-key'" {
                // Declared by the operation being read (operation-level parameters).
                if let Some(last) = operations.last_mut() {
                    last.1 = true;
                }
            }
        }
        operations
    }

    #[test]
    fn every_spec_operation_is_served_or_not_supported() {
        let operations = spec_operations();
        assert!(operations.len() >= 35, "parsed only {operations:?}");
        for (operation, _) in &operations {
            let served = Endpoint::ALL.iter().any(|e| e.spec() == operation);
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
        let listed = Endpoint::ALL
            .iter()
            .map(|e| e.spec())
            .chain(NOT_SUPPORTED.iter().map(|(e, _)| *e));
        for endpoint in listed {
            assert!(
                operations.iter().any(|(o, _)| o == endpoint),
                "{endpoint} is not an operation of the spec"
            );
        }
    }

    /// The table's `Idempotency-Key` column is the spec's.
    #[test]
    fn the_routes_that_declare_idempotency_key_are_the_specs() {
        let operations = spec_operations();
        assert!(operations.iter().filter(|(_, key)| *key).count() >= 14);
        for endpoint in Endpoint::ALL {
            let declared = operations
                .iter()
                .find(|(o, _)| o == endpoint.spec())
                .map(|(_, key)| *key);
            assert_eq!(
                declared,
                Some(endpoint.declares_key()),
                "{}: Idempotency-Key",
                endpoint.spec()
            );
        }
    }
}
