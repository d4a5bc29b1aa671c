//! The `Authenticated` extractor: HTTP Basic (RFC 7617) today, Bearer
//! (RFC 6750) through the [`crate::auth::BearerVerifier`] hook.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::ApiError;
use crate::app::state::AppState;
use crate::auth::{AuthError, Credential, Principal};
use crate::proxies::TrustedProxies;

/// RFC 7617 §2.1: announce that credentials are read as UTF-8.
pub const WWW_AUTHENTICATE: &str = r#"Basic realm="Madang", charset="UTF-8""#;

/// A request whose credentials were verified.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// Why a request was not authenticated.
#[derive(Debug)]
pub enum AuthRejection {
    Missing,
    Malformed,
    Failed(AuthError),
    /// A bearer token that is unknown, expired, revoked, or lacks the scope
    /// for this resource: answered with the Bearer challenge (RFC 6750 §3).
    BearerFailed(AuthError),
    /// The web client (it sent [`CSRF_HEADER`]) without a live session: 401
    /// without the Basic challenge, which would make the browser ask for a
    /// password in its own dialog instead of the client showing `/signin`.
    NoSession,
    /// A session cookie on a request another site made: 403.
    CrossSite,
}

/// The header the web client sends on every JSON call. A browser adds a
/// header of its own choosing to a cross-origin request only after a CORS
/// preflight, which Madang never grants, so its presence shows the call came
/// from a page of this origin: with `SameSite=Lax`, the CSRF defence of the
/// cookie-authenticated JSON API. Basic and Bearer clients never need it.
pub const CSRF_HEADER: &str = "x-madang-csrf";

/// The push stream: `EventSource` cannot set headers, so a cookie opens it
/// without [`CSRF_HEADER`]; where the request came from is checked instead.
pub const PUSH_PATH: &str = "/api/v1/push";

/// RFC 6750 §3.1: the token is not good here. The same error for a bad token
/// and a missing scope, so a token's reach is not probed by its answers.
const BEARER_INVALID: &str = r#"Bearer realm="Madang", error="invalid_token""#;

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let unauthorized = |message: &str| {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(WWW_AUTHENTICATE));
            response
        };
        match self {
            AuthRejection::Missing => unauthorized("authentication required"),
            AuthRejection::NoSession => {
                let mut response =
                    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in again").into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"MadangSession realm="Madang""#));
                response
            }
            AuthRejection::CrossSite => {
                ApiError::forbidden("a session cookie is only accepted from this site's own pages").into_response()
            }
            AuthRejection::Malformed => unauthorized("malformed Authorization header"),
            AuthRejection::Failed(AuthError::InvalidCredentials) => unauthorized("invalid user name or password"),
            AuthRejection::BearerFailed(AuthError::InvalidCredentials) => {
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the access token is invalid, expired, revoked, or not valid for this resource",
                )
                .into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_INVALID));
                response
            }
            AuthRejection::BearerFailed(other) => AuthRejection::Failed(other).into_response(),
            AuthRejection::Failed(e @ AuthError::RateLimited { retry_after }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut response =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string()).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                response
            }
            AuthRejection::Failed(AuthError::Unavailable(e)) => ApiError::from(e).into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return session_principal(parts, state).await;
        };
        let value = value.to_str().map_err(|_| AuthRejection::Malformed)?;
        let (scheme, rest) = value.trim().split_once(' ').ok_or(AuthRejection::Malformed)?;
        let client = client_address(parts, &state.settings.proxies);
        let principal = if scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = decode_basic(rest.trim()).ok_or(AuthRejection::Malformed)?;
            state.auth.authenticate_basic(&user, &password, client).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            // Scopes decide where a token works: `api` for the JSON API, `dav`
            // elsewhere. The original URI: inside `nest("/api/v1")` axum has
            // stripped the prefix from `parts.uri`, which once let a DAV-only
            // token open the JSON API.
            let path = original_path(parts);
            let resource = if path == "/api/v1/admin" || path.starts_with("/api/v1/admin/") {
                crate::auth::BearerResource::Admin
            } else if path.starts_with("/api/") {
                crate::auth::BearerResource::Api
            } else {
                crate::auth::BearerResource::Dav
            };
            return state
                .auth
                .authenticate_bearer(rest.trim(), resource)
                .await
                .map(Authenticated)
                .map_err(AuthRejection::BearerFailed);
        } else {
            return Err(AuthRejection::Malformed);
        };
        principal.map(Authenticated).map_err(AuthRejection::Failed)
    }
}

