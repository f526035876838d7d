//! API keys of environments and organizations.

use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use frazil_catalog::{Access, NewApiKey, Role};
use frazil_openapi::admin as wire;
use serde::Deserialize;

use super::convert;
use super::{EnvPath, OrgPath};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct OrgKeyPath {
    org: String,
    key: String,
}

#[derive(Debug, Deserialize)]
pub struct EnvKeyPath {
    org: String,
    env: String,
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

pub async fn list_environment_keys(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::ApiKeyList>> {
    caller
        .0
        .authorize(&path.org, Some(&path.env), Access::Admin)?;
    state
        .catalog
        .admin_environment(&path.org, &path.env)
        .await?;
    list(&state, &path.org, Some(&path.env)).await
}

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

pub async fn create_organization_key(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
    body: crate::error::Body<wire::CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    create(&state, &path.org, None, body?.into_inner()).await
}

pub async fn list_organization_keys(
    state: Data<AppState>,
    caller: Caller,
    path: Path<OrgPath>,
) -> ApiResult<Json<wire::ApiKeyList>> {
    caller.0.authorize(&path.org, None, Access::Admin)?;
    state.catalog.organization(&path.org).await?;
    list(&state, &path.org, None).await
}

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
