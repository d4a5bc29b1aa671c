//! The collections Madang derives itself, through the real router on both databases: the company directory (every active user's card, read-only, in every address-book home) and each user's birthday calendar (from their own contacts, read-only), their sync-collection deltas, and every write refused with RFC 3744 `need-privileges`.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{
    CALDAV, CARD_NS, CARDDAV, Client, DAV, NS, Reply, addressbook, addressbook_home, addressbook_multiget,
    addressbook_query, calendar, card, home, object, principal, users, vcard3, vcard4,
};
use common::{TestApp, TestDb};
use madang::config::DavConfig;
use serde_json::{Value, json};

fn directory(user: &str) -> String {
    addressbook(user, "directory")
}

fn birthdays(user: &str) -> String {
    calendar(user, "birthdays")
}

/// Asserts a 403 `DAV:need-privileges` naming `href` and `DAV:privilege`.
#[track_caller]
fn assert_needs(r: &Reply, href: &str, privilege: &str) {
    let need = r.assert_precondition(403, DAV, "need-privileges");
    let resource = need.child(DAV, "resource").unwrap_or_else(|| panic!("no DAV:resource in {}", r.text));
    assert_eq!(resource.child(DAV, "href").map(|h| h.text()), Some(href.to_string()), "{}", r.text);
    let held = resource.child(DAV, "privilege").unwrap_or_else(|| panic!("no DAV:privilege in {}", r.text));
    assert!(held.child(DAV, privilege).is_some(), "expected {privilege}: {}", r.text);
}

/// The local names of `current-user-privilege-set` of `href`.
async fn privileges(c: &Client<'_>, href: &str) -> Vec<String> {
    let r = c.props(href, "0", "<D:current-user-privilege-set/>").await;
    let ms = r.multistatus();
    let set = ms.response(href).found(DAV, "current-user-privilege-set").expect("cups").clone();
    set.children_named(DAV, "privilege").flat_map(|p| p.elements().map(|e| e.name.local.to_string())).collect()
}

/// One member of a sync-collection answer: href, ETag (if it exists), status (404 if it is gone).
type Synced = (String, Option<String>, Option<u16>);

/// The members (sorted) a sync-collection answer lists, and its token.
fn sync_result(r: &Reply) -> (Vec<Synced>, String) {
    let ms = r.multistatus();
    let mut rows: Vec<_> =
        ms.responses.iter().map(|x| (x.href.clone(), x.found(DAV, "getetag").map(|e| e.text()), x.status)).collect();
    rows.sort();
    (rows, ms.sync_token.clone().expect("sync-token"))
}

async fn team(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob", "carol"]).await;
    app
}

// ----- The directory -----

async fn directory_is_in_every_home_read_only_and_announced_as_gateway(db: &TestDb) {
    let app = team(db).await;
    for user in ["alice", "bob"] {
        let c = Client::new(&app, user);
        let r = c.card_props(&addressbook_home(user), "1", "<D:resourcetype/><D:displayname/><D:owner/>").await;
        let ms = r.multistatus();
        let dir = ms.response(&directory(user));
        assert!(dir.has_child(DAV, "resourcetype", CARDDAV, "addressbook"), "{}", r.text);
        assert!(dir.has_child(DAV, "resourcetype", CARDDAV, "directory"), "{}", r.text);
        assert_eq!(dir.text(DAV, "displayname"), "Directory");
        // Owned by the instance, not by anyone: an empty DAV:owner (RFC 3744 §5.1).
        assert!(dir.found(DAV, "owner").expect("owner").children_named(DAV, "href").next().is_none());
        assert!(ms.get(&addressbook(user, "default")).is_some());
        let held = privileges(&c, &directory(user)).await;
        assert_eq!(held, ["read", "read-current-user-privilege-set"], "{user}");
        // The user's own book stays writable.
        assert!(privileges(&c, &addressbook(user, "default")).await.contains(&"write-content".to_string()));
        let r = c.card_props(&principal(user), "0", "<CR:directory-gateway/>").await;
        assert_eq!(r.multistatus().response(&principal(user)).hrefs(CARDDAV, "directory-gateway"), [directory(user)]);
    }
}

