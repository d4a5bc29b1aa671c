//! The web client's door: the HTML shell at `/` for a signed-in browser, and the client's
//! files (`client/`, embedded by `build.rs`) at content-hashed URLs under `/assets/`.
//!
//! Design. The client is plain ES modules that talk only to the public JSON API (`/api/v1`)
//! with the web session cookie, so this door does no more than hand out one HTML document
//! and static files. The document is rendered here rather than shipped as a file because it
//! carries what only the server knows: the language (the `lang` cookie, then
//! `Accept-Language`, as the server-rendered pages choose it), the product name, the
//! sign-out form's CSRF token, whether the administration link is shown, and the import map.
//!
//! Modules import each other by relative paths (`./api.js`), which resolve to unhashed URLs
//! (`/assets/api.js`); the inline import map sends each of those to the file's hashed URL,
//! so a module's URL changes with its content while its source stays readable and needs no
//! build step. The import map is the page's only inline script; the CSP allows exactly it by
//! its SHA-256 (CSP 3 §8.4) and otherwise keeps the server-rendered pages' policy.
//!
//! FullCalendar (vendored in `client/vendor/fullcalendar/`) injects its CSS by creating one
//! empty `<style data-fullcalendar>` element and filling it through the CSSOM
//! (`sheet.insertRule`), which CSP does not govern; the empty element itself is an inline
//! style whose content is the empty string, so the policy allows the hash of the empty
//! string ([`EMPTY_STYLE_HASH`]) and nothing else inline.
//!
//! Navigation works without JavaScript for everything the server renders (account,
//! administration, sign-out); the client's own views need it and say so in `<noscript>`.

pub mod assets;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use sha2::Digest;

use crate::app::state::AppState;
use crate::domain::Role;
use crate::web::i18n::Lang;
use crate::web::page::{escape, see_other};

/// `'sha256-…'` of the empty string: the empty `<style>` FullCalendar creates (see the
/// module documentation).
pub const EMPTY_STYLE_HASH: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// The client's routes. Merged into [`crate::app::app`]: `GET /` here, every other method on
/// `/` stays the DAV root's.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(shell)).route("/assets/{*path}", get(assets::serve))
}

/// The import map: every module, catalogue and stylesheet by its unhashed URL, plus bare
/// names for the vendored libraries.
struct ImportMap {
    json: String,
    /// `sha256-…` of `json`, for the CSP.
    hash: String,
}

fn import_map() -> &'static ImportMap {
    static MAP: OnceLock<ImportMap> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut imports = serde_json::Map::new();
        for asset in assets::ASSETS {
            if [".js", ".json", ".css"].iter().any(|ext| asset.path.ends_with(ext)) {
                imports.insert(format!("/assets/{}", asset.path), asset.url.into());
            }
        }
        for (bare, path) in VENDORED {
            if let Some(asset) = assets::by_path(path) {
                imports.insert(bare.to_string(), asset.url.into());
            }
        }
        let json = serde_json::json!({ "imports": imports }).to_string();
        // `</script>` cannot occur: URLs are ours and JSON escapes nothing into `<`, but the
        // map is inline HTML, so make sure.
        let json = json.replace('<', "\\u003c");
        let digest = sha2::Sha256::digest(json.as_bytes());
        let hash = format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest));
        ImportMap { json, hash }
    })
}

/// Bare names of the vendored libraries (`import.meta.resolve('fullcalendar')` gives the
/// hashed URL of the classic script to load).
const VENDORED: &[(&str, &str)] = &[("fullcalendar", "vendor/fullcalendar/index.global.min.js")];

/// The shell's Content-Security-Policy: the server-rendered pages' policy, plus the client's
/// own scripts, the import map by hash, API calls and the push channel to this origin.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src 'self' '{}'; style-src 'self' '{EMPTY_STYLE_HASH}'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        import_map().hash
    )
}

/// The client's catalogue (`client/i18n/<lang>.json`) for the few strings the shell renders.
fn catalogue(lang: Lang) -> &'static HashMap<String, String> {
    static EN: OnceLock<HashMap<String, String>> = OnceLock::new();
    static KO: OnceLock<HashMap<String, String>> = OnceLock::new();
    let (cell, path) = match lang {
        Lang::En => (&EN, "i18n/en.json"),
        Lang::Ko => (&KO, "i18n/ko.json"),
    };
    cell.get_or_init(|| assets::by_path(path).and_then(|a| serde_json::from_slice(a.identity).ok()).unwrap_or_default())
}

