//! id_token signing keys: generation, the JWK Set (RFC 7517), JWS compact
//! signatures (RFC 7515 §7.1) with RS256 and ES256 (RFC 7518 §3.3, §3.4),
//! and rotation.
//!
//! Keys live in the database so every process signs with the same key and
//! publishes the same set; private keys are sealed with the instance
//! [`SecretBox`]. The newest unretired key of each algorithm signs. Rotation
//! adds a new key per algorithm and retires the old ones, which stay in the
//! JWK Set until every token they signed has expired (plus a margin for
//! relying parties' clocks and caches); the next rotation after that deletes
//! them.
//!
//! The JWK Set endpoint is public and unauthenticated, so it only reads: one
//! indexed read of a table of a few rows per request, never cached. A cached
//! copy was tried and dropped: behind a load balancer, a process that had
//! not yet re-read the table published a set without the key another
//! process had just started signing with (the Authlib suite caught it after
//! `madang oidc rotate-keys`), and relying parties refused those tokens. The first keys
//! are generated on first use — the first id_token or the first JWK Set
//! request on a database — so a server that never serves OIDC never makes
//! any.
//!
//! Signing is `ring`'s (constant-time, the library rustls already uses);
//! the `rsa` crate only generates RSA keys, which `ring` cannot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use sha2::{Digest, Sha256};

use crate::auth::secretbox::SecretBox;
use crate::store::oidc::{SigningAlg, SigningKeyRecord};
use crate::store::{Store, StoreError};

/// RSA modulus size for new keys (RFC 7518 §3.3: at least 2048 bits).
const RSA_BITS: usize = 2048;

/// A parsed private key, ready to sign.
pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A public key as published in the JWK Set.
#[derive(Debug, Clone)]
struct PublishedKey {
    kid: String,
    jwk: serde_json::Value,
    retired_at: Option<DateTime<Utc>>,
}

