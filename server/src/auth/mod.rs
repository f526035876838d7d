//! Authentication: API keys as OAuth2 client credentials, the token endpoint, and the bearer
//! tokens every other route requires.

// `pub(crate)`: the OpenAPI documents (`crate::api_docs`) name the token endpoint.
pub(crate) mod oauth;
mod principal;
mod signing;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use frazil_catalog::{ApiKey, Catalog, CatalogError};
use moka::future::Cache;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use oauth::configure;
pub use principal::Caller;
pub use signing::generate as generate_signing_key;
pub use tokens::Tokens;

/// Failed token requests allowed per client id within [`FAILURE_WINDOW`] before 429.
const MAX_FAILURES: u64 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a verified secret is remembered (as a SHA-256 digest) to spare argon2 on refreshes.
const VERIFIED_SECRET_TTL: Duration = Duration::from_secs(300);

/// Checks client credentials and issues and verifies tokens.
#[derive(Debug)]
pub struct Authenticator {
    pub catalog: Arc<Catalog>,
    pub tokens: Tokens,
    verified: Cache<String, [u8; 32]>,
    failures: Cache<String, u64>,
}

impl Authenticator {
    pub async fn new(catalog: Arc<Catalog>, token_lifetime: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: Tokens::load(catalog.clone(), token_lifetime).await?,
            catalog,
            verified: Cache::builder()
                .time_to_live(VERIFIED_SECRET_TTL)
                .max_capacity(100_000)
                .build(),
            failures: Cache::builder()
                .time_to_live(FAILURE_WINDOW)
                .max_capacity(100_000)
                .build(),
        })
    }

    /// True while a client id has failed too often recently.
    pub async fn is_throttled(&self, client_id: &str) -> bool {
        self.failures.get(client_id).await.unwrap_or(0) >= MAX_FAILURES
    }

    pub fn retry_after(&self) -> Duration {
        FAILURE_WINDOW
    }

    /// The API key these credentials belong to, if they are right and the key is active.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ApiKey, CatalogError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(known) = self.verified.get(client_id).await {
            if bool::from(known.ct_eq(&digest)) {
                if let Some(key) = self.tokens.active_key(client_id).await? {
                    return Ok(key);
                }
            }
        }
        match self.catalog.authenticate_api_key(client_id, secret).await {
            Ok(key) => {
                self.verified.insert(client_id.to_string(), digest).await;
                self.failures.invalidate(client_id).await;
                Ok(key)
            }
            Err(e @ CatalogError::Unauthorized(_)) => {
                let failures = self.failures.get(client_id).await.unwrap_or(0) + 1;
                self.failures.insert(client_id.to_string(), failures).await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
