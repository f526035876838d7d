//! The caller of a protected route: `Authorization: Bearer <token>` checked on every request.
//!
//! The extractor also makes the route's authorization decision, from the method, the path and
//! the `{org}`/`{env}` it names, before any body is read: a reader's write with a malformed body
//! is 403, not 400. Handlers check again where their decision is finer (server-only routes).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::{Method, StatusCode};
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use frazil_catalog::{Access, CatalogError, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated principal; extracting it fails with 401 (or 403) and an Iceberg error body.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// What a route needs: admin for the admin API; for catalog routes, read for GET, HEAD and
/// metrics reports, write for every other change.
fn required_access(request: &HttpRequest) -> Access {
    let path = request.path();
    if path.starts_with("/admin/") {
        Access::Admin
    } else if matches!(*request.method(), Method::GET | Method::HEAD) || path.ends_with("/metrics")
    {
        Access::Read
    } else {
        Access::Write
    }
}

fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

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
        let org = request.match_info().get("org").map(str::to_string);
        let env = request.match_info().get("env").map(str::to_string);
        let access = required_access(request);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::from(CatalogError::Internal("no state".into())))?;
            let token = bearer_token(header.as_deref()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "NotAuthorizedException",
                    "Authentication required: send Authorization: Bearer <token> (get one at {catalog uri}/v1/oauth/tokens)",
                )
            })?;
            let principal = state.auth.tokens.verify(token).await?;
            match org {
                Some(org) => {
                    let decided = state
                        .catalog
                        .authorize(&principal, &org, env.as_deref(), access);
                    decided.await?
                }
                None if access == Access::Admin && principal.role < frazil_catalog::Role::Admin => {
                    return Err(CatalogError::Forbidden("Admin role required".into()).into())
                }
                None => {}
            }
            Ok(Caller(principal))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("BEARER abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }
}
