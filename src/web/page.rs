//! The page frame: one HTML document shape, one stylesheet, the brand
//! (`/brand.css`, `/brand/logo`), and the security headers every web
//! response carries.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::{Lang, t, tf};
use super::{Client, set_cookie};
use crate::app::state::AppState;
use crate::brand::Brand;

tokio::task_local! {
    /// The brand of the request being answered. The frame is rendered by some
    /// eighty call sites across the web and OpenID Connect pages that know only
    /// the language; rather than thread the brand through each of them,
    /// [`brand_scope`] sets it around every request, from the request's own
    /// `AppState` (so two apps with different brands in one process, as in
    /// tests, never see each other's).
    static BRAND: Arc<Brand>;
}

/// Runs the rest of the request with its `AppState`'s brand in scope.
pub async fn brand_scope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    BRAND.scope(state.brand.clone(), next.run(req)).await
}

/// The brand of the request being answered; the default outside a request.
pub fn brand() -> Arc<Brand> {
    static DEFAULT: OnceLock<Arc<Brand>> = OnceLock::new();
    BRAND.try_with(Arc::clone).unwrap_or_else(|_| DEFAULT.get_or_init(|| Arc::new(Brand::default())).clone())
}

/// Nothing may load from elsewhere, run scripts, or frame the pages
/// (clickjacking); forms post only to Madang itself. Chromium also applies
/// `form-action` to the redirects that follow a submission, so a page whose
/// form ends at a relying party widens it with [`allow_form_redirect`].
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Lets the page's forms end in a redirect to `uri`'s origin: the sign-in,
/// code, consent and logout forms answer with a redirect chain that ends at
/// the relying party, which Chromium checks against `form-action` (Keycloak
/// hit the same). Only the origin is added, and only for what a redirect
/// URI may be: an `http`/`https` origin, or a native app's private-use
/// scheme, which RFC 8252 §7.1 says is a reverse domain name (so contains a
/// `.`). Anything else — `javascript:`, `data:`, a `uri` that is not a URL —
/// adds nothing.
pub fn allow_form_redirect(response: &mut Response, uri: &str) {
    let Some(source) = form_redirect_source(uri) else { return };
    let csp = CONTENT_SECURITY_POLICY.replace("form-action 'self'", &format!("form-action 'self' {source}"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// The CSP source (CSP 3 §2.3.1) that lets forms end at `uri`, if `uri`
/// is a redirect URI that may be allowed at all.
fn form_redirect_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Some(url.origin().ascii_serialization()),
        "http" | "https" => None,
        // A scheme-source for the private-use scheme, e.g. `com.example.app:`.
        scheme if scheme.contains('.') && !scheme.starts_with('.') && !scheme.ends_with('.') => {
            Some(format!("{scheme}:"))
        }
        _ => None,
    }
}

/// The relying party's redirect URI when `next` (a local path the sign-in
/// returns to) is an authorization request, so the sign-in pages can
/// [`allow_form_redirect`] to it. Not checked against the registered
/// client here — the authorization endpoint refuses unregistered URIs
/// before redirecting anywhere — but [`allow_form_redirect`] widens the
/// policy only for origins and private-use schemes.
/// [`allow_form_redirect`] for the sign-in pages: when `next` (where the
/// sign-in returns) is an authorization request, its form ends at that
/// relying party.
pub fn allow_form_redirect_for_next(response: &mut Response, next: &str) {
    if let Some(uri) = authorize_redirect_uri(next) {
        allow_form_redirect(response, &uri);
    }
}

fn authorize_redirect_uri(next: &str) -> Option<String> {
    let query = next.strip_prefix("/oauth2/authorize?")?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned())
}

const STYLESHEET: &str = include_str!("madang.css");

/// Sets the security headers that are not set already.
pub fn apply_security_headers(headers: &mut HeaderMap) {
    let defaults: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Pages hold CSRF tokens, secrets shown once, personal data: never
        // stored by a browser or proxy cache.
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete page with status 200: `title` (text, escaped here) as the
/// heading, `body_html` (already safe HTML) below it.
pub fn html_page(lang: Lang, title: &str, body_html: String) -> Response {
    let title = escape(title);
    let brand = brand();
    let name = escape(brand.name());
    let logo = brand.logo_img();
    let document = format!(
        r##"<!DOCTYPE html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {name}</title>
<link rel="stylesheet" href="/static/madang.css">
<link rel="stylesheet" href="/brand.css">
</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header><a class="brand" href="/account">{logo}{name}</a></header>
<main id="main">
<h1>{title}</h1>
{body_html}
</main>
<footer><nav aria-label="{language}"><a href="/lang/en" lang="en" hreflang="en">English</a> · <a href="/lang/ko" lang="ko" hreflang="ko">한국어</a></nav></footer>
</body>
</html>
"##,
        code = lang.code(),
        skip = t(lang, "page.skip"),
        language = t(lang, "page.language"),
    );
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], document).into_response();
    apply_security_headers(response.headers_mut());
    response
}

/// A page with another status.
pub fn html_page_with_status(status: StatusCode, lang: Lang, title: &str, body_html: String) -> Response {
    let mut response = html_page(lang, title, body_html);
    *response.status_mut() = status;
    response
}

