//! The account page that sets up a device (`/account/devices`): the mail settings to type by
//! hand, and the Apple configuration profile made for one named device.
//!
//! The profile is the answer to the page's POST (signed in, CSRF-checked through
//! [`SignedInForm`]): a new app password labelled with the device's name is created through
//! `accounts` exactly as on the app-password page (listed there, revocable, audited as
//! `app_password.create` with detail `apple-profile`), then written into the profile by
//! `crate::devices::profile` — why the password is in it is explained there. Nothing is kept
//! to serve the file again; the response is `no-store`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Client;
use super::account::{page_for, require_session};
use super::csrf;
use super::form::{CsrfForm, SignedInForm};
use super::i18n::{Lang, t, tf};
use super::page::{button, error_html, escape, field, internal_error};
use super::session::WebSession;
use crate::accounts::AccountError;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::devices::profile::{self, DavServer, MailAccount, Profile};
use crate::devices::{Endpoint, MailEndpoints, Security};
use crate::modules::{Module, ModuleStates};
use crate::store::mail::MailAccountRow;

/// The most linked accounts one profile sets up.
const MAX_MAIL_ACCOUNTS: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeviceForm {
    csrf: String,
    device: String,
}

impl CsrfForm for DeviceForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// What this user can set up now.
struct Offer {
    modules: ModuleStates,
    /// The listeners, when mail apps can connect (listeners configured, mail module on).
    mail: Option<MailEndpoints>,
    accounts: Vec<MailAccountRow>,
}

async fn offer(state: &AppState, session: &WebSession) -> Result<Offer, crate::store::StoreError> {
    let modules = state.modules.states().await?;
    let mail = if modules.is_on(Module::Mail) { MailEndpoints::from_config(&state.mailproxy) } else { None };
    let accounts = if mail.is_some() { state.store.mail_accounts(session.user.id).await? } else { Vec::new() };
    Ok(Offer { modules, mail, accounts })
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    match require_session(&state, &headers, "/account/devices").await {
        Ok(session) => render(&state, lang, &session, String::new()).await,
        Err(r) => r,
    }
}

