//! Incoming webhooks and bots through the router, on both databases: Gitea's Slack payloads
//! post into a channel, bad payloads post nothing, revoked hooks are gone, only channel admins
//! manage hooks and bots, and a bot token works on its channels' chat routes and nowhere else.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::api::{Json, assert_error, call};
use common::dav::{Client, PASSWORD, users};
use common::{TestApp, TestDb, test_auth_config};
use madang::clock::ManualClock;
use madang::domain::Role;
use madang::modules::Module;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PUSH: &str = include_str!("../fixtures/chat/gitea-slack-push.json");
const ISSUE: &str = include_str!("../fixtures/chat/gitea-slack-issue-opened.json");

/// An app on a clock that moves only when told, so rate limits are exact.
async fn app_with_clock(db: &TestDb) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::with(db, test_auth_config(), clock.clone()).await;
    app.state.modules.set(&[(Module::Chat, true)]).await.unwrap();
    users(&app, &["alice", "bob", "carol"]).await;
    app.accounts.set_role("carol", Role::Admin).await.unwrap();
    (app, clock)
}

async fn app(db: &TestDb) -> TestApp {
    app_with_clock(db).await.0
}

/// A channel made by `owner` (its admin), with `members`.
async fn channel(app: &TestApp, owner: &str, name: &str, kind: &str, members: &[&str]) -> i64 {
    let r = call(
        app,
        owner,
        "POST",
        "/api/v1/chat/channels",
        Some(json!({"name": name, "kind": kind, "members": members})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

async fn hook(app: &TestApp, user: &str, channel: i64) -> (i64, String) {
    let r =
        call(app, user, "POST", &format!("/api/v1/chat/channels/{channel}/webhooks"), Some(json!({"name": "Gitea"})))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = r.body["url"].as_str().unwrap();
    let path = url.find("/hooks/").map(|i| url[i..].to_string()).unwrap();
    (r.body["id"].as_i64().unwrap(), path)
}

async fn post_raw(app: &TestApp, path: &str, body: &str, content_type: &str) -> common::dav::Reply {
    Client::anonymous(app).send("POST", path, &[("content-type", content_type)], body.to_string()).await
}

async fn messages(app: &TestApp, user: &str, channel: i64) -> Vec<Value> {
    let r = call(app, user, "GET", &format!("/api/v1/chat/channels/{channel}/messages?limit=200"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["messages"].as_array().unwrap().clone()
}

/// With a bearer token instead of a password.
async fn bearer(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> Json {
    let client = Client { app, auth: Some(format!("Bearer {token}")) };
    let r = match &body {
        Some(b) => client.send(method, path, &[("content-type", "application/json")], b.to_string()).await,
        None => client.send(method, path, &[], Body::empty()).await,
    };
    let body = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    Json { status: r.status, etag: None, body, text: r.text }
}

async fn gitea_push_shows_up_as_a_message(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &["bob"]).await;
    let (_, path) = hook(&app, "alice", general).await;
    let r = post_raw(&app, &path, PUSH, "application/json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = post_raw(&app, &path, ISSUE, "application/json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let list = messages(&app, "bob", general).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let push = &list[0];
    assert_eq!(push["author"], Value::Null);
    assert_eq!(push["bot"]["name"], "Gitea");
    let text = push["text"].as_str().unwrap();
    assert!(text.contains("[2 new commits](https://git.example.org/alice/demo/compare/"), "{text}");
    assert!(
        text.contains("[1a2b3c4](https://git.example.org/alice/demo/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d)"),
        "{text}"
    );
    assert!(
        text.contains("[9e8d7c6](https://git.example.org/alice/demo/commit/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d)"),
        "{text}"
    );
    let html = push["html"].as_str().unwrap();
    assert!(
        html.contains("href=\"https://git.example.org/alice/demo/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\"")
    );
    assert!(html.contains("Fix parsing of &lt;script&gt; tags &amp; entities"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let issue = &list[1];
    assert_eq!(issue["bot"]["icon_url"], "https://git.example.org/assets/img/logo.png");
    assert!(issue["text"].as_str().unwrap().contains("Issue opened: [#7 Login fails with <Safari>]"));

    // The webhook shows when it was last used; its URL is never listed.
    let r = call(&app, "alice", "GET", &format!("/api/v1/chat/channels/{general}/webhooks"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body[0]["last_used_at"].is_string(), "{}", r.text);
    assert!(!r.text.contains("/hooks/"), "{}", r.text);
}

async fn malformed_payloads_are_400_and_post_nothing(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &[]).await;
    let (_, path) = hook(&app, "alice", general).await;
    for (body, reason) in [
        ("not json", "the payload is not JSON"),
        ("[1, 2]", "the payload must be a JSON object"),
        ("{}", "the payload has no `text`"),
        (r#"{"text": 5}"#, "`text` must be a string"),
        (r#"{"text": "x", "attachments": [{"fields": "no"}]}"#, "`attachments[0].fields` must be an array"),
    ] {
        let r = post_raw(&app, &path, body, "application/json").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let err: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(err["error"], "bad_payload", "{}", r.text);
        assert!(err["message"].as_str().unwrap().starts_with(reason), "{body}: {}", r.text);
    }
    let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(300 * 1024));
    let r = post_raw(&app, &path, &big, "application/json").await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(messages(&app, "alice", general).await.is_empty());

    // Slack's form encoding works too.
    let r = post_raw(&app, &path, "payload=%7B%22text%22%3A%22hi%22%7D", "application/x-www-form-urlencoded").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(messages(&app, "alice", general).await.len(), 1);
}

async fn revoked_and_unknown_hooks_are_404(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &[]).await;
    let (id, path) = hook(&app, "alice", general).await;
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/chat/webhooks/{id}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = post_raw(&app, &path, PUSH, "application/json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = post_raw(&app, "/hooks/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", PUSH, "application/json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = post_raw(&app, "/hooks/short", PUSH, "application/json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/chat/webhooks/{id}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(messages(&app, "alice", general).await.is_empty());
}

async fn only_channel_admins_manage_hooks(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &["bob"]).await;
    let secret = channel(&app, "alice", "secret", "private", &[]).await;
    let path = format!("/api/v1/chat/channels/{general}/webhooks");
    // A member who is not a channel admin: 403.
    let r = call(&app, "bob", "POST", &path, Some(json!({"name": "x"}))).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = call(&app, "bob", "GET", &path, None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // A non-member of a private channel: 404, as if it did not exist.
    let secret_path = format!("/api/v1/chat/channels/{secret}/webhooks");
    for (method, body) in [("POST", Some(json!({"name": "x"}))), ("GET", None)] {
        let r = call(&app, "bob", method, &secret_path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let (secret_hook, _) = hook(&app, "alice", secret).await;
    let r = call(&app, "bob", "DELETE", &format!("/api/v1/chat/webhooks/{secret_hook}"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let (general_hook, _) = hook(&app, "alice", general).await;
    let r = call(&app, "bob", "DELETE", &format!("/api/v1/chat/webhooks/{general_hook}"), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // An instance administrator may, even outside the channel.
    let r = call(&app, "carol", "POST", &path, Some(json!({"name": "CI"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Bad names: 422.
    for name in ["", "a\u{7}b"] {
        let r = call(&app, "alice", "POST", &path, Some(json!({"name": name}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let _ = PASSWORD;
}

async fn hooks_are_rate_limited(db: &TestDb) {
    let (app, clock) = app_with_clock(db).await;
    let general = channel(&app, "alice", "general", "public", &[]).await;
    let (_, path) = hook(&app, "alice", general).await;
    let mut limited = None;
    for i in 0..200 {
        let r = post_raw(&app, &path, &format!(r#"{{"text": "n{i}"}}"#), "application/json").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r.header("retry-after").map(str::to_string)));
            break;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let (at, retry_after) = limited.expect("a hook is rate limited");
    assert_eq!(at, 60, "chat.webhook_posts_per_minute defaults to 60");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Refilled evenly: one post a second.
    clock.advance(Duration::from_secs(1));
    let r = post_raw(&app, &path, r#"{"text": "later"}"#, "application/json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = post_raw(&app, &path, r#"{"text": "too soon"}"#, "application/json").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(messages(&app, "alice", general).await.len(), 61);
    // Another hook has its own allowance.
    let (_, other) = hook(&app, "alice", general).await;
    let r = post_raw(&app, &other, r#"{"text": "fine"}"#, "application/json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn bots_act_only_in_their_channels_and_only_on_chat(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &["bob"]).await;
    let other = channel(&app, "alice", "other", "public", &[]).await;
    let secret = channel(&app, "bob", "secret", "private", &[]).await;

    // Only administrators make bots; the token is shown once.
    let r = call(&app, "alice", "POST", "/api/v1/admin/bots", Some(json!({"name": "deploy"}))).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = call(
        &app,
        "carol",
        "POST",
        "/api/v1/admin/bots",
        Some(json!({"name": "deploy", "display_name": "Deploy bot", "icon_url": "https://ci.example/i.png"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("mdb_"));
    let r = call(&app, "carol", "POST", "/api/v1/admin/bots", Some(json!({"name": "deploy"}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&app, "carol", "GET", "/api/v1/admin/bots", None).await;
    assert_eq!(r.body[0]["name"], "deploy", "{}", r.text);
    assert!(!r.text.contains(&token));

    // Not yet in any channel.
    let r = bearer(&app, &token, "GET", "/api/v1/chat/channels", None).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!([])), "{}", r.text);
    let send = |c: i64| format!("/api/v1/chat/channels/{c}/messages");
    let r = bearer(&app, &token, "POST", &send(general), Some(json!({"text": "hello"}))).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // Only a channel admin adds it; a non-member of a private channel gets 404.
    let r = call(&app, "bob", "PUT", &format!("/api/v1/chat/channels/{general}/bots/deploy"), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = call(&app, "alice", "PUT", &format!("/api/v1/chat/channels/{secret}/bots/deploy"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = call(&app, "alice", "PUT", &format!("/api/v1/chat/channels/{general}/bots/nobody"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = call(&app, "alice", "PUT", &format!("/api/v1/chat/channels/{general}/bots/deploy"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = call(&app, "bob", "GET", &format!("/api/v1/chat/channels/{general}/bots"), None).await;
    assert_eq!(r.body[0]["display_name"], "Deploy bot", "{}", r.text);

    // In its channel it lists and posts.
    let r = bearer(&app, &token, "GET", "/api/v1/chat/channels", None).await;
    assert_eq!(r.body[0]["id"], general, "{}", r.text);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = bearer(&app, &token, "POST", &send(general), Some(json!({"text": "deployed **v2** @bob"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["bot"]["name"], "Deploy bot");
    assert_eq!(r.body["bot"]["icon_url"], "https://ci.example/i.png");
    let list = messages(&app, "bob", general).await;
    assert_eq!(list.len(), 1);
    assert!(list[0]["html"].as_str().unwrap().contains("<strong>v2</strong>"));

    // A retried send (same client_id) gets its first message back, as a person's does.
    let once = json!({"text": "release notes", "client_id": "ci-run-42"});
    let first = bearer(&app, &token, "POST", &send(general), Some(once.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = bearer(&app, &token, "POST", &send(general), Some(once)).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::OK, &first.body["id"]), "{}", again.text);
    // Another client id, or the same one from a person, is another message.
    let r = call(&app, "bob", "POST", &send(general), Some(json!({"text": "thanks", "client_id": "ci-run-42"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(messages(&app, "bob", general).await.len(), 3);

    // Elsewhere in chat: 404 for channels it is not in, 403 for other routes.
    let r = bearer(&app, &token, "POST", &send(other), Some(json!({"text": "x"}))).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = bearer(&app, &token, "POST", &send(secret), Some(json!({"text": "x"}))).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    for (method, path) in [
        ("GET", format!("/api/v1/chat/channels/{general}/messages")),
        ("GET", format!("/api/v1/chat/channels/{general}")),
        ("POST", "/api/v1/chat/channels".to_string()),
        ("GET", format!("/api/v1/chat/channels/{general}/webhooks")),
    ] {
        let r = bearer(&app, &token, method, &path, None).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    }
    // Everywhere else it is no credential at all.
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/calendars"),
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/bots"),
        ("GET", "/api/v1/push"),
        ("PROPFIND", "/dav/calendars/alice/"),
        ("DELETE", "/api/v1/me/app-passwords/1"),
    ] {
        let r = bearer(&app, &token, method, path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", r.text);
    }

    // A wrong or revoked token: 401 on chat too.
    let wrong = format!("mdb_{}", "A".repeat(43));
    let r = bearer(&app, &wrong, "GET", "/api/v1/chat/channels", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = call(&app, "carol", "DELETE", "/api/v1/admin/bots/deploy", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = bearer(&app, &token, "POST", &send(general), Some(json!({"text": "still here?"}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = call(&app, "bob", "GET", &format!("/api/v1/chat/channels/{general}/bots"), None).await;
    assert_eq!(r.body, json!([]), "{}", r.text);
    // The name is free again.
    let r = call(&app, "carol", "POST", "/api/v1/admin/bots", Some(json!({"name": "deploy"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.body["token"].as_str().unwrap(), token);
}

async fn hooks_follow_the_chat_module(db: &TestDb) {
    let app = app(db).await;
    let general = channel(&app, "alice", "general", "public", &[]).await;
    let (_, path) = hook(&app, "alice", general).await;
    app.state.modules.set(&[(Module::Chat, false)]).await.unwrap();
    let r = post_raw(&app, &path, PUSH, "application/json").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("module_disabled"), "{}", r.text);
}

on_both_databases!(
    gitea_push_shows_up_as_a_message,
    malformed_payloads_are_400_and_post_nothing,
    revoked_and_unknown_hooks_are_404,
    only_channel_admins_manage_hooks,
    hooks_are_rate_limited,
    bots_act_only_in_their_channels_and_only_on_chat,
    hooks_follow_the_chat_module,
);
