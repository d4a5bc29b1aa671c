//! The web front door: sign-in, sign-up, and the account pages, rendered on
//! the server as small accessible HTML (no JavaScript).
//!
//! Design. A browser session is an opaque random token in an `HttpOnly`,
//! `SameSite=Lax` cookie; the database keeps only its SHA-256 ([`session`]).
//! Every form carries a CSRF token ([`csrf`]): bound to the session once
//! signed in, to a double-submit cookie before; signed-in form handlers
//! take a [`form::SignedInForm`], which checks the session and the token
//! before the handler runs. Under HTTPS the cookies carry the `__Host-`
//! prefix ([`cookie_name`]). Every page goes through
//! [`page::html_page`], which sets the security headers (CSP with
//! `frame-ancestors 'none'`, `Referrer-Policy: no-referrer`, `no-store`);
//! the router adds them to redirects and errors too. Strings come from the
//! English and Korean catalogues in [`i18n`].
//!
//! Passwords are checked by the same [`crate::auth::Authenticator`] as HTTP
//! Basic, so web and Basic share one throttle; account changes go through
//! [`crate::accounts::Accounts`]. The handlers only translate between forms
//! and those services.

pub mod account;
pub mod admin;
pub mod csrf;
pub mod devices;
pub mod form;
pub mod i18n;
pub mod mail_oauth;
pub mod notify;
pub mod page;
pub mod reset;
pub mod session;
pub mod signin;
pub mod signup;
pub mod totp;

use std::net::IpAddr;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::app::state::AppState;
use crate::auth::app_password::KeyedHasher;
use crate::auth::secretbox::SecretBox;
use crate::clock::Clock;
use crate::config::WebConfig;
use crate::mailer::Mailer;
use crate::store::{Store, StoreError};

/// The web pages' settings and keys; one per process, in [`AppState`].
pub struct WebService {
    pub config: WebConfig,
    /// Seals TOTP seeds (and, for the OIDC provider, signing keys).
    pub secretbox: SecretBox,
    /// Whether `secretbox` uses the database's own key (warned about at start).
    pub secretbox_fallback: bool,
    /// Keys CSRF tokens and the short-lived "password done, code next"
    /// cookie; kept in the database so every process accepts them.
    mac_key: KeyedHasher,
    /// `None`: no SMTP; the reset page tells people to ask an admin.
    pub mailer: Option<Mailer>,
    /// When administrators were last mailed about sign-up requests.
    pub signup_notice: notify::SignupNotice,
}

impl WebService {
    pub async fn new(
        store: &Store,
        clock: &dyn Clock,
        (secretbox, secretbox_fallback): (SecretBox, bool),
        config: WebConfig,
        mailer: Option<Mailer>,
    ) -> Result<WebService, StoreError> {
        let mac_key = KeyedHasher::instance(store, "web-mac-key", clock.now()).await?;
        Ok(WebService { config, secretbox, secretbox_fallback, mac_key, mailer, signup_notice: Default::default() })
    }

    /// The same keys with other settings (the server's configuration).
    pub fn reconfigured(&self, config: WebConfig, mailer: Option<Mailer>) -> WebService {
        WebService {
            config,
            secretbox: self.secretbox.clone(),
            secretbox_fallback: self.secretbox_fallback,
            mac_key: self.mac_key.clone(),
            mailer,
            signup_notice: Default::default(),
        }
    }

    /// HMAC-SHA256 of `data` under the instance web key, for `purpose`.
    pub(crate) fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(purpose.len() + 1 + data.len());
        input.extend_from_slice(purpose.as_bytes());
        input.push(0);
        input.extend_from_slice(data);
        self.mac_key.hash(&input)
    }
}

