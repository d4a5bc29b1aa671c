//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) and the
//! consent screen.
//!
//! Order of checks matters: until the client and its redirect URI are known
//! to match a registration, an error is shown on a page and never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.1: no open redirector).
//! After that, errors go back to the client with `state` and `iss`
//! (RFC 9207).
//!
//! Sign-in and re-authentication are the web pages' job: without a session,
//! or when `prompt=login` / `max_age` ask for a fresh one, the browser goes
//! to `/signin?next=<this request>` (with `reauth=1` when a session exists).
//! To avoid a loop, the request it returns with carries `madang_login_after`
//! — the time we sent it away — and a session whose `auth_time` is not older
//! satisfies `prompt=login` and `max_age`. The marker would let anyone skip
//! those checks by writing `madang_login_after=0` into a link, so it carries
//! an HMAC (under the web service's instance key) over the time and a random
//! value held in a cookie of the browser that was sent away: a marker is
//! honoured only in the browser it was made for, so a forged or borrowed
//! one gains nothing, and Madang asks for the password as the relying party
//! wanted.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use super::clients::find_redirect_uri;
use super::random_token;
use super::{CODE_LIFETIME_SECS, SCOPES, has_scope};
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::store::StoreError;
use crate::store::oidc::{NewCode, OAuthClient, PkcePolicy};
use crate::web::i18n::Lang;
use crate::web::page::{error_html, escape, html_page_with_status};
use crate::web::session::{self, WebSession};

/// Our own parameter: when the browser was sent to sign in (Unix seconds),
/// with its MAC: `<seconds>.<base64url HMAC>`.
pub const LOGIN_AFTER: &str = "madang_login_after";

/// The cookie holding the random value a `madang_login_after` marker is
/// bound to. A session cookie: it only has to outlive one sign-in.
const BROWSER_COOKIE: &str = "madang_oidc_browser";

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client: OAuthClient,
    /// Exactly as sent; the token request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    pub state: Option<String>,
    /// Granted scopes: requested ∩ known ∩ allowed for the client.
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    /// `madang_login_after` as received: checked against the browser's
    /// cookie before it counts (see the module documentation).
    pub login_marker: Option<String>,
    /// `id_token_hint` (OIDC Core §3.1.2.1), verified only when needed.
    pub id_token_hint: Option<String>,
    /// The parameters as received (without ours), to rebuild the request.
    pub params: ParamList,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Shown on a page: the client or redirect URI cannot be trusted.
    Page(&'static str, String),
    /// Sent back to the client (RFC 6749 §4.1.2.1).
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
}

/// Parameters in the order received.
pub type ParamList = Vec<(String, String)>;

/// Parameters from a query string or form body. Repeated parameters are
/// refused (RFC 6749 §3.1); empty ones count as absent (§3.1).
pub fn parse_params(raw: &[u8]) -> Result<(HashMap<String, String>, ParamList), String> {
    let mut map = HashMap::new();
    let mut list = Vec::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if v.is_empty() {
            continue;
        }
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("the parameter `{k}` is repeated"));
        }
        list.push((k.into_owned(), v.into_owned()));
    }
    Ok((map, list))
}

/// Adds parameters to a redirect URI's query (RFC 6749 §3.1.2: keep the
/// query it has).
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        serializer.append_pair(k, v);
    }
    let query = serializer.finish();
    if !query.is_empty() {
        out.push(if uri.contains('?') { '&' } else { '?' });
        out.push_str(&query);
    }
    out
}

