//! The push channel (`GET /api/v1/push`) through the real router: resume without loss after a
//! disconnect, a restart and across processes on PostgreSQL; resync for unknown ids; isolation,
//! connection caps, cookie authentication with its CSRF rules; on both databases.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::dav::{Client, PASSWORD, basic, event, object, users};
use common::{Backend, TestApp, TestDb};
use http_body_util::BodyExt;
use madang::config::PushConfig;
use tower::ServiceExt;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Ev {
    id: Option<String>,
    event: String,
    data: String,
}

/// A reader of one open `text/event-stream`.
struct Sse {
    body: Body,
    buffer: String,
    heartbeats: usize,
}

impl Sse {
    /// The next event (comments are counted as heartbeats), or `None` after `wait` of silence
    /// or the end of the stream.
    async fn next(&mut self, wait: Duration) -> Option<Ev> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut ev = Ev { id: None, event: "message".into(), data: String::new() };
                let mut comment = true;
                for line in block.lines().filter(|l| !l.is_empty()) {
                    let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                    match field {
                        "id" => ev.id = Some(value.to_string()),
                        "event" => ev.event = value.to_string(),
                        "data" => ev.data.push_str(value),
                        _ => {}
                    }
                    comment &= line.starts_with(':');
                }
                if comment {
                    self.heartbeats += 1;
                    continue;
                }
                return Some(ev);
            }
            let frame = tokio::time::timeout(wait, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
        }
    }

    /// Events until `n` have come (or `wait` passes without one).
    async fn take(&mut self, n: usize, wait: Duration) -> Vec<Ev> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(ev) = self.next(wait).await else { break };
            out.push(ev);
        }
        out
    }
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

async fn open_with(app: &TestApp, headers: &[(&str, &str)]) -> (StatusCode, Option<Sse>, String) {
    let mut req = Request::get("/api/v1/push").header(header::HOST, "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app.router().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        return (status, None, String::from_utf8_lossy(&bytes).into_owned());
    }
    let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    (status, Some(Sse { body: response.into_body(), buffer: String::new(), heartbeats: 0 }), String::new())
}

/// Opens alice's stream, resuming after `last` when given; returns it with the `ready` (or
/// `resync`) event it starts with.
async fn open(app: &TestApp, user: &str, last: Option<&str>) -> (Sse, Ev) {
    let auth = basic(user, PASSWORD);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(last) = last {
        headers.push(("last-event-id", last));
    }
    let (status, sse, text) = open_with(app, &headers).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mut sse = sse.unwrap();
    let first = sse.next(LONG).await.expect("first event");
    (sse, first)
}

async fn put_event(app: &TestApp, user: &str, name: &str) {
    let uid = name.trim_end_matches(".ics");
    let r = Client::new(app, user)
        .send(
            "PUT",
            &object(user, "default", name),
            &[("content-type", "text/calendar")],
            event(uid, "20260105T100000Z", "20260105T110000Z", uid),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text);
}

fn seqs(events: &[Ev]) -> Vec<i64> {
    events.iter().map(|e| e.id.as_deref().unwrap().parse().unwrap()).collect()
}

