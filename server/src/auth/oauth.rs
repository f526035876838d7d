//! The OAuth2 token endpoint (client credentials and token exchange) at `{catalog uri}/v1/oauth/tokens`
//! under both URI layouts and at `/oauth/token`, and the public keys at `/.well-known/jwks.json`.
//!
//! Scopes: `catalog` and `PRINCIPAL_ROLE:ALL` grant the key's role; `PRINCIPAL_ROLE:<role>` grants
//! that role if the key has it (a writer may ask for a reader token); other scopes are ignored and
//! not granted. The granted scopes come back in `scope`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use frazil_catalog::{CatalogError, Principal, Role};
use serde_json::json;

use super::{LoginError, BUSY_RETRY_AFTER};
use crate::app::resource;
use crate::state::AppState;

const CLIENT_CREDENTIALS: &str = "client_credentials";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub fn configure(cfg: &mut ServiceConfig) {
    for path in [
        "/iceberg/catalog/organizations/{org}/environments/{env}/v1/oauth/tokens",
        "/iceberg/catalog/v1/oauth/tokens",
        "/oauth/token",
    ] {
        // Another method is 405 with `Allow: POST`.
        cfg.service(resource(path).route(web::post().to(token)));
    }
    cfg.service(resource("/.well-known/jwks.json").route(web::get().to(jwks)));
}

async fn jwks(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.auth.tokens.jwks())
}

/// An RFC 6749 error response.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": error, "error_description": description}))
}

#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "getToken",
    tag = "OAuth2 API",
    summary = "Get an access token",
    description = "Exchanges an API key's id and secret for an access token (OAuth2 client \
        credentials: in `client_id` and `client_secret`, or as HTTP Basic), or a still-valid \
        token for a fresh one (token exchange, `subject_token`). The token goes in \
        `Authorization: Bearer <token>` on every other operation. The same endpoint answers at \
        `{catalog URI}/v1/oauth/tokens`.",
    request_body(
        content = frazil_openapi::oauth::OAuthTokenRequest,
        content_type = "application/x-www-form-urlencoded",
    ),
    security(()),
    responses(
        (status = 200, description = "The token", body = frazil_openapi::oauth::OAuthTokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `invalid_scope` or `unsupported_grant_type`", body = frazil_openapi::oauth::OAuthError),
        (status = 401, description = "`invalid_client`: unknown, revoked or expired key, or a wrong secret", body = frazil_openapi::oauth::OAuthError),
        (status = 429, description = "Too many failed attempts for this client id from this address: retry after `Retry-After` seconds", body = frazil_openapi::oauth::OAuthError,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 500, description = "`server_error`", body = frazil_openapi::oauth::OAuthError),
        (status = 503, description = "`temporarily_unavailable`: every secret verification slot is busy; retry after `Retry-After` seconds", body = frazil_openapi::oauth::OAuthError,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    ),
)]
async fn token(state: Data<AppState>, request: HttpRequest, body: Bytes) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
        );
    };
    let scope = form.get("scope").map(String::as_str).unwrap_or("catalog");
    let principal = match form.get("grant_type").map(String::as_str) {
        Some(CLIENT_CREDENTIALS) => client_credentials(&state, &request, &form).await,
        Some(TOKEN_EXCHANGE) => token_exchange(&state, &form).await,
        Some(other) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant_type {other:?}: use client_credentials or token exchange"),
        )),
        None => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        )),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(response) => return response,
    };
    let (principal, granted) = match grant_scope(principal, scope) {
        Ok(granted) => granted,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &description)
        }
    };
    match state.auth.tokens.issue(&principal, &granted) {
        Ok(issued) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "access_token": issued.access_token,
                "token_type": "bearer",
                "expires_in": issued.expires_in,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "scope": granted,
            })),
        Err(e) => {
            tracing::error!(error = %e, "cannot issue a token");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Cannot issue a token",
            )
        }
    }
}

