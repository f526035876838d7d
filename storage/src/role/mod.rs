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

mod policy;
mod provider;
mod sts;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::Expiry;

use crate::Location;
pub use policy::session_policy;
pub use provider::RoleCredentialProvider;
use sts::{AssumeRole, Sts};

/// Most table credentials kept at once (per environment, table location and access).
const MAX_CACHED_TABLES: u64 = 100_000;
/// Most roles whose own credentials are kept at once.
const MAX_CACHED_ROLES: u64 = 10_000;
/// STS's longest `RoleSessionName`.
const MAX_SESSION_NAME: usize = 64;
/// Names the sessions of Frazil's own I/O (no API key behind them).
const OWN_SESSION: &str = "catalog";

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
pub struct RoleSessions {
    duration: Duration,
    sts: Sts,
    /// Vended credentials by (environment, role, table location, access).
    tables: Cache<TableKey, Arc<TemporaryCredentials>>,
    /// The roles' own credentials, for Frazil's I/O and for signing.
    roles: Cache<CustomerRole, Arc<TemporaryCredentials>>,
}

type TableKey = (String, CustomerRole, String, DataAccess);

impl fmt::Debug for RoleSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleSessions")
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl RoleSessions {
    /// Sessions lasting `duration` (STS allows 15 minutes to the role's maximum, 1 hour by
    /// default).
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            sts: Sts::default(),
            tables: credential_cache(MAX_CACHED_TABLES),
            roles: credential_cache(MAX_CACHED_ROLES),
        }
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
        let key = (
            grant.env_uid.to_string(),
            grant.role.clone(),
            grant.table_location.to_string(),
            grant.access,
        );
        // The policy and the session name are made only on a miss: a hit is the common case
        // (every load of a table within the hour), and needs neither.
        let assume =
            async {
                let policy = policy::session_policy(grant.table_location, grant.access)
                    .ok_or_else(|| AssumeRoleError {
                        integration_id: grant.role.integration_id.clone(),
                        reason: format!("{} is not an s3:// location", grant.table_location),
                    })?;
                let request = AssumeRole {
                    role: grant.role,
                    session_name: session_name(grant.session_name),
                    policy: Some(policy.to_string()),
                    duration: self.duration,
                    region: grant.region,
                };
                self.sts.assume_role(request).await
            };
        self.tables
            .try_get_with(key, assume)
            .await
            .map_err(|e| (*e).clone())
    }

    /// The role's own credentials, without a session policy: for Frazil's own I/O in the
    /// customer's bucket and for signing requests of remote-signing clients.
    pub async fn role_credentials(
        &self,
        role: &CustomerRole,
        region: Option<&str>,
    ) -> Result<Arc<TemporaryCredentials>, AssumeRoleError> {
        let request = AssumeRole {
            role,
            session_name: session_name(OWN_SESSION),
            policy: None,
            duration: self.duration,
            region,
        };
        self.roles
            .try_get_with(role.clone(), self.sts.assume_role(request))
            .await
            .map_err(|e| (*e).clone())
    }
}

/// The `RoleSessionName` for a session of `caller` (an API key id): `frazil-<caller>`, with
/// every character STS does not take (`[\w+=,.@-]`) replaced by `-` and cut to STS's 64. The
/// customer's CloudTrail then shows which key a request came from.
pub fn session_name(caller: &str) -> String {
    let name: String = format!("frazil-{caller}")
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                true => c,
                false => '-',
            },
        )
        .take(MAX_SESSION_NAME)
        .collect();
    name
}

fn credential_cache<K>(capacity: u64) -> Cache<K, Arc<TemporaryCredentials>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .expire_after(UntilRefresh {
            now: SystemTime::now,
        })
        .build()
}

/// Expires a cached credential [`REFRESH_BEFORE_EXPIRY`] before the credential itself does.
struct UntilRefresh {
    /// The wall clock (STS states expiry as a wall-clock time); a test sets its own.
    now: fn() -> SystemTime,
}

impl<K> Expiry<K, Arc<TemporaryCredentials>> for UntilRefresh {
    fn expire_after_create(
        &self,
        _key: &K,
        credentials: &Arc<TemporaryCredentials>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(time_to_refresh(credentials.expires_at, (self.now)()))
    }
}

/// How long credentials expiring at `expires_at` may still be handed out at `now`: until
/// [`REFRESH_BEFORE_EXPIRY`] before they expire; zero once that is past.
fn time_to_refresh(expires_at: SystemTime, now: SystemTime) -> Duration {
    expires_at
        .duration_since(now)
        .unwrap_or_default()
        .saturating_sub(REFRESH_BEFORE_EXPIRY)
}

impl Default for RoleSessions {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_DURATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_name_the_key_within_what_sts_takes() {
        assert_eq!(session_name("key-7k2m"), "frazil-key-7k2m");
        assert_eq!(
            session_name("a b/c:d_e+f=g,h.i@j"),
            "frazil-a-b-c-d_e+f=g,h.i@j"
        );
        assert_eq!(session_name("é"), "frazil--");
        let long = session_name(&"x".repeat(100));
        assert_eq!(long.len(), MAX_SESSION_NAME);
        assert!(long.starts_with("frazil-xxx"));
    }

    #[test]
    fn credentials_are_refreshed_five_minutes_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let minutes = |m: u64| Duration::from_secs(60 * m);
        // a 15-minute credential is handed out for 10 minutes, then replaced
        assert_eq!(time_to_refresh(now + minutes(15), now), minutes(10));
        assert_eq!(time_to_refresh(now + minutes(5), now), Duration::ZERO);
        assert_eq!(time_to_refresh(now + minutes(4), now), Duration::ZERO);
        assert_eq!(time_to_refresh(now - minutes(1), now), Duration::ZERO);
    }

    fn credentials(expires_at: SystemTime) -> Arc<TemporaryCredentials> {
        Arc::new(TemporaryCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expires_at,
        })
    }

    #[tokio::test]
    async fn the_cache_drops_credentials_with_less_than_five_minutes_left() {
        let cache: Cache<&str, Arc<TemporaryCredentials>> = credential_cache(10);
        let now = SystemTime::now();
        cache
            .insert("fresh", credentials(now + Duration::from_secs(15 * 60)))
            .await;
        cache
            .insert(
                "nearly-expired",
                credentials(now + Duration::from_secs(4 * 60)),
            )
            .await;
        assert!(cache.get("fresh").await.is_some());
        assert!(cache.get("nearly-expired").await.is_none());
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let text = format!("{:?}", credentials(SystemTime::now()));
        assert!(text.contains("ASIAEXAMPLE"), "{text}");
        assert!(
            !text.contains("secret\"") && !text.contains("token\""),
            "{text}"
        );
        let role = CustomerRole {
            integration_id: "pi-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            external_id: "ext-123".into(),
        };
        assert!(!format!("{role:?}").contains("ext-123"));
    }
}