/// The issue's test: disconnect, 50 changes, reconnect with the last id → exactly those 50.
async fn reconnect_gets_exactly_what_was_missed(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    put_event(&app, "alice", "before.ics").await;
    let (mut sse, ready) = open(&app, "alice", None).await;
    assert_eq!(ready.event, "ready");
    let last = ready.id.clone().unwrap();
    // A live change arrives on the open stream.
    put_event(&app, "alice", "live.ics").await;
    let live = sse.next(LONG).await.unwrap();
    assert_eq!(live.event, "calendar.object");
    let payload: serde_json::Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(payload["calendar"], "default");
    assert_eq!(payload["uid"], "live");
    assert_eq!(payload["deleted"], false);
    let last_seen = live.id.clone().unwrap();
    assert_eq!(last_seen.parse::<i64>().unwrap(), last.parse::<i64>().unwrap() + 1);
    drop(sse);

    for i in 0..50 {
        put_event(&app, "alice", &format!("missed-{i}.ics")).await;
    }
    let (mut sse, ready) = open(&app, "alice", Some(&last_seen)).await;
    assert_eq!((ready.event.as_str(), ready.id.as_deref()), ("ready", Some(last_seen.as_str())));
    let missed = sse.take(60, SHORT).await;
    assert_eq!(missed.len(), 50, "{missed:?}");
    let first: i64 = last_seen.parse::<i64>().unwrap() + 1;
    assert_eq!(seqs(&missed), (first..first + 50).collect::<Vec<_>>());
    let uids: Vec<String> = missed
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(uids, (0..50).map(|i| format!("missed-{i}")).collect::<Vec<_>>());

    // A deletion is an event too, and the stream keeps going after the replay.
    let r = Client::new(&app, "alice").send("DELETE", &object("alice", "default", "missed-0.ics"), &[], "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let deleted = sse.next(LONG).await.unwrap();
    assert_eq!(seqs(std::slice::from_ref(&deleted)), [first + 50]);
    assert!(deleted.data.contains(r#""deleted":true"#), "{deleted:?}");
}

/// Events live in the database: a new process over the same database resumes exactly.
async fn resume_after_restart(db: &TestDb) {
    let last = {
        let app = TestApp::new(db).await;
        users(&app, &["alice"]).await;
        let (_, ready) = open(&app, "alice", None).await;
        for i in 0..5 {
            put_event(&app, "alice", &format!("r-{i}.ics")).await;
        }
        app.store.close().await;
        ready.id.unwrap()
    };
    let app = TestApp::new(db).await;
    let (mut sse, _) = open(&app, "alice", Some(&last)).await;
    let events = sse.take(10, SHORT).await;
    let first: i64 = last.parse::<i64>().unwrap() + 1;
    assert_eq!(seqs(&events), (first..first + 5).collect::<Vec<_>>());
}

/// Unknown, malformed, future and pruned ids get one `resync`, never an error or a full replay.
async fn unknown_ids_resync(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    for i in 0..3 {
        put_event(&app, "alice", &format!("e-{i}.ics")).await;
    }
    let head = app
        .store
        .push_head(app.store.user_by_name(&madang::domain::Username::parse("alice").unwrap()).await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(head, 3);
    for bad in ["garbage", "-1", "9999", "1e3", ""] {
        let (mut sse, first) = open(&app, "alice", Some(bad)).await;
        let expected = if bad.is_empty() { "ready" } else { "resync" };
        assert_eq!(first.event, expected, "Last-Event-ID {bad:?}");
        assert_eq!(first.id.as_deref(), Some("3"));
        assert!(sse.next(SHORT).await.is_none(), "nothing replayed after {bad:?}");
    }
    // Pruned: keep only the newest 100 (the smallest allowed), after 200 more changes.
    for i in 0..200 {
        put_event(&app, "alice", &format!("p-{i}.ics")).await;
    }
    let pruned = app.store.prune_push_events(100, chrono::Utc::now() - chrono::Duration::days(1)).await.unwrap();
    assert_eq!(pruned, 103);
    let (mut sse, first) = open(&app, "alice", Some("3")).await;
    assert_eq!(first.event, "ready");
    let resync = sse.next(LONG).await.unwrap();
    assert_eq!((resync.event.as_str(), resync.id.as_deref()), ("resync", Some("203")));
    // Still within the log: an exact replay.
    let (mut sse, _) = open(&app, "alice", Some("200")).await;
    assert_eq!(seqs(&sse.take(10, SHORT).await), (201..=203).collect::<Vec<_>>());
}

/// One user's stream never carries another's changes; another's id is just a number.
async fn streams_are_per_user(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    let (mut bob, _) = open(&app, "bob", None).await;
    put_event(&app, "alice", "secret.ics").await;
    assert!(bob.next(SHORT).await.is_none());
    put_event(&app, "bob", "own.ics").await;
    let mine = bob.take(4, SHORT).await;
    assert!(!mine.is_empty() && mine.iter().all(|e| !e.data.contains("secret")), "{mine:?}");
    let (status, _, text) = open_with(&app, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
}

/// `push.max_connections_per_user` streams per account; a closed one frees its place.
async fn connections_are_capped(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_push(PushConfig { max_connections_per_user: 2, ..PushConfig::default() });
    users(&app, &["alice", "bob"]).await;
    let (a, _) = open(&app, "alice", None).await;
    let (_b, _) = open(&app, "alice", None).await;
    let auth = basic("alice", PASSWORD);
    let (status, _, text) = open_with(&app, &[("authorization", auth.as_str())]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert!(text.contains("too_many_connections"), "{text}");
    let _bob = open(&app, "bob", None).await;
    drop(a);
    let _c = open(&app, "alice", None).await;
}

/// Heartbeats on an idle stream; `closed` when the server shuts down.
async fn heartbeats_and_shutdown(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    app.state =
        app.state.clone().with_push(PushConfig { heartbeat: Duration::from_millis(200), ..PushConfig::default() });
    users(&app, &["alice"]).await;
    let (mut sse, _) = open(&app, "alice", None).await;
    // Heartbeats are comments, not events: nothing arrives, but the stream is not silent.
    let quiet = tokio::time::timeout(Duration::from_millis(700), sse.next(LONG)).await;
    assert!(quiet.is_err(), "{quiet:?}");
    assert!(sse.heartbeats >= 2, "{} heartbeats", sse.heartbeats);
    app.state.push.close();
    let closed = sse.next(LONG).await.unwrap();
    assert_eq!(closed.event, "closed");
    assert!(sse.next(SHORT).await.is_none());
}

/// The web client's session cookie opens the JSON API only with the CSRF header (except the
/// stream, which `EventSource` opens without headers), never from another site, never on DAV.
async fn session_cookie_rules(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let mut browser = common::browser::Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let cookie: String = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let call = |method: &'static str, path: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let mut req = Request::builder().method(method).uri(path).header(header::HOST, "localhost");
            req = req.header(header::COOKIE, cookie);
            for (k, v) in extra {
                req = req.header(k, v);
            }
            let response = app.router().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = response.status();
            let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_string());
            (status, challenge)
        }
    };
    let csrf = ("x-madang-csrf", "1");
    assert_eq!(call("GET", "/api/v1/me", vec![csrf]).await.0, StatusCode::OK);
    assert_eq!(call("GET", "/api/v1/calendars", vec![csrf, ("sec-fetch-site", "same-origin")]).await.0, StatusCode::OK);
    // Without the header the cookie is not a credential at all.
    let (status, challenge) = call("GET", "/api/v1/me", vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().starts_with("Basic"));
    assert_eq!(call("DELETE", "/api/v1/calendars/default", vec![]).await.0, StatusCode::UNAUTHORIZED);
    // Another site's page: refused even with the header (a preflight would have stopped it).
    for foreign in
        [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")]
    {
        assert_eq!(call("GET", "/api/v1/me", vec![csrf, foreign]).await.0, StatusCode::FORBIDDEN, "{foreign:?}");
    }
    assert_eq!(call("GET", "/api/v1/me", vec![csrf, ("origin", "http://localhost")]).await.0, StatusCode::OK);
    // The stream opens with the cookie alone, but not from another site.
    let (status, sse, _) = open_with(&app, &[("cookie", cookie.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    drop(sse);
    let (status, _, _) = open_with(&app, &[("cookie", cookie.as_str()), ("origin", "http://evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // DAV never takes the cookie.
    assert_eq!(call("PROPFIND", "/dav/calendars/alice/", vec![csrf]).await.0, StatusCode::UNAUTHORIZED);
    // Signed out: the client's calls get 401 without the Basic challenge (no browser dialog).
    let forged = "madang_session=forged";
    let mut req = Request::get("/api/v1/me").header(header::HOST, "localhost");
    req = req.header(header::COOKIE, forged).header("x-madang-csrf", "1");
    let response = app.router().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"));
}

/// Two processes on one PostgreSQL: a change written through one reaches a stream on the
/// other (separate stores, pools and push services, exactly as two `madang serve` have).
async fn across_processes(db: &TestDb) {
    if db.backend != Backend::Postgres {
        return;
    }
    let writer = TestApp::new(db).await;
    users(&writer, &["alice"]).await;
    let reader = TestApp::new(db).await;
    // The reader's LISTEN connection comes up in the background: a first change crosses once
    // it is (the heartbeat, 25 s, would be the fallback).
    let (mut sse, ready) = open(&reader, "alice", None).await;
    let mut last: i64 = ready.id.unwrap().parse().unwrap();
    for i in 0..20 {
        put_event(&writer, "alice", &format!("warm-up-{i}.ics")).await;
        let warm = sse.take(4, Duration::from_millis(500)).await;
        if let Some(seq) = seqs(&warm).last() {
            last = *seq;
            break;
        }
    }
    // Whatever else the warm-up produced, drained.
    last = seqs(&sse.take(100, SHORT).await).last().copied().unwrap_or(last);
    let start = std::time::Instant::now();
    put_event(&writer, "alice", "cross.ics").await;
    let ev = sse.next(LONG).await.expect("the change reached the other process");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    assert_eq!(seqs(std::slice::from_ref(&ev)), [last + 1]);
    drop(sse);
    for i in 0..50 {
        put_event(&writer, "alice", &format!("x-{i}.ics")).await;
    }
    let (mut sse, _) = open(&reader, "alice", Some(&(last + 1).to_string())).await;
    assert_eq!(seqs(&sse.take(60, SHORT).await), (last + 2..last + 52).collect::<Vec<_>>());
}

/// A module switched off is not announced either: calendar changes made over CalDAV (which
/// the module switch does not govern) stay off the stream until it is back on.
async fn modules_switched_off_are_not_announced(db: &TestDb) {
    use madang::modules::Module;
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let (mut sse, _) = open(&app, "alice", None).await;
    app.state.modules.set(&[(Module::Calendar, false)]).await.unwrap();
    put_event(&app, "alice", "hidden.ics").await;
    assert!(sse.next(SHORT).await.is_none());
    app.state.modules.set(&[(Module::Calendar, true)]).await.unwrap();
    put_event(&app, "alice", "shown.ics").await;
    let ev = sse.next(LONG).await.unwrap();
    assert!(ev.data.contains("\"shown\""), "{ev:?}");
}

on_both_databases!(
    modules_switched_off_are_not_announced,
    reconnect_gets_exactly_what_was_missed,
    resume_after_restart,
    unknown_ids_resync,
    streams_are_per_user,
    connections_are_capped,
    heartbeats_and_shutdown,
    session_cookie_rules,
    across_processes,
);
