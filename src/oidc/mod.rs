//! The OpenID Connect provider (OIDC Core 1.0, Discovery 1.0, RP-Initiated
//! Logout 1.0) on OAuth 2.0 (RFC 6749) with PKCE (RFC 7636), revocation
//! (RFC 7009), introspection (RFC 7662), `iss` in the authorization response
//! (RFC 9207), following the OAuth security BCP (RFC 9700).
//!
//! Design:
//! - Authorization code flow only: no implicit or hybrid flow (RFC 9700
//!   §2.1.2), no resource-owner password grant (§2.4).
//! - Every secret Madang hands out — client secrets, codes, access and
//!   refresh tokens — is 256 random bits, so it is stored as HMAC-SHA256
//!   under an instance key ([`Oidc::hash`]) and found with one indexed look-up;
//!   a slow password hash would add nothing against guessing 2^256 values.
//! - Access tokens are opaque and looked up on every use, so revocation is
//!   immediate and scopes are checked in one place ([`bearer`]).
//! - Tokens issued from one authorization code form a *grant* (a token
//!   family). A replayed code or a reused rotated refresh token revokes the
//!   grant, which kills every token in it with one write.
//! - id_tokens are JWS signed with RS256 (default) or ES256, per client;
//!   keys rotate with `madang oidc rotate-keys` ([`keys`]).
//!
//! - Changing or resetting a password revokes every grant of the account
//!   (`crate::accounts::Accounts::set_password`): it is how a user recovers
//!   from a stolen password, so no client may keep what the thief obtained.
//!   Turning TOTP on or off does not: Gitea marks a user inactive when a
//!   refresh answers `invalid_grant` (go-gitea/gitea#34742), and adding a
//!   factor is no sign of compromise.
//! - Dead codes, tokens and grants are deleted by the hourly purge
//!   (`Store::purge_oauth`); nothing on a request path deletes.
//!
//! Layout follows kanidm's split: wire handling in the endpoint files
//! (`authorize`; `token`, which also serves userinfo, revocation and
//! introspection; `logout`; `discovery`), rules in [`clients`] and this
//! module, SQL in `crate::store::oidc`.
//!
//! Scopes (see docs/rfcs/oidc-core.md): `openid`, `profile`, `email`,
//! `groups`, `offline_access`, and two that grant access to Madang itself
//! with `Authorization: Bearer`: `api` (the JSON API under `/api/v1`) and
//! `dav` (CalDAV/CardDAV).

pub mod authorize;
pub mod bearer;
pub mod claims;
pub mod cli;
pub mod clients;
pub mod discovery;
pub mod error;
pub mod keys;
pub mod logout;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use crate::app::state::AppState;
use crate::auth::app_password::KeyedHasher;
use crate::auth::secretbox::SecretBox;
use crate::clock::Clock;
use crate::config::OidcConfig;
use crate::store::{Store, StoreError};

/// A code, token or client secret (`crate::tokens`), failing as the store does so the
/// provider's errors need no case of their own for a machine without randomness.
pub(crate) fn random_token() -> Result<String, StoreError> {
    Ok(crate::tokens::random_token()?)
}

/// Every scope Madang knows, in the order shown on the consent screen.
/// `admin` opens the admin API (`/api/v1/admin`) for an administrator's
/// token; only first-party clients may be allowed it, so an administrator
/// with two-step verification can script administration with a token that
/// records both factors, instead of the account password.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access", "api", "dav", "mail", "admin"];

/// The scopes a new client may ask for unless the admin says otherwise:
/// identity only; `api` and `dav` (access to the user's data) must be
/// granted to a client explicitly.
pub const DEFAULT_CLIENT_SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];

/// Authorization codes live 60 seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_LIFETIME_SECS: i64 = 60;

/// The provider: configuration, keys, and the hashing key for secrets.
pub struct Oidc {
    pub config: OidcConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    hasher: KeyedHasher,
    pub keys: Arc<keys::KeyRing>,
}