/// The signing keys of this instance, read from the store and cached parsed.
pub struct KeyRing {
    store: Store,
    secretbox: SecretBox,
    parsed: Mutex<HashMap<String, Arc<Signer>>>,
    /// One generation at a time per process, so concurrent first requests
    /// do not each generate an RSA key.
    generating: tokio::sync::Mutex<()>,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// `now - retention`, saturating.
fn horizon(now: DateTime<Utc>, retention: chrono::Duration) -> DateTime<Utc> {
    now.checked_sub_signed(retention).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn signing_key(keys: &[SigningKeyRecord], alg: SigningAlg) -> Option<&SigningKeyRecord> {
    keys.iter().find(|k| k.alg == alg.as_str() && k.retired_at.is_none())
}

impl KeyRing {
    pub fn new(store: Store, secretbox: SecretBox) -> KeyRing {
        KeyRing { store, secretbox, parsed: Mutex::new(HashMap::new()), generating: tokio::sync::Mutex::new(()) }
    }

    /// The key that signs with `alg` now, generating the first keys on
    /// first use (so a server that never serves OIDC never makes any).
    pub async fn current(&self, alg: SigningAlg, now: DateTime<Utc>) -> Result<(String, Arc<Signer>), StoreError> {
        let mut key = signing_key(&self.store.oidc_signing_keys().await?, alg).cloned();
        if key.is_none() {
            let _turn = self.generating.lock().await;
            key = signing_key(&self.store.oidc_signing_keys().await?, alg).cloned();
            if key.is_none() {
                let fresh = self.generate(&[alg], now).await?;
                self.store.add_oidc_signing_keys(&fresh, true, now).await?;
                key = signing_key(&self.store.oidc_signing_keys().await?, alg).cloned();
            }
        }
        let key = key.ok_or_else(|| internal("no signing key after generating one"))?;
        let signer = self.parse(&key)?;
        Ok((key.kid, signer))
    }

    /// Makes sure both algorithms have a key (discovery and JWKS list them).
    pub async fn ensure_all(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for alg in SigningAlg::ALL {
            self.current(alg, now).await?;
        }
        Ok(())
    }

    /// `madang oidc rotate-keys`: a new key for each algorithm; the old ones
    /// are retired (still published). Keys retired more than `retention`
    /// ago are deleted: nothing they signed is still valid. Returns the new
    /// key ids.
    pub async fn rotate(&self, now: DateTime<Utc>, retention: chrono::Duration) -> Result<Vec<String>, StoreError> {
        let _turn = self.generating.lock().await;
        self.store.prune_oidc_signing_keys(horizon(now, retention)).await?;
        let fresh = self.generate(&SigningAlg::ALL, now).await?;
        self.store.add_oidc_signing_keys(&fresh, false, now).await?;
        Ok(fresh.into_iter().map(|k| k.kid).collect())
    }

    /// The JWK Set: every key not retired longer than `retention` ago.
    /// Reads only (see the module documentation), except on a database that
    /// has no key yet for an algorithm.
    pub async fn jwks(&self, now: DateTime<Utc>, retention: chrono::Duration) -> Result<serde_json::Value, StoreError> {
        let cutoff = horizon(now, retention);
        let keys = self.published(now).await?;
        let published: Vec<&serde_json::Value> =
            keys.iter().filter(|k| k.retired_at.is_none_or(|t| t >= cutoff)).map(|k| &k.jwk).collect();
        Ok(serde_json::json!({ "keys": published }))
    }

    /// The public JWK with `kid`, for checking an `id_token_hint`.
    pub async fn public_jwk(&self, kid: &str, now: DateTime<Utc>) -> Result<Option<serde_json::Value>, StoreError> {
        let keys = self.published(now).await?;
        Ok(keys.iter().find(|k| k.kid == kid).map(|k| k.jwk.clone()))
    }

    /// The public keys, as the database has them now.
    async fn published(&self, now: DateTime<Utc>) -> Result<Arc<Vec<PublishedKey>>, StoreError> {
        let mut records = self.store.oidc_signing_keys().await?;
        if SigningAlg::ALL.iter().any(|alg| signing_key(&records, *alg).is_none()) {
            // First use on this database: discovery promises both algorithms.
            self.ensure_all(now).await?;
            records = self.store.oidc_signing_keys().await?;
        }
        let mut keys = Vec::with_capacity(records.len());
        for key in records {
            let jwk = serde_json::from_str(&key.public_jwk).map_err(internal)?;
            keys.push(PublishedKey { kid: key.kid, jwk, retired_at: key.retired_at });
        }
        Ok(Arc::new(keys))
    }

    fn parse(&self, key: &SigningKeyRecord) -> Result<Arc<Signer>, StoreError> {
        if let Some(signer) = self.parsed.lock().unwrap_or_else(|e| e.into_inner()).get(&key.kid) {
            return Ok(signer.clone());
        }
        let der = self.secretbox.open(&key.private_key, &seal_context(&key.kid))?;
        let signer = match SigningAlg::parse(&key.alg) {
            Some(SigningAlg::RS256) => Signer::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(internal)?),
            Some(SigningAlg::ES256) => Signer::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
                    .map_err(internal)?,
            ),
            None => return Err(internal(format!("signing key {} has unknown algorithm {}", key.kid, key.alg))),
        };
        let signer = Arc::new(signer);
        self.parsed.lock().unwrap_or_else(|e| e.into_inner()).insert(key.kid.clone(), signer.clone());
        Ok(signer)
    }

    /// New key records (private key sealed, public JWK with its `kid`).
    async fn generate(&self, algs: &[SigningAlg], now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut out = Vec::new();
        for alg in algs {
            let alg = *alg;
            let (pkcs8, jwk) =
                tokio::task::spawn_blocking(move || generate_key(alg)).await.map_err(internal)?.map_err(internal)?;
            let kid = jwk_thumbprint(&jwk)?;
            let mut jwk = jwk;
            if let Some(map) = jwk.as_object_mut() {
                map.insert("kid".into(), kid.clone().into());
                map.insert("use".into(), "sig".into());
                map.insert("alg".into(), alg.as_str().into());
            }
            out.push(SigningKeyRecord {
                private_key: self.secretbox.seal(&pkcs8, &seal_context(&kid))?,
                public_jwk: jwk.to_string(),
                kid,
                alg: alg.as_str().to_string(),
                created_at: now,
                retired_at: None,
            });
        }
        Ok(out)
    }
}

