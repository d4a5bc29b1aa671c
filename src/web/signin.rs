//! Sign-in (password, then the TOTP code when enabled) and sign-out.
//!
//! A correct password for an account with TOTP on does not start a
//! session: it records a short-lived challenge ("password proved for user N
//! under credentials version V until T") and hands the browser a random
//! token for it; the code page turns that into a session. A challenge
//! allows [`MFA_ATTEMPTS`] codes, dies with a password change or a TOTP
//! reset (the credentials version moves), and completes one sign-in only.
//! Codes are refused for a time step already used (RFC 6238 §5.2),
//! recovery codes once spent, and a replayed code reads exactly like a
//! wrong one. Wrong passwords count against the same throttle as HTTP
//! Basic; wrong codes count on a key of their own that a correct password
//! never clears, so knowing the password does not make the six digits
//! guessable. A throttled browser gets 429 with `Retry-After`. Pending and
//! disabled accounts are told so only after the right password; otherwise
//! every failure reads the same.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::csrf::{self, signed_out_page};
use super::form::CsrfForm;
use super::i18n::{Lang, t};
use super::page::{
    allow_form_redirect_for_next, button, csrf_failed, error_html, field, hidden, internal_error, query_escape,
    rate_limited, see_other, with_cookie,
};
use super::session::{self, WebSession};
use super::{Client, cookie, random_token, safe_next, set_cookie, token_hash};
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::auth::{Attempt, AuthError, PasswordCheck};
use crate::domain::{User, UserState, Username};
use crate::store::StoreError;
use crate::store::sessions::{MfaChallenge, NewMfaChallenge};

/// The "password done, code next" cookie and how long it lasts.
const MFA_COOKIE: &str = "madang_mfa";
const MFA_SECONDS: u64 = 300;
/// Codes one proved password may try; then the password is asked again.
pub const MFA_ATTEMPTS: i64 = 5;

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

impl CsrfForm for SignOutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
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
    let status = view.status.unwrap_or(StatusCode::OK);
    let mut response = signed_out_page(state, headers, client, lang, status, t(lang, "signin.title"), |csrf_field| {
        let mut body = String::new();
        if let Some(error) = view.error {
            body.push_str(&error_html(error));
        }
        if view.reauth {
            body.push_str(&format!("<p>{}</p>", t(lang, "signin.reauth")));
        }
        body.push_str(r#"<form method="post" action="/signin">"#);
        body.push_str(csrf_field);
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
        body
    });
    allow_form_redirect_for_next(&mut response, view.next);
    response
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &client, &form.csrf) {
        return csrf_failed(lang);
    }
    let next = safe_next(form.next.as_deref());
    let reauth = form.reauth.as_deref() == Some("1");
    let view = FormView { next: &next, reauth, username: &form.username, ..FormView::default() };
    match state.auth.verify_account_password(&form.username, &form.password, client.address).await {
        Err(AuthError::RateLimited { retry_after }) => {
            state.audit(failure_entry(&state, &form.username, "throttled", &client).await).await;
            rate_limited(lang, retry_after)
        }
        Err(AuthError::InvalidCredentials) => {
            let entry = failure_entry(&state, &form.username, "wrong user name or password", &client).await;
            state.audit(entry).await;
            let error = t(lang, "signin.invalid");
            render_form(&state, lang, &headers, &client, &FormView { error: Some(error), ..view })
        }
        Err(AuthError::Unavailable(e)) => internal_error(lang, &e),
        Ok(PasswordCheck::NotActive(user)) => {
            let entry = Entry::new("signin.failure").actor_name(form.username.trim()).address(client.address);
            state.audit(entry.detail(format!("account is {}", user.state)).actor(&user)).await;
            let error =
                if user.state == UserState::Pending { t(lang, "signin.pending") } else { t(lang, "signin.disabled") };
            let status = Some(StatusCode::FORBIDDEN);
            render_form(&state, lang, &headers, &client, &FormView { error: Some(error), status, ..view })
        }
        Ok(PasswordCheck::Active(user)) => match state.store.totp_enabled(user.id).await {
            Err(e) => internal_error(lang, &e),
            Ok(true) => match start_challenge(&state, &user, &client).await {
                Ok(cookie) => {
                    with_cookie(see_other(&format!("/signin/totp?next={}", query_escape(&next))), Some(cookie))
                }
                Err(e) => internal_error(lang, &e),
            },
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
            state.audit(entry.address(client.address)).await;
            let mut response = with_cookie(see_other(next), Some(cookie));
            if amr.contains(&"otp") {
                response.headers_mut().append(header::SET_COOKIE, clear_mfa_cookie(client));
            }
            response
        }
        Err(e) => internal_error(lang, &e),
    }
}

