//! Password reset by a one-time link.
//!
//! The link carries 256 random bits; the database keeps their SHA-256 with
//! an expiry (`web.reset_link_lifetime`), and using it marks it (and every
//! other open link of the account) used in one conditional write. The token
//! travels in the query string, not the path, because request logs record
//! paths and never query strings. Asking for a link answers the same
//! whether or not the account exists, and the mail is sent in the
//! background so the timing does not tell either. Requests are throttled
//! per client address and per login typed, and an account that was sent a
//! link in the last few minutes is not sent another (the answer is the
//! same), so the form cannot be used to flood someone's mailbox. Without
//! SMTP the page says to ask an admin, who runs `madang user reset-link`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::csrf::{self, signed_out_page};
use super::i18n::{Lang, t, tf};
use super::page::{
    button, csrf_failed, error_html, field, hidden, html_page, html_page_with_status, internal_error, notice_html,
    rate_limited,
};
use super::{Client, random_token, token_hash};
use crate::accounts::AccountError;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::auth::{Attempt, AuthError};
use crate::domain::{User, UserState, Username};
use crate::store::StoreError;

/// While a link sent this recently is open, no new one is mailed.
const RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Creates a one-time reset link for `user`: the CLI and the admin pages
/// hand it out (`sent_to` is `None`); the reset form mails it to the
/// account's address, and following a mailed link proves that address.
pub async fn issue_link(state: &AppState, user: &User, sent_to: Option<&str>) -> Result<String, StoreError> {
    let token = random_token()?;
    let now = state.clock.now();
    let expires = super::session::after(now, state.web.config.reset_link_lifetime);
    state.store.create_password_reset(user.id, &token_hash(&token), expires, sent_to, now).await?;
    Ok(format!("{}reset/confirm?token={token}", state.web.config.public_url))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestForm {
    csrf: String,
    login: String,
}

pub async fn request_form(State(state): State<AppState>, headers: HeaderMap, client: Client) -> Response {
    let lang = Lang::from_headers(&headers);
    if state.web.mailer.is_none() {
        return html_page(lang, t(lang, "reset.title"), format!("<p>{}</p>", t(lang, "reset.no_mail")));
    }
    signed_out_page(&state, &headers, &client, lang, StatusCode::OK, t(lang, "reset.title"), |csrf_field| {
        let mut body = format!("<p>{}</p>", t(lang, "reset.intro"));
        body.push_str(r#"<form method="post" action="/reset">"#);
        body.push_str(csrf_field);
        body.push_str(&field("login", t(lang, "reset.login"), "text", "username", "", true));
        body.push_str(&button(t(lang, "reset.send")));
        body.push_str("</form>");
        body
    })
}

pub async fn request_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<RequestForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &client, &form.csrf) {
        return csrf_failed(lang);
    }
    if state.web.mailer.is_some() {
        let login = form.login.trim().chars().take(256).collect::<String>();
        let attempt = Attempt::ResetRequest(&login);
        if let Err(AuthError::RateLimited { retry_after }) = state.auth.attempt_check(attempt, client.address) {
            return rate_limited(lang, retry_after);
        }
        state.auth.attempt_record(attempt, client.address);
        state.audit(Entry::new("password.reset_request").actor_name(&login).address(client.address)).await;
        let state = state.clone();
        // In the background: the answer must not wait for (and so reveal)
        // the look-up and the mail server.
        tokio::spawn(async move {
            if let Err(e) = send_link(&state, &login, lang).await {
                tracing::warn!(error = %e, "could not send a password-reset link");
            }
        });
    }
    html_page(lang, t(lang, "reset.title"), notice_html(t(lang, "reset.sent")))
}

