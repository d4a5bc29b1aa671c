//! The door mail apps find their settings through on their own: Mozilla autoconfig
//! (`GET /.well-known/autoconfig/mail/config-v1.1.xml` and `GET /mail/config-v1.1.xml`, the
//! latter for the `autoconfig.<domain>` host) and Microsoft Autodiscover POX
//! (`POST /autodiscover/autodiscover.xml`, and the capitalised path Outlook uses).
//!
//! Unauthenticated by design: Thunderbird asks before it has a password (and sends one as
//! HTTP Basic to Autodiscover, which is never read). The answers depend only on the
//! configuration and the domain asked about, never on whether an address has an account. With
//! no IMAP or SMTP listener configured, or the mail module off, both answer 404, which
//! makes the apps go on to their next method. The documents are written by `crate::devices`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::state::AppState;
use crate::devices::{self, MailEndpoints, autoconfig, autodiscover};
use crate::modules::Module;

/// The paths, for the router.
pub const AUTOCONFIG_WELL_KNOWN: &str = "/.well-known/autoconfig/mail/config-v1.1.xml";
pub const AUTOCONFIG_HOST: &str = "/mail/config-v1.1.xml";
pub const AUTODISCOVER: &str = "/autodiscover/autodiscover.xml";
pub const AUTODISCOVER_OUTLOOK: &str = "/Autodiscover/Autodiscover.xml";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AutoconfigQuery {
    emailaddress: Option<String>,
}

/// What mail apps are told, or `None` when mail apps cannot connect here.
async fn endpoints(state: &AppState) -> Result<Option<MailEndpoints>, Response> {
    let Some(endpoints) = MailEndpoints::from_config(&state.mailproxy) else { return Ok(None) };
    match state.modules.is_on(Module::Mail).await {
        Ok(true) => Ok(Some(endpoints)),
        Ok(false) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the module states");
            Err(plain(StatusCode::SERVICE_UNAVAILABLE, "try again later"))
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response()
}

fn xml(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8")),
            // The answer changes with the configuration only; an hour spares repeated set-ups.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

/// The `Host` of the request (HTTP/1.1 header, or the HTTP/2 `:authority` in the URI).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()))
}

/// `GET …/config-v1.1.xml[?emailaddress=…]`. The domain is the address's when one is given
/// (Thunderbird sends it); else the `Host`'s, without an `autoconfig.` label (Thunderbird for
/// Android never sends the address); else the mail host name.
pub async fn autoconfig(
    State(state): State<AppState>,
    Query(query): Query<AutoconfigQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let endpoints = match endpoints(&state).await {
        Ok(Some(e)) => e,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "mail apps cannot connect to this server"),
        Err(r) => return r,
    };
    let domain = query
        .emailaddress
        .as_deref()
        .and_then(devices::domain_of)
        .or_else(|| request_host(&headers, &uri).and_then(devices::domain_of_host))
        .or_else(|| devices::is_hostname(&state.mailproxy.hostname).then(|| state.mailproxy.hostname.clone()));
    let Some(domain) = domain else { return plain(StatusCode::BAD_REQUEST, "no domain to configure") };
    xml(autoconfig::write(&domain, state.brand.name(), &endpoints))
}

/// `POST /autodiscover/autodiscover.xml`: at most [`autodiscover::MAX_REQUEST_SIZE`] bytes of
/// request (413 beyond), 400 for anything but a request naming an address.
pub async fn autodiscover(State(state): State<AppState>, body: Body) -> Response {
    let endpoints = match endpoints(&state).await {
        Ok(Some(e)) => e,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "mail apps cannot connect to this server"),
        Err(r) => return r,
    };
    let Ok(bytes) = axum::body::to_bytes(body, autodiscover::MAX_REQUEST_SIZE).await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "an Autodiscover request is at most 16 KiB");
    };
    match autodiscover::parse_request(&bytes) {
        Ok(address) => xml(autodiscover::write_response(&address, &endpoints)),
        Err(e) => {
            tracing::info!(error = %e, "refused an Autodiscover request");
            plain(StatusCode::BAD_REQUEST, "not an Autodiscover request")
        }
    }
}