/// The audit entry of a failed sign-in. A name that matches no account is
/// not recorded as typed — people paste passwords into the user-name field
/// — but as a marker with a short keyed hash of the name, so that repeated
/// attempts on one name can still be told apart.
async fn failure_entry(state: &AppState, typed: &str, detail: &str, client: &Client) -> Entry {
    let name = typed.trim().to_lowercase();
    let known = match Username::parse(&name) {
        Ok(username) => state.store.user_by_name(&username).await.is_ok(),
        Err(_) => false,
    };
    let entry = Entry::new("signin.failure").address(client.address);
    if known {
        return entry.actor_name(typed.trim()).detail(detail);
    }
    let mac = state.web.mac("audit-unknown-name", name.as_bytes());
    let short: String = mac[..6].iter().map(|b| format!("{b:02x}")).collect();
    entry.actor_name("(unknown)").detail(format!("{detail}; unknown user name, keyed hash {short}"))
}

/// Records a challenge for `user`, whose password was just proved, and
/// returns the cookie that hands its token to the browser.
async fn start_challenge(state: &AppState, user: &User, client: &Client) -> Result<HeaderValue, StoreError> {
    let credentials = state.store.credentials_by_id(user.id).await?;
    let token = random_token()?;
    let now = state.clock.now();
    let new = NewMfaChallenge {
        token_hash: &token_hash(&token),
        user_id: user.id,
        credentials_version: credentials.credentials_version,
        expires_at: session::after(now, std::time::Duration::from_secs(MFA_SECONDS)),
    };
    state.store.create_mfa_challenge(&new, now).await?;
    Ok(set_cookie(&client.cookie_name(MFA_COOKIE), &token, Some(MFA_SECONDS), client.secure))
}

fn clear_mfa_cookie(client: &Client) -> HeaderValue {
    set_cookie(&client.cookie_name(MFA_COOKIE), "", Some(0), client.secure)
}

