//! One user can neither read nor change another's calendars through any DAV
//! method, and unauthenticated requests get a challenge, on both databases.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{
    CALDAV, Client, DAV, NS, Reply, calendar, calendar_query, event, event_range, home, object, principal, users,
};
use common::{TestApp, TestDb};

/// alice with an event in "default" and a to-do in "tasks"; bob with an
/// event of his own.
async fn setup(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    let alice = Client::new(&app, "alice");
    alice.create(&object("alice", "default", "secret.ics"), &secret_event()).await;
    alice.create(&object("alice", "tasks", "todo.ics"), &common::dav::todo("alice-todo", "", "Alice's to-do")).await;
    let bob = Client::new(&app, "bob");
    bob.create(&object("bob", "default", "mine.ics"), &event("bob-1", "20240110T100000Z", "20240110T110000Z", "Bob's"))
        .await;
    app
}

fn secret_event() -> String {
    event("alice-secret", "20240110T100000Z", "20240110T110000Z", "Alice's secret")
}

/// Everything alice can see of her own data, as text, for before/after comparison.
async fn snapshot(app: &TestApp) -> String {
    let alice = Client::new(app, "alice");
    let mut out = String::new();
    let r =
        alice.props(&home("alice"), "1", "<D:displayname/><D:sync-token/><C:supported-calendar-component-set/>").await;
    out.push_str(&r.text);
    for cal in r.multistatus().sorted_hrefs() {
        if cal == home("alice") {
            continue;
        }
        let r = alice
            .props(&cal, "1", r#"<D:getetag/><D:displayname/><X:note xmlns:X="urn:example:x"/><I:calendar-color/>"#)
            .await;
        out.push_str(&r.text);
        for member in r.multistatus().sorted_hrefs() {
            if member != cal {
                out.push_str(&alice.get(&member).await.text);
            }
        }
    }
    out
}

#[track_caller]
fn refused(r: &Reply, what: &str) {
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
        "{what}: expected 403 or 404, got {} {}",
        r.status,
        r.text
    );
    assert!(!r.text.contains("Alice's secret"), "{what} leaked alice's data: {}", r.text);
}

async fn bob_cannot_read_alices_calendars(db: &TestDb) {
    let app = setup(db).await;
    let before = snapshot(&app).await;
    let bob = Client::new(&app, "bob");
    let secret = object("alice", "default", "secret.ics");
    for path in [home("alice"), calendar("alice", "default"), calendar("alice", "tasks"), secret.clone()] {
        for depth in ["0", "1"] {
            let r = bob.props(&path, depth, "<D:displayname/><D:getetag/><C:calendar-data/>").await;
            refused(&r, &format!("PROPFIND depth {depth} {path}"));
        }
        let r = bob.propfind(&path, "1", "").await;
        refused(&r, &format!("allprop {path}"));
    }
    refused(&bob.get(&secret).await, "GET");
    refused(&bob.send("HEAD", &secret, &[], Body::empty()).await, "HEAD");
    // Other spellings of the same path.
    for path in ["/dav/calendars/ALICE/default/secret.ics", "/dav/calendars/%61lice/default/secret.ics"] {
        refused(&bob.get(path).await, path);
    }
    assert_eq!(snapshot(&app).await, before);
}