impl Oidc {
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: OidcConfig,
        secretbox: SecretBox,
    ) -> Result<Oidc, StoreError> {
        let hasher = KeyedHasher::instance(&store, "oidc-token-key", clock.now()).await?;
        let keys = Arc::new(keys::KeyRing::new(store.clone(), secretbox));
        Ok(Oidc { config, store, clock, hasher, keys })
    }

    /// The same provider with other settings (keys and hashing key shared).
    pub fn reconfigured(&self, config: OidcConfig) -> Oidc {
        Oidc {
            config,
            store: self.store.clone(),
            clock: self.clock.clone(),
            hasher: self.hasher.clone(),
            keys: self.keys.clone(),
        }
    }

    /// The verifier for `Authorization: Bearer`, for the [`crate::auth::Authenticator`].
    pub fn bearer(&self) -> Arc<dyn crate::auth::BearerVerifier> {
        Arc::new(bearer::OidcBearer::new(self.store.clone(), self.clock.clone(), self.hasher.clone()))
    }

    /// The client-management service (CLI and admin API).
    pub fn clients(&self) -> clients::Clients<'_> {
        clients::Clients::new(self)
    }

    /// The keyed hash under which a secret (client secret, code, token) is stored.
    pub fn hash(&self, secret: &str) -> [u8; 32] {
        self.hasher.hash(secret.as_bytes())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An absolute endpoint URL under the issuer (`path` without a leading `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.config.issuer.trim_end_matches('/'))
    }

    /// How long retired signing keys stay published: the longest an
    /// id_token lives, plus a margin for relying parties' clocks and caches.
    pub fn key_retention(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.access_token_lifetime)
            .ok()
            .and_then(|d| d.checked_add(&chrono::Duration::hours(1)))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// When something issued now with `lifetime` expires (saturating: a
    /// lifetime is configuration, and must never overflow into a panic).
    pub fn expiry(&self, now: DateTime<Utc>, lifetime: std::time::Duration) -> DateTime<Utc> {
        crate::web::session::after(now, lifetime)
    }

    /// What an `id_token_hint` says, if it is one of ours: signed by one of
    /// our published keys, with our `iss` (OIDC Core §3.1.2.1, RP-Initiated
    /// Logout §2). Expiry is not checked: an expired hint is still a hint.
    /// A hint that cannot be verified is `None` — ignored, never trusted.
    pub async fn id_token_hint(&self, hint: &str) -> Option<IdTokenHint> {
        let kid = keys::jwt_kid(hint)?;
        let jwk = match self.keys.public_jwk(&kid, self.now()).await {
            Ok(jwk) => jwk?,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the signing keys to check an id_token_hint");
                return None;
            }
        };
        let claims = keys::verify_jwt(hint, &jwk)?;
        if claims.get("iss").and_then(|v| v.as_str()) != Some(self.config.issuer.as_str()) {
            return None;
        }
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_string);
        Some(IdTokenHint { subject: text("sub"), client_id: text("aud") })
    }
}

/// The claims of a verified `id_token_hint` that Madang uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub subject: Option<String>,
    /// `aud`: Madang's id_tokens have exactly one audience.
    pub client_id: Option<String>,
}

/// Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive, no
/// duplicates. Returned in [`SCOPES`] order, then unknown ones.
pub fn parse_scopes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in text.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out.sort_by_key(|s| SCOPES.iter().position(|k| k == s).unwrap_or(SCOPES.len()));
    out
}

pub fn has_scope(scopes: &str, scope: &str) -> bool {
    scopes.split(' ').any(|s| s == scope)
}

/// Every OIDC route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::configuration))
        .route("/oauth2/jwks", get(discovery::jwks))
        .route("/oauth2/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/oauth2/consent", get(authorize::consent_get).post(authorize::consent_post))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/userinfo", get(token::userinfo_get).post(token::userinfo_post))
        .route("/oauth2/revoke", post(token::revoke))
        .route("/oauth2/introspect", post(token::introspect))
        .route("/oauth2/logout", get(logout::logout_get).post(logout::logout_post))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_ordered() {
        assert_eq!(parse_scopes("email  openid email x"), vec!["openid", "email", "x"]);
        assert!(has_scope("openid email", "email"));
        assert!(!has_scope("openid emails", "email"));
    }

    /// Codes, tokens and client secrets come from `crate::tokens::random_token`;
    /// the Bearer verifier relies on their length.
    #[test]
    fn secrets_are_256_bits() {
        let s = crate::tokens::random_token().unwrap();
        assert_eq!(s.len(), 43);
        assert_ne!(s, crate::tokens::random_token().unwrap());
    }

    #[test]
    fn review_l1_lifetimes_saturate_instead_of_panicking() {
        let huge = std::time::Duration::from_secs(u64::MAX);
        assert_eq!(crate::web::session::after(Utc::now(), huge), DateTime::<Utc>::MAX_UTC);
    }
}
