//! Access tokens: JWTs signed with the store's Ed25519 keys. Verification is local (signature,
//! expiry) plus the API key's status, cached for at most 5 seconds, so that a revoked key's tokens
//! stop working on every replica within that time.
//!
//! A token's signature is checked once: the claims of a verified token are remembered, keyed by
//! a SHA-256 digest of the token, until the token expires (at most [`VERIFIED_TOKEN_TTL`]). An
//! Ed25519 verification costs more than the rest of a cached loadTable; the expiry, the signing
//! key and the API key's status are still checked on every request.
//!
//! A token signed by a key this replica does not know makes it read the signing keys again (the
//! key may be a rotation by another replica), at most once per [`KEY_RELOAD_INTERVAL`]: tokens
//! with made-up `kid`s cannot turn into a database read each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use frazil_catalog::{ApiKey, Catalog, CatalogError, Principal, Role};
use jsonwebtoken::{Algorithm, Header, Validation};
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::signing::{self, KeyPair};

/// How long a key's status (active, revoked, expired) is trusted before it is read again.
pub const KEY_STATUS_TTL: Duration = Duration::from_secs(5);
/// Longest a verified token's claims are remembered (expiry is checked on every use).
const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
const ISSUER: &str = "frazil";
/// Least time between two reloads of the signing keys for tokens of an unknown key.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    role: String,
    scope: String,
    iat: i64,
    exp: i64,
}

/// A token as issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug)]
pub struct Tokens {
    catalog: Arc<Catalog>,
    lifetime: Duration,
    keys: RwLock<Vec<KeyPair>>,
    /// When an unknown `kid` last made this replica reload the keys; held while it reloads.
    last_miss_reload: tokio::sync::Mutex<Option<Instant>>,
    /// How often the keys were read from the store.
    reloads: AtomicU64,
    key_status: Cache<String, Option<ApiKey>>,
    /// SHA-256 of a token whose signature was checked -> its signing key id and claims.
    verified: Cache<[u8; 32], Arc<(String, Claims)>>,
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unauthorized(message: &str) -> CatalogError {
    CatalogError::Unauthorized(message.to_string())
}

impl Tokens {
    /// Loads the signing keys, creating the first one on a new store.
    pub async fn load(catalog: Arc<Catalog>, lifetime: Duration) -> anyhow::Result<Self> {
        let tokens = Self {
            catalog,
            lifetime,
            keys: RwLock::default(),
            last_miss_reload: tokio::sync::Mutex::default(),
            reloads: AtomicU64::new(0),
            key_status: Cache::builder()
                .time_to_live(KEY_STATUS_TTL)
                .max_capacity(100_000)
                .build(),
            verified: Cache::builder()
                .time_to_live(VERIFIED_TOKEN_TTL)
                .max_capacity(100_000)
                .build(),
        };
        tokens.reload_keys().await?;
        if tokens.read_keys().is_empty() {
            let record = signing::generate(chrono::Utc::now().timestamp_millis())?;
            tokens.catalog.add_signing_key(&record).await?;
            tokens.reload_keys().await?;
        }
        Ok(tokens)
    }

    /// Reads the signing keys again (after a rotation by another process).
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        let records = self.catalog.signing_keys().await?;
        let pairs = records
            .iter()
            .map(signing::key_pair)
            .collect::<anyhow::Result<Vec<_>>>()?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = pairs;
        let reloads = self.reloads.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(reloads, "token signing keys read from the store");
        Ok(())
    }

    /// The key of a `kid` this replica did not have: the keys are read again unless an unknown
    /// `kid` made them be read less than [`KEY_RELOAD_INTERVAL`] ago.
    async fn reload_for_unknown(&self, kid: &str) -> anyhow::Result<Option<KeyPair>> {
        let mut last = self.last_miss_reload.lock().await;
        // Another request may have read them while this one waited.
        if let Some(key) = self.key(kid) {
            return Ok(Some(key));
        }
        if last.is_some_and(|at| at.elapsed() < KEY_RELOAD_INTERVAL) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        self.reload_keys().await?;
        Ok(self.key(kid))
    }

    fn read_keys(&self) -> Vec<KeyPair> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn jwks(&self) -> serde_json::Value {
        signing::jwks(&self.read_keys())
    }

