//! Sign-up requests: the account is created `pending` and cannot sign in
//! until an admin approves it; the page says so plainly, and the
//! administrators are told ([`super::notify`]). Every request that
//! would hash a password counts against a throttle per client address and
//! per requested name, checked before any hashing.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::Client;
use super::csrf::{self, signed_out_page};
use super::i18n::{Lang, t};
use super::notify;
use super::page::{
    button, csrf_failed, error_html, field, html_page, html_page_with_status, internal_error, notice_html, rate_limited,
};
use crate::accounts::{AccountError, NewAccount};
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::auth::{Attempt, AuthError};
use crate::domain::{Role, UserState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignUpForm {
    csrf: String,
    username: String,
    email: String,
    display_name: String,
    password: String,
    confirm: String,
}

pub async fn form(State(state): State<AppState>, headers: HeaderMap, client: Client) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.web.config.signup {
        return closed(lang);
    }
    render(&state, lang, &headers, &client, &SignUpForm::default(), None)
}

fn closed(lang: Lang) -> Response {
    html_page_with_status(StatusCode::NOT_FOUND, lang, t(lang, "signup.title"), error_html(t(lang, "signup.closed")))
}

fn render(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    client: &Client,
    values: &SignUpForm,
    error: Option<&str>,
) -> Response {
    signed_out_page(state, headers, client, lang, StatusCode::OK, t(lang, "signup.title"), |csrf_field| {
        let mut body = String::new();
        if let Some(error) = error {
            body.push_str(&error_html(error));
        }
        body.push_str(&format!("<p>{}</p>", t(lang, "signup.intro")));
        body.push_str(r#"<form method="post" action="/signup">"#);
        body.push_str(csrf_field);
        body.push_str(&field("username", t(lang, "field.username"), "text", "username", &values.username, true));
        body.push_str(&field("email", t(lang, "field.email"), "email", "email", &values.email, true));
        body.push_str(&field(
            "display_name",
            t(lang, "field.display_name"),
            "text",
            "name",
            &values.display_name,
            false,
        ));
        body.push_str(&field("password", t(lang, "field.password"), "password", "new-password", "", true));
        body.push_str(&field("confirm", t(lang, "field.confirm_password"), "password", "new-password", "", true));
        body.push_str(&button(t(lang, "signup.submit")));
        body.push_str("</form>");
        body.push_str(&format!(r#"<p><a href="/signin">{}</a></p>"#, t(lang, "signup.have_account")));
        body
    })
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<SignUpForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !state.web.config.signup {
        return closed(lang);
    }
    if !csrf::check_pre_session(&state, &headers, &client, &form.csrf) {
        return csrf_failed(lang);
    }
    // Before anything is hashed: argon2 is the expensive part.
    let attempt = Attempt::SignUp(&form.username);
    if let Err(AuthError::RateLimited { retry_after }) = state.auth.attempt_check(attempt, client.address) {
        return rate_limited(lang, retry_after);
    }
    if form.password != form.confirm {
        return render(&state, lang, &headers, &client, &form, Some(t(lang, "password.mismatch")));
    }
    let display_name = Some(form.display_name.trim().to_string()).filter(|n| !n.is_empty());
    let new = NewAccount {
        username: form.username.trim().to_string(),
        email: form.email.trim().to_string(),
        display_name,
        role: Role::Member,
        state: UserState::Pending,
        password: Some(form.password.clone()),
    };
    state.auth.attempt_record(attempt, client.address);
    match state.accounts.add_user(new).await {
        Ok(user) => {
            state.audit(Entry::new("signup.request").actor(&user).address(client.address)).await;
            notify::signup_requested(&state, lang);
            let body = format!(
                "{}<p>{}</p><p><a href=\"/signin\">{}</a></p>",
                notice_html(t(lang, "signup.received")),
                t(lang, "signup.pending_explained"),
                t(lang, "signin.title"),
            );
            html_page(lang, t(lang, "signup.received_title"), body)
        }
        // Sign-up must say a name is taken, or nobody could pick another;
        // the name alone (no e-mail, no state) is what it reveals.
        Err(AccountError::UserExists(_)) => {
            render(&state, lang, &headers, &client, &form, Some(t(lang, "signup.taken")))
        }
        Err(AccountError::Invalid(e)) => render(&state, lang, &headers, &client, &form, Some(&e.0)),
        Err(e) => internal_error(lang, &e),
    }
}
