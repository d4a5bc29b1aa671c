//! Secrets that must be read back (TOTP seeds, signing keys) sealed at rest
//! with XChaCha20-Poly1305 (RFC 8439's AEAD with a 192-bit nonce, so random
//! nonces never realistically collide).
//!
//! The key is `auth.encryption_key` when configured — kept outside the
//! database, so a stolen backup alone does not reveal the secrets. Without
//! it, a random key stored in `instance_secrets` is used and a warning is
//! logged at start: that still keeps secrets out of casual view (logs, SQL
//! dumps read by eye) but not from whoever holds the whole database.
//!
//! Layout of a sealed value: `version (1) || nonce (24) || ciphertext+tag`.
//! Every value is sealed with a context string (the "associated data"), e.g.
//! `totp:42`, so a ciphertext copied to another row or purpose fails to open.

use std::fmt;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::store::{Store, StoreError};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// A 256-bit key; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; 32]);

impl EncryptionKey {
    /// Standard base64 (with or without padding) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<EncryptionKey> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .ok()?;
        bytes.try_into().ok().map(EncryptionKey)
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(****)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    /// Wrong key, wrong context, or a damaged value.
    #[error("a sealed secret could not be opened (wrong key or damaged data)")]
    Open,
    #[error("no randomness for a nonce: {0}")]
    Random(String),
}

impl From<SecretBoxError> for StoreError {
    fn from(e: SecretBoxError) -> Self {
        StoreError::Internal(e.to_string())
    }
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(****)")
    }
}

impl SecretBox {
    pub fn new(key: &EncryptionKey) -> SecretBox {
        SecretBox { cipher: XChaCha20Poly1305::new((&key.0).into()) }
    }

    /// The configured key, else the instance key from the database (shared
    /// by every process on it). The flag says whether it fell back.
    pub async fn for_instance(
        store: &Store,
        now: chrono::DateTime<chrono::Utc>,
        configured: Option<&EncryptionKey>,
    ) -> Result<(SecretBox, bool), StoreError> {
        if let Some(key) = configured {
            return Ok((SecretBox::new(key), false));
        }
        let key = store.instance_key("secret-box-key", now).await?;
        Ok((SecretBox::new(&EncryptionKey(key)), true))
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SecretBoxError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| SecretBoxError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| SecretBoxError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SecretBoxError::Open);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| SecretBoxError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let sb = SecretBox::new(&EncryptionKey([7; 32]));
        let sealed = sb.seal(b"seed", "totp:1").unwrap();
        assert_eq!(sb.open(&sealed, "totp:1").unwrap(), b"seed");
        assert_eq!(sb.open(&sealed, "totp:2"), Err(SecretBoxError::Open));
        let other = SecretBox::new(&EncryptionKey([8; 32]));
        assert_eq!(other.open(&sealed, "totp:1"), Err(SecretBoxError::Open));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(sb.open(&bad, "totp:1"), Err(SecretBoxError::Open));
        assert_ne!(sb.seal(b"seed", "totp:1").unwrap(), sealed, "nonces are random");
    }

    #[test]
    fn keys_parse_from_base64_and_hide_in_debug() {
        let text = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let key = EncryptionKey::from_base64(&text).unwrap();
        assert_eq!(key.0, [1; 32]);
        assert!(EncryptionKey::from_base64("c2hvcnQ=").is_none());
        assert_eq!(format!("{key:?}"), "EncryptionKey(****)");
    }
}