    pub fn issue(&self, principal: &Principal, scope: &str) -> Result<IssuedToken, CatalogError> {
        let keys = self.read_keys();
        let key = keys
            .first()
            .ok_or_else(|| CatalogError::Internal("no token signing key".into()))?;
        let now = now_s();
        let lifetime = self.lifetime.as_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: principal.key_id.clone(),
            org: principal.org_id.clone(),
            env: principal.env_id.clone(),
            role: principal.role.as_str().into(),
            scope: scope.into(),
            iat: now,
            exp: now + i64::try_from(lifetime).unwrap_or(i64::MAX),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| CatalogError::Internal(format!("cannot sign a token: {e}")))?;
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
        })
    }

    /// The principal of a valid token whose API key is still active.
    pub async fn verify(&self, token: &str) -> Result<Principal, CatalogError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let verified = match self.verified.get(&digest).await {
            // Tokens of a signing key this replica no longer has are checked (and refused) again.
            Some(known) if self.has_key(&known.0) => known,
            _ => {
                let checked = Arc::new(self.check_signature(token).await?);
                self.verified.insert(digest, checked.clone()).await;
                checked
            }
        };
        let claims = &verified.1;
        if claims.exp < now_s() {
            return Err(unauthorized("Access token expired"));
        }
        let api_key = self
            .active_key(&claims.sub)
            .await?
            .ok_or_else(|| unauthorized("The API key of this token is revoked or expired"))?;
        let role: Role = claims.role.parse()?;
        Ok(Principal {
            role: role.min(api_key.role),
            ..api_key.principal()
        })
    }

    /// The signing key id and the claims of a token whose signature and expiry hold.
    async fn check_signature(&self, token: &str) -> Result<(String, Claims), CatalogError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("Malformed access token"))?;
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("Malformed access token"))?;
        let key = match self.key(&kid) {
            Some(key) => key,
            // Perhaps signed by a key created since this replica loaded its keys.
            None => self
                .reload_for_unknown(&kid)
                .await
                .map_err(|e| CatalogError::Internal(e.to_string()))?
                .ok_or_else(|| unauthorized("Access token signed by an unknown key"))?,
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthorized("Access token expired")
                }
                _ => unauthorized("Invalid access token"),
            })?
            .claims;
        Ok((kid, claims))
    }

    fn has_key(&self, kid: &str) -> bool {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| k.kid == kid)
    }

    fn key(&self, kid: &str) -> Option<KeyPair> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().find(|k| k.kid == kid).cloned()
    }

    /// The key if it exists and is active, as known at most [`KEY_STATUS_TTL`] ago.
    pub async fn active_key(&self, key_id: &str) -> Result<Option<ApiKey>, CatalogError> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(self.key_status(key_id).await?.filter(|k| k.is_active(now)))
    }

    async fn key_status(&self, key_id: &str) -> Result<Option<ApiKey>, CatalogError> {
        if let Some(cached) = self.key_status.get(key_id).await {
            return Ok(cached);
        }
        let key = self.catalog.api_key(key_id).await?;
        self.key_status
            .insert(key_id.to_string(), key.clone())
            .await;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use frazil_catalog::store::SqlStore;

    use super::*;

    /// A token of a key that another replica has just created (not yet in this one's memory).
    fn token_of(key: &KeyPair) -> String {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "K".into(),
            org: None,
            env: None,
            role: "admin".into(),
            scope: "catalog".into(),
            iat: now_s(),
            exp: now_s() + 600,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn unknown_keys_are_looked_up_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let store = SqlStore::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let catalog = Arc::new(
            Catalog::new(Arc::new(store)).with_master_key(frazil_catalog::MasterKey::generate().0),
        );
        let tokens = Arc::new(
            Tokens::load(catalog.clone(), Duration::from_secs(60))
                .await
                .unwrap(),
        );

        let record = signing::generate(chrono::Utc::now().timestamp_millis()).unwrap();
        let token = token_of(&signing::key_pair(&record).unwrap());
        let before = tokens.reloads.load(Ordering::Relaxed);
        let checks: Vec<_> = (0..50)
            .map(|_| {
                let (tokens, token) = (tokens.clone(), token.clone());
                tokio::spawn(async move { tokens.verify(&token).await })
            })
            .collect();
        for check in checks {
            assert!(matches!(
                check.await.unwrap(),
                Err(CatalogError::Unauthorized(_))
            ));
        }
        assert_eq!(
            tokens.reloads.load(Ordering::Relaxed),
            before + 1,
            "50 checks of an unknown kid"
        );

        // The key appears (a rotation by another replica): refused until the interval is over,
        // then found by the next reload.
        catalog.add_signing_key(&record).await.unwrap();
        assert!(tokens.verify(&token).await.is_err());
        assert_eq!(tokens.reloads.load(Ordering::Relaxed), before + 1);
        tokio::time::sleep(KEY_RELOAD_INTERVAL + Duration::from_millis(100)).await;
        assert!(
            matches!(tokens.verify(&token).await, Err(CatalogError::Unauthorized(m)) if m.contains("revoked"))
        );
        assert_eq!(tokens.reloads.load(Ordering::Relaxed), before + 2);
    }
}
