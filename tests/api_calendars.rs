//! The JSON calendar API (`/api/v1/calendars`) through the real router, and what CalDAV
//! clients see of its changes, on both databases.

mod common;

use axum::http::StatusCode;
use common::dav::{CS, Client, DAV, ICAL, calendar, home, users};
use common::{TestApp, TestDb};
use serde_json::{Value, json};

struct Json {
    status: StatusCode,
    body: Value,
    text: String,
}

/// A JSON request as `user`; the body is sent as `application/json` when given.
async fn call(app: &TestApp, user: &str, method: &str, path: &str, body: Option<Value>) -> Json {
    let client = Client::new(app, user);
    let r = match body {
        Some(b) => client.send(method, path, &[("content-type", "application/json")], b.to_string()).await,
        None => client.send(method, path, &[], axum::body::Body::empty()).await,
    };
    let body = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    Json { status: r.status, body, text: r.text }
}

#[track_caller]
fn assert_error(r: &Json, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"], code, "{}", r.text);
    assert!(r.body["message"].is_string(), "{}", r.text);
}

async fn alice_and_bob(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    app
}

async fn list_shows_the_provisioned_defaults(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let r = call(&app, "alice", "GET", "/api/v1/calendars", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ids: Vec<&str> = r.body.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    // The birthday calendar is Madang's own, read-only (tests/dav_derived.rs).
    assert_eq!(ids, ["birthdays", "default", "tasks"]);
    assert_eq!(r.body[0]["read_only"], true);
    assert_eq!(r.body[1]["name"], "Calendar");
    assert_eq!(r.body[1]["dav_url"], "/dav/calendars/alice/default/");
    assert_eq!(r.body[1]["read_only"], false);
    assert!(r.body[1]["sync_token"].as_str().unwrap().starts_with("urn:x-madang:sync:"));
    // DAV provisioning afterwards finds the home done and adds nothing.
    let dav = Client::new(&app, "alice").props(&home("alice"), "1", "<D:displayname/>").await;
    assert_eq!(dav.multistatus().responses.len(), 4, "{}", dav.text);
}

async fn created_calendar_is_visible_to_caldav(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let body =
        json!({ "name": "Work Stuff", "color": "#3366ff", "description": "Meetings", "timezone": "Europe/Berlin" });
    let r = call(&app, "alice", "POST", "/api/v1/calendars", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["id"], "work-stuff");
    assert_eq!(r.body["color"], "#3366FF");
    assert_eq!(r.body["timezone"], "Europe/Berlin");
    assert_eq!(r.body["components"], json!(["VEVENT", "VTODO"]));

    let dav = Client::new(&app, "alice");
    let props = "<D:displayname/><I:calendar-color/><C:calendar-description/><C:calendar-timezone/>";
    let r = dav.props(&calendar("alice", "work-stuff"), "0", props).await;
    let ms = r.multistatus();
    let cal = &ms.responses[0];
    assert_eq!(cal.text(DAV, "displayname"), "Work Stuff");
    assert_eq!(cal.text(ICAL, "calendar-color"), "#3366FF");
    assert_eq!(cal.text(madang_dav::names::CALDAV, "calendar-description"), "Meetings");
    let tz = cal.text(madang_dav::names::CALDAV, "calendar-timezone");
    assert!(tz.contains("TZID:Europe/Berlin"), "{tz}");
    assert_eq!(madang_ical::timezone_from_vcalendar(&tz).unwrap().name(), "Europe/Berlin");
}

async fn patch_changes_caldav_properties_and_the_ctag(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let before = dav.ctag(&calendar("alice", "default")).await;
    let patch = json!({ "color": "#FF000080", "name": "Home", "timezone": "Asia/Seoul" });
    let r = call(&app, "alice", "PATCH", "/api/v1/calendars/default", Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["name"], "Home");
    assert_eq!(r.body["timezone"], "Asia/Seoul");
    // Fields not in the patch are left alone.
    assert_eq!(r.body["components"], json!(["VEVENT", "VTODO", "VJOURNAL"]));

    let after = dav.ctag(&calendar("alice", "default")).await;
    assert_ne!(before, after, "a JSON change must move getctag");
    assert_eq!(r.body["sync_token"], after);
    let r = dav.props(&calendar("alice", "default"), "0", "<D:displayname/><I:calendar-color/>").await;
    let ms = r.multistatus();
    assert_eq!(ms.responses[0].text(ICAL, "calendar-color"), "#FF000080");
    assert_eq!(ms.responses[0].text(DAV, "displayname"), "Home");

    // `null` clears; the home's ctag moved too (iOS polls it).
    let r = call(&app, "alice", "PATCH", "/api/v1/calendars/default", Some(json!({ "color": null }))).await;
    assert_eq!(r.body["color"], Value::Null, "{}", r.text);
    let home_tag = dav.props(&home("alice"), "0", "<CS:getctag/>").await;
    assert!(!home_tag.multistatus().responses[0].text(CS, "getctag").is_empty());
}

async fn create_refuses_bad_input_and_duplicates(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let ok = json!({ "id": "team", "name": "Team" });
    assert_eq!(call(&app, "alice", "POST", "/api/v1/calendars", Some(ok.clone())).await.status, StatusCode::CREATED);
    assert_error(&call(&app, "alice", "POST", "/api/v1/calendars", Some(ok)).await, StatusCode::CONFLICT, "conflict");
    // Another user may use the same id: ids are per user.
    let bobs = json!({ "id": "team", "name": "Bob's team" });
    assert_eq!(call(&app, "bob", "POST", "/api/v1/calendars", Some(bobs)).await.status, StatusCode::CREATED);

    for bad in [
        json!({ "name": "X", "components": ["VEVENT", "VCARD"] }),
        json!({ "name": "X", "components": [] }),
        json!({ "name": "X", "color": "red" }),
        json!({ "name": "X", "timezone": "Mars/Olympus_Mons" }),
        json!({ "name": "X", "id": "../etc" }),
    ] {
        let r = call(&app, "alice", "POST", "/api/v1/calendars", Some(bad.clone())).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    // Malformed JSON and unknown fields get the same error shape.
    let client = Client::new(&app, "alice");
    let r = client.send("POST", "/api/v1/calendars", &[("content-type", "application/json")], "{\"name\":").await;
    let body: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(body["error"], "bad_json");
    let r = call(&app, "alice", "POST", "/api/v1/calendars", Some(json!({ "name": "X", "colour": "#fff" }))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "bad_json");
    let r = call(&app, "alice", "PATCH", "/api/v1/calendars/team", Some(json!({ "components": ["VTODO", "X"] }))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn delete_removes_the_caldav_collection(db: &TestDb) {
    let app = alice_and_bob(db).await;
    call(&app, "alice", "POST", "/api/v1/calendars", Some(json!({ "id": "gone", "name": "Gone" }))).await;
    let r = call(&app, "alice", "DELETE", "/api/v1/calendars/gone", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let dav = Client::new(&app, "alice").props(&calendar("alice", "gone"), "0", "<D:displayname/>").await;
    assert_eq!(dav.status, StatusCode::NOT_FOUND);
    assert_error(
        &call(&app, "alice", "DELETE", "/api/v1/calendars/gone", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

async fn users_reach_only_their_own_calendars(db: &TestDb) {
    let app = alice_and_bob(db).await;
    call(&app, "alice", "POST", "/api/v1/calendars", Some(json!({ "id": "secret", "name": "Secret" }))).await;
    for (method, body) in [("GET", None), ("PATCH", Some(json!({ "name": "pwned" }))), ("DELETE", None)] {
        let r = call(&app, "bob", method, "/api/v1/calendars/secret", body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let bobs = call(&app, "bob", "GET", "/api/v1/calendars", None).await;
    assert!(!bobs.text.contains("secret"), "{}", bobs.text);
    let alices = call(&app, "alice", "GET", "/api/v1/calendars/secret", None).await;
    assert_eq!(alices.body["name"], "Secret");
    let anonymous = Client::anonymous(&app).send("GET", "/api/v1/calendars", &[], axum::body::Body::empty()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header("www-authenticate").is_some());
}

on_both_databases!(
    list_shows_the_provisioned_defaults,
    created_calendar_is_visible_to_caldav,
    patch_changes_caldav_properties_and_the_ctag,
    create_refuses_bad_input_and_duplicates,
    delete_removes_the_caldav_collection,
    users_reach_only_their_own_calendars,
);
