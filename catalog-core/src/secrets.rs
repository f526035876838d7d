//! Secrets at rest: what the metadata store holds in clear text would let anyone who reads the
//! database (a backup, a replica's disk, a local user) sign tokens for every tenant. Such values
//! are sealed with the server's master key (XChaCha20-Poly1305) before they reach the store, and
//! opened after they leave it. The master key itself never enters the store.
//!
//! A sealed value is `sealed:v1:` followed by base64 of a random 24-byte nonce and the
//! ciphertext. The value's context (a signing key's id) is the associated data, so a sealed value
//! copied onto another row does not open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{CatalogError, Result};

const SEALED_PREFIX: &str = "sealed:v1:";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// The server's master key: 32 random bytes, written as base64.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random key and its base64 text (to be kept by the operator or in a 0600 file).
    pub fn generate() -> (Self, String) {
        let bytes: [u8; KEY_BYTES] = rand::random();
        (Self::from_bytes(&bytes), STANDARD.encode(bytes))
    }

    /// The key from its base64 text (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| invalid_key())?;
        let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| invalid_key())?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    /// `plaintext`, sealed and bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .0
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| CatalogError::Internal("sealing a secret failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// The plaintext of a value [`MasterKey::seal`] sealed with this key and `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String> {
        let cannot_open = || {
            CatalogError::Internal(format!(
                "the secret of {context} cannot be decrypted: the master key is not the one it \
                 was sealed with (set master_key or master_key_file to that key)"
            ))
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .ok_or_else(cannot_open)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plaintext = self
            .0
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| cannot_open())?;
        String::from_utf8(plaintext).map_err(|_| cannot_open())
    }
}

/// True for a value [`MasterKey::seal`] wrote (anything else was stored before sealing existed).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

fn invalid_key() -> CatalogError {
    CatalogError::BadRequest(format!(
        "a master key is {KEY_BYTES} random bytes written as base64 (e.g. `openssl rand -base64 32`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_context_only() {
        let (key, text) = MasterKey::generate();
        let sealed = key.seal("kid-1", "private key").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("private key"));
        assert_eq!(key.open("kid-1", &sealed).unwrap(), "private key");
        // the same key read back from its text
        let again = MasterKey::from_base64(&format!("{text}\n")).unwrap();
        assert_eq!(again.open("kid-1", &sealed).unwrap(), "private key");
        // another row's context, another key, a tampered value: refused
        assert!(key.open("kid-2", &sealed).is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.open("kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(key.open("kid-1", &tampered).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_texts() {
        let (key, _) = MasterKey::generate();
        assert_ne!(key.seal("k", "x").unwrap(), key.seal("k", "x").unwrap());
    }

    #[test]
    fn master_keys_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
    }
}
