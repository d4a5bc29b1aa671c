//! Whole collections as one document (`GET` of a calendar or address book over DAV) and
//! published calendars (`/api/v1/calendars/{id}/publication`, `/feeds/<token>.ics`), through the
//! real router on both databases (issue 16).

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{Client, calendar, event, object, users, vcalendar};
use common::{TestApp, TestDb};
use madang::config::DavConfig;
use serde_json::Value;

const BOOK: &str = "/dav/addressbooks/alice/default/";

async fn alice_and_bob(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    app
}

/// Two events in the same zone, each with its own copy of the VTIMEZONE, and a to-do.
async fn fill(c: &Client<'_>) {
    let zone = "BEGIN:VTIMEZONE\nTZID:Asia/Seoul\nBEGIN:STANDARD\nDTSTART:19700101T000000\nTZOFFSETFROM:+0900\n\
                TZOFFSETTO:+0900\nTZNAME:KST\nEND:STANDARD\nEND:VTIMEZONE";
    for (uid, day) in [("one", "01"), ("two", "02")] {
        let ics = vcalendar(&format!(
            "{zone}\nBEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20240101T000000Z\nDTSTART;TZID=Asia/Seoul:202405{day}T090000\n\
             DURATION:PT1H\nSUMMARY:Meeting {uid}\nEND:VEVENT"
        ));
        assert_eq!(c.put(&object("alice", "default", &format!("{uid}.ics")), &ics).await.status, StatusCode::CREATED);
    }
    let todo = vcalendar("BEGIN:VTODO\nUID:three\nDTSTAMP:20240101T000000Z\nSUMMARY:Write notes\nEND:VTODO");
    assert_eq!(c.put(&object("alice", "default", "three.ics"), &todo).await.status, StatusCode::CREATED);
}

async fn rename(c: &Client<'_>, name: &str) {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set></D:propertyupdate>"#
    );
    assert_eq!(c.proppatch(&calendar("alice", "default"), &body).await.status, StatusCode::MULTI_STATUS);
}

