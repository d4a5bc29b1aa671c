//! CardDAV (RFC 6352) through the real router: discovery, vCard PUT/GET with version
//! negotiation, groups and photos across 3.0/4.0, the PUT preconditions, addressbook-query and
//! addressbook-multiget, sync-collection, extended MKCOL of address books and isolation between
//! users, on both databases.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{
    CARD_NS, CARDDAV, CS, Client, DAV, Reply, addressbook, addressbook_home, addressbook_multiget, addressbook_query,
    card, principal, users, vcard_fixture, vcard3, vcard4,
};
use common::{TestApp, TestDb};
use madang::config::DavConfig;

async fn alice(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    app
}

fn contacts() -> String {
    addressbook("alice", "default")
}

fn contact(name: &str) -> String {
    card("alice", "default", name)
}

/// The body with folded lines joined (RFC 6350 §3.2), as a list of lines.
fn lines(vcf: &str) -> Vec<String> {
    vcf.replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Whether the unfolded card has a line starting with `prefix` (case-insensitive).
fn has_line(vcf: &str, prefix: &str) -> bool {
    lines(vcf).iter().any(|l| l.to_ascii_uppercase().starts_with(&prefix.to_ascii_uppercase()))
}

/// The text of the `CARDDAV:address-data` of the member `href` of a multistatus.
#[track_caller]
fn address_data(r: &Reply, href: &str) -> String {
    r.multistatus().response(href).text(CARDDAV, "address-data")
}

// ----- Discovery -----

async fn well_known_carddav_redirects_to_the_dav_root(db: &TestDb) {
    let app = alice(db).await;
    for method in ["GET", "PROPFIND"] {
        let r = Client::anonymous(&app).send(method, "/.well-known/carddav", &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY, "{method}");
        assert_eq!(r.header("location"), Some("/dav/"), "{method}");
    }
}

async fn principal_names_the_addressbook_home(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c.card_props(&principal("alice"), "0", "<CR:addressbook-home-set/><D:current-user-principal/>").await;
    let ms = r.multistatus();
    assert_eq!(
        ms.response(&principal("alice")).hrefs(CARDDAV, "addressbook-home-set"),
        vec![addressbook_home("alice")]
    );
}

async fn home_lists_the_default_address_book(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let r = c
        .card_props(
            &addressbook_home("alice"),
            "1",
            "<D:resourcetype/><D:displayname/><CR:supported-address-data/><CS:getctag/><D:sync-token/>\
             <CR:max-resource-size/><D:supported-report-set/>",
        )
        .await;
    let ms = r.multistatus();
    assert!(ms.get(&addressbook_home("alice")).is_some(), "{}", r.text);
    let book = ms.response(&contacts());
    assert!(book.has_child(DAV, "resourcetype", DAV, "collection"), "{}", r.text);
    assert!(book.has_child(DAV, "resourcetype", CARDDAV, "addressbook"), "{}", r.text);
    assert_eq!(book.text(DAV, "displayname"), "Contacts");
    let supported = book.found(CARDDAV, "supported-address-data").expect("supported-address-data");
    let versions: Vec<(String, String)> = supported
        .children_named(CARDDAV, "address-data-type")
        .map(|t| (t.attr("content-type").unwrap_or_default().to_string(), t.attr("version").unwrap_or_default().into()))
        .collect();
    assert!(versions.contains(&("text/vcard".into(), "3.0".into())), "{versions:?}");
    assert!(versions.contains(&("text/vcard".into(), "4.0".into())), "{versions:?}");
    assert!(!book.text(CS, "getctag").trim().is_empty());
    assert!(!book.text(DAV, "sync-token").trim().is_empty());
    let reports = book.found(DAV, "supported-report-set").expect("supported-report-set").to_xml();
    for report in ["addressbook-multiget", "addressbook-query", "sync-collection"] {
        assert!(reports.contains(report), "{report} in {reports}");
    }
    // No calendar shows up in the address-book home: the default book and the company
    // directory (tests/dav_derived.rs).
    assert_eq!(ms.sorted_hrefs(), [addressbook_home("alice"), contacts(), addressbook("alice", "directory")]);
}

async fn options_announces_addressbook(db: &TestDb) {
    let app = alice(db).await;
    for path in ["/dav/", "/dav/addressbooks/alice/default/"] {
        let r = Client::anonymous(&app).send("OPTIONS", path, &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let dav = r.header("dav").expect("DAV header");
        assert!(dav.split(',').any(|t| t.trim() == "addressbook"), "{dav}");
        assert!(dav.split(',').any(|t| t.trim() == "extended-mkcol"), "{dav}");
    }
}

// ----- PUT and GET -----

async fn put_vcard_3_and_4_and_get_them_back_as_stored(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let v3 = vcard3("v3-uid", "Ada Lovelace", "EMAIL;TYPE=INTERNET:ada@example.com");
    let v4 = vcard4("v4-uid", "Grace Hopper", "EMAIL;TYPE=work:grace@example.com");
    for (name, body) in [("ada.vcf", &v3), ("grace.vcf", &v4)] {
        let r = c.put_vcard(&contact(name), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.text);
        let etag = r.header("etag").expect("ETag").to_string();
        let got = c.get(&contact(name)).await;
        assert_eq!(got.status, StatusCode::OK, "{name}");
        assert_eq!(&got.text, body, "{name}: no Accept returns the stored bytes");
        assert_eq!(got.header("etag"), Some(etag.as_str()), "{name}");
        assert!(got.header("content-type").unwrap_or_default().starts_with("text/vcard"), "{name}");
    }
    assert!(c.get(&contact("grace.vcf")).await.header("content-type").unwrap_or_default().contains("version=4.0"));
    // An update is 204 and changes the ETag.
    let r = c.put_vcard(&contact("ada.vcf"), &vcard3("v3-uid", "Ada King", "")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(c.get(&contact("ada.vcf")).await.text.contains("FN:Ada King"));
}

/// Real clients' cards (which Madang's writer would re-render differently) come back byte for
/// byte when the GET has no Accept header (RFC 6352 §5.1: the stored representation).
async fn get_without_accept_returns_the_stored_bytes_of_real_client_cards(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    for fixture in [
        "ios-contact-with-photo.vcf",
        "ios-group.vcf",
        "thunderbird-contact.vcf",
        "davx5-contact-v4.vcf",
        "davx5-group-v4.vcf",
        "nextcloud-contact.vcf",
    ] {
        let body = vcard_fixture(fixture);
        let etag = c.create_vcard(&contact(fixture), &body).await;
        let r = c.get(&contact(fixture)).await;
        assert_eq!(r.status, StatusCode::OK, "{fixture}");
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{fixture}");
        assert_eq!(r.text, body, "{fixture}: GET without Accept must return the stored bytes");
    }
}

async fn get_with_accept_converts_between_versions(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    c.create_vcard(&contact("v3.vcf"), &vcard3("v3-uid", "Ada Lovelace", "TEL;TYPE=CELL:+44 20 7946 0000")).await;
    c.create_vcard(&contact("v4.vcf"), &vcard4("v4-uid", "Grace Hopper", "TEL;TYPE=cell:+1 555 0100")).await;

    let r = c.get_accept(&contact("v3.vcf"), "text/vcard; version=4.0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(has_line(&r.text, "VERSION:4.0"), "{}", r.text);
    assert!(!has_line(&r.text, "VERSION:3.0"), "{}", r.text);
    assert!(r.header("content-type").unwrap_or_default().contains("version=4.0"), "{:?}", r.headers);
    assert!(has_line(&r.text, "UID:v3-uid") && has_line(&r.text, "FN:Ada Lovelace"), "{}", r.text);

    let r = c.get_accept(&contact("v4.vcf"), "text/vcard; version=3.0").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(has_line(&r.text, "VERSION:3.0"), "{}", r.text);
    assert!(!has_line(&r.text, "VERSION:4.0"), "{}", r.text);
    assert!(r.header("content-type").unwrap_or_default().contains("version=3.0"), "{:?}", r.headers);
    assert!(has_line(&r.text, "FN:Grace Hopper"), "{}", r.text);

    // Preferences by q-value, and wildcards that leave the stored version alone.
    let r = c.get_accept(&contact("v3.vcf"), "text/vcard; version=3.0; q=0.5, text/vcard; version=4.0").await;
    assert!(has_line(&r.text, "VERSION:4.0"), "{}", r.text);
    let r = c.get_accept(&contact("v4.vcf"), "*/*").await;
    assert!(has_line(&r.text, "VERSION:4.0"), "{}", r.text);
}

// RFC 6352 §5.1.1: a GET whose Accept admits no version the server can produce fails the
// CARDDAV:supported-address-data-conversion precondition (403 with the DAV:error body; RFC 4918
// §16 rather than HTTP's 406, as for every other DAV precondition).
async fn get_asking_only_for_an_unsupported_version_is_refused(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    c.create_vcard(&contact("v3.vcf"), &vcard3("v3-uid", "Ada Lovelace", "")).await;
    let r = c.get_accept(&contact("v3.vcf"), "text/vcard; version=2.1").await;
    r.assert_precondition(403, CARDDAV, "supported-address-data-conversion");
    let r = c.get_accept(&contact("v3.vcf"), "application/vcard+json").await;
    r.assert_precondition(403, CARDDAV, "supported-address-data-conversion");
    // In a report the precondition for an address-data version the server cannot produce is
    // CARDDAV:supported-address-data (RFC 6352 §8.6, §8.7).
    let body = addressbook_multiget(r#"<CR:address-data version="2.1"/>"#, &[&contact("v3.vcf")]);
    let r = c.report(&contacts(), "0", &body).await;
    r.assert_precondition(403, CARDDAV, "supported-address-data");
}

// See: rustical#265 (CLIENTS.md): macOS Contacts fails the whole sync when handed vCard 4.0, and
// DAVx5 stores 4.0 as soon as the server advertises it.
async fn rustical_265_davx5_vcard4_reaches_macos_contacts_as_3_0(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let davx5 = vcard_fixture("davx5-contact-v4.vcf");
    let r = c
        .put_vcard_with(&contact("davx5.vcf"), &davx5, &[("user-agent", "DAVx5/4.3.13-ose (2024/03/01; dav4jvm)")])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // What macOS Contacts sends: address-data without a version attribute, no Accept.
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><B:addressbook-multiget xmlns:B="urn:ietf:params:xml:ns:carddav"><A:prop xmlns:A="DAV:"><A:getetag/><B:address-data/></A:prop><A:href xmlns:A="DAV:">{}</A:href></B:addressbook-multiget>"#,
        contact("davx5.vcf")
    );
    let r = c
        .send(
            "REPORT",
            &contacts(),
            &[("depth", "0"), ("content-type", "text/xml"), ("user-agent", "macOS/14.2 (23C64) AddressBookCore/2736")],
            body,
        )
        .await;
    let data = address_data(&r, &contact("davx5.vcf"));
    assert!(has_line(&data, "VERSION:3.0"), "macOS must get 3.0: {data}");
    assert!(!data.contains("VERSION:4.0"), "{data}");
    // The same card in an addressbook-query and a sync-collection with address-data.
    let query = addressbook_query("<D:getetag/><CR:address-data/>", "<CR:filter/>", "");
    let r = c.report(&contacts(), "1", &query).await;
    assert!(has_line(&address_data(&r, &contact("davx5.vcf")), "VERSION:3.0"), "{}", r.text);
    let sync = format!(
        r#"<D:sync-collection {CARD_NS}><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><CR:address-data/></D:prop></D:sync-collection>"#
    );
    let r = c.report(&contacts(), "0", &sync).await;
    assert!(has_line(&address_data(&r, &contact("davx5.vcf")), "VERSION:3.0"), "{}", r.text);
    // DAVx5 asks for 4.0 and gets its card back in 4.0.
    let body = addressbook_multiget(
        r#"<D:getetag/><CR:address-data content-type="text/vcard" version="4.0"/>"#,
        &[&contact("davx5.vcf")],
    );
    let r = c.report(&contacts(), "0", &body).await;
    assert!(has_line(&address_data(&r, &contact("davx5.vcf")), "VERSION:4.0"), "{}", r.text);
}

// See: nextcloud/contacts#213: Apple groups and vCard 4 groups must read as each other.
async fn nextcloud_contacts_213_groups_convert_between_apple_and_vcard4(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    c.create_vcard(&contact("ios-group.vcf"), &vcard_fixture("ios-group.vcf")).await;
    c.create_vcard(&contact("davx5-group.vcf"), &vcard_fixture("davx5-group-v4.vcf")).await;

    let r = c.get_accept(&contact("ios-group.vcf"), "text/vcard; version=4.0").await;
    assert!(has_line(&r.text, "KIND:group"), "{}", r.text);
    assert!(has_line(&r.text, "MEMBER:urn:uuid:9B8A6E2A-3F2C-4D1B-9E8F-1A2B3C4D5E6F"), "{}", r.text);
    assert!(has_line(&r.text, "MEMBER:urn:uuid:0e6c1c7a-5b1e-4c8f-9a0d-3f2b1e4d5c6a"), "{}", r.text);
    assert!(!r.text.to_ascii_uppercase().contains("X-ADDRESSBOOKSERVER"), "{}", r.text);

    let r = c.get_accept(&contact("davx5-group.vcf"), "text/vcard; version=3.0").await;
    assert!(has_line(&r.text, "X-ADDRESSBOOKSERVER-KIND:group"), "{}", r.text);
    assert!(
        has_line(&r.text, "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:0e6c1c7a-5b1e-4c8f-9a0d-3f2b1e4d5c6a"),
        "{}",
        r.text
    );
    assert!(!has_line(&r.text, "KIND:") && !has_line(&r.text, "MEMBER:"), "{}", r.text);

    // The same through a multiget without a version (macOS): the Apple form.
    let body = addressbook_multiget("<CR:address-data/>", &[&contact("davx5-group.vcf")]);
    let data = address_data(&c.report(&contacts(), "0", &body).await, &contact("davx5-group.vcf"));
    assert!(has_line(&data, "X-ADDRESSBOOKSERVER-KIND:group"), "{data}");
}

async fn vcard_2_1_with_quoted_printable_is_accepted(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let outlook = vcard_fixture("outlook-2.1.vcf");
    let r = c.put_with(&contact("outlook.vcf"), &outlook, &[]).await;
    // put_with sends text/calendar; a vCard 2.1 exporter sends text/x-vcard.
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = c.send("PUT", &contact("outlook.vcf"), &[("content-type", "text/x-vcard")], outlook.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // 2.1 is not in supported-address-data, so even without Accept it goes out as 3.0.
    let r = c.get(&contact("outlook.vcf")).await;
    assert!(has_line(&r.text, "VERSION:3.0"), "{}", r.text);
    assert!(r.header("content-type").unwrap_or_default().contains("version=3.0"), "{:?}", r.headers);
    assert!(has_line(&r.text, "FN:Jürgen Müller"), "quoted-printable decoded: {}", r.text);
    assert!(!r.text.contains("QUOTED-PRINTABLE"), "{}", r.text);
    // And it is found by a query on the decoded name.
    let filter = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">müller</CR:text-match></CR:prop-filter></CR:filter>"#;
    let r = c.report(&contacts(), "1", &addressbook_query("<D:getetag/>", filter, "")).await;
    assert_eq!(r.multistatus().hrefs(), vec![contact("outlook.vcf")], "{}", r.text);
}

async fn put_preconditions(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    // Not a vCard at all.
    let r = c.put_vcard(&contact("bad.vcf"), "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").await;
    r.assert_precondition(403, CARDDAV, "valid-address-data");
    let r = c.put_vcard(&contact("bad.vcf"), "hello").await;
    r.assert_precondition(403, CARDDAV, "valid-address-data");
    // RFC 6352 §5.1: exactly one card, with a UID.
    let two = format!("{}{}", vcard3("one", "One", ""), vcard3("two", "Two", ""));
    c.put_vcard(&contact("bad.vcf"), &two).await.assert_precondition(403, CARDDAV, "valid-address-data");
    let no_uid = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nN:Uid;No;;;\r\nEND:VCARD\r\n";
    c.put_vcard(&contact("bad.vcf"), no_uid).await.assert_precondition(403, CARDDAV, "valid-address-data");
    // A vCard sent as something else.
    let r = c.put(&contact("ical.vcf"), &vcard3("ct-uid", "Typed Wrong", "")).await;
    r.assert_precondition(403, CARDDAV, "supported-address-data");
    let r = c.send("PUT", &contact("json.vcf"), &[("content-type", "application/vcard+json")], "{}").await;
    r.assert_precondition(403, CARDDAV, "supported-address-data");
    for name in ["bad.vcf", "ical.vcf", "json.vcf"] {
        assert_eq!(c.get(&contact(name)).await.status, StatusCode::NOT_FOUND, "{name}");
    }
    // The same UID under another name: 409 naming the holder (RFC 6352 §6.3.2.1).
    c.create_vcard(&contact("first.vcf"), &vcard3("shared-uid", "First", "")).await;
    let r = c.put_vcard(&contact("second.vcf"), &vcard4("shared-uid", "Second", "")).await;
    let conflict = r.assert_precondition(409, CARDDAV, "no-uid-conflict");
    let hrefs: Vec<String> = conflict.children_named(DAV, "href").map(|h| h.text().trim().to_string()).collect();
    assert_eq!(hrefs, vec![contact("first.vcf")], "{}", r.text);
    assert_eq!(c.get(&contact("second.vcf")).await.status, StatusCode::NOT_FOUND);
    // Into an address book that does not exist: 409 (RFC 4918 §9.7.1).
    let r = c.put_vcard(&card("alice", "nowhere", "x.vcf"), &vcard3("x", "X", "")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    // If-None-Match: * on an existing card.
    let r =
        c.put_vcard_with(&contact("first.vcf"), &vcard3("shared-uid", "Again", ""), &[("if-none-match", "*")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text);
}

async fn put_larger_than_max_resource_size_is_refused(db: &TestDb) {
    let mut app = alice(db).await;
    app.state = app.state.clone().with_dav(DavConfig { max_resource_size: 4 * 1024, ..DavConfig::default() });
    let c = Client::new(&app, "alice");
    let ms = c.card_props(&contacts(), "0", "<CR:max-resource-size/>").await.multistatus();
    assert_eq!(ms.responses[0].text(CARDDAV, "max-resource-size"), "4096");
    let note = format!("NOTE:{}", "x".repeat(6 * 1024));
    let r = c.put_vcard(&contact("big.vcf"), &vcard3("big", "Big", &note)).await;
    r.assert_precondition(403, CARDDAV, "max-resource-size");
    assert_eq!(c.get(&contact("big.vcf")).await.status, StatusCode::NOT_FOUND);
    c.create_vcard(&contact("small.vcf"), &vcard3("small", "Small", &format!("NOTE:{}", "x".repeat(1024)))).await;
}

async fn inline_photos_survive_conversion_both_ways(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    // A JPEG's first bytes, base64: FF D8 FF E0 00 10 'JFIF' 00 01.
    let jpeg = "/9j/4AAQSkZJRgAB";
    c.create_vcard(
        &contact("photo3.vcf"),
        &vcard3("photo-3", "Pic Three", &format!("PHOTO;ENCODING=b;TYPE=JPEG:{jpeg}")),
    )
    .await;
    let v4 = c.get_accept(&contact("photo3.vcf"), "text/vcard; version=4.0").await.text;
    let photo = lines(&v4).into_iter().find(|l| l.starts_with("PHOTO")).unwrap_or_else(|| panic!("PHOTO in {v4}"));
    assert!(photo.contains(&format!("data:image/jpeg;base64,{jpeg}")), "{photo}");
    assert!(!photo.to_ascii_uppercase().contains("ENCODING"), "{photo}");

    // A 4.0 card with a data: URI read as 3.0: inline base64 again.
    c.create_vcard(
        &contact("photo4.vcf"),
        &vcard4("photo-4", "Pic Four", &format!("PHOTO:data:image/jpeg;base64,{jpeg}")),
    )
    .await;
    let v3 = c.get_accept(&contact("photo4.vcf"), "text/vcard; version=3.0").await.text;
    let photo = lines(&v3).into_iter().find(|l| l.starts_with("PHOTO")).unwrap_or_else(|| panic!("PHOTO in {v3}"));
    let upper = photo.to_ascii_uppercase();
    assert!(upper.contains("ENCODING=B"), "{photo}");
    assert!(upper.contains("JPEG"), "{photo}");
    assert!(photo.ends_with(&format!(":{jpeg}")), "{photo}");
    assert!(!photo.contains("data:"), "{photo}");

    // The iOS fixture's real photo: 3.0 → 4.0 → 3.0 keeps the bytes.
    let ios = vcard_fixture("ios-contact-with-photo.vcf");
    c.create_vcard(&contact("ios.vcf"), &ios).await;
    let original: String = lines(&ios)
        .into_iter()
        .find(|l| l.starts_with("PHOTO"))
        .and_then(|l| l.rsplit_once(':').map(|(_, v)| v.to_string()))
        .expect("fixture photo");
    let v4 = c.get_accept(&contact("ios.vcf"), "text/vcard; version=4.0").await.text;
    assert!(lines(&v4).iter().any(|l| l.starts_with("PHOTO") && l.ends_with(&original)), "{v4}");
    c.create_vcard(&card("alice", "default", "ios-as-4.vcf"), &v4.replace("UID:", "UID:copy-")).await;
    let back = c.get_accept(&contact("ios-as-4.vcf"), "text/vcard; version=3.0").await.text;
    assert!(lines(&back).iter().any(|l| l.starts_with("PHOTO") && l.ends_with(&format!(":{original}"))), "{back}");
}

// ----- addressbook-query -----

/// Three people to query: Ada (two e-mails, work phone), Grace (work e-mail, no TEL),
/// Edsger (no e-mail).
async fn people(c: &Client<'_>) {
    c.create_vcard(
        &contact("ada.vcf"),
        &vcard3(
            "ada",
            "Ada Lovelace",
            "EMAIL;TYPE=INTERNET,HOME:Ada.Lovelace@Example.COM\nEMAIL;TYPE=INTERNET,WORK:ada@engine.example\n\
             TEL;TYPE=WORK:+44 20 7946 0000\nNICKNAME:Ärztin",
        ),
    )
    .await;
    c.create_vcard(
        &contact("grace.vcf"),
        &vcard4("grace", "Grace Hopper", "EMAIL;TYPE=work:grace@navy.example\nNICKNAME:ÄRZTIN"),
    )
    .await;
    c.create_vcard(&contact("edsger.vcf"), &vcard3("edsger", "Edsger Dijkstra", "TEL;TYPE=HOME:+31 20 000 0000")).await;
}

/// The sorted hrefs an addressbook-query with `filter` (a whole `CR:filter`) returns.
async fn query(c: &Client<'_>, filter: &str) -> Vec<String> {
    let r = c.report(&contacts(), "1", &addressbook_query("<D:getetag/>", filter, "")).await;
    r.multistatus().sorted_hrefs()
}

fn hrefs(names: &[&str]) -> Vec<String> {
    let mut h: Vec<String> = names.iter().map(|n| contact(n)).collect();
    h.sort();
    h
}

fn one(prop: &str, match_type: &str, value: &str, negate: bool) -> String {
    let negate = if negate { r#" negate-condition="yes""# } else { "" };
    format!(
        r#"<CR:filter><CR:prop-filter name="{prop}"><CR:text-match collation="i;unicode-casemap" match-type="{match_type}"{negate}>{value}</CR:text-match></CR:prop-filter></CR:filter>"#
    )
}

async fn addressbook_query_text_matches(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    // unicode-casemap is case-insensitive, for ASCII and beyond.
    assert_eq!(query(&c, &one("EMAIL", "contains", "lovelace@example.com", false)).await, hrefs(&["ada.vcf"]));
    assert_eq!(query(&c, &one("EMAIL", "contains", "EXAMPLE", false)).await, hrefs(&["ada.vcf", "grace.vcf"]));
    assert_eq!(query(&c, &one("NICKNAME", "equals", "ärztin", false)).await, hrefs(&["ada.vcf", "grace.vcf"]));
    // The default match-type is contains, and the default collation unicode-casemap.
    let plain =
        r#"<CR:filter><CR:prop-filter name="email"><CR:text-match>NAVY</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(query(&c, plain).await, hrefs(&["grace.vcf"]));
    assert_eq!(query(&c, &one("FN", "starts-with", "gra", false)).await, hrefs(&["grace.vcf"]));
    assert_eq!(query(&c, &one("FN", "starts-with", "hopper", false)).await, Vec::<String>::new());
    assert_eq!(query(&c, &one("FN", "equals", "edsger dijkstra", false)).await, hrefs(&["edsger.vcf"]));
    assert_eq!(query(&c, &one("FN", "equals", "edsger", false)).await, Vec::<String>::new());
    assert_eq!(query(&c, &one("FN", "ends-with", "HOPPER", false)).await, hrefs(&["grace.vcf"]));
    // negate-condition: the cards whose FN does not contain "o" (Ada Lovelace and Grace Hopper do).
    assert_eq!(query(&c, &one("FN", "contains", "o", true)).await, hrefs(&["edsger.vcf"]));
    // Negation on a property the card lacks does not match it (the property must exist).
    assert_eq!(query(&c, &one("EMAIL", "contains", "navy", true)).await, hrefs(&["ada.vcf"]));
    let undefined = r#"<CR:filter><CR:prop-filter name="EMAIL"><CR:is-not-defined/></CR:prop-filter></CR:filter>"#;
    assert_eq!(query(&c, undefined).await, hrefs(&["edsger.vcf"]));
    let defined = r#"<CR:filter><CR:prop-filter name="TEL"/></CR:filter>"#;
    assert_eq!(query(&c, defined).await, hrefs(&["ada.vcf", "edsger.vcf"]));
    // An empty filter matches every card.
    assert_eq!(query(&c, "<CR:filter/>").await, hrefs(&["ada.vcf", "edsger.vcf", "grace.vcf"]));
}

async fn addressbook_query_anyof_and_allof(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let two = |test: &str| {
        format!(
            r#"<CR:filter test="{test}"><CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">example</CR:text-match></CR:prop-filter><CR:prop-filter name="TEL"><CR:text-match match-type="contains">+</CR:text-match></CR:prop-filter></CR:filter>"#
        )
    };
    assert_eq!(query(&c, &two("anyof")).await, hrefs(&["ada.vcf", "edsger.vcf", "grace.vcf"]));
    assert_eq!(query(&c, &two("allof")).await, hrefs(&["ada.vcf"]));
    // Without a test attribute the filter is anyof (RFC 6352 §10.5).
    let default = two("anyof").replace(r#" test="anyof""#, "");
    assert_eq!(query(&c, &default).await, hrefs(&["ada.vcf", "edsger.vcf", "grace.vcf"]));
}

async fn addressbook_query_param_filter(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let work = r#"<CR:filter><CR:prop-filter name="EMAIL"><CR:param-filter name="TYPE"><CR:text-match match-type="equals">WORK</CR:text-match></CR:param-filter></CR:prop-filter></CR:filter>"#;
    assert_eq!(query(&c, work).await, hrefs(&["ada.vcf", "grace.vcf"]));
    let work_tel = work.replace("EMAIL", "TEL");
    assert_eq!(query(&c, &work_tel).await, hrefs(&["ada.vcf"]));
    let home = work.replace("WORK", "home");
    assert_eq!(query(&c, &home).await, hrefs(&["ada.vcf"]));
    let no_pref = r#"<CR:filter><CR:prop-filter name="EMAIL"><CR:param-filter name="PREF"><CR:is-not-defined/></CR:param-filter></CR:prop-filter></CR:filter>"#;
    assert_eq!(query(&c, no_pref).await, hrefs(&["ada.vcf", "grace.vcf"]));
}

async fn addressbook_query_unsupported_collation_is_refused(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let filter = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match collation="i;klingon">ada</CR:text-match></CR:prop-filter></CR:filter>"#;
    let r = c.report(&contacts(), "1", &addressbook_query("<D:getetag/>", filter, "")).await;
    r.assert_precondition(403, CARDDAV, "supported-collation");
    let octet = filter.replace("i;klingon", "i;octet");
    assert_eq!(query(&c, &octet).await, Vec::<String>::new(), "i;octet is case-sensitive");
    assert_eq!(query(&c, &octet.replace(">ada<", ">Ada<")).await, hrefs(&["ada.vcf"]));
}

async fn addressbook_query_limit_truncates_with_507(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let limit = "<CR:limit><CR:nresults>1</CR:nresults></CR:limit>";
    let r = c.report(&contacts(), "1", &addressbook_query("<D:getetag/>", "<CR:filter/>", limit)).await;
    let ms = r.multistatus();
    let members: Vec<_> = ms.responses.iter().filter(|m| m.href != contacts()).collect();
    assert_eq!(members.len(), 1, "{}", r.text);
    assert!(members[0].found(DAV, "getetag").is_some(), "{}", r.text);
    let truncated = ms.response(&contacts());
    assert_eq!(truncated.status, Some(507), "{}", r.text);
    let error = truncated.error.as_ref().map(|e| e.to_xml()).unwrap_or_default();
    assert!(error.contains("number-of-matches-within-limits"), "{}", r.text);
}

async fn addressbook_query_partial_address_data(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let props = r#"<D:getetag/><CR:address-data><CR:prop name="EMAIL"/></CR:address-data>"#;
    let filter = one("FN", "equals", "Ada Lovelace", false);
    let r = c.report(&contacts(), "1", &addressbook_query(props, &filter, "")).await;
    let data = address_data(&r, &contact("ada.vcf"));
    let names: Vec<String> = lines(&data)
        .iter()
        .filter_map(|l| l.split([':', ';']).next().map(|n| n.rsplit('.').next().unwrap_or(n).to_ascii_uppercase()))
        .collect();
    assert!(names.contains(&"EMAIL".to_string()), "{data}");
    assert_eq!(names.iter().filter(|n| *n == "EMAIL").count(), 2, "{data}");
    for required in ["BEGIN", "VERSION", "UID", "END"] {
        assert!(names.contains(&required.to_string()), "{required} in {data}");
    }
    for dropped in ["TEL", "NICKNAME", "N"] {
        assert!(!names.contains(&dropped.to_string()), "{dropped} should be left out: {data}");
    }
}

// ----- addressbook-multiget -----

async fn addressbook_multiget_reports_missing_members_as_404(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let missing = contact("nobody.vcf");
    let elsewhere = card("alice", "no-such-book", "x.vcf");
    let body = addressbook_multiget(
        "<D:getetag/><CR:address-data/>",
        &[&contact("ada.vcf"), &missing, &contact("grace.vcf"), &elsewhere],
    );
    let r = c.report(&contacts(), "1", &body).await;
    let ms = r.multistatus();
    assert_eq!(ms.response(&missing).status, Some(404), "{}", r.text);
    assert_eq!(ms.response(&elsewhere).status, Some(404), "{}", r.text);
    for name in ["ada.vcf", "grace.vcf"] {
        let m = ms.response(&contact(name));
        assert!(m.found(DAV, "getetag").is_some(), "{}", r.text);
        assert!(m.text(CARDDAV, "address-data").contains("BEGIN:VCARD"), "{}", r.text);
    }
    assert_eq!(ms.responses.len(), 4, "{}", r.text);
}

// ----- sync-collection -----

async fn sync_collection_on_an_address_book(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    people(&c).await;
    let r = c.card_sync(&contacts(), "").await;
    let ms = r.multistatus();
    assert_eq!(ms.sorted_hrefs(), hrefs(&["ada.vcf", "edsger.vcf", "grace.vcf"]), "{}", r.text);
    let token = ms.sync_token.clone().expect("sync-token");

    c.create_vcard(&contact("new.vcf"), &vcard4("new", "New Person", "")).await;
    assert_eq!(c.delete(&contact("edsger.vcf")).await.status, StatusCode::NO_CONTENT);
    let r = c.card_sync(&contacts(), &token).await;
    let ms = r.multistatus();
    assert_eq!(ms.sorted_hrefs(), hrefs(&["edsger.vcf", "new.vcf"]), "{}", r.text);
    assert_eq!(ms.response(&contact("edsger.vcf")).status, Some(404), "{}", r.text);
    assert!(ms.response(&contact("new.vcf")).found(DAV, "getetag").is_some(), "{}", r.text);
    let next = ms.sync_token.clone().expect("sync-token");
    assert_ne!(next, token);
    // Nothing changed since: an empty answer with the same token.
    let r = c.card_sync(&contacts(), &next).await;
    let ms = r.multistatus();
    assert!(ms.responses.is_empty(), "{}", r.text);
    assert_eq!(ms.sync_token.as_deref(), Some(next.as_str()));
    // Tokens the server did not hand out for this address book.
    for bad in ["urn:x-madang:sync:999999:1", "http://example.com/token/1", "garbage"] {
        c.card_sync(&contacts(), bad).await.assert_precondition(403, DAV, "valid-sync-token");
    }
}

// ----- Address-book collections -----

async fn extended_mkcol_proppatch_and_delete_of_an_address_book(db: &TestDb) {
    let app = alice(db).await;
    let c = Client::new(&app, "alice");
    let work = addressbook("alice", "work");
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol {CARD_NS}><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>Work</D:displayname><CR:addressbook-description>Colleagues</CR:addressbook-description></D:prop></D:set></D:mkcol>"#
    );
    let r = c.send("MKCOL", &work, &[("content-type", "application/xml")], body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = c.send("MKCOL", &work, &[("content-type", "application/xml")], body).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "MKCOL on an existing book: {}", r.text);

    let props = "<D:resourcetype/><D:displayname/><CR:addressbook-description/>";
    let ms = c.card_props(&work, "0", props).await.multistatus();
    let book = ms.response(&work);
    assert!(book.has_child(DAV, "resourcetype", CARDDAV, "addressbook"));
    assert_eq!(book.text(DAV, "displayname"), "Work");
    assert_eq!(book.text(CARDDAV, "addressbook-description"), "Colleagues");
    let home = c.card_props(&addressbook_home("alice"), "1", "<D:displayname/>").await.multistatus();
    assert_eq!(home.responses.len(), 4, "home, default, directory and work: {:?}", home.hrefs());

    let patch = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate {CARD_NS}><D:set><D:prop><D:displayname>Office</D:displayname><CR:addressbook-description>Everyone at work</CR:addressbook-description></D:prop></D:set></D:propertyupdate>"#
    );
    let r = c.proppatch(&work, &patch).await;
    let ms = r.multistatus();
    assert_eq!(ms.response(&work).status_of(DAV, "displayname"), Some(200), "{}", r.text);
    assert_eq!(ms.response(&work).status_of(CARDDAV, "addressbook-description"), Some(200), "{}", r.text);
    let ms = c.card_props(&work, "0", props).await.multistatus();
    assert_eq!(ms.response(&work).text(DAV, "displayname"), "Office");
    assert_eq!(ms.response(&work).text(CARDDAV, "addressbook-description"), "Everyone at work");
    // supported-address-data is protected.
    let protected = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate {CARD_NS}><D:set><D:prop><CR:supported-address-data/></D:prop></D:set></D:propertyupdate>"#
    );
    let r = c.proppatch(&work, &protected).await;
    assert_eq!(r.multistatus().response(&work).status_of(CARDDAV, "supported-address-data"), Some(403), "{}", r.text);

    // Cards live in it, and go with it.
    c.create_vcard(&card("alice", "work", "boss.vcf"), &vcard3("boss", "The Boss", "")).await;
    assert_eq!(c.delete(&work).await.status, StatusCode::NO_CONTENT);
    assert_eq!(c.card_props(&work, "0", props).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&card("alice", "work", "boss.vcf")).await.status, StatusCode::NOT_FOUND);
    // The UID is free again in another book.
    c.create_vcard(&contact("boss.vcf"), &vcard3("boss", "The Boss", "")).await;
}

// ----- Isolation -----

async fn another_user_can_neither_read_nor_change_alices_contacts(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    let alice = Client::new(&app, "alice");
    alice.create_vcard(&contact("secret.vcf"), &vcard3("secret", "Secret Agent", "EMAIL:agent@example.com")).await;
    Client::new(&app, "bob").create_vcard(&card("bob", "default", "mine.vcf"), &vcard3("bobs", "Bob's", "")).await;
    let before = snapshot(&alice).await;

    let bob = Client::new(&app, "bob");
    let book = contacts();
    let secret = contact("secret.vcf");
    let refused = |r: &Reply, what: &str| {
        assert!(
            r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
            "{what}: expected 403 or 404, got {} {}",
            r.status,
            r.text
        );
        assert!(!r.text.contains("Secret Agent") && !r.text.contains("agent@example.com"), "{what} leaked: {}", r.text);
    };
    refused(&bob.get(&secret).await, "GET card");
    refused(&bob.send("HEAD", &secret, &[], Body::empty()).await, "HEAD card");
    refused(&bob.card_props(&secret, "0", "<D:getetag/>").await, "PROPFIND card");
    refused(&bob.card_props(&book, "1", "<D:getetag/><CR:address-data/>").await, "PROPFIND book");
    refused(&bob.card_props(&addressbook_home("alice"), "1", "<D:displayname/>").await, "PROPFIND home");
    refused(&bob.put_vcard(&secret, &vcard3("secret", "Hijacked", "")).await, "PUT over card");
    refused(&bob.put_vcard(&contact("planted.vcf"), &vcard3("planted", "Planted", "")).await, "PUT new card");
    refused(&bob.delete(&secret).await, "DELETE card");
    refused(&bob.delete(&book).await, "DELETE book");
    let patch = format!(
        r#"<D:propertyupdate {CARD_NS}><D:set><D:prop><D:displayname>Bob's now</D:displayname></D:prop></D:set></D:propertyupdate>"#
    );
    refused(&bob.proppatch(&book, &patch).await, "PROPPATCH book");
    let mkcol = format!(
        r#"<D:mkcol {CARD_NS}><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"#
    );
    refused(
        &bob.send("MKCOL", &addressbook("alice", "bobs"), &[("content-type", "application/xml")], mkcol).await,
        "MKCOL in alice's home",
    );
    let q = addressbook_query("<CR:address-data/>", "<CR:filter/>", "");
    refused(&bob.report(&book, "1", &q).await, "addressbook-query");
    refused(&bob.card_sync(&book, "").await, "sync-collection");
    let mg = addressbook_multiget("<CR:address-data/>", &[&secret]);
    for target in [book.clone(), addressbook("bob", "default")] {
        let r = bob.report(&target, "1", &mg).await;
        if r.status == StatusCode::MULTI_STATUS {
            assert_eq!(r.multistatus().response(&secret).status, Some(404), "multiget via {target}: {}", r.text);
            assert!(!r.text.contains("Secret Agent"), "{}", r.text);
        } else {
            refused(&r, "addressbook-multiget");
        }
    }
    for method in ["COPY", "MOVE"] {
        let dest = format!("http://localhost{}", card("bob", "default", "stolen.vcf"));
        refused(&bob.send(method, &secret, &[("destination", &dest)], Body::empty()).await, method);
    }
    assert_eq!(bob.get(&card("bob", "default", "stolen.vcf")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&alice).await, before, "alice's address books changed");
}

/// Everything alice can see of her contacts, for before/after comparison.
async fn snapshot(alice: &Client<'_>) -> String {
    let r = alice.card_props(&addressbook_home("alice"), "1", "<D:displayname/><D:sync-token/>").await;
    let mut out = r.text.clone();
    for book in r.multistatus().sorted_hrefs() {
        if book == addressbook_home("alice") {
            continue;
        }
        let r = alice.card_props(&book, "1", "<D:getetag/><D:displayname/>").await;
        out.push_str(&r.text);
        for member in r.multistatus().sorted_hrefs() {
            if member != book {
                out.push_str(&alice.get(&member).await.text);
            }
        }
    }
    out
}

on_both_databases!(
    well_known_carddav_redirects_to_the_dav_root,
    principal_names_the_addressbook_home,
    home_lists_the_default_address_book,
    options_announces_addressbook,
    put_vcard_3_and_4_and_get_them_back_as_stored,
    get_without_accept_returns_the_stored_bytes_of_real_client_cards,
    get_with_accept_converts_between_versions,
    get_asking_only_for_an_unsupported_version_is_refused,
    rustical_265_davx5_vcard4_reaches_macos_contacts_as_3_0,
    nextcloud_contacts_213_groups_convert_between_apple_and_vcard4,
    vcard_2_1_with_quoted_printable_is_accepted,
    put_preconditions,
    put_larger_than_max_resource_size_is_refused,
    inline_photos_survive_conversion_both_ways,
    addressbook_query_text_matches,
    addressbook_query_anyof_and_allof,
    addressbook_query_param_filter,
    addressbook_query_unsupported_collation_is_refused,
    addressbook_query_limit_truncates_with_507,
    addressbook_query_partial_address_data,
    addressbook_multiget_reports_missing_members_as_404,
    sync_collection_on_an_address_book,
    extended_mkcol_proppatch_and_delete_of_an_address_book,
    another_user_can_neither_read_nor_change_alices_contacts,
);