fn seal_context(kid: &str) -> String {
    format!("oidc-signing-key:{kid}")
}

/// A fresh private key as PKCS#8 DER, with its public JWK (no `kid` yet).
fn generate_key(alg: SigningAlg) -> Result<(Vec<u8>, serde_json::Value), String> {
    match alg {
        SigningAlg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| e.to_string())?;
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            let jwk = serde_json::json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            });
            Ok((der.as_bytes().to_vec(), jwk))
        }
        SigningAlg::ES256 => {
            let rng = SystemRandom::new();
            let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
            // SEC 1 uncompressed point: 0x04 || X (32) || Y (32).
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err("unexpected P-256 public key encoding".into());
            }
            let jwk = serde_json::json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            Ok((pkcs8.as_ref().to_vec(), jwk))
        }
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in
/// lexicographic order without whitespace, base64url. Used as `kid`.
fn jwk_thumbprint(jwk: &serde_json::Value) -> Result<String, StoreError> {
    let member = |name: &str| jwk.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let canonical = match jwk.get("kty").and_then(|v| v.as_str()) {
        Some("RSA") => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, member("e"), member("n")),
        Some("EC") => {
            format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, member("crv"), member("x"), member("y"))
        }
        _ => return Err(internal("unknown key type")),
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// Signs `claims` as a JWS in compact serialization (RFC 7515 §7.1).
pub fn sign_jwt(alg: SigningAlg, kid: &str, signer: &Signer, claims: &serde_json::Value) -> Result<String, StoreError> {
    let header = serde_json::json!({ "alg": alg.as_str(), "typ": "JWT", "kid": kid });
    let mut input = URL_SAFE_NO_PAD.encode(header.to_string());
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let rng = SystemRandom::new();
    let sig = match signer {
        Signer::Rsa(pair) => {
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).map_err(internal)?;
            sig
        }
        // The FIXED encoding is R || S, what JWS wants (RFC 7518 §3.4).
        Signer::Ec(pair) => pair.sign(&rng, input.as_bytes()).map_err(internal)?.as_ref().to_vec(),
    };
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(input)
}

/// Verifies a JWS signed by one of our keys (`id_token_hint`), returning
/// its claims; expiry is not checked (an expired hint is still a hint).
pub fn verify_jwt(token: &str, jwk: &serde_json::Value) -> Option<serde_json::Value> {
    let (signed, sig) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str()).and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
    let alg = header.get("alg")?.as_str()?;
    if Some(alg) != jwk.get("alg").and_then(|v| v.as_str()) {
        return None;
    }
    let ok = match alg {
        "RS256" => signature::RsaPublicKeyComponents { n: field("n")?, e: field("e")? }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &sig)
            .is_ok(),
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &sig)
                .is_ok()
        }
        _ => false,
    };
    if !ok {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The `kid` in a JWS header, without verifying anything.
pub fn jwt_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    Some(header.get("kid")?.as_str()?.to_string())
}

/// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of the SHA-256
/// of the access token (SHA-256 because both RS256 and ES256 use it).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_and_verify_for_both_algorithms() {
        for alg in SigningAlg::ALL {
            let (der, mut jwk) = generate_key(alg).unwrap();
            let kid = jwk_thumbprint(&jwk).unwrap();
            jwk.as_object_mut().unwrap().insert("alg".into(), alg.as_str().into());
            let signer = match alg {
                SigningAlg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(&der).unwrap()),
                SigningAlg::ES256 => Signer::Ec(
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
                        .unwrap(),
                ),
            };
            let token = sign_jwt(alg, &kid, &signer, &serde_json::json!({ "sub": "x" })).unwrap();
            assert_eq!(jwt_kid(&token).as_deref(), Some(kid.as_str()));
            assert_eq!(verify_jwt(&token, &jwk).unwrap()["sub"], "x");
            let tampered = format!("{}x", token);
            assert!(verify_jwt(&tampered, &jwk).is_none());
        }
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core Appendix A.3 / A.4.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
