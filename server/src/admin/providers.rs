//! Provider integrations of an environment: the customer's IAM role Frazil may assume, with the
//! external id and Frazil principal its trust policy names. Environment and organization admins
//! of that environment manage them; other environments read as missing.

use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use frazil_catalog::{NewProviderIntegration, ProviderIntegration};
use frazil_openapi::admin as wire;
use serde::Deserialize;

use super::convert;
use super::{administered, EnvPath};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IntegrationPath {
    /// Organization id.
    org: String,
    /// Environment id.
    env: String,
    /// Provider integration id.
    integration: String,
}

/// The environment, once the caller is known to administer it.
fn shown(integration: ProviderIntegration) -> wire::ProviderIntegration {
    wire::ProviderIntegration {
        id: integration.id,
        name: integration.name,
        aws: wire::AwsIntegration {
            customer_role_arn: integration.customer_role_arn,
            external_id: integration.external_id,
            frazil_principal_arn: integration.frazil_principal_arn,
        },
        created_at: convert::time(integration.created_at_ms),
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/organizations/{org}/environments/{env}/provider-integrations",
    operation_id = "createProviderIntegration",
    tag = "Provider integrations",
    summary = "Create a provider integration",
    description = "Registers an IAM role of the customer's AWS account that Frazil may assume for this \
        environment. Frazil generates the role's external id (stable for the integration's life) \
        and shows its own AWS principal (`frazil_principal_arn`, null when the server has no AWS \
        identity): the role's trust policy names that principal with the condition \
        `sts:ExternalId`. A malformed `aws.customer_role_arn` is 400. Without `id`, one is generated.",
    params(super::EnvPath),
    request_body = wire::CreateProviderIntegrationRequest,
    responses(
        (status = 201, description = "The provider integration", body = wire::ProviderIntegration),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The environment has an integration with that id", body = frazil_openapi::IcebergErrorResponse),
        (status = 413, response = crate::api_docs::PayloadTooLargeResponse),
        (status = 415, response = crate::api_docs::UnsupportedMediaTypeResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn create_provider_integration(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
    body: crate::error::Body<wire::CreateProviderIntegrationRequest>,
) -> ApiResult<HttpResponse> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    let body = body?.into_inner();
    let new = NewProviderIntegration {
        id: body.id,
        name: body.name,
        customer_role_arn: body.aws.customer_role_arn,
    };
    let created = state.catalog.create_provider_integration(&env, new).await?;
    Ok(HttpResponse::Created().json(shown(created)))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments/{env}/provider-integrations",
    operation_id = "listProviderIntegrations",
    tag = "Provider integrations",
    summary = "List provider integrations",
    description = "Lists the environment's provider integrations, by id.",
    params(super::EnvPath),
    responses(
        (status = 200, description = "The provider integrations", body = wire::ProviderIntegrationList),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn list_provider_integrations(
    state: Data<AppState>,
    caller: Caller,
    path: Path<EnvPath>,
) -> ApiResult<Json<wire::ProviderIntegrationList>> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    let integrations = state.catalog.provider_integrations(&env).await?;
    Ok(Json(wire::ProviderIntegrationList {
        provider_integrations: integrations.into_iter().map(shown).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/organizations/{org}/environments/{env}/provider-integrations/{integration}",
    operation_id = "getProviderIntegration",
    tag = "Provider integrations",
    summary = "Get a provider integration",
    description = "Returns the provider integration with its external id and Frazil's principal.",
    params(IntegrationPath),
    responses(
        (status = 200, description = "The provider integration", body = wire::ProviderIntegration),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment or the integration does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 503, response = crate::api_docs::ServiceUnavailableResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn get_provider_integration(
    state: Data<AppState>,
    caller: Caller,
    path: Path<IntegrationPath>,
) -> ApiResult<Json<wire::ProviderIntegration>> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    let integration = state
        .catalog
        .provider_integration(&env, &path.integration)
        .await?;
    Ok(Json(shown(integration)))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/organizations/{org}/environments/{env}/provider-integrations/{integration}",
    operation_id = "deleteProviderIntegration",
    tag = "Provider integrations",
    summary = "Delete a provider integration",
    description = "Deletes a provider integration that the environment's storage does not use (409 while it does).",
    params(IntegrationPath),
    responses(
        (status = 204, description = "The provider integration was deleted"),
        (status = 400, response = crate::api_docs::BadRequestErrorResponse),
        (status = 401, response = crate::api_docs::UnauthorizedResponse),
        (status = 403, response = crate::api_docs::ForbiddenResponse),
        (status = 404, description = "The environment or the integration does not exist", body = frazil_openapi::IcebergErrorResponse),
        (status = 409, description = "The environment's storage uses the integration", body = frazil_openapi::IcebergErrorResponse),
        (status = "5XX", response = crate::api_docs::ServerErrorResponse),
    ),
)]
pub async fn delete_provider_integration(
    state: Data<AppState>,
    caller: Caller,
    path: Path<IntegrationPath>,
) -> ApiResult<HttpResponse> {
    let env = administered(&state, &caller, &path.org, &path.env).await?;
    state
        .catalog
        .delete_provider_integration(&env, &path.integration)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