/// Every web route. Merged into [`crate::app::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/madang.css", get(page::stylesheet))
        .route("/brand.css", get(page::brand_stylesheet))
        .route("/brand/logo", get(page::brand_logo))
        .route("/lang/{code}", get(page::set_language))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signin/totp", get(signin::totp_form).post(signin::totp_submit))
        .route("/signout", post(signin::signout))
        .route("/signup", get(signup::form).post(signup::submit))
        .route("/reset", get(reset::request_form).post(reset::request_submit))
        .route("/reset/confirm", get(reset::confirm_form).post(reset::confirm_submit))
        .route("/account", get(account::overview))
        .route("/account/password", get(account::password_form).post(account::password_submit))
        .route("/account/totp", get(totp::page).post(totp::submit))
        .route("/account/app-passwords", get(account::app_passwords).post(account::app_passwords_submit))
        .route("/account/sessions", get(account::sessions).post(account::sessions_submit))
        .route("/account/devices", get(devices::page).post(devices::submit))
        .route("/mail/oauth/callback", get(mail_oauth::callback))
        .route("/admin", get(admin::overview))
        .route("/admin/audit", get(admin::audit_log))
        .route("/admin/users/{name}/{verb}", post(admin::user_action))
        .route("/admin/modules", post(admin::modules_submit))
        .route("/admin/groups", post(admin::group_create))
        .route("/admin/groups/{name}/{verb}", post(admin::group_action))
        .route("/admin/clients", get(admin::clients).post(admin::client_create))
        .route("/admin/clients/{client_id}/{verb}", post(admin::client_action))
        .layer(middleware::from_fn(security_headers))
}

/// Adds the page security headers to every web response that lacks them
/// (redirects, rejections), not only to rendered pages.
async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    page::apply_security_headers(response.headers_mut());
    response
}

/// Facts about the requesting browser that the handlers need.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: Option<IpAddr>,
    /// Whether cookies should be `Secure` (RFC 6265 §4.1.2.5).
    pub secure: bool,
    pub user_agent: String,
}

impl Client {
    /// This browser's name for cookie `base` (see [`cookie_name`]).
    pub fn cookie_name(&self, base: &str) -> String {
        cookie_name(base, self.secure)
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let address = crate::http::auth::client_address(parts, &state.settings.proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        Ok(Client { address, secure: secure_cookies(state, &parts.headers), user_agent })
    }
}

/// Whether this request's cookies are `Secure` (RFC 6265 §4.1.2.5): when
/// configured, or behind a proxy that terminates TLS and says so — believed
/// only from a trusted proxy (`app::drop_untrusted_forwarding` removed the
/// header from anyone else).
pub fn secure_cookies(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded_https = state.settings.proxies != crate::proxies::TrustedProxies::None
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    state.web.config.secure_cookies || forwarded_https
}

/// The name of cookie `base` for `Secure` cookies or not. Secure cookies
/// take the `__Host-` prefix (RFC 6265bis §4.1.3.2), which browsers accept
/// only with `Secure`, `Path=/` and no `Domain` — what [`set_cookie`] writes
/// — so no sibling domain and no plain-HTTP page can set or shadow them.
/// Without HTTPS a browser would refuse the prefix, so the plain name is
/// used; each mode reads only its own name.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure { format!("__Host-{base}") } else { base.to_string() }
}

/// The value of cookie `name` (RFC 6265 §5.4: `name=value` pairs split by
/// `; `, possibly over several `Cookie` headers). The first one wins.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value (RFC 6265 §4.1) for a cookie only the server reads.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    // Names and values are ours (base64url, digits); never fails for them.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Sessions, reset links and the CSRF pre-session use the foundation's tokens.
pub(crate) use crate::tokens::{random_token, token_hash};

/// `next` if it is a local path (`/…` but not `//…` or `/\…`, which
/// browsers treat as another host), else the account page. Prevents open
/// redirects after sign-in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/account".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next(Some("/oauth2/authorize?client_id=x")), "/oauth2/authorize?client_id=x");
        assert_eq!(safe_next(Some("//evil.example/")), "/account");
        assert_eq!(safe_next(Some("/\\evil.example/")), "/account");
        assert_eq!(safe_next(Some("https://evil.example/")), "/account");
        assert_eq!(safe_next(Some("/a\nb")), "/account");
        assert_eq!(safe_next(None), "/account");
    }

    #[test]
    fn cookies_are_found_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; madang_session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("lang=ko"));
        assert_eq!(cookie(&headers, "madang_session"), Some("abc"));
        assert_eq!(cookie(&headers, "lang"), Some("ko"));
        assert_eq!(cookie(&headers, "none"), None);
    }

    #[test]
    fn review_l4_secure_cookies_take_the_host_prefix() {
        assert_eq!(cookie_name("madang_session", true), "__Host-madang_session");
        assert_eq!(cookie_name("madang_session", false), "madang_session");
        let text = set_cookie(&cookie_name("madang_session", true), "v", None, true);
        let text = text.to_str().unwrap();
        assert!(text.starts_with("__Host-madang_session=v; Path=/;") && text.contains("; Secure"), "{text}");
        assert!(!text.contains("Domain"), "{text}");
    }
}
