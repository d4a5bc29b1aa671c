//! Issue 19, "Recurrence explosion": a 737-byte event whose RRULE multiplies BYMONTH ×
//! BYMONTHDAY × BYHOUR × BYMINUTE × BYSECOND (31.6 million instances a year) was stored, and
//! every later read of it (a one-day expand, a time-range query, the JSON instances route) held
//! ~1.5 GB. Now every way in refuses it, and one stored earlier is read within a small ceiling,
//! measured here with an allocation-counting global allocator, on both databases.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{CALDAV, Client, DAV, NS, PASSWORD, calendar, calendar_query, event_range, object, users};
use common::{TestApp, TestDb};
use madang::store::dav::{CollectionKind, NewObject};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: madang_testkit::CountingAlloc = madang_testkit::CountingAlloc;

/// The two backends' tests run at once; each holds this for its whole run so the counter sees
/// one test's requests only.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1 << 20;
/// Generous for a debug build and a whole in-process server; the attack held ~1.5 GB per read.
const CEILING: usize = 32 * MIB;
const SECOND: Duration = Duration::from_secs(1);

/// Awaits `f`, asserting the most memory held at once beyond what was live before, and the time.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let mark = madang_testkit::Mark::start();
    let value = f.await;
    let took = mark.elapsed();
    let peak = mark.peak_bytes();
    madang_testkit::assert_bounded(what, peak, took, CEILING, SECOND);
    value
}

fn attack(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//attacker//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDURATION:PT1S\r\nRRULE:{}\r\nSUMMARY:boom\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n",
        madang_testkit::recurrence_bomb_rule()
    )
}

const CAL: &str = "/api/v1/calendars/default";

async fn json(client: &Client<'_>, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let r = match body {
        Some(b) => client.send(method, path, &[("content-type", "application/json")], b.to_string()).await,
        None => client.send(method, path, &[], Body::empty()).await,
    };
    (r.status, serde_json::from_str(&r.text).unwrap_or(Value::Null))
}

