//! The caller of a protected route: `Authorization: Bearer <token>` checked on every request.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use frazil_catalog::Principal;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated principal; extracting it fails with 401 and an Iceberg error body.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<Data<AppState>>().cloned();
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::from(frazil_catalog::CatalogError::Internal("no state".into()))
            })?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "NotAuthorizedException",
                        "Authentication required: send Authorization: Bearer <token> (get one at {catalog uri}/v1/oauth/tokens)",
                    )
                })?;
            Ok(Caller(state.auth.tokens.verify(token).await?))
        })
    }
}
