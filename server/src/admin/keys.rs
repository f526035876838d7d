//! API keys of environments and organizations.

use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use frazil_catalog::{Access, NewApiKey, Role};
use frazil_openapi::admin as wire;
use serde::Deserialize;

use super::convert;
use super::{administered, EnvPath, OrgPath};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgKeyPath {
    /// Organization id.
    org: String,
    /// API key id (its OAuth2 client id).
    key: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnvKeyPath {
    /// Organization id.
    org: String,
    /// Environment id.
    env: String,
    /// API key id (its OAuth2 client id).
    key: String,
}

async fn create(
    state: &AppState,
    org: &str,
    env: Option<&str>,
    body: wire::CreateApiKeyRequest,
) -> ApiResult<HttpResponse> {
    let role: Role = body.role.parse()?;
    let new = NewApiKey {
        org_id: Some(org.to_string()),
        env_id: env.map(str::to_string),
        role: Some(role),
        description: body.description.unwrap_or_default(),
        expires_at_ms: body
            .expires_at
            .as_deref()
            .map(convert::parse_time)
            .transpose()?,
        ..NewApiKey::default()
    };
    let issued = state.catalog.create_api_key(new).await?;
    Ok(HttpResponse::Created().json(wire::CreatedApiKey {
        secret: issued.secret,
        details: convert::api_key(issued.key),
    }))
}

async fn list(state: &AppState, org: &str, env: Option<&str>) -> ApiResult<Json<wire::ApiKeyList>> {
    let keys = state.catalog.api_keys(Some(org), env).await?;
    Ok(Json(wire::ApiKeyList {
        api_keys: keys.into_iter().map(convert::api_key).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations/{org}/environments/{env}/api-keys",
    operation_id = "createEnvironmentApiKey",
    tag = "API keys",
    summary = "Create an environment API key",
    description = "Creates an API key valid in this environment only. `role` is `reader`, `writer` or `admin`; \
        `expires_at` (RFC 3339) is optional. The answer holds the secret: the only time it is shown.",
    params(super::EnvPath),
    request_body = wire::CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, with its secret", body = wire::CreatedApiKey),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn create_environment_key(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    create(&state, &path.org, Some(&path.env), body?.into_inner()).await
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments/{env}/api-keys",
    operation_id = "listEnvironmentApiKeys",
    tag = "API keys",
    summary = "List environment API keys",
    description = "Lists the environment's keys, revoked ones included; never the secrets.",
    params(super::EnvPath),
    responses(
        (status = 200, description = "The keys", body = wire::ApiKeyList),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_environment_keys(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::ApiKeyList>> {
    administered(&state, &caller, &path.org, &path.env).await?;
    list(&state, &path.org, Some(&path.env)).await
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}/environments/{env}/api-keys/{key}",
    operation_id = "revokeEnvironmentApiKey",
    tag = "API keys",
    summary = "Revoke an environment API key",
    description = "Revokes the key: its tokens stop working.",
    params(EnvKeyPath),
    responses(
        (status = 204, description = "The key was revoked"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The key does not exist in this environment", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn revoke_environment_key(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvKeyPath>,
) -> ApiResult<HttpResponse> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    state
        .catalog
        .revoke_api_key(Some(&path.org), Some(&path.env), &path.key)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations/{org}/api-keys",
    operation_id = "createOrganizationApiKey",
    tag = "API keys",
    summary = "Create an organization API key",
    description = "Creates an API key valid in every environment of the organization. `role` is `reader`, \
        `writer` or `admin`; `expires_at` (RFC 3339) is optional. The answer holds the secret: the \
        only time it is shown.",
    params(super::OrgPath),
    request_body = wire::CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, with its secret", body = wire::CreatedApiKey),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn create_organization_key(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
    body: crate::error::Body<wire::CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    create(&state, &path.org, None, body?.into_inner()).await
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/api-keys",
    operation_id = "listOrganizationApiKeys",
    tag = "API keys",
    summary = "List organization API keys",
    description = "Lists the organization's own keys (not its environments'), revoked ones included; never the \
        secrets.",
    params(super::OrgPath),
    responses(
        (status = 200, description = "The keys", body = wire::ApiKeyList),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The organization does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_organization_keys(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<Json<wire::ApiKeyList>> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    state.catalog.organization(&path.org).await?;
    list(&state, &path.org, None).await
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}/api-keys/{key}",
    operation_id = "revokeOrganizationApiKey",
    tag = "API keys",
    summary = "Revoke an organization API key",
    description = "Revokes the key: its tokens stop working.",
    params(OrgKeyPath),
    responses(
        (status = 204, description = "The key was revoked"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The key does not exist in this organization", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn revoke_organization_key(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgKeyPath>,
) -> ApiResult<HttpResponse> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    state
        .catalog
        .revoke_api_key(Some(&path.org), None, &path.key)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