pub async fn validate(state: &AppState, raw: &[u8]) -> Result<AuthRequest, Refusal> {
    let oidc = &state.oidc;
    let (p, list) = parse_params(raw).map_err(|m| Refusal::Page("invalid_request", m))?;
    let get = |k: &str| p.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return Err(Refusal::Page("invalid_request", "the request has no client_id".into()));
    };
    let client = match oidc.store.oauth_client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(Refusal::Page("invalid_client", format!("no application `{client_id}` is registered"))),
        Err(e) => {
            tracing::error!(error = %e, "reading an OAuth client");
            return Err(Refusal::Page("server_error", "the server could not read the application".into()));
        }
    };
    // OIDC Core §3.1.2.1: redirect_uri is required.
    let Some(redirect_uri) = get("redirect_uri") else {
        return Err(Refusal::Page("invalid_request", "the request has no redirect_uri".into()));
    };
    if find_redirect_uri(&client, redirect_uri).is_none() {
        return Err(Refusal::Page(
            "invalid_request",
            format!("`{redirect_uri}` is not a registered redirect URI of `{client_id}`"),
        ));
    }
    let state_param = get("state").map(str::to_string);
    let fail = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state_param.clone(),
        error,
        description: description.to_string(),
    };
    // OIDC Core §6: request objects are not supported.
    if p.contains_key("request") {
        return Err(fail("request_not_supported", "request objects are not supported"));
    }
    if p.contains_key("request_uri") {
        return Err(fail("request_uri_not_supported", "request_uri is not supported"));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => return Err(fail("unsupported_response_type", "only response_type=code is supported")),
        None => return Err(fail("invalid_request", "response_type is required")),
    }
    if let Some(mode) = get("response_mode")
        && mode != "query"
    {
        return Err(fail("invalid_request", "only response_mode=query is supported"));
    }
    // RFC 6749 §3.3: grant what is known and allowed, say so in the token
    // response. Unknown scopes are ignored rather than refused.
    let requested = super::parse_scopes(get("scope").unwrap_or_default());
    let scopes: Vec<String> = requested
        .into_iter()
        .filter(|s| SCOPES.contains(&s.as_str()) && client.allowed_scopes.iter().any(|a| a == s))
        .collect();
    if scopes.is_empty() {
        return Err(fail("invalid_scope", "no requested scope is allowed for this application"));
    }
    // RFC 7636 §4.3; S256 only (RFC 9700 §2.1.1: plain is not to be used).
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(fail("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)"));
            }
            Some(c.to_string())
        }
        (Some(_), _) => {
            return Err(fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)"));
        }
        (None, Some(_)) => return Err(fail("invalid_request", "code_challenge_method without code_challenge")),
        (None, None) => None,
    };
    if code_challenge.is_none() && (client.public || client.pkce == PkcePolicy::Required) {
        return Err(fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"));
    }
    let prompts: Vec<&str> = get("prompt").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail("invalid_request", "prompt=none cannot be combined with other values"));
    }
    let max_age = match get("max_age") {
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(fail("invalid_request", "max_age must be a non-negative number of seconds")),
        },
        None => None,
    };
    let nonce = get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || state_param.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(fail("invalid_request", "nonce or state is too long"));
    }
    Ok(AuthRequest {
        redirect_uri: redirect_uri.to_string(),
        state: state_param.clone(),
        scopes,
        nonce,
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
        login_marker: get(LOGIN_AFTER).filter(|m| m.len() <= 128).map(str::to_string),
        id_token_hint: get("id_token_hint").map(str::to_string),
        params: list.into_iter().filter(|(k, _)| k != LOGIN_AFTER).collect(),
        client,
    })
}

impl AuthRequest {
    /// The request as a query string, with our login marker: `marker`, else
    /// the one it came with.
    fn query(&self, marker: Option<&str>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            s.append_pair(k, v);
        }
        if let Some(m) = marker.or(self.login_marker.as_deref()) {
            s.append_pair(LOGIN_AFTER, m);
        }
        s.finish()
    }

    fn error(&self, error: &'static str, description: &str) -> Refusal {
        Refusal::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.to_string(),
        }
    }

    /// Whether the session is recent enough for `prompt=login` and `max_age`.
    fn session_is_fresh(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        session: &WebSession,
        now: DateTime<Utc>,
    ) -> bool {
        let since_marker = self
            .login_marker
            .as_deref()
            .and_then(|m| LoginMarker::check(state, headers, m))
            .is_some_and(|t| session.auth_time.timestamp() >= t);
        if since_marker {
            return true;
        }
        // OIDC Core §3.1.2.1: max_age=0 is like prompt=login.
        let within_max_age = self.max_age.is_none_or(|m| m > 0 && (now - session.auth_time).num_seconds() <= m);
        !self.prompt_login && within_max_age
    }
}

/// The `madang_login_after` marker (see the module documentation).
struct LoginMarker;

