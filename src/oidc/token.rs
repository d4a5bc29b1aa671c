//! The token endpoint (RFC 6749 §3.2, §4.1.3, §6), userinfo (OIDC Core
//! §5.3), revocation (RFC 7009) and introspection (RFC 7662).
//!
//! The client is always authenticated before anything about the code or
//! token is looked at or changed: Go's oauth2 library (Gitea) first tries
//! `client_secret_basic` and, when that fails, retries the same code with
//! `client_secret_post`, so a failed client authentication must leave the
//! code untouched.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authorize::parse_params;
use super::claims::{IdTokenInput, id_token, user_claims};
use super::error::{OAuthError, json_no_store};
use super::random_token;
use super::{Oidc, has_scope, parse_scopes};
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::domain::{User, UserId, UserState};
use crate::store::StoreError;
use crate::store::oidc::{NewGrant, NewToken, OAuthClient, Redeemed, TokenKind, TokenRecord};

type Params = HashMap<String, String>;

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Who is calling the token-side endpoints (RFC 6749 §2.3).
pub async fn authenticate_client(oidc: &Oidc, headers: &HeaderMap, params: &Params) -> Result<OAuthClient, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(value) => {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client("unsupported client authentication scheme"));
            }
            let (id, secret) = crate::http::auth::decode_basic(rest.trim())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            let id = form_decode(&id).ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            let secret =
                form_decode(&secret).ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            Some((id, secret))
        }
        None => None,
    };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    // RFC 6749 §2.3: one authentication method per request.
    let (client_id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("use either client_secret_basic or client_secret_post, not both"));
        }
        (Some((id, secret)), None) => {
            if body_id.is_some_and(|b| *b != id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        (None, secret) => match body_id {
            Some(id) => (id.clone(), secret.cloned()),
            None => return Err(OAuthError::invalid_client("client authentication required")),
        },
    };
    let client = oidc.store.oauth_client(&client_id).await?;
    let Some(client) = client else {
        return Err(OAuthError::invalid_client("unknown client or wrong secret"));
    };
    match (&client.secret_hash, secret) {
        // RFC 6749 §2.1: a public client identifies itself, nothing more.
        (None, None) => Ok(client),
        (None, Some(_)) => Err(OAuthError::invalid_client("public clients have no secret")),
        (Some(_), None) => Err(OAuthError::invalid_client("client authentication required")),
        (Some(stored), Some(secret)) => {
            let presented = oidc.hash(&secret);
            if bool::from(presented[..].ct_eq(&stored[..])) {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client("unknown client or wrong secret"))
            }
        }
    }
}

fn read_params(body: &[u8]) -> Result<Params, OAuthError> {
    parse_params(body).map(|(map, _)| map).map_err(OAuthError::invalid_request)
}

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&state, &headers, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let params = read_params(body)?;
    let grant_type = params.get("grant_type").map(String::as_str);
    match grant_type {
        Some("authorization_code") | Some("refresh_token") => {}
        Some(_) => return Err(OAuthError::unsupported_grant_type("only authorization_code and refresh_token")),
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    }
    let client = authenticate_client(&state.oidc, headers, &params).await?;
    if grant_type == Some("authorization_code") {
        code_grant(state, &client, &params).await
    } else {
        refresh_grant(state, &client, &params).await
    }
}

