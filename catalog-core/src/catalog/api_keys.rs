//! API keys: the OAuth2 client credentials of Frazil. A key id and a secret shown once; only an
//! argon2id hash of the secret is stored.

use std::sync::LazyLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::Catalog;
use crate::access::{Principal, Role};
use crate::secrets::is_sealed;
use crate::store::{ApiKeyRecord, SigningKeyRecord};
use crate::{CatalogError, Result};

/// An API key as the admin API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub org_id: Option<String>,
    pub env_id: Option<String>,
    pub role: Role,
    pub description: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

impl ApiKey {
    pub fn principal(&self) -> Principal {
        Principal {
            key_id: self.id.clone(),
            org_id: self.org_id.clone(),
            env_id: self.env_id.clone(),
            role: self.role,
        }
    }

    /// Neither revoked nor expired at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// What to create. `id` and `secret` are given only by bootstrap from the environment.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub org_id: Option<String>,
    pub env_id: Option<String>,
    pub role: Option<Role>,
    pub description: String,
    pub expires_at_ms: Option<i64>,
    pub id: Option<String>,
    pub secret: Option<String>,
}

/// A created key with its secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

fn from_record(r: ApiKeyRecord) -> Result<ApiKey> {
    Ok(ApiKey {
        role: r.role.parse()?,
        id: r.id,
        org_id: r.org_id,
        env_id: r.env_id,
        description: r.description,
        created_at_ms: r.created_at_ms,
        last_used_at_ms: r.last_used_at_ms,
        expires_at_ms: r.expires_at_ms,
        revoked_at_ms: r.revoked_at_ms,
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Key ids are easy to read aloud and never confused (no 0/O, 1/I/L).
fn generate_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let suffix: String = (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("FRZ{suffix}")
}

fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// argon2id with the crate's defaults (19 MiB, 2 passes): run off the async threads.
async fn hash_secret(secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CatalogError::Internal(format!("cannot hash a secret: {e}")))
    })
    .await
    .map_err(|e| CatalogError::Internal(e.to_string()))?
}

