//! Sign-in (password, then the TOTP code when enabled) and sign-out.
//!
//! A correct password for an account with TOTP on does not start a
//! session: it sets a short-lived signed cookie saying "password proved for
//! user N until T", and the code page turns that into a session. Codes are
//! refused for a time step already used (RFC 6238 §5.2), recovery codes
//! once spent. Wrong passwords and wrong codes count against the same
//! throttle as HTTP Basic, and a throttled browser gets 429 with
//! `Retry-After`. Pending and disabled accounts are told so only after the
//! right password; otherwise every failure reads the same.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;

use super::csrf::{self, PreSession};
use super::i18n::{Lang, t};
use super::page::{
    allow_form_redirect, authorize_redirect_uri, button, csrf_failed, error_html, field, hidden, html_page_with_status,
    internal_error, query_escape, rate_limited, see_other, with_cookie,
};
use super::session::{self, WebSession};
use super::{Client, cookie, safe_next, set_cookie};
use crate::audit::{self, Entry};
use crate::auth::{AuthError, PasswordCheck};
use crate::domain::{User, UserId, UserState};
use crate::http::AppState;

/// The "password done, code next" cookie and how long it lasts.
const MFA_COOKIE: &str = "madang_mfa";
const MFA_SECONDS: i64 = 300;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInQuery {
    next: Option<String>,
    reauth: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    csrf: String,
    username: String,
    password: String,
    next: Option<String>,
    reauth: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    code: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignOutForm {
    csrf: String,
}

pub async fn form(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
    client: Client,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(query.next.as_deref());
    let reauth = query.reauth.as_deref() == Some("1");
    if !reauth && session::current(&state, &headers).await.is_some() {
        return see_other(&next);
    }
    render_form(&state, lang, &headers, &client, &FormView { next: &next, reauth, ..FormView::default() })
}

#[derive(Default)]
struct FormView<'a> {
    next: &'a str,
    reauth: bool,
    username: &'a str,
    error: Option<&'a str>,
    status: Option<StatusCode>,
}

fn render_form(state: &AppState, lang: Lang, headers: &HeaderMap, client: &Client, view: &FormView<'_>) -> Response {
    let pre = match PreSession::from_headers(headers) {
        Ok(pre) => pre,
        Err(e) => return internal_error(lang, &e),
    };
    let mut body = String::new();
    if let Some(error) = view.error {
        body.push_str(&error_html(error));
    }
    if view.reauth {
        body.push_str(&format!("<p>{}</p>", t(lang, "signin.reauth")));
    }
    body.push_str(r#"<form method="post" action="/signin">"#);
    body.push_str(&pre.form_field(state));
    body.push_str(&hidden("next", view.next));
    if view.reauth {
        body.push_str(&hidden("reauth", "1"));
    }
    body.push_str(&field("username", t(lang, "field.username"), "text", "username", view.username, true));
    body.push_str(&field("password", t(lang, "field.password"), "password", "current-password", "", true));
    body.push_str(&button(t(lang, "signin.submit")));
    body.push_str("</form>");
    body.push_str(&format!(r#"<p><a href="/reset">{}</a></p>"#, t(lang, "signin.forgot")));
    if state.web.config.signup {
        body.push_str(&format!(r#"<p><a href="/signup">{}</a></p>"#, t(lang, "signin.signup_link")));
    }
    let status = view.status.unwrap_or(StatusCode::OK);
    let mut response = html_page_with_status(status, lang, t(lang, "signin.title"), body);
    if let Some(uri) = authorize_redirect_uri(view.next) {
        allow_form_redirect(&mut response, &uri);
    }
    with_cookie(response, pre.set_cookie(client))
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &form.csrf) {
        return csrf_failed(lang);
    }
    let next = safe_next(form.next.as_deref());
    let reauth = form.reauth.as_deref() == Some("1");
    let view = FormView { next: &next, reauth, username: &form.username, ..FormView::default() };
    let failure = |detail: &str| {
        Entry::new("signin.failure").actor_name(form.username.trim()).detail(detail).address(client.address)
    };
    match state.auth.verify_account_password(&form.username, &form.password, client.address).await {
        Err(AuthError::RateLimited { retry_after }) => {
            audit::record(&state, failure("throttled")).await;
            rate_limited(lang, retry_after)
        }
        Err(AuthError::InvalidCredentials) => {
            audit::record(&state, failure("wrong user name or password")).await;
            let error = t(lang, "signin.invalid");
            render_form(&state, lang, &headers, &client, &FormView { error: Some(error), ..view })
        }
        Err(AuthError::Unavailable(e)) => internal_error(lang, &e),
        Ok(PasswordCheck::NotActive(user)) => {
            audit::record(&state, failure(&format!("account is {}", user.state)).actor(&user)).await;
            let error =
                if user.state == UserState::Pending { t(lang, "signin.pending") } else { t(lang, "signin.disabled") };
            let status = Some(StatusCode::FORBIDDEN);
            render_form(&state, lang, &headers, &client, &FormView { error: Some(error), status, ..view })
        }
        Ok(PasswordCheck::Active(user)) => match state.store.totp_enabled(user.id).await {
            Err(e) => internal_error(lang, &e),
            Ok(true) => {
                let cookie = set_cookie(MFA_COOKIE, &mfa_token(&state, user.id), None, client.secure);
                with_cookie(see_other(&format!("/signin/totp?next={}", query_escape(&next))), Some(cookie))
            }
            Ok(false) => complete(&state, &headers, &client, &user, &["pwd"], &next).await,
        },
    }
}

/// Starts the session (replacing any the browser had, so a session fixed
/// before sign-in is worthless) and sends the browser on with 303.
async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    user: &User,
    amr: &[&str],
    next: &str,
) -> Response {
    let lang = Lang::from_headers(headers);
    if let Some(old) = session::current(state, headers).await
        && let Err(e) = session::end(state, &old, client).await
    {
        return internal_error(lang, &e);
    }
    match session::start(state, user, amr, client).await {
        Ok((_, cookie)) => {
            let entry = Entry::new("signin.success").actor(user).detail(format!("amr={}", amr.join(" ")));
            audit::record(state, entry.address(client.address)).await;
            let mut response = with_cookie(see_other(next), Some(cookie));
            if amr.contains(&"otp") {
                response.headers_mut().append(header::SET_COOKIE, set_cookie(MFA_COOKIE, "", Some(0), client.secure));
            }
            response
        }
        Err(e) => internal_error(lang, &e),
    }
}

/// `user.expiry.mac`: proof that the password was right a moment ago.
fn mfa_token(state: &AppState, user: UserId) -> String {
    let expires = state.clock.now().timestamp() + MFA_SECONDS;
    let payload = format!("{}.{expires}", user.0);
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.web.mac("mfa", payload.as_bytes()));
    format!("{payload}.{mac}")
}

/// The user whose password was proved, if the cookie is genuine and fresh.
fn mfa_user(state: &AppState, headers: &HeaderMap) -> Option<UserId> {
    let value = cookie(headers, MFA_COOKIE)?;
    let (payload, mac) = value.rsplit_once('.')?;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.web.mac("mfa", payload.as_bytes()));
    if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes())) {
        return None;
    }
    let (user, expires) = payload.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    (state.clock.now().timestamp() < expires).then_some(())?;
    user.parse().ok().map(UserId)
}

