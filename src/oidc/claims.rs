//! Claims about a user, by scope (OIDC Core §5.4), for the id_token and the
//! userinfo response alike, so both always say the same.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Oidc, has_scope, keys};
use crate::domain::User;
use crate::store::StoreError;
use crate::store::oidc::OAuthClient;

/// `sub` plus the claims `scopes` allow (OIDC Core §5.1, §5.4).
pub async fn user_claims(oidc: &Oidc, user: &User, scopes: &str) -> Result<Map<String, Value>, StoreError> {
    let mut claims = Map::new();
    // OIDC Core §2: locally unique, never reassigned — not the user name,
    // which an admin could give to someone else after a deletion.
    claims.insert("sub".into(), oidc.store.user_subject(user.id).await?.into());
    if has_scope(scopes, "profile") {
        let name = if user.display_name.trim().is_empty() { user.username.as_str() } else { &user.display_name };
        claims.insert("name".into(), name.into());
        // Gitea reads `nickname`, then `preferred_username`, as the login name.
        claims.insert("nickname".into(), user.username.as_str().into());
        claims.insert("preferred_username".into(), user.username.as_str().into());
        claims.insert("updated_at".into(), user.updated_at.timestamp().into());
    }
    if has_scope(scopes, "email") {
        claims.insert("email".into(), user.email.as_str().into());
        // Relying parties link accounts by address: never claim an address
        // verified that the user has not proved.
        claims.insert("email_verified".into(), user.email_verified.into());
    }
    if has_scope(scopes, "groups") {
        claims.insert("groups".into(), oidc.store.user_groups(user.id).await?.into());
    }
    Ok(claims)
}

/// What an id_token is issued for.
pub struct IdTokenInput<'a> {
    pub client: &'a OAuthClient,
    pub user: &'a User,
    pub scopes: &'a str,
    pub auth_time: DateTime<Utc>,
    pub amr: &'a str,
    /// Only from the authorization request, never on refresh (OIDC Core
    /// §12.2 errata: a refresh is not an authentication request).
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

/// A signed id_token (OIDC Core §2, §3.1.3.6).
pub async fn id_token(oidc: &Oidc, input: IdTokenInput<'_>) -> Result<String, StoreError> {
    let now = oidc.now();
    let mut claims = user_claims(oidc, input.user, input.scopes).await?;
    claims.insert("iss".into(), oidc.config.issuer.clone().into());
    claims.insert("aud".into(), input.client.client_id.clone().into());
    claims.insert("iat".into(), now.timestamp().into());
    claims.insert("exp".into(), oidc.expiry(now, oidc.config.access_token_lifetime).timestamp().into());
    claims.insert("auth_time".into(), input.auth_time.timestamp().into());
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.insert("at_hash".into(), keys::at_hash(input.access_token).into());
    // RFC 8176 method references; "mfa" when a second factor was used.
    let mut amr: Vec<&str> = input.amr.split(' ').filter(|s| !s.is_empty()).collect();
    if amr.contains(&"otp") && !amr.contains(&"mfa") {
        amr.push("mfa");
    }
    claims.insert("amr".into(), json!(amr));
    let alg = input.client.id_token_alg;
    let (kid, signer) = oidc.keys.current(alg, now).await?;
    keys::sign_jwt(alg, &kid, &signer, &Value::Object(claims))
}