/// The account a grant is for, if it may still get tokens.
async fn active_user(state: &AppState, id: i64) -> Result<Option<User>, OAuthError> {
    match state.store.user(UserId(id)).await {
        Ok(user) if user.state == UserState::Active => Ok(Some(user)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An access token, and a refresh token (rotated on every use).
struct Issued {
    access: String,
    refresh: String,
    rows: Vec<NewToken>,
}

fn issue(oidc: &Oidc, scopes: &str, refresh_scopes: &str, now: DateTime<Utc>) -> Result<Issued, OAuthError> {
    let access = random_token()?;
    let refresh = random_token()?;
    let life = |lifetime| oidc.expiry(now, lifetime);
    let rows = vec![
        NewToken {
            kind: TokenKind::Access,
            token_hash: oidc.hash(&access),
            scopes: scopes.to_string(),
            expires_at: life(oidc.config.access_token_lifetime),
        },
        NewToken {
            kind: TokenKind::Refresh,
            token_hash: oidc.hash(&refresh),
            scopes: refresh_scopes.to_string(),
            expires_at: life(oidc.config.refresh_token_lifetime),
        },
    ];
    Ok(Issued { access, refresh, rows })
}

/// RFC 6749 §5.1 (and OIDC Core §3.1.3.3 for `id_token`).
fn token_response(oidc: &Oidc, issued: &Issued, scopes: &str, id_token: Option<String>) -> Response {
    let mut body = json!({
        "access_token": issued.access,
        "token_type": "Bearer",
        "expires_in": oidc.config.access_token_lifetime.as_secs(),
        "refresh_token": issued.refresh,
        "scope": scopes,
    });
    if let (Some(t), Some(map)) = (id_token, body.as_object_mut()) {
        map.insert("id_token".into(), t.into());
    }
    json_no_store(body)
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn verifier_is_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn code_grant(state: &AppState, client: &OAuthClient, params: &Params) -> Result<Response, OAuthError> {
    let oidc = &state.oidc;
    let now = state.clock.now();
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let hash = oidc.hash(code);
    let Some(record_) = state.store.oauth_code(&hash).await? else {
        return Err(OAuthError::invalid_grant("unknown or expired authorization code"));
    };
    // RFC 6749 §4.1.3: issued to this client. Another client presenting it
    // learns nothing and changes nothing.
    if record_.client_id != client.id {
        return Err(OAuthError::invalid_grant("unknown or expired authorization code"));
    }
    if record_.used_at.is_some() {
        return Err(replayed_code(state, client, record_.grant_id, record_.user_id).await);
    }
    if record_.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    // RFC 6749 §4.1.3: the same redirect_uri as in the authorization request.
    if params.get("redirect_uri") != Some(&record_.redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&record_.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            // RFC 7636 §4.6: a failed verification is `invalid_grant`; a
            // malformed verifier (§4.1) cannot match, so it fails the same way.
            if !verifier_is_well_formed(verifier) {
                return Err(OAuthError::invalid_grant("code_verifier must be 43 to 128 unreserved characters"));
            }
            if !pkce_matches(verifier, challenge) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("code_verifier sent, but the request had no code_challenge"));
        }
        (None, None) => {}
    }
    let Some(user) = active_user(state, record_.user_id).await? else {
        return Err(OAuthError::invalid_grant("the account is not active"));
    };
    let issued = issue(oidc, &record_.scopes, &record_.scopes, now)?;
    let grant = NewGrant {
        client_id: client.id,
        user_id: record_.user_id,
        scopes: record_.scopes.clone(),
        auth_time: record_.auth_time,
        amr: record_.amr.clone(),
    };
    match state.store.redeem_oauth_code(&hash, &grant, &issued.rows, now).await? {
        Redeemed::Granted { .. } => {}
        // Someone redeemed it between our read and our write.
        Redeemed::Replayed => {
            let again = state.store.oauth_code(&hash).await?.and_then(|c| c.grant_id);
            return Err(replayed_code(state, client, again, record_.user_id).await);
        }
    }
    let id_token = id_token_if_openid(
        oidc,
        IdTokenInput {
            client,
            user: &user,
            scopes: &record_.scopes,
            auth_time: record_.auth_time,
            amr: &record_.amr,
            nonce: record_.nonce.as_deref(),
            access_token: &issued.access,
        },
    )
    .await?;
    Ok(token_response(oidc, &issued, &record_.scopes, id_token))
}

/// An id_token when the scopes include `openid` (OIDC Core §3.1.3.3, §12.2).
async fn id_token_if_openid(oidc: &Oidc, input: IdTokenInput<'_>) -> Result<Option<String>, OAuthError> {
    if !has_scope(input.scopes, "openid") {
        return Ok(None);
    }
    Ok(Some(id_token(oidc, input).await?))
}

/// RFC 6749 §4.1.2, RFC 9700 §4.5: a code used twice means it leaked;
/// everything issued from it is revoked.
async fn replayed_code(state: &AppState, client: &OAuthClient, grant: Option<i64>, user: i64) -> OAuthError {
    revoke_leaked_grant(state, client, grant, user, "authorization code replayed").await;
    OAuthError::invalid_grant("the authorization code was already used")
}

/// A secret of a grant presented twice: two parties hold the family, so all
/// of it is revoked, and the event is audited.
async fn revoke_leaked_grant(state: &AppState, client: &OAuthClient, grant: Option<i64>, user: i64, what: &str) {
    if let Some(grant) = grant
        && let Err(e) = state.store.revoke_oauth_grant(grant, state.clock.now()).await
    {
        tracing::error!(error = %e, what, "could not revoke a leaked grant");
    }
    let entry = Entry::new("oidc.token_reuse")
        .target(format!("oauth client {}", client.client_id))
        .detail(format!("{what}; grant revoked (user id {user})"));
    state.audit(entry).await;
}

async fn refresh_grant(state: &AppState, client: &OAuthClient, params: &Params) -> Result<Response, OAuthError> {
    let oidc = &state.oidc;
    let now = state.clock.now();
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let dead = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(rec) = state.store.oauth_token(&oidc.hash(token)).await? else {
        return Err(dead());
    };
    if rec.kind() != TokenKind::Refresh || rec.client_pk != client.id {
        return Err(dead());
    }
    if rec.revoked_at.is_some() || rec.grant_revoked_at.is_some() {
        return Err(dead());
    }
    if rec.used_at.is_some() {
        return Err(reused_refresh_token(state, client, &rec).await);
    }
    if rec.expires_at <= now {
        return Err(dead());
    }
    let Some(user) = active_user(state, rec.user_id).await? else {
        return Err(OAuthError::invalid_grant("the account is not active"));
    };
    // RFC 6749 §6: a narrower scope may be asked for; never a wider one.
    // What the admin no longer allows the client is dropped.
    let allowed: Vec<String> =
        parse_scopes(&rec.scopes).into_iter().filter(|s| client.allowed_scopes.contains(s)).collect();
    let scopes = match params.get("scope") {
        Some(asked) => {
            let asked = parse_scopes(asked);
            if let Some(extra) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::invalid_scope(format!("`{extra}` was not granted")));
            }
            asked
        }
        None => allowed.clone(),
    };
    let scopes = scopes.join(" ");
    let issued = issue(oidc, &scopes, &allowed.join(" "), now)?;
    if !state.store.rotate_refresh_token(rec.id, rec.grant_id, &issued.rows, now).await? {
        return Err(reused_refresh_token(state, client, &rec).await);
    }
    let id_token = id_token_if_openid(
        oidc,
        IdTokenInput {
            client,
            user: &user,
            scopes: &scopes,
            auth_time: rec.auth_time,
            amr: &rec.amr,
            nonce: None,
            access_token: &issued.access,
        },
    )
    .await?;
    Ok(token_response(oidc, &issued, &scopes, id_token))
}

