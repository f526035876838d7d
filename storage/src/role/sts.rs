//! STS `AssumeRole` through the AWS SDK: one client for the process, built on first use from the
//! SDK's standard configuration (Frazil's own credentials, `AWS_ENDPOINT_URL[_STS]`), each call
//! bounded so that a silent STS cannot hold a catalog request up.

use std::time::{Duration, SystemTime};

use aws_config::Region;
use tokio::sync::OnceCell;

use super::{AssumeRoleError, CustomerRole, TemporaryCredentials};
use crate::aws::sdk_config;

/// Longest one AssumeRole may take, retries included.
const STS_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's STS client, built on first use.
#[derive(Default)]
pub(super) struct Sts {
    client: OnceCell<aws_sdk_sts::Client>,
}

/// One `AssumeRole` call.
pub(super) struct AssumeRole<'a> {
    pub role: &'a CustomerRole,
    pub session_name: String,
    /// The inline session policy (JSON), narrowing the role's permissions.
    pub policy: Option<String>,
    pub duration: Duration,
    /// The region whose STS endpoint to ask; else the SDK's region.
    pub region: Option<&'a str>,
}

impl Sts {
    async fn client(&self) -> &aws_sdk_sts::Client {
        self.client
            .get_or_init(|| async { aws_sdk_sts::Client::new(&sdk_config(STS_TIMEOUT).await) })
            .await
    }

    pub(super) async fn assume_role(
        &self,
        call: AssumeRole<'_>,
    ) -> Result<std::sync::Arc<TemporaryCredentials>, AssumeRoleError> {
        let refused = |reason: String| AssumeRoleError {
            integration_id: call.role.integration_id.clone(),
            reason,
        };
        let mut region = aws_sdk_sts::config::Builder::default();
        region.set_region(call.region.map(|r| Region::new(r.to_string())));
        let request = self
            .client()
            .await
            .assume_role()
            .role_arn(&call.role.role_arn)
            .external_id(&call.role.external_id)
            .role_session_name(&call.session_name)
            .duration_seconds(i32::try_from(call.duration.as_secs()).unwrap_or(i32::MAX))
            .set_policy(call.policy.clone())
            .customize()
            .config_override(region)
            .send();
        let answer = match tokio::time::timeout(STS_TIMEOUT, request).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                return Err(refused(
                    aws_sdk_sts::error::DisplayErrorContext(e).to_string(),
                ))
            }
            Err(_) => {
                return Err(refused(format!(
                    "STS did not answer within {STS_TIMEOUT:?}"
                )))
            }
        };
        let credentials = answer
            .credentials()
            .ok_or_else(|| refused("STS answered without credentials".into()))?;
        let expires_at = SystemTime::try_from(*credentials.expiration())
            .map_err(|e| refused(format!("STS answered an unusable expiry: {e}")))?;
        tracing::debug!(
            integration = %call.role.integration_id,
            role_arn = %call.role.role_arn,
            session_name = %call.session_name,
            scoped = call.policy.is_some(),
            "assumed a customer role"
        );
        Ok(std::sync::Arc::new(TemporaryCredentials {
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: credentials.session_token().to_string(),
            expires_at,
        }))
    }
}