async fn issue16_get_of_a_calendar_is_one_icalendar_document(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    fill(&c).await;
    rename(&c, "Team plans").await;
    let r = c.get(&calendar("alice", "default")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/calendar; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"Team plans.ics\"; filename*=UTF-8''Team%20plans.ics")
    );
    let text = &r.text;
    assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang//"), "{text}");
    assert_eq!(text.matches("BEGIN:VCALENDAR").count(), 1, "{text}");
    assert_eq!(text.matches("BEGIN:VTIMEZONE").count(), 1, "one VTIMEZONE per TZID: {text}");
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2);
    assert_eq!(text.matches("BEGIN:VTODO").count(), 1);
    assert!(text.contains("X-WR-CALNAME:Team plans\r\n") && text.contains("\r\nNAME:Team plans\r\n"), "{text}");
    assert!(!text.contains("Madang tests"), "the objects' PRODIDs are not copied: {text}");
    assert!(!text.contains("REFRESH-INTERVAL"), "only feeds ask subscribers to come back");

    // HEAD: the same headers, no body.
    let head = c.send("HEAD", &calendar("alice", "default"), &[], Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.text.is_empty());
    assert_eq!(head.header("etag"), r.header("etag"));
    assert_eq!(head.header("content-length"), Some(r.text.len().to_string().as_str()));

    // The home and the principals are still not documents.
    for path in ["/dav/calendars/alice/", "/dav/principals/alice/", "/dav/addressbooks/alice/"] {
        assert_eq!(c.get(path).await.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    assert_eq!(c.get(&calendar("alice", "nope")).await.status, StatusCode::NOT_FOUND);
}

async fn issue16_conditional_get_of_a_calendar(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    fill(&c).await;
    let path = calendar("alice", "default");
    let first = c.get(&path).await;
    let etag = first.header("etag").expect("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", c.sync_token(&path).await), "the ETag is the sync token");
    assert!(first.header("last-modified").is_some());

    let again = c.send("GET", &path, &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    // A change of a member, and one of the calendar's name, each make a new document.
    c.put(&object("alice", "default", "four.ics"), &event("four", "20240510T100000Z", "20240510T110000Z", "Four"))
        .await;
    let changed = c.send("GET", &path, &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert!(changed.text.contains("UID:four"));
    let etag2 = changed.header("etag").unwrap().to_string();
    assert_ne!(etag2, etag);
    rename(&c, "Renamed").await;
    let renamed = c.send("GET", &path, &[("if-none-match", &etag2)], Body::empty()).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert!(renamed.text.contains("X-WR-CALNAME:Renamed"));

    // If-Match with a stale tag: 412.
    let stale = c.send("GET", &path, &[("if-match", &etag)], Body::empty()).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}

async fn issue16_get_of_an_address_book_is_one_vcard_stream(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    for (uid, name) in [("a", "Ann"), ("b", "Bo")] {
        let card = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n");
        let r = c.send("PUT", &format!("{BOOK}{uid}.vcf"), &[("content-type", "text/vcard")], card).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = c.get(BOOK).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/vcard; charset=utf-8"));
    assert!(r.header("content-disposition").unwrap().contains(".vcf"), "{:?}", r.header("content-disposition"));
    assert_eq!(r.text.matches("BEGIN:VCARD").count(), 2, "{}", r.text);
    assert!(r.text.contains("FN:Ann\r\n") && r.text.contains("FN:Bo\r\n"));
    assert_eq!(madang_ical::split_cards(&r.text).len(), 2);
    let etag = r.header("etag").unwrap().to_string();
    let again = c.send("GET", BOOK, &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

async fn issue16_whole_collection_get_is_isolated(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let alice = Client::new(&app, "alice");
    fill(&alice).await;
    let bob = Client::new(&app, "bob");
    // Bob gets for the collection exactly what he gets for a member of it, and no content.
    for (whole, member) in [
        (calendar("alice", "default"), object("alice", "default", "one.ics")),
        (BOOK.to_string(), format!("{BOOK}a.vcf")),
        (calendar("alice", "missing"), object("alice", "missing", "x.ics")),
    ] {
        let w = bob.get(&whole).await;
        let m = bob.get(&member).await;
        assert_eq!(w.status, m.status, "{whole}");
        assert_eq!(w.status, StatusCode::FORBIDDEN, "{whole}");
        assert!(!w.text.contains("Meeting"), "{}", w.text);
        let head = bob.send("HEAD", &whole, &[], Body::empty()).await;
        assert_eq!(head.status, StatusCode::FORBIDDEN);
    }
    let anon = Client::anonymous(&app).get(&calendar("alice", "default")).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

async fn issue16_whole_collection_get_is_bounded(db: &TestDb) {
    let mut app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    fill(&c).await;
    app.state = app.state.clone().with_dav(DavConfig { max_export_items: 2, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let r = c.get(&calendar("alice", "default")).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text);
    assert!(r.text.contains("dav.max_export_items"), "{}", r.text);
    // A conditional GET is still answered, as it reads no member; members are served one by one.
    let etag = format!("\"{}\"", c.sync_token(&calendar("alice", "default")).await);
    let r = c.send("GET", &calendar("alice", "default"), &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(c.get(&object("alice", "default", "one.ics")).await.status, StatusCode::OK);

    app.state = app.state.clone().with_dav(DavConfig { max_export_size: 500, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let r = c.get(&calendar("alice", "default")).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text);
    assert!(r.text.contains("dav.max_export_size"), "{}", r.text);
    // The JSON API's export obeys the same limits.
    let r = c.send("GET", "/api/v1/calendars/default/export", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text);
}

/// Whole-collection documents are built a few at a time (each may hold tens of megabytes);
/// the others wait for a place, and a conditional GET, which builds nothing, does not wait.
async fn issue16_documents_are_built_a_few_at_a_time(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    fill(&c).await;
    let path = calendar("alice", "default");
    let places = madang::collections::export::CONCURRENT_EXPORTS as u32;
    let taken = app.state.collections.exports.acquire_many(places).await.unwrap();
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(300), c.get(&path)).await;
    assert!(waiting.is_err(), "a GET waits while every place is taken");
    let etag = format!("\"{}\"", c.sync_token(&path).await);
    let quick = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        c.send("GET", &path, &[("if-none-match", &etag)], Body::empty()),
    )
    .await
    .expect("a conditional GET needs no place");
    assert_eq!(quick.status, StatusCode::NOT_MODIFIED);
    drop(taken);
    assert_eq!(c.get(&path).await.status, StatusCode::OK);
}

// ----- Publishing -----

struct Json {
    status: StatusCode,
    body: Value,
    text: String,
}

async fn call(app: &TestApp, user: &str, method: &str, path: &str) -> Json {
    let r = Client::new(app, user).send(method, path, &[], Body::empty()).await;
    Json { status: r.status, body: serde_json::from_str(&r.text).unwrap_or(Value::Null), text: r.text }
}

const PUBLICATION: &str = "/api/v1/calendars/default/publication";

/// Publishes alice's default calendar; returns the feed's path.
async fn publish(app: &TestApp) -> String {
    let r = call(app, "alice", "POST", PUBLICATION).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = r.body["url"].as_str().expect("url");
    assert!(r.body["webcal_url"].as_str().unwrap().starts_with("webcal://"), "{}", r.text);
    let path = url.find("/feeds/").map(|i| url[i..].to_string()).expect("a /feeds/ URL");
    assert!(path.ends_with(".ics") && path.len() == "/feeds/".len() + 43 + 4, "{path}");
    path
}

async fn issue16_a_published_calendar_is_served_without_credentials(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let c = Client::new(&app, "alice");
    fill(&c).await;
    let r = call(&app, "alice", "GET", PUBLICATION).await;
    assert_eq!((r.status, r.body["published"].as_bool()), (StatusCode::OK, Some(false)), "{}", r.text);

    let feed = publish(&app).await;
    let r = call(&app, "alice", "GET", PUBLICATION).await;
    assert_eq!(r.body["published"], true, "{}", r.text);
    assert!(r.body["published_at"].is_string());
    assert!(r.body.get("url").is_none(), "the URL is shown only when it is made: {}", r.text);

    let anon = Client::anonymous(&app);
    let r = anon.get(&feed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/calendar; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    assert!(r.header("content-disposition").unwrap().starts_with("inline;"));
    assert_eq!(r.text.matches("BEGIN:VEVENT").count(), 2, "{}", r.text);
    assert!(r.text.contains("REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"), "{}", r.text);
    // The same document as the owner's GET but for the refresh interval, with the same ETag.
    let own = c.get(&calendar("alice", "default")).await;
    assert_eq!(r.header("etag"), own.header("etag"));
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("REFRESH-INTERVAL") && !l.contains("PUBLISHED-TTL"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&r.text), strip(&own.text));

    let etag = r.header("etag").unwrap().to_string();
    let again = anon.send("GET", &feed, &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let head = anon.send("HEAD", &feed, &[], Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.text.is_empty());

    // Wrong tokens: all the same 404.
    let mut wrong = feed.clone().into_bytes();
    let i = "/feeds/".len() + 5;
    wrong[i] = if wrong[i] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for path in [wrong.as_str(), "/feeds/x.ics", "/feeds/", &feed.replace(".ics", ".ical"), &feed.replace(".ics", "")] {
        let r = anon.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert!(!r.text.contains("Meeting"));
    }
    // The feed is read-only.
    let put = anon.send("PUT", &feed, &[], "BEGIN:VCALENDAR").await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn issue16_revoking_and_regenerating_stop_the_old_url_at_once(db: &TestDb) {
    let app = alice_and_bob(db).await;
    fill(&Client::new(&app, "alice")).await;
    let anon = Client::anonymous(&app);
    let first = publish(&app).await;
    assert_eq!(anon.get(&first).await.status, StatusCode::OK);

    // Publishing again: a new URL, the old one is gone.
    let second = publish(&app).await;
    assert_ne!(first, second);
    assert_eq!(anon.get(&first).await.status, StatusCode::NOT_FOUND);
    assert_eq!(anon.get(&second).await.status, StatusCode::OK);

    let r = call(&app, "alice", "DELETE", PUBLICATION).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(anon.get(&second).await.status, StatusCode::NOT_FOUND);
    let r = call(&app, "alice", "GET", PUBLICATION).await;
    assert_eq!(r.body["published"], false);
    // Revoking what is not published is no error.
    assert_eq!(call(&app, "alice", "DELETE", PUBLICATION).await.status, StatusCode::NO_CONTENT);

    // Deleting the calendar ends its feed; so does disabling the owner, until re-enabled.
    let third = publish(&app).await;
    let alice = app.store.user_by_name(&madang::domain::Username::parse("alice").unwrap()).await.unwrap();
    let now = chrono::Utc::now();
    app.store.set_state(alice.id, madang::domain::UserState::Disabled, now).await.unwrap();
    assert_eq!(anon.get(&third).await.status, StatusCode::NOT_FOUND);
    app.store.set_state(alice.id, madang::domain::UserState::Active, now).await.unwrap();
    assert_eq!(anon.get(&third).await.status, StatusCode::OK);
    app.state.modules.set(&[(madang::modules::Module::Calendar, false)]).await.unwrap();
    assert_eq!(anon.get(&third).await.status, StatusCode::NOT_FOUND, "the calendar module is off");
    app.state.modules.set(&[(madang::modules::Module::Calendar, true)]).await.unwrap();
    assert_eq!(Client::new(&app, "alice").delete(&calendar("alice", "default")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(anon.get(&third).await.status, StatusCode::NOT_FOUND);
}

async fn issue16_only_the_owner_publishes_or_revokes(db: &TestDb) {
    let app = alice_and_bob(db).await;
    fill(&Client::new(&app, "alice")).await;
    let feed = publish(&app).await;
    let anon = Client::anonymous(&app);

    // Bob names calendars by id within his own home: "default" is his, never alice's.
    let r = call(&app, "bob", "DELETE", PUBLICATION).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(anon.get(&feed).await.status, StatusCode::OK, "bob's revoke did not touch alice's feed");
    let r = call(&app, "bob", "GET", PUBLICATION).await;
    assert_eq!(r.body["published"], false, "{}", r.text);
    let bobs = publish_as(&app, "bob").await;
    let r = anon.get(&bobs).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text.contains("Meeting"), "bob's feed is bob's calendar: {}", r.text);
    assert_eq!(anon.get(&feed).await.status, StatusCode::OK, "bob's publish did not replace alice's feed");

    // Neither can reach alice's calendars that do not exist in his home, nor the tasks list of hers.
    for method in ["GET", "POST", "DELETE"] {
        let r = call(&app, "bob", method, "/api/v1/calendars/alice-only/publication").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}: {}", r.text);
    }
    let r = Client::anonymous(&app).send("POST", PUBLICATION, &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn publish_as(app: &TestApp, user: &str) -> String {
    let r = call(app, user, "POST", PUBLICATION).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = r.body["url"].as_str().unwrap();
    url[url.find("/feeds/").unwrap()..].to_string()
}

on_both_databases!(
    issue16_get_of_a_calendar_is_one_icalendar_document,
    issue16_conditional_get_of_a_calendar,
    issue16_get_of_an_address_book_is_one_vcard_stream,
    issue16_whole_collection_get_is_isolated,
    issue16_whole_collection_get_is_bounded,
    issue16_documents_are_built_a_few_at_a_time,
    issue16_a_published_calendar_is_served_without_credentials,
    issue16_revoking_and_regenerating_stop_the_old_url_at_once,
    issue16_only_the_owner_publishes_or_revokes,
);