/// RFC 9700 §4.14.2: a rotated refresh token presented again means two
/// parties hold the family; revoke all of it.
async fn reused_refresh_token(state: &AppState, client: &OAuthClient, rec: &TokenRecord) -> OAuthError {
    revoke_leaked_grant(state, client, Some(rec.grant_id), rec.user_id, "rotated refresh token reused").await;
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// RFC 6750 §3.1 errors for the userinfo endpoint.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = json_no_store(json!({ "error": error, "error_description": description }));
    *response.status_mut() = status;
    let challenge = format!(r#"Bearer realm="Madang", error="{error}", error_description="{description}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// A live access token and its user, or why not.
async fn access_token_user(state: &AppState, token: &str) -> Result<Option<(TokenRecord, User)>, OAuthError> {
    let Some(rec) = state.store.oauth_token(&state.oidc.hash(token)).await? else {
        return Ok(None);
    };
    if rec.kind() != TokenKind::Access || !rec.is_live(state.clock.now()) {
        return Ok(None);
    }
    Ok(active_user(state, rec.user_id).await?.map(|u| (rec, u)))
}

pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, &headers, &HashMap::new()).await
}

pub async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match read_params(&body) {
        Ok(params) => userinfo(&state, &headers, &params).await,
        Err(e) => e.into_response(),
    }
}

