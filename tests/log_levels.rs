//! Which answers are logged at ERROR: only Madang's own failures. Answers the client caused
//! (507 for too many results or a full quota, 502 for a COPY to another server) were logged at
//! ERROR by the trace layer's default and buried real errors (issue 19).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{Client, calendar, event, users};
use common::{TestApp, TestDb};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// See: issue 19 — "Errors the client caused (507 for too many results, 502 from a bad
/// upstream) are logged at ERROR".
#[tokio::test(flavor = "current_thread")]
async fn issue19_client_caused_5xx_are_not_logged_as_errors() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // A current-thread runtime runs every handler on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = TestDb::sqlite();
    let mut app = TestApp::new(&db).await;
    let dav = madang::config::DavConfig { max_results: 1, ..Default::default() };
    app.state = app.state.clone().with_dav(dav);
    users(&app, &["alice"]).await;
    let alice = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    for n in 0..3 {
        alice
            .create(&format!("{cal}e{n}.ics"), &event(&format!("e{n}"), "20260105T100000Z", "20260105T110000Z", "x"))
            .await;
    }

    // 502: COPY to another server (RFC 4918 §9.8.5).
    let r = alice
        .send("COPY", &format!("{cal}e0.ics"), &[("destination", "http://elsewhere.example/x.ics")], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    // 507: more matches than dav.max_results.
    let query = common::dav::calendar_query("<D:getetag/>", r#"<C:comp-filter name="VEVENT"/>"#);
    let r = alice.report(&cal, "1", &query).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("502"), "the 502 is still logged: {log}");
    assert!(log.contains("507"), "the 507 is still logged: {log}");
    assert!(!log.contains("ERROR"), "client-caused answers logged at ERROR:\n{log}");
}
