//! The credentials of Frazil's own S3 I/O in a bucket reached through a customer role: an
//! `object_store` credential provider that hands out the role's cached session credentials, so
//! the store re-asks (and STS is called again) only when the cache has let them go.

use std::sync::Arc;

use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

use super::{CustomerRole, RoleSessions};

/// The role's own credentials (no session policy), from the shared sessions.
#[derive(Debug)]
pub struct RoleCredentialProvider {
    sessions: Arc<RoleSessions>,
    role: CustomerRole,
    region: Option<String>,
}

impl RoleCredentialProvider {
    pub fn new(sessions: Arc<RoleSessions>, role: CustomerRole, region: Option<String>) -> Self {
        Self {
            sessions,
            role,
            region,
        }
    }
}

#[async_trait::async_trait]
impl CredentialProvider for RoleCredentialProvider {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let credentials = self
            .sessions
            .role_credentials(&self.role, self.region.as_deref())
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: credentials.access_key_id.clone(),
            secret_key: credentials.secret_access_key.clone(),
            token: Some(credentials.session_token.clone()),
        }))
    }
}
