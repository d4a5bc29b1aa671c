//! Random bearer tokens and the hashes stored in their place: web sessions, reset links, the
//! OpenID Connect provider's codes and secrets, chat webhooks and bots.
//!
//! A foundation (`../shared/LAYERS.md`): the web door, the OIDC provider and chat all mint
//! tokens, and none of them should import another to do it.

/// The operating system gave no randomness; nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("no randomness: {0}")]
pub struct NoRandomness(String);

/// A random token of 256 bits, base64url without padding.
pub fn random_token() -> Result<String, NoRandomness> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a token: what is stored. A plain hash suffices because the tokens are 256-bit
/// random, never guessable low-entropy secrets.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
