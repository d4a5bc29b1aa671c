//! The account pages of a signed-in user: overview, password change, app
//! passwords, active sessions (device set-up is `devices`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::Client;
use super::csrf;
use super::form::{CsrfForm, SignedInForm};
use super::i18n::{Lang, t, tf};
use super::page::{
    button, error_html, escape, field, hidden, html_page, internal_error, notice_html, query_escape, rate_limited,
    see_other,
};
use super::session::{self, WebSession};
use crate::accounts::AccountError;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::auth::{AuthError, PasswordCheck};
use crate::domain::{AppPasswordId, Role};

/// The session, or a 303 to the sign-in page that comes back to `path`.
pub async fn require_session(state: &AppState, headers: &HeaderMap, path: &str) -> Result<WebSession, Response> {
    session::current(state, headers).await.ok_or_else(|| see_other(&format!("/signin?next={}", query_escape(path))))
}

/// A page of the account area: the navigation, then `body`. Administrators
/// also get a link to the administration pages and, while anyone waits for
/// approval, how many do — the sign-up requests' notice on every page they
/// see.
pub async fn page_for(lang: Lang, title: &str, state: &AppState, session: &WebSession, body: String) -> Response {
    let admin_links = if session.user.role == Role::Admin { admin_links(state, lang).await } else { String::new() };
    let nav = format!(
        r#"<nav class="account" aria-label="{}"><a href="/account">{}</a><a href="/account/password">{}</a><a href="/account/totp">{}</a><a href="/account/app-passwords">{}</a><a href="/account/sessions">{}</a><a href="/account/devices">{}</a>{admin_links}</nav>
<form class="inline" method="post" action="/signout">{}<button class="secondary" type="submit">{}</button></form>"#,
        t(lang, "nav.label"),
        t(lang, "nav.account"),
        t(lang, "nav.password"),
        t(lang, "nav.totp"),
        t(lang, "nav.app_passwords"),
        t(lang, "nav.sessions"),
        t(lang, "nav.devices"),
        csrf::form_field(state, session),
        t(lang, "nav.signout"),
    );
    html_page(lang, title, format!("{nav}\n{body}"))
}

/// The administration link, and the sign-up requests waiting, if any. A
/// failed count leaves the count out rather than failing the page.
async fn admin_links(state: &AppState, lang: Lang) -> String {
    let mut links = format!(r#"<a href="/admin">{}</a>"#, t(lang, "nav.admin"));
    match state.store.count_pending_users().await {
        Ok(0) => {}
        Ok(waiting) => links.push_str(&format!(
            r#"<a class="waiting" href="/admin#pending">{}</a>"#,
            escape(&tf(lang, "nav.signups", &[&waiting.to_string()]))
        )),
        Err(e) => tracing::warn!(error = %e, "could not count the sign-up requests"),
    }
    links
}

pub async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match require_session(&state, &headers, "/account").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let user = &session.user;
    let totp = match state.store.totp_enabled(user.id).await {
        Ok(on) => on,
        Err(e) => return internal_error(lang, &e),
    };
    let body = format!(
        "<p>{}</p><dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        escape(&tf(lang, "account.hello", &[&user.display_name])),
        t(lang, "field.username"),
        escape(user.username.as_str()),
        t(lang, "field.email"),
        escape(user.email.as_str()),
        t(lang, "account.role"),
        escape(user.role.as_str()),
        t(lang, "nav.totp"),
        if totp { t(lang, "totp.on_short") } else { t(lang, "totp.off_short") },
    );
    page_for(lang, t(lang, "account.title"), &state, &session, body).await
}

/// Why [`confirm_password`] did not confirm.
pub enum Reauth {
    /// The password was wrong: show the form again with
    /// `password.wrong_current`.
    Wrong,
    /// Throttled (429) or the check failed (500): send this instead.
    Answer(Response),
}

