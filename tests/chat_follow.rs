//! Following and unfollowing a thread (`chat.follow`): the user's other devices hear it live,
//! on another process sharing the PostgreSQL database, and on resume; other members never do.
//! On both databases.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::api::call;
use common::dav::users;
use common::{Backend, TestApp, TestDb};
use madang::domain::{UserId, Username};
use madang::modules::Module;
use madang::push::{Delivery, Listener};
use madang::store::push::PushEvent;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(5);

/// Chat on; alice, bob and carol in channel `dev`, where alice wrote a root and bob replied
/// (so alice follows it as its author). Returns the app, the channel and the root.
async fn thread_app(db: &TestDb) -> (TestApp, i64, i64) {
    let app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Chat, true)]).await.unwrap();
    users(&app, &["alice", "bob", "carol"]).await;
    let r = call(
        &app,
        "alice",
        "POST",
        "/api/v1/chat/channels",
        Some(json!({"name": "dev", "kind": "public", "members": ["bob", "carol"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let channel = r.body["id"].as_i64().unwrap();
    let root = post(&app, "alice", channel, json!({"text": "question"})).await;
    post(&app, "bob", channel, json!({"text": "answer", "thread": root})).await;
    (app, channel, root)
}

async fn post(app: &TestApp, user: &str, channel: i64, body: Value) -> i64 {
    let r = call(app, user, "POST", &format!("/api/v1/chat/channels/{channel}/messages"), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

async fn id_of(app: &TestApp, name: &str) -> UserId {
    app.store.user_by_name(&Username::parse(name).unwrap()).await.unwrap().id
}

async fn set_follow(app: &TestApp, user: &str, root: i64, on: bool) {
    let method = if on { "PUT" } else { "DELETE" };
    let r = call(app, user, method, &format!("/api/v1/chat/messages/{root}/follow"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

/// A device of `user`: a push stream opened on `app`'s process, after `last` when given.
async fn device(app: &TestApp, user: &str, last: Option<i64>) -> (Listener, i64) {
    let mut listener =
        app.state.push.open(id_of(app, user).await, last.map(|l| l.to_string()).as_deref()).await.unwrap();
    match listener.next().await {
        Some(Ok(Delivery::Ready { head })) => (listener, head),
        other => panic!("no ready: {other:?}"),
    }
}

/// The stored events the listener sends within `wait`, until one of `kind` (inclusive).
async fn until(listener: &mut Listener, kind: &str, wait: Duration) -> Vec<PushEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    while !got.iter().any(|e: &PushEvent| e.kind == kind) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, listener.next()).await {
            Ok(Some(Ok(Delivery::Events(events)))) => got.extend(events),
            Ok(Some(Ok(Delivery::Heartbeat | Delivery::Ephemeral { .. }))) => {}
            Ok(other) => panic!("{other:?}"),
            Err(_) => break,
        }
    }
    got
}

fn data(e: &PushEvent) -> Value {
    serde_json::from_str(&e.data).unwrap()
}

/// The `data` of the `chat.follow` events among `got`.
fn follows(got: &[PushEvent]) -> Vec<Value> {
    got.iter().filter(|e| e.kind == "chat.follow").map(data).collect()
}

async fn following(app: &TestApp, user: &str, root: i64) -> bool {
    let r = call(app, user, "GET", &format!("/api/v1/chat/messages/{root}/thread"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["following"].as_bool().unwrap()
}

/// Alice unfollows and follows again on one device; her two other devices (one on another
/// process on PostgreSQL) hear both, in order, and a device that was off resumes with both.
async fn following_a_thread_reaches_the_users_other_devices(db: &TestDb) {
    let (app, channel, root) = thread_app(db).await;
    let (mut laptop, before) = device(&app, "alice", None).await;
    // Another process on the same database, as a second server behind a load balancer.
    let other = match db.backend {
        Backend::Postgres => Some(TestApp::new(db).await),
        Backend::Sqlite => None,
    };
    let mut phone = match &other {
        Some(two) => {
            // Let its LISTEN connection come up.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(device(two, "alice", None).await.0)
        }
        None => None,
    };

    set_follow(&app, "alice", root, false).await;
    let expected_off = json!({"channel": channel, "thread": root, "following": false});
    let got = until(&mut laptop, "chat.follow", LONG).await;
    let follow = got.iter().find(|e| e.kind == "chat.follow").expect("the laptop hears the unfollow");
    assert_eq!(data(follow), expected_off);
    assert!(follow.seq > before, "a stored, numbered event");
    if let Some(phone) = &mut phone {
        let got = until(phone, "chat.follow", LONG).await;
        let follow = got.iter().find(|e| e.kind == "chat.follow").expect("the other process hears it");
        assert_eq!(data(follow), expected_off);
    }
    assert!(!following(&app, "alice", root).await);

    set_follow(&app, "alice", root, true).await;
    let expected_on = json!({"channel": channel, "thread": root, "following": true});
    let got = until(&mut laptop, "chat.follow", LONG).await;
    assert_eq!(follows(&got), vec![expected_on.clone()]);
    if let Some(phone) = &mut phone {
        let got = until(phone, "chat.follow", LONG).await;
        assert_eq!(follows(&got), vec![expected_on.clone()]);
    }
    assert!(following(&app, "alice", root).await);

    // A device that was off resumes after its last event id and gets both, in order, from
    // either process.
    for app in std::iter::once(&app).chain(other.as_ref()) {
        let (mut tablet, _) = device(app, "alice", Some(before)).await;
        let got = until(&mut tablet, "chat.follow", LONG).await;
        let mut seen = follows(&got);
        if seen.len() < 2 {
            // The replay may come in more than one delivery.
            seen.extend(follows(&until(&mut tablet, "chat.follow", LONG).await));
        }
        assert_eq!(seen, vec![expected_off.clone(), expected_on.clone()]);
    }
}

/// Bob and carol, in the same channel, hear nothing of alice following or unfollowing: not
/// live, not in their logs. And someone who cannot follow (not a member) causes no event.
async fn a_follow_is_not_sent_to_other_members(db: &TestDb) {
    let (app, channel, root) = thread_app(db).await;
    app.add_user("dave", common::dav::PASSWORD).await;
    let (mut bob, bob_head) = device(&app, "bob", None).await;
    let carol_head = app.store.push_head(id_of(&app, "carol").await).await.unwrap();
    let dave_head = app.store.push_head(id_of(&app, "dave").await).await.unwrap();
    let (mut alice, _) = device(&app, "alice", None).await;

    set_follow(&app, "alice", root, false).await;
    set_follow(&app, "alice", root, true).await;
    // Alice's own device has both by now; then a message bob does get marks the end.
    let got = until(&mut alice, "chat.follow", LONG).await;
    assert!(got.iter().any(|e| e.kind == "chat.follow"));
    post(&app, "carol", channel, json!({"text": "after"})).await;
    let got = until(&mut bob, "chat.message", LONG).await;
    assert!(got.iter().all(|e| e.kind != "chat.follow"), "{got:?}");
    assert_eq!(got.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["chat.message"]);

    let r = call(&app, "dave", "PUT", &format!("/api/v1/chat/messages/{root}/follow"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    for (name, head) in [("bob", bob_head), ("carol", carol_head), ("dave", dave_head)] {
        let log = app.store.push_events_after(id_of(&app, name).await, head, 1000).await.unwrap();
        assert!(log.iter().all(|e| e.kind != "chat.follow"), "{name}: {log:?}");
    }
}

on_both_databases!(following_a_thread_reaches_the_users_other_devices, a_follow_is_not_sent_to_other_members);
