//! The JSON API's edits of recurring items and of what native clients keep in an item: one occurrence changed (RECURRENCE-ID) or deleted (EXDATE), "this and following" (a split series with UNTIL, COUNT and RELATED-TO), SEQUENCE/DTSTAMP/LAST-MODIFIED, parameters kept on edit, and subtasks and task order; checked in the iCalendar CalDAV serves, on both databases.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::api::{Json, assert_error, call, call_with, unfold};
use common::dav::{Client, users};
use common::{TestApp, TestDb, test_auth_config};
use madang::api::ics::{Component, parse_vcalendar};
use madang::clock::ManualClock;
use serde_json::{Value, json};

const CAL: &str = "/api/v1/calendars/default";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-04-01T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

async fn app(db: &TestDb) -> TestApp {
    let app = TestApp::with(db, test_auth_config(), Arc::new(ManualClock::new(now()))).await;
    users(&app, &["alice"]).await;
    app
}

/// Mondays at 09:00 in Berlin, ten times: 6, 13, 20, 27 May, 3, 10, 17, 24 June, 1, 8 July 2024.
fn weekly() -> Value {
    json!({
        "uid": "plan-1",
        "summary": "Planning",
        "location": "Room 4",
        "start": { "date_time": "2024-05-06T09:00:00", "time_zone": "Europe/Berlin" },
        "end": { "date_time": "2024-05-06T10:00:00", "time_zone": "Europe/Berlin" },
        "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10" },
    })
}

fn berlin(dt: &str) -> Value {
    json!({ "date_time": dt, "time_zone": "Europe/Berlin" })
}

async fn create_weekly(app: &TestApp) -> String {
    let r = call(app, "alice", "POST", &format!("{CAL}/events"), Some(weekly())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.etag.unwrap_or_default()
}

async fn occurrence(app: &TestApp, method: &str, uid: &str, rid: &str, etag: &str, body: Option<Value>) -> Json {
    let path = format!("{CAL}/events/{uid}/occurrences/{rid}");
    call_with(app, "alice", method, &path, &[("if-match", etag)], body).await
}

/// The stored object as CalDAV serves it, unfolded, and parsed into components.
async fn caldav(app: &TestApp, dav_url: &str) -> (String, Component) {
    let got = Client::new(app, "alice").get(dav_url).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    madang_ical::parse_object(&got.text).unwrap_or_else(|e| panic!("{e}: {}", got.text));
    let cal = parse_vcalendar(&got.text).unwrap();
    (unfold(&got.text), cal)
}

fn items(cal: &Component) -> Vec<&Component> {
    cal.children.iter().filter(|c| c.name == "VEVENT" || c.name == "VTODO").collect()
}

fn value<'a>(c: &'a Component, name: &str) -> Option<&'a str> {
    c.prop(name).map(|p| p.value.as_str())
}