/// Asks for the account password again before a change that a stolen
/// session must not be able to make (a new password, two-step verification
/// on or off), as the sign-in does: through the [`crate::auth::Authenticator`],
/// so a wrong password counts against the same throttle as a failed sign-in
/// and a throttled account or address gets 429. A wrong password is audited
/// as `reauth.failure` with `purpose` (the action it was for) as detail.
pub async fn confirm_password(
    state: &AppState,
    lang: Lang,
    session: &WebSession,
    client: &Client,
    password: &str,
    purpose: &str,
) -> Result<(), Reauth> {
    let user = &session.user;
    match state.auth.verify_account_password(user.username.as_str(), password, client.address).await {
        Ok(PasswordCheck::Active(_)) => Ok(()),
        // A session of an account that is no longer active is refused
        // before any handler runs; should one slip through, it proves nothing.
        Ok(PasswordCheck::NotActive(_)) | Err(AuthError::InvalidCredentials) => {
            let entry = Entry::new("reauth.failure").actor(user).detail(purpose).address(client.address);
            state.audit(entry).await;
            Err(Reauth::Wrong)
        }
        Err(AuthError::RateLimited { retry_after }) => Err(Reauth::Answer(rate_limited(lang, retry_after))),
        Err(AuthError::Unavailable(e)) => Err(Reauth::Answer(internal_error(lang, &e))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

impl CsrfForm for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn password_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    match require_session(&state, &headers, "/account/password").await {
        Ok(session) => render_password(&state, lang, &session, None).await,
        Err(r) => r,
    }
}

async fn render_password(
    state: &AppState,
    lang: Lang,
    session: &WebSession,
    message: Option<Result<&str, &str>>,
) -> Response {
    let mut body = String::new();
    match message {
        Some(Ok(notice)) => body.push_str(&notice_html(notice)),
        Some(Err(error)) => body.push_str(&error_html(error)),
        None => {}
    }
    body.push_str(&format!("<p>{}</p>", t(lang, "password.intro")));
    body.push_str(r#"<form method="post" action="/account/password">"#);
    body.push_str(&csrf::form_field(state, session));
    body.push_str(&field("current", t(lang, "field.current_password"), "password", "current-password", "", true));
    body.push_str(&field("new", t(lang, "field.new_password"), "password", "new-password", "", true));
    body.push_str(&field("confirm", t(lang, "field.confirm_password"), "password", "new-password", "", true));
    body.push_str(&button(t(lang, "password.submit")));
    body.push_str("</form>");
    page_for(lang, t(lang, "password.title"), state, session, body).await
}

pub async fn password_submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<PasswordForm>,
) -> Response {
    let user = &session.user;
    match confirm_password(&state, lang, &session, &client, &form.current, "password.change").await {
        Ok(()) => {}
        Err(Reauth::Wrong) => {
            return render_password(&state, lang, &session, Some(Err(t(lang, "password.wrong_current")))).await;
        }
        Err(Reauth::Answer(response)) => return response,
    }
    if form.new != form.confirm {
        return render_password(&state, lang, &session, Some(Err(t(lang, "password.mismatch")))).await;
    }
    // Whoever else was signed in with the old password is signed out; the
    // browser that made the change stays in.
    match state.accounts.set_password(user.username.as_str(), &form.new, Some(session.id)).await {
        Ok(_) => {}
        Err(AccountError::Invalid(e)) => return render_password(&state, lang, &session, Some(Err(&e.0))).await,
        Err(e) => return internal_error(lang, &e),
    }
    state.audit(Entry::new("password.change").actor(user).address(client.address)).await;
    render_password(&state, lang, &session, Some(Ok(t(lang, "password.changed")))).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppPasswordForm {
    csrf: String,
    action: String,
    label: String,
    id: String,
}

impl CsrfForm for AppPasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn app_passwords(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    match require_session(&state, &headers, "/account/app-passwords").await {
        Ok(session) => render_app_passwords(&state, lang, &session, String::new()).await,
        Err(r) => r,
    }
}

async fn render_app_passwords(state: &AppState, lang: Lang, session: &WebSession, top: String) -> Response {
    let list = match state.store.app_passwords(session.user.id).await {
        Ok(list) => list,
        Err(e) => return internal_error(lang, &e),
    };
    let csrf_field = csrf::form_field(state, session);
    let mut body = top;
    body.push_str(&format!("<p>{}</p>", t(lang, "app_passwords.intro")));
    if list.is_empty() {
        body.push_str(&format!("<p>{}</p>", t(lang, "app_passwords.none")));
    } else {
        body.push_str(&format!(
            "<table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"><span class=\"skip\">{}</span></th></tr></thead><tbody>",
            t(lang, "app_passwords.label"),
            t(lang, "app_passwords.created"),
            t(lang, "app_passwords.last_used"),
            t(lang, "app_passwords.revoke"),
        ));
        for app in &list {
            let last = app.last_used_at.map_or_else(|| t(lang, "app_passwords.never").to_string(), date);
            body.push_str(&format!(
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td><form class="inline" method="post" action="/account/app-passwords">{csrf_field}{}{}<button class="secondary" type="submit" aria-label="{}">{}</button></form></td></tr>"#,
                escape(&app.label),
                date(app.created_at),
                escape(&last),
                hidden("action", "revoke"),
                hidden("id", &app.id.0.to_string()),
                escape(&tf(lang, "app_passwords.revoke_named", &[&app.label])),
                t(lang, "app_passwords.revoke"),
            ));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&format!("<h2>{}</h2>", t(lang, "app_passwords.create_title")));
    body.push_str(r#"<form method="post" action="/account/app-passwords">"#);
    body.push_str(&csrf_field);
    body.push_str(&hidden("action", "create"));
    body.push_str(&field("label", t(lang, "app_passwords.label"), "text", "off", "", true));
    body.push_str(&button(t(lang, "app_passwords.create")));
    body.push_str("</form>");
    page_for(lang, t(lang, "app_passwords.title"), state, session, body).await
}

pub async fn app_passwords_submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<AppPasswordForm>,
) -> Response {
    let user = &session.user;
    match form.action.as_str() {
        "create" => match state.accounts.add_app_password(user.username.as_str(), &form.label).await {
            Ok((created, secret)) => {
                let entry = Entry::new("app_password.create").actor(user).target(&created.label);
                state.audit(entry.address(client.address)).await;
                let top = format!(
                    r#"<p class="notice" role="status">{}</p><p><span class="secret">{}</span></p><p>{}</p>"#,
                    escape(&tf(lang, "app_passwords.created_notice", &[&created.label])),
                    escape(&secret),
                    t(lang, "app_passwords.shown_once"),
                );
                render_app_passwords(&state, lang, &session, top).await
            }
            Err(AccountError::Invalid(e)) => render_app_passwords(&state, lang, &session, error_html(&e.0)).await,
            Err(e) => internal_error(lang, &e),
        },
        "revoke" => {
            let Ok(id) = form.id.parse::<i64>() else { return see_other("/account/app-passwords") };
            match state.accounts.revoke_app_password(user.username.as_str(), AppPasswordId(id)).await {
                Ok(()) => {
                    let entry = Entry::new("app_password.revoke").actor(user).target(id.to_string());
                    state.audit(entry.address(client.address)).await;
                    see_other("/account/app-passwords")
                }
                Err(AccountError::NoSuchAppPassword(_)) => see_other("/account/app-passwords"),
                Err(e) => internal_error(lang, &e),
            }
        }
        _ => see_other("/account/app-passwords"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionsForm {
    csrf: String,
    action: String,
    id: String,
}

impl CsrfForm for SessionsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn sessions(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match require_session(&state, &headers, "/account/sessions").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match state.store.web_sessions(session.user.id).await {
        Ok(list) => list,
        Err(e) => return internal_error(lang, &e),
    };
    let csrf_field = csrf::form_field(&state, &session);
    let mut body = format!(
        "<table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"><span class=\"skip\">{}</span></th></tr></thead><tbody>",
        t(lang, "sessions.device"),
        t(lang, "sessions.address"),
        t(lang, "sessions.signed_in"),
        t(lang, "sessions.last_seen"),
        t(lang, "sessions.revoke"),
    );
    for s in &list {
        let current = s.id == session.id;
        let device = if s.user_agent.is_empty() { "—".to_string() } else { s.user_agent.clone() };
        let action = if current {
            format!("<strong>{}</strong>", t(lang, "sessions.current"))
        } else {
            format!(
                r#"<form class="inline" method="post" action="/account/sessions">{csrf_field}{}{}<button class="secondary" type="submit">{}</button></form>"#,
                hidden("action", "revoke"),
                hidden("id", &s.id.to_string()),
                t(lang, "sessions.revoke"),
            )
        };
        body.push_str(&format!(
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            if current { r#" aria-current="true""# } else { "" },
            escape(&device),
            escape(&s.address),
            date(s.created_at),
            date(s.last_seen_at),
        ));
    }
    body.push_str("</tbody></table>");
    if list.len() > 1 {
        body.push_str(r#"<form method="post" action="/account/sessions">"#);
        body.push_str(&csrf_field);
        body.push_str(&hidden("action", "revoke_others"));
        body.push_str(&button(t(lang, "sessions.revoke_others")));
        body.push_str("</form>");
    }
    page_for(lang, t(lang, "sessions.title"), &state, &session, body).await
}

pub async fn sessions_submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<SessionsForm>,
) -> Response {
    let user = &session.user;
    let result = match form.action.as_str() {
        "revoke" => match form.id.parse::<i64>() {
            Ok(id) => state.store.delete_web_session(user.id, id).await.map(|()| id.to_string()),
            Err(_) => return see_other("/account/sessions"),
        },
        "revoke_others" => state
            .store
            .delete_web_sessions_except(user.id, Some(session.id))
            .await
            .map(|n| format!("{n} other sessions")),
        _ => return see_other("/account/sessions"),
    };
    match result {
        Ok(target) => {
            state.audit(Entry::new("session.revoke").actor(user).target(target).address(client.address)).await;
            // Revoking the current session from here is signing out.
            let location = if form.id == session.id.to_string() { "/signin" } else { "/account/sessions" };
            see_other(location)
        }
        Err(crate::store::StoreError::NotFound) => see_other("/account/sessions"),
        Err(e) => internal_error(lang, &e),
    }
}

/// A timestamp as people read it (UTC; no script to localise it).
fn date(d: chrono::DateTime<chrono::Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}