/// An argon2id hash of a random secret, made with the same parameters as every stored hash: an
/// unknown client id is checked against it, so that it costs what a known one costs and the
/// answer's timing does not tell which ids exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(generate_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Constant-time verification of `secret` against a stored argon2id hash (`None`: against
/// [`DUMMY_HASH`], which never matches).
pub async fn verify_secret(secret: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = hash.as_deref().unwrap_or(DUMMY_HASH.as_str());
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

impl Catalog {
    /// Creates a key for the whole server (no org), an organization (admin only) or an environment.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<IssuedApiKey> {
        let role = new.role.unwrap_or(Role::Reader);
        match (&new.org_id, &new.env_id) {
            (Some(org), Some(env)) => {
                self.admin_environment(org, env).await?;
            }
            (Some(org), None) => {
                self.organization(org).await?;
                if role != Role::Admin {
                    return Err(CatalogError::BadRequest(
                        "Organization keys must have the admin role".into(),
                    ));
                }
            }
            (None, None) if role == Role::Admin => {}
            _ => {
                return Err(CatalogError::BadRequest(
                    "Server keys must have the admin role".into(),
                ))
            }
        }
        if new.expires_at_ms.is_some_and(|e| e <= now_ms()) {
            return Err(CatalogError::BadRequest(
                "expires_at must be in the future".into(),
            ));
        }
        let id = new.id.unwrap_or_else(generate_key_id);
        super::tenancy::check_id("API key", &id)?;
        let secret = new.secret.unwrap_or_else(generate_secret);
        if secret.len() < 16 {
            return Err(CatalogError::BadRequest(
                "An API key secret needs at least 16 characters".into(),
            ));
        }
        let record = ApiKeyRecord {
            id: id.clone(),
            org_id: new.org_id,
            env_id: new.env_id,
            role: role.as_str().to_string(),
            description: new.description,
            secret_hash: hash_secret(secret.clone()).await?,
            created_at_ms: now_ms(),
            last_used_at_ms: None,
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
        };
        if !self.store.insert_api_key(&record).await? {
            return Err(CatalogError::Conflict(format!(
                "API key {id} already exists"
            )));
        }
        Ok(IssuedApiKey {
            key: from_record(record)?,
            secret,
        })
    }

    /// The keys of exactly this scope.
    pub async fn api_keys(&self, org: Option<&str>, env: Option<&str>) -> Result<Vec<ApiKey>> {
        let records = self.store.list_api_keys(org, env).await?;
        records.into_iter().map(from_record).collect()
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.store.api_key(id).await?.map(from_record).transpose()
    }

    /// Revokes a key of this scope; its tokens stop working within the status cache's lifetime.
    pub async fn revoke_api_key(
        &self,
        org: Option<&str>,
        env: Option<&str>,
        id: &str,
    ) -> Result<()> {
        let missing = || CatalogError::NoSuchResource(format!("API key {id} does not exist"));
        let key = self.api_key(id).await?.ok_or_else(missing)?;
        if key.org_id.as_deref() != org || key.env_id.as_deref() != env {
            return Err(missing());
        }
        self.store.revoke_api_key(id, now_ms()).await?;
        Ok(())
    }

    /// Checks a client id and secret. Every failure reads the same and costs the same (an unknown
    /// id is checked against a dummy hash), so that a caller cannot tell an unknown key from a
    /// wrong secret, by the answer or by its timing.
    pub async fn authenticate_api_key(&self, id: &str, secret: &str) -> Result<ApiKey> {
        let invalid = || CatalogError::Unauthorized("Invalid client credentials".into());
        let record = self.store.api_key(id).await?;
        let hash = record.as_ref().map(|r| r.secret_hash.clone());
        let verified = verify_secret(secret.to_string(), hash).await;
        let Some(record) = record.filter(|_| verified) else {
            return Err(invalid());
        };
        let key = from_record(record)?;
        if !key.is_active(now_ms()) {
            return Err(invalid());
        }
        self.store.touch_api_key(id, now_ms()).await?;
        Ok(key)
    }

    /// Creates the server administrator key on a server that has none. With `id` and `secret`
    /// (from the operator's environment) that credential is used; otherwise one is generated.
    pub async fn bootstrap_server_admin(
        &self,
        id: Option<String>,
        secret: Option<String>,
    ) -> Result<Option<IssuedApiKey>> {
        if self.store.has_server_admin().await? {
            return Ok(None);
        }
        if let Some(id) = &id {
            if self.store.api_key(id).await?.is_some() {
                return Ok(None);
            }
        }
        let new = NewApiKey {
            role: Some(Role::Admin),
            description: "server administrator (bootstrap)".into(),
            id,
            secret,
            ..NewApiKey::default()
        };
        self.create_api_key(new).await.map(Some)
    }

    /// The unretired signing keys, newest first, their private keys opened.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let records = self.store.signing_keys(false).await?;
        records
            .into_iter()
            .map(|record| self.open_signing_key(record))
            .collect()
    }

    /// Stores a new signing key, its private key sealed with the master key.
    pub async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        let sealed = SigningKeyRecord {
            private_key: self
                .master_key()?
                .seal(&signing_key_context(&key.kid), &key.private_key)?,
            ..key.clone()
        };
        self.store.insert_signing_key(&sealed).await
    }

    /// Seals the private keys stored in clear text before sealing existed (retired keys too);
    /// returns how many. Every sealed key must open with this master key, so a wrong master key
    /// is found at start-up rather than at the first token.
    pub async fn seal_signing_keys(&self) -> Result<usize> {
        let master_key = self.master_key()?;
        let mut sealed = 0;
        for record in self.store.signing_keys(true).await? {
            if is_sealed(&record.private_key) {
                master_key.open(&signing_key_context(&record.kid), &record.private_key)?;
                continue;
            }
            let private_key =
                master_key.seal(&signing_key_context(&record.kid), &record.private_key)?;
            self.store
                .set_signing_key_private(&record.kid, &private_key)
                .await?;
            sealed += 1;
        }
        Ok(sealed)
    }

    fn open_signing_key(&self, record: SigningKeyRecord) -> Result<SigningKeyRecord> {
        if !is_sealed(&record.private_key) {
            return Ok(record); // stored before sealing; `seal_signing_keys` seals it at start-up
        }
        let private_key = self
            .master_key()?
            .open(&signing_key_context(&record.kid), &record.private_key)?;
        Ok(SigningKeyRecord {
            private_key,
            ..record
        })
    }

    /// Retires signing keys other than `keep` created before `before_ms`.
    pub async fn retire_signing_keys(&self, keep: &str, before_ms: i64) -> Result<u64> {
        self.store
            .retire_signing_keys(keep, before_ms, now_ms())
            .await
    }
}

/// What a signing key's sealed private key is bound to.
fn signing_key_context(kid: &str) -> String {
    format!("signing key {kid}")
}
