//! Liveness and readiness for orchestrators.

use actix_web::web::{self, Data, ServiceConfig};
use actix_web::HttpResponse;

use crate::app::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    // `resource`: another method is 405 with `Allow` and an Iceberg body, as everywhere else.
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)));
}

/// The process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The process can serve: the metadata store answers.
async fn readyz(state: Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: metadata store unreachable");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