pub async fn totp_form(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
    client: Client,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(query.next.as_deref());
    if mfa_user(&state, &headers).is_none() {
        return see_other(&format!("/signin?next={}", query_escape(&next)));
    }
    render_code_form(&state, lang, &headers, &client, &next, None, StatusCode::OK)
}

fn render_code_form(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    client: &Client,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let pre = match PreSession::from_headers(headers) {
        Ok(pre) => pre,
        Err(e) => return internal_error(lang, &e),
    };
    let mut body = String::new();
    if let Some(error) = error {
        body.push_str(&error_html(error));
    }
    body.push_str(&format!("<p>{}</p>", t(lang, "totp.signin_intro")));
    body.push_str(r#"<form method="post" action="/signin/totp">"#);
    body.push_str(&pre.form_field(state));
    body.push_str(&hidden("next", next));
    body.push_str(&format!(
        r#"<p><label for="code">{}</label><br><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus></p>"#,
        t(lang, "field.code")
    ));
    body.push_str(&button(t(lang, "totp.verify")));
    body.push_str("</form>");
    let mut response = html_page_with_status(status, lang, t(lang, "totp.signin_title"), body);
    if let Some(uri) = authorize_redirect_uri(next) {
        allow_form_redirect(&mut response, &uri);
    }
    with_cookie(response, pre.set_cookie(client))
}

pub async fn totp_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &form.csrf) {
        return csrf_failed(lang);
    }
    let next = safe_next(form.next.as_deref());
    let Some(user_id) = mfa_user(&state, &headers) else {
        return see_other(&format!("/signin?next={}", query_escape(&next)));
    };
    let user = match state.store.user(user_id).await {
        Ok(user) if user.state == UserState::Active => user,
        Ok(_) | Err(crate::store::StoreError::NotFound) => return see_other("/signin"),
        Err(e) => return internal_error(lang, &e),
    };
    let name = user.username.as_str().to_string();
    if let Err(AuthError::RateLimited { retry_after }) = state.auth.throttle_check(&name, client.address) {
        return rate_limited(lang, retry_after);
    }
    match super::totp::verify_second_factor(&state, &user, &form.code).await {
        Ok(super::totp::SecondFactor::Accepted { recovery_code }) => {
            if recovery_code {
                let left = state.store.recovery_codes_left(user.id).await.unwrap_or(0);
                let entry = Entry::new("recovery_code.used").actor(&user).detail(format!("{left} left"));
                audit::record(&state, entry.address(client.address)).await;
            }
            complete(&state, &headers, &client, &user, &["pwd", "otp"], &next).await
        }
        Ok(super::totp::SecondFactor::Replayed) => {
            state.auth.throttle_failure(&name, client.address);
            let entry = Entry::new("signin.failure").actor(&user).detail("TOTP code already used");
            audit::record(&state, entry.address(client.address)).await;
            let error = t(lang, "totp.replayed");
            render_code_form(&state, lang, &headers, &client, &next, Some(error), StatusCode::OK)
        }
        Ok(super::totp::SecondFactor::Wrong) => {
            state.auth.throttle_failure(&name, client.address);
            let entry = Entry::new("signin.failure").actor(&user).detail("wrong second factor");
            audit::record(&state, entry.address(client.address)).await;
            let error = t(lang, "totp.wrong");
            render_code_form(&state, lang, &headers, &client, &next, Some(error), StatusCode::OK)
        }
        Err(e) => internal_error(lang, &e),
    }
}

pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<SignOutForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let Some(session) = session::current(&state, &headers).await else {
        return with_cookie(see_other("/signin"), Some(session::clear_cookie(&client)));
    };
    if !csrf::check(&state, &session, &form.csrf) {
        return csrf_failed(lang);
    }
    signout_session(&state, &session, &client).await
}

async fn signout_session(state: &AppState, session: &WebSession, client: &Client) -> Response {
    match session::end(state, session, client).await {
        Ok(cookie) => {
            audit::record(state, Entry::new("signout").actor(&session.user).address(client.address)).await;
            with_cookie(see_other("/signin"), Some(cookie))
        }
        Err(e) => internal_error(Lang::En, &e),
    }
}