async fn render(state: &AppState, lang: Lang, session: &WebSession, top: String) -> Response {
    let offer = match offer(state, session).await {
        Ok(o) => o,
        Err(e) => return internal_error(lang, &e),
    };
    let mut body = top;
    body.push_str(&format!("<p>{}</p>", t(lang, "devices.intro")));
    body.push_str(&format!("<h2>{}</h2>", t(lang, "devices.mail_title")));
    match &offer.mail {
        None => body.push_str(&format!("<p>{}</p>", t(lang, "devices.mail_off"))),
        Some(endpoints) => {
            if offer.accounts.is_empty() {
                body.push_str(&format!("<p>{}</p>", t(lang, "devices.no_linked")));
            }
            body.push_str(&format!("<p>{}</p><p>{}</p>", t(lang, "devices.mail_auto"), t(lang, "devices.mail_manual")));
            let address = offer.accounts.first().map_or(session.user.email.as_str(), |a| a.email.as_str());
            let login = tf(lang, "devices.login_forms", &[address, session.user.username.as_str()]);
            body.push_str(&format!(
                "<dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
                t(lang, "devices.incoming"),
                servers(lang, &endpoints.imap),
                t(lang, "devices.outgoing"),
                servers(lang, &endpoints.smtp),
                t(lang, "devices.login"),
                escape(&login),
                t(lang, "devices.password"),
                t(lang, "devices.password_hint"),
            ));
        }
    }
    body.push_str(&format!("<h2>{}</h2>", t(lang, "devices.apple_title")));
    if !offer.modules.calendar && !offer.modules.contacts && (offer.mail.is_none() || offer.accounts.is_empty()) {
        body.push_str(&format!("<p>{}</p>", t(lang, "devices.nothing")));
    } else {
        body.push_str(&format!("<p>{}</p>", t(lang, "devices.apple_intro")));
        body.push_str(r#"<form method="post" action="/account/devices">"#);
        body.push_str(&csrf::form_field(state, session));
        body.push_str(&field("device", t(lang, "devices.device"), "text", "off", "", true));
        body.push_str(&button(t(lang, "devices.download")));
        body.push_str("</form>");
        body.push_str(&format!("<p>{}</p>", t(lang, "devices.apple_after")));
        // The profile itself has no URL (it holds a password); the code opens this page on the
        // phone, which signs in there and downloads its own.
        let page_url = format!("{}account/devices", state.web.config.public_url);
        if let Some(src) = super::totp::qr_data_uri(&page_url) {
            body.push_str(&format!(
                r#"<p>{}</p><p class="qr"><img src="{src}" alt="{}" width="224" height="224"></p>"#,
                t(lang, "devices.qr_hint"),
                escape(&page_url),
            ));
        }
    }
    page_for(lang, t(lang, "devices.title"), state, session, body).await
}

/// `host:port (security)` for each listener, best first.
fn servers(lang: Lang, list: &[Endpoint]) -> String {
    list.iter()
        .map(|e| {
            let security = match e.security {
                Security::Tls => t(lang, "devices.security_tls"),
                Security::StartTls => t(lang, "devices.security_starttls"),
            };
            format!("<code>{}</code> {} ({security})", escape(&e.host), e.port)
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The CalDAV/CardDAV server as devices reach it: the web's public URL.
fn dav_server(public_url: &str, username: &str) -> Option<DavServer> {
    let base = url::Url::parse(public_url).ok()?;
    let host = base.host_str()?.to_string();
    let port = base.port_or_known_default()?;
    let principal = crate::collections::href::principal_href(username);
    // Joined to the public URL, so a path prefix in front of Madang is kept.
    let principal_url = base.join(principal.trim_start_matches('/')).ok()?.to_string();
    Some(DavServer { host, port, tls: base.scheme() == "https", principal_url })
}

/// A file name for the profile: the device's name in ASCII letters, digits and hyphens.
fn file_name(device: &str) -> String {
    let mut slug = String::new();
    for c in device.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    if slug.is_empty() { "madang.mobileconfig".into() } else { format!("madang-{slug}.mobileconfig") }
}

/// POST `/account/devices`: a new app password for the named device, in a profile.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    SignedInForm { session, lang, form }: SignedInForm<DeviceForm>,
) -> Response {
    let user = &session.user;
    let offer = match offer(&state, &session).await {
        Ok(o) => o,
        Err(e) => return internal_error(lang, &e),
    };
    let (created, password) = match state.accounts.add_app_password(user.username.as_str(), &form.device).await {
        Ok(made) => made,
        Err(AccountError::Invalid(e)) => return render(&state, lang, &session, error_html(&e.0)).await,
        Err(e) => return internal_error(lang, &e),
    };
    let entry = Entry::new("app_password.create").actor(user).target(&created.label).detail("apple-profile");
    state.audit(entry.address(client.address)).await;

    let public_url = &state.web.config.public_url;
    let dav = dav_server(public_url, user.username.as_str());
    let web_host = dav.as_ref().map_or("", |d| d.host.as_str());
    let accounts: Vec<MailAccount> = offer
        .accounts
        .iter()
        .take(MAX_MAIL_ACCOUNTS)
        .map(|a| MailAccount {
            address: a.email.clone(),
            name: if a.display_name.trim().is_empty() { user.display_name.clone() } else { a.display_name.clone() },
        })
        .collect();
    let mail = offer.mail.as_ref().filter(|_| !accounts.is_empty()).map(|e| (e, accounts.as_slice()));
    let document = profile::write(&Profile {
        identifier: profile::identifier(web_host, user.id.0, &created.label),
        organization: state.brand.name(),
        device: &created.label,
        username: user.username.as_str(),
        password: &password,
        mail,
        caldav: dav.as_ref().filter(|_| offer.modules.calendar),
        carddav: dav.as_ref().filter(|_| offer.modules.contacts),
    });
    let document = match document {
        Ok(d) => d,
        Err(e) => return internal_error(lang, &e),
    };
    let disposition = format!("attachment; filename=\"{}\"", file_name(&created.label));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/x-apple-aspen-config")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            // It holds a password: never kept by a browser or a proxy.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        document,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain_ascii() {
        assert_eq!(file_name("Kim's iPhone 15"), "madang-kim-s-iphone-15.mobileconfig");
        assert_eq!(file_name("김의 아이폰"), "madang.mobileconfig");
        assert_eq!(file_name("--Mac--"), "madang-mac.mobileconfig");
    }

    #[test]
    fn dav_servers_keep_the_public_urls_path() {
        let d = dav_server("https://example.com/madang/", "kim").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.tls), ("example.com", 443, true));
        assert_eq!(d.principal_url, "https://example.com/madang/dav/principals/kim/");
        let d = dav_server("http://127.0.0.1:8080/", "kim").unwrap();
        assert_eq!((d.port, d.tls), (8080, false));
    }
}
