//! Domain values to admin wire types and back.

use frazil_catalog::{ApiKey, Environment, Organization};
use frazil_openapi::admin as wire;
use frazil_storage::{S3Settings, StorageConfig};

use crate::error::{ApiError, ApiResult};

pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub fn parse_time(text: &str) -> ApiResult<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| ApiError::bad_request(format!("Invalid time {text:?} (use RFC 3339): {e}")))
}

pub fn organization(org: Organization) -> wire::Organization {
    wire::Organization {
        id: org.id,
        name: org.name,
        created_at: time(org.created_at_ms),
    }
}

pub fn environment(env: Environment, public_url: &str) -> wire::Environment {
    let s3 = env.storage.s3.map(|s3| wire::S3View {
        region: s3.region,
        endpoint: s3.endpoint,
        path_style: s3.path_style,
        allow_http: s3.allow_http,
        access_key_id: s3.access_key_id,
        secret_access_key_set: s3.secret_access_key.is_some(),
    });
    wire::Environment {
        catalog_uri: format!(
            "{public_url}/iceberg/catalog/organizations/{}/environments/{}",
            env.org_id, env.id
        ),
        warehouse: format!("{}/{}", env.org_id, env.id),
        id: env.id,
        org_id: env.org_id,
        name: env.name,
        storage: wire::StorageView {
            location: env.storage.location,
            s3,
            provider_integration: env.storage.provider_integration,
        },
    }
}

/// S3 settings with `update`'s fields laid over `base`'s.
fn merge_s3(base: Option<S3Settings>, update: wire::S3Request) -> S3Settings {
    let base = base.unwrap_or_default();
    S3Settings {
        region: update.region.or(base.region),
        endpoint: update.endpoint.or(base.endpoint),
        path_style: update.path_style.unwrap_or(base.path_style),
        allow_http: update.allow_http.unwrap_or(base.allow_http),
        access_key_id: update.access_key_id.or(base.access_key_id),
        secret_access_key: update.secret_access_key.or(base.secret_access_key),
    }
}

pub fn storage(request: wire::StorageRequest) -> StorageConfig {
    let s3 = match (request.location.starts_with("s3"), request.s3) {
        (_, Some(s3)) => Some(merge_s3(None, s3)),
        (true, None) => Some(S3Settings::default()),
        (false, None) => None,
    };
    StorageConfig {
        location: request.location,
        s3,
        provider_integration: None,
    }
}

/// `current` with `update` laid over it. Storage that names a provider integration is reached
/// with its role and holds no static keys: the keys it had go (keys given with the integration
/// stay, for the catalog to refuse).
pub fn storage_update(current: &StorageConfig, update: wire::StorageUpdate) -> StorageConfig {
    let provider_integration = match update.provider_integration {
        Some(chosen) => chosen,
        None => current.provider_integration.clone(),
    };
    let given_keys = update
        .s3
        .as_ref()
        .is_some_and(|s3| s3.access_key_id.is_some() || s3.secret_access_key.is_some());
    let mut s3 = match update.s3 {
        Some(s3) => Some(merge_s3(current.s3.clone(), s3)),
        None => current.s3.clone(),
    };
    if let (Some(s3), true, false) = (&mut s3, provider_integration.is_some(), given_keys) {
        s3.access_key_id = None;
        s3.secret_access_key = None;
    }
    StorageConfig {
        location: update.location.unwrap_or_else(|| current.location.clone()),
        s3,
        provider_integration,
    }
}

pub fn api_key(key: ApiKey) -> wire::ApiKey {
    wire::ApiKey {
        key: key.id,
        org_id: key.org_id,
        env_id: key.env_id,
        role: key.role.to_string(),
        description: key.description,
        created_at: time(key.created_at_ms),
        last_used_at: key.last_used_at_ms.map(time),
        expires_at: key.expires_at_ms.map(time),
        revoked_at: key.revoked_at_ms.map(time),
    }
}
