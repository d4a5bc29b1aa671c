//! Team chat through the real router (`/api/v1/chat`, docs/chat.md), on both databases:
//! channels, members, DMs, send/history/edit/delete, read state, threads, reactions, pins,
//! the push events each change writes (order, resume, idempotency, removal), isolation of
//! private channels, archived channels, limits and group-following channels.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::api::{Json, assert_error, call};
use common::dav::users;
use common::{Backend, TestApp, TestDb};
use madang::chat::{Author, ChatService, SendMessage};
use madang::config::ChatConfig;
use madang::domain::{Role, UserId, Username};
use madang::modules::Module;
use serde_json::{Value, json};

async fn chat_app(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Chat, true)]).await.unwrap();
    users(&app, &["alice", "bob", "carol", "dave"]).await;
    app
}

async fn id_of(app: &TestApp, name: &str) -> UserId {
    app.store.user_by_name(&Username::parse(name).unwrap()).await.unwrap().id
}

async fn ok(app: &TestApp, user: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let r = call(app, user, method, path, body).await;
    assert!(r.status.is_success(), "{method} {path}: {} {}", r.status, r.text);
    r.body
}

async fn create(app: &TestApp, user: &str, name: &str, kind: &str, members: &[&str]) -> i64 {
    let r =
        call(app, user, "POST", "/api/v1/chat/channels", Some(json!({"name": name, "kind": kind, "members": members})))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

async fn send(app: &TestApp, user: &str, channel: i64, body: Value) -> Json {
    call(app, user, "POST", &format!("/api/v1/chat/channels/{channel}/messages"), Some(body)).await
}

async fn say(app: &TestApp, user: &str, channel: i64, text: &str) -> Value {
    let r = send(app, user, channel, json!({"text": text})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

/// The user's push events after `after`: `(kind, data)`.
async fn events(app: &TestApp, user: &str, after: i64) -> Vec<(i64, String, Value)> {
    let id = id_of(app, user).await;
    app.store
        .push_events_after(id, after, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.kind, serde_json::from_str(&e.data).unwrap()))
        .collect()
}

async fn head(app: &TestApp, user: &str) -> i64 {
    app.store.push_head(id_of(app, user).await).await.unwrap()
}

async fn channel_of(app: &TestApp, user: &str, id: i64) -> Value {
    ok(app, user, "GET", &format!("/api/v1/chat/channels/{id}"), None).await
}

async fn channels_messages_and_read_state(db: &TestDb) {
    let app = chat_app(db).await;
    let general = create(&app, "alice", "General", "public", &["bob"]).await;
    let c = channel_of(&app, "alice", general).await;
    assert_eq!(
        (c["name"].as_str(), c["kind"].as_str(), c["role"].as_str()),
        (Some("general"), Some("public"), Some("admin"))
    );
    assert_eq!(c["member_count"], 2);
    let bob_head = head(&app, "bob").await;
    let m = say(&app, "alice", general, "**hi** @bob <script>").await;
    assert_eq!(m["seq"], 1);
    assert_eq!(m["author"]["name"], "alice");
    assert_eq!(m["mentions"], json!(["bob"]));
    assert!(!m["html"].as_str().unwrap().contains("<script"), "{}", m["html"]);
    // Bob: one unread, one mention; alice's own message is read for her.
    let list = ok(&app, "bob", "GET", "/api/v1/chat/channels", None).await;
    assert_eq!((list[0]["unread"].as_i64(), list[0]["mentions"].as_i64()), (Some(1), Some(1)), "{list}");
    let c = channel_of(&app, "alice", general).await;
    assert_eq!((c["unread"].as_i64(), c["last_read_seq"].as_i64()), (Some(0), Some(1)));
    // The push event carries the whole message.
    let got = events(&app, "bob", bob_head).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "chat.message");
    assert_eq!(got[0].2["op"], "new");
    assert_eq!(got[0].2["message"]["id"], m["id"]);
    assert_eq!(got[0].2["message"]["html"], m["html"]);
    // Read, then mark unread again.
    let r = ok(&app, "bob", "POST", &format!("/api/v1/chat/channels/{general}/read"), Some(json!({"seq": 1}))).await;
    assert_eq!((r["unread"].as_i64(), r["mentions"].as_i64()), (Some(0), Some(0)));
    let read_event = events(&app, "bob", bob_head).await.pop().unwrap();
    assert_eq!(read_event.1, "chat.read");
    assert_eq!(read_event.2["last_read_seq"], 1);
    let r = ok(&app, "bob", "POST", &format!("/api/v1/chat/channels/{general}/read"), Some(json!({"seq": 0}))).await;
    assert_eq!(r["unread"], 1);
    // History pages.
    for i in 2..=5 {
        say(&app, "bob", general, &format!("m{i}")).await;
    }
    let page = ok(&app, "carol", "GET", &format!("/api/v1/chat/channels/{general}/messages?limit=2"), None).await;
    let seqs: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!((seqs, page["has_more"].as_bool()), (vec![4, 5], Some(true)));
    let page =
        ok(&app, "bob", "GET", &format!("/api/v1/chat/channels/{general}/messages?before=4&limit=10"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 3);
    assert_eq!(page["has_more"], false);
    let page = ok(&app, "bob", "GET", &format!("/api/v1/chat/channels/{general}/messages?after=3"), None).await;
    assert_eq!(page["messages"][0]["seq"], 4);
    // Edit (author only) keeps the history; delete leaves a tombstone.
    let id = m["id"].as_i64().unwrap();
    let r = call(&app, "bob", "PATCH", &format!("/api/v1/chat/messages/{id}"), Some(json!({"text": "no"}))).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let e = ok(&app, "alice", "PATCH", &format!("/api/v1/chat/messages/{id}"), Some(json!({"text": "hello"}))).await;
    assert_eq!((e["text"].as_str(), e["edited_at"].is_string()), (Some("hello"), true));
    let versions = ok(&app, "bob", "GET", &format!("/api/v1/chat/messages/{id}/history"), None).await;
    assert_eq!(versions[0]["text"], "**hi** @bob <script>");
    let list = ok(&app, "bob", "GET", "/api/v1/chat/channels", None).await;
    assert_eq!(list[0]["mentions"], 0, "the edit took the mention away");
    let d = ok(&app, "alice", "DELETE", &format!("/api/v1/chat/messages/{id}"), None).await;
    assert_eq!((d["deleted"].as_bool(), d["text"].as_str()), (Some(true), Some("")));
    assert_eq!(ok(&app, "bob", "GET", &format!("/api/v1/chat/messages/{id}/history"), None).await, json!([]));
    let last = events(&app, "bob", bob_head).await.pop().unwrap();
    assert_eq!((last.1.as_str(), last.2["op"].as_str()), ("chat.message", Some("delete")));
    // Joining a public channel, browsing, leaving.
    let browse = ok(&app, "carol", "GET", "/api/v1/chat/channels/browse?q=gen", None).await;
    assert_eq!(browse["channels"][0]["member"], false);
    let r =
        call(&app, "carol", "POST", &format!("/api/v1/chat/channels/{general}/messages"), Some(json!({"text": "x"})))
            .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    ok(&app, "carol", "PUT", &format!("/api/v1/chat/channels/{general}/members/carol"), None).await;
    say(&app, "carol", general, "joined").await;
    let r = call(&app, "carol", "PUT", &format!("/api/v1/chat/channels/{general}/members/dave"), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    ok(&app, "carol", "DELETE", &format!("/api/v1/chat/channels/{general}/members/carol"), None).await;
    assert_eq!(ok(&app, "carol", "GET", "/api/v1/chat/channels", None).await, json!([]));
    // A taken name, a bad kind; preview.
    let r =
        call(&app, "bob", "POST", "/api/v1/chat/channels", Some(json!({"name": "general", "kind": "public"}))).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = call(&app, "bob", "POST", "/api/v1/chat/channels", Some(json!({"name": "x", "kind": "dm"}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let p = ok(&app, "bob", "POST", "/api/v1/chat/preview", Some(json!({"text": "<b>x</b>"}))).await;
    assert!(!p["html"].as_str().unwrap().contains("<b>"), "{p}");
    // The module gate.
    app.state.modules.set(&[(Module::Chat, false)]).await.unwrap();
    let r = call(&app, "bob", "GET", "/api/v1/chat/channels", None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "module_disabled");
}

/// Every route about a private channel, its messages and members answers a non-member 404
/// with exactly the body a channel that does not exist gets.
async fn private_channels_are_invisible_to_non_members(db: &TestDb) {
    let app = chat_app(db).await;
    let secret = create(&app, "alice", "secret", "private", &["bob"]).await;
    let m = say(&app, "alice", secret, "classified").await["id"].as_i64().unwrap();
    let missing_channel = secret + 1000;
    let missing_message = m + 1000;
    let routes = |c: i64, m: i64| -> Vec<(&'static str, String, Option<Value>)> {
        vec![
            ("GET", format!("/api/v1/chat/channels/{c}"), None),
            ("PATCH", format!("/api/v1/chat/channels/{c}"), Some(json!({"topic": "x"}))),
            ("GET", format!("/api/v1/chat/channels/{c}/members"), None),
            ("PUT", format!("/api/v1/chat/channels/{c}/members/carol"), None),
            ("DELETE", format!("/api/v1/chat/channels/{c}/members/alice"), None),
            ("GET", format!("/api/v1/chat/channels/{c}/messages"), None),
            ("POST", format!("/api/v1/chat/channels/{c}/messages"), Some(json!({"text": "hi"}))),
            ("GET", format!("/api/v1/chat/channels/{c}/pins"), None),
            ("POST", format!("/api/v1/chat/channels/{c}/read"), Some(json!({"seq": 1}))),
            ("GET", format!("/api/v1/chat/messages/{m}"), None),
            ("PATCH", format!("/api/v1/chat/messages/{m}"), Some(json!({"text": "x"}))),
            ("DELETE", format!("/api/v1/chat/messages/{m}"), None),
            ("GET", format!("/api/v1/chat/messages/{m}/history"), None),
            ("PUT", format!("/api/v1/chat/messages/{m}/reactions/%F0%9F%91%8D"), None),
            ("DELETE", format!("/api/v1/chat/messages/{m}/reactions/%F0%9F%91%8D"), None),
            ("PUT", format!("/api/v1/chat/messages/{m}/pin"), None),
            ("DELETE", format!("/api/v1/chat/messages/{m}/pin"), None),
            ("GET", format!("/api/v1/chat/messages/{m}/thread"), None),
            ("PUT", format!("/api/v1/chat/messages/{m}/follow"), None),
            ("DELETE", format!("/api/v1/chat/messages/{m}/follow"), None),
            ("POST", format!("/api/v1/chat/messages/{m}/read"), Some(json!({"seq": 1}))),
        ]
    };
    let hidden = routes(secret, m);
    let absent = routes(missing_channel, missing_message);
    for ((method, path, body), (_, absent_path, _)) in hidden.into_iter().zip(absent) {
        let r = call(&app, "carol", method, &path, body.clone()).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        let a = call(&app, "carol", method, &absent_path, body).await;
        assert_eq!((a.status, &a.body), (r.status, &r.body), "{method} {path} differs from a missing one");
        // A reply into the private thread from outside is refused too.
    }
    let public = create(&app, "carol", "open", "public", &[]).await;
    let r = send(&app, "carol", public, json!({"text": "x", "thread": m})).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    // Nor is it listed anywhere.
    let browse = ok(&app, "carol", "GET", "/api/v1/chat/channels/browse", None).await;
    assert!(!browse.to_string().contains("secret"), "{browse}");
    let mine = ok(&app, "carol", "GET", "/api/v1/chat/channels", None).await;
    assert!(!mine.to_string().contains("secret"), "{mine}");
    assert!(!ok(&app, "carol", "GET", "/api/v1/chat/threads", None).await.to_string().contains("classified"));
    // Carol got no event about it.
    assert!(events(&app, "carol", 0).await.iter().all(|e| e.2["channel"] != secret && e.2["channel"]["id"] != secret));
    // Members do see it.
    assert_eq!(channel_of(&app, "bob", secret).await["name"], "secret");
}

async fn a_retried_send_returns_the_first_message(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "retry", "public", &["bob"]).await;
    let bob_head = head(&app, "bob").await;
    let first = send(&app, "alice", c, json!({"text": "once", "client_id": "c-1"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send(&app, "alice", c, json!({"text": "once", "client_id": "c-1"})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["client_id"], "c-1");
    // Another author may use the same client id.
    assert_eq!(send(&app, "bob", c, json!({"text": "mine", "client_id": "c-1"})).await.status, StatusCode::CREATED);
    let news: Vec<_> = events(&app, "bob", bob_head).await.into_iter().filter(|e| e.2["op"] == "new").collect();
    assert_eq!(news.len(), 2, "one event per message, none for the retry");
    let page = ok(&app, "alice", "GET", &format!("/api/v1/chat/channels/{c}/messages"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
}

/// Collects a push listener's events until `messages` chat messages have come (20 s at most).
fn stream_messages(
    mut listener: madang::push::Listener,
    messages: usize,
) -> tokio::task::JoinHandle<Vec<madang::store::push::PushEvent>> {
    tokio::spawn(async move {
        let mut got: Vec<madang::store::push::PushEvent> = Vec::new();
        while got.iter().filter(|e| e.kind == "chat.message").count() < messages {
            match tokio::time::timeout(Duration::from_secs(20), listener.next()).await.expect("events in time") {
                Some(Ok(madang::push::Delivery::Events(events))) => got.extend(events),
                Some(Ok(madang::push::Delivery::Heartbeat | madang::push::Delivery::Ephemeral { .. })) => {}
                other => panic!("{other:?}"),
            }
        }
        got
    })
}

/// A stream after `head` numbered without gaps, with the channel's messages 1..=`n` in order.
fn assert_stream(name: &str, head: i64, got: &[madang::store::push::PushEvent], n: i64) {
    let numbers: Vec<i64> = got.iter().map(|e| e.seq).collect();
    assert_eq!(numbers, (head + 1..=head + got.len() as i64).collect::<Vec<_>>(), "{name}'s stream");
    let seqs: Vec<i64> = got
        .iter()
        .filter(|e| e.kind == "chat.message")
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["message"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{name}'s stream");
}

/// 4 writers × 25 sends at once: seq 1..100 without gaps, and every member's log lists the
/// channel's messages in seq order; a listener open meanwhile sends exactly that log, though
/// the commits reach it out of order and mostly from the process's own copies
/// (`push::RECENT`), with a calendar write (no copy: the log is read) in the middle.
async fn concurrent_sends_are_numbered_and_delivered_in_order(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "busy", "public", &["bob", "carol", "dave"]).await;
    let heads =
        [head(&app, "alice").await, head(&app, "bob").await, head(&app, "carol").await, head(&app, "dave").await];
    let bob = id_of(&app, "bob").await;
    let mut listener = app.state.push.open(bob, None).await.unwrap();
    let first = listener.next().await.unwrap().unwrap();
    assert_eq!(first, madang::push::Delivery::Ready { head: heads[1] });
    let live = stream_messages(listener, 100);
    let put = call(&app, "bob", "POST", "/api/v1/calendars", Some(json!({"name": "Meanwhile"})));
    let mut tasks = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let chat = app.state.chat.clone();
        let user = id_of(&app, name).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let req = SendMessage { text: format!("{i}"), ..Default::default() };
                chat.send(Author::User(user), c, req).await.unwrap();
            }
        }));
    }
    assert!(put.await.status.is_success());
    for t in tasks {
        t.await.unwrap();
    }
    assert_stream("bob", heads[1], &live.await.unwrap(), 100);
    let page = ok(&app, "alice", "GET", &format!("/api/v1/chat/channels/{c}/messages?limit=200"), None).await;
    let seqs: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    for (name, head) in ["alice", "bob", "carol", "dave"].into_iter().zip(heads) {
        let got: Vec<i64> = events(&app, name, head)
            .await
            .into_iter()
            .filter(|e| e.1 == "chat.message")
            .map(|e| e.2["message"]["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(got, (1..=100).collect::<Vec<_>>(), "{name}'s log");
    }
}

/// Two processes on one PostgreSQL, sends on both at once: a listener on either gets the
/// channel's every message once and in order, whether its own process committed it (kept
/// copies) or the other did (read for all its listeners at once, `push::fetch_remote`).
async fn a_busy_channel_reaches_listeners_on_both_processes(db: &TestDb) {
    if db.backend != Backend::Postgres {
        return;
    }
    let one = chat_app(db).await;
    let two = TestApp::new(db).await;
    let c = create(&one, "alice", "both", "public", &["bob", "carol", "dave"]).await;
    let mut streams = Vec::new();
    for (app, name) in [(&one, "bob"), (&two, "carol")] {
        let user = id_of(app, name).await;
        let mut listener = app.state.push.open(user, None).await.unwrap();
        let Some(Ok(madang::push::Delivery::Ready { head })) = listener.next().await else { panic!("no ready") };
        streams.push((head, stream_messages(listener, 100)));
    }
    let mut tasks = Vec::new();
    for (app, name) in [(&one, "alice"), (&two, "dave"), (&one, "bob"), (&two, "carol")] {
        let chat = app.state.chat.clone();
        let user = id_of(app, name).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                chat.send(Author::User(user), c, SendMessage { text: format!("{i}"), ..Default::default() })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for ((head, stream), name) in streams.into_iter().zip(["bob", "carol"]) {
        assert_stream(name, head, &stream.await.unwrap(), 100);
    }
}

/// A client that disconnects and resumes with its last event id gets exactly what it missed.
async fn resuming_loses_and_duplicates_nothing(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "resume", "public", &["bob"]).await;
    let bob = id_of(&app, "bob").await;
    let mut listener = app.state.push.open(bob, None).await.unwrap();
    let ready = listener.next().await.unwrap().unwrap();
    let madang::push::Delivery::Ready { head: start } = ready else { panic!("{ready:?}") };
    say(&app, "alice", c, "live").await;
    let live = tokio::time::timeout(Duration::from_secs(5), listener.next()).await.unwrap().unwrap().unwrap();
    let madang::push::Delivery::Events(live) = live else { panic!("{live:?}") };
    assert_eq!(live.len(), 1);
    let last = live[0].seq;
    assert_eq!(last, start + 1);
    drop(listener);
    for i in 0..30 {
        say(&app, "alice", c, &format!("missed {i}")).await;
    }
    let mut listener = app.state.push.open(bob, Some(&last.to_string())).await.unwrap();
    let _ready = listener.next().await.unwrap().unwrap();
    let mut got = Vec::new();
    while got.len() < 30 {
        let d = tokio::time::timeout(Duration::from_secs(5), listener.next()).await.unwrap().unwrap().unwrap();
        if let madang::push::Delivery::Events(evs) = d {
            got.extend(evs);
        }
    }
    let texts: Vec<String> = got
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["message"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, (0..30).map(|i| format!("missed {i}")).collect::<Vec<_>>());
    let numbers: Vec<i64> = got.iter().map(|e| e.seq).collect();
    assert_eq!(numbers, (last + 1..=last + 30).collect::<Vec<_>>());
}

async fn a_removed_member_gets_nothing_more(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "team", "private", &["bob", "carol"]).await;
    say(&app, "alice", c, "before").await;
    let r = call(&app, "bob", "DELETE", &format!("/api/v1/chat/channels/{c}/members/carol"), None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let bob_head = head(&app, "bob").await;
    ok(&app, "alice", "DELETE", &format!("/api/v1/chat/channels/{c}/members/bob"), None).await;
    let got = events(&app, "bob", bob_head).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].1.as_str(), got[0].2["op"].as_str(), got[0].2["user"].as_str()),
        ("chat.channel", Some("removed"), Some("bob"))
    );
    let after = head(&app, "bob").await;
    say(&app, "alice", c, "after").await;
    ok(&app, "alice", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"topic": "new"}))).await;
    assert_eq!(events(&app, "bob", after).await.len(), 0);
    let r = call(&app, "bob", "GET", &format!("/api/v1/chat/channels/{c}/messages"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    // Carol saw both the removal and the message.
    let carol: Vec<String> =
        events(&app, "carol", 0).await.into_iter().map(|e| format!("{} {}", e.1, e.2["op"])).collect();
    assert!(carol.contains(&"chat.channel \"removed\"".to_string()), "{carol:?}");
}

async fn archived_channels_are_read_only(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "old", "public", &["bob"]).await;
    let m = say(&app, "bob", c, "last words").await["id"].as_i64().unwrap();
    let r = call(&app, "bob", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"archived": true}))).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let bob_head = head(&app, "bob").await;
    let a = ok(&app, "alice", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"archived": true}))).await;
    assert_eq!(a["archived"], true);
    let ev = events(&app, "bob", bob_head).await;
    assert_eq!((ev[0].1.as_str(), ev[0].2["op"].as_str()), ("chat.channel", Some("archived")));
    assert_error(&send(&app, "bob", c, json!({"text": "x"})).await, StatusCode::CONFLICT, "archived");
    let r = call(&app, "bob", "PATCH", &format!("/api/v1/chat/messages/{m}"), Some(json!({"text": "y"}))).await;
    assert_error(&r, StatusCode::CONFLICT, "archived");
    let r = call(&app, "bob", "PUT", &format!("/api/v1/chat/messages/{m}/reactions/%F0%9F%91%8D"), None).await;
    assert_error(&r, StatusCode::CONFLICT, "archived");
    // Still readable; unarchiving opens it again.
    ok(&app, "bob", "GET", &format!("/api/v1/chat/channels/{c}/messages"), None).await;
    ok(&app, "alice", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"archived": false}))).await;
    say(&app, "bob", c, "back").await;
}

