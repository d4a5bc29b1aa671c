//! External calendar subscriptions (`/api/v1/subscriptions`, issue 16): a feed served by a local
//! HTTP server in the test is fetched into a read-only calendar, refreshed with conditional GET,
//! and a bad fetch (garbage, too big, 404, redirect loop, blocked address) leaves what is stored;
//! through the real router on both databases.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::api::call;
use common::dav::{Client, calendar, users};
use common::{TestApp, TestDb};
use madang::config::{DavConfig, SubscriptionConfig};
use serde_json::json;

/// What the feed server answers at `/feed.ics`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Feed,
    Garbage,
    TooBig,
    Missing,
    Loop,
}

#[derive(Clone)]
struct Feed {
    body: Arc<Mutex<String>>,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

impl Feed {
    fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_string();
    }
    fn mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn etag(body: &str) -> String {
    format!("\"{}-{}\"", body.len(), body.bytes().map(u64::from).sum::<u64>())
}

async fn serve_feed(axum::extract::State(f): axum::extract::State<Feed>, headers: HeaderMap) -> Response {
    f.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *f.mode.lock().unwrap();
    match mode {
        Mode::Garbage => ([("content-type", "text/html")], "<html><body>Sign in first</body></html>").into_response(),
        Mode::TooBig => ([("content-type", "text/calendar")], "X".repeat(20_000)).into_response(),
        Mode::Missing => StatusCode::NOT_FOUND.into_response(),
        Mode::Loop => (StatusCode::FOUND, [("location", "/feed.ics?again")]).into_response(),
        Mode::Feed => {
            let body = f.body.lock().unwrap().clone();
            let tag = etag(&body);
            if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
                f.not_modified.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::NOT_MODIFIED, [("etag", tag)]).into_response();
            }
            ([("content-type", "text/calendar".to_string()), ("etag", tag)], body).into_response()
        }
    }
}