async fn issue19_recurrence_explosion_is_refused_everywhere(db: &TestDb) {
    let _serial = SERIAL.lock().await;
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let client = Client::new(&app, "alice");

    // CalDAV PUT: 403 valid-calendar-object-resource (RFC 4791 §5.3.2.1), with the reason.
    let path = object("alice", "default", "boom.ics");
    let r = bounded("DAV PUT", client.put(&path, &attack("boom"))).await;
    r.assert_precondition(403, CALDAV, "valid-calendar-object-resource");
    assert!(r.text.contains("31622400 instances in one year"), "{}", r.text);
    assert_eq!(client.get(&path).await.status, StatusCode::NOT_FOUND);

    // JSON API create: 422 naming the setting.
    let event = json!({
        "uid": "boom-json",
        "summary": "boom",
        "start": { "date_time": "2026-01-01T00:00:00Z" },
        "recurrence": { "rrule": madang_testkit::recurrence_bomb_rule() }
    });
    let (status, body) = bounded("JSON create", json(&client, "POST", &format!("{CAL}/events"), Some(event))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid", "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("dav.max_instances_per_period"), "{body}");

    // JSON API update of an existing event to the attack: refused the same way, the event unchanged.
    let fine = json!({ "uid": "fine", "summary": "fine", "start": { "date_time": "2026-01-01T09:00:00Z" },
                       "recurrence": { "rrule": "FREQ=WEEKLY" } });
    let (status, _) = json(&client, "POST", &format!("{CAL}/events"), Some(fine.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut worse = fine;
    worse["recurrence"]["rrule"] = json!(madang_testkit::recurrence_bomb_rule());
    let (status, body) = json(&client, "PUT", &format!("{CAL}/events/fine"), Some(worse)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, stored) = json(&client, "GET", &format!("{CAL}/events/fine"), None).await;
    assert_eq!(stored["recurrence"]["rrule"], "FREQ=WEEKLY", "{stored}");

    // .ics import: the attack is rejected with the reason, the rest of the file is stored.
    let file = format!(
        "{}{}",
        attack("boom-import"),
        attack("other").replace(&madang_testkit::recurrence_bomb_rule(), "FREQ=DAILY;COUNT=3")
    );
    let r =
        bounded("import", client.send("POST", &format!("{CAL}/import"), &[("content-type", "text/calendar")], file))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let report: Value = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(report["rejected"][0]["uid"], "boom-import", "{report}");
    assert!(report["rejected"][0]["reason"].as_str().unwrap_or_default().contains("instances in one year"), "{report}");

    // A rule just under a lowered bound is accepted, one over it refused.
    let mut app = app;
    let config = madang::config::DavConfig { max_instances_per_period: 4, ..madang::config::DavConfig::default() };
    app.state = app.state.clone().with_dav(config);
    let client = Client::new(&app, "alice");
    let rule = |r: &str| attack("fit").replace(&madang_testkit::recurrence_bomb_rule(), r);
    assert_eq!(
        client.put(&object("alice", "default", "fit.ics"), &rule("FREQ=DAILY;BYHOUR=1,2,3,4")).await.status,
        201
    );
    client
        .put(&object("alice", "default", "over.ics"), &rule("FREQ=DAILY;BYHOUR=1,2,3,4,5"))
        .await
        .assert_precondition(403, CALDAV, "valid-calendar-object-resource");
}

/// An attack stored before this fix: every read stays under the ceiling, and the object
/// answers as its DTSTART alone.
async fn issue19_recurrence_explosion_stored_earlier_reads_are_bounded(db: &TestDb) {
    let _serial = SERIAL.lock().await;
    let app = TestApp::new(db).await;
    let user = app.add_user("alice", PASSWORD).await;
    let client = Client::new(&app, "alice");
    // First DAV use creates the default calendar.
    assert_eq!(client.props(&calendar("alice", "default"), "0", "<D:getetag/>").await.status.as_u16(), 207);
    let cal =
        app.store.collection(user.id, CollectionKind::Calendar, "default").await.expect("lookup").expect("calendar");
    let text = attack("boom");
    // As the old PUT stored it: an infinite rule, indexed from a day before DTSTART, open-ended.
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("date").timestamp();
    let new = NewObject {
        name: "boom.ics",
        uid: "boom",
        component: "VEVENT",
        etag: "\"boom\"",
        data: &text,
        range_start: Some(start - 86_400),
        range_end: None,
        range_exact: false,
    };
    app.store.put_object(cal.id, &new, Box::new(|_| true), None, chrono::Utc::now()).await.expect("stored");

    let cal_path = calendar("alice", "default");
    let expand = |s: &str, e: &str| {
        calendar_query(
            &format!(r#"<D:getetag/><C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data>"#),
            &event_range(s, e),
        )
    };
    // A one-day expand in June: nothing there.
    let r =
        bounded("expand one day", client.report(&cal_path, "1", &expand("20260601T000000Z", "20260602T000000Z"))).await;
    assert!(r.multistatus().responses.is_empty(), "{}", r.text);
    // The day of DTSTART: the one instance.
    let r =
        bounded("expand DTSTART", client.report(&cal_path, "1", &expand("20260101T000000Z", "20260102T000000Z"))).await;
    let ms = r.multistatus();
    assert_eq!(ms.responses.len(), 1, "{}", r.text);
    assert_eq!(ms.responses[0].text(CALDAV, "calendar-data").matches("BEGIN:VEVENT").count(), 1, "{}", r.text);
    // A year-long time-range query without expand, and free-busy over the year.
    let query = calendar_query("<D:getetag/>", &event_range("20260201T000000Z", "20270101T000000Z"));
    let r = bounded("time-range query", client.report(&cal_path, "1", &query)).await;
    assert!(r.multistatus().responses.is_empty(), "{}", r.text);
    let fb = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><C:free-busy-query {NS}><C:time-range start="20260101T000000Z" end="20270101T000000Z"/></C:free-busy-query>"#
    );
    let r = bounded("free-busy", client.report(&cal_path, "1", &fb)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The JSON instances route over one day.
    let (status, body) = bounded(
        "JSON instances",
        json(&client, "GET", &format!("{CAL}/instances?start=2026-06-01&end=2026-06-02"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["instances"], json!([]), "{body}");
    // Three at once (the report measured ~2.9 GB for this).
    let one_day = expand("20260601T000000Z", "20260602T000000Z");
    let instances = format!("{CAL}/instances?start=2026-06-01&end=2026-06-02");
    let (a, b, c) = bounded("three reads at once", async {
        tokio::join!(
            client.report(&cal_path, "1", &one_day),
            json(&client, "GET", &instances, None),
            client.report(&cal_path, "1", &query),
        )
    })
    .await;
    assert_eq!((a.status.as_u16(), b.0.as_u16(), c.status.as_u16()), (207, 200, 207));
    // The text is served as stored, and the owner can delete it.
    assert_eq!(client.get(&object("alice", "default", "boom.ics")).await.text, text);
    assert_eq!(client.delete(&object("alice", "default", "boom.ics")).await.status, StatusCode::NO_CONTENT);
}

/// The sum over one REPORT is bounded too: each object's expansion is within
/// `dav.max_instances`, and all of them together within `dav.max_results`.
async fn issue19_expand_across_objects_is_bounded_per_request(db: &TestDb) {
    let _serial = SERIAL.lock().await;
    let mut app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let config = madang::config::DavConfig { max_results: 50, ..madang::config::DavConfig::default() };
    app.state = app.state.clone().with_dav(config);
    let client = Client::new(&app, "alice");
    for n in 0..3 {
        let ics = attack(&format!("daily-{n}")).replace(&madang_testkit::recurrence_bomb_rule(), "FREQ=DAILY");
        client.create(&object("alice", "default", &format!("daily-{n}.ics")), &ics).await;
    }
    let cal_path = calendar("alice", "default");
    let expand = |s: &str, e: &str| {
        calendar_query(
            &format!(r#"<D:getetag/><C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data>"#),
            &event_range(s, e),
        )
    };
    // 3 × 16 days fits in 50; 3 × 17 does not.
    let r = client.report(&cal_path, "1", &expand("20260101T000000Z", "20260117T000000Z")).await;
    assert_eq!(r.multistatus().responses.len(), 3, "{}", r.text);
    let r = client.report(&cal_path, "1", &expand("20260101T000000Z", "20260118T000000Z")).await;
    r.assert_precondition(507, DAV, "number-of-matches-within-limits");
}

on_both_databases!(
    issue19_recurrence_explosion_is_refused_everywhere,
    issue19_recurrence_explosion_stored_earlier_reads_are_bounded,
    issue19_expand_across_objects_is_bounded_per_request,
);
