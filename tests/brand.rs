//! White-label from `[brand]` (issue 12): the product name in the pages and
//! in the mail Madang sends, `/brand.css` with the primary colour, and
//! `/brand/logo`. Through the router, on both databases.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::browser::Browser;
use common::{TestApp, TestDb};
use madang::brand::Brand;
use madang::config::{BrandConfig, WebConfig};
use madang::mailer::Mailer;
use tower::ServiceExt;

fn acme(logo: Option<std::path::PathBuf>) -> Brand {
    Brand::load(&BrandConfig { name: "Acme <Work>".into(), logo, primary_color: "#ffcc00".into() }).unwrap()
}

async fn the_name_is_in_the_pages(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_brand(acme(None));
    let page = Browser::new(&app).get("/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    // Escaped like any text.
    assert!(page.text.contains("· Acme &lt;Work&gt;</title>"), "{}", page.text);
    assert!(page.text.contains(r#"<a class="brand" href="/account">Acme &lt;Work&gt;</a>"#), "{}", page.text);
    assert!(page.text.contains(r#"<link rel="stylesheet" href="/brand.css">"#), "{}", page.text);
    assert!(!page.text.contains("Madang"), "no trace of the old name: {}", page.text);
    assert!(!page.text.contains("style="), "no inline styles (CSP)");
    assert!(!page.text.contains("<img"), "no logo configured");
    // Another app in the same process keeps its own (default) brand.
    let other = TestApp::new(db).await;
    assert!(Browser::new(&other).get("/signin").await.text.contains("· Madang</title>"));
}

async fn brand_css_carries_the_colour(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_brand(acme(None));
    let mut b = Browser::new(&app);
    let css = b.get("/brand.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.text.contains("--brand-primary: #ffcc00;"), "{}", css.text);
    assert!(css.text.contains("--brand-on-primary: #000000;"), "yellow takes black text: {}", css.text);
    assert_eq!(css.headers[header::CACHE_CONTROL], "public, max-age=3600");
    let etag = css.headers[header::ETAG].to_str().unwrap().to_string();
    let again = Request::get("/brand.css").header(header::IF_NONE_MATCH, &etag).body(Body::empty()).unwrap();
    assert_eq!(b.send(again).await.status, StatusCode::NOT_MODIFIED);
    // The default brand's colour for an instance that set none.
    let plain = TestApp::new(db).await;
    assert!(Browser::new(&plain).get("/brand.css").await.text.contains("--brand-primary: #0b5cad;"));
}

async fn the_logo_is_served_when_configured(db: &TestDb) {
    let plain = TestApp::new(db).await;
    let response = plain.router().oneshot(Request::get("/brand/logo").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>"#;
    let file = db.dir().join("acme.svg");
    std::fs::write(&file, svg).unwrap();
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_brand(acme(Some(file)));
    let mut b = Browser::new(&app);
    let logo = b.get("/brand/logo").await;
    assert_eq!(logo.status, StatusCode::OK);
    assert_eq!(logo.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(logo.text, svg);
    let csp = logo.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "an SVG runs no script: {csp}");
    assert_eq!(logo.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let page = b.get("/signin").await;
    assert!(
        page.text.contains(r#"<img class="brand-logo" src="/brand/logo" alt="">Acme &lt;Work&gt;"#),
        "{}",
        page.text
    );
}

async fn reset_mail_carries_the_name(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    let (mailer, outbox) = Mailer::memory();
    let web = WebConfig { public_url: "https://work.acme.example/".into(), ..WebConfig::default() };
    app.state = app.state.clone().with_web(web, Some(mailer)).with_brand(acme(None));
    app.add_user("alice", "alice password").await;
    app.add_user("minsu", "minsu password").await;
    let r = Browser::new(&app).submit("/reset", "/reset", &[("login", "alice")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut korean = Browser::new(&app);
    korean.language = Some("ko");
    korean.submit("/reset", "/reset", &[("login", "minsu")]).await;
    // Sent in the background.
    for _ in 0..500 {
        if outbox.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sent = outbox.lock().unwrap().clone();
    sent.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, "alice@example.com");
    assert_eq!(sent[0].subject, "Reset your Acme <Work> password");
    assert!(sent[0].body.contains("the password of your Acme <Work> account"), "{}", sent[0].body);
    assert!(sent[0].body.contains("https://work.acme.example/reset/confirm?token="), "{}", sent[0].body);
    assert_eq!(sent[1].subject, "Acme <Work> 비밀번호 재설정");
    assert!(sent[1].body.contains("Acme <Work> 계정의"), "{}", sent[1].body);
    assert!(!sent.iter().any(|m| m.subject.contains("Madang") || m.body.contains("Madang")));
}

on_both_databases!(
    the_name_is_in_the_pages,
    brand_css_carries_the_colour,
    the_logo_is_served_when_configured,
    reset_mail_carries_the_name,
);