/// A feed server on 127.0.0.1; its base URL.
async fn feed_server() -> (Feed, String) {
    let feed = Feed {
        body: Arc::new(Mutex::new(calendar_of(&[("a", "Alpha"), ("b", "Beta")]))),
        mode: Arc::new(Mutex::new(Mode::Feed)),
        requests: Arc::new(AtomicUsize::new(0)),
        not_modified: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new().route("/feed.ics", axum::routing::get(serve_feed)).with_state(feed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (feed, format!("http://{addr}"))
}

fn calendar_of(events: &[(&str, &str)]) -> String {
    let mut s = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test feed//EN\r\nX-PUBLISHED-TTL:PT1H\r\n".to_string();
    for (uid, summary) in events {
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}@feed\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\n\
             DTEND:20260110T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
        ));
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

async fn app_with_feed(db: &TestDb) -> (TestApp, Feed, String) {
    let mut app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    let subscriptions = SubscriptionConfig {
        outbound: madang::outbound::OutboundPolicy { allowed: madang::outbound::parse_list("127.0.0.1").unwrap() },
        max_size: 10_000,
        timeout: Duration::from_secs(5),
        max_redirects: 3,
        ..SubscriptionConfig::default()
    };
    app.state = app.state.clone().with_dav(DavConfig { subscriptions, ..DavConfig::default() });
    let (feed, base) = feed_server().await;
    (app, feed, format!("{base}/feed.ics"))
}

async fn subscribe(app: &TestApp, user: &str, url: &str) -> serde_json::Value {
    let r = call(app, user, "POST", "/api/v1/subscriptions", Some(json!({"url": url, "name": "Holidays"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

async fn issue16_a_subscription_is_a_read_only_calendar_kept_in_step(db: &TestDb) {
    let (app, feed, url) = app_with_feed(db).await;
    let made = subscribe(&app, "alice", &url).await;
    assert_eq!(made["id"], "holidays");
    assert_eq!(made["read_only"], true);
    assert_eq!(made["last_error"], serde_json::Value::Null, "{made}");
    assert!(made["last_success_at"].is_string());
    assert_eq!(made["url"], url.as_str());

    // Over CalDAV: in the home, read-only, one member per UID.
    let c = Client::new(&app, "alice");
    let path = calendar("alice", "holidays");
    let r = c.get(&path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("SUMMARY:Alpha") && r.text.contains("SUMMARY:Beta"), "{}", r.text);
    let listed = call(&app, "alice", "GET", "/api/v1/calendars", None).await;
    let cal = listed.body.as_array().unwrap().iter().find(|c| c["id"] == "holidays").expect("listed").clone();
    assert_eq!(cal["read_only"], true);
    let put = c.put(&format!("{path}x.ics"), &calendar_of(&[("x", "Mine")])).await;
    assert_eq!(put.status, StatusCode::FORBIDDEN, "{}", put.text);
    let token = c.sync_token(&path).await;

    // Unchanged: a 304, counted, nothing rewritten.
    let r = call(&app, "alice", "POST", "/api/v1/subscriptions/holidays/refresh", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(feed.not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(r.body["not_modified_count"], 1);
    assert_eq!(c.sync_token(&path).await, token);

    // Changed: Beta gone, Alpha renamed, Gamma added; the delta is exactly that.
    feed.set(&calendar_of(&[("a", "Alpha moved"), ("c", "Gamma")]));
    let r = call(&app, "alice", "POST", "/api/v1/subscriptions/holidays/refresh", None).await;
    assert_eq!(r.body["last_error"], serde_json::Value::Null, "{}", r.text);
    let delta = c.sync(&path, &token, "").await;
    assert_eq!(delta.status, StatusCode::MULTI_STATUS, "{}", delta.text);
    let ms = delta.multistatus();
    assert_eq!(ms.responses.len(), 3, "one changed, one added, one removed: {}", delta.text);
    let r = c.get(&path).await;
    assert!(r.text.contains("Alpha moved") && r.text.contains("Gamma") && !r.text.contains("Beta"), "{}", r.text);

    // The same content again with a new ETag rewrites nothing either.
    let token = c.sync_token(&path).await;
    feed.set(&calendar_of(&[("c", "Gamma"), ("a", "Alpha moved")]));
    call(&app, "alice", "POST", "/api/v1/subscriptions/holidays/refresh", None).await;
    assert_eq!(c.sync_token(&path).await, token, "same events in another order: no change");

    // Unsubscribing removes the calendar.
    let r = call(&app, "alice", "DELETE", "/api/v1/subscriptions/holidays", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "alice", "GET", "/api/v1/subscriptions", None).await.body, json!([]));
}

async fn issue16_a_bad_fetch_keeps_what_is_stored(db: &TestDb) {
    let (app, feed, url) = app_with_feed(db).await;
    let made = subscribe(&app, "alice", &url).await;
    let success = made["last_success_at"].clone();
    let c = Client::new(&app, "alice");
    let path = calendar("alice", "holidays");
    let before = c.get(&path).await.text;
    let token = c.sync_token(&path).await;
    feed.set(&calendar_of(&[("z", "Should not appear")]));
    for (mode, expected) in [
        (Mode::Garbage, "not an iCalendar"),
        (Mode::TooBig, "larger than 10000 bytes"),
        (Mode::Missing, "404"),
        (Mode::Loop, "more than 3 redirects"),
    ] {
        feed.mode(mode);
        let r = call(&app, "alice", "POST", "/api/v1/subscriptions/holidays/refresh", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let error = r.body["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{expected}: {error}");
        assert!(!error.contains("127.0.0.1"), "the URL is not in the error: {error}");
        assert_eq!(r.body["last_success_at"], success);
        assert_eq!(c.get(&path).await.text, before, "nothing stored changed");
        assert_eq!(c.sync_token(&path).await, token);
    }
    // Back to a good feed: the error clears.
    feed.mode(Mode::Feed);
    let r = call(&app, "alice", "POST", "/api/v1/subscriptions/holidays/refresh", None).await;
    assert_eq!(r.body["last_error"], serde_json::Value::Null, "{}", r.text);
    assert!(c.get(&path).await.text.contains("Should not appear"));
}

async fn issue16_feeds_on_internal_addresses_are_refused_by_default(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let (feed, base) = feed_server().await;
    let made = subscribe(&app, "alice", &format!("{base}/feed.ics")).await;
    let error = made["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("internal address") && error.contains("dav.subscription_allowed_networks"), "{error}");
    assert_eq!(feed.requests.load(Ordering::SeqCst), 0, "nothing was sent");
    // Not http(s): refused before anything is made.
    for bad in ["file:///etc/passwd", "ftp://example.com/x.ics", "https://u:p@example.com/x.ics"] {
        let r = call(&app, "alice", "POST", "/api/v1/subscriptions", Some(json!({ "url": bad }))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.text);
    }
}

async fn issue16_subscriptions_are_their_owners_only(db: &TestDb) {
    let (app, _feed, url) = app_with_feed(db).await;
    subscribe(&app, "alice", &url).await;
    assert_eq!(call(&app, "bob", "GET", "/api/v1/subscriptions", None).await.body, json!([]));
    for (method, path) in [
        ("GET", "/api/v1/subscriptions/holidays"),
        ("POST", "/api/v1/subscriptions/holidays/refresh"),
        ("DELETE", "/api/v1/subscriptions/holidays"),
    ] {
        let r = call(&app, "bob", method, path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.text);
    }
    let r = Client::new(&app, "bob").get(&calendar("alice", "holidays")).await;
    assert!(matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", r.status);
    // Alice's is still there, and an ordinary calendar is not a subscription.
    assert_eq!(call(&app, "alice", "GET", "/api/v1/subscriptions/holidays", None).await.status, StatusCode::OK);
    assert_eq!(call(&app, "alice", "GET", "/api/v1/subscriptions/default", None).await.status, StatusCode::NOT_FOUND);
    // A subscribed calendar cannot be deleted or changed as a calendar, only unsubscribed.
    let r = call(&app, "alice", "DELETE", "/api/v1/calendars/holidays", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

/// The background refresher's claim: two processes on one database fetch a due feed once.
async fn issue16_a_due_subscription_is_fetched_once(db: &TestDb) {
    let (app, feed, url) = app_with_feed(db).await;
    subscribe(&app, "alice", &url).await;
    let first = feed.requests.load(Ordering::SeqCst);
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let (state, other) = (app.state.clone(), app.state.clone());
    let (a, b) = tokio::join!(
        state.subscriptions.refresh_due(&state.store, &state.collections, later),
        other.subscriptions.refresh_due(&other.store, &other.collections, later),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1, "claimed by one");
    assert_eq!(feed.requests.load(Ordering::SeqCst), first + 1);
    // Not due again until its interval (X-PUBLISHED-TTL: 1 hour, above the 15-minute minimum).
    let r = state.subscriptions.refresh_due(&state.store, &state.collections, later).await.unwrap();
    assert_eq!(r, 0);
    let r = state
        .subscriptions
        .refresh_due(&state.store, &state.collections, later + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(r, 1);
}

on_both_databases!(
    issue16_a_subscription_is_a_read_only_calendar_kept_in_step,
    issue16_a_bad_fetch_keeps_what_is_stored,
    issue16_feeds_on_internal_addresses_are_refused_by_default,
    issue16_subscriptions_are_their_owners_only,
    issue16_a_due_subscription_is_fetched_once,
);
