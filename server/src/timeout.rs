//! Requests that run longer than `request-timeout-ms` are cut. A read answers 503 (nothing
//! happened; retry). A write answers 504, which Iceberg clients read as "commit state unknown":
//! they reload the table to find out. Commits run in their own task (see `tables::commit`), so a
//! cut commit still lands whole or not at all; other writes are one database transaction each,
//! rolled back when cut.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limit) = req
        .app_data::<Data<AppState>>()
        .map(|state| state.request_timeout)
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Not the request itself: a clone held here would stop the router from resolving it.
    let (method, path) = (req.method().clone(), req.path().to_string());
    let read = matches!(method, Method::GET | Method::HEAD);
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(response) => response.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(%method, path, ?limit, "request timed out");
            let seconds = limit.as_secs_f64();
            let error = if read {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    format!("The request did not complete within {seconds} s; retry later"),
                )
            } else {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "CommitStateUnknownException",
                    format!(
                        "The request did not complete within {seconds} s; it may still take effect: reload to find out"
                    ),
                )
            };
            // Answered as an error: actix renders it with the Iceberg error body.
            Err(error.into())
        }
    }
}
