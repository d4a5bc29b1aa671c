//! The JSON contacts API (`/api/v1/addressbooks`) through the real router: the contact model,
//! preservation of what it does not know, conditional writes, search, import and export, and
//! what CardDAV clients see of it, on both databases.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::api::{Json, assert_error, call, call_with};
use common::dav::{Client, DAV, users};
use common::{TestApp, TestDb};
use serde_json::{Value, json};

const BOOK: &str = "/api/v1/addressbooks/default";

async fn alice_and_bob(db: &TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    app
}

fn jane() -> Value {
    json!({
        "uid": "jane-1",
        "name": { "family": "Doe", "given": "Jane" },
        "nicknames": ["JJ"],
        "emails": [{ "value": "jane@example.com", "types": ["work"], "pref": true }],
        "phones": [{ "value": "+1 (555) 123-4567", "types": ["cell"] }],
        "addresses": [{ "types": ["home"], "street": "1 Main St", "locality": "Springfield", "country": "USA" }],
        "organization": "Acme",
        "title": "Engineer",
        "birthday": "1985-04-12",
        "notes": "Met at the conference",
        "urls": [{ "value": "https://jane.example.com/" }],
        "categories": ["Friends"],
        "photo": "data:image/png;base64,iVBORw0KGgo="
    })
}

/// The body with folded lines joined (RFC 6350 §3.2).
fn unfold(vcf: &str) -> String {
    vcf.replace("\r\n ", "").replace("\r\n\t", "")
}

async fn created_contact_is_served_by_carddav(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let r = call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(jane())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["uid"], "jane-1");
    assert_eq!(r.body["full_name"], "Jane Doe");
    assert_eq!(r.body["emails"][0], json!({ "value": "jane@example.com", "types": ["work"], "pref": true }));
    assert_eq!(r.body["birthday"], "1985-04-12");
    assert_eq!(r.body["dav_url"], "/dav/addressbooks/alice/default/jane-1.vcf");
    assert_eq!(r.etag.as_deref(), r.body["etag"].as_str());

    let dav = Client::new(&app, "alice").get("/dav/addressbooks/alice/default/jane-1.vcf").await;
    assert_eq!(dav.status, StatusCode::OK, "{}", dav.text);
    assert_eq!(dav.header("etag"), r.body["etag"].as_str(), "one ETag whichever door");
    let vcf = unfold(&dav.text);
    for line in ["VERSION:4.0", "UID:jane-1", "FN:Jane Doe", "N:Doe;Jane;;;", "TEL;TYPE=cell:+1 (555) 123-4567"] {
        assert!(vcf.contains(line), "{line} missing from {vcf}");
    }
    // The same contact, read back as JSON, equals what was written.
    let again = call(&app, "alice", "GET", &format!("{BOOK}/contacts/jane-1"), None).await;
    assert_eq!(again.body, r.body);
    // A second POST with the same UID is a conflict.
    let dup = call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(jane())).await;
    assert_error(&dup, StatusCode::CONFLICT, "conflict");
}

async fn carddav_card_is_readable_as_json_and_keeps_unknown_properties(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:apple-7\r\nFN:Kim Min-su\r\nN:Kim;Min-su;;;\r\n\
               item1.EMAIL;type=INTERNET;type=pref:minsu@example.kr\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n\
               TEL;type=CELL:010-1234-5678\r\nX-APPLE-OMIT-YEAR:1604\r\nX-ABShowAs:PERSON\r\n\
               BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-01\r\nEND:VCARD\r\n";
    let dav = Client::new(&app, "alice");
    let put = dav.send("PUT", "/dav/addressbooks/alice/default/Kim.vcf", &[("content-type", "text/vcard")], vcf).await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text);

    let r = call(&app, "alice", "GET", &format!("{BOOK}/contacts/apple-7"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["full_name"], "Kim Min-su");
    assert_eq!(r.body["emails"][0], json!({ "value": "minsu@example.kr", "types": [], "pref": true }));
    assert_eq!(r.body["phones"][0]["value"], "010-1234-5678");
    assert_eq!(r.body["phones"][0]["types"], json!(["cell"]));
    assert_eq!(r.body["dav_url"], "/dav/addressbooks/alice/default/Kim.vcf");

    // Edit the name only: everything the model does not know survives, in vCard 3.0.
    let mut edited = r.body.clone();
    edited["full_name"] = json!("Minsu Kim");
    let etag = r.etag.clone().unwrap();
    let r = call_with(&app, "alice", "PUT", &format!("{BOOK}/contacts/apple-7"), &[("if-match", &etag)], Some(edited))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["full_name"], "Minsu Kim");
    let vcf = unfold(&dav.get("/dav/addressbooks/alice/default/Kim.vcf").await.text);
    assert!(vcf.contains("VERSION:3.0"), "{vcf}");
    assert!(vcf.contains("FN:Minsu Kim"), "{vcf}");
    assert!(vcf.contains("X-APPLE-OMIT-YEAR:1604"), "{vcf}");
    assert!(vcf.to_ascii_uppercase().contains("X-ABSHOWAS:PERSON"), "{vcf}");
    assert!(vcf.contains("item1.EMAIL"), "{vcf}");
    assert!(vcf.to_ascii_uppercase().contains("ITEM1.X-ABLABEL:_$!<OTHER>!$_"), "{vcf}");
    // The resource kept its name, so the client's copy is updated, not duplicated.
    assert_eq!(call(&app, "alice", "GET", &format!("{BOOK}/contacts"), None).await.body["total"], 1);
}