/// The browser's live challenge, with its token's hash.
async fn challenge(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Option<([u8; 32], MfaChallenge)>, StoreError> {
    let Some(token) = cookie(headers, &client.cookie_name(MFA_COOKIE)).filter(|t| !t.is_empty() && t.len() <= 128)
    else {
        return Ok(None);
    };
    let hash = token_hash(token);
    Ok(state.store.mfa_challenge(&hash, state.clock.now()).await?.map(|c| (hash, c)))
}

/// Back to the password: the challenge is gone, spent or worthless.
fn back_to_password(client: &Client, next: &str) -> Response {
    with_cookie(see_other(&format!("/signin?next={}", query_escape(next))), Some(clear_mfa_cookie(client)))
}

pub async fn totp_form(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
    client: Client,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(query.next.as_deref());
    match challenge(&state, &headers, &client).await {
        Ok(Some(_)) => render_code_form(&state, lang, &headers, &client, &next, None),
        Ok(None) => back_to_password(&client, &next),
        Err(e) => internal_error(lang, &e),
    }
}

fn render_code_form(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    client: &Client,
    next: &str,
    error: Option<&str>,
) -> Response {
    let title = t(lang, "totp.signin_title");
    let mut response = signed_out_page(state, headers, client, lang, StatusCode::OK, title, |csrf_field| {
        let mut body = String::new();
        if let Some(error) = error {
            body.push_str(&error_html(error));
        }
        body.push_str(&format!("<p>{}</p>", t(lang, "totp.signin_intro")));
        body.push_str(r#"<form method="post" action="/signin/totp">"#);
        body.push_str(csrf_field);
        body.push_str(&hidden("next", next));
        body.push_str(&format!(
            r#"<p><label for="code">{}</label><br><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus></p>"#,
            t(lang, "field.code")
        ));
        body.push_str(&button(t(lang, "totp.verify")));
        body.push_str("</form>");
        body
    });
    allow_form_redirect_for_next(&mut response, next);
    response
}

pub async fn totp_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &client, &form.csrf) {
        return csrf_failed(lang);
    }
    let next = safe_next(form.next.as_deref());
    let (hash, challenge) = match challenge(&state, &headers, &client).await {
        Ok(Some(found)) => found,
        Ok(None) => return back_to_password(&client, &next),
        Err(e) => return internal_error(lang, &e),
    };
    // The password was proved for these credentials: a password change or
    // a TOTP reset since then makes the challenge worthless.
    let user = match state.store.credentials_by_id(challenge.user_id).await {
        Ok(c) if c.user.state == UserState::Active && c.credentials_version == challenge.credentials_version => c.user,
        Ok(_) | Err(StoreError::NotFound) => {
            return match state.store.consume_mfa_challenge(&hash).await {
                Ok(_) => back_to_password(&client, &next),
                Err(e) => internal_error(lang, &e),
            };
        }
        Err(e) => return internal_error(lang, &e),
    };
    let attempt = Attempt::SecondFactor(user.id);
    if let Err(AuthError::RateLimited { retry_after }) = state.auth.attempt_check(attempt, client.address) {
        return rate_limited(lang, retry_after);
    }
    match state.store.count_mfa_attempt(&hash, MFA_ATTEMPTS, state.clock.now()).await {
        Ok(true) => {}
        Ok(false) => {
            // Enough codes for one password: prove it again.
            let entry = Entry::new("signin.failure").actor(&user).detail("too many codes for one password");
            state.audit(entry.address(client.address)).await;
            return match state.store.consume_mfa_challenge(&hash).await {
                Ok(_) => back_to_password(&client, &next),
                Err(e) => internal_error(lang, &e),
            };
        }
        Err(e) => return internal_error(lang, &e),
    }
    let recovery_code = match super::totp::verify_second_factor(&state, &user, &form.code).await {
        Ok(super::totp::SecondFactor::Accepted { recovery_code }) => recovery_code,
        // A replayed code is refused exactly like a wrong one: the answer
        // must not tell a guesser that the guess was right.
        Ok(verdict @ (super::totp::SecondFactor::Replayed | super::totp::SecondFactor::Wrong)) => {
            state.auth.attempt_record(attempt, client.address);
            let detail = match verdict {
                super::totp::SecondFactor::Replayed => "TOTP code already used",
                _ => "wrong second factor",
            };
            let entry = Entry::new("signin.failure").actor(&user).detail(detail);
            state.audit(entry.address(client.address)).await;
            let error = t(lang, "totp.wrong");
            return render_code_form(&state, lang, &headers, &client, &next, Some(error));
        }
        Err(e) => return internal_error(lang, &e),
    };
    // One challenge, one sign-in: a concurrent request that got here first
    // with the same cookie wins.
    match state.store.consume_mfa_challenge(&hash).await {
        Ok(true) => {}
        Ok(false) => return back_to_password(&client, &next),
        Err(e) => return internal_error(lang, &e),
    }
    state.auth.attempt_clear(attempt);
    if recovery_code {
        let left = state.store.recovery_codes_left(user.id).await.unwrap_or(0);
        let entry = Entry::new("recovery_code.used").actor(&user).detail(format!("{left} left"));
        state.audit(entry.address(client.address)).await;
    }
    complete(&state, &headers, &client, &user, &["pwd", "otp"], &next).await
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
            state.audit(Entry::new("signout").actor(&session.user).address(client.address)).await;
            with_cookie(see_other("/signin"), Some(cookie))
        }
        Err(e) => internal_error(Lang::En, &e),
    }
}