async fn directory_shows_active_users_only_and_no_secrets(db: &TestDb) {
    let app = team(db).await;
    // A pending sign-up and a disabled account are not colleagues yet, or any more.
    db.execute("UPDATE users SET state = 'pending' WHERE username = 'carol'").await;
    let c = Client::new(&app, "alice");
    let r = c.card_props(&directory("alice"), "1", "<D:getetag/>").await;
    let ms = r.multistatus();
    let cards: Vec<&str> = ms.hrefs().into_iter().filter(|h| *h != directory("alice")).collect();
    assert_eq!(cards.len(), 2, "{}", r.text);
    let body = c.report(&directory("alice"), "1", &addressbook_multiget("<CR:address-data/>", &cards)).await;
    let text = body.text.clone();
    for who in ["alice@example.com", "bob@example.com", "FN:alice", "NICKNAME:bob"] {
        assert!(text.contains(who), "{who} missing: {text}");
    }
    assert!(!text.contains("carol"), "{text}");
    // Nothing of the account but its public fields: no password hash, role or state.
    for secret in ["$argon2", "password", "member", "active", "ROLE"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // addressbook-query finds a colleague by e-mail, as autocomplete does.
    let filter = r#"<CR:filter><CR:prop-filter name="EMAIL"><CR:text-match match-type="starts-with">bob@</CR:text-match></CR:prop-filter></CR:filter>"#;
    let r = c.report(&directory("alice"), "1", &addressbook_query("<D:getetag/><CR:address-data/>", filter, "")).await;
    let ms = r.multistatus();
    assert_eq!(ms.responses.len(), 1, "{}", r.text);
    assert!(ms.responses[0].text(CARDDAV, "address-data").contains("bob@example.com"));
    // GET of one card, in the version asked for.
    let r = c.get_accept(&ms.responses[0].href, "text/vcard; version=4.0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("VERSION:4.0") && r.text.contains("bob@example.com"), "{}", r.text);
}

async fn directory_syncs_additions_renames_and_departures(db: &TestDb) {
    let app = team(db).await;
    let c = Client::new(&app, "alice");
    let (initial, token) = sync_result(&c.card_sync(&directory("alice"), "").await);
    assert_eq!(initial.len(), 3);
    // Nothing changed: an empty delta, the same token, the same ETags.
    let (none, same) = sync_result(&c.card_sync(&directory("alice"), &token).await);
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(same, token);

    app.add_user("dave", common::dav::PASSWORD).await;
    db.execute("UPDATE users SET display_name = 'Bob Builder' WHERE username = 'bob'").await;
    app.accounts.disable("carol").await.unwrap();
    let (delta, next) = sync_result(&c.card_sync(&directory("alice"), &token).await);
    assert_ne!(next, token);
    assert_eq!(delta.len(), 3, "dave added, bob changed, carol gone: {delta:?}");
    let gone: Vec<_> = delta.iter().filter(|(_, _, status)| *status == Some(404)).collect();
    assert_eq!(gone.len(), 1, "{delta:?}");
    // The departed card is carol's, the changed one bob's; alice's is untouched.
    let before: std::collections::HashMap<_, _> = initial.iter().map(|(h, e, _)| (h.clone(), e.clone())).collect();
    let changed: Vec<_> = delta.iter().filter(|(h, e, _)| e.is_some() && before.contains_key(h)).collect();
    assert_eq!(changed.len(), 1, "{delta:?}");
    assert_ne!(before[&changed[0].0], changed[0].1);
    let r = c.get(&changed[0].0).await;
    assert!(r.text.contains("FN:Bob Builder"), "{}", r.text);
    // The renamed card kept its href: it is named by the account, not by its name.
    let r = c.get(&gone[0].0).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Bob sees the same collection, at the same revision.
    let b = Client::new(&app, "bob");
    assert_eq!(b.sync_token(&directory("bob")).await, next);
}

async fn writes_to_the_directory_need_privileges(db: &TestDb) {
    let app = team(db).await;
    let c = Client::new(&app, "alice");
    let dir = directory("alice");
    let r = c.card_props(&dir, "1", "<D:getetag/>").await;
    let member = r.multistatus().hrefs().into_iter().find(|h| *h != dir).expect("a card").to_string();

    let new = card("alice", "directory", "new.vcf");
    assert_needs(&c.put_vcard(&new, &vcard3("n1", "New", "")).await, &dir, "bind");
    assert_needs(&c.put_vcard(&member, &vcard3("n2", "Over", "")).await, &member, "write-content");
    assert_needs(&c.delete(&member).await, &dir, "unbind");
    let patch = format!(
        r#"<?xml version="1.0"?><D:propertyupdate {CARD_NS}><D:set><D:prop><D:displayname>Mine</D:displayname></D:prop></D:set></D:propertyupdate>"#
    );
    assert_needs(&c.proppatch(&dir, &patch).await, &dir, "write-properties");
    assert_needs(&c.proppatch(&member, &patch).await, &dir, "write-properties");
    assert_needs(&c.delete(&dir).await, &addressbook_home("alice"), "unbind");
    let mkcol = format!(
        r#"<?xml version="1.0"?><D:mkcol {CARD_NS}><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"#
    );
    let r = c.send("MKCOL", &format!("{dir}inner/"), &[("content-type", "application/xml")], mkcol.clone()).await;
    assert_needs(&r, &dir, "bind");
    let r = c.send("MKCOL", &dir, &[("content-type", "application/xml")], mkcol).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);

    // MOVE into it, and out of it, are refused; a COPY out saves a colleague to one's own book.
    let mine = card("alice", "default", "x.vcf");
    c.create_vcard(&mine, &vcard3("x1", "Xavier", "")).await;
    let into = format!("http://localhost{}", card("alice", "directory", "x.vcf"));
    let r = c.send("MOVE", &mine, &[("destination", into.as_str())], Body::empty()).await;
    assert_needs(&r, &dir, "bind");
    let saved = card("alice", "default", "saved.vcf");
    let dest = format!("http://localhost{saved}");
    let r = c.send("MOVE", &member, &[("destination", dest.as_str())], Body::empty()).await;
    assert_needs(&r, &dir, "unbind");
    let r = c.send("COPY", &member, &[("destination", dest.as_str())], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Nothing of it changed the directory.
    let r = c.card_props(&dir, "1", "<D:getetag/>").await;
    assert_eq!(r.multistatus().responses.len(), 4, "{}", r.text);
}

async fn json_api_reads_the_directory_and_refuses_writes(db: &TestDb) {
    let app = team(db).await;
    let c = Client::new(&app, "alice");
    let api = |method: &str, path: &str, body: Option<Value>| {
        let (method, path) = (method.to_string(), path.to_string());
        let c = &c;
        async move {
            let r = match body {
                Some(b) => c.send(&method, &path, &[("content-type", "application/json")], b.to_string()).await,
                None => c.send(&method, &path, &[], Body::empty()).await,
            };
            (r.status, serde_json::from_str::<Value>(&r.text).unwrap_or(Value::Null))
        }
    };
    let (status, books) = api("GET", "/api/v1/addressbooks", None).await;
    assert_eq!(status, StatusCode::OK);
    let dir = books.as_array().unwrap().iter().find(|b| b["id"] == "directory").expect("listed").clone();
    assert_eq!((dir["read_only"].clone(), dir["dav_url"].clone()), (json!(true), json!(directory("alice"))));
    assert!(books.as_array().unwrap().iter().filter(|b| b["id"] != "directory").all(|b| b["read_only"] == false));
    // Autocomplete in the web client: a colleague found by the start of their address.
    let (status, found) = api("GET", "/api/v1/addressbooks/directory/contacts?q=bob", None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["contacts"][0]["emails"][0]["value"], "bob@example.com");
    let (status, body) = api(
        "POST",
        "/api/v1/addressbooks/directory/contacts",
        Some(json!({ "uid": "intruder", "full_name": "Intruder" })),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("read_only")), "{body}");
}

async fn directory_can_be_turned_off(db: &TestDb) {
    let mut app = team(db).await;
    app.state = app.state.clone().with_dav(DavConfig { directory: None, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let r = c.card_props(&addressbook_home("alice"), "1", "<D:resourcetype/>").await;
    assert!(r.multistatus().get(&directory("alice")).is_none(), "{}", r.text);
    assert_eq!(c.card_props(&directory("alice"), "0", "<D:resourcetype/>").await.status, StatusCode::NOT_FOUND);
    let r = c.card_props(&principal("alice"), "0", "<CR:directory-gateway/>").await;
    assert_eq!(r.multistatus().response(&principal("alice")).status_of(CARDDAV, "directory-gateway"), Some(404));
    // With the name free, the user may make a book of that name.
    let mkcol = format!(
        r#"<?xml version="1.0"?><D:mkcol {CARD_NS}><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"#
    );
    let r = c.send("MKCOL", &directory("alice"), &[("content-type", "application/xml")], mkcol).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

// ----- Birthdays -----

fn with_birthday(uid: &str, name: &str, bday: &str) -> String {
    vcard3(uid, name, &format!("BDAY{bday}"))
}

/// The birthday calendar's members: href → calendar-data.
async fn birthday_events(c: &Client<'_>, user: &str) -> Vec<(String, String)> {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>"#
    );
    let r = c.report(&birthdays(user), "1", &body).await;
    let mut out: Vec<_> =
        r.multistatus().responses.iter().map(|x| (x.href.clone(), x.text(CALDAV, "calendar-data"))).collect();
    out.sort();
    out
}

async fn birthdays_follow_the_contacts(db: &TestDb) {
    let app = team(db).await;
    let c = Client::new(&app, "alice");
    let book = |n: &str| card("alice", "default", n);
    c.create_vcard(&book("b.vcf"), &with_birthday("bob-1", "Bob Kim", ":19900415")).await;
    c.create_vcard(&book("n.vcf"), &vcard4("noyear-1", "No Year", "BDAY:--0229\nANNIVERSARY:20150620")).await;
    c.create_vcard(&book("a.vcf"), &with_birthday("apple-1", "Apple Style", ";X-APPLE-OMIT-YEAR=1604:1604-12-24"))
        .await;
    c.create_vcard(&book("plain.vcf"), &vcard3("plain-1", "No Dates", "")).await;

    // Listed in the home, read-only, transparent.
    let r = c.props(&home("alice"), "1", "<D:displayname/><C:schedule-calendar-transp/>").await;
    let ms = r.multistatus();
    assert_eq!(ms.response(&birthdays("alice")).text(DAV, "displayname"), "Birthdays");
    assert!(ms.response(&birthdays("alice")).has_child(CALDAV, "schedule-calendar-transp", CALDAV, "transparent"));
    assert_eq!(privileges(&c, &birthdays("alice")).await, ["read", "read-current-user-privilege-set"]);

    let events = birthday_events(&c, "alice").await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let all: String = events.iter().map(|(_, d)| d.as_str()).collect();
    for line in [
        "SUMMARY:Birthday: Bob Kim (1990)",
        "DTSTART;VALUE=DATE:19900415",
        "SUMMARY:Birthday: No Year",
        "DTSTART;VALUE=DATE:19720229",
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1",
        "SUMMARY:Anniversary: No Year (2015)",
        "SUMMARY:Birthday: Apple Style",
        "DTSTART;VALUE=DATE:19701224",
    ] {
        assert!(all.contains(line), "{line} missing: {all}");
    }
    // A time-range query finds this year's instance (the index was derived too).
    let filter = r#"<C:comp-filter name="VEVENT"><C:time-range start="20270415T000000Z" end="20270416T000000Z"/></C:comp-filter>"#;
    assert_eq!(c.query_hrefs(&birthdays("alice"), filter).await.len(), 1);

    // A changed, a deleted and an added card move the calendar's token and show as a delta.
    let (_, token) = sync_result(&c.sync(&birthdays("alice"), "", "").await);
    let (none, same) = sync_result(&c.sync(&birthdays("alice"), &token, "").await);
    assert!(none.is_empty() && same == token, "{none:?}");
    let ctag =
        c.props(&home("alice"), "0", "<CS:getctag/>").await.multistatus().responses[0].text(common::dav::CS, "getctag");
    c.put_vcard(&book("b.vcf"), &with_birthday("bob-1", "Bob Kim", ":19900416")).await;
    c.delete(&book("a.vcf")).await;
    c.create_vcard(&book("d.vcf"), &with_birthday("dan-1", "Dan", ":20000101")).await;
    let ctag_after =
        c.props(&home("alice"), "0", "<CS:getctag/>").await.multistatus().responses[0].text(common::dav::CS, "getctag");
    assert_ne!(ctag, ctag_after, "the home's getctag must move (iOS polls it)");
    let (delta, next) = sync_result(&c.sync(&birthdays("alice"), &token, "").await);
    assert_ne!(next, token);
    assert_eq!(delta.len(), 3, "bob changed, apple gone, dan added: {delta:?}");
    assert_eq!(delta.iter().filter(|(_, _, s)| *s == Some(404)).count(), 1, "{delta:?}");
    // The unchanged contacts' events kept their ETags.
    let (_, again) = sync_result(&c.sync(&birthdays("alice"), &next, "").await);
    assert_eq!(again, next);
}

async fn writes_to_the_birthday_calendar_need_privileges(db: &TestDb) {
    let app = team(db).await;
    let c = Client::new(&app, "alice");
    c.create_vcard(&card("alice", "default", "b.vcf"), &with_birthday("bob-1", "Bob", ":19900415")).await;
    let events = birthday_events(&c, "alice").await;
    let (member, _) = &events[0];
    let cal = birthdays("alice");
    let ics = common::dav::event("x1", "20270101T100000Z", "20270101T110000Z", "Mine");
    assert_needs(&c.put(&object("alice", "birthdays", "x.ics"), &ics).await, &cal, "bind");
    assert_needs(&c.put(member, &ics).await, member, "write-content");
    assert_needs(&c.delete(member).await, &cal, "unbind");
    assert_needs(&c.delete(&cal).await, &home("alice"), "unbind");
    let patch = format!(
        r#"<?xml version="1.0"?><D:propertyupdate {NS}><D:set><D:prop><D:displayname>Mine</D:displayname></D:prop></D:set></D:propertyupdate>"#
    );
    assert_needs(&c.proppatch(&cal, &patch).await, &cal, "write-properties");
    let r = c.mkcalendar(&cal, "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    let own = object("alice", "default", "x.ics");
    c.create(&own, &ics).await;
    let r = c.send("MOVE", &own, &[("destination", &object("alice", "birthdays", "x.ics"))], Body::empty()).await;
    assert_needs(&r, &cal, "bind");

    // The JSON API refuses the same writes, and says the calendar is read-only.
    let api = |method: &'static str, path: String, body: Option<Value>| {
        let c = Client::new(&app, "alice");
        async move {
            let r = match body {
                Some(b) => c.send(method, &path, &[("content-type", "application/json")], b.to_string()).await,
                None => c.send(method, &path, &[], Body::empty()).await,
            };
            (r.status, serde_json::from_str::<Value>(&r.text).unwrap_or(Value::Null))
        }
    };
    let (status, list) = api("GET", "/api/v1/calendars".into(), None).await;
    assert_eq!(status, StatusCode::OK);
    let b = list.as_array().unwrap().iter().find(|c| c["id"] == "birthdays").expect("listed").clone();
    assert_eq!(b["read_only"], true);
    assert!(list.as_array().unwrap().iter().filter(|c| c["id"] != "birthdays").all(|c| c["read_only"] == false));
    let event = json!({
        "title": "Mine",
        "start": { "date_time": "2027-01-01T10:00:00", "time_zone": "Europe/Berlin" },
        "end": { "date_time": "2027-01-01T11:00:00", "time_zone": "Europe/Berlin" },
    });
    let (status, body) = api("POST", "/api/v1/calendars/birthdays/events".into(), Some(event)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("read_only")), "{body}");
    let (status, body) = api("DELETE", "/api/v1/calendars/birthdays".into(), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("read_only")), "{body}");
    let (status, _) = api("PATCH", "/api/v1/calendars/birthdays".into(), Some(json!({ "name": "x" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(birthday_events(&c, "alice").await.len(), 1);
}

async fn another_users_birthdays_are_unreachable(db: &TestDb) {
    let app = team(db).await;
    let a = Client::new(&app, "alice");
    a.create_vcard(&card("alice", "default", "b.vcf"), &with_birthday("bob-1", "Secret Friend", ":19900415")).await;
    let (href, _) = birthday_events(&a, "alice").await.remove(0);
    let b = Client::new(&app, "bob");
    for r in [
        b.props(&birthdays("alice"), "1", "<D:getetag/>").await,
        b.get(&href).await,
        b.sync(&birthdays("alice"), "", "").await,
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(!r.text.contains("Secret Friend"));
    }
    // A multiget from bob's own home naming alice's event finds nothing.
    let body = format!(
        r#"<?xml version="1.0"?><C:calendar-multiget {NS}><D:prop><C:calendar-data/></D:prop><D:href>{href}</D:href></C:calendar-multiget>"#
    );
    let r = b.report(&home("bob"), "1", &body).await;
    assert_eq!(r.multistatus().response(&href).status, Some(404));
    // Bob's own birthday calendar is empty: alice's contacts are hers.
    assert!(birthday_events(&b, "bob").await.is_empty());
}

async fn a_calendar_the_user_named_birthdays_stays_theirs(db: &TestDb) {
    let mut app = team(db).await;
    // Made while the feature was off (or before it existed), when the name was free.
    app.state = app.state.clone().with_dav(DavConfig { birthday_calendar: None, ..DavConfig::default() });
    let r = Client::new(&app, "alice").mkcalendar(&birthdays("alice"), "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    app.state = app.state.clone().with_dav(DavConfig::default());
    let c = Client::new(&app, "alice");
    c.create_vcard(&card("alice", "default", "b.vcf"), &with_birthday("bob-1", "Bob", ":19900415")).await;
    assert!(privileges(&c, &birthdays("alice")).await.contains(&"write-content".to_string()));
    assert!(birthday_events(&c, "alice").await.is_empty());
    let ics = common::dav::event("x1", "20270101T100000Z", "20270101T110000Z", "Mine");
    assert_eq!(c.put(&object("alice", "birthdays", "x.ics"), &ics).await.status, StatusCode::CREATED);
}

async fn birthday_calendar_can_be_turned_off(db: &TestDb) {
    let mut app = team(db).await;
    let c = Client::new(&app, "alice");
    c.create_vcard(&card("alice", "default", "b.vcf"), &with_birthday("bob-1", "Bob", ":19900415")).await;
    assert_eq!(birthday_events(&c, "alice").await.len(), 1);
    app.state = app.state.clone().with_dav(DavConfig { birthday_calendar: None, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let r = c.props(&home("alice"), "1", "<D:displayname/>").await;
    assert!(r.multistatus().get(&birthdays("alice")).is_none(), "{}", r.text);
    assert_eq!(c.props(&birthdays("alice"), "0", "<D:displayname/>").await.status, StatusCode::NOT_FOUND);
}

on_both_databases!(
    directory_is_in_every_home_read_only_and_announced_as_gateway,
    directory_shows_active_users_only_and_no_secrets,
    directory_syncs_additions_renames_and_departures,
    writes_to_the_directory_need_privileges,
    json_api_reads_the_directory_and_refuses_writes,
    directory_can_be_turned_off,
    birthdays_follow_the_contacts,
    writes_to_the_birthday_calendar_need_privileges,
    another_users_birthdays_are_unreachable,
    a_calendar_the_user_named_birthdays_stays_theirs,
    birthday_calendar_can_be_turned_off,
);
