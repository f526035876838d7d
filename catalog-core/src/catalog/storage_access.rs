//! Storage access for query engines (the `X-Iceberg-Access-Delegation` header): credentials
//! vended for one table, narrowed to its location, from the role of the environment's provider
//! integration. Environments without one vend nothing: Frazil never hands out static keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use frazil_storage::{AssumeRoleError, DataAccess, Location, TableGrant, TemporaryCredentials};

use super::Catalog;
use crate::model::Environment;
use crate::{CatalogError, Result};

/// The region of storage that names none (S3's default, and STS's global one).
const DEFAULT_REGION: &str = "us-east-1";

/// Credentials for the files below `prefix` (a table's location), as the Iceberg REST
/// `storage-credentials` entry and the table `config` carry them: `s3.access-key-id`,
/// `s3.secret-access-key`, `s3.session-token`, `s3.session-token-expires-at-ms`, `client.region`,
/// `s3.region`, and `s3.endpoint` / `s3.path-style-access` when the environment sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendedCredentials {
    pub prefix: String,
    pub config: BTreeMap<String, String>,
}

impl Catalog {
    /// Credentials for the table at `table_location` of `env`, allowing `access`, for the API key
    /// `api_key_id`; `None` when the environment's storage has no provider integration. A
    /// failing STS call is [`crate::CatalogError::Unavailable`] naming the integration.
    pub async fn vend_table_credentials(
        &self,
        env: &Environment,
        table_location: &str,
        access: DataAccess,
        api_key_id: &str,
    ) -> Result<Option<VendedCredentials>> {
        let Some(role) = self.environment_role(env).await? else {
            return Ok(None);
        };
        let location = Location::parse(table_location)?;
        let grant = TableGrant {
            role: &role,
            env_uid: &env.uid,
            table_location: &location,
            access,
            session_name: api_key_id,
            region: storage_region(env),
        };
        let credentials = self
            .role_sessions
            .table_credentials(grant)
            .await
            .map_err(unavailable)?;
        Ok(Some(VendedCredentials {
            prefix: table_location.to_string(),
            config: client_config(env, &credentials),
        }))
    }

    /// The credentials of the role of `env`'s provider integration, with no session policy
    /// (Frazil's own I/O, signing for remote-signing clients); `None` without an integration.
    pub async fn role_credentials(
        &self,
        env: &Environment,
    ) -> Result<Option<Arc<TemporaryCredentials>>> {
        let Some(role) = self.environment_role(env).await? else {
            return Ok(None);
        };
        let credentials = self
            .role_sessions
            .role_credentials(&role, storage_region(env))
            .await
            .map_err(unavailable)?;
        Ok(Some(credentials))
    }
}

/// The region of `env`'s S3 storage, if it names one.
fn storage_region(env: &Environment) -> Option<&str> {
    env.storage.s3.as_ref().and_then(|s3| s3.region.as_deref())
}

/// The table `config` entries a client reaches the storage with, `credentials` included.
fn client_config(
    env: &Environment,
    credentials: &TemporaryCredentials,
) -> BTreeMap<String, String> {
    let expires_at_ms = credentials
        .expires_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let region = storage_region(env).unwrap_or(DEFAULT_REGION);
    let mut config = BTreeMap::from([
        (
            "s3.access-key-id".to_string(),
            credentials.access_key_id.clone(),
        ),
        (
            "s3.secret-access-key".to_string(),
            credentials.secret_access_key.clone(),
        ),
        (
            "s3.session-token".to_string(),
            credentials.session_token.clone(),
        ),
        (
            "s3.session-token-expires-at-ms".to_string(),
            expires_at_ms.to_string(),
        ),
        ("client.region".to_string(), region.to_string()),
        ("s3.region".to_string(), region.to_string()),
    ]);
    if let Some(s3) = &env.storage.s3 {
        if let Some(endpoint) = &s3.endpoint {
            config.insert("s3.endpoint".to_string(), endpoint.clone());
        }
        if s3.path_style {
            config.insert("s3.path-style-access".to_string(), "true".to_string());
        }
    }
    config
}

/// STS refused or did not answer: the client may retry later (503), told which integration.
pub(crate) fn unavailable(e: AssumeRoleError) -> CatalogError {
    CatalogError::Unavailable(format!(
        "Cannot get storage credentials from provider integration {}: {}",
        e.integration_id, e.reason
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use frazil_storage::{S3Settings, StorageConfig};

    use super::*;

    fn env(s3: Option<S3Settings>) -> Environment {
        Environment {
            uid: "u".into(),
            org_id: "o".into(),
            id: "e".into(),
            name: "e".into(),
            storage: StorageConfig {
                location: "s3://lake/wh".into(),
                s3,
                provider_integration: Some("pi-1".into()),
            },
        }
    }

    fn credentials() -> TemporaryCredentials {
        TemporaryCredentials {
            access_key_id: "ASIAKEY".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        }
    }

    #[test]
    fn clients_get_the_credentials_their_expiry_and_the_region() {
        let config = client_config(&env(None), &credentials());
        let expected = [
            ("client.region", "us-east-1"),
            ("s3.access-key-id", "ASIAKEY"),
            ("s3.region", "us-east-1"),
            ("s3.secret-access-key", "secret"),
            ("s3.session-token", "token"),
            ("s3.session-token-expires-at-ms", "1700000000123"),
        ];
        let expected: BTreeMap<String, String> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(config, expected);
    }

    #[test]
    fn the_environments_endpoint_and_addressing_come_along() {
        let s3 = S3Settings {
            region: Some("eu-west-1".into()),
            endpoint: Some("http://minio:9000".into()),
            path_style: true,
            ..S3Settings::default()
        };
        let config = client_config(&env(Some(s3)), &credentials());
        assert_eq!(config["s3.region"], "eu-west-1");
        assert_eq!(config["client.region"], "eu-west-1");
        assert_eq!(config["s3.endpoint"], "http://minio:9000");
        assert_eq!(config["s3.path-style-access"], "true");
    }
}
