//! Short-lived AWS credentials from a customer's IAM role (a provider integration): STS
//! `AssumeRole` with the integration's external id. Two uses, one cache:
//! - the role's own credentials (no session policy), with which Frazil does its own I/O in the
//!   customer's bucket and signs requests for remote-signing clients;
//! - credentials vended to a query engine, narrowed by an inline session policy to one table's
//!   location and to reading or writing.
//!
//! Credentials are cached until [`REFRESH_BEFORE_EXPIRY`] before they expire; concurrent misses
//! of one key make one STS call. STS is reached through the AWS SDK with the standard credential
//! sources and endpoint variables (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::Location;

/// A cached credential is replaced once it has less than this left: a client that gets it then
/// still has this long to use it.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// How long vended credentials last unless configured otherwise.
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(60 * 60);

/// The role of a provider integration, and the external id its trust policy requires.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomerRole {
    /// The provider integration's id, named in errors (`pi-...`).
    pub integration_id: String,
    pub role_arn: String,
    pub external_id: String,
}

impl fmt::Debug for CustomerRole {
    // The external id is not a secret in AWS's sense, but it is the one thing that keeps other
    // tenants from getting Frazil to assume the role: it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerRole")
            .field("integration_id", &self.integration_id)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

/// What vended credentials allow below a table's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataAccess {
    /// `s3:GetObject` on `<location>/*`, `s3:ListBucket` with an `s3:prefix` condition.
    Read,
    /// Read, plus `s3:PutObject`, `s3:DeleteObject`, `s3:AbortMultipartUpload`.
    Write,
}

/// Temporary AWS credentials. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at: SystemTime,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Credentials for one table, for one engine.
#[derive(Debug, Clone)]
pub struct TableGrant<'a> {
    pub role: &'a CustomerRole,
    /// The environment's internal key: cached credentials are never shared across environments.
    pub env_uid: &'a str,
    pub table_location: &'a Location,
    pub access: DataAccess,
    /// Names the caller (the API key) in the STS session name, for the customer's CloudTrail.
    pub session_name: &'a str,
    /// The region of the environment's storage (STS is regional), if set.
    pub region: Option<&'a str>,
}

/// STS said no, or could not be reached. The message names the integration and never a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot assume the role of provider integration {integration_id}: {reason}")]
pub struct AssumeRoleError {
    pub integration_id: String,
    pub reason: String,
}

/// Assumes customer roles and caches what STS answers.
#[derive(Debug)]
pub struct RoleSessions {
    duration: Duration,
}

impl RoleSessions {
    /// Sessions lasting `duration` (STS allows 15 minutes to the role's maximum, 1 hour by
    /// default).
    pub fn new(duration: Duration) -> Self {
        Self { duration }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Credentials narrowed to one table's location and `access`, cached per (environment,
    /// location, access).
    pub async fn table_credentials(
        &self,
        grant: TableGrant<'_>,
    ) -> Result<Arc<TemporaryCredentials>, AssumeRoleError> {
        let _ = grant;
        unimplemented!("issue 15: AssumeRole with a session policy")
    }

    /// The role's own credentials, without a session policy: for Frazil's own I/O in the
    /// customer's bucket and for signing requests of remote-signing clients.
    pub async fn role_credentials(
        &self,
        role: &CustomerRole,
        region: Option<&str>,
    ) -> Result<Arc<TemporaryCredentials>, AssumeRoleError> {
        let _ = (role, region);
        unimplemented!("issue 15: AssumeRole for Frazil's own I/O")
    }
}

impl Default for RoleSessions {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_DURATION)
    }
}
