//! Authentication: API keys as OAuth2 client credentials, the token endpoint, and the bearer
//! tokens every other route requires.

// `pub(crate)`: the OpenAPI documents (`crate::api_docs`) name the token endpoint.
pub(crate) mod oauth;
mod principal;
mod signing;
mod throttle;
mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use frazil_catalog::{ApiKey, Catalog, CatalogError};
use moka::future::Cache;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

pub use oauth::configure;
pub use principal::Caller;
pub use signing::generate as generate_signing_key;
pub use tokens::Tokens;

/// How long a verified secret is remembered (as a SHA-256 digest) to spare argon2 on refreshes.
const VERIFIED_SECRET_TTL: Duration = Duration::from_secs(300);
/// Longest a check waits for a verification slot before the answer is 503.
const VERIFICATION_WAIT: Duration = Duration::from_millis(500);
/// What a 503 for busy verification slots tells the client to wait.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why client credentials were not accepted.
#[derive(Debug)]
pub enum LoginError {
    /// This client id failed too often from this source address recently (429).
    Throttled,
    /// Every secret verification slot stayed busy (503).
    Busy,
    /// Wrong credentials (401) or a failure of the store.
    Refused(CatalogError),
}

/// Checks client credentials and issues and verifies tokens.
#[derive(Debug)]
pub struct Authenticator {
    pub catalog: Arc<Catalog>,
    pub tokens: Tokens,
    verified: Cache<String, [u8; 32]>,
    failures: throttle::FailureLedger,
    /// One permit per argon2 verification that may run at once (each takes 19 MiB and a core).
    verifications: Arc<Semaphore>,
}

impl Authenticator {
    /// `max_verifications` bounds concurrent secret verifications; 0 means one per core.
    pub async fn new(
        catalog: Arc<Catalog>,
        token_lifetime: Duration,
        max_verifications: usize,
    ) -> anyhow::Result<Self> {
        let permits = match max_verifications {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Ok(Self {
            tokens: Tokens::load(catalog.clone(), token_lifetime).await?,
            catalog,
            verified: Cache::builder()
                .time_to_live(VERIFIED_SECRET_TTL)
                .max_capacity(100_000)
                .build(),
            failures: throttle::FailureLedger::default(),
            verifications: Arc::new(Semaphore::new(permits)),
        })
    }

    pub fn retry_after(&self) -> Duration {
        throttle::FAILURE_WINDOW
    }

    /// The API key these credentials belong to, if they are right and the key is active. A
    /// failure slot of (`client_id`, `source`) is taken before the check and kept only if it
    /// fails; the check itself runs in a task of its own holding a verification permit, so that
    /// neither the count nor the bound depends on the client waiting for the answer.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
        source: IpAddr,
    ) -> Result<ApiKey, LoginError> {
        let slot = self
            .failures
            .reserve(client_id, source)
            .ok_or(LoginError::Throttled)?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(known) = self.verified.get(client_id).await {
            if bool::from(known.ct_eq(&digest)) {
                if let Some(key) = self
                    .tokens
                    .active_key(client_id)
                    .await
                    .map_err(LoginError::Refused)?
                {
                    return Ok(key);
                }
            }
        }
        let permit = tokio::time::timeout(
            VERIFICATION_WAIT,
            self.verifications.clone().acquire_owned(),
        )
        .await
        .map_err(|_| LoginError::Busy)?
        .map_err(|_| LoginError::Busy)?;
        let catalog = self.catalog.clone();
        let verified = self.verified.clone();
        let (id, secret) = (client_id.to_string(), secret.to_string());
        tokio::spawn(async move {
            let outcome = catalog.authenticate_api_key(&id, &secret).await;
            drop(permit);
            match outcome {
                Ok(key) => {
                    verified.insert(id, digest).await;
                    Ok(key)
                }
                Err(e @ CatalogError::Unauthorized(_)) => {
                    slot.keep();
                    Err(LoginError::Refused(e))
                }
                Err(e) => Err(LoginError::Refused(e)),
            }
        })
        .await
        .unwrap_or_else(|e| Err(LoginError::Refused(CatalogError::Internal(e.to_string()))))
    }
}