async fn instances(app: &TestApp, start: &str, end: &str) -> Vec<Value> {
    let r = call(app, "alice", "GET", &format!("{CAL}/instances?start={start}&end={end}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["instances"].as_array().cloned().unwrap_or_default()
}

async fn one_occurrence_is_changed_with_an_override(db: &TestDb) {
    let app = app(db).await;
    let etag = create_weekly(&app).await;
    let moved = json!({
        "summary": "Moved", "location": "Room 9",
        "start": berlin("2024-05-13T11:00:00"), "end": berlin("2024-05-13T12:00:00"),
    });
    let r = occurrence(&app, "PUT", "plan-1", "2024-05-13T07:00:00Z?scope=this", &etag, Some(moved.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["overrides"], json!([berlin("2024-05-13T09:00:00")]));
    assert_ne!(r.etag.as_deref(), Some(etag.as_str()));
    let (text, cal) = caldav(&app, "/dav/calendars/alice/default/plan-1.ics").await;
    let list = items(&cal);
    assert_eq!(list.len(), 2, "{text}");
    let over = list.iter().find(|c| c.prop("RECURRENCE-ID").is_some()).unwrap();
    assert!(text.contains("RECURRENCE-ID;TZID=Europe/Berlin:20240513T090000"), "{text}");
    assert!(text.contains("DTSTART;TZID=Europe/Berlin:20240513T110000"), "{text}");
    assert_eq!(value(over, "UID"), Some("plan-1"));
    assert_eq!(value(over, "SUMMARY"), Some("Moved"));
    assert_eq!(value(over, "RRULE"), None, "{text}");
    // It moved: significant for the override, nothing changed in the series (RFC 5546 §2.1.4).
    assert_eq!(value(over, "SEQUENCE"), Some("1"), "{text}");
    assert_eq!(value(over, "DTSTAMP"), Some("20240401T120000Z"), "{text}");
    let series = list.iter().find(|c| c.prop("RECURRENCE-ID").is_none()).unwrap();
    assert_eq!(value(series, "SEQUENCE"), Some("0"), "{text}");

    // instances shows the override's own fields on that occurrence only.
    let week = instances(&app, "2024-05-13", "2024-05-14").await;
    assert_eq!(week.len(), 1, "{week:?}");
    assert_eq!(week[0]["recurrence_id"], "2024-05-13T07:00:00Z");
    assert_eq!(week[0]["start"], "2024-05-13T09:00:00Z");
    assert_eq!(week[0]["override"]["summary"], "Moved");
    assert_eq!(week[0]["override"]["location"], "Room 9");
    let next = instances(&app, "2024-05-20", "2024-05-21").await;
    assert_eq!(next[0]["override"], Value::Null, "{next:?}");

    // Changing it again replaces the override; the old ETag is stale now.
    let stale = occurrence(&app, "PUT", "plan-1", "2024-05-13T07:00:00Z", &etag, Some(moved.clone())).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let current = r.etag.unwrap_or_default();
    let again = json!({ "summary": "Moved again", "start": berlin("2024-05-13T11:00:00"), "end": berlin("2024-05-13T12:00:00") });
    let r = occurrence(&app, "PUT", "plan-1", "2024-05-13T07:00:00Z", &current, Some(again)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (text, cal) = caldav(&app, "/dav/calendars/alice/default/plan-1.ics").await;
    assert_eq!(items(&cal).len(), 2, "{text}");
    assert!(text.contains("SUMMARY:Moved again") && text.matches("RECURRENCE-ID").count() == 1, "{text}");

    // Not an occurrence; an item that does not recur; a rule on one occurrence.
    let etag = r.etag.unwrap_or_default();
    let missing = occurrence(&app, "PUT", "plan-1", "2024-05-14T07:00:00Z", &etag, Some(moved.clone())).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    let mut ruled = moved.clone();
    ruled["recurrence"] = json!({ "rrule": "FREQ=DAILY" });
    let r = occurrence(&app, "PUT", "plan-1", "2024-05-20T07:00:00Z", &etag, Some(ruled)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let single = json!({ "uid": "once", "summary": "Once", "start": berlin("2024-05-06T09:00:00") });
    call(&app, "alice", "POST", &format!("{CAL}/events"), Some(single)).await;
    let r = call(&app, "alice", "DELETE", &format!("{CAL}/events/once/occurrences/2024-05-06T07:00:00Z"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn one_occurrence_is_deleted_with_an_exdate(db: &TestDb) {
    let app = app(db).await;
    let etag = create_weekly(&app).await;
    let moved =
        json!({ "summary": "Moved", "start": berlin("2024-05-13T11:00:00"), "end": berlin("2024-05-13T12:00:00") });
    let r = occurrence(&app, "PUT", "plan-1", "2024-05-13T07:00:00Z", &etag, Some(moved)).await;
    let r =
        occurrence(&app, "DELETE", "plan-1", "2024-05-13T07:00:00Z?scope=this", r.etag.as_deref().unwrap_or(""), None)
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["recurrence"]["exdates"], json!([berlin("2024-05-13T09:00:00")]), "{}", r.text);
    assert_eq!(r.body["overrides"], json!([]));
    assert_eq!(r.body["sequence"], 1, "EXDATE is significant");
    let (text, cal) = caldav(&app, "/dav/calendars/alice/default/plan-1.ics").await;
    assert_eq!(items(&cal).len(), 1, "the override went with the occurrence: {text}");
    assert!(text.contains("EXDATE;TZID=Europe/Berlin:20240513T090000"), "{text}");
    assert!(instances(&app, "2024-05-13", "2024-05-14").await.is_empty());
    assert_eq!(instances(&app, "2024-05-01", "2024-08-01").await.len(), 9);
}

async fn this_and_following_splits_the_series(db: &TestDb) {
    let app = app(db).await;
    let etag = create_weekly(&app).await;
    // An override after the split moves to the new series.
    let special =
        json!({ "summary": "Special", "start": berlin("2024-06-10T09:00:00"), "end": berlin("2024-06-10T10:00:00") });
    let r = occurrence(&app, "PUT", "plan-1", "2024-06-10T07:00:00Z", &etag, Some(special)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The client edits the item it read: one hour later from 3 June on, same rule.
    let mut edited = r.body.clone();
    edited["start"] = berlin("2024-06-03T10:00:00");
    edited["end"] = berlin("2024-06-03T11:00:00");
    let etag = r.etag.unwrap_or_default();
    let split = occurrence(&app, "PUT", "plan-1", "2024-06-03T07:00:00Z?scope=following", &etag, Some(edited)).await;
    assert_eq!(split.status, StatusCode::CREATED, "{}", split.text);
    let new_uid = split.body["uid"].as_str().unwrap_or_default().to_string();
    assert!(!new_uid.is_empty() && new_uid != "plan-1", "{}", split.text);
    // Four Mondays before 3 June were made by the rule: six are left.
    assert_eq!(split.body["recurrence"]["rrule"], "FREQ=WEEKLY;BYDAY=MO;COUNT=6", "{}", split.text);
    assert_eq!(split.body["sequence"], 0);

    let (old_text, old) = caldav(&app, "/dav/calendars/alice/default/plan-1.ics").await;
    let old_items = items(&old);
    assert_eq!(old_items.len(), 1, "the override left with its occurrence: {old_text}");
    // RFC 5545 §3.3.10: a zoned DTSTART takes a UTC UNTIL; 3 June 09:00 CEST is 07:00Z.
    assert_eq!(value(old_items[0], "RRULE"), Some("FREQ=WEEKLY;BYDAY=MO;UNTIL=20240603T065959Z"), "{old_text}");
    assert!(old_text.contains(&format!("RELATED-TO;RELTYPE=NEXT:{new_uid}")), "{old_text}");
    assert_eq!(value(old_items[0], "SEQUENCE"), Some("1"), "{old_text}");
    assert!(old_text.contains("DTSTART;TZID=Europe/Berlin:20240506T090000"), "{old_text}");

    let dav_url = split.body["dav_url"].as_str().unwrap_or_default().to_string();
    let (new_text, new) = caldav(&app, &dav_url).await;
    let new_items = items(&new);
    assert_eq!(new_items.len(), 2, "{new_text}");
    assert!(new_items.iter().all(|c| c.uid().as_deref() == Some(new_uid.as_str())), "{new_text}");
    for line in [
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "DTSTART;TZID=Europe/Berlin:20240603T100000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        "RELATED-TO;RELTYPE=FIRST:plan-1",
        // The override's recurrence id follows the series' new time.
        "RECURRENCE-ID;TZID=Europe/Berlin:20240610T100000",
        "SUMMARY:Special",
    ] {
        assert!(new_text.contains(line), "{line} missing from {new_text}");
    }
    assert_eq!(
        split.etag.as_deref(),
        Some(Client::new(&app, "alice").get(&dav_url).await.header("etag").unwrap_or(""))
    );

    // Ten occurrences in all, as before: four old, six new, the override still applied.
    let all = instances(&app, "2024-05-01", "2024-08-01").await;
    assert_eq!(all.iter().filter(|i| i["uid"] == "plan-1").count(), 4, "{all:?}");
    assert_eq!(all.iter().filter(|i| i["uid"] == new_uid.as_str()).count(), 6, "{all:?}");
    let special = all.iter().find(|i| i["override"]["summary"] == "Special").unwrap();
    assert_eq!(special["uid"], new_uid.as_str());
}

async fn delete_this_and_following_ends_an_all_day_series(db: &TestDb) {
    let app = app(db).await;
    let trip = json!({
        "uid": "trip", "summary": "Trip",
        "start": { "date": "2024-05-01" }, "end": { "date": "2024-05-02" },
        "recurrence": { "rrule": "FREQ=DAILY;COUNT=10" },
    });
    let r = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(trip)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = occurrence(&app, "DELETE", "trip", "2024-05-02?scope=this", r.etag.as_deref().unwrap_or(""), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r =
        occurrence(&app, "DELETE", "trip", "2024-05-04?scope=following", r.etag.as_deref().unwrap_or(""), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (text, cal) = caldav(&app, "/dav/calendars/alice/default/trip.ics").await;
    // A DATE series gets a DATE UNTIL: the day before (RFC 5545 §3.3.10).
    assert_eq!(value(items(&cal)[0], "RRULE"), Some("FREQ=DAILY;UNTIL=20240503"), "{text}");
    assert!(text.contains("EXDATE;VALUE=DATE:20240502"), "{text}");
    let left = instances(&app, "2024-05-01", "2024-06-01").await;
    assert_eq!(
        left.iter().map(|i| i["start"].clone()).collect::<Vec<_>>(),
        vec![json!("2024-05-01T00:00:00Z"), json!("2024-05-03T00:00:00Z")]
    );
    // From the first occurrence on is the whole item.
    let r =
        occurrence(&app, "DELETE", "trip", "2024-05-01?scope=following", r.etag.as_deref().unwrap_or(""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let gone = call(&app, "alice", "GET", &format!("{CAL}/events/trip"), None).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");
}

const WITH_PARAMS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\nUID:params-1\r\n\
DTSTAMP:20240101T000000Z\r\nLAST-MODIFIED:20240101T000000Z\r\nSEQUENCE:3\r\nDTSTART:20240610T090000Z\r\n\
DTEND:20240610T100000Z\r\nSUMMARY;X-ZOOM=1:Standup\r\n\
DESCRIPTION;ALTREP=\"cid:part1@example.org\";LANGUAGE=en:Daily standup\r\n\
LOCATION;ALTREP=\"http://example.com/room\":Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

async fn edits_keep_parameters_and_count_significant_changes(db: &TestDb) {
    let app = app(db).await;
    let dav = Client::new(&app, "alice");
    let path = "/dav/calendars/alice/default/params-1.ics";
    dav.create(path, WITH_PARAMS).await;
    let read = call(&app, "alice", "GET", &format!("{CAL}/events/params-1"), None).await;
    assert_eq!(read.body["sequence"], 3);
    assert_eq!(read.body["last_modified"], "2024-01-01T00:00:00Z");

    // Sent back unchanged: every line keeps its parameters; the stamps move, SEQUENCE does not.
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/params-1"), Some(read.body.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (text, _) = caldav(&app, path).await;
    for line in [
        "SUMMARY;X-ZOOM=1:Standup",
        "DESCRIPTION;ALTREP=\"cid:part1@example.org\";LANGUAGE=en:Daily standup",
        "LOCATION;ALTREP=\"http://example.com/room\":Room 1",
        "DTSTAMP:20240401T120000Z",
        "LAST-MODIFIED:20240401T120000Z",
        "SEQUENCE:3",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert_eq!(r.body["last_modified"], "2024-04-01T12:00:00Z");

    // A new description: the language stays, ALTREP (the old text elsewhere) goes; not significant.
    let mut edited = r.body.clone();
    edited["description"] = json!("Weekly standup");
    edited["summary"] = json!("Standup!");
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/params-1"), Some(edited)).await;
    let (text, _) = caldav(&app, path).await;
    assert!(text.contains("DESCRIPTION;LANGUAGE=en:Weekly standup"), "{text}");
    assert!(text.contains("SUMMARY;X-ZOOM=1:Standup!"), "{text}");
    assert!(text.contains("SEQUENCE:3") && !text.contains("cid:part1"), "{text}");

    // A new place is significant.
    let mut edited = r.body.clone();
    edited["location"] = json!("Room 2");
    let r = call(&app, "alice", "PUT", &format!("{CAL}/events/params-1"), Some(edited)).await;
    assert_eq!(r.body["sequence"], 4, "{}", r.text);
    let (text, _) = caldav(&app, path).await;
    assert!(text.contains("LOCATION:Room 2") && text.contains("SEQUENCE:4"), "{text}");

    // Items made here start at 0.
    let r = call(&app, "alice", "POST", &format!("{CAL}/events"), Some(weekly())).await;
    assert_eq!(r.body["sequence"], 0);
    let (text, _) = caldav(&app, "/dav/calendars/alice/default/plan-1.ics").await;
    assert!(text.contains("SEQUENCE:0") && text.contains("DTSTAMP:20240401T120000Z"), "{text}");
}

const TASKS_ORG: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:+//IDN tasks.org//android-120500//EN\r\n\
BEGIN:VTODO\r\nDTSTAMP:20220303T182218Z\r\nUID:sub-2\r\nSUMMARY:Pack boxes\r\nX-APPLE-SORT-ORDER:559033419\r\n\
RELATED-TO:move\r\nRELATED-TO;RELTYPE=SIBLING:sub-1\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";

async fn subtasks_and_task_order(db: &TestDb) {
    let app = app(db).await;
    let tasks = "/api/v1/calendars/tasks/events";
    let parent = json!({ "uid": "move", "kind": "task", "summary": "Move house", "sort_order": 2 });
    assert_eq!(call(&app, "alice", "POST", tasks, Some(parent)).await.status, StatusCode::CREATED);
    let child = json!({ "uid": "sub-1", "kind": "task", "summary": "Book a van", "parent": "move", "sort_order": 1 });
    let r = call(&app, "alice", "POST", tasks, Some(child)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["parent"].clone(), r.body["sort_order"].clone()), (json!("move"), json!(1)));
    let (text, _) = caldav(&app, "/dav/calendars/alice/tasks/sub-1.ics").await;
    assert!(text.contains("RELATED-TO;RELTYPE=PARENT:move"), "{text}");
    assert!(text.contains("X-APPLE-SORT-ORDER:1"), "{text}");

    // What tasks.org writes: RELATED-TO without RELTYPE is the parent (RFC 5545 §3.2.15).
    let dav = Client::new(&app, "alice");
    dav.create("/dav/calendars/alice/tasks/sub-2.ics", TASKS_ORG).await;
    let r = call(&app, "alice", "GET", &format!("{tasks}/sub-2"), None).await;
    assert_eq!((r.body["parent"].clone(), r.body["sort_order"].clone()), (json!("move"), json!(559033419)));
    // Unchanged, the line stays as the client wrote it; without a parent, only the other relation stays.
    let back = call(&app, "alice", "PUT", &format!("{tasks}/sub-2"), Some(r.body.clone())).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    let (text, _) = caldav(&app, "/dav/calendars/alice/tasks/sub-2.ics").await;
    assert!(text.contains("RELATED-TO:move\r\n"), "{text}");
    let mut orphan = back.body.clone();
    orphan["parent"] = Value::Null;
    orphan["sort_order"] = json!(-5);
    let r = call(&app, "alice", "PUT", &format!("{tasks}/sub-2"), Some(orphan)).await;
    assert_eq!(r.body["parent"], Value::Null, "{}", r.text);
    let (text, _) = caldav(&app, "/dav/calendars/alice/tasks/sub-2.ics").await;
    assert!(!text.contains("RELATED-TO:move") && !text.contains("PARENT"), "{text}");
    assert!(text.contains("RELATED-TO;RELTYPE=SIBLING:sub-1") && text.contains("X-APPLE-SORT-ORDER:-5"), "{text}");

    let mut selfish = r.body.clone();
    selfish["parent"] = json!("sub-2");
    let r = call(&app, "alice", "PUT", &format!("{tasks}/sub-2"), Some(selfish)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

on_both_databases!(
    one_occurrence_is_changed_with_an_override,
    one_occurrence_is_deleted_with_an_exdate,
    this_and_following_splits_the_series,
    delete_this_and_following_ends_an_all_day_series,
    edits_keep_parameters_and_count_significant_changes,
    subtasks_and_task_order,
);
