//! CalDAV protocol behaviour through the real router: discovery, PROPFIND,
//! PROPPATCH, MKCALENDAR, objects, COPY/MOVE and the reports, on both databases.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{
    CALDAV, CS, Client, DAV, ICAL, NS, PASSWORD, basic, calendar, calendar_query, event, event_range, fixture, home,
    object, principal, todo, users, vcalendar,
};
use common::{TestApp, TestDb};
use madang::config::DavConfig;

async fn alice(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    app
}

// ----- Discovery -----

async fn well_known_caldav_redirects_to_the_dav_root(db: &TestDb) {
    let app = alice(db).await;
    let anon = Client::anonymous(&app);
    for method in ["GET", "PROPFIND"] {
        let r = anon.send(method, "/.well-known/caldav", &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY, "{method}");
        assert_eq!(r.header("location"), Some("/dav/"), "{method}");
    }
}

/// RFC 6764 §5: the forms with a trailing slash redirect like those without.
async fn issue16_well_known_with_a_trailing_slash_redirects(db: &TestDb) {
    let app = alice(db).await;
    let anon = Client::anonymous(&app);
    for path in ["/.well-known/caldav/", "/.well-known/carddav/", "/.well-known/carddav"] {
        for method in ["GET", "PROPFIND"] {
            let r = anon.send(method, path, &[], Body::empty()).await;
            assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY, "{method} {path}");
            assert_eq!(r.header("location"), Some("/dav/"), "{method} {path}");
        }
    }
}

async fn root_propfind_names_the_current_user_principal(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    for path in ["/", "/dav/"] {
        let r = c.props(path, "0", "<D:current-user-principal/><D:resourcetype/>").await;
        let ms = r.multistatus();
        assert_eq!(ms.responses.len(), 1, "depth 0 on {path}: {}", r.text);
        assert_eq!(ms.responses[0].hrefs(DAV, "current-user-principal"), vec![principal("alice")], "{path}");
    }
}

async fn principal_properties(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c
        .props(
            &principal("alice"),
            "0",
            "<C:calendar-home-set/><C:calendar-user-address-set/><D:principal-URL/><D:displayname/>\
             <D:resourcetype/><D:supported-report-set/>",
        )
        .await;
    let ms = r.multistatus();
    let p = ms.response(&principal("alice"));
    assert_eq!(p.hrefs(CALDAV, "calendar-home-set"), vec![home("alice")]);
    let addresses = p.hrefs(CALDAV, "calendar-user-address-set");
    assert!(addresses.contains(&"mailto:alice@example.com".to_string()), "{addresses:?}");
    assert_eq!(p.hrefs(DAV, "principal-URL"), vec![principal("alice")]);
    assert!(!p.text(DAV, "displayname").trim().is_empty());
    assert!(p.has_child(DAV, "resourcetype", DAV, "principal"), "{}", r.text);
    let reports = p.found(DAV, "supported-report-set").expect("supported-report-set");
    let names: Vec<String> = reports
        .children_named(DAV, "supported-report")
        .filter_map(|s| s.child(DAV, "report"))
        .flat_map(|r| r.elements().map(|e| e.name.local.to_string()).collect::<Vec<_>>())
        .collect();
    assert!(names.contains(&"expand-property".to_string()), "{names:?}");
    assert!(names.contains(&"principal-property-search".to_string()), "{names:?}");
}

async fn home_lists_the_default_calendars(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c
        .props(
            &home("alice"),
            "1",
            "<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/><CS:getctag/><D:sync-token/>",
        )
        .await;
    let ms = r.multistatus();
    assert_eq!(
        ms.sorted_hrefs(),
        // The birthday calendar is Madang's own (tests/dav_derived.rs).
        vec![home("alice"), calendar("alice", "birthdays"), calendar("alice", "default"), calendar("alice", "tasks")],
        "{}",
        r.text
    );
    let comps = |href: &str| -> Vec<String> {
        let resp = ms.response(href);
        let set = resp.found(CALDAV, "supported-calendar-component-set").expect("component set");
        let mut v: Vec<String> =
            set.children_named(CALDAV, "comp").filter_map(|c| c.attr("name").map(str::to_string)).collect();
        v.sort();
        v
    };
    assert_eq!(comps(&calendar("alice", "default")), vec!["VEVENT", "VJOURNAL", "VTODO"]);
    assert_eq!(comps(&calendar("alice", "tasks")), vec!["VTODO"]);
    for cal in ["default", "tasks"] {
        let resp = ms.response(&calendar("alice", cal));
        assert!(resp.has_child(DAV, "resourcetype", DAV, "collection"), "{cal}");
        assert!(resp.has_child(DAV, "resourcetype", CALDAV, "calendar"), "{cal}");
        assert!(!resp.text(CS, "getctag").trim().is_empty(), "{cal}");
        assert!(!resp.text(DAV, "sync-token").trim().is_empty(), "{cal}");
    }
    assert!(ms.response(&home("alice")).has_child(DAV, "resourcetype", DAV, "collection"));
    assert!(!ms.response(&home("alice")).has_child(DAV, "resourcetype", CALDAV, "calendar"));
}