/// The path the client asked for: inside `nest("/api/v1")` axum has stripped
/// the prefix from `parts.uri`.
fn original_path(parts: &Parts) -> &str {
    parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |o| o.0.path())
}

/// A web session, for the JSON API only (never DAV, whose clients use Basic
/// or Bearer and whose methods a page must not be able to trigger), and only
/// with [`CSRF_HEADER`] — except the push stream, which cannot send it.
async fn session_principal(parts: &Parts, state: &AppState) -> Result<Authenticated, AuthRejection> {
    let path = original_path(parts);
    if !path.starts_with("/api/") {
        return Err(AuthRejection::Missing);
    }
    let from_client = parts.headers.contains_key(CSRF_HEADER);
    let push_stream = parts.method == axum::http::Method::GET && path == PUSH_PATH;
    if !from_client && !push_stream {
        return Err(AuthRejection::Missing);
    }
    if foreign_request(parts, &state.settings.proxies) {
        return Err(AuthRejection::CrossSite);
    }
    let rejection = if from_client { AuthRejection::NoSession } else { AuthRejection::Missing };
    let session = crate::web::session::current(state, &parts.headers).await.ok_or(rejection)?;
    Ok(Authenticated(Principal { user: session.user, credential: Credential::WebSession }))
}

/// True when the browser says another site made this request: `Sec-Fetch-Site`
/// other than `same-origin` / `none` (a sibling subdomain is "same-site" and
/// is not trusted either), or an `Origin` that is not this host. Browsers that
/// send neither are covered by `SameSite=Lax` and [`CSRF_HEADER`].
pub fn foreign_request(parts: &Parts, proxies: &TrustedProxies) -> bool {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else { return false };
    // `X-Forwarded-Host` reaches here only from a trusted proxy (`app::drop_untrusted_forwarding`).
    let host = (*proxies != TrustedProxies::None)
        .then(|| header("x-forwarded-host"))
        .flatten()
        .or_else(|| header("host"))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let authority = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest);
    match (authority, host) {
        (Some(authority), Some(host)) => !authority.eq_ignore_ascii_case(host.trim()),
        _ => true,
    }
}

/// `user:password` from the base64 token. RFC 7617 asks for UTF-8; clients
/// that predate it send ISO-8859-1, which is decoded as such rather than
/// refused.
pub fn decode_basic(token: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(token))
        .ok()?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|b| char::from(*b)).collect(),
    };
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// [`client_address`] with the server's forwarding setting.
pub fn client_address_of(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    client_address(parts, &state.settings.proxies)
}

/// The client's address for throttling and audit: the TCP peer, or behind a trusted
/// proxy the address the proxy chain reports (see [`TrustedProxies::client_address`]).
pub fn client_address(parts: &Parts, proxies: &TrustedProxies) -> Option<IpAddr> {
    let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    proxies.client_address(peer_address(parts), forwarded)
}

/// The TCP peer, as the listener recorded it.
fn peer_address(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        let token = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss word");
        assert_eq!(decode_basic(&token), Some(("alice".into(), "pa:ss word".into())));
        let utf8 = base64::engine::general_purpose::STANDARD.encode("민수:비밀번호");
        assert_eq!(decode_basic(&utf8), Some(("민수".into(), "비밀번호".into())));
        let latin1 = base64::engine::general_purpose::STANDARD.encode(b"bob:caf\xe9");
        assert_eq!(decode_basic(&latin1), Some(("bob".into(), "café".into())));
        assert_eq!(decode_basic("!!!"), None);
        assert_eq!(decode_basic(&base64::engine::general_purpose::STANDARD.encode("nocolon")), None);
    }
}
