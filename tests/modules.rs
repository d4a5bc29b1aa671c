//! Modules on and off at run time (issue 12): the admin API and pages turn
//! them on and off, a module that is off answers 403 `module_disabled` on its
//! JSON routes (DAV keeps working), every change is audited, and another
//! process sees a change within a second. Through the router, on both
//! databases.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use chrono::Utc;
use common::browser::Browser;
use common::{TestApp, TestDb, test_auth_config};
use http_body_util::BodyExt;
use madang::accounts::NewAccount;
use madang::clock::ManualClock;
use madang::domain::{Role, UserState};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "root";
const ADMIN_PW: &str = "root-secret-pw";

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn send(app: &TestApp, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.router().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn call(app: &TestApp, method: Method, path: &str, auth: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, auth);
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    send(app, req.body(body).unwrap()).await
}

async fn add_admin(app: &TestApp) -> String {
    app.accounts
        .add_user(NewAccount {
            username: ADMIN.into(),
            email: "root@example.com".into(),
            display_name: None,
            role: Role::Admin,
            state: UserState::Active,
            password: Some(ADMIN_PW.into()),
        })
        .await
        .unwrap();
    basic(ADMIN, ADMIN_PW)
}

fn actions_and_targets(records: &Value) -> Vec<(String, String)> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap().to_string(), r["target"].as_str().unwrap().to_string()))
        .collect()
}

fn assert_disabled(status: StatusCode, body: &Value, module: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "module_disabled", "{body}");
    assert_eq!(body["details"]["module"], module, "{body}");
    assert!(body["message"].as_str().unwrap().contains(module), "{body}");
}

