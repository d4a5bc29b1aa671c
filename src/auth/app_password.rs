//! App passwords: generation, normalisation and keyed hashing.
//!
//! An app password is 28 symbols from a 32-symbol alphabet (140 bits of
//! entropy), shown as seven groups of four so it can be typed on a phone.
//! Because it is random and long, a fast keyed hash (HMAC-SHA256 under the
//! instance key) is as safe to store as argon2 would be, and lets the server
//! find it with one indexed look-up instead of trying every hash.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// No `0/o` or `1/l`, which are easy to confuse when copied by hand.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const SYMBOLS: usize = 28;

/// A fresh app password such as `k7rm-2xqa-…`; the only copy is returned.
pub fn generate() -> std::io::Result<String> {
    let mut bytes = [0u8; SYMBOLS];
    getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
    let mut out = String::with_capacity(SYMBOLS + SYMBOLS / 4);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 256 is a multiple of 32, so masking keeps the choice uniform.
        out.push(ALPHABET[(b & 31) as usize] as char);
    }
    Ok(out)
}

/// The canonical form of something a user typed as an app password, or
/// `None` if it cannot be one. Dashes, spaces and case are forgiven.
pub fn normalize(input: &str) -> Option<String> {
    let canonical: String = input.chars().filter(|c| *c != '-' && *c != ' ').map(|c| c.to_ascii_lowercase()).collect();
    (canonical.len() == SYMBOLS && canonical.bytes().all(|b| ALPHABET.contains(&b))).then_some(canonical)
}

/// HMAC-SHA256 under a fixed key. The key schedule is computed once, when
/// the key is loaded, rather than on every request.
#[derive(Clone)]
pub struct KeyedHasher(Hmac<Sha256>);

impl KeyedHasher {
    /// `None` only if the key is rejected, which HMAC never does for any
    /// length; callers report it as an internal error rather than panic.
    pub fn new(key: &[u8]) -> Option<Self> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).ok().map(Self)
    }

    /// Keyed with the instance key `name`, shared by every process on the
    /// database ([`crate::store::Store::instance_key`]).
    pub async fn instance(
        store: &crate::store::Store,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, crate::store::StoreError> {
        let key = store.instance_key(name, now).await?;
        Self::new(&key).ok_or_else(|| crate::store::StoreError::Internal("unusable HMAC key".into()))
    }

    pub fn hash(&self, data: &[u8]) -> [u8; 32] {
        self.0.clone().chain_update(data).finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_normalize_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 34, "{a}");
        let n = normalize(&a).unwrap();
        assert_eq!(n.len(), 28);
        assert_eq!(normalize(&a.to_uppercase().replace('-', " ")), Some(n));
    }

    #[test]
    fn ordinary_passwords_are_not_app_passwords() {
        assert_eq!(normalize("hunter2"), None);
        assert_eq!(normalize("0000-0000-0000-0000-0000-0000-0000"), None);
    }

    #[test]
    fn keyed_hash_depends_on_key_and_matches_rfc_4231() {
        let k1 = KeyedHasher::new(b"k1").unwrap();
        assert_ne!(k1.hash(b"x"), KeyedHasher::new(b"k2").unwrap().hash(b"x"));
        assert_eq!(k1.hash(b"x"), k1.hash(b"x"), "the key state is reused, not consumed");
        // RFC 4231 §4.3, test case 2.
        let jefe = KeyedHasher::new(b"Jefe").unwrap().hash(b"what do ya want for nothing?");
        let hex: String = jefe.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