async fn bob_cannot_report_on_alices_calendars(db: &TestDb) {
    let app = setup(db).await;
    let before = snapshot(&app).await;
    let bob = Client::new(&app, "bob");
    let alice_cal = calendar("alice", "default");
    let secret = object("alice", "default", "secret.ics");
    let multiget = format!(
        r#"<?xml version="1.0"?><C:calendar-multiget {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{secret}</D:href><D:href>{}</D:href></C:calendar-multiget>"#,
        object("bob", "default", "mine.ics")
    );
    refused(&bob.report(&alice_cal, "1", &multiget).await, "multiget on alice's calendar");
    // On his own calendar, naming alice's href: bob's member, and a 404 for alice's.
    let r = bob.report(&calendar("bob", "default"), "1", &multiget).await;
    assert!(!r.text.contains("Alice's secret"), "{}", r.text);
    let ms = r.multistatus();
    assert!(matches!(ms.response(&secret).status, Some(403 | 404)), "{}", r.text);
    assert!(ms.response(&secret).propstats.is_empty(), "{}", r.text);
    assert_eq!(ms.response(&object("bob", "default", "mine.ics")).status_of(DAV, "getetag"), Some(200));

    let query = calendar_query("<D:getetag/><C:calendar-data/>", &event_range("20240101T000000Z", "20250101T000000Z"));
    refused(&bob.report(&alice_cal, "1", &query).await, "calendar-query");
    refused(&bob.report(&secret, "0", &query).await, "calendar-query on an object");
    let free_busy = format!(
        r#"<?xml version="1.0"?><C:free-busy-query {NS}><C:time-range start="20240101T000000Z" end="20250101T000000Z"/></C:free-busy-query>"#
    );
    refused(&bob.report(&alice_cal, "1", &free_busy).await, "free-busy-query");
    refused(&bob.sync(&alice_cal, "", "").await, "sync-collection");

    // alice's sync token is not valid for bob's calendar.
    let token = Client::new(&app, "alice").sync_token(&alice_cal).await;
    bob.sync(&calendar("bob", "default"), &token, "").await.assert_precondition(403, DAV, "valid-sync-token");
    assert_eq!(snapshot(&app).await, before);
}

async fn bob_cannot_change_alices_calendars(db: &TestDb) {
    let app = setup(db).await;
    let before = snapshot(&app).await;
    let bob = Client::new(&app, "bob");
    let alice_cal = calendar("alice", "default");
    let secret = object("alice", "default", "secret.ics");

    let patch = format!(
        r#"<?xml version="1.0"?><D:propertyupdate {NS}><D:set><D:prop><D:displayname>Owned</D:displayname><X:note xmlns:X="urn:example:x">bob</X:note></D:prop></D:set></D:propertyupdate>"#
    );
    for path in [alice_cal.clone(), secret.clone(), home("alice")] {
        refused(&bob.proppatch(&path, &patch).await, &format!("PROPPATCH {path}"));
    }
    let mkcalendar = format!(
        r#"<?xml version="1.0"?><C:mkcalendar {NS}><D:set><D:prop><D:displayname>Planted</D:displayname></D:prop></D:set></C:mkcalendar>"#
    );
    refused(&bob.mkcalendar(&calendar("alice", "planted"), &mkcalendar).await, "MKCALENDAR");
    let mkcol = format!(
        r#"<?xml version="1.0"?><D:mkcol {NS}><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>"#
    );
    let r = bob.send("MKCOL", &calendar("alice", "planted2"), &[("content-type", "application/xml")], mkcol).await;
    refused(&r, "MKCOL");

    let planted = event("planted", "20240110T100000Z", "20240110T110000Z", "Planted");
    refused(&bob.put(&object("alice", "default", "planted.ics"), &planted).await, "PUT new");
    refused(&bob.put(&secret, &planted).await, "PUT over");
    refused(&bob.put_with(&secret, &planted, &[("if-match", "*")]).await, "PUT If-Match *");
    refused(&bob.delete(&secret).await, "DELETE object");
    refused(&bob.delete(&alice_cal).await, "DELETE calendar");
    refused(&bob.delete(&calendar("alice", "tasks")).await, "DELETE task list");
    assert_eq!(snapshot(&app).await, before);
}

async fn bob_cannot_copy_or_move_across_users(db: &TestDb) {
    let app = setup(db).await;
    let before = snapshot(&app).await;
    let bob = Client::new(&app, "bob");
    let secret = object("alice", "default", "secret.ics");
    let mine = object("bob", "default", "mine.ics");
    for method in ["COPY", "MOVE"] {
        // alice's object out into bob's calendar.
        let to_bob = object("bob", "default", "stolen.ics");
        for destination in [to_bob.clone(), format!("http://localhost{to_bob}")] {
            let r = bob.send(method, &secret, &[("destination", &destination)], Body::empty()).await;
            refused(&r, &format!("{method} alice's object to bob"));
        }
        assert_eq!(bob.get(&to_bob).await.status, StatusCode::NOT_FOUND, "{method}");
        // bob's object into alice's calendar, new name and over hers.
        for target in [object("alice", "default", "planted.ics"), secret.clone()] {
            for destination in [target.clone(), format!("http://localhost{target}")] {
                let r = bob.send(method, &mine, &[("destination", &destination)], Body::empty()).await;
                refused(&r, &format!("{method} bob's object to {destination}"));
            }
        }
        assert_eq!(bob.get(&mine).await.status, StatusCode::OK, "{method} left bob's object in place");
    }
    assert_eq!(snapshot(&app).await, before);
}