/// Credentials from HTTP Basic (DuckDB, newer PyIceberg) or the form body (Iceberg Java,
/// PyIceberg, Snowflake).
fn credentials(request: &HttpRequest, form: &HashMap<String, String>) -> Option<(String, String)> {
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            // RFC 6749 2.3.1: both parts are form-urlencoded before joining.
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|v| v.into_iter().next().map(|(_, v)| v))
            };
            Some((decode(id)?, decode(secret)?))
        });
    basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    })
}

async fn client_credentials(
    state: &AppState,
    request: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<Principal, HttpResponse> {
    let Some((id, secret)) = credentials(request, form) else {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client credentials are required (HTTP Basic or client_id and client_secret)",
        ));
    };
    // The socket's peer address: X-Forwarded-For is not trusted (any client can send one).
    let source = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    match state.auth.authenticate(&id, &secret, source).await {
        Ok(key) => Ok(key.principal()),
        Err(LoginError::Throttled) => Err(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "Too many failed attempts for this client id from this address; retry later",
            state.auth.retry_after(),
        )),
        Err(LoginError::Busy) => Err(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Too many credential checks at once; retry shortly",
            BUSY_RETRY_AFTER,
        )),
        Err(LoginError::Refused(CatalogError::Unauthorized(message))) => {
            tracing::info!(client_id = %id, %source, "token request with invalid client credentials");
            Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &message,
            ))
        }
        Err(LoginError::Refused(e)) => {
            tracing::error!(error = %e, "cannot check client credentials");
            Err(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Cannot check credentials",
            ))
        }
    }
}

/// An RFC 6749 error with `Retry-After`.
fn retry_later(
    status: StatusCode,
    error: &str,
    description: &str,
    after: Duration,
) -> HttpResponse {
    let mut response = oauth_error(status, error, description);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
    response
}

/// RFC 8693: a still-valid Frazil token is exchanged for a fresh one (how Iceberg Java refreshes).
async fn token_exchange(
    state: &AppState,
    form: &HashMap<String, String>,
) -> Result<Principal, HttpResponse> {
    let Some(subject) = form.get("subject_token") else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "subject_token is required",
        ));
    };
    state
        .auth
        .tokens
        .verify(subject)
        .await
        .map_err(|e| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &e.to_string()))
}

/// The principal the requested scopes allow, and the granted scope string.
fn grant_scope(principal: Principal, requested: &str) -> Result<(Principal, String), String> {
    let mut role = principal.role;
    let mut granted = Vec::new();
    for scope in requested.split_whitespace() {
        if scope == "catalog" || scope == "PRINCIPAL_ROLE:ALL" {
            granted.push(scope.to_string());
        } else if let Some(asked) = scope.strip_prefix("PRINCIPAL_ROLE:") {
            let asked: Role = asked.parse().map_err(|_| {
                format!("Unknown role in scope {scope:?}: use reader, writer, admin or ALL")
            })?;
            if asked > principal.role {
                return Err(format!(
                    "This API key has role {}; it cannot get {asked}",
                    principal.role
                ));
            }
            role = role.min(asked);
            granted.push(scope.to_string());
        }
    }
    if granted.is_empty() {
        granted.push("catalog".to_string());
    }
    Ok((Principal { role, ..principal }, granted.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Principal {
        Principal {
            key_id: "K".into(),
            org_id: Some("o".into()),
            env_id: Some("e".into()),
            role: Role::Writer,
        }
    }

    #[test]
    fn scopes_grant_at_most_the_keys_role() {
        assert_eq!(grant_scope(writer(), "catalog").unwrap().1, "catalog");
        let (p, s) = grant_scope(writer(), "PRINCIPAL_ROLE:ALL").unwrap();
        assert_eq!((p.role, s.as_str()), (Role::Writer, "PRINCIPAL_ROLE:ALL"));
        let (p, _) = grant_scope(writer(), "catalog PRINCIPAL_ROLE:reader").unwrap();
        assert_eq!(p.role, Role::Reader);
        assert!(grant_scope(writer(), "PRINCIPAL_ROLE:admin").is_err());
        assert!(grant_scope(writer(), "PRINCIPAL_ROLE:wizard").is_err());
        assert_eq!(
            grant_scope(writer(), "CLIENT_CREDENTIALS").unwrap().1,
            "catalog"
        );
    }
}
