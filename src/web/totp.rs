//! TOTP enrolment on the account page, and the second-factor check used by
//! the sign-in.
//!
//! Enrolment: a new 160-bit secret is sealed into the database as
//! "pending" and shown as an `otpauth://` URI and QR code; only a correct
//! code from the app turns it on, so a mistyped or unscanned secret can
//! never lock anyone out. Turning it on also hands out ten recovery codes,
//! shown once and stored as keyed hashes.
//!
//! Turning it on and turning it off both ask for the account password again
//! ([`confirm_password`]), as the password change does: otherwise whoever
//! holds a stolen session cookie could turn on a second factor of their own
//! and lock the owner out, or turn the owner's off. Starting an enrolment
//! needs no password: a pending secret changes nothing until confirmed.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;

use super::Client;
use super::account::{Reauth, confirm_password, page_for, require_session};
use super::csrf;
use super::form::{CsrfForm, SignedInForm};
use super::i18n::{Lang, t, tf};
use super::page::{button, error_html, escape, field, hidden, internal_error, see_other};
use super::session::WebSession;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::auth::totp::{SECRET_LEN, otpauth_uri, verify};
use crate::domain::{User, UserId};
use crate::store::StoreError;

const RECOVERY_CODES: usize = 10;
/// Lower-case letters and digits without the easily confused i, l, o, 1.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// What a second-factor entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Accepted {
        recovery_code: bool,
    },
    /// A correct code for a step already used: refused (RFC 6238 §5.2).
    Replayed,
    Wrong,
}

/// The associated data sealed with a user's secret: a sealed secret copied
/// to another user's row does not open.
fn context(user: UserId) -> String {
    format!("totp:{}", user.0)
}