async fn toggled_off_the_routes_answer_403_and_on_again_200(db: &TestDb) {
    let app = TestApp::new(db).await;
    let admin = add_admin(&app).await;
    app.add_user("alice", "alice-secret-pw").await;
    let alice = basic("alice", "alice-secret-pw");

    let (status, states) = call(&app, Method::GET, "/api/v1/admin/modules", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(states, json!({"calendar": true, "contacts": true, "mail": false, "chat": false}));
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &alice, None).await.0, StatusCode::OK);

    let (status, states) =
        call(&app, Method::PUT, "/api/v1/admin/modules", &admin, Some(json!({"calendar": false}))).await;
    assert_eq!(status, StatusCode::OK, "{states}");
    assert_eq!(states, json!({"calendar": false, "contacts": true, "mail": false, "chat": false}));
    // Every calendar route, whatever the method, and before authentication.
    for (method, path) in [
        (Method::GET, "/api/v1/calendars"),
        (Method::POST, "/api/v1/calendars"),
        (Method::GET, "/api/v1/calendars/default/events"),
        (Method::GET, "/api/v1/calendars/default/export"),
    ] {
        let (status, body) = call(&app, method, path, &alice, None).await;
        assert_disabled(status, &body, "calendar");
    }
    let (status, body) = call(&app, Method::GET, "/api/v1/calendars", "Basic bm9ib2R5Om5vbmU=", None).await;
    assert_disabled(status, &body, "calendar");
    // Contacts are another module; DAV keeps its own setting.
    assert_eq!(call(&app, Method::GET, "/api/v1/addressbooks", &alice, None).await.0, StatusCode::OK);
    let propfind = Request::builder()
        .method("PROPFIND")
        .uri("/dav/calendars/alice/")
        .header(header::AUTHORIZATION, &alice)
        .header("depth", "1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, propfind).await.0, StatusCode::MULTI_STATUS, "DAV is not switched off");
    // The web client learns it from /me.
    let (status, me) = call(&app, Method::GET, "/api/v1/me", &alice, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["modules"], json!({"calendar": false, "contacts": true, "mail": false, "chat": false}));
    assert_eq!(me["username"], "alice", "the user's fields are still there: {me}");

    // Contacts off too, then both back on.
    call(&app, Method::PUT, "/api/v1/admin/modules", &admin, Some(json!({"contacts": false}))).await;
    let (status, body) = call(&app, Method::GET, "/api/v1/addressbooks/default/contacts", &alice, None).await;
    assert_disabled(status, &body, "contacts");
    let (status, states) = call(
        &app,
        Method::PUT,
        "/api/v1/admin/modules",
        &admin,
        Some(json!({"calendar": true, "contacts": true, "chat": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(states, json!({"calendar": true, "contacts": true, "mail": false, "chat": true}));
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &alice, None).await.0, StatusCode::OK);
    assert_eq!(call(&app, Method::GET, "/api/v1/addressbooks", &alice, None).await.0, StatusCode::OK);

    // Each real change is audited once; saying the same again changes nothing.
    call(&app, Method::PUT, "/api/v1/admin/modules", &admin, Some(json!({"calendar": true}))).await;
    let (_, records) = call(&app, Method::GET, "/api/v1/admin/audit?action=admin.module.", &admin, None).await;
    let expected = [
        ("admin.module.enable", "chat"),
        ("admin.module.enable", "contacts"),
        ("admin.module.enable", "calendar"),
        ("admin.module.disable", "contacts"),
        ("admin.module.disable", "calendar"),
    ];
    let mut got = actions_and_targets(&records);
    // The three changes of one request share a timestamp; their order among themselves is free.
    got[..3].sort();
    let mut want: Vec<(String, String)> = expected.iter().map(|(a, t)| (a.to_string(), t.to_string())).collect();
    want[..3].sort();
    assert_eq!(got, want);
    assert!(records.as_array().unwrap().iter().all(|r| r["actor_name"] == ADMIN), "{records}");

    // Unknown modules and non-booleans are refused, and change nothing.
    for body in [json!({"calendars": false}), json!({"calendar": "off"})] {
        let (status, answer) = call(&app, Method::PUT, "/api/v1/admin/modules", &admin, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    }
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &alice, None).await.0, StatusCode::OK);
}

async fn only_administrators_turn_modules_on_and_off(db: &TestDb) {
    let app = TestApp::new(db).await;
    let admin = add_admin(&app).await;
    app.add_user("bob", "bob-secret-pw").await;
    let bob = basic("bob", "bob-secret-pw");
    let (status, body) = call(&app, Method::PUT, "/api/v1/admin/modules", &bob, Some(json!({"calendar": false}))).await;
    assert_eq!((status, &body["error"]), (StatusCode::FORBIDDEN, &json!("forbidden")));
    assert_eq!(call(&app, Method::GET, "/api/v1/admin/modules", &bob, None).await.0, StatusCode::FORBIDDEN);
    // Nor an administrator's app password (a phone's).
    let (_, created) =
        call(&app, Method::POST, "/api/v1/me/app-passwords", &admin, Some(json!({ "label": "phone" }))).await;
    let phone = basic(ADMIN, created["password"].as_str().unwrap());
    let (status, _) = call(&app, Method::PUT, "/api/v1/admin/modules", &phone, Some(json!({"calendar": false}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &bob, None).await.0, StatusCode::OK);
    let (_, records) = call(&app, Method::GET, "/api/v1/admin/audit?action=admin.module.", &admin, None).await;
    assert_eq!(records, json!([]));
    // On the pages: a member gets 403 and nothing changes.
    let mut member = Browser::new(&app);
    assert_eq!(member.sign_in("bob", "bob-secret-pw").await.status, StatusCode::SEE_OTHER);
    let r = member.submit("/account", "/admin/modules", &[("contacts", "on")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &bob, None).await.0, StatusCode::OK);
}

async fn the_admin_page_turns_modules_off_and_on(db: &TestDb) {
    let app = TestApp::new(db).await;
    let admin = add_admin(&app).await;
    app.add_user("carol", "carol-secret-pw").await;
    let carol = basic("carol", "carol-secret-pw");
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in(ADMIN, ADMIN_PW).await.status, StatusCode::SEE_OTHER);
    let page = b.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(r#"name="calendar" type="checkbox" value="on" checked>"#), "{}", page.text);
    assert!(page.text.contains(r#"name="mail" type="checkbox" value="on">"#), "{}", page.text);
    assert!(page.text.contains(r#"<label class="check" for="module-calendar">"#), "labelled: {}", page.text);
    // Without the form's token nothing happens.
    assert_eq!(b.post("/admin/modules", &[("contacts", "on")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &carol, None).await.0, StatusCode::OK);
    // Unchecked boxes are not sent: calendar goes off, contacts stay on.
    let r = b.submit("/admin", "/admin/modules", &[("contacts", "on")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/admin?done=1"));
    let (status, body) = call(&app, Method::GET, "/api/v1/calendars", &carol, None).await;
    assert_disabled(status, &body, "calendar");
    assert!(b.get("/admin").await.text.contains(r#"name="calendar" type="checkbox" value="on">"#));
    let r = b.submit("/admin", "/admin/modules", &[("calendar", "on"), ("contacts", "on")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(call(&app, Method::GET, "/api/v1/calendars", &carol, None).await.0, StatusCode::OK);
    let (_, records) = call(&app, Method::GET, "/api/v1/admin/audit?action=admin.module.", &admin, None).await;
    let got = actions_and_targets(&records);
    assert_eq!(
        got,
        [("admin.module.enable".into(), "calendar".into()), ("admin.module.disable".into(), "calendar".into())]
    );
    // Korean labels.
    b.language = Some("ko");
    assert!(b.get("/admin").await.text.contains("캘린더와 할 일"));
}

/// Several processes share one PostgreSQL (or one SQLite file): a change made
/// through one reaches the others within `modules::FRESH_FOR`, with no restart.
async fn another_process_sees_a_change_within_a_second(db: &TestDb) {
    let one = TestApp::new(db).await;
    let admin = add_admin(&one).await;
    one.add_user("dora", "dora-secret-pw").await;
    let dora = basic("dora", "dora-secret-pw");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let two = TestApp::with(db, test_auth_config(), clock.clone()).await;
    assert_eq!(call(&two, Method::GET, "/api/v1/calendars", &dora, None).await.0, StatusCode::OK);

    call(&one, Method::PUT, "/api/v1/admin/modules", &admin, Some(json!({"calendar": false}))).await;
    // The process that made the change applies it at once.
    assert_eq!(call(&one, Method::GET, "/api/v1/calendars", &dora, None).await.0, StatusCode::FORBIDDEN);
    // The other trusts what it read for up to a second, then reads again.
    assert_eq!(call(&two, Method::GET, "/api/v1/calendars", &dora, None).await.0, StatusCode::OK);
    clock.advance(madang::modules::FRESH_FOR + Duration::from_millis(1));
    let (status, body) = call(&two, Method::GET, "/api/v1/calendars", &dora, None).await;
    assert_disabled(status, &body, "calendar");
    let (_, me) = call(&two, Method::GET, "/api/v1/me", &dora, None).await;
    assert_eq!(me["modules"]["calendar"], false);
}

async fn me_names_the_language_to_show(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("erin", "erin-secret-pw").await;
    let me = |accept: Option<&'static str>, cookie: Option<&'static str>| {
        let mut req = Request::get("/api/v1/me").header(header::AUTHORIZATION, basic("erin", "erin-secret-pw"));
        if let Some(a) = accept {
            req = req.header(header::ACCEPT_LANGUAGE, a);
        }
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.body(Body::empty()).unwrap()
    };
    assert_eq!(send(&app, me(None, None)).await.1["locale"], "en");
    assert_eq!(send(&app, me(Some("ko-KR,ko;q=0.9,en;q=0.5"), None)).await.1["locale"], "ko");
    assert_eq!(send(&app, me(Some("fr, en;q=0.3"), None)).await.1["locale"], "en");
    // The choice made on the pages wins over the browser's list.
    assert_eq!(send(&app, me(Some("ko"), Some("lang=en"))).await.1["locale"], "en");
}

on_both_databases!(
    toggled_off_the_routes_answer_403_and_on_again_200,
    only_administrators_turn_modules_on_and_off,
    the_admin_page_turns_modules_off_and_on,
    another_process_sees_a_change_within_a_second,
    me_names_the_language_to_show,
);