async fn options_needs_no_credentials_and_announces_calendar_access(db: &TestDb) {
    let app = alice(db).await;
    for path in ["/dav/", "/dav/calendars/alice/default/", "/"] {
        let r = Client::anonymous(&app).send("OPTIONS", path, &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let dav = r.header("dav").expect("DAV header");
        assert!(dav.split(',').any(|t| t.trim() == "calendar-access"), "{dav}");
        assert!(dav.split(',').any(|t| t.trim() == "1"), "{dav}");
        let allow = r.header("allow").expect("Allow header");
        for m in ["PROPFIND", "REPORT", "MKCALENDAR", "PUT", "DELETE"] {
            assert!(allow.contains(m), "{m} in {allow}");
        }
    }
}

// ----- PROPFIND -----

async fn propfind_depth_infinity_is_refused(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c.props(&home("alice"), "infinity", "<D:displayname/>").await;
    r.assert_precondition(403, DAV, "propfind-finite-depth");
}

async fn propfind_unknown_property_is_404_in_the_same_multistatus(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c.props(&calendar("alice", "default"), "0", r#"<D:displayname/><X:nope xmlns:X="urn:example:x"/>"#).await;
    let ms = r.multistatus();
    let resp = ms.response(&calendar("alice", "default"));
    assert_eq!(resp.status_of(DAV, "displayname"), Some(200));
    assert_eq!(resp.status_of("urn:example:x", "nope"), Some(404));
}

async fn propfind_allprop_and_propname(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let allprop = format!(r#"<?xml version="1.0"?><D:propfind {NS}><D:allprop/></D:propfind>"#);
    let ms = c.propfind(&cal, "0", &allprop).await.multistatus();
    let resp = ms.response(&cal);
    assert!(resp.found(DAV, "resourcetype").is_some());
    assert!(resp.found(DAV, "displayname").is_some());
    assert!(resp.found(CALDAV, "supported-calendar-component-set").is_some());

    // An empty body is allprop too (RFC 4918 §9.1).
    let ms = c.propfind(&cal, "0", "").await.multistatus();
    assert!(ms.response(&cal).found(DAV, "displayname").is_some());

    let propname = format!(r#"<?xml version="1.0"?><D:propfind {NS}><D:propname/></D:propfind>"#);
    let r = c.propfind(&cal, "0", &propname).await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    for (ns, local) in [(DAV, "displayname"), (DAV, "resourcetype"), (DAV, "sync-token"), (CS, "getctag")] {
        let e = resp.found(ns, local).unwrap_or_else(|| panic!("{local} in propname: {}", r.text));
        assert!(e.children.is_empty(), "propname returns names only: {}", r.text);
    }
}

async fn propfind_malformed_xml_is_400(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c.propfind(&home("alice"), "0", "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname></D:propfind>").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

// ----- MKCALENDAR and MKCOL -----

const BERLIN_VTIMEZONE: &str = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\n\
BEGIN:STANDARD\nDTSTART:19961027T030000\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nTZOFFSETFROM:+0200\n\
TZOFFSETTO:+0100\nTZNAME:CET\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:19810329T020000\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nTZNAME:CEST\nEND:DAYLIGHT\n\
END:VTIMEZONE\nEND:VCALENDAR\n";

fn mkcalendar_body(displayname: &str, comps: &[&str]) -> String {
    let comps: String = comps.iter().map(|c| format!(r#"<C:comp name="{c}"/>"#)).collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar {NS}><D:set><D:prop><D:displayname>{displayname}</D:displayname><C:calendar-description>Chores &amp; errands</C:calendar-description><C:calendar-timezone><![CDATA[{BERLIN_VTIMEZONE}]]></C:calendar-timezone><C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#
    )
}

async fn mkcalendar_with_initial_properties(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let chores = calendar("alice", "chores");
    let r = c.mkcalendar(&chores, &mkcalendar_body("Chores", &["VTODO"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let r = c
        .props(
            &chores,
            "0",
            "<D:displayname/><C:calendar-description/><C:calendar-timezone/><C:supported-calendar-component-set/>\
             <D:resourcetype/>",
        )
        .await;
    let ms = r.multistatus();
    let resp = ms.response(&chores);
    assert_eq!(resp.text(DAV, "displayname"), "Chores");
    assert_eq!(resp.text(CALDAV, "calendar-description"), "Chores & errands");
    assert!(resp.text(CALDAV, "calendar-timezone").contains("TZID:Europe/Berlin"));
    let comps: Vec<String> = resp
        .found(CALDAV, "supported-calendar-component-set")
        .unwrap()
        .children_named(CALDAV, "comp")
        .filter_map(|e| e.attr("name").map(str::to_string))
        .collect();
    assert_eq!(comps, vec!["VTODO"]);
    assert!(resp.has_child(DAV, "resourcetype", CALDAV, "calendar"));

    // The component set is enforced.
    let r = c.put(&object("alice", "chores", "e.ics"), &event("e", "20240101T100000Z", "20240101T110000Z", "E")).await;
    r.assert_precondition(403, CALDAV, "supported-calendar-component");
    c.create(&object("alice", "chores", "t.ics"), &todo("t", "", "T")).await;

    // A second MKCALENDAR on the same URL (RFC 4791 §5.3.1: resource-must-be-null / 405).
    let r = c.mkcalendar(&chores, &mkcalendar_body("Again", &["VTODO"])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    let ms = c.props(&chores, "0", "<D:displayname/>").await.multistatus();
    assert_eq!(ms.response(&chores).text(DAV, "displayname"), "Chores", "the first calendar is untouched");
}

async fn extended_mkcol_creates_a_calendar(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let work = calendar("alice", "work");
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol {NS}><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>Work</D:displayname></D:prop></D:set></D:mkcol>"#
    );
    let r = c.send("MKCOL", &work, &[("content-type", "application/xml")], body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ms = c.props(&work, "0", "<D:resourcetype/><D:displayname/>").await.multistatus();
    let resp = ms.response(&work);
    assert!(resp.has_child(DAV, "resourcetype", CALDAV, "calendar"));
    assert_eq!(resp.text(DAV, "displayname"), "Work");
}

async fn mkcalendar_inside_a_calendar_or_object_is_forbidden(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    c.create(&object("alice", "default", "a.ics"), &event("a", "20240101T100000Z", "20240101T110000Z", "A")).await;
    // A calendar inside a calendar (RFC 4791 §5.3.1.1).
    let r = c.mkcalendar("/dav/calendars/alice/default/inner/", &mkcalendar_body("Inner", &["VEVENT"])).await;
    r.assert_precondition(403, CALDAV, "calendar-collection-location-ok");
    // Below an existing object resource.
    let r = c.mkcalendar("/dav/calendars/alice/default/a.ics/inner/", &mkcalendar_body("Inner", &["VEVENT"])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "MKCALENDAR below an object: {}", r.text);
}

// ----- PROPPATCH -----

fn propertyupdate(set: &str, remove: &str) -> String {
    let set = if set.is_empty() { String::new() } else { format!("<D:set><D:prop>{set}</D:prop></D:set>") };
    let remove =
        if remove.is_empty() { String::new() } else { format!("<D:remove><D:prop>{remove}</D:prop></D:remove>") };
    format!(r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate {NS}>{set}{remove}</D:propertyupdate>"#)
}

async fn proppatch_sets_live_apple_and_dead_properties(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let body = propertyupdate(
        r##"<D:displayname>Family</D:displayname><I:calendar-color>#FF2968FF</I:calendar-color><X:sharing-mode xmlns:X="urn:example:custom" X:level="2"><X:mode>dark</X:mode></X:sharing-mode>"##,
        "",
    );
    let r = c.proppatch(&cal, &body).await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    assert!(resp.propstats.iter().all(|p| p.status == 200), "{}", r.text);
    assert_eq!(resp.status_of(DAV, "displayname"), Some(200));
    assert_eq!(resp.status_of(ICAL, "calendar-color"), Some(200));
    assert_eq!(resp.status_of("urn:example:custom", "sharing-mode"), Some(200));

    let r = c
        .props(&cal, "0", r#"<D:displayname/><I:calendar-color/><X:sharing-mode xmlns:X="urn:example:custom"/>"#)
        .await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    assert_eq!(resp.text(DAV, "displayname"), "Family");
    assert_eq!(resp.text(ICAL, "calendar-color"), "#FF2968FF");
    let dead = resp.found("urn:example:custom", "sharing-mode").expect("dead property read back");
    assert_eq!(dead.child("urn:example:custom", "mode").map(|m| m.text()), Some("dark".into()), "{}", r.text);
    assert_eq!(dead.attr_ns("urn:example:custom", "level"), Some("2"), "{}", r.text);

    // Depth 1 on the home returns the dead property too.
    let ms = c.props(&home("alice"), "1", r#"<X:sharing-mode xmlns:X="urn:example:custom"/>"#).await.multistatus();
    assert!(ms.response(&cal).found("urn:example:custom", "sharing-mode").is_some());

    let r = c
        .proppatch(&cal, &propertyupdate("", r#"<X:sharing-mode xmlns:X="urn:example:custom"/><I:calendar-color/>"#))
        .await;
    let ms = r.multistatus();
    assert!(ms.response(&cal).propstats.iter().all(|p| p.status == 200), "{}", r.text);
    let ms = c
        .props(&cal, "0", r#"<D:displayname/><I:calendar-color/><X:sharing-mode xmlns:X="urn:example:custom"/>"#)
        .await
        .multistatus();
    let resp = ms.response(&cal);
    assert_eq!(resp.status_of("urn:example:custom", "sharing-mode"), Some(404));
    assert_eq!(resp.status_of(ICAL, "calendar-color"), Some(404));
    assert_eq!(resp.text(DAV, "displayname"), "Family");
}

async fn proppatch_of_a_protected_property_fails_the_whole_request(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let before = c.props(&cal, "0", "<D:displayname/>").await.multistatus().response(&cal).text(DAV, "displayname");
    let r = c
        .proppatch(&cal, &propertyupdate(r#"<D:displayname>Changed</D:displayname><D:getetag>"x"</D:getetag>"#, ""))
        .await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    assert_eq!(resp.status_of(DAV, "getetag"), Some(403), "{}", r.text);
    assert_eq!(resp.status_of(DAV, "displayname"), Some(424), "{}", r.text);
    let refused = resp.propstats.iter().find(|p| p.status == 403).unwrap();
    let error = refused.error.as_ref().expect("DAV:error in the 403 propstat");
    assert!(error.child(DAV, "cannot-modify-protected-property").is_some(), "{}", r.text);
    let after = c.props(&cal, "0", "<D:displayname/>").await.multistatus().response(&cal).text(DAV, "displayname");
    assert_eq!(after, before, "nothing applied");
    assert_ne!(after, "Changed");
}

/// quota-used-bytes of alice's default calendar.
async fn quota_used(c: &Client<'_>) -> u64 {
    let cal = calendar("alice", "default");
    let r = c.props(&cal, "0", "<D:quota-used-bytes/>").await;
    r.multistatus().response(&cal).text(DAV, "quota-used-bytes").trim().parse().expect("quota-used-bytes")
}

/// A dead property `X:{local}` in `urn:example:x` holding `len` bytes of text.
fn dead_prop(local: &str, len: usize) -> String {
    format!(r#"<X:{local} xmlns:X="urn:example:x">{}</X:{local}>"#, "v".repeat(len))
}

/// See: issue 19, "Dead properties bypass both `dav.max_resource_size` and
/// the quota". One value is capped by `dav.max_property_size` (403), one
/// resource's dead properties by `dav.max_properties_size` (507), and their
/// bytes count toward the quota (507 with DAV:quota-not-exceeded, RFC 4331
/// §6); a refused PROPPATCH applies nothing (RFC 4918 §9.2).
async fn issue19_dead_property_limits(db: &TestDb) {
    let mut app = alice(db).await;
    // The server's default body limit, so the property limits are what answers.
    app.state.settings = std::sync::Arc::new(madang::app::HttpSettings {
        max_body_size: 16 << 20,
        request_timeout: std::time::Duration::from_secs(30),
        ..(*app.state.settings).clone()
    });
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let x = "urn:example:x";
    let used = quota_used(&c).await;

    // An 8 MiB value next to two harmless changes: 403 for it, 424 for the
    // others, nothing applied, nothing counted.
    let body = propertyupdate(
        &format!("<D:displayname>Changed</D:displayname>{}{}", dead_prop("big", 8 << 20), dead_prop("small", 5)),
        "",
    );
    let r = c.proppatch(&cal, &body).await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    assert_eq!(resp.status_of(x, "big"), Some(403), "{}", r.text);
    assert_eq!(resp.status_of(x, "small"), Some(424), "{}", r.text);
    assert_eq!(resp.status_of(DAV, "displayname"), Some(424), "{}", r.text);
    assert!(r.text.contains("dav.max_property_size"), "says which limit: {}", r.text);
    assert!(r.text.len() < 4096, "the value is not echoed: {} bytes", r.text.len());
    let ms = c.props(&cal, "0", r#"<D:displayname/><X:small xmlns:X="urn:example:x"/>"#).await.multistatus();
    assert_eq!(ms.response(&cal).status_of(x, "small"), Some(404));
    assert_ne!(ms.response(&cal).text(DAV, "displayname"), "Changed");
    assert_eq!(quota_used(&c).await, used);
    // Live properties are held to the same bound.
    let r = c
        .proppatch(&cal, &propertyupdate(&format!("<D:displayname>{}</D:displayname>", "n".repeat(65 << 10)), ""))
        .await;
    assert_eq!(r.multistatus().response(&cal).status_of(DAV, "displayname"), Some(403), "{}", r.text);

    // Property bytes move quota-used-bytes, and come back when removed.
    let r = c.proppatch(&cal, &propertyupdate(&dead_prop("a", 60 << 10), "")).await;
    assert_eq!(r.multistatus().response(&cal).status_of(x, "a"), Some(200), "{}", r.text);
    let with_a = quota_used(&c).await;
    assert!((60 << 10..(60 << 10) + 200).contains(&(with_a - used)), "{used} → {with_a}");
    // Three more fit under the per-resource total (256 KiB); a fifth does not.
    let three = format!("{}{}{}", dead_prop("b", 60 << 10), dead_prop("c", 60 << 10), dead_prop("d", 60 << 10));
    let r = c.proppatch(&cal, &propertyupdate(&three, "")).await;
    assert!(r.multistatus().response(&cal).propstats.iter().all(|p| p.status == 200), "{}", r.text);
    let four = quota_used(&c).await;
    let r = c
        .proppatch(
            &cal,
            &propertyupdate(&format!("<D:displayname>Changed</D:displayname>{}", dead_prop("e", 60 << 10)), ""),
        )
        .await;
    let ms = r.multistatus();
    assert_eq!(ms.response(&cal).status_of(x, "e"), Some(507), "{}", r.text);
    assert_eq!(ms.response(&cal).status_of(DAV, "displayname"), Some(424), "{}", r.text);
    assert!(r.text.contains("dav.max_properties_size"), "{}", r.text);
    assert_eq!(quota_used(&c).await, four, "nothing applied");
    // Making room first, in the same request, is fine.
    let r = c.proppatch(&cal, &propertyupdate(&dead_prop("e", 60 << 10), r#"<X:b xmlns:X="urn:example:x"/>"#)).await;
    assert!(r.multistatus().response(&cal).propstats.iter().all(|p| p.status == 200), "{}", r.text);
    assert_eq!(quota_used(&c).await, four);
    let remove = r#"<X:a xmlns:X="urn:example:x"/><X:c xmlns:X="urn:example:x"/><X:d xmlns:X="urn:example:x"/><X:e xmlns:X="urn:example:x"/>"#;
    c.proppatch(&cal, &propertyupdate("", remove)).await;
    assert_eq!(quota_used(&c).await, used, "every byte given back");

    // A member's properties count too, and DELETE frees them with the member.
    let member = object("alice", "default", "m.ics");
    c.create(&member, &simple("m")).await;
    let with_member = quota_used(&c).await;
    let r = c.proppatch(&member, &propertyupdate(&dead_prop("note", 10 << 10), "")).await;
    assert_eq!(r.multistatus().response(&member).status_of(x, "note"), Some(200), "{}", r.text);
    assert!(quota_used(&c).await >= with_member + (10 << 10));
    // COPY duplicates them, MOVE carries them.
    let dest = |name: &str| format!("http://localhost{}", object("alice", "default", name));
    let r = c.send("MOVE", &member, &[("destination", &dest("moved.ics"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let moved = object("alice", "default", "moved.ics");
    let ms = c.props(&moved, "0", r#"<X:note xmlns:X="urn:example:x"/>"#).await.multistatus();
    assert_eq!(ms.response(&moved).status_of(x, "note"), Some(200));
    assert_eq!(c.delete(&moved).await.status, StatusCode::NO_CONTENT);
    assert_eq!(quota_used(&c).await, used);

    // Over quota: 507 with DAV:quota-not-exceeded in the propstat.
    let mut tight = TestApp::new(db).await;
    tight.state = tight.state.clone().with_dav(DavConfig { quota: Some(used + 1000), ..DavConfig::default() });
    let t = Client::new(&tight, "alice");
    let r = t
        .proppatch(&cal, &propertyupdate(&format!("<D:displayname>Q</D:displayname>{}", dead_prop("q", 2000)), ""))
        .await;
    let ms = r.multistatus();
    let resp = ms.response(&cal);
    assert_eq!(resp.status_of(x, "q"), Some(507), "{}", r.text);
    assert_eq!(resp.status_of(DAV, "displayname"), Some(424), "{}", r.text);
    let refused = resp.propstats.iter().find(|p| p.status == 507).unwrap();
    assert!(refused.error.as_ref().and_then(|e| e.child(DAV, "quota-not-exceeded")).is_some(), "{}", r.text);
    assert_eq!(quota_used(&t).await, used);

    // MKCALENDAR's initial properties are bounded like a PROPPATCH's.
    let mk = |props: String| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar {NS}><D:set><D:prop>{props}</D:prop></D:set></C:mkcalendar>"#
        )
    };
    let r = c.mkcalendar(&calendar("alice", "big"), &mk(dead_prop("big", 100 << 10))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let five: String = ["a", "b", "c", "d", "e"].iter().map(|n| dead_prop(n, 60 << 10)).collect();
    let r = c.mkcalendar(&calendar("alice", "big"), &mk(five)).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text);
    let r = t.mkcalendar(&calendar("alice", "big"), &mk(dead_prop("a", 2000))).await;
    r.assert_precondition(507, DAV, "quota-not-exceeded");
    assert_eq!(c.props(&calendar("alice", "big"), "0", "<D:displayname/>").await.status, StatusCode::NOT_FOUND);
    let r = c.mkcalendar(&calendar("alice", "big"), &mk(dead_prop("a", 2000))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(quota_used(&c).await >= used + 2000);
}

/// A process's peak resident set size (VmHWM), in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("VmHWM");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("VmHWM in kB") * 1024
}

/// See: issue 19, "Dead properties bypass both `dav.max_resource_size` and
/// the quota": the attack as reported, against the real `madang serve` with
/// its default limits. Before the fix the three 8 MiB values were stored
/// (96 MiB, as `>` is stored as `&gt;`), quota-used-bytes stayed 0, and one
/// allprop PROPFIND answered 100 MB and pushed the server's peak RSS past
/// 320 MiB (SQLite) or 480 MiB (PostgreSQL). Now each is refused and the
/// PROPFIND stays small.
async fn issue19_dead_property_attack_on_a_real_server(db: &TestDb) {
    let env = db.env();
    let o = common::madang(&env, &["user", "add", "alice", "--email", "alice@example.com"], &format!("{PASSWORD}\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let server = common::Server::start(&env).await;
    let client = reqwest::Client::new();
    let cal = format!("{}{}", server.base, calendar("alice", "default"));
    let send = |method: &str, url: &str, depth: &str, body: String| {
        client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .basic_auth("alice", Some(PASSWORD))
            .header("depth", depth)
            .header("content-type", "application/xml")
            .body(body)
    };
    let quota =
        r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/></D:prop></D:propfind>"#;
    let used = send("PROPFIND", &cal, "0", quota.into()).send().await.unwrap().text().await.unwrap();

    for i in 0..3 {
        let value = ">".repeat(8 << 20);
        let body = format!(
            r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x"><D:set><D:prop><X:big{i}>{value}</X:big{i}></D:prop></D:set></D:propertyupdate>"#
        );
        let started = std::time::Instant::now();
        let r = send("PROPPATCH", &cal, "0", body).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let took = started.elapsed();
        assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
        assert!(text.contains("403") && text.contains("dav.max_property_size"), "{text}");
        // What is left is reading and parsing the body, linear and capped by
        // server.max_body_size: 0.5-1.3 s for 8 MiB in this debug build on a
        // busy two-core machine (the XML parse alone is ~0.55 s). The bound
        // is loose for CI's sake; the damage before the fix was not this
        // request's time but what it stored, which the rest of the test checks.
        eprintln!("PROPPATCH {i} (8 MiB value): {status} in {took:?}");
        assert!(took < std::time::Duration::from_secs(3), "PROPPATCH {i} refused in {took:?}");
    }
    let after = send("PROPFIND", &cal, "0", quota.into()).send().await.unwrap().text().await.unwrap();
    assert_eq!(after, used, "quota-used-bytes did not move: nothing was stored");
    let peak = peak_rss(server.pid());
    eprintln!("server peak RSS after the PROPPATCHes: {} MiB", peak >> 20);
    // Measured: ~130 MiB (the parse of an 8 MiB body holds the body, its text
    // and the re-escaped XML at once); before the fix 220-250 MiB here.
    assert!(peak < 192 << 20, "peak RSS after three refused 8 MiB PROPPATCHes: {} MiB", peak >> 20);

    // Reset the high-water mark (Linux ≥ 4.0), so the PROPFIND's own peak shows.
    let reset = std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").is_ok();
    let before = peak_rss(server.pid());
    let allprop = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;
    for (url, depth) in [(cal.clone(), "0"), (format!("{}{}", server.base, home("alice")), "1")] {
        let started = std::time::Instant::now();
        let r = send("PROPFIND", &url, depth, allprop.into()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MULTI_STATUS);
        let text = r.text().await.unwrap();
        let took = started.elapsed();
        eprintln!("PROPFIND allprop depth {depth}: {} bytes in {took:?}", text.len());
        assert!(text.len() < 16 << 10, "allprop on {url}: {} bytes (100 MB before the fix)", text.len());
        assert!(took < std::time::Duration::from_secs(1), "allprop on {url} took {took:?}");
    }
    if reset {
        let grew = peak_rss(server.pid()).saturating_sub(before);
        eprintln!("the PROPFINDs raised peak RSS by {} KiB", grew >> 10);
        assert!(grew < 8 << 20, "the PROPFINDs raised peak RSS by {} MiB", grew >> 20);
    }
}

// ----- Objects -----

fn simple(uid: &str) -> String {
    event(uid, "20240110T100000Z", "20240110T110000Z", &format!("Event {uid}"))
}

async fn put_get_head_round_trip(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let path = object("alice", "default", "round.ics");
    let ics = simple("round");
    let r = c.put(&path, &ics).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let etag = r.header("etag").expect("ETag on create").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "strong ETag: {etag}");

    let r = c.get(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, ics, "GET returns the bytes PUT stored");
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("last-modified").is_some_and(|v| v.ends_with(" GMT")), "{:?}", r.headers);
    assert!(r.header("content-type").is_some_and(|v| v.starts_with("text/calendar")), "{:?}", r.headers);

    let r = c.send("HEAD", &path, &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    // PROPFIND reports the same ETag.
    let ms = c.props(&path, "0", "<D:getetag/><D:getcontenttype/>").await.multistatus();
    assert_eq!(ms.response(&path).text(DAV, "getetag"), etag);
}

async fn put_and_get_honour_conditional_headers(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let path = object("alice", "default", "cond.ics");
    let etag = c.create(&path, &simple("cond")).await;

    let changed = event("cond", "20240110T120000Z", "20240110T130000Z", "Changed");
    let r = c.put_with(&path, &changed, &[("if-none-match", "*")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "If-None-Match: * on an existing object");
    let r = c.put_with(&path, &changed, &[("if-match", "\"stale\"")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "stale If-Match");
    assert_eq!(c.get(&path).await.text, simple("cond"), "nothing was written");

    let r = c.put_with(&path, &changed, &[("if-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let new_etag = r.header("etag").expect("ETag on update").to_string();
    assert_ne!(new_etag, etag);

    let r = c.send("GET", &path, &[("if-none-match", &new_etag)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = c.send("GET", &path, &[("if-none-match", &etag)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, changed);

    // If-None-Match: * creates only.
    let r = c.put_with(&object("alice", "default", "fresh.ics"), &simple("fresh"), &[("if-none-match", "*")]).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn put_rejects_what_is_not_a_calendar_object(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let path = object("alice", "default", "bad.ics");

    let r = c.put(&path, "this is not iCalendar\r\n").await;
    r.assert_precondition(403, CALDAV, "valid-calendar-data");

    let two_uids = vcalendar(
        "BEGIN:VEVENT\nUID:one\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:two\nDTSTAMP:20240101T000000Z\nDTSTART:20240102T100000Z\nEND:VEVENT",
    );
    c.put(&path, &two_uids).await.assert_precondition(403, CALDAV, "valid-calendar-object-resource");

    let mixed = vcalendar(
        "BEGIN:VEVENT\nUID:same\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\nEND:VEVENT\n\
         BEGIN:VTODO\nUID:same\nDTSTAMP:20240101T000000Z\nEND:VTODO",
    );
    c.put(&path, &mixed).await.assert_precondition(403, CALDAV, "valid-calendar-object-resource");

    let r = c.put(&object("alice", "tasks", "e.ics"), &simple("e")).await;
    r.assert_precondition(403, CALDAV, "supported-calendar-component");

    let r =
        c.send("PUT", &object("alice", "default", "j.ics"), &[("content-type", "application/json")], simple("j")).await;
    r.assert_precondition(403, CALDAV, "supported-calendar-data");

    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&object("alice", "tasks", "e.ics")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&object("alice", "default", "j.ics")).await.status, StatusCode::NOT_FOUND);
}

async fn put_with_a_uid_already_used_by_another_object_conflicts(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let first = object("alice", "default", "first.ics");
    c.create(&first, &simple("shared-uid")).await;
    let r = c.put(&object("alice", "default", "second.ics"), &simple("shared-uid")).await;
    let condition = r.assert_precondition(409, CALDAV, "no-uid-conflict");
    let hrefs: Vec<String> = condition.children_named(DAV, "href").map(|h| h.text().trim().to_string()).collect();
    assert_eq!(hrefs, vec![first], "{}", r.text);
    assert_eq!(c.get(&object("alice", "default", "second.ics")).await.status, StatusCode::NOT_FOUND);
    // The same UID in another calendar is fine (RFC 4791 §4.1 is per collection).
    let r = c.mkcalendar(&calendar("alice", "other"), &mkcalendar_body("Other", &["VEVENT"])).await;
    assert_eq!(r.status, StatusCode::CREATED);
    c.create(&object("alice", "other", "first.ics"), &simple("shared-uid")).await;
}

/// An event padded with X- lines to at least `size` bytes.
fn padded_event(uid: &str, size: usize) -> String {
    let mut body = format!("BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\n");
    let mut i = 0;
    while body.len() < size {
        body.push_str(&format!("X-PAD-{i}:{}\n", "x".repeat(60)));
        i += 1;
    }
    body.push_str("END:VEVENT");
    vcalendar(&body)
}

async fn put_larger_than_max_resource_size_is_refused(db: &TestDb) {
    // With the defaults (1 MiB max-resource-size, 64 KiB max body in
    // TestApp) the server-wide body limit answers first, with 413.
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c.put(&object("alice", "default", "huge.ics"), &padded_event("huge", 70 * 1024)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);

    // Below the body limit but above a configured max-resource-size: the
    // CalDAV precondition (RFC 4791 §5.3.2.1).
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_dav(DavConfig { max_resource_size: 16 * 1024, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let ms = c.props(&calendar("alice", "default"), "0", "<C:max-resource-size/>").await.multistatus();
    assert_eq!(ms.responses[0].text(CALDAV, "max-resource-size"), "16384");
    let r = c.put(&object("alice", "default", "big.ics"), &padded_event("big", 20 * 1024)).await;
    r.assert_precondition(403, CALDAV, "max-resource-size");
    assert_eq!(c.get(&object("alice", "default", "big.ics")).await.status, StatusCode::NOT_FOUND);
    c.create(&object("alice", "default", "small.ics"), &padded_event("small", 8 * 1024)).await;
}

/// See: issue 19 (found while bounding XML) — a depth-1 PROPFIND naming a thousand unknown
/// properties builds a "404" entry for each of them and every member; the body is now capped by
/// `dav.max_response_size` and answered 507 instead of growing with members × names.
async fn issue19_propfind_response_size_is_bounded(db: &TestDb) {
    let mut app = alice(db).await;
    let c = Client::new(&app, "alice");
    for n in 0..5 {
        c.create(&object("alice", "default", &format!("e{n}.ics")), &simple(&format!("e{n}"))).await;
    }
    let names: String = (0..900).map(|i| format!("<X:p{i} xmlns:X=\"urn:x\"/>")).collect();
    let r = c.props(&calendar("alice", "default"), "1", &names).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    let full = r.text.len();
    assert!(full > 100_000, "{full}");
    app.state = app.state.clone().with_dav(DavConfig { max_response_size: full / 3, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let r = c.props(&calendar("alice", "default"), "1", &names).await;
    r.assert_precondition(507, DAV, "number-of-matches-within-limits");
    assert!(r.text.len() < 1024, "the refusal is small: {}", r.text.len());
}

async fn delete_objects_and_calendars(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let path = object("alice", "default", "gone.ics");
    let etag = c.create(&path, &simple("gone")).await;
    let r = c.send("DELETE", &path, &[("if-match", "\"stale\"")], Body::empty()).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(c.get(&path).await.status, StatusCode::OK);
    let r = c.send("DELETE", &path, &[("if-match", &etag)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.delete(&path).await.status, StatusCode::NOT_FOUND, "deleting twice");

    let cal = calendar("alice", "temp");
    assert_eq!(c.mkcalendar(&cal, &mkcalendar_body("Temp", &["VEVENT"])).await.status, StatusCode::CREATED);
    c.create(&object("alice", "temp", "x.ics"), &simple("x")).await;
    assert_eq!(c.delete(&cal).await.status, StatusCode::NO_CONTENT);
    assert_eq!(c.props(&cal, "0", "<D:displayname/>").await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&object("alice", "temp", "x.ics")).await.status, StatusCode::NOT_FOUND);
    let ms = c.props(&home("alice"), "1", "<D:resourcetype/>").await.multistatus();
    assert!(ms.get(&cal).is_none());
}

// ----- COPY and MOVE -----

async fn copy_and_move_between_calendars(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    assert_eq!(
        c.mkcalendar(&calendar("alice", "work"), &mkcalendar_body("Work", &["VEVENT"])).await.status,
        StatusCode::CREATED
    );
    let a = object("alice", "default", "a.ics");
    c.create(&a, &simple("a")).await;
    let dest = |name: &str| format!("http://localhost{}", object("alice", "work", name));

    let r = c.send("COPY", &a, &[("destination", &dest("a.ics"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(c.get(&object("alice", "work", "a.ics")).await.text, simple("a"));
    assert_eq!(c.get(&a).await.status, StatusCode::OK, "COPY keeps the source");

    let r = c.send("COPY", &a, &[("destination", &dest("a.ics"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "overwrite: {}", r.text);
    let r = c.send("COPY", &a, &[("destination", &dest("a.ics")), ("overwrite", "F")], Body::empty()).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "Overwrite: F onto an existing resource");

    // MOVE with a path-only Destination.
    let b = object("alice", "default", "b.ics");
    c.create(&b, &simple("b")).await;
    let r = c.send("MOVE", &b, &[("destination", &object("alice", "work", "b.ics"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(c.get(&b).await.status, StatusCode::NOT_FOUND, "MOVE removes the source");
    assert_eq!(c.get(&object("alice", "work", "b.ics")).await.text, simple("b"));

    // The source's UID is freed by the MOVE: it can come back.
    c.create(&b, &simple("b")).await;

    // COPY inside one calendar would hold the UID twice.
    let r = c.send("COPY", &a, &[("destination", &object("alice", "default", "a-copy.ics"))], Body::empty()).await;
    r.assert_precondition(409, CALDAV, "no-uid-conflict");
    assert_eq!(c.get(&object("alice", "default", "a-copy.ics")).await.status, StatusCode::NOT_FOUND);

    // MOVE inside one calendar is a rename.
    let r = c.send("MOVE", &a, &[("destination", &object("alice", "default", "renamed.ics"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(c.get(&a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&object("alice", "default", "renamed.ics")).await.text, simple("a"));

    // An event cannot move into a task list.
    let r = c.send("MOVE", &b, &[("destination", &object("alice", "tasks", "b.ics"))], Body::empty()).await;
    r.assert_precondition(403, CALDAV, "supported-calendar-component");
    assert_eq!(c.get(&b).await.status, StatusCode::OK);
}

// ----- calendar-multiget and calendar-query -----

async fn calendar_multiget_reports_missing_members_as_404(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let a = object("alice", "default", "a.ics");
    let etag = c.create(&a, &simple("a")).await;
    let missing = object("alice", "default", "missing.ics");
    let body = format!(
        r#"<?xml version="1.0"?><C:calendar-multiget {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{a}</D:href><D:href>{missing}</D:href></C:calendar-multiget>"#
    );
    let r = c.report(&calendar("alice", "default"), "1", &body).await;
    let ms = r.multistatus();
    assert_eq!(ms.responses.len(), 2, "{}", r.text);
    let found = ms.response(&a);
    assert_eq!(found.text(DAV, "getetag"), etag);
    assert_eq!(found.text(CALDAV, "calendar-data").replace("\r\n", "\n"), simple("a").replace("\r\n", "\n"));
    assert_eq!(ms.response(&missing).status, Some(404));
}

/// A weekly series (10 Mondays from 2024-01-01 10:00Z), the second Monday
/// excluded, the third moved to Wednesday 15:00Z.
fn weekly_with_exdate_and_override() -> String {
    vcalendar(
        "BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\nDTEND:20240101T110000Z\n\
         RRULE:FREQ=WEEKLY;COUNT=10\nEXDATE:20240108T100000Z\nSUMMARY:Weekly\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:weekly\nDTSTAMP:20240101T000000Z\nRECURRENCE-ID:20240115T100000Z\n\
         DTSTART:20240117T150000Z\nDTEND:20240117T160000Z\nSUMMARY:Weekly (moved)\nEND:VEVENT",
    )
}

async fn calendar_query_time_range_on_a_recurring_event(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let weekly = object("alice", "default", "weekly.ics");
    c.create(&weekly, &weekly_with_exdate_and_override()).await;
    let single = object("alice", "default", "single.ics");
    c.create(&single, &event("single", "20240115T100000Z", "20240115T103000Z", "Single")).await;

    let q = |start: &str, end: &str| event_range(start, end);
    assert_eq!(c.query_hrefs(&cal, &q("20240101T093000Z", "20240101T103000Z")).await, vec![weekly.clone()]);
    assert!(c.query_hrefs(&cal, &q("20240108T090000Z", "20240108T120000Z")).await.is_empty(), "EXDATE");
    assert_eq!(
        c.query_hrefs(&cal, &q("20240115T090000Z", "20240115T120000Z")).await,
        vec![single.clone()],
        "the third instance was moved out of this window"
    );
    assert_eq!(
        c.query_hrefs(&cal, &q("20240117T143000Z", "20240117T153000Z")).await,
        vec![weekly.clone()],
        "…and into this one"
    );
    assert_eq!(c.query_hrefs(&cal, &q("20240304T100000Z", "20240304T100100Z")).await, vec![weekly.clone()], "tenth");
    assert!(c.query_hrefs(&cal, &q("20240311T000000Z", "20240312T000000Z")).await.is_empty(), "after COUNT");
    // An open-ended range.
    let open = r#"<C:comp-filter name="VEVENT"><C:time-range start="20240116T000000Z"/></C:comp-filter>"#;
    assert_eq!(c.query_hrefs(&cal, open).await, vec![weekly.clone()]);
    // Without a filter below VCALENDAR, everything.
    assert_eq!(c.query_hrefs(&cal, "").await, vec![single, weekly]);
}

/// calendar-query evaluates its candidates in parallel chunks on the
/// blocking pool once there are more than a chunk's worth: every match must
/// come back exactly once, and non-matches never, whatever chunk they fell in.
async fn calendar_query_over_many_candidates_returns_each_match_once(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let mut expected = Vec::new();
    for i in 0..400 {
        let uid = format!("many-{i:03}");
        let href = object("alice", "default", &format!("{uid}.ics"));
        // Recurring (so never decided by the index alone): the even ones
        // have an instance in the queried week, the odd ones ended before.
        let count = if i % 2 == 0 { 10 } else { 2 };
        let body = vcalendar(&format!(
            "BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\n\
             DTEND:20240101T110000Z\nRRULE:FREQ=WEEKLY;COUNT={count}\nSUMMARY:{uid}\nEND:VEVENT"
        ));
        assert_eq!(c.put(&href, &body).await.status, 201);
        if i % 2 == 0 {
            expected.push(href);
        }
    }
    expected.sort();
    let hrefs = c.query_hrefs(&cal, &event_range("20240212T000000Z", "20240219T000000Z")).await;
    assert_eq!(hrefs.len(), 200);
    assert_eq!(hrefs, expected);
}

async fn calendar_query_far_future_on_an_infinite_rrule(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let weekly = object("alice", "default", "forever-weekly.ics");
    c.create(
        &weekly,
        &vcalendar(
            "BEGIN:VEVENT\nUID:forever-weekly\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T100000Z\n\
             DTEND:20240101T110000Z\nRRULE:FREQ=WEEKLY\nSUMMARY:Forever\nEND:VEVENT",
        ),
    )
    .await;
    // 2044-06-01 is a Wednesday; the week holds Monday 2044-06-06.
    assert_eq!(c.query_hrefs(&cal, &event_range("20440601T000000Z", "20440608T000000Z")).await, vec![weekly.clone()]);
    assert!(c.query_hrefs(&cal, &event_range("20440607T000000Z", "20440612T000000Z")).await.is_empty(), "Tue–Sat");
    // A daily series passes the 5,000-instance bound long before 2044; it
    // must not vanish from queries there (sabre-io/dav#899, Stalwart).
    let daily = object("alice", "default", "forever-daily.ics");
    c.create(
        &daily,
        &vcalendar(
            "BEGIN:VEVENT\nUID:forever-daily\nDTSTAMP:20240101T000000Z\nDTSTART:20240101T070000Z\n\
             DTEND:20240101T073000Z\nRRULE:FREQ=DAILY\nSUMMARY:Daily\nEND:VEVENT",
        ),
    )
    .await;
    assert_eq!(c.query_hrefs(&cal, &event_range("20440601T060000Z", "20440601T080000Z")).await, vec![daily]);
}

async fn calendar_query_all_day_event(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let path = object("alice", "default", "allday.ics");
    c.create(&path, &fixture("macos-allday.ics")).await;
    // DATE values float: in a calendar without a time zone they are UTC days 1–2 March.
    assert_eq!(c.query_hrefs(&cal, &event_range("20240302T120000Z", "20240302T130000Z")).await, vec![path.clone()]);
    assert_eq!(c.query_hrefs(&cal, &event_range("20240229T000000Z", "20240301T000001Z")).await, vec![path.clone()]);
    assert!(c.query_hrefs(&cal, &event_range("20240303T000000Z", "20240304T000000Z")).await.is_empty(), "DTEND excl.");
    assert!(c.query_hrefs(&cal, &event_range("20240228T000000Z", "20240229T000000Z")).await.is_empty());
}

async fn calendar_query_text_match_and_is_not_defined(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let meeting = object("alice", "default", "meeting.ics");
    let lunch = object("alice", "default", "lunch.ics");
    c.create(&meeting, &event("meeting", "20240110T100000Z", "20240110T110000Z", "Team MEETING")).await;
    c.create(
        &lunch,
        &vcalendar(
            "BEGIN:VEVENT\nUID:lunch\nDTSTAMP:20240101T000000Z\nDTSTART:20240110T120000Z\nDTEND:20240110T130000Z\n\
             SUMMARY:Lunch\nLOCATION:Canteen\nEND:VEVENT",
        ),
    )
    .await;
    let text = |attrs: &str, value: &str| {
        format!(
            r#"<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match {attrs}>{value}</C:text-match></C:prop-filter></C:comp-filter>"#
        )
    };
    assert_eq!(c.query_hrefs(&cal, &text("", "meeting")).await, vec![meeting.clone()], "default i;ascii-casemap");
    assert_eq!(c.query_hrefs(&cal, &text(r#"collation="i;ascii-casemap""#, "team meet")).await, vec![meeting.clone()]);
    assert_eq!(
        c.query_hrefs(&cal, &text(r#"negate-condition="yes""#, "meeting")).await,
        vec![lunch.clone()],
        "negate-condition"
    );
    assert!(c.query_hrefs(&cal, &text(r#"collation="i;octet""#, "meeting")).await.is_empty(), "i;octet is exact");
    assert_eq!(c.query_hrefs(&cal, &text(r#"collation="i;octet""#, "MEETING")).await, vec![meeting.clone()]);

    let no_location = r#"<C:comp-filter name="VEVENT"><C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter></C:comp-filter>"#;
    assert_eq!(c.query_hrefs(&cal, no_location).await, vec![meeting]);
    let has_location = r#"<C:comp-filter name="VEVENT"><C:prop-filter name="LOCATION"/></C:comp-filter>"#;
    assert_eq!(c.query_hrefs(&cal, has_location).await, vec![lunch]);
}

async fn calendar_query_vtodo_time_ranges(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let tasks = calendar("alice", "tasks");
    let due = object("alice", "tasks", "due.ics");
    let undated = object("alice", "tasks", "undated.ics");
    let spanning = object("alice", "tasks", "spanning.ics");
    c.create(&due, &todo("due", "DUE:20240503T120000Z", "Due only")).await;
    c.create(&undated, &todo("undated", "", "No dates")).await;
    c.create(&spanning, &todo("spanning", "DTSTART:20240601T090000Z\nDUE:20240605T170000Z", "Spanning")).await;
    let range = |s: &str, e: &str| {
        format!(r#"<C:comp-filter name="VTODO"><C:time-range start="{s}" end="{e}"/></C:comp-filter>"#)
    };
    // RFC 4791 §9.9: DUE only → (start < DUE) AND (end >= DUE); no dates → always.
    assert_eq!(
        c.query_hrefs(&tasks, &range("20240503T110000Z", "20240503T130000Z")).await,
        vec![due.clone(), undated.clone()]
    );
    assert_eq!(
        c.query_hrefs(&tasks, &range("20240503T110000Z", "20240503T120000Z")).await,
        vec![due.clone(), undated.clone()]
    );
    assert_eq!(c.query_hrefs(&tasks, &range("20240503T120000Z", "20240503T130000Z")).await, vec![undated.clone()]);
    assert_eq!(
        c.query_hrefs(&tasks, &range("20240603T000000Z", "20240604T000000Z")).await,
        vec![spanning.clone(), undated.clone()]
    );
    assert_eq!(c.query_hrefs(&tasks, &range("20240701T000000Z", "20240702T000000Z")).await, vec![undated]);
}

async fn calendar_query_valarm_time_range(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let path = object("alice", "default", "dentist.ics");
    // 14:00 Amsterdam (12:00Z) with an alarm one hour before (11:00Z).
    c.create(&path, &fixture("thunderbird-event-with-alarm.ics")).await;
    let alarm = |s: &str, e: &str| {
        format!(
            r#"<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:time-range start="{s}" end="{e}"/></C:comp-filter></C:comp-filter>"#
        )
    };
    assert_eq!(c.query_hrefs(&cal, &alarm("20240415T103000Z", "20240415T113000Z")).await, vec![path.clone()]);
    assert!(
        c.query_hrefs(&cal, &alarm("20240415T120000Z", "20240415T130000Z")).await.is_empty(),
        "the event is then, its alarm is not"
    );
    assert_eq!(c.query_hrefs(&cal, &event_range("20240415T120000Z", "20240415T130000Z")).await, vec![path]);
}

async fn calendar_query_expand_returns_utc_instances(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let path = object("alice", "default", "standup.ics");
    c.create(&path, &fixture("ios-recurring-with-override.ics")).await;
    let props =
        r#"<D:getetag/><C:calendar-data><C:expand start="20240108T000000Z" end="20240123T000000Z"/></C:calendar-data>"#;
    let r = c.report(&cal, "1", &calendar_query(props, &event_range("20240108T000000Z", "20240123T000000Z"))).await;
    let ms = r.multistatus();
    let data = ms.response(&path).text(CALDAV, "calendar-data");
    let data = data.replace("\r\n", "\n");
    assert!(!data.contains("RRULE"), "expanded data has no RRULE: {data}");
    assert!(!data.contains("BEGIN:VTIMEZONE"), "expanded data is in UTC: {data}");
    let ids: Vec<&str> = data.lines().filter(|l| l.starts_with("RECURRENCE-ID")).collect();
    assert_eq!(
        ids,
        vec!["RECURRENCE-ID:20240108T080000Z", "RECURRENCE-ID:20240115T080000Z", "RECURRENCE-ID:20240122T080000Z"],
        "{data}"
    );
    assert!(data.contains("DTSTART:20240115T093000Z"), "the moved instance keeps its new time: {data}");
    assert!(data.contains("DTSTART:20240122T080000Z"), "{data}");
    assert_eq!(data.matches("BEGIN:VEVENT").count(), 3, "{data}");
}

async fn free_busy_query_returns_vfreebusy(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    c.create(&object("alice", "default", "a.ics"), &simple("a")).await;
    c.create(&object("alice", "default", "late.ics"), &event("late", "20240301T100000Z", "20240301T110000Z", "L"))
        .await;
    let body = format!(
        r#"<?xml version="1.0"?><C:free-busy-query {NS}><C:time-range start="20240101T000000Z" end="20240201T000000Z"/></C:free-busy-query>"#
    );
    let r = c.report(&calendar("alice", "default"), "1", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/calendar")));
    assert!(r.text.contains("BEGIN:VFREEBUSY"), "{}", r.text);
    let lines: Vec<&str> = r.text.lines().filter(|l| l.starts_with("FREEBUSY")).collect();
    assert_eq!(lines, vec!["FREEBUSY;FBTYPE=BUSY:20240110T100000Z/20240110T110000Z"], "{}", r.text);
}

async fn unsupported_reports_and_collations_are_preconditions(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let r = c.report(&cal, "0", r#"<?xml version="1.0"?><X:frobnicate xmlns:X="urn:example:x"/>"#).await;
    r.assert_precondition(403, DAV, "supported-report");
    let filter = r#"<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>"#;
    let r = c.report(&cal, "1", &calendar_query("<D:getetag/>", filter)).await;
    r.assert_precondition(403, CALDAV, "supported-collation");
    // A calendar report on a home is not supported.
    let r = c.report(&home("alice"), "1", &calendar_query("<D:getetag/>", "")).await;
    r.assert_precondition(403, DAV, "supported-report");
}

// ----- sync-collection -----

async fn sync_collection_initial_and_delta(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let a = object("alice", "default", "a.ics");
    let b = object("alice", "default", "b.ics");
    let ea = c.create(&a, &simple("a")).await;
    c.create(&b, &simple("b")).await;

    let r = c.sync(&cal, "", "").await;
    let ms = r.multistatus();
    assert_eq!(ms.sorted_hrefs(), vec![a.clone(), b.clone()], "{}", r.text);
    assert_eq!(ms.response(&a).text(DAV, "getetag"), ea);
    let t0 = ms.sync_token.clone().expect("sync-token in the answer");
    assert_eq!(t0, c.sync_token(&cal).await, "the answer's token is the collection's");

    // Nothing changed: an empty delta.
    let ms = c.sync(&cal, &t0, "").await.multistatus();
    assert!(ms.responses.is_empty(), "{:?}", ms.hrefs());
    assert_eq!(ms.sync_token.as_deref(), Some(t0.as_str()));

    let new = object("alice", "default", "c.ics");
    let ec = c.create(&new, &simple("c")).await;
    assert_eq!(c.delete(&b).await.status, StatusCode::NO_CONTENT);
    let r = c.sync(&cal, &t0, "").await;
    let ms = r.multistatus();
    assert_eq!(ms.sorted_hrefs(), vec![b.clone(), new.clone()], "{}", r.text);
    assert_eq!(ms.response(&new).text(DAV, "getetag"), ec);
    assert_eq!(ms.response(&new).status, None);
    assert_eq!(ms.response(&b).status, Some(404), "{}", r.text);
    let t1 = ms.sync_token.clone().unwrap();
    assert_ne!(t1, t0);

    // The initial sync never lists deleted members.
    let ms = c.sync(&cal, "", "").await.multistatus();
    assert_eq!(ms.sorted_hrefs(), vec![a, new]);
}

async fn sync_collection_accepts_depth_1(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let a = object("alice", "default", "a.ics");
    c.create(&a, &simple("a")).await;
    let body = format!(
        r#"<?xml version="1.0"?><D:sync-collection {NS}><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#
    );
    let r = c.report(&cal, "1", &body).await;
    assert_eq!(r.multistatus().sorted_hrefs(), vec![a]);
}

async fn sync_collection_refuses_tokens_it_does_not_know(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let tasks_token = c.sync_token(&calendar("alice", "tasks")).await;
    let current = c.sync_token(&cal).await;
    let future = match current.rsplit_once(':') {
        Some((prefix, rev)) => format!("{prefix}:{}", rev.parse::<i64>().unwrap() + 100),
        None => panic!("token shape {current}"),
    };
    for token in ["garbage", "http://example.com/sync/1", tasks_token.as_str(), future.as_str()] {
        let r = c.sync(&cal, token, "").await;
        r.assert_precondition(403, DAV, "valid-sync-token");
    }
}

// See: caldav-server-tester `sync-token.limit` (Xandikos cut the answer silently and its next token skipped changes)
async fn sync_collection_limit_truncates_and_resumes(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let t0 = c.sync_token(&cal).await;
    let mut all = Vec::new();
    for i in 0..5 {
        let path = object("alice", "default", &format!("n{i}.ics"));
        c.create(&path, &simple(&format!("n{i}"))).await;
        all.push(path);
    }
    all.sort();
    let limit = "<D:limit><D:nresults>2</D:nresults></D:limit>";

    let r = c.sync(&cal, &t0, limit).await;
    let ms = r.multistatus();
    let members: Vec<&str> = ms.responses.iter().filter(|r| r.href != cal).map(|r| r.href.as_str()).collect();
    assert_eq!(members.len(), 2, "{}", r.text);
    let truncated = ms.response(&cal);
    assert_eq!(truncated.status, Some(507), "RFC 6578 §3.6: truncation is reported on the request URI: {}", r.text);
    let mut seen: Vec<String> = members.iter().map(|s| s.to_string()).collect();
    let t1 = ms.sync_token.clone().expect("token");

    let r = c.sync(&cal, &t1, "").await;
    let ms = r.multistatus();
    assert!(ms.get(&cal).is_none(), "not truncated: {}", r.text);
    assert_eq!(ms.responses.len(), 3, "{}", r.text);
    seen.extend(ms.responses.iter().map(|r| r.href.clone()));
    seen.sort();
    assert_eq!(seen, all, "no gaps, no repeats");

    // The same on an initial sync.
    let r = c.sync(&cal, "", limit).await;
    let ms = r.multistatus();
    assert_eq!(ms.response(&cal).status, Some(507));
    let mut seen: Vec<String> = ms.responses.iter().filter(|r| r.href != cal).map(|r| r.href.clone()).collect();
    let mut token = ms.sync_token.clone().unwrap();
    for _ in 0..5 {
        let ms = c.sync(&cal, &token, limit).await.multistatus();
        seen.extend(ms.responses.iter().filter(|r| r.href != cal).map(|r| r.href.clone()));
        token = ms.sync_token.clone().unwrap();
        if ms.get(&cal).is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, all);
}

async fn ctag_and_sync_token_change_with_content(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let (ctag0, token0) = (c.ctag(&cal).await, c.sync_token(&cal).await);
    let path = object("alice", "default", "a.ics");
    let etag = c.create(&path, &simple("a")).await;
    let (ctag1, token1) = (c.ctag(&cal).await, c.sync_token(&cal).await);
    assert_ne!(ctag1, ctag0);
    assert_ne!(token1, token0);
    // Rewriting the same bytes is still a write clients must see.
    let r =
        c.put_with(&path, &event("a", "20240110T100000Z", "20240110T120000Z", "Longer"), &[("if-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let ctag2 = c.ctag(&cal).await;
    assert_ne!(ctag2, ctag1);
    assert_eq!(c.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_ne!(c.ctag(&cal).await, ctag2);
    // Another calendar's ctag is unaffected.
    let tasks = calendar("alice", "tasks");
    let tasks_ctag = c.ctag(&tasks).await;
    c.create(&object("alice", "default", "b.ics"), &simple("b")).await;
    assert_eq!(c.ctag(&tasks).await, tasks_ctag);
}

// ----- Principal reports -----

async fn expand_property_on_the_principal(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let me = principal("alice");
    let r = c.report(&me, "0", include_str!("../dav/testdata/requests/ios-expand-property-proxy.xml")).await;
    let ms = r.multistatus();
    let resp = ms.response(&me);
    assert_eq!(resp.status_of(CS, "calendar-proxy-write-for"), Some(200), "{}", r.text);
    assert_eq!(resp.status_of(CS, "calendar-proxy-read-for"), Some(200), "{}", r.text);

    // Nested properties of an href-valued property come back as nested responses.
    let body = format!(
        r#"<?xml version="1.0"?><D:expand-property {NS}><D:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"><D:property name="displayname"/><D:property name="resourcetype"/></D:property><D:property name="displayname"/></D:expand-property>"#
    );
    let r = c.report(&me, "0", &body).await;
    let ms = r.multistatus();
    let resp = ms.response(&me);
    let home_set = resp.found(CALDAV, "calendar-home-set").expect("calendar-home-set");
    let nested = home_set.child(DAV, "response").unwrap_or_else(|| panic!("nested response: {}", r.text));
    assert_eq!(nested.child(DAV, "href").map(|h| h.text()), Some(home("alice")));
    let nested_ok = nested
        .children_named(DAV, "propstat")
        .filter(|ps| ps.child(DAV, "status").is_some_and(|s| s.text().contains(" 200 ")))
        .any(|ps| ps.child(DAV, "prop").is_some_and(|p| p.child(DAV, "resourcetype").is_some()));
    assert!(nested_ok, "nested resourcetype of the home: {}", r.text);
}

async fn principal_property_search_finds_other_users(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob", "carol"]).await;
    let c = Client::new(&app, "alice");
    let body = include_str!("../dav/testdata/requests/ios-principal-property-search.xml").replace("ali", "bo");
    let r = c.report("/dav/principals/", "0", &body).await;
    let ms = r.multistatus();
    assert_eq!(ms.hrefs(), vec![principal("bob").as_str()], "{}", r.text);
    let bob = ms.response(&principal("bob"));
    assert!(bob.hrefs(CALDAV, "calendar-user-address-set").contains(&"mailto:bob@example.com".to_string()));

    let contains = format!(
        r#"<?xml version="1.0"?><D:principal-property-search {NS}><D:property-search><D:prop><D:displayname/></D:prop><D:match>AR</D:match></D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#
    );
    let ms = c.report("/dav/principals/", "0", &contains).await.multistatus();
    assert_eq!(ms.hrefs(), vec![principal("carol").as_str()], "substring, case-insensitive");

    let r = c
        .report("/dav/principals/", "0", r#"<?xml version="1.0"?><D:principal-search-property-set xmlns:D="DAV:"/>"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let set = r.xml();
    assert!(set.is(DAV, "principal-search-property-set"));
    assert!(set.children_named(DAV, "principal-search-property").count() >= 1);
}

/// RFC 3744 §9.4 and §9.5: both principal reports are defined for Depth 0 only
/// (absent means 0, RFC 3253 §3.6); any other depth is 400.
async fn issue16_principal_reports_refuse_a_depth_other_than_0(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    let c = Client::new(&app, "alice");
    let search = format!(
        r#"<?xml version="1.0"?><D:principal-property-search {NS}><D:property-search><D:prop><D:displayname/></D:prop><D:match>bob</D:match></D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#
    );
    let set = r#"<?xml version="1.0"?><D:principal-search-property-set xmlns:D="DAV:"/>"#;
    for body in [search.as_str(), set] {
        for depth in ["1", "infinity"] {
            let r = c.report("/dav/principals/", depth, body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "Depth {depth}: {}", r.text);
        }
        let r = c.report("/dav/principals/", "0", body).await;
        assert!(r.status.is_success(), "Depth 0: {} {}", r.status, r.text);
        let r = c.send("REPORT", "/dav/principals/", &[], body.to_string()).await;
        assert!(r.status.is_success(), "no Depth: {} {}", r.status, r.text);
    }
}

async fn wrong_password_is_401(db: &TestDb) {
    let app = alice(db).await;
    let wrong = Client { app: &app, auth: Some(basic("alice", "wrong")) };
    let r = wrong.props(&home("alice"), "0", "<D:displayname/>").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let right = Client { app: &app, auth: Some(basic("alice", PASSWORD)) };
    assert_eq!(right.props(&home("alice"), "0", "<D:displayname/>").await.status, StatusCode::MULTI_STATUS);
}

/// RFC 3744: ACLs are readable (the owner holds `all`) and not writable.
async fn acls_are_read_only(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let cal = calendar("alice", "default");
    let r = c.props(&cal, "0", "<D:acl/><D:supported-privilege-set/><D:acl-restrictions/>").await;
    let ms = r.multistatus();
    let response = ms.response(&cal);
    for name in ["acl", "supported-privilege-set", "acl-restrictions"] {
        assert_eq!(response.status_of(DAV, name), Some(200), "{name}: {}", r.text);
    }
    assert!(r.text.contains(&principal("alice")) && r.text.contains("<D:all/>"), "{}", r.text);
    let acl = r#"<?xml version="1.0"?><D:acl xmlns:D="DAV:"><D:ace><D:principal><D:all/></D:principal><D:grant><D:privilege><D:read/></D:privilege></D:grant></D:ace></D:acl>"#;
    let r = c.send("ACL", &cal, &[], acl.to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

on_both_databases!(
    acls_are_read_only,
    issue19_propfind_response_size_is_bounded,
    well_known_caldav_redirects_to_the_dav_root,
    issue16_well_known_with_a_trailing_slash_redirects,
    root_propfind_names_the_current_user_principal,
    principal_properties,
    home_lists_the_default_calendars,
    options_needs_no_credentials_and_announces_calendar_access,
    propfind_depth_infinity_is_refused,
    propfind_unknown_property_is_404_in_the_same_multistatus,
    propfind_allprop_and_propname,
    propfind_malformed_xml_is_400,
    mkcalendar_with_initial_properties,
    extended_mkcol_creates_a_calendar,
    mkcalendar_inside_a_calendar_or_object_is_forbidden,
    proppatch_sets_live_apple_and_dead_properties,
    proppatch_of_a_protected_property_fails_the_whole_request,
    issue19_dead_property_limits,
    issue19_dead_property_attack_on_a_real_server,
    put_get_head_round_trip,
    put_and_get_honour_conditional_headers,
    put_rejects_what_is_not_a_calendar_object,
    put_with_a_uid_already_used_by_another_object_conflicts,
    put_larger_than_max_resource_size_is_refused,
    delete_objects_and_calendars,
    copy_and_move_between_calendars,
    calendar_multiget_reports_missing_members_as_404,
    calendar_query_time_range_on_a_recurring_event,
    calendar_query_far_future_on_an_infinite_rrule,
    calendar_query_over_many_candidates_returns_each_match_once,
    calendar_query_all_day_event,
    calendar_query_text_match_and_is_not_defined,
    calendar_query_vtodo_time_ranges,
    calendar_query_valarm_time_range,
    calendar_query_expand_returns_utc_instances,
    free_busy_query_returns_vfreebusy,
    unsupported_reports_and_collations_are_preconditions,
    sync_collection_initial_and_delta,
    sync_collection_accepts_depth_1,
    sync_collection_refuses_tokens_it_does_not_know,
    sync_collection_limit_truncates_and_resumes,
    ctag_and_sync_token_change_with_content,
    expand_property_on_the_principal,
    principal_property_search_finds_other_users,
    issue16_principal_reports_refuse_a_depth_other_than_0,
    wrong_password_is_401,
);
