//! The JSON events API (`/api/v1/calendars/{id}/events`, `instances`, `import`, `export`) through
//! the real router: the event model, preservation of what it does not know, conditional writes,
//! occurrence expansion and its limits, import and export, and what CalDAV clients see of it, on
//! both databases.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::api::{assert_error, call, call_with, unfold};
use common::dav::{Client, event_range, fixture, users};
use common::{TestApp, TestDb};
use madang::config::DavConfig;
use serde_json::{Value, json};

const CAL: &str = "/api/v1/calendars/default";

async fn alice_and_bob(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    app
}

/// A weekly meeting in Berlin with an alarm and an attendee.
fn planning() -> Value {
    json!({
        "uid": "plan-1",
        "summary": "Planning",
        "description": "Agenda:\n1. Roadmap",
        "location": "Room 4",
        "start": { "date_time": "2024-05-06T09:00:00", "time_zone": "Europe/Berlin" },
        "end": { "date_time": "2024-05-06T10:00:00", "time_zone": "Europe/Berlin" },
        "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10", "rdates": [], "exdates": [] },
        "status": "confirmed",
        "categories": ["Work"],
        "organizer": { "email": "alice@example.com", "name": "Alice" },
        "attendees": [{ "email": "bob@example.com", "name": "Bob", "role": "req-participant", "partstat": "needs-action" }],
        "alarms": [{ "trigger": "-PT10M", "description": "Planning soon" }]
    })
}

fn report(r: &common::dav::Reply) -> Value {
    serde_json::from_str(&r.text).unwrap_or(Value::Null)
}

async fn json_event_is_found_by_calendar_query_and_sync(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let before = dav.sync_token("/dav/calendars/alice/default/").await;
    let r = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(planning())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.etag.as_deref(), r.body["etag"].as_str());
    assert_eq!(r.body["dav_url"], "/dav/calendars/alice/default/plan-1.ics");
    assert_eq!(r.body["kind"], "event");
    assert_eq!(r.body["start"], json!({ "date_time": "2024-05-06T09:00:00", "time_zone": "Europe/Berlin" }));
    assert_eq!(r.body["alarms"][0]["trigger"], "-PT10M");
    assert_eq!(r.body["attendees"][0]["partstat"], "needs-action");
    assert_eq!(r.body["overrides"], json!([]));

    // CalDAV: the same object, with a generated VTIMEZONE, found by a time-range query in the
    // third week, and reported by sync-collection.
    let got = dav.get("/dav/calendars/alice/default/plan-1.ics").await;
    assert_eq!(got.header("etag"), r.body["etag"].as_str(), "one ETag whichever door");
    let ics = unfold(&got.text);
    for line in [
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "DTSTART;TZID=Europe/Berlin:20240506T090000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
        "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com",
        "TRIGGER:-PT10M",
    ] {
        assert!(ics.contains(line), "{line} missing from {ics}");
    }
    let hrefs =
        dav.query_hrefs("/dav/calendars/alice/default/", &event_range("20240520T000000Z", "20240521T000000Z")).await;
    assert_eq!(hrefs, ["/dav/calendars/alice/default/plan-1.ics"]);
    let none =
        dav.query_hrefs("/dav/calendars/alice/default/", &event_range("20240521T000000Z", "20240527T000000Z")).await;
    assert!(none.is_empty(), "{none:?}");
    let sync = dav.sync("/dav/calendars/alice/default/", &before, "").await;
    assert!(sync.multistatus().hrefs().contains(&"/dav/calendars/alice/default/plan-1.ics"), "{}", sync.text);

    // Read back as JSON: what was written.
    let again = call(&app, "alice", "GET", &format!("{CAL}/events/plan-1"), None).await;
    assert_eq!(again.body, r.body);
    let dup = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(planning())).await;
    assert_error(&dup, StatusCode::CONFLICT, "conflict");
    // Without a uid, one is generated.
    let mut anon = planning();
    anon.as_object_mut().unwrap().remove("uid");
    let r = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(anon)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["uid"].as_str().unwrap().len(), 36);
    // A JSON edit shows up in the next sync too.
    let token = dav.sync_token("/dav/calendars/alice/default/").await;
    let mut edited = again.body.clone();
    edited["summary"] = json!("Planning (moved)");
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/plan-1"), Some(edited)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sync = dav.sync("/dav/calendars/alice/default/", &token, "").await;
    assert_eq!(sync.multistatus().hrefs(), ["/dav/calendars/alice/default/plan-1.ics"], "{}", sync.text);
}