async fn json_edits_appear_in_carddav_sync(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let token_of = |r: common::dav::Reply| r.multistatus().responses[0].text(DAV, "sync-token");
    let before = token_of(dav.props("/dav/addressbooks/alice/default/", "0", "<D:sync-token/>").await);
    call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(jane())).await;
    let sync = format!(
        r#"<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{before}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#
    );
    let r = dav.report("/dav/addressbooks/alice/default/", "0", &sync).await;
    let ms = r.multistatus();
    assert!(ms.hrefs().contains(&"/dav/addressbooks/alice/default/jane-1.vcf"), "{}", r.text);
}

async fn if_match_guards_put_and_delete(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let created = call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(jane())).await;
    let etag = created.etag.unwrap();
    let path = format!("{BOOK}/contacts/jane-1");
    let stale = [("if-match", "\"stale\"")];
    let r = call_with(&app, "alice", "PUT", &path, &stale, Some(json!({ "full_name": "X" }))).await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    // The stale write learns the current version, in the body and the ETag header.
    assert_eq!(r.body["details"]["current_etag"], json!(etag), "{}", r.text);
    assert_eq!(r.etag.as_deref(), Some(etag.as_str()));
    let r = call_with(&app, "alice", "DELETE", &path, &stale, None).await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    assert_eq!(r.body["details"]["current_etag"], json!(etag), "{}", r.text);
    let r = call_with(&app, "alice", "PUT", &path, &[("if-match", &etag)], Some(json!({ "full_name": "Jane" }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A full replacement: what was not sent is gone.
    assert_eq!(r.body["emails"], json!([]));
    let new_etag = r.etag.unwrap();
    assert_ne!(new_etag, etag);
    let r = call_with(&app, "alice", "DELETE", &path, &[("if-match", &new_etag)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_error(&call(&app, "alice", "GET", &path, None).await, StatusCode::NOT_FOUND, "not_found");
    // PUT to an unknown UID creates it.
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/contacts/new-2"), Some(json!({ "full_name": "New" }))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/contacts/new-2"), Some(json!({ "uid": "other" }))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn search_by_name_email_and_phone(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let people = [
        json!({ "uid": "a", "full_name": "Émilie Dubois", "emails": [{ "value": "emilie@example.fr" }] }),
        json!({ "uid": "b", "full_name": "Bob Marley", "phones": [{ "value": "+1 (555) 123-4567" }] }),
        json!({ "uid": "c", "full_name": "Zoë Gemilie", "organization": "Acme" }),
        json!({ "uid": "d", "full_name": "김민수", "emails": [{ "value": "minsu@example.kr" }] }),
    ];
    for p in people {
        let r = call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(p)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let uids = |r: &Json| -> Vec<String> {
        r.body["contacts"].as_array().unwrap().iter().map(|c| c["uid"].as_str().unwrap().to_string()).collect()
    };
    let search = |q: &str| format!("{BOOK}/contacts?q={q}");
    // Unicode case-insensitive; prefix matches rank before substring matches.
    assert_eq!(uids(&call(&app, "alice", "GET", &search("%C3%89MILIE"), None).await), ["a"]);
    assert_eq!(uids(&call(&app, "alice", "GET", &search("emilie"), None).await), ["a", "c"]);
    // Two substring matches, then by name.
    let mut both = uids(&call(&app, "alice", "GET", &search("milie"), None).await);
    both.sort();
    assert_eq!(both, ["a", "c"]);
    assert_eq!(uids(&call(&app, "alice", "GET", &search("%EB%AF%BC%EC%88%98"), None).await), ["d"]);
    assert_eq!(uids(&call(&app, "alice", "GET", &search("acme"), None).await), ["c"]);
    assert_eq!(uids(&call(&app, "alice", "GET", &search("example.kr"), None).await), ["d"]);
    // Phones by digits, whatever the punctuation.
    assert_eq!(uids(&call(&app, "alice", "GET", &search("555-123"), None).await), ["b"]);
    assert_eq!(uids(&call(&app, "alice", "GET", &search("15551234567"), None).await), ["b"]);
    assert!(uids(&call(&app, "alice", "GET", &search("nobody"), None).await).is_empty());
    // Limits: default 50, at most 500; `total` counts all matches.
    let r = call(&app, "alice", "GET", &format!("{BOOK}/contacts?limit=2"), None).await;
    assert_eq!(uids(&r).len(), 2);
    assert_eq!(r.body["total"], 4);
    let r = call(&app, "alice", "GET", &format!("{BOOK}/contacts?limit=100000"), None).await;
    assert_eq!(uids(&r).len(), 4);
    let r = call(&app, "alice", "GET", &format!("{BOOK}/contacts?limit=lots"), None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_query");
}

async fn import_splits_cards_and_reports_rejects(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let file = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:imp-1\r\nFN:One\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No UID\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:imp-2\r\nFN:Two\r\nEND:VCARD\r\n";
    let client = Client::new(&app, "alice");
    let r = client.send("POST", &format!("{BOOK}/import"), &[("content-type", "text/vcard")], file).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let report: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"][0]["index"], 1);
    assert!(report["rejected"][0]["reason"].as_str().unwrap().contains("UID"), "{report}");
    // Each card is its own CardDAV resource, stored as sent.
    let one = client.get("/dav/addressbooks/alice/default/imp-1.vcf").await;
    assert_eq!(one.text, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:imp-1\r\nFN:One\r\nEND:VCARD\r\n");
    let two = call(&app, "alice", "GET", &format!("{BOOK}/contacts/urn:uuid:imp-2"), None).await;
    assert_eq!(two.body["full_name"], "Two", "{}", two.text);
    // Importing again updates in place.
    let r = client.send("POST", &format!("{BOOK}/import"), &[("content-type", "text/vcard")], file).await;
    assert_eq!(serde_json::from_str::<Value>(&r.text).unwrap()["accepted"], 2);
    assert_eq!(call(&app, "alice", "GET", &format!("{BOOK}/contacts"), None).await.body["total"], 2);

    let export = client.send("GET", &format!("{BOOK}/export"), &[], Body::empty()).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.header("content-type").unwrap().starts_with("text/vcard"));
    let cards = madang_ical::split_cards(&export.text);
    assert_eq!(cards.len(), 2, "{}", export.text);
    let wrong = client.send("POST", &format!("{BOOK}/import"), &[("content-type", "application/json")], "{}").await;
    assert_eq!(wrong.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn bad_contacts_are_refused(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let path = format!("{BOOK}/contacts");
    for bad in [
        json!({ "emails": [{ "value": "not an address" }] }),
        json!({ "birthday": "April 12" }),
        json!({ "photo": "javascript:alert(1)" }),
        json!({ "phones": [{ "value": "call me" }] }),
        json!({ "emails": "jane@example.com" }),
    ] {
        let r = call(&app, "alice", "POST", &path, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.text);
        assert!(r.body["error"].is_string(), "{}", r.text);
    }
    let client = Client::new(&app, "alice");
    let r = client.send("POST", &path, &[("content-type", "application/json")], "{\"full_name\": ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

async fn users_reach_only_their_own_contacts(db: &TestDb) {
    let app = alice_and_bob(db).await;
    call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(jane())).await;
    let alices = "/api/v1/addressbooks/default/contacts/jane-1";
    // Bob has a book named `default` too, but not Alice's card in it.
    for (method, body) in [("GET", None), ("DELETE", None), ("PUT", Some(json!({ "full_name": "pwned" })))] {
        let r = call(&app, "bob", method, alices, body).await;
        if method == "PUT" {
            // PUT creates in Bob's own book; Alice's card is untouched.
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            assert_eq!(r.body["dav_url"], "/dav/addressbooks/bob/default/jane-1.vcf");
        } else {
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        }
    }
    assert_eq!(call(&app, "alice", "GET", alices, None).await.body["full_name"], "Jane Doe");
    // A book nobody has.
    let r = call(&app, "bob", "GET", "/api/v1/addressbooks/nope/contacts", None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let books = call(&app, "bob", "GET", "/api/v1/addressbooks", None).await;
    assert_eq!(books.body[0]["dav_url"], "/dav/addressbooks/bob/default/");
}

/// Lists page with opaque cursors: every contact exactly once, in order, and a
/// cursor this server never made is refused.
async fn search_pages_with_cursors(db: &TestDb) {
    let app = alice_and_bob(db).await;
    for i in 0..5 {
        let body = json!({ "uid": format!("p-{i}"), "full_name": format!("Pager {i}") });
        assert_eq!(
            call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(body)).await.status,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("{BOOK}/contacts?q=pager&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = call(&app, "alice", "GET", &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["total"], 5);
        for c in r.body["contacts"].as_array().unwrap() {
            seen.push(c["uid"].as_str().unwrap().to_string());
        }
        cursor = r.body["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    let r = call(&app, "alice", "GET", &format!("{BOOK}/contacts?cursor=not-ours"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

/// Apple's group (vCard 3.0, X-ADDRESSBOOKSERVER-*) with Jane in it.
const APPLE_GROUP: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//macOS 14.0//EN\r\nUID:family\r\n\
FN:Family\r\nN:Family;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n\
X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:jane\r\nEND:VCARD\r\n";

/// A vCard 4 group (DAVx5, Nextcloud) with Bob in it.
const V4_GROUP: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:team\r\nFN:Team\r\nKIND:group\r\n\
MEMBER:urn:uuid:bob\r\nEND:VCARD\r\n";

fn card(version: &str, uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:{version}\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
}

async fn groups_in_apple_and_vcard4_form(db: &TestDb) {
    let app = alice_and_bob(db).await;
    let dav = Client::new(&app, "alice");
    let root = "/dav/addressbooks/alice/default";
    dav.create_vcard(&format!("{root}/jane.vcf"), &card("3.0", "jane", "Jane")).await;
    dav.create_vcard(&format!("{root}/bob.vcf"), &card("4.0", "bob", "Bob")).await;
    dav.create_vcard(&format!("{root}/family.vcf"), APPLE_GROUP).await;
    dav.create_vcard(&format!("{root}/team.vcf"), V4_GROUP).await;

    let jane = call(&app, "alice", "GET", &format!("{BOOK}/contacts/jane"), None).await;
    assert_eq!(jane.body["kind"], "individual");
    assert_eq!(jane.body["groups"], json!([{ "uid": "family", "name": "Family" }]), "{}", jane.text);
    let groups = call(&app, "alice", "GET", &format!("{BOOK}/contacts?kind=group"), None).await;
    let uids: Vec<&str> =
        groups.body["contacts"].as_array().unwrap().iter().filter_map(|c| c["uid"].as_str()).collect();
    assert_eq!(uids, ["family", "team"], "{}", groups.text);
    assert_eq!(groups.body["contacts"][0]["members"], json!(["jane"]));
    let people = call(&app, "alice", "GET", &format!("{BOOK}/contacts?kind=individual"), None).await;
    assert_eq!(people.body["total"], 2, "{}", people.text);

    // Adding Bob to Apple's group keeps it Apple's: vCard 3.0 with X-ADDRESSBOOKSERVER-MEMBER.
    let family = call(&app, "alice", "GET", &format!("{BOOK}/contacts/family"), None).await;
    let etag = family.etag.unwrap_or_default();
    let path = format!("{BOOK}/groups/family/members/bob");
    let r = call_with(&app, "alice", "PUT", &path, &[("if-match", etag.as_str())], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["members"], json!(["jane", "bob"]));
    let stale = call_with(&app, "alice", "PUT", &path, &[("if-match", etag.as_str())], None).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let stored = dav.get(&format!("{root}/family.vcf")).await.text.replace("\r\n ", "");
    assert!(stored.contains("VERSION:3.0\r\n"), "{stored}");
    assert!(stored.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:bob"), "{stored}");
    assert!(stored.contains("X-ADDRESSBOOKSERVER-KIND:group"), "{stored}");
    assert!(!stored.contains("\nMEMBER:") && !stored.contains("\nKIND:"), "{stored}");
    let bob = call(&app, "alice", "GET", &format!("{BOOK}/contacts/bob"), None).await;
    let names: Vec<&str> = bob.body["groups"].as_array().unwrap().iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["Family", "Team"], "{}", bob.text);

    // Removing Bob from the vCard 4 group keeps it vCard 4.
    let r = call(&app, "alice", "DELETE", &format!("{BOOK}/groups/team/members/bob"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["members"], json!([]));
    let stored = dav.get(&format!("{root}/team.vcf")).await.text;
    assert!(stored.contains("VERSION:4.0") && stored.contains("KIND:group") && !stored.contains("MEMBER"), "{stored}");

    // A group made here is vCard 4; members are card UIDs.
    let new = json!({ "uid": "friends", "full_name": "Friends", "kind": "group", "members": ["jane", "bob"] });
    let r = call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(new)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let stored = dav.get(&format!("{root}/friends.vcf")).await.text;
    assert!(stored.contains("KIND:group") && stored.contains("MEMBER:urn:uuid:jane"), "{stored}");

    let r = call(&app, "alice", "PUT", &format!("{BOOK}/groups/jane/members/bob"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/groups/family/members/nobody"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/groups/family/members/family"), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

/// The bytes of a JPEG's first marker, base64: enough for a media type.
const JPEG: &str = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQ==";

async fn photos_keep_the_card_version(db: &TestDb) {
    let mut app = alice_and_bob(db).await;
    // Bodies as large as the server's default allows, so the photo limit is what answers.
    let settings = madang::app::HttpSettings { max_body_size: 16 << 20, ..(*app.state.settings).clone() };
    app.state.settings = std::sync::Arc::new(settings);
    let dav = Client::new(&app, "alice");
    let path = "/dav/addressbooks/alice/default/jane.vcf";
    dav.create_vcard(path, &card("3.0", "jane", "Jane")).await;
    let mut jane = call(&app, "alice", "GET", &format!("{BOOK}/contacts/jane"), None).await.body;
    jane["photo"] = json!(JPEG);
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/contacts/jane"), Some(jane.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["photo"], JPEG);
    // A 3.0 client gets 3.0 back, with the photo inline (RFC 2426 §3.1.4).
    let stored = dav.get(path).await.text.replace("\r\n ", "");
    assert!(stored.contains("VERSION:3.0\r\n"), "{stored}");
    let photo = stored.lines().find(|l| l.starts_with("PHOTO")).unwrap_or_default().to_ascii_uppercase();
    assert!(photo.contains("ENCODING=B") && photo.contains("TYPE=JPEG") && !photo.contains("DATA:"), "{stored}");
    // A 4.0 card keeps a data: URI (RFC 6350 §6.2.4).
    let new = json!({ "uid": "max", "full_name": "Max", "photo": JPEG });
    call(&app, "alice", "POST", &format!("{BOOK}/contacts"), Some(new)).await;
    let stored = dav.get("/dav/addressbooks/alice/default/max.vcf").await.text.replace("\r\n ", "");
    assert!(stored.contains(&format!("PHOTO:{JPEG}")), "{stored}");
    // Over the limit: refused, the stored card unchanged.
    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; 300 * 1024]);
    jane["photo"] = json!(format!("data:image/jpeg;base64,{big}"));
    let r = call(&app, "alice", "PUT", &format!("{BOOK}/contacts/jane"), Some(jane)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(r.body["message"].as_str().unwrap_or_default().contains("photo"), "{}", r.text);
}

on_both_databases!(
    groups_in_apple_and_vcard4_form,
    photos_keep_the_card_version,
    search_pages_with_cursors,
    created_contact_is_served_by_carddav,
    carddav_card_is_readable_as_json_and_keeps_unknown_properties,
    json_edits_appear_in_carddav_sync,
    if_match_guards_put_and_delete,
    search_by_name_email_and_phone,
    import_splits_cards_and_reports_rejects,
    bad_contacts_are_refused,
    users_reach_only_their_own_contacts,
);