/// Checks a TOTP code or a recovery code of `user`, spending it on success.
pub async fn verify_second_factor(state: &AppState, user: &User, code: &str) -> Result<SecondFactor, StoreError> {
    let Some(record) = state.store.totp(user.id).await?.filter(|r| r.enabled) else {
        return Ok(SecondFactor::Wrong);
    };
    let now = state.clock.now();
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() == crate::auth::totp::DIGITS as usize && compact.bytes().all(|b| b.is_ascii_digit()) {
        let secret = state.web.secretbox.open(&record.secret_sealed, &context(user.id))?;
        return Ok(match verify(&secret, &compact, now.timestamp()) {
            Some(step) if state.store.use_totp_step(user.id, step).await? => {
                SecondFactor::Accepted { recovery_code: false }
            }
            Some(_) => SecondFactor::Replayed,
            None => SecondFactor::Wrong,
        });
    }
    if compact.is_empty() || compact.len() > 64 {
        return Ok(SecondFactor::Wrong);
    }
    let hash = state.auth.recovery_code_hash(&compact);
    Ok(if state.store.use_recovery_code(user.id, &hash, now).await? {
        SecondFactor::Accepted { recovery_code: true }
    } else {
        SecondFactor::Wrong
    })
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` (50 random bits each).
fn recovery_codes() -> Result<Vec<String>, StoreError> {
    let mut bytes = [0u8; RECOVERY_CODES * 10];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes
        .chunks(10)
        .map(|chunk| {
            let s: String = chunk.iter().map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)])).collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TotpForm {
    csrf: String,
    action: String,
    code: String,
    password: String,
}

impl CsrfForm for TotpForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let session = match require_session(&state, &headers, "/account/totp").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    render(&state, lang, &session, None).await
}

async fn render(state: &AppState, lang: Lang, session: &WebSession, error: Option<&str>) -> Response {
    let record = match state.store.totp(session.user.id).await {
        Ok(r) => r,
        Err(e) => return internal_error(lang, &e),
    };
    let mut body = String::new();
    if let Some(error) = error {
        body.push_str(&error_html(error));
    }
    let csrf_field = csrf::form_field(state, session);
    match record {
        Some(r) if r.enabled => {
            let left = state.store.recovery_codes_left(session.user.id).await.unwrap_or(0);
            body.push_str(&format!("<p>{}</p>", t(lang, "totp.on")));
            body.push_str(&format!("<p>{}</p>", escape(&tf(lang, "totp.codes_left", &[&left.to_string()]))));
            body.push_str(&format!("<p>{}</p>", t(lang, "totp.basic_note")));
            body.push_str(&format!("<h2>{}</h2>", t(lang, "totp.disable_title")));
            body.push_str(r#"<form method="post" action="/account/totp">"#);
            body.push_str(&csrf_field);
            body.push_str(&hidden("action", "disable"));
            body.push_str(&password_field(lang));
            body.push_str(&button(t(lang, "totp.disable")));
            body.push_str("</form>");
        }
        Some(r) => {
            let secret = match state.web.secretbox.open(&r.secret_sealed, &context(session.user.id)) {
                Ok(s) => s,
                Err(e) => return internal_error(lang, &e),
            };
            let uri = otpauth_uri(state.brand.name(), session.user.username.as_str(), &secret);
            body.push_str(&format!("<p>{}</p>", t(lang, "totp.scan")));
            match qr_data_uri(&uri) {
                Some(src) => body.push_str(&format!(
                    r#"<p class="qr"><img src="{src}" alt="{}" width="224" height="224"></p>"#,
                    t(lang, "totp.qr_alt")
                )),
                None => tracing::warn!("could not draw the TOTP QR code"),
            }
            body.push_str(&format!(
                r#"<p>{}<br><span class="secret">{}</span></p>"#,
                t(lang, "totp.manual"),
                escape(&crate::auth::totp::base32(&secret))
            ));
            body.push_str(&format!(r#"<p><a href="{}">{}</a></p>"#, escape(&uri), t(lang, "totp.open_app")));
            body.push_str(r#"<form method="post" action="/account/totp">"#);
            body.push_str(&csrf_field);
            body.push_str(&hidden("action", "confirm"));
            body.push_str(&format!(
                r#"<p><label for="code">{}</label><br><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required></p>"#,
                t(lang, "field.code")
            ));
            body.push_str(&password_field(lang));
            body.push_str(&button(t(lang, "totp.confirm")));
            body.push_str("</form>");
        }
        None => {
            body.push_str(&format!("<p>{}</p>", t(lang, "totp.off")));
            body.push_str(r#"<form method="post" action="/account/totp">"#);
            body.push_str(&csrf_field);
            body.push_str(&hidden("action", "start"));
            body.push_str(&button(t(lang, "totp.start")));
            body.push_str("</form>");
        }
    }
    page_for(lang, t(lang, "totp.title"), state, session, body).await
}

/// The account password, asked again to turn two-step verification on or off.
fn password_field(lang: Lang) -> String {
    field("password", t(lang, "field.current_password"), "password", "current-password", "", true)
}

/// The QR code as an SVG `data:` URI (allowed by the CSP's `img-src data:`).
pub(super) fn qr_data_uri(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(224, 224).build();
    Some(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<TotpForm>,
) -> Response {
    let user = &session.user;
    match form.action.as_str() {
        "start" => {
            let mut secret = [0u8; SECRET_LEN];
            if let Err(e) = getrandom::getrandom(&mut secret) {
                return internal_error(lang, &e);
            }
            let sealed = match state.web.secretbox.seal(&secret, &context(user.id)) {
                Ok(s) => s,
                Err(e) => return internal_error(lang, &e),
            };
            match state.store.begin_totp(user.id, &sealed, state.clock.now()).await {
                Ok(_) => see_other("/account/totp"),
                Err(e) => internal_error(lang, &e),
            }
        }
        "confirm" => confirm(&state, lang, &session, &client, &form).await,
        "disable" => {
            if let Err(refused) = reauthenticate(&state, lang, &session, &client, &form, "totp.disable").await {
                return refused;
            }
            if let Err(e) = state.store.disable_totp(user.id, state.clock.now()).await {
                return internal_error(lang, &e);
            }
            state.audit(Entry::new("totp.disable").actor(user).address(client.address)).await;
            see_other("/account/totp")
        }
        _ => see_other("/account/totp"),
    }
}

/// The password check of [`confirm_password`] for a TOTP form: a wrong
/// password shows the page again with the reason.
async fn reauthenticate(
    state: &AppState,
    lang: Lang,
    session: &WebSession,
    client: &Client,
    form: &TotpForm,
    purpose: &str,
) -> Result<(), Response> {
    match confirm_password(state, lang, session, client, &form.password, purpose).await {
        Ok(()) => Ok(()),
        Err(Reauth::Wrong) => Err(render(state, lang, session, Some(t(lang, "password.wrong_current"))).await),
        Err(Reauth::Answer(response)) => Err(response),
    }
}

async fn confirm(state: &AppState, lang: Lang, session: &WebSession, client: &Client, form: &TotpForm) -> Response {
    let user = &session.user;
    let record = match state.store.totp(user.id).await {
        Ok(Some(r)) if !r.enabled => r,
        Ok(_) => return see_other("/account/totp"),
        Err(e) => return internal_error(lang, &e),
    };
    // The password before the code: the code proves the app was set up, the
    // password that the owner (not a borrowed session) is asking.
    if let Err(refused) = reauthenticate(state, lang, session, client, form, "totp.enable").await {
        return refused;
    }
    let secret = match state.web.secretbox.open(&record.secret_sealed, &context(user.id)) {
        Ok(s) => s,
        Err(e) => return internal_error(lang, &e),
    };
    let Some(step) = verify(&secret, &form.code, state.clock.now().timestamp()) else {
        return render(state, lang, session, Some(t(lang, "totp.wrong"))).await;
    };
    let codes = match recovery_codes() {
        Ok(c) => c,
        Err(e) => return internal_error(lang, &e),
    };
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| state.auth.recovery_code_hash(c)).collect();
    match state.store.enable_totp(user.id, step, &hashes, state.clock.now()).await {
        Ok(true) => {}
        Ok(false) => return see_other("/account/totp"),
        Err(e) => return internal_error(lang, &e),
    }
    state.audit(Entry::new("totp.enable").actor(user).address(client.address)).await;
    let mut body = format!(
        r#"<p class="notice" role="status">{}</p><p>{}</p><ul class="codes">"#,
        t(lang, "totp.enabled"),
        t(lang, "totp.recovery_intro")
    );
    for code in &codes {
        body.push_str(&format!("<li>{}</li>", escape(code)));
    }
    body.push_str("</ul>");
    body.push_str(&format!("<p>{}</p>", t(lang, "totp.basic_note")));
    body.push_str(&format!(r#"<p><a href="/account">{}</a></p>"#, t(lang, "nav.account")));
    page_for(lang, t(lang, "totp.recovery_title"), state, session, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_shaped() {
        let codes = recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
    }
}
