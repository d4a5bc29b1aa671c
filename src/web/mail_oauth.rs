//! `GET /mail/oauth/callback`: where a mail provider sends the browser back after the user
//! consented (RFC 6749 §4.1.2), for linking an account with OAuth (`mail::oauth`).
//!
//! A browser door, not a JSON API route: the provider's redirect is a cross-site navigation,
//! which the API's session check refuses by design. What protects it instead is the flow's
//! `state`, which only the browser that started the flow has, bound to the signed-in user who
//! started it (RFC 6749 §10.12). The answer is always a redirect back into the web client's
//! mail view, with what happened in the fragment (never sent to a server, never logged).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

use crate::app::state::AppState;
use crate::audit::Entry;
use crate::mail::MailError;
use crate::web::account::require_session;
use crate::web::page::see_other;

/// The provider's answer (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Debug, Deserialize)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

pub async fn callback(State(state): State<AppState>, parts: Parts, Query(q): Query<Callback>) -> Response {
    let headers: &HeaderMap = &parts.headers;
    // Signed out meanwhile: sign in, then come back here with the same answer (the flow is
    // only used once it is read below).
    let here = parts.uri.path_and_query().map_or("/mail/oauth/callback", |p| p.as_str());
    let session = match require_session(&state, headers, here).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(flow_state) = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 256) else {
        return back_with_error("the provider's answer has no state: start again");
    };
    let error = q.error.as_deref().map(|e| e.chars().filter(|c| c.is_ascii_graphic()).take(64).collect::<String>());
    match state.mail.oauth_finish(session.user.id, flow_state, q.code.as_deref(), error.as_deref()).await {
        Ok(account) => {
            let entry = Entry::new("mail.account.oauth")
                .actor(&session.user)
                .address(crate::http::auth::client_address_of(&parts, &state))
                .target(format!("mail account {} ({}) via {}", account.id, account.email, {
                    account.oauth_provider.as_deref().unwrap_or_default()
                }));
            state.audit(entry).await;
            see_other(&format!("/#/mail?linked={}", account.id))
        }
        Err(MailError::TestFailed(report)) => {
            let failed = [&report.imap, &report.smtp].into_iter().find_map(|r| r.failure.clone());
            let text = failed.map_or_else(|| "the connection test failed".to_string(), |f| f.message);
            back_with_error(&format!("the connection test failed: {text}"))
        }
        Err(e) => {
            tracing::info!(user = session.user.id.0, error = %e, "mail OAuth callback refused");
            back_with_error(&e.to_string())
        }
    }
}

/// Back to the mail view, the reason in the fragment for the client to show.
fn back_with_error(text: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    see_other(&format!("/#/mail?oauth_error={encoded}"))
}
