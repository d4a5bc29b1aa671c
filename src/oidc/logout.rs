//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2, §3).
//!
//! Gitea 1.26 sends `client_id` and `post_logout_redirect_uri` without an
//! `id_token_hint`; that is accepted. The redirect goes only to a URI
//! registered for that client, compared exactly; anything else is shown on
//! a page. Without a hint that names the signed-in user, §2 requires asking
//! the user before signing them out (otherwise any site could sign people
//! out with a link), so a confirmation form is shown; with a matching hint,
//! or with nobody signed in, the browser goes straight back.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::authorize::{error_page, parse_params, redirect, with_query};
use crate::app::state::AppState;
use crate::web::Client;
use crate::web::i18n::Lang;
use crate::web::page::{escape, hidden, html_page_with_status};
use crate::web::session;

/// A checked logout request.
struct LogoutRequest {
    /// Where to go afterwards, with `state` added; `None`: our own page.
    target: Option<String>,
    /// The hint's `sub`, when it carried a valid signature of ours.
    hint_subject: Option<String>,
    params: HashMap<String, String>,
}

async fn check(state: &AppState, params: HashMap<String, String>) -> Result<LogoutRequest, (&'static str, String)> {
    let oidc = &state.oidc;
    // §2: a hint that is ours, even expired. A hint we cannot verify is
    // ignored rather than trusted.
    let hint = match params.get("id_token_hint") {
        Some(hint) => oidc.id_token_hint(hint).await,
        None => None,
    };
    let (hint_subject, hint_client) = hint.map(|h| (h.subject, h.client_id)).unwrap_or_default();
    let client_id = match (params.get("client_id"), hint_client) {
        (Some(a), Some(b)) if *a != b => {
            return Err(("invalid_request", "client_id does not match the id_token_hint".into()));
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b,
    };
    let target = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client_id) = client_id else {
                return Err(("invalid_request", "post_logout_redirect_uri needs client_id or id_token_hint".into()));
            };
            let client = match oidc.store.oauth_client(&client_id).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(("invalid_client", format!("no application `{client_id}` is registered"))),
                Err(e) => {
                    tracing::error!(error = %e, "reading an OAuth client");
                    return Err(("server_error", "the server could not read the application".into()));
                }
            };
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err((
                    "invalid_request",
                    format!("`{uri}` is not a registered post-logout redirect URI of `{client_id}`"),
                ));
            }
            let mut extra = Vec::new();
            if let Some(s) = params.get("state") {
                extra.push(("state", s.as_str()));
            }
            Some(with_query(uri, &extra))
        }
    };
    Ok(LogoutRequest { target, hint_subject, params })
}

fn go(target: Option<&str>, lang: Lang, posted: bool) -> Response {
    match target {
        Some(uri) => redirect(uri, posted),
        None => {
            let product = crate::web::page::brand().name().to_string();
            let (title, text) = match lang {
                Lang::Ko => ("로그아웃됨", format!("{product}에서 로그아웃했습니다.")),
                Lang::En => ("Signed out", format!("You are signed out of {product}.")),
            };
            html_page_with_status(StatusCode::OK, lang, title, format!("<p>{}</p>", escape(&text)))
        }
    }
}

pub async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    RawQuery(query): RawQuery,
) -> Response {
    logout(&state, &headers, &client, query.unwrap_or_default().as_bytes(), false).await
}

pub async fn logout_post(State(state): State<AppState>, headers: HeaderMap, client: Client, body: Bytes) -> Response {
    logout(&state, &headers, &client, &body, true).await
}

async fn logout(state: &AppState, headers: &HeaderMap, client: &Client, raw: &[u8], posted: bool) -> Response {
    let lang = Lang::from_headers(headers);
    let params = match parse_params(raw) {
        Ok((map, _)) => map,
        Err(m) => return error_page(lang, "invalid_request", &m),
    };
    let request = match check(state, params).await {
        Ok(r) => r,
        Err((code, message)) => return error_page(lang, code, &message),
    };
    let Some(session) = session::current(state, headers).await else {
        return go(request.target.as_deref(), lang, posted);
    };
    let decision = request.params.get("decision").map(String::as_str);
    let confirmed = match decision {
        Some(d) => {
            let submitted = request.params.get(crate::web::csrf::FIELD).map(String::as_str).unwrap_or_default();
            if !posted || !crate::web::csrf::check(state, &session, submitted) {
                return crate::web::page::csrf_failed(lang);
            }
            if d != "signout" {
                return go(request.target.as_deref(), lang, posted);
            }
            true
        }
        None => match (&request.hint_subject, state.store.user_subject(session.user.id).await) {
            (Some(hint), Ok(subject)) => *hint == subject,
            _ => false,
        },
    };
    if !confirmed {
        return confirmation_page(state, lang, &request, &session);
    }
    match session::end(state, &session, client).await {
        Ok(cookie) => {
            state.audit(crate::audit::Entry::new("signout").actor(&session.user).detail("oidc logout")).await;
            let mut response = go(request.target.as_deref(), lang, posted);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => crate::web::page::internal_error(lang, &e),
    }
}

fn confirmation_page(state: &AppState, lang: Lang, request: &LogoutRequest, s: &session::WebSession) -> Response {
    let product = state.brand.name();
    let (title, question, yes, no) = match lang {
        Lang::Ko => ("로그아웃", format!("{product}에서도 로그아웃할까요?"), "로그아웃", "로그인 유지"),
        Lang::En => ("Sign out", format!("Do you also want to sign out of {product}?"), "Sign out", "Stay signed in"),
    };
    let mut fields = String::new();
    for name in ["client_id", "post_logout_redirect_uri", "state"] {
        if let Some(v) = request.params.get(name) {
            fields.push_str(&hidden(name, v));
        }
    }
    let body = format!(
        r#"<p>{question} (<strong>{user}</strong>)</p>
<form method="post" action="/oauth2/logout">
{csrf}{fields}
<p><button type="submit" name="decision" value="signout">{yes}</button>
<button type="submit" name="decision" value="stay">{no}</button></p>
</form>"#,
        question = escape(&question),
        user = escape(s.user.username.as_str()),
        csrf = crate::web::csrf::form_field(state, s),
        yes = escape(yes),
        no = escape(no),
    );
    let mut response = html_page_with_status(StatusCode::OK, lang, title, body);
    // As on the consent page: the answer redirects to the client.
    if let Some(target) = request.target.as_deref() {
        crate::web::page::allow_form_redirect(&mut response, target);
    }
    response
}