impl LoginMarker {
    fn mac(state: &AppState, browser: &str, t: i64) -> String {
        let data = format!("{browser}\0{t}");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.web.mac("oidc-login-after", data.as_bytes()))
    }

    fn cookie_name(state: &AppState, headers: &HeaderMap) -> (String, bool) {
        let secure = crate::web::secure_cookies(state, headers);
        (crate::web::cookie_name(BROWSER_COOKIE, secure), secure)
    }

    /// A marker for "sent to sign in at `now`", and the cookie to set when
    /// the browser has none yet.
    fn issue(
        state: &AppState,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<(String, Option<HeaderValue>), StoreError> {
        let (name, secure) = Self::cookie_name(state, headers);
        let existing = crate::web::cookie(headers, &name).filter(|v| (20..=128).contains(&v.len()));
        let (browser, set_cookie) = match existing {
            Some(value) => (value.to_string(), None),
            None => {
                let value = random_token()?;
                let cookie = crate::web::set_cookie(&name, &value, None, secure);
                (value, Some(cookie))
            }
        };
        let t = now.timestamp();
        Ok((format!("{t}.{}", Self::mac(state, &browser, t)), set_cookie))
    }

    /// The time in `marker`, if it was made for this browser.
    fn check(state: &AppState, headers: &HeaderMap, marker: &str) -> Option<i64> {
        let (t, mac) = marker.split_once('.')?;
        let t: i64 = t.parse().ok()?;
        let (name, _) = Self::cookie_name(state, headers);
        let browser = crate::web::cookie(headers, &name).filter(|v| !v.is_empty())?;
        let expected = Self::mac(state, browser, t);
        bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then_some(t)
    }
}

/// Where the browser goes when the request is refused.
fn refusal_response(state: &AppState, lang: Lang, refusal: Refusal, see_other: bool) -> Response {
    match refusal {
        Refusal::Page(code, message) => error_page(lang, code, &message),
        Refusal::Redirect { redirect_uri, state: s, error, description } => {
            let issuer = state.oidc.config.issuer.clone();
            let mut params = vec![("error", error), ("error_description", description.as_str())];
            if let Some(s) = s.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", issuer.as_str()));
            redirect(&with_query(&redirect_uri, &params), see_other)
        }
    }
}

/// 302 after a GET (RFC 6749 §4.1.2's example), 303 after a form POST;
/// never cached, never with a `Referer`. Registered URIs are ASCII and our
/// parameters are percent-encoded, so `location` is always a valid header;
/// should it not be, the answer is a 500 rather than a redirect to nowhere.
pub(super) fn redirect(location: &str, see_other: bool) -> Response {
    let Ok(location) = HeaderValue::from_str(location) else {
        tracing::error!("a redirect target is not a valid header value");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let status = if see_other { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    let mut response = status.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

pub fn error_page(lang: Lang, code: &str, message: &str) -> Response {
    let (title, intro) = match lang {
        Lang::Ko => {
            ("로그인 요청을 처리할 수 없습니다", "이 애플리케이션의 요청이 올바르지 않아 되돌려 보낼 수 없습니다.")
        }
        Lang::En => (
            "This sign-in request cannot be completed",
            "The application sent a request that Madang cannot send back safely.",
        ),
    };
    let body = format!("<p>{}</p>{}<p><code>{}</code></p>", escape(intro), error_html(message), escape(code));
    html_page_with_status(StatusCode::BAD_REQUEST, lang, title, body)
}

pub async fn authorize_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    authorize(&state, &headers, query.unwrap_or_default().as_bytes(), false).await
}

/// OIDC Core §3.1.2.1: the authorization endpoint also takes POST.
pub async fn authorize_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    authorize(&state, &headers, &body, true).await
}

async fn authorize(state: &AppState, headers: &HeaderMap, raw: &[u8], posted: bool) -> Response {
    let lang = Lang::from_headers(headers);
    let request = match validate(state, raw).await {
        Ok(r) => r,
        Err(refusal) => return refusal_response(state, lang, refusal, posted),
    };
    match decide(state, headers, &request, false, posted).await {
        Ok(response) => response,
        Err(refusal) => refusal_response(state, lang, refusal, posted),
    }
}

/// Sign-in, consent, then a code. `consented`: the consent form was just
/// submitted with "allow"; `posted`: answer a form POST (303).
async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    consented: bool,
    posted: bool,
) -> Result<Response, Refusal> {
    let now = state.clock.now();
    let session = session::current(state, headers).await;
    let fresh = session.as_ref().filter(|s| request.session_is_fresh(state, headers, s, now));
    let Some(session) = fresh else {
        if request.prompt_none {
            return Err(request.error("login_required", "the user must sign in"));
        }
        let (marker, set_cookie) = LoginMarker::issue(state, headers, now).map_err(|e| server_error(request, e))?;
        let next = format!("/oauth2/authorize?{}", request.query(Some(&marker)));
        let reauth = if session.is_some() { "&reauth=1" } else { "" };
        let mut response = redirect(&format!("/signin?next={}{reauth}", crate::web::page::query_escape(&next)), posted);
        if let Some(cookie) = set_cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        return Ok(response);
    };
    // OIDC Core §3.1.2.6: with prompt=none, a hint naming someone else
    // cannot be answered for the signed-in user without asking.
    if request.prompt_none
        && let Some(hint) = request.id_token_hint.as_deref()
        && let Some(named) = state.oidc.id_token_hint(hint).await.and_then(|h| h.subject)
    {
        let subject = state.store.user_subject(session.user.id).await.map_err(|e| server_error(request, e))?;
        if named != subject {
            return Err(request.error("login_required", "another user is signed in than the id_token_hint names"));
        }
    }
    let scopes = request.scopes.join(" ");
    // prompt=consent asks even for a first-party client (OIDC Core §3.1.2.1:
    // the server SHOULD prompt for consent).
    if !consented && (!request.client.first_party || request.prompt_consent) {
        let remembered = if request.client.first_party {
            None
        } else {
            state.store.oauth_consent(session.user.id, request.client.id).await.map_err(|e| server_error(request, e))?
        };
        let covered = remembered.is_some_and(|granted| request.scopes.iter().all(|s| has_scope(&granted, s)));
        if request.prompt_none && !covered {
            return Err(request.error("consent_required", "the user has not allowed this application"));
        }
        if !covered || request.prompt_consent {
            return Ok(redirect(&format!("/oauth2/consent?{}", request.query(None)), posted));
        }
    }
    let code = random_token().map_err(|e| server_error(request, e))?;
    let hash = state.oidc.hash(&code);
    let amr = session.amr.join(" ");
    let new = NewCode {
        code_hash: &hash,
        client_id: request.client.id,
        user_id: session.user.id,
        redirect_uri: &request.redirect_uri,
        code_challenge: request.code_challenge.as_deref(),
        nonce: request.nonce.as_deref(),
        scopes: &scopes,
        auth_time: session.auth_time,
        amr: &amr,
        expires_at: now + Duration::seconds(CODE_LIFETIME_SECS),
    };
    state.store.create_oauth_code(&new, now).await.map_err(|e| server_error(request, e))?;
    let issuer = state.oidc.config.issuer.as_str();
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    // RFC 9207 §2: identifies us against mix-up attacks.
    params.push(("iss", issuer));
    Ok(redirect(&with_query(&request.redirect_uri, &params), posted))
}

