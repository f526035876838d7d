//! The caller of a protected route: `Authorization: Bearer <token>` checked on every request.
//!
//! The extractor also makes the route's authorization decision, before any body is read (a
//! reader's write with a malformed body is 403, not 400), from the `{org}`/`{env}` the path names
//! and the access the route declares: a catalog route's [`Endpoint`] (the route table tags the
//! request with it), else the `Access` its resource or scope carries as app data (config, admin
//! and 501 routes). A route that declares neither is refused: nothing is decided by guessing from
//! the path. Handlers check again where their decision is finer (server-only routes).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use frazil_catalog::{Access, CatalogError, Principal, Role};

use crate::error::ApiError;
use crate::iceberg::Endpoint;
use crate::state::AppState;

/// The authenticated principal; extracting it fails with 401 (or 403) and an Iceberg error body.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// What the route declares it needs: its endpoint's access, else its `Access` app data.
fn required_access(request: &HttpRequest) -> Option<Access> {
    Endpoint::of(request)
        .map(Endpoint::access)
        .or_else(|| request.app_data::<Access>().copied())
}

/// The refusal of a read-only key's write, in words that say what to do about it.
fn read_only(principal: &Principal, endpoint: Option<Endpoint>) -> CatalogError {
    let action = endpoint.map_or("change the catalog", Endpoint::action);
    CatalogError::Forbidden(format!(
        "This API key is read-only (role {}): it cannot {action}. Writes need an API key with \
         role writer.",
        principal.role
    ))
}

/// `principal` may use a route that needs `access` in `org` (and `env`). The scope is checked
/// first (another environment is 404, as a missing one, whatever the role); then a read-only
/// key's write gets the refusal that says so.
fn authorize(
    principal: &Principal,
    org: &str,
    env: Option<&str>,
    access: Access,
    endpoint: Option<Endpoint>,
) -> Result<(), CatalogError> {
    if access == Access::Write && principal.role < Role::Writer {
        principal.authorize(org, env, Access::Read)?;
        return Err(read_only(principal, endpoint));
    }
    principal.authorize(org, env, access)
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
        // Decided once per request: a middleware that needs the caller (vended credentials)
        // and the handler after it get the same answer without checking the token twice.
        if let Some(caller) = request.extensions().get::<Caller>().cloned() {
            return Box::pin(async move { Ok(caller) });
        }
        let decided = request.clone();
        let state = request.app_data::<Data<AppState>>().cloned();
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let org = request.match_info().get("org").map(str::to_string);
        let env = request.match_info().get("env").map(str::to_string);
        let endpoint = Endpoint::of(request);
        let access = required_access(request);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::from(CatalogError::Internal("no state".into())))?;
            let access = access.ok_or_else(|| {
                ApiError::from(CatalogError::Internal(
                    "the route declares no access level".into(),
                ))
            })?;
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
                    let env = env.as_deref();
                    let decided = authorize(&principal, &org, env, access, endpoint);
                    let decided = state
                        .catalog
                        .forbidden_or_missing(decided, &org, env, access);
                    decided.await?
                }
                None if access == Access::Admin && principal.role < Role::Admin => {
                    return Err(CatalogError::Forbidden("Admin role required".into()).into())
                }
                None => {}
            }
            let caller = Caller(principal);
            decided.extensions_mut().insert(caller.clone());
            Ok(caller)
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