async fn apple_event_keeps_unknown_properties_and_overrides_through_a_json_edit(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let path = "/dav/calendars/alice/default/standup.ics";
    dav.create(path, &fixture("ios-recurring-with-override.ics")).await;
    let uid = "6E2B1F0A-4C1D-4F7B-9A63-0C3B2D1E5F77";
    let r = call(&app, "alice", "GET", &format!("{CAL}/events/{uid}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["summary"], "Team standup");
    assert_eq!(r.body["dav_url"], path);
    assert_eq!(r.body["start"], json!({ "date_time": "2024-01-08T09:00:00", "time_zone": "Europe/Berlin" }));
    assert_eq!(r.body["recurrence"]["rrule"], "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(
        r.body["alarms"],
        json!([{ "trigger": "-PT15M", "related": null, "action": "display", "description": "Reminder" }])
    );
    assert_eq!(r.body["overrides"], json!([{ "date_time": "2024-01-15T09:00:00", "time_zone": "Europe/Berlin" }]));

    let mut edited = r.body.clone();
    edited["summary"] = json!("Daily standup");
    let etag = r.etag.clone().unwrap();
    let path_json = format!("{CAL}/events/{uid}");
    let r = call_with(&app, "alice", "PUT", &path_json, &[("if-match", &etag)], Some(edited)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["summary"], "Daily standup");
    assert_eq!(r.body["overrides"].as_array().unwrap().len(), 1);
    let ics = unfold(&dav.get(path).await.text);
    for kept in [
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "X-APPLE-DEFAULT-ALARM:TRUE",
        "X-WR-ALARMUID:0B7D8C2E-1A2B-4C3D-8E9F-112233445566",
        "RECURRENCE-ID;TZID=Europe/Berlin:20240115T090000",
        "SUMMARY:Team standup (moved)",
        "SEQUENCE:0",
        "CREATED:20240105T101500Z",
        "TZNAME:MESZ",
    ] {
        assert!(ics.contains(kept), "{kept} lost: {ics}");
    }
    assert!(ics.contains("SUMMARY:Daily standup"), "{ics}");
    assert_eq!(ics.matches("BEGIN:VTIMEZONE").count(), 1, "no second VTIMEZONE: {ics}");
    // The override still applies to the series.
    let inst =
        call(&app, "alice", "GET", &format!("{CAL}/instances?start=2024-01-08&end=2024-01-22&tz=Europe/Berlin"), None)
            .await;
    assert_eq!(inst.status, StatusCode::OK, "{}", inst.text);
    let list = inst.body["instances"].as_array().unwrap();
    let summaries: Vec<&str> = list.iter().map(|i| i["summary"].as_str().unwrap()).collect();
    assert_eq!(summaries, ["Daily standup", "Team standup (moved)"]);
    assert_eq!(list[1]["recurrence_id"], "2024-01-15T08:00:00Z");
    assert_eq!(list[1]["start_local"], "2024-01-15T10:30:00+01:00");
}

async fn outlook_event_keeps_its_zone_and_cdo_properties(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let path = "/dav/calendars/alice/default/outlook.ics";
    dav.create(path, &fixture("outlook-windows-tzid.ics")).await;
    let list = call(&app, "alice", "GET", &format!("{CAL}/events"), None).await;
    assert_eq!(list.body["total"], 1, "{}", list.text);
    let event = list.body["events"][0].clone();
    assert_eq!(event["start"]["time_zone"], "Europe/Berlin");
    assert_eq!(event["organizer"], json!({ "email": "erika@example.com", "name": "Erika Mustermann" }));
    let uid = event["uid"].as_str().unwrap().to_string();
    let mut edited = event.clone();
    edited["summary"] = json!("Quartalsplanung Q3");
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/{uid}"), Some(edited)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ics = unfold(&dav.get(path).await.text);
    for kept in [
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
        "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
        "CLASS:PUBLIC",
        // A changed text keeps its language; unchanged ones keep their whole line.
        "SUMMARY;LANGUAGE=de-DE:Quartalsplanung Q3",
        "LOCATION;LANGUAGE=de-DE:Raum 4.12",
        "DESCRIPTION;LANGUAGE=de-DE:Quartalsplanung\\n",
        // Only the summary changed: not significant (RFC 5546 §2.1.4).
        "SEQUENCE:0",
        // The client's own zone name, so its VTIMEZONE still applies: the start did not change,
        // so its line is the client's, trailing space and all.
        "DTSTART;TZID=W. Europe Standard Time :20240605T100000",
        // The attendee's scheduling parameters stay with the attendee.
        "RSVP=TRUE",
    ] {
        assert!(ics.contains(kept), "{kept} lost: {ics}");
    }
    assert_eq!(ics.matches("BEGIN:VTIMEZONE").count(), 1, "{ics}");
}

async fn if_match_guards_put_and_delete(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let created = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(planning())).await;
    let etag = created.etag.unwrap();
    let path = format!("{CAL}/events/plan-1");
    let stale = [("if-match", "\"stale\"")];
    let minimal = json!({ "summary": "X", "start": { "date": "2024-05-01" } });
    let r = call_with(&app, "alice", "PUT", &path, &stale, Some(minimal.clone())).await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let r = call_with(&app, "alice", "DELETE", &path, &stale, None).await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let r = call_with(&app, "alice", "PUT", &path, &[("if-match", &etag)], Some(minimal)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A full replacement: what was not sent is gone.
    assert_eq!(r.body["attendees"], json!([]));
    assert_eq!(r.body["recurrence"], Value::Null);
    assert_eq!(r.body["start"], json!({ "date": "2024-05-01" }));
    let new_etag = r.etag.unwrap();
    assert_ne!(new_etag, etag);
    let r = call_with(&app, "alice", "DELETE", &path, &[("if-match", &new_etag)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_error(&call(&app, "alice", "GET", &path, None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&call(&app, "alice", "DELETE", &path, None).await, StatusCode::NOT_FOUND, "not_found");
    // PUT to an unknown UID creates it; a body uid that differs is refused.
    let todo = json!({ "kind": "task", "summary": "Pay rent", "due": { "date": "2024-06-01" }, "priority": 1 });
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/rent"), Some(todo)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["kind"], "task");
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/rent"), Some(json!({ "uid": "other" }))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // A task stays a task.
    let r = call(
        &app,
        "alice",
        "PUT",
        &format!("{CAL}/events/rent"),
        Some(json!({ "kind": "event", "start": { "date": "2024-06-01" } })),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn instances_expand_series_apply_overrides_and_are_bounded(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let client = Client::new(&app, "alice");
    let r = client
        .send(
            "POST",
            &format!("{CAL}/import"),
            &[("content-type", "text/calendar")],
            fixture("google-export-recurring.ics"),
        )
        .await;
    assert_eq!(report(&r)["accepted"], 1, "{}", r.text);
    let task = json!({ "kind": "task", "summary": "Report", "due": { "date_time": "2023-07-20T17:00:00Z" } });
    assert_eq!(call(&app, "alice", "POST", &format!("{CAL}/events"), Some(task)).await.status, StatusCode::CREATED);
    let url = format!("{CAL}/instances?start=2023-06-01T00:00:00Z&end=2023-09-01T00:00:00Z&tz=America/New_York");
    let r = call(&app, "alice", "GET", &url, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = r.body["instances"].as_array().unwrap();
    let starts: Vec<(&str, &str)> =
        list.iter().map(|i| (i["start"].as_str().unwrap(), i["kind"].as_str().unwrap())).collect();
    // June 13 is an EXDATE; August 8 was moved to the 15th at 18:30.
    assert_eq!(
        starts,
        [("2023-07-11T23:00:00Z", "event"), ("2023-07-20T17:00:00Z", "task"), ("2023-08-15T22:30:00Z", "event")],
        "{}",
        r.text
    );
    assert_eq!(list[0]["uid"], "5k2j3h4g5f6d7s8a9p0o1i2u3y@google.com");
    assert_eq!(list[0]["recurrence_id"], "2023-07-11T23:00:00Z");
    assert_eq!(list[0]["start_local"], "2023-07-11T19:00:00-04:00");
    assert_eq!(list[0]["end"], "2023-07-12T00:00:00Z");
    assert_eq!(list[2]["recurrence_id"], "2023-08-08T23:00:00Z");
    assert_eq!(list[0]["all_day"], false);
    // Events in a window: only items occurring in it.
    let r = call(&app, "alice", "GET", &format!("{CAL}/events?start=2023-07-19&end=2023-07-21"), None).await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(r.body["events"][0]["kind"], "task");
    let r = call(&app, "alice", "GET", &format!("{CAL}/events?start=2023-07-19"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // Bounds: the window, the zone, the parameters.
    let wide = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2023-01-01&end=2024-01-03"), None).await;
    assert_error(&wide, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(wide.body["message"].as_str().unwrap().contains("366 days"), "{}", wide.text);
    let back = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2023-02-01&end=2023-01-01"), None).await;
    assert_error(&back, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let tz = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2023-01-01&end=2023-02-01&tz=Mars/Base"), None)
        .await;
    assert_error(&tz, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let missing = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2023-01-01"), None).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "bad_query");
}

async fn instances_beyond_max_instances_are_refused_clearly(db: &TestDb) {
    let mut app = alice_and_bob(db).await;
    app.state = app.state.clone().with_dav(DavConfig { max_instances: 20, ..DavConfig::default() });
    let daily = json!({
        "summary": "Pills",
        "start": { "date_time": "2024-01-01T08:00:00Z" },
        "recurrence": { "rrule": "FREQ=DAILY" }
    });
    assert_eq!(call(&app, "alice", "POST", &format!("{CAL}/events"), Some(daily)).await.status, StatusCode::CREATED);
    let ok = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2024-01-01&end=2024-01-15"), None).await;
    assert_eq!(ok.body["instances"].as_array().unwrap().len(), 14, "{}", ok.text);
    let r = call(&app, "alice", "GET", &format!("{CAL}/instances?start=2024-01-01&end=2024-03-01"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(r.body["message"].as_str().unwrap().contains("max_instances"), "{}", r.text);
}

async fn import_splits_by_uid_and_export_merges(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let client = Client::new(&app, "alice");
    let no_uid = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\n\
                  DTSTART:20240101T100000Z\r\nSUMMARY:Lost\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let file =
        format!("{}{}{no_uid}", fixture("google-export-recurring.ics"), fixture("ios-recurring-with-override.ics"));
    let r = client.send("POST", &format!("{CAL}/import"), &[("content-type", "text/calendar")], file.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rep = report(&r);
    assert_eq!(rep["accepted"], 2, "{rep}");
    assert_eq!(rep["rejected"], json!([{ "uid": null, "reason": "VEVENT without UID" }]));
    // One object per UID, master and override together, with the zone it uses.
    let google = call(&app, "alice", "GET", &format!("{CAL}/events/5k2j3h4g5f6d7s8a9p0o1i2u3y@google.com"), None).await;
    assert_eq!(google.body["overrides"].as_array().unwrap().len(), 1, "{}", google.text);
    let apple = call(&app, "alice", "GET", &format!("{CAL}/events/6E2B1F0A-4C1D-4F7B-9A63-0C3B2D1E5F77"), None).await;
    let ics = client.get(apple.body["dav_url"].as_str().unwrap()).await.text;
    assert_eq!(ics.matches("BEGIN:VTIMEZONE").count(), 1, "{ics}");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2, "{ics}");
    assert!(!client.get(google.body["dav_url"].as_str().unwrap()).await.text.contains("METHOD:"), "METHOD dropped");
    // Importing again updates in place.
    let r = client.send("POST", &format!("{CAL}/import"), &[("content-type", "text/calendar")], file).await;
    assert_eq!(report(&r)["accepted"], 2);
    // A JSON event in Berlin too: its VTIMEZONE and the iPhone's are one in the export.
    call(&app, "alice", "POST", &format!("{CAL}/events"), Some(planning())).await;
    assert_eq!(call(&app, "alice", "GET", &format!("{CAL}/events"), None).await.body["total"], 3);

    let export = client.send("GET", &format!("{CAL}/export"), &[], Body::empty()).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.header("content-type").unwrap().starts_with("text/calendar"));
    assert_eq!(export.text.matches("BEGIN:VCALENDAR").count(), 1, "{}", export.text);
    assert_eq!(export.text.matches("TZID:Europe/Berlin\r\n").count(), 1, "{}", export.text);
    assert_eq!(export.text.matches("TZID:America/New_York\r\n").count(), 0, "Google sent no VTIMEZONE");
    assert_eq!(export.text.matches("BEGIN:VEVENT").count(), 5, "{}", export.text);
    // The export imports back into another calendar as the same three objects.
    let made = call(&app, "alice", "POST", "/api/v1/calendars", Some(json!({ "id": "copy", "name": "Copy" }))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let r =
        client.send("POST", "/api/v1/calendars/copy/import", &[("content-type", "text/calendar")], export.text).await;
    assert_eq!(report(&r), json!({ "accepted": 3, "rejected": [] }));

    let wrong = client.send("POST", &format!("{CAL}/import"), &[("content-type", "application/json")], "{}").await;
    assert_eq!(wrong.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let junk = client.send("POST", &format!("{CAL}/import"), &[("content-type", "text/calendar")], "hello").await;
    assert_eq!(junk.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", junk.text);
}

async fn bad_events_are_refused(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let path = format!("{CAL}/events");
    let day = json!({ "date": "2024-05-01" });
    for bad in [
        json!({ "summary": "no start" }),
        json!({ "start": { "date": "May 1st" } }),
        json!({ "start": { "date_time": "2024-05-01T09:00:00", "time_zone": "Mars/Olympus" } }),
        json!({ "start": day, "end": { "date": "2024-04-30" } }),
        json!({ "start": day, "end": { "date_time": "2024-05-02T09:00:00Z" } }),
        json!({ "start": day, "duration": "an hour" }),
        json!({ "start": day, "end": { "date": "2024-05-02" }, "duration": "P1D" }),
        json!({ "start": day, "recurrence": { "rrule": "FREQ=FORTNIGHTLY" } }),
        json!({ "start": day, "status": "maybe" }),
        json!({ "start": day, "attendees": [{ "email": "not an address" }] }),
        json!({ "start": day, "alarms": [{ "trigger": "soon" }] }),
        json!({ "start": day, "priority": 12 }),
        json!({ "start": day, "url": "not a uri" }),
        json!({ "kind": "task", "end": day }),
        json!({ "kind": "meeting", "start": day }),
        json!({ "start": day, "categories": "Work" }),
    ] {
        let r = call(&app, "alice", "POST", &path, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.text);
        assert!(r.body["error"].is_string(), "{}", r.text);
    }
    let client = Client::new(&app, "alice");
    let r = client.send("POST", &path, &[("content-type", "application/json")], "{\"summary\": ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A calendar for events only refuses tasks.
    let made = call(
        &app,
        "alice",
        "POST",
        "/api/v1/calendars",
        Some(json!({ "id": "ev", "name": "Ev", "components": ["VEVENT"] })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let r = call(&app, "alice", "POST", "/api/v1/calendars/ev/events", Some(json!({ "kind": "task", "summary": "t" })))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // Floating, UTC-offset and all-day values are all fine.
    for good in [
        json!({ "start": { "date_time": "2024-05-01T09:00:00" }, "duration": "PT1H" }),
        json!({ "start": { "date_time": "2024-05-01T09:00:00+02:00" } }),
        json!({ "start": day, "end": { "date": "2024-05-02" }, "transparency": "transparent" }),
        json!({ "kind": "journal", "start": day, "description": "Dear diary" }),
    ] {
        let r = call(&app, "alice", "POST", &path, Some(good.clone())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{good}: {}", r.text);
    }
}

async fn users_reach_only_their_own_events(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let made = call(&app, "alice", "POST", "/api/v1/calendars", Some(json!({ "id": "work", "name": "Work" }))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let r = call(&app, "alice", "POST", "/api/v1/calendars/work/events", Some(planning())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let bob = Client::new(&app, "bob");
    for (method, path) in [
        ("GET", "/api/v1/calendars/work/events"),
        ("GET", "/api/v1/calendars/work/events/plan-1"),
        ("DELETE", "/api/v1/calendars/work/events/plan-1"),
        ("GET", "/api/v1/calendars/work/instances?start=2024-05-01&end=2024-06-01"),
        ("GET", "/api/v1/calendars/work/export"),
    ] {
        let r = call(&app, "bob", method, path, None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let r = call(&app, "bob", "PUT", "/api/v1/calendars/work/events/plan-1", Some(planning())).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = bob
        .send(
            "POST",
            "/api/v1/calendars/work/import",
            &[("content-type", "text/calendar")],
            fixture("macos-allday.ics"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Bob's own `default` calendar does not hold Alice's event.
    assert_error(
        &call(&app, "bob", "GET", &format!("{CAL}/events/plan-1"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        call(&app, "alice", "GET", "/api/v1/calendars/work/events/plan-1", None).await.body["summary"],
        "Planning"
    );
}

/// Event lists page with opaque cursors: every item exactly once.
async fn event_lists_page_with_cursors(db: &TestDb) {
    let app = alice_and_bob(db).await;
    for i in 0..5 {
        let body = json!({
            "uid": format!("page-{i}"),
            "summary": format!("Item {i}"),
            "start": { "date_time": "2024-05-06T09:00:00Z" },
            "end": { "date_time": "2024-05-06T10:00:00Z" },
        });
        let r = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("{CAL}/events?limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = call(&app, "alice", "GET", &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for e in r.body["events"].as_array().unwrap() {
            seen.push(e["uid"].as_str().unwrap().to_string());
        }
        cursor = r.body["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
}

on_both_databases!(
    event_lists_page_with_cursors,
    json_event_is_found_by_calendar_query_and_sync,
    apple_event_keeps_unknown_properties_and_overrides_through_a_json_edit,
    outlook_event_keeps_its_zone_and_cdo_properties,
    if_match_guards_put_and_delete,
    instances_expand_series_apply_overrides_and_are_bounded,
    instances_beyond_max_instances_are_refused_clearly,
    import_splits_by_uid_and_export_merges,
    bad_events_are_refused,
    users_reach_only_their_own_events,
);