/// OIDC Core §5.3. The token comes in `Authorization: Bearer` or, for
/// POST, in the form body (RFC 6750 §2.2) — never both (§2).
async fn userinfo(state: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let token = match (header_token, params.get("access_token")) {
        (Some(_), Some(_)) => {
            return bearer_error(StatusCode::BAD_REQUEST, "invalid_request", "the token was sent twice");
        }
        (Some(t), None) => t,
        (None, Some(t)) => t.clone(),
        (None, None) => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="Madang""#));
            return response;
        }
    };
    let (rec, user) = match access_token_user(state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is not valid"),
        Err(e) => return e.into_response(),
    };
    if !has_scope(&rec.scopes, "openid") {
        return bearer_error(StatusCode::FORBIDDEN, "insufficient_scope", "the token lacks the openid scope");
    }
    match user_claims(&state.oidc, &user, &rec.scopes).await {
        Ok(claims) => json_no_store(Value::Object(claims)),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

/// RFC 7009 §2.1.
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke_inner(&state, &headers, &body).await {
        Ok(()) => json_no_store(json!({})),
        Err(e) => e.into_response(),
    }
}

async fn revoke_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = read_params(body)?;
    let client = authenticate_client(&state.oidc, headers, &params).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // §2.2: an unknown or already invalid token is not an error. The hint
    // only speeds up a look-up; one query covers both kinds here.
    let Some(rec) = state.store.oauth_token(&state.oidc.hash(token)).await? else {
        return Ok(());
    };
    if rec.client_pk != client.id {
        return Err(OAuthError::unauthorized_client("the token was not issued to this client"));
    }
    let now = state.clock.now();
    match rec.kind() {
        // §2.1: revoking a refresh token ends the whole grant, with its
        // access tokens.
        TokenKind::Refresh => state.store.revoke_oauth_grant(rec.grant_id, now).await?,
        TokenKind::Access => state.store.revoke_oauth_token(rec.id, now).await?,
    }
    Ok(())
}

/// RFC 7662 §2; only for authenticated (confidential) clients, and only
/// about their own tokens: anything else is `{"active": false}`.
pub async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match introspect_inner(&state, &headers, &body).await {
        Ok(v) => json_no_store(v),
        Err(e) => e.into_response(),
    }
}

async fn introspect_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = read_params(body)?;
    let client = authenticate_client(&state.oidc, headers, &params).await?;
    if client.public {
        return Err(OAuthError::invalid_client("introspection requires client authentication"));
    }
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    let Some(rec) = state.store.oauth_token(&state.oidc.hash(token)).await? else {
        return Ok(inactive);
    };
    if rec.client_pk != client.id || !rec.is_live(state.clock.now()) {
        return Ok(inactive);
    }
    let Some(user) = active_user(state, rec.user_id).await? else {
        return Ok(inactive);
    };
    let sub = state.store.user_subject(user.id).await?;
    let mut answer = json!({
        "active": true,
        "scope": rec.scopes,
        "client_id": rec.client_id,
        "username": user.username.as_str(),
        "exp": rec.expires_at.timestamp(),
        "iat": rec.created_at.timestamp(),
        "sub": sub,
        "aud": rec.client_id,
        "iss": state.oidc.config.issuer,
    });
    // RFC 7662 §2.2: `token_type` is an access token's type (RFC 6749
    // §7.1); a refresh token has none, so the member is left out.
    if rec.kind() == TokenKind::Access
        && let Some(map) = answer.as_object_mut()
    {
        map.insert("token_type".into(), "Bearer".into());
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(verifier_is_well_formed(verifier));
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!verifier_is_well_formed("short"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
    }
}