/// The text of `key` in `lang`, English if missing there, the key itself if missing
/// everywhere (`tests/client.rs` checks that the shell's keys exist in both).
fn text(lang: Lang, key: &str) -> String {
    catalogue(lang).get(key).or_else(|| catalogue(Lang::En).get(key)).cloned().unwrap_or_else(|| key.to_string())
}

/// Keys of the client catalogue the shell uses.
pub const SHELL_KEYS: &[&str] = &[
    "shell.skip",
    "shell.nav",
    "nav.calendar",
    "nav.tasks",
    "nav.contacts",
    "nav.chat",
    "shell.loading",
    "shell.noscript",
];

/// `<link>`s for the stylesheets at the top of `client/`: `client.css` first (the frame), then
/// the others (a view's own, e.g. `views.css`) by name. `/brand.css` comes after them all, so
/// the brand's custom properties win.
fn stylesheets() -> String {
    let mut sheets: Vec<&assets::Asset> =
        assets::ASSETS.iter().filter(|a| a.path.ends_with(".css") && !a.path.contains('/')).collect();
    sheets.sort_by_key(|a| (a.path != "client.css", a.path));
    sheets.iter().map(|a| format!("<link rel=\"stylesheet\" href=\"{}\">\n", a.url)).collect()
}

/// `GET /`: the shell for a signed-in browser; anyone else is sent to sign in and back here.
pub async fn shell(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = crate::web::session::current(&state, &headers).await else {
        let mut response = see_other("/signin?next=/");
        crate::web::page::apply_security_headers(response.headers_mut());
        return response;
    };
    let lang = Lang::from_headers(&headers);
    let web = |key: &'static str| crate::web::i18n::t(lang, key);
    let tx = |key: &str| escape(&text(lang, key));
    let admin = if session.user.role == Role::Admin {
        format!(r#"<li><a href="/admin">{}</a></li>"#, web("nav.admin"))
    } else {
        String::new()
    };
    let product = escape(state.brand.name());
    let logo = state.brand.logo_img();
    // A module that is off is left out here already, so it is gone without JavaScript too
    // (app.js also hides what `/api/v1/me` says is off). A failed read shows everything: the
    // routes themselves still refuse what is off.
    let states = state.modules.states().await.ok();
    let on = |m: crate::modules::Module| states.as_ref().is_none_or(|s| s.is_on(m));
    let item = |module: crate::modules::Module, view: &str, label: &str| {
        if on(module) {
            format!(r##"<li><a href="#/{view}" data-view="{view}" data-module="{}">{label}</a></li>"##, module.name())
        } else {
            String::new()
        }
    };
    let calendar_item = item(crate::modules::Module::Calendar, "calendar", &tx("nav.calendar"));
    let tasks_item = item(crate::modules::Module::Calendar, "tasks", &tx("nav.tasks"));
    let contacts_item = item(crate::modules::Module::Contacts, "contacts", &tx("nav.contacts"));
    let chat_item = item(crate::modules::Module::Chat, "chat", &tx("nav.chat"));
    let mail_item = item(crate::modules::Module::Mail, "mail", &tx("nav.mail"));
    let document = format!(
        r##"<!DOCTYPE html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{product}</title>
{css}<link rel="stylesheet" href="/brand.css">
<script type="importmap">{map}</script>
<script type="module" src="{app}"></script>
</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header class="top">
<a class="brand" href="/">{logo}{product}</a>
<nav class="primary" aria-label="{nav}">
<ul>
{calendar_item}{tasks_item}{contacts_item}{chat_item}{mail_item}
<li><a href="/account">{account}</a></li>
{admin}</ul>
</nav>
<form class="signout" method="post" action="/signout">{csrf}<button type="submit" class="secondary">{signout}</button></form>
</header>
<main id="main" tabindex="-1">
<noscript><p>{noscript}</p></noscript>
<p class="loading" role="status">{loading}</p>
</main>
</body>
</html>
"##,
        code = lang.code(),
        css = stylesheets(),
        map = import_map().json,
        app = assets::url("app.js"),
        skip = tx("shell.skip"),
        nav = tx("shell.nav"),
        account = web("nav.account"),
        csrf = crate::web::csrf::form_field(&state, &session),
        signout = web("nav.signout"),
        noscript = tx("shell.noscript"),
        loading = tx("shell.loading"),
    );
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], document).into_response();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy()) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // The rest as on every page: no-referrer, nosniff, DENY, no-store (the shell holds a
    // CSRF token).
    crate::web::page::apply_security_headers(response.headers_mut());
    response
}