/// Another user's principal answers with what identifies them (for attendee
/// look-up). Its calendar-home-set is shown too: the href follows from the
/// name, and python-caldav's principal search needs it; everything at that
/// href stays forbidden.
async fn other_principals_show_only_public_properties(db: &TestDb) {
    let app = setup(db).await;
    let bob = Client::new(&app, "bob");
    let props = "<D:displayname/><C:calendar-home-set/><C:calendar-user-address-set/><D:principal-URL/><D:current-user-privilege-set/>";
    let r = bob.props(&principal("alice"), "0", props).await;
    let ms = r.multistatus();
    let alice = ms.response(&principal("alice"));
    assert!(alice.hrefs(CALDAV, "calendar-user-address-set").contains(&"mailto:alice@example.com".to_string()));
    assert_eq!(alice.status_of(CALDAV, "calendar-home-set"), Some(200), "{}", r.text);
    assert!(!r.text.contains("<D:write/>"), "bob may not write alice's principal: {}", r.text);
    // The home it names is closed to bob, whatever way he asks.
    refused(&bob.propfind(&home("alice"), "1", "").await, "PROPFIND alice's home");
    let search = format!(
        r#"<?xml version="1.0"?><D:principal-property-search {NS}><D:property-search><D:prop><D:displayname/></D:prop><D:match>alice</D:match></D:property-search><D:prop><C:calendar-home-set/><D:displayname/></D:prop></D:principal-property-search>"#
    );
    let r = bob.report("/dav/principals/", "0", &search).await;
    assert!(r.multistatus().get(&principal("alice")).is_some(), "{}", r.text);
    assert!(!r.text.contains("Alice's secret"));
    let expand = format!(
        r#"<?xml version="1.0"?><D:expand-property {NS}><D:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"><D:property name="displayname"/></D:property></D:expand-property>"#
    );
    let r = bob.report(&principal("alice"), "0", &expand).await;
    assert!(!r.text.contains("Alice's secret"), "expand-property leaked data: {}", r.text);
    // Other methods on alice's principal are refused.
    refused(&bob.proppatch(&principal("alice"), "<D:propertyupdate xmlns:D=\"DAV:\"/>").await, "PROPPATCH principal");
}

async fn unauthenticated_requests_are_challenged(db: &TestDb) {
    let app = setup(db).await;
    let anon = Client::anonymous(&app);
    let secret = object("alice", "default", "secret.ics");
    let cases: Vec<(&str, String, String)> = vec![
        ("PROPFIND", "/dav/".into(), String::new()),
        ("PROPFIND", "/".into(), String::new()),
        ("PROPFIND", principal("alice"), String::new()),
        ("PROPFIND", home("alice"), String::new()),
        ("PROPFIND", calendar("alice", "default"), String::new()),
        ("GET", secret.clone(), String::new()),
        ("HEAD", secret.clone(), String::new()),
        ("PUT", object("alice", "default", "anon.ics"), event("anon", "20240101T100000Z", "20240101T110000Z", "x")),
        ("DELETE", secret.clone(), String::new()),
        ("REPORT", calendar("alice", "default"), calendar_query("<D:getetag/>", "")),
        ("MKCALENDAR", calendar("alice", "anon"), String::new()),
        ("PROPPATCH", calendar("alice", "default"), String::new()),
        ("MOVE", secret.clone(), String::new()),
    ];
    for (method, path, body) in cases {
        let r = anon.send(method, &path, &[("destination", &object("alice", "tasks", "x.ics"))], body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", r.text);
        let challenge = r.header("www-authenticate").unwrap_or_else(|| panic!("{method} {path}: no challenge"));
        assert!(challenge.starts_with("Basic "), "{challenge}");
        assert!(!r.text.contains("Alice's secret"));
    }
    assert_eq!(Client::new(&app, "alice").get(&secret).await.text, secret_event());
}

on_both_databases!(
    bob_cannot_read_alices_calendars,
    bob_cannot_report_on_alices_calendars,
    bob_cannot_change_alices_calendars,
    bob_cannot_copy_or_move_across_users,
    other_principals_show_only_public_properties,
    unauthenticated_requests_are_challenged,
);
