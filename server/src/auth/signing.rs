//! Token signing keys: Ed25519 pairs kept in the metadata store so that every replica verifies
//! every replica's tokens. The newest key signs; all unretired keys verify.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use frazil_catalog::store::SigningKeyRecord;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{json, Value};

/// One usable key pair.
#[derive(Clone)]
pub struct KeyPair {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The raw public key, base64url: the JWK's `x`.
    pub public_x: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A new random key pair, as stored (private key: PKCS#8 DER, base64).
pub fn generate(now_ms: i64) -> anyhow::Result<SigningKeyRecord> {
    let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("cannot encode a signing key: {e}"))?;
    Ok(SigningKeyRecord {
        kid: uuid::Uuid::now_v7().simple().to_string(),
        private_key: STANDARD.encode(der.as_bytes()),
        public_key: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        created_at_ms: now_ms,
    })
}

pub fn key_pair(record: &SigningKeyRecord) -> anyhow::Result<KeyPair> {
    let der = STANDARD.decode(&record.private_key)?;
    Ok(KeyPair {
        kid: record.kid.clone(),
        encoding: EncodingKey::from_ed_der(&der),
        decoding: DecodingKey::from_ed_components(&record.public_key)?,
        public_x: record.public_key.clone(),
    })
}

/// The JSON Web Key Set of the public keys.
pub fn jwks(keys: &[KeyPair]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.public_x}))
        .collect();
    json!({ "keys": keys })
}