async fn send_link(state: &AppState, login: &str, lang: Lang) -> Result<(), String> {
    let Some(mailer) = &state.web.mailer else { return Ok(()) };
    let users = if login.contains('@') {
        let ids = state.store.active_user_ids_by_email(login).await.map_err(|e| e.to_string())?;
        let mut users = Vec::new();
        for id in ids {
            users.push(state.store.user(id).await.map_err(|e| e.to_string())?);
        }
        users
    } else {
        match Username::parse(login) {
            Ok(name) => match state.store.user_by_name(&name).await {
                Ok(user) => vec![user],
                Err(StoreError::NotFound) => Vec::new(),
                Err(e) => return Err(e.to_string()),
            },
            Err(_) => Vec::new(),
        }
    };
    let now = state.clock.now();
    let since = chrono::Duration::from_std(RESEND_AFTER).ok().and_then(|d| now.checked_sub_signed(d)).unwrap_or(now);
    for user in users.into_iter().filter(|u| u.state == UserState::Active) {
        if state.store.recent_password_reset(user.id, since, now).await.map_err(|e| e.to_string())? {
            tracing::info!(user = %user.username, "reset link not sent: one was sent minutes ago");
            continue;
        }
        let link = issue_link(state, &user, Some(user.email.as_str())).await.map_err(|e| e.to_string())?;
        let minutes = (state.web.config.reset_link_lifetime.as_secs() / 60).max(1).to_string();
        let product = state.brand.name();
        let body =
            tf(lang, "reset.mail_body", &[user.username.as_str(), &link, &minutes, product]).replace("\\n", "\n");
        let subject = tf(lang, "reset.mail_subject", &[product]);
        mailer.send(user.email.as_str(), &subject, &body).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    csrf: String,
    token: String,
    new: String,
    confirm: String,
}

fn invalid_link(lang: Lang) -> Response {
    html_page_with_status(
        StatusCode::NOT_FOUND,
        lang,
        t(lang, "reset.title"),
        format!("{}<p><a href=\"/reset\">{}</a></p>", error_html(t(lang, "reset.invalid")), t(lang, "reset.again")),
    )
}

pub async fn confirm_form(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    client: Client,
) -> Response {
    let lang = Lang::from_headers(&headers);
    match state.store.password_reset_user(&token_hash(&query.token), state.clock.now()).await {
        Ok(Some(_)) => render_confirm(&state, lang, &headers, &client, &query.token, None),
        Ok(None) => invalid_link(lang),
        Err(e) => internal_error(lang, &e),
    }
}

fn render_confirm(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    client: &Client,
    token: &str,
    error: Option<&str>,
) -> Response {
    signed_out_page(state, headers, client, lang, StatusCode::OK, t(lang, "reset.choose_title"), |csrf_field| {
        let mut body = String::new();
        if let Some(error) = error {
            body.push_str(&error_html(error));
        }
        body.push_str(r#"<form method="post" action="/reset/confirm">"#);
        body.push_str(csrf_field);
        body.push_str(&hidden("token", token));
        body.push_str(&field("new", t(lang, "field.new_password"), "password", "new-password", "", true));
        body.push_str(&field("confirm", t(lang, "field.confirm_password"), "password", "new-password", "", true));
        body.push_str(&button(t(lang, "password.submit")));
        body.push_str("</form>");
        body
    })
}

pub async fn confirm_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !csrf::check_pre_session(&state, &headers, &client, &form.csrf) {
        return csrf_failed(lang);
    }
    let hash = token_hash(&form.token);
    let now = state.clock.now();
    // Check the new password before spending the link, so a typo does not
    // cost the user their link.
    let user = match state.store.password_reset_user(&hash, now).await {
        Ok(Some(id)) => match state.store.user(id).await {
            // A link outlives a disable: the account must still be active.
            Ok(user) if user.state == UserState::Active => user,
            Ok(_) | Err(StoreError::NotFound) => return invalid_link(lang),
            Err(e) => return internal_error(lang, &e),
        },
        Ok(None) => return invalid_link(lang),
        Err(e) => return internal_error(lang, &e),
    };
    if form.new != form.confirm {
        return render_confirm(&state, lang, &headers, &client, &form.token, Some(t(lang, "password.mismatch")));
    }
    if let Err(e) = state.accounts.check_password_policy(&form.new) {
        return render_confirm(&state, lang, &headers, &client, &form.token, Some(&e.0));
    }
    let recipient = match state.store.password_reset_recipient(&hash).await {
        Ok(r) => r,
        Err(e) => return internal_error(lang, &e),
    };
    match state.store.consume_password_reset(&hash, now).await {
        Ok(Some(id)) if id == user.id => {}
        Ok(_) => return invalid_link(lang),
        Err(e) => return internal_error(lang, &e),
    }
    // Someone who could reset the password may have been signed in with the
    // old one: every session ends. The link was consumed first, so two
    // submissions cannot both set a password; if setting it fails, the link
    // is reopened rather than lost.
    if let Err(error) = state.accounts.set_password(user.username.as_str(), &form.new, None).await {
        if let Err(e) = state.store.restore_password_reset(&hash, user.id).await {
            tracing::error!(error = %e, "could not reopen a reset link after a failed reset");
        }
        return match error {
            AccountError::Invalid(e) => render_confirm(&state, lang, &headers, &client, &form.token, Some(&e.0)),
            e => internal_error(lang, &e),
        };
    }
    state.audit(Entry::new("password.reset").actor(&user).address(client.address)).await;
    // Whoever followed a link mailed to the account's current address reads
    // that mailbox: the address is proven (what relying parties such as
    // Gitea rely on to link accounts by e-mail).
    if !user.email_verified && recipient.as_deref() == Some(user.email.as_str()) {
        match state.store.set_email_verified(user.id, true, now).await {
            Ok(()) => {
                let entry = Entry::new("email.verified").actor(&user).detail(user.email.as_str());
                state.audit(entry.address(client.address)).await;
            }
            Err(e) => tracing::error!(error = %e, "could not record a verified address"),
        }
    }
    let body =
        format!("{}<p><a href=\"/signin\">{}</a></p>", notice_html(t(lang, "reset.done")), t(lang, "signin.title"));
    html_page(lang, t(lang, "reset.title"), body)
}
