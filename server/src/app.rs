//! The actix-web application: routes, body limits, and errors of extraction in Iceberg form.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::QueryPayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, Data, PathConfig, PayloadConfig, QueryConfig, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::state::AppState;
use crate::{admin, api_docs, auth, health, iceberg};

mod links;
mod newline;

/// Everything the server serves; `max_body_bytes` caps request bodies (413 beyond).
pub fn configure(state: AppState, max_body_bytes: usize) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        cfg.app_data(Data::new(state))
            // Every body (JSON bodies and the Idempotency-Key middleware's raw read) has this limit.
            .app_data(PayloadConfig::new(max_body_bytes))
            .app_data(QueryConfig::default().error_handler(query_error))
            .app_data(
                PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request(format!("Invalid path: {e}")).into()
                }),
            )
            // One scope around every route, for what applies to every answer.
            .service(
                web::scope("")
                    .wrap(from_fn(newline::middleware))
                    .configure(routes),
            )
            // The application's, not the scope's: nested scopes without one of their own
            // (the catalog's) inherit the application's default service.
            .default_service(web::to(not_found));
    }
}

fn routes(cfg: &mut ServiceConfig) {
    cfg.configure(health::configure)
        // Before the catalog scopes: `/iceberg/catalog/v1/oauth/tokens` would match
        // `/iceberg/catalog/v1/{org}/{env}` otherwise.
        .configure(auth::configure)
        .configure(admin::configure)
        .configure(iceberg::configure)
        // Public: the OpenAPI documents and Swagger UI, and `/` pointing to them.
        .configure(api_docs::configure)
        .configure(links::configure);
}

fn query_error(e: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("Invalid query parameters: {e}")).into()
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "NotFoundException",
        format!("No route for {} {}", request.method(), request.path()),
    )
    .error_response()
}

/// A resource whose other methods get 405 with `Allow` (the methods it serves, as actix lists
/// them) and an Iceberg error body.
pub fn resource(
    path: &str,
) -> actix_web::Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path).wrap(from_fn(method_not_allowed))
}

/// Gives actix's own 405 (the resource's default service: empty, with `Allow`) an Iceberg body.
async fn method_not_allowed(
    request: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let response = next.call(request).await?;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(response);
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let (request, _) = response.into_parts();
    let served = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut answer = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequestException",
        format!(
            "Method {} is not allowed on {}; it serves {served}",
            request.method(),
            request.path()
        ),
    )
    .error_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(request, answer))
}
