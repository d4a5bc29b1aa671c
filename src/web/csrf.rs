//! Cross-site request forgery protection for every form.
//!
//! Signed in, a form carries HMAC(instance key, session token hash): an
//! attacker's page can neither read it (the same-origin policy) nor compute
//! it (the key), and it dies with the session. Signed out (sign-in, sign-up,
//! reset), there is no session to bind to, so a random `madang_csrf` cookie
//! (`__Host-madang_csrf` under HTTPS)
//! is set with the form and the form carries its HMAC — a keyed
//! double-submit. `SameSite=Lax` on the cookies is a second, independent
//! defence. A POST whose token does not match is answered 403.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;

use super::i18n::Lang;
use super::page::{escape, html_page_with_status, internal_error, with_cookie};
use super::session::WebSession;
use super::{Client, cookie, random_token, set_cookie};
use crate::app::state::AppState;

/// The form field's name in every form.
pub const FIELD: &str = "csrf";
const PRE_SESSION_COOKIE: &str = "madang_csrf";

fn encode(mac: [u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

fn matches(expected: &str, submitted: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), submitted.as_bytes()))
}

/// The token for forms of `session`.
pub fn token(state: &AppState, session: &WebSession) -> String {
    encode(state.web.mac("csrf-session", &session.binding))
}

/// The hidden `<input>` carrying the token, for forms of a signed-in user.
pub fn form_field(state: &AppState, session: &WebSession) -> String {
    format!(r#"<input type="hidden" name="{FIELD}" value="{}">"#, escape(&token(state, session)))
}

/// Whether `submitted` is the token of `session`.
pub fn check(state: &AppState, session: &WebSession, submitted: &str) -> bool {
    matches(&token(state, session), submitted)
}

/// The double-submit secret of a signed-out browser: the one it already has,
/// or a new one that must be set with [`PreSession::set_cookie`].
#[derive(Debug, Clone)]
pub struct PreSession {
    value: String,
    fresh: bool,
}

impl PreSession {
    pub fn from_headers(headers: &HeaderMap, client: &Client) -> Result<PreSession, crate::store::StoreError> {
        match cookie(headers, &client.cookie_name(PRE_SESSION_COOKIE)).filter(|v| (20..=128).contains(&v.len())) {
            Some(value) => Ok(PreSession { value: value.to_string(), fresh: false }),
            None => Ok(PreSession { value: random_token()?, fresh: true }),
        }
    }

    pub fn form_field(&self, state: &AppState) -> String {
        let token = encode(state.web.mac("csrf-pre-session", self.value.as_bytes()));
        format!(r#"<input type="hidden" name="{FIELD}" value="{}">"#, escape(&token))
    }

    /// The `Set-Cookie` value, when the browser did not have the cookie yet.
    /// A session cookie (no `Max-Age`): it only needs to outlive the form.
    pub fn set_cookie(&self, client: &Client) -> Option<HeaderValue> {
        self.fresh.then(|| set_cookie(&client.cookie_name(PRE_SESSION_COOKIE), &self.value, None, client.secure))
    }
}

/// A signed-out page with a form (sign-in, sign-up, reset): `body` gets the
/// form's hidden CSRF field, and the double-submit cookie is set when the
/// browser lacks it.
pub fn signed_out_page(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    lang: Lang,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let pre = match PreSession::from_headers(headers, client) {
        Ok(pre) => pre,
        Err(e) => return internal_error(lang, &e),
    };
    let page = html_page_with_status(status, lang, title, body(&pre.form_field(state)));
    with_cookie(page, pre.set_cookie(client))
}

/// Whether a signed-out form's token matches the browser's cookie.
pub fn check_pre_session(state: &AppState, headers: &HeaderMap, client: &Client, submitted: &str) -> bool {
    match cookie(headers, &client.cookie_name(PRE_SESSION_COOKIE)) {
        Some(value) if !value.is_empty() => {
            matches(&encode(state.web.mac("csrf-pre-session", value.as_bytes())), submitted)
        }
        _ => false,
    }
}
