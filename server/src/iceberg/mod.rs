//! The Iceberg REST catalog API, under both catalog URI layouts:
//! - Tableflow: `/iceberg/catalog/organizations/{org}/environments/{env}` + `/v1/...`
//! - warehouse: `/iceberg/catalog` + `/v1/config?warehouse={org}/{env}`, then `/v1/{org}/{env}/...`

mod config;
mod namespaces;
mod paths;
mod tables;

use actix_web::web::{self, ServiceConfig};

/// The routes below a catalog prefix, as `/v1/config` advertises them in `endpoints`. A unit
/// test checks that this list and the route table agree.
pub const ENDPOINTS: &[&str] = &[
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.route(
        "/iceberg/catalog/organizations/{org}/environments/{env}/v1/config",
        web::get().to(config::tableflow_config),
    )
    .route(
        "/iceberg/catalog/v1/config",
        web::get().to(config::warehouse_config),
    )
    .service(
        web::scope("/iceberg/catalog/organizations/{org}/environments/{env}/v1")
            .configure(catalog_routes),
    )
    .service(web::scope("/iceberg/catalog/v1/{org}/{env}").configure(catalog_routes));
}

/// One route per entry of [`ENDPOINTS`], relative to the catalog prefix.
fn catalog_routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/namespaces")
            .route(web::get().to(namespaces::list))
            .route(web::post().to(namespaces::create)),
    )
    .service(
        web::resource("/namespaces/{namespace}")
            .route(web::get().to(namespaces::load))
            .route(web::head().to(namespaces::exists))
            .route(web::delete().to(namespaces::drop)),
    )
    .route(
        "/namespaces/{namespace}/properties",
        web::post().to(namespaces::update_properties),
    )
    .service(
        web::resource("/namespaces/{namespace}/tables")
            .route(web::get().to(tables::list))
            .route(web::post().to(tables::create)),
    )
    .service(
        web::resource("/namespaces/{namespace}/tables/{table}")
            .route(web::get().to(tables::load))
            .route(web::head().to(tables::exists))
            .route(web::post().to(tables::commit))
            .route(web::delete().to(tables::drop)),
    )
    .route(
        "/namespaces/{namespace}/register",
        web::post().to(tables::register),
    )
    .route(
        "/namespaces/{namespace}/tables/{table}/metrics",
        web::post().to(tables::report_metrics),
    )
    .route("/tables/rename", web::post().to(tables::rename))
    .route(
        "/transactions/commit",
        web::post().to(tables::commit_transaction),
    );
}
