//! Account password hashing: argon2id for everything we write, bcrypt
//! accepted (and upgraded) for hashes imported from other systems.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Correct; `needs_rehash` when the stored hash is bcrypt or uses weaker
    /// argon2 parameters than the configured ones.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Hashes with the configured argon2id cost.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Self {
        // Parameters were range-checked by the configuration; fall back to the
        // library defaults (the OWASP values) rather than panic.
        let params = Params::new(memory_kib, iterations, 1, None).unwrap_or_default();
        Self { params }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$…`.
    pub fn hash(&self, password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        match self.argon2().hash_password(password.as_bytes(), &salt) {
            Ok(hash) => hash.to_string(),
            // Only reachable with a password longer than argon2's 4 GiB limit.
            Err(_) => String::from("!"),
        }
    }

    /// Checks `password` against `stored` (argon2 PHC or bcrypt `$2?$`).
    /// An unreadable hash never matches.
    pub fn verify(&self, stored: &str, password: &str) -> Verification {
        if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
            return match bcrypt::verify(password, stored) {
                Ok(true) => Verification::Match { needs_rehash: true },
                _ => Verification::Mismatch,
            };
        }
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Mismatch;
        };
        // Verification uses the parameters recorded in the hash itself.
        match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => {
                let current = parsed.algorithm.as_str() == "argon2id"
                    && Params::try_from(&parsed)
                        .is_ok_and(|p| p.m_cost() >= self.params.m_cost() && p.t_cost() >= self.params.t_cost());
                Verification::Match { needs_rehash: !current }
            }
            Err(_) => Verification::Mismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        // Small parameters keep the unit tests fast; the logic is the same.
        PasswordHasher::new(64, 1)
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hasher();
        let hash = h.hash("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_eq!(h.verify(&hash, "correct horse"), Verification::Match { needs_rehash: false });
        assert_eq!(h.verify(&hash, "wrong"), Verification::Mismatch);
    }

    #[test]
    fn bcrypt_imports_verify_and_ask_for_rehash() {
        let imported = bcrypt::hash("from-nextcloud", 4).unwrap();
        let h = hasher();
        assert_eq!(h.verify(&imported, "from-nextcloud"), Verification::Match { needs_rehash: true });
        assert_eq!(h.verify(&imported, "nope"), Verification::Mismatch);
    }

    #[test]
    fn weaker_argon2_parameters_ask_for_rehash() {
        let weak = PasswordHasher::new(32, 1).hash("pw");
        assert_eq!(hasher().verify(&weak, "pw"), Verification::Match { needs_rehash: true });
    }

    #[test]
    fn garbage_hashes_never_match() {
        for stored in ["", "!", "$argon2id$nonsense", "$2b$04$short"] {
            assert_eq!(hasher().verify(stored, ""), Verification::Mismatch);
        }
    }
}