async fn direct_messages(db: &TestDb) {
    let app = chat_app(db).await;
    let dm = ok(&app, "alice", "POST", "/api/v1/chat/dms", Some(json!({"users": ["bob"]}))).await;
    assert_eq!((dm["kind"].as_str(), dm["members"].clone()), (Some("dm"), json!(["alice", "bob"])));
    let id = dm["id"].as_i64().unwrap();
    let again = ok(&app, "bob", "POST", "/api/v1/chat/dms", Some(json!({"users": ["alice", "bob"]}))).await;
    assert_eq!(again["id"], id, "the same people find the same DM");
    // Bob sees it once it has a message.
    assert_eq!(ok(&app, "alice", "GET", "/api/v1/chat/channels", None).await[0]["id"], id);
    let bob_head = head(&app, "bob").await;
    assert!(ok(&app, "bob", "GET", "/api/v1/chat/channels", None).await.as_array().unwrap().is_empty());
    say(&app, "alice", id, "psst").await;
    let list = ok(&app, "bob", "GET", "/api/v1/chat/channels", None).await;
    assert_eq!((list[0]["id"].as_i64(), list[0]["unread"].as_i64()), (Some(id), Some(1)));
    let kinds: Vec<String> = events(&app, "bob", bob_head).await.into_iter().map(|e| e.1).collect();
    assert_eq!(kinds, ["chat.channel", "chat.message"]);
    assert_error(
        &call(&app, "carol", "GET", &format!("/api/v1/chat/channels/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = call(&app, "alice", "PUT", &format!("/api/v1/chat/channels/{id}/members/carol"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // Sizes: at least one other person, at most chat.max_dm_members in all.
    let r = call(&app, "alice", "POST", "/api/v1/chat/dms", Some(json!({"users": []}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let many: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
    for name in &many {
        app.add_user(name, common::dav::PASSWORD).await;
    }
    let r = call(&app, "alice", "POST", "/api/v1/chat/dms", Some(json!({"users": many}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let group = ok(&app, "alice", "POST", "/api/v1/chat/dms", Some(json!({"users": &many[..7]}))).await;
    assert_eq!(group["member_count"], 8);
    let r = call(&app, "alice", "POST", "/api/v1/chat/dms", Some(json!({"users": ["nobody"]}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn threads_reactions_and_pins(db: &TestDb) {
    let app = chat_app(db).await;
    let c = create(&app, "alice", "dev", "public", &["bob", "carol"]).await;
    let root = say(&app, "alice", c, "question").await;
    let root_id = root["id"].as_i64().unwrap();
    let reply = send(&app, "bob", c, json!({"text": "answer", "thread": root_id})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!((reply.body["thread"].as_i64(), reply.body["seq"].as_i64()), (Some(root_id), Some(2)));
    // Replies take the channel's numbers but stay out of its history.
    let page = ok(&app, "carol", "GET", &format!("/api/v1/chat/channels/{c}/messages"), None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["messages"][0]["reply_count"], 1);
    assert_eq!(page["messages"][0]["participants"], json!(["bob"]));
    let t = ok(&app, "alice", "GET", &format!("/api/v1/chat/messages/{root_id}/thread"), None).await;
    assert_eq!((t["replies"].as_array().unwrap().len(), t["following"].as_bool()), (1, Some(true)));
    // Alice follows as the root's author: the reply is unread for her.
    let threads = ok(&app, "alice", "GET", "/api/v1/chat/threads", None).await;
    assert_eq!((threads[0]["root"]["id"].as_i64(), threads[0]["unread"].as_i64()), (Some(root_id), Some(1)));
    let r = ok(&app, "alice", "POST", &format!("/api/v1/chat/messages/{root_id}/read"), Some(json!({"seq": 2}))).await;
    assert_eq!((r["thread"].as_i64(), r["unread"].as_i64()), (Some(root_id), Some(0)));
    assert_eq!(ok(&app, "alice", "GET", "/api/v1/chat/threads", None).await, json!([]));
    // Carol follows, then unfollows.
    ok(&app, "carol", "PUT", &format!("/api/v1/chat/messages/{root_id}/follow"), None).await;
    assert_eq!(ok(&app, "carol", "GET", "/api/v1/chat/threads", None).await[0]["unread"], 1);
    ok(&app, "carol", "DELETE", &format!("/api/v1/chat/messages/{root_id}/follow"), None).await;
    assert_eq!(ok(&app, "carol", "GET", "/api/v1/chat/threads", None).await, json!([]));
    // A reply to a reply joins the root's thread.
    let nested = send(&app, "carol", c, json!({"text": "me too", "thread": reply.body["id"]})).await;
    assert_eq!(nested.body["thread"], root_id);
    // Reactions.
    let bob_head = head(&app, "bob").await;
    let path = format!("/api/v1/chat/messages/{root_id}/reactions/%F0%9F%91%8D");
    ok(&app, "bob", "PUT", &path, None).await;
    let m = ok(&app, "carol", "PUT", &path, None).await;
    assert_eq!(m["reactions"], json!([{"emoji": "👍", "count": 2, "users": ["bob", "carol"]}]));
    let m = ok(&app, "bob", "DELETE", &path, None).await;
    assert_eq!(m["reactions"], json!([{"emoji": "👍", "count": 1, "users": ["carol"]}]));
    let r = call(&app, "bob", "PUT", &format!("/api/v1/chat/messages/{root_id}/reactions/%3Cb%3E"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let ops: Vec<String> =
        events(&app, "bob", bob_head).await.into_iter().map(|e| e.2["op"].as_str().unwrap().to_string()).collect();
    assert_eq!(ops, ["reaction", "reaction", "reaction"]);
    // Pins.
    let p = ok(&app, "bob", "PUT", &format!("/api/v1/chat/messages/{root_id}/pin"), None).await;
    assert_eq!(p["pinned"], true);
    let pins = ok(&app, "carol", "GET", &format!("/api/v1/chat/channels/{c}/pins"), None).await;
    assert_eq!(pins[0]["id"], root_id);
    ok(&app, "bob", "DELETE", &format!("/api/v1/chat/messages/{root_id}/pin"), None).await;
    assert_eq!(ok(&app, "carol", "GET", &format!("/api/v1/chat/channels/{c}/pins"), None).await, json!([]));
    // Deleting a reply takes it out of the root's count, and members hear the root again.
    let bob_head = head(&app, "bob").await;
    let nested_id = nested.body["id"].as_i64().unwrap();
    ok(&app, "carol", "DELETE", &format!("/api/v1/chat/messages/{nested_id}"), None).await;
    let page = ok(&app, "alice", "GET", &format!("/api/v1/chat/channels/{c}/messages"), None).await;
    assert_eq!(page["messages"][0]["reply_count"], 1);
    assert_eq!(page["messages"][0]["participants"], json!(["bob"]));
    assert_eq!(page["messages"][0]["last_reply_at"], reply.body["created_at"]);
    let ops: Vec<(String, i64)> = events(&app, "bob", bob_head)
        .await
        .into_iter()
        .map(|e| (e.2["op"].as_str().unwrap().to_string(), e.2["message"]["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(ops, [("delete".to_string(), nested_id), ("thread".to_string(), root_id)]);
    // @channel mentions everyone but the author.
    say(&app, "bob", c, "@channel standup").await;
    let list = ok(&app, "carol", "GET", "/api/v1/chat/channels", None).await;
    assert_eq!(list[0]["mentions"], 1);
    let list = ok(&app, "bob", "GET", "/api/v1/chat/channels", None).await;
    assert_eq!(list[0]["mentions"], 0);
}

async fn limits_are_enforced(db: &TestDb) {
    let mut app = chat_app(db).await;
    let config = ChatConfig { max_message_bytes: 100, messages_per_minute: 3, ..ChatConfig::default() };
    app.state.chat =
        Arc::new(ChatService::new(app.store.clone(), app.state.push.clone(), config, app.state.clock.clone()));
    let c = create(&app, "alice", "limits", "public", &[]).await;
    assert_error(
        &send(&app, "alice", c, json!({"text": "x".repeat(101)})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    );
    assert_error(&send(&app, "alice", c, json!({"text": "  "})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    for i in 0..3 {
        say(&app, "alice", c, &format!("{i}")).await;
    }
    let r = common::dav::Client::new(&app, "alice")
        .send(
            "POST",
            &format!("/api/v1/chat/channels/{c}/messages"),
            &[("content-type", "application/json")],
            json!({"text": "too fast"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let r =
        call(&app, "alice", "POST", "/api/v1/chat/channels", Some(json!({"name": "n".repeat(81), "kind": "public"})))
            .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r =
        call(&app, "alice", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"topic": "t".repeat(251)})))
            .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    ok(&app, "alice", "PATCH", &format!("/api/v1/chat/channels/{c}"), Some(json!({"topic": "t".repeat(250)}))).await;
    let r = call(&app, "alice", "POST", "/api/v1/chat/preview", Some(json!({"text": "x".repeat(101)}))).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
}

/// A channel that follows a group has the group's members, and follows the administrators'
/// changes to the group.
async fn channels_follow_their_group(db: &TestDb) {
    let app = chat_app(db).await;
    let alice = id_of(&app, "alice").await;
    app.store.set_role(alice, Role::Admin, chrono::Utc::now()).await.unwrap();
    ok(&app, "alice", "POST", "/api/v1/admin/groups", Some(json!({"name": "staff"}))).await;
    ok(&app, "alice", "PUT", "/api/v1/admin/groups/staff/members/bob", None).await;
    let r = call(
        &app,
        "dave",
        "POST",
        "/api/v1/chat/channels",
        Some(json!({"name": "x", "kind": "public", "group": "nope"})),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let c = call(
        &app,
        "dave",
        "POST",
        "/api/v1/chat/channels",
        Some(json!({"name": "staff", "kind": "private", "group": "staff"})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.text);
    assert_eq!(c.body["group"], "staff");
    let id = c.body["id"].as_i64().unwrap();
    let names = |v: Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(
        names(ok(&app, "dave", "GET", &format!("/api/v1/chat/channels/{id}/members"), None).await),
        ["bob", "dave"]
    );
    ok(&app, "alice", "PUT", "/api/v1/admin/groups/staff/members/carol", None).await;
    assert_eq!(
        names(ok(&app, "dave", "GET", &format!("/api/v1/chat/channels/{id}/members"), None).await),
        ["bob", "carol", "dave"]
    );
    let bob_head = head(&app, "bob").await;
    ok(&app, "alice", "DELETE", "/api/v1/admin/groups/staff/members/bob", None).await;
    assert_eq!(
        names(ok(&app, "dave", "GET", &format!("/api/v1/chat/channels/{id}/members"), None).await),
        ["carol", "dave"]
    );
    let ev = events(&app, "bob", bob_head).await;
    assert_eq!(ev.last().unwrap().2["op"], "removed");
    assert_error(
        &call(&app, "bob", "GET", &format!("/api/v1/chat/channels/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Stop following: membership stays as it is.
    let p = ok(&app, "dave", "PATCH", &format!("/api/v1/chat/channels/{id}"), Some(json!({"group": null}))).await;
    assert_eq!(p["group"], Value::Null);
    ok(&app, "alice", "PUT", "/api/v1/admin/groups/staff/members/bob", None).await;
    assert_eq!(
        names(ok(&app, "dave", "GET", &format!("/api/v1/chat/channels/{id}/members"), None).await),
        ["carol", "dave"]
    );
}

/// Issue 13's fan-out: a message to a channel writes its JSON once (`push_payloads`), however
/// many members' logs carry it, and every member still reads the whole event; pruning by age
/// takes the payloads with the events.
async fn a_message_payload_is_stored_once_for_all_members(db: &TestDb) {
    let app = chat_app(db).await;
    let general = create(&app, "alice", "General", "public", &["bob", "carol", "dave"]).await;
    let heads = [head(&app, "bob").await, head(&app, "carol").await, head(&app, "dave").await];
    let payloads = db.scalar("SELECT COUNT(*) FROM push_payloads").await;
    let m = say(&app, "alice", general, "the quarterly numbers are in").await;
    // One payload for the four members' `chat.message`; alice's `chat.read` is hers alone.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM push_payloads").await, payloads + 1);
    let copies = db.scalar("SELECT COUNT(*) FROM push_events WHERE data LIKE '%quarterly%'").await;
    assert_eq!(copies, 0, "members' rows point at the payload instead of copying it");
    for (user, after) in ["bob", "carol", "dave"].into_iter().zip(heads) {
        let got = events(&app, user, after).await;
        assert_eq!(got.len(), 1, "{user}: {got:?}");
        assert_eq!((got[0].1.as_str(), &got[0].2["message"]["id"]), ("chat.message", &m["id"]));
        assert_eq!(got[0].2["message"]["text"], "the quarterly numbers are in");
    }
    let mine = events(&app, "alice", 0).await;
    assert_eq!(mine.last().map(|e| e.1.as_str()), Some("chat.read"));
    // Pruned by age: the events and their shared payloads go together.
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let pruned = app.store.prune_push_events(1_000, later).await.unwrap();
    assert!(pruned >= 5, "{pruned}");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM push_payloads").await, 0);
    assert!(events(&app, "bob", 0).await.is_empty());
}

on_both_databases!(
    a_message_payload_is_stored_once_for_all_members,
    channels_messages_and_read_state,
    private_channels_are_invisible_to_non_members,
    a_retried_send_returns_the_first_message,
    concurrent_sends_are_numbered_and_delivered_in_order,
    a_busy_channel_reaches_listeners_on_both_processes,
    resuming_loses_and_duplicates_nothing,
    a_removed_member_gets_nothing_more,
    archived_channels_are_read_only,
    direct_messages,
    threads_reactions_and_pins,
    limits_are_enforced,
    channels_follow_their_group,
);
