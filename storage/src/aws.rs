//! Frazil's own AWS identity: the principal a customer names in the trust policy of a role it
//! lets Frazil assume (provider integrations). Every AWS SDK call of the project lives in this
//! crate; this module asks STS `GetCallerIdentity` with the standard SDK credential sources
//! (environment, profile, web identity for IRSA, container and instance metadata) and the
//! standard endpoint variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS`), which `aws-config`
//! reads itself.
//!
//! The answer is only informative (it is shown to the admin who sets up the trust policy), so
//! asking must never fail a request nor hold it up: one bounded attempt, its answer cached.

use std::time::{Duration, Instant};

use aws_config::meta::region::RegionProviderChain;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use tokio::sync::Mutex;

/// How long one look-up may take in all: credential sources (instance metadata may not answer
/// at all off EC2) and the STS call. An admin request waits at most this long once.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a failed look-up (no credentials, STS unreachable) is remembered before the next
/// request tries again, so that a burst of requests does not wait on it each time.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// STS needs a region to find its endpoint; the global one answers for every region.
const FALLBACK_REGION: &str = "us-east-1";

/// Frazil's AWS principal, looked up once and cached (a failure for [`RETRY_AFTER_FAILURE`]).
#[derive(Debug, Default)]
pub struct AwsIdentity {
    cached: Mutex<Option<Lookup>>,
}

#[derive(Debug, Clone)]
struct Lookup {
    arn: Option<String>,
    at: Instant,
}

impl AwsIdentity {
    pub fn new() -> Self {
        Self::default()
    }

    /// The ARN to name as principal in a trust policy, or `None` when Frazil has no AWS
    /// identity (no credentials, STS unreachable). Concurrent callers share one look-up.
    pub async fn principal_arn(&self) -> Option<String> {
        let mut cached = self.cached.lock().await;
        if let Some(lookup) = cached.as_ref() {
            if lookup.arn.is_some() || lookup.at.elapsed() < RETRY_AFTER_FAILURE {
                return lookup.arn.clone();
            }
        }
        let arn = match tokio::time::timeout(LOOKUP_TIMEOUT, caller_arn()).await {
            Ok(Ok(arn)) => Some(trust_principal(&arn)),
            Ok(Err(reason)) => {
                tracing::warn!(%reason, "Frazil's AWS identity is unknown");
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?LOOKUP_TIMEOUT, "Frazil's AWS identity is unknown: STS did not answer in time");
                None
            }
        };
        *cached = Some(Lookup {
            arn: arn.clone(),
            at: Instant::now(),
        });
        arn
    }
}

/// STS `GetCallerIdentity` with the SDK's default configuration.
async fn caller_arn() -> Result<String, String> {
    let config = sdk_config(LOOKUP_TIMEOUT).await;
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string())?;
    identity
        .arn()
        .map(str::to_string)
        .ok_or_else(|| "GetCallerIdentity answered without an ARN".to_string())
}

/// The AWS SDK's configuration from its standard sources (credentials, region, endpoint
/// variables), every operation bounded by `timeout` (retries included).
pub(crate) async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
    let region = RegionProviderChain::default_provider().or_else(FALLBACK_REGION);
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
        .load()
        .await
}

/// The principal a trust policy names for `caller`: an assumed role's session
/// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, as under IRSA or an instance profile) is
/// named by its role (`arn:aws:iam::ACCOUNT:role/NAME`), since sessions come and go; users and
/// other principals are named as they are.
pub fn trust_principal(caller: &str) -> String {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    if let [arn, partition, "sts", "", account, resource] = parts[..] {
        if let Some(rest) = resource.strip_prefix("assumed-role/") {
            if let Some((role, _session)) = rest.split_once('/') {
                return format!("{arn}:{partition}:iam::{account}:role/{role}");
            }
        }
    }
    caller.to_string()
}

#[cfg(test)]
mod tests {
    use super::trust_principal;

    #[test]
    fn an_assumed_role_session_is_named_by_its_role() {
        assert_eq!(
            trust_principal("arn:aws:sts::123456789012:assumed-role/frazil/i-0abc"),
            "arn:aws:iam::123456789012:role/frazil"
        );
        assert_eq!(
            trust_principal("arn:aws-cn:sts::123456789012:assumed-role/frazil/botocore-1"),
            "arn:aws-cn:iam::123456789012:role/frazil"
        );
    }

    #[test]
    fn other_principals_are_kept() {
        for arn in [
            "arn:aws:iam::123456789012:user/moto",
            "arn:aws:sts::123456789012:user/moto",
            "arn:aws:iam::123456789012:root",
            "not an arn",
        ] {
            assert_eq!(trust_principal(arn), arn);
        }
    }
}
