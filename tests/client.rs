//! The web client's door through the real router: the shell at `/` (sign-in redirect, CSP
//! with the import map's hash, language, navigation) and the embedded assets (hashed URLs,
//! immutable caching, brotli/gzip/identity negotiation, 404 for unknown versions), on both
//! databases where a session is involved.

mod common;

use std::io::Read;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use common::browser::{Browser, Reply, between};
use common::{TestApp, TestDb};
use madang::accounts::NewAccount;
use madang::client::assets;
use madang::domain::{Role, UserState};
use sha2::Digest;

async fn signed_in<'a>(app: &'a TestApp, name: &str, role: Role) -> Browser<'a> {
    app.accounts
        .add_user(NewAccount {
            username: name.into(),
            email: format!("{name}@example.com"),
            display_name: None,
            role,
            state: UserState::Active,
            password: Some("a long password".into()),
        })
        .await
        .unwrap();
    let mut b = Browser::new(app);
    let r = b.sign_in(name, "a long password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    b
}

fn header(r: &Reply, name: header::HeaderName) -> &str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn root_sends_signed_out_visitors_to_sign_in(db: &TestDb) {
    let app = TestApp::new(db).await;
    let mut b = Browser::new(&app);
    let r = b.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/signin"), "{}", r.location());
    assert!(header(&r, header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"));
    // HEAD too (a browser's prefetch, a monitor).
    let r = b.send(Request::head("/").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Signing in with `next=/` comes back to the client.
    app.add_user("erin", "a long password").await;
    let form = b.get(r.location()).await;
    let csrf = form.csrf();
    let r = b.post("/signin?next=/", &[("csrf", &csrf), ("username", "erin"), ("password", "a long password")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let shell = b.get("/").await;
    assert_eq!(shell.status, StatusCode::OK);
}

async fn shell_csp_allows_exactly_its_import_map(db: &TestDb) {
    let app = TestApp::new(db).await;
    let mut b = signed_in(&app, "alice", Role::Member).await;
    let r = b.get("/").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(header(&r, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&r, header::CACHE_CONTROL), "no-store");
    assert_eq!(header(&r, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header(&r, header::X_FRAME_OPTIONS), "DENY");
    let csp = header(&r, header::CONTENT_SECURITY_POLICY).to_string();
    for directive in ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    // The one inline script is the import map, allowed by its hash and by nothing else.
    let map = between(&r.text, r#"<script type="importmap">"#, "</script>").expect("an import map");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(map.as_bytes()));
    let script_src = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
    assert_eq!(script_src.trim(), format!("script-src 'self' 'sha256-{hash}'"));
    assert_eq!(r.text.matches("<script").count(), 2, "the import map and the app module only");
    assert!(r.text.contains(&format!(r#"<script type="module" src="{}"></script>"#, assets::url("app.js"))));
    // style-src admits only files and the empty <style> FullCalendar fills through the CSSOM.
    let style_src = csp.split(';').find(|d| d.trim().starts_with("style-src")).unwrap();
    assert_eq!(style_src.trim(), format!("style-src 'self' '{}'", madang::client::EMPTY_STYLE_HASH));
    let empty = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b""));
    assert_eq!(madang::client::EMPTY_STYLE_HASH, format!("sha256-{empty}"));
    assert!(!r.text.contains(" style=") && !r.text.contains("<style"), "no inline style");
    // The import map names every module by its unhashed URL and the vendored library by name,
    // and each target is a served asset.
    let map: serde_json::Value = serde_json::from_str(&map).unwrap();
    let imports = map["imports"].as_object().unwrap();
    assert_eq!(imports["/assets/api.js"], assets::url("api.js"));
    assert_eq!(imports["/assets/views/calendar.js"], assets::url("views/calendar.js"));
    assert_eq!(imports["fullcalendar"], assets::url("vendor/fullcalendar/index.global.min.js"));
    for target in imports.values() {
        let r = b.get(target.as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{target}");
    }
    // Stylesheets: the client's (hashed) and the brand's.
    assert!(r.text.contains(&format!(r#"<link rel="stylesheet" href="{}">"#, assets::url("client.css"))));
    assert!(r.text.contains(r#"<link rel="stylesheet" href="/brand.css">"#));
}

async fn shell_speaks_the_users_language_and_links_the_server_pages(db: &TestDb) {
    let app = TestApp::new(db).await;
    let mut b = signed_in(&app, "bob", Role::Member).await;
    let r = b.get("/").await;
    assert!(r.text.contains(r#"<html lang="en">"#));
    for link in [r##"href="#/calendar""##, r##"href="#/tasks""##, r##"href="#/contacts""##, r#"href="/account""#] {
        assert!(r.text.contains(link), "{link}");
    }
    assert!(r.text.contains(">Calendar</a>") && r.text.contains(">Contacts</a>"));
    assert!(!r.text.contains(r#"href="/admin""#), "members see no administration link");
    // Sign-out is a form with the session's CSRF token: it works without JavaScript.
    assert!(r.text.contains(r#"<form class="signout" method="post" action="/signout">"#));
    let csrf = r.csrf();
    let out = b.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER, "signed out");

    let mut b = signed_in(&app, "chulsoo", Role::Admin).await;
    b.language = Some("ko-KR,ko;q=0.9,en;q=0.5");
    let r = b.get("/").await;
    assert!(r.text.contains(r#"<html lang="ko">"#));
    assert!(r.text.contains(">캘린더</a>") && r.text.contains(">연락처</a>"), "{}", r.text);
    assert!(r.text.contains(r#"href="/admin""#), "administrators see the administration link");
    // The `lang` cookie (the footer's choice on the server pages) wins over Accept-Language.
    b.cookies.insert("lang".into(), "en".into());
    assert!(b.get("/").await.text.contains(r#"<html lang="en">"#));
}

/// Every key the shell renders exists in both client catalogues, and the catalogues agree.
#[test]
fn shell_keys_are_in_both_catalogues() {
    let load = |path: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(assets::by_path(path).unwrap().identity).unwrap()
    };
    let (en, ko) = (load("i18n/en.json"), load("i18n/ko.json"));
    for key in madang::client::SHELL_KEYS {
        assert!(en.contains_key(*key) && ko.contains_key(*key), "{key}");
    }
    let (mut a, mut b): (Vec<_>, Vec<_>) = (en.keys().collect(), ko.keys().collect());
    a.sort();
    b.sort();
    assert_eq!(a, b, "en.json and ko.json have the same keys");
    for (key, text) in &en {
        let vars = |t: &str| -> Vec<String> {
            let mut v: Vec<String> =
                t.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(n, _)| n.into()).collect();
            v.sort();
            v
        };
        assert_eq!(vars(text.as_str().unwrap()), vars(ko[key].as_str().unwrap()), "placeholders of {key}");
        assert!(!ko[key].as_str().unwrap().is_empty(), "{key} is translated");
    }
}

/// Every file under `client/` is embedded, byte for byte, and served at its hashed URL.
#[tokio::test]
async fn every_client_file_is_embedded_and_served() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("client");
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() >= 10, "{files:?}");
    assert_eq!(files.len(), assets::ASSETS.len(), "nothing embedded that is not in client/");
    let db = TestDb::sqlite();
    let app = TestApp::new(&db).await;
    let mut b = Browser::new(&app);
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let asset = assets::by_path(&rel).unwrap_or_else(|| panic!("{rel} is not embedded"));
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(asset.identity, &bytes[..], "{rel} is embedded as it is now (rebuild?)");
        let full: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert!(asset.url.contains(&format!(".{}", &full[..10])), "{}", asset.url);
        let r = b.get(asset.url).await;
        assert_eq!(r.status, StatusCode::OK, "{}", asset.url);
    }
}

#[tokio::test]
async fn assets_are_immutable_and_negotiate_brotli_gzip_identity() {
    let db = TestDb::sqlite();
    let app = TestApp::new(&db).await;
    // Assets need no session: the hashed names are public code, and a signed-out page
    // (the sign-in form) may one day use them.
    let mut b = Browser::new(&app);
    let asset = assets::by_path("vendor/fullcalendar/index.global.min.js").unwrap();
    let cases: [(&str, Option<&str>); 6] = [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip", Some("gzip")),
        ("br;q=0.4, gzip;q=0.9", Some("gzip")),
        ("", None),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
    ];
    for (accept, expected) in cases {
        let req = Request::get(asset.url).header(header::ACCEPT_ENCODING, accept).body(Body::empty()).unwrap();
        let response = app.router().oneshot_bytes(req).await;
        let (status, headers, body) = response;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "public, max-age=31536000, immutable");
        assert_eq!(headers.get(header::VARY).unwrap(), "Accept-Encoding");
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "text/javascript; charset=utf-8");
        assert_eq!(headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        let coding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(coding.as_deref(), expected, "{accept}");
        let decoded = match expected {
            Some("br") => {
                let mut out = Vec::new();
                brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut out).unwrap();
                out
            }
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
                out
            }
            _ => body.clone(),
        };
        assert_eq!(decoded, asset.identity, "{accept}: the same file");
        if expected.is_some() {
            assert!(body.len() < asset.identity.len() / 2, "{accept}: compressed {} bytes", body.len());
        }
        // Each representation has its own ETag; a revalidation gets 304.
        let etag = headers.get(header::ETAG).unwrap().to_str().unwrap().to_string();
        assert!(etag.contains(asset.hash), "{etag}");
        let req = Request::get(asset.url)
            .header(header::ACCEPT_ENCODING, accept)
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = app.router().oneshot_bytes(req).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{accept}");
        assert!(body.is_empty());
    }
    // Another version's hash, no hash, or an unknown file: 404, never the current bytes.
    let other = asset.url.replace(asset.hash, "0000000000");
    for url in [other.as_str(), "/assets/vendor/fullcalendar/index.global.min.js", "/assets/nothing.0123456789.js"] {
        let r = b.get(url).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{url}");
    }
}

/// `oneshot` keeping the body as bytes (compressed bodies are not text).
trait OneshotBytes {
    async fn oneshot_bytes(self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>);
}

impl OneshotBytes for axum::Router {
    async fn oneshot_bytes(self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = self.oneshot(req).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, bytes)
    }
}

/// The DAV root keeps every DAV method; only GET and HEAD are the shell's.
async fn dav_root_still_answers_propfind(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("dana", "a long password").await;
    let mut b = Browser::new(&app);
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("dana:a long password"));
    let req = Request::builder()
        .method("PROPFIND")
        .uri("/")
        .header(header::AUTHORIZATION, auth)
        .header("depth", "0")
        .body(Body::from(r#"<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>"#))
        .unwrap();
    let r = b.send(req).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.text);
    assert!(r.text.contains("/dav/principals/dana/"), "{}", r.text);
}

on_both_databases!(
    root_sends_signed_out_visitors_to_sign_in,
    shell_csp_allows_exactly_its_import_map,
    shell_speaks_the_users_language_and_links_the_server_pages,
    dav_root_still_answers_propfind,
);