/// `<p role="alert">` for a form error.
pub fn error_html(message: &str) -> String {
    format!(r#"<p class="error" role="alert">{}</p>"#, escape(message))
}

/// A plain notice paragraph.
pub fn notice_html(message: &str) -> String {
    format!(r#"<p class="notice" role="status">{}</p>"#, escape(message))
}

/// 403 for a form whose CSRF token is missing or wrong.
pub fn csrf_failed(lang: Lang) -> Response {
    html_page_with_status(
        StatusCode::FORBIDDEN,
        lang,
        t(lang, "error.csrf_title"),
        format!("{}<p><a href=\"/account\">{}</a></p>", error_html(t(lang, "error.csrf")), t(lang, "nav.account")),
    )
}

/// 429 with `Retry-After` (RFC 6585 §4) after too many failed attempts.
pub fn rate_limited(lang: Lang, retry_after: Duration) -> Response {
    let secs = (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
    let mut response = html_page_with_status(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        t(lang, "error.rate_limited_title"),
        error_html(&tf(lang, "signin.rate_limited", &[&secs.to_string()])),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// 500 without details (they are logged).
pub fn internal_error(lang: Lang, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "web page failed");
    html_page_with_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        lang,
        t(lang, "error.internal_title"),
        error_html(t(lang, "error.internal")),
    )
}

/// 303 See Other: after a POST, the browser GETs the next page (RFC 9110 §15.4.4).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // Changes with a release only; an hour keeps edits visible soon.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /brand.css`: the brand's colours as custom properties. Cacheable,
/// revalidated by its ETag (a new colour takes a restart, so it changes
/// rarely); an external stylesheet, so the pages' CSP (`style-src 'self'`)
/// allows it.
pub async fn brand_stylesheet(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let brand = &state.brand;
    cacheable(&headers, brand.stylesheet_etag(), "text/css; charset=utf-8", brand.stylesheet().as_bytes().to_vec())
}

/// `GET /brand/logo`: the configured logo, 404 when there is none. An SVG
/// opened on its own is a document of this origin, so it gets a CSP that
/// runs no script and loads nothing (`sandbox` on top).
pub async fn brand_logo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(logo) = state.brand.logo() else {
        return crate::http::error::ApiError::not_found("no logo is configured (brand.logo)").into_response();
    };
    let mut response = cacheable(&headers, &logo.etag, logo.content_type, logo.bytes.clone());
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    response
}

/// 200 with the body, or 304 when `If-None-Match` names `etag` (RFC 9110 §13.1.2).
fn cacheable(headers: &HeaderMap, etag: &str, content_type: &'static str, body: Vec<u8>) -> Response {
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if matches { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // An hour, then a cheap revalidation: a new brand shows within the hour.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// `/lang/ko`: remember the choice for a year, then back to the account page.
pub async fn set_language(Path(code): Path<String>, client: Client) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return see_other("/account");
    };
    let mut response = see_other("/account");
    let cookie = set_cookie(super::i18n::COOKIE, lang.code(), Some(365 * 86_400), client.secure);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// An `<input>` with its `<label>` (accessible name) and autocomplete hint.
pub fn field(id: &str, label: &str, kind: &str, autocomplete: &str, value: &str, required: bool) -> String {
    format!(
        r#"<p><label for="{id}">{}</label><br><input id="{id}" name="{id}" type="{kind}" autocomplete="{autocomplete}" value="{}"{}></p>"#,
        escape(label),
        escape(value),
        if required { " required" } else { "" },
    )
}

/// The submit button.
pub fn button(label: &str) -> String {
    format!(r#"<p><button type="submit">{}</button></p>"#, escape(label))
}

/// A hidden `<input>`.
pub fn hidden(name: &str, value: &str) -> String {
    format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value))
}

/// Appends a `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Percent-encodes a value for a URL query (RFC 3986 unreserved kept).
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn csp_after(uri: &str) -> String {
        let mut response = StatusCode::OK.into_response();
        allow_form_redirect(&mut response, uri);
        response.headers().get(header::CONTENT_SECURITY_POLICY).map_or(String::new(), |v| v.to_str().unwrap().into())
    }

    // Chromium checks `form-action` on the redirects after a form post, so a
    // sign-in that ends at a relying party must allow exactly its origin.
    #[test]
    fn chromium_form_redirects_allow_only_the_relying_partys_origin() {
        assert!(csp_after("https://app.example:8443/cb?x").contains("form-action 'self' https://app.example:8443;"));
        assert!(csp_after("com.example.app:/cb").contains("form-action 'self' com.example.app:;"));
        assert_eq!(csp_after("not a url"), "");
        let next = "/oauth2/authorize?client_id=g&redirect_uri=https%3A%2F%2Fgit.example%2Fcb&state=s";
        assert_eq!(authorize_redirect_uri(next).as_deref(), Some("https://git.example/cb"));
        assert_eq!(authorize_redirect_uri("/account"), None);
    }

    #[test]
    fn review_l2_form_action_is_widened_only_for_origins_and_reverse_domain_schemes() {
        for uri in [
            "javascript:alert(1)",
            "data:text/html,<p>",
            "vbscript:x",
            "file:///etc/passwd",
            "myapp:/cb",
            "blob:https://evil.example/x",
            "about:blank",
        ] {
            assert_eq!(csp_after(uri), "", "{uri} must not widen form-action");
        }
        assert!(csp_after("http://127.0.0.1:8080/cb").contains("form-action 'self' http://127.0.0.1:8080;"));
        assert!(csp_after("com.example.app:/oauth2redirect").contains("form-action 'self' com.example.app:;"));
        let next = "/oauth2/authorize?client_id=g&redirect_uri=javascript%3Aalert(1)";
        let mut response = StatusCode::OK.into_response();
        allow_form_redirect(&mut response, &authorize_redirect_uri(next).unwrap());
        assert!(!response.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
