//! Discovery (OpenID Connect Discovery 1.0 §4; RFC 8414) and the JWK Set
//! (RFC 7517 §5). Every `*_supported` list says exactly what is implemented.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SCOPES;
use super::error::OAuthError;
use crate::app::state::AppState;

pub async fn configuration(State(state): State<AppState>) -> Response {
    let oidc = &state.oidc;
    let body = json!({
        // Discovery §4.3: identical to the `iss` of every id_token.
        "issuer": oidc.config.issuer,
        "authorization_endpoint": oidc.endpoint("oauth2/authorize"),
        "token_endpoint": oidc.endpoint("oauth2/token"),
        "userinfo_endpoint": oidc.endpoint("oauth2/userinfo"),
        "jwks_uri": oidc.endpoint("oauth2/jwks"),
        "revocation_endpoint": oidc.endpoint("oauth2/revoke"),
        "introspection_endpoint": oidc.endpoint("oauth2/introspect"),
        "end_session_endpoint": oidc.endpoint("oauth2/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr",
            "name", "nickname", "preferred_username", "updated_at", "email", "email_verified", "groups"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // RFC 9207 §3.
        "authorization_response_iss_parameter_supported": true,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let oidc = &state.oidc;
    match oidc.keys.jwks(oidc.now(), oidc.key_retention()).await {
        Ok(set) => {
            let mut response = Json(set).into_response();
            // Short, so a rotation is seen within minutes.
            // `application/json` rather than RFC 7517's `jwk-set+json`: what
            // every relying party library accepts.
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            response
        }
        Err(e) => OAuthError::from(e).into_response(),
    }
}
