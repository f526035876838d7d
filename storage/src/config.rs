//! An environment's storage settings, as stored with the environment and set by operators.

use serde::{Deserialize, Serialize};

/// Where an environment's tables live: a `file://` or `s3://` location, and S3 settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StorageConfig {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Settings>,
    /// The id of the environment's provider integration (the customer's IAM role Frazil will
    /// assume for this storage); only on `s3://` storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_integration: Option<String>,
}

/// S3 (or S3-compatible) connection settings. Without static keys the standard AWS credential
/// chain of the server applies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct S3Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

impl StorageConfig {
    /// The table `config` clients need to reach this storage themselves (never secrets).
    pub fn client_config(&self) -> Vec<(String, String)> {
        let Some(s3) = &self.s3 else {
            return Vec::new();
        };
        let mut config = Vec::new();
        if let Some(endpoint) = &s3.endpoint {
            config.push(("s3.endpoint".to_string(), endpoint.clone()));
        }
        if let Some(region) = &s3.region {
            config.push(("client.region".to_string(), region.clone()));
            config.push(("s3.region".to_string(), region.clone()));
        }
        if s3.path_style {
            config.push(("s3.path-style-access".to_string(), "true".to_string()));
        }
        config
    }
}