fn server_error(request: &AuthRequest, e: StoreError) -> Refusal {
    tracing::error!(error = %e, "authorization request failed");
    let code = if matches!(e, StoreError::Unavailable(_)) { "temporarily_unavailable" } else { "server_error" };
    request.error(code, "the server could not complete the request")
}

/// What each scope means, for the consent screen.
fn describe_scope(lang: Lang, scope: &str) -> Option<&'static str> {
    Some(match (lang, scope) {
        (Lang::En, "profile") => "Your user name and display name",
        (Lang::En, "email") => "Your e-mail address",
        (Lang::En, "groups") => "The groups you belong to",
        (Lang::En, "offline_access") => "Staying signed in when you are away",
        (Lang::En, "api") => "Your calendars, contacts and account through Madang's API",
        (Lang::En, "dav") => "Your calendars and contacts (CalDAV/CardDAV)",
        (Lang::En, "mail") => "Your linked mailboxes through Madang's IMAP and SMTP",
        (Lang::En, "admin") => "Administering this server as you (if you are an administrator)",
        (Lang::Ko, "profile") => "사용자 이름과 표시 이름",
        (Lang::Ko, "email") => "이메일 주소",
        (Lang::Ko, "groups") => "속한 그룹",
        (Lang::Ko, "offline_access") => "자리를 비운 동안에도 로그인 유지",
        (Lang::Ko, "api") => "Madang API를 통한 캘린더, 연락처, 계정",
        (Lang::Ko, "dav") => "캘린더와 연락처 (CalDAV/CardDAV)",
        (Lang::Ko, "mail") => "Madang IMAP·SMTP를 통한 연결된 메일함",
        (Lang::Ko, "admin") => "내 권한으로 이 서버 관리 (관리자인 경우)",
        _ => return None,
    })
}

/// `GET /oauth2/consent?<the authorization request>`.
pub async fn consent_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let lang = Lang::from_headers(&headers);
    let raw = query.unwrap_or_default();
    let request = match validate(&state, raw.as_bytes()).await {
        Ok(r) => r,
        Err(refusal) => return refusal_response(&state, lang, refusal, false),
    };
    let now = state.clock.now();
    let Some(session) =
        session::current(&state, &headers).await.filter(|s| request.session_is_fresh(&state, &headers, s, now))
    else {
        // Signed out meanwhile: start over.
        return redirect(&format!("/oauth2/authorize?{}", request.query(None)), false);
    };
    consent_page(&state, lang, &request, &session)
}

