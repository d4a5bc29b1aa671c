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

/// HMAC-SHA256 of `data` under `key`.
pub fn keyed_hash(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
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
    fn keyed_hash_depends_on_key() {
        assert_ne!(keyed_hash(b"k1", b"x"), keyed_hash(b"k2", b"x"));
        assert_eq!(keyed_hash(b"k1", b"x"), keyed_hash(b"k1", b"x"));
    }
}