fn consent_page(state: &AppState, lang: Lang, request: &AuthRequest, session: &WebSession) -> Response {
    let client = &request.client;
    let (title, asks, allow, deny, signed_in_as) = match lang {
        Lang::Ko => ("접근 허용", "다음 정보에 접근하려고 합니다:", "허용", "거부", "로그인 계정"),
        Lang::En => ("Allow access", "would like to access:", "Allow", "Deny", "Signed in as"),
    };
    let mut items = String::new();
    for scope in &request.scopes {
        if let Some(text) = describe_scope(lang, scope) {
            items.push_str(&format!("<li>{}</li>", escape(text)));
        }
    }
    let host = url::Url::parse(&request.redirect_uri).ok().and_then(|u| u.host_str().map(str::to_string));
    let body = format!(
        r#"<p><strong>{name}</strong> ({host}) {asks}</p>
<ul>{items}</ul>
<p>{signed_in_as} <strong>{user}</strong></p>
<form method="post" action="/oauth2/consent">
{csrf}<input type="hidden" name="request" value="{query}">
<p><button type="submit" name="decision" value="allow">{allow}</button>
<button type="submit" name="decision" value="deny">{deny}</button></p>
</form>"#,
        name = escape(&client.name),
        host = escape(host.as_deref().unwrap_or(&request.redirect_uri)),
        asks = escape(asks),
        user = escape(session.user.username.as_str()),
        csrf = crate::web::csrf::form_field(state, session),
        query = escape(&request.query(None)),
        allow = escape(allow),
        deny = escape(deny),
        signed_in_as = escape(signed_in_as),
    );
    let mut response = html_page_with_status(StatusCode::OK, lang, title, body);
    // The form's answer redirects to the client.
    crate::web::page::allow_form_redirect(&mut response, &request.redirect_uri);
    response
}

/// `POST /oauth2/consent`: `request` (the authorization request's query),
/// `decision` (`allow` or `deny`) and the CSRF token.
pub async fn consent_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let raw = form.get("request").cloned().unwrap_or_default();
    let request = match validate(&state, raw.as_bytes()).await {
        Ok(r) => r,
        Err(refusal) => return refusal_response(&state, lang, refusal, true),
    };
    let Some(session) = session::current(&state, &headers).await else {
        return redirect(&format!("/oauth2/authorize?{}", request.query(None)), true);
    };
    let submitted = form.get(crate::web::csrf::FIELD).map(String::as_str).unwrap_or_default();
    if !crate::web::csrf::check(&state, &session, submitted) {
        return crate::web::page::csrf_failed(lang);
    }
    if form.get("decision").map(String::as_str) != Some("allow") {
        let refusal = request.error("access_denied", "the user denied the request");
        return refusal_response(&state, lang, refusal, true);
    }
    let now = state.clock.now();
    // Remember the union, so a later request for fewer scopes is not asked again.
    let previous = state.store.oauth_consent(session.user.id, request.client.id).await.ok().flatten();
    let mut granted: Vec<String> = previous.as_deref().map(super::parse_scopes).unwrap_or_default();
    for s in &request.scopes {
        if !granted.contains(s) {
            granted.push(s.clone());
        }
    }
    let granted = super::parse_scopes(&granted.join(" ")).join(" ");
    if let Err(e) = state.store.save_oauth_consent(session.user.id, request.client.id, &granted, now).await {
        return refusal_response(&state, lang, server_error(&request, e), true);
    }
    state
        .audit(
            Entry::new("oidc.consent")
                .actor(&session.user)
                .target(format!("oauth client {}", request.client.client_id))
                .detail(request.scopes.join(" ")),
        )
        .await;
    match decide(&state, &headers, &request, true, true).await {
        Ok(response) => response,
        Err(refusal) => refusal_response(&state, lang, refusal, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(parse_params(b"a=1&a=2").is_err());
        let (map, _) = parse_params(b"a=1&b=&c=%20").unwrap();
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        assert!(!map.contains_key("b"));
        assert_eq!(map.get("c").map(String::as_str), Some(" "));
    }

    #[test]
    fn redirect_queries_are_kept() {
        assert_eq!(with_query("https://a/cb", &[("code", "x y")]), "https://a/cb?code=x+y");
        assert_eq!(with_query("https://a/cb?k=v", &[("code", "1")]), "https://a/cb?k=v&code=1");
    }
}
