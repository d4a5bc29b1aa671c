//! A small CalDAV client for the integration tests: requests through the real
//! router, multistatus and precondition parsing, and iCalendar builders.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use madang_dav::xml::Element;
use tower::ServiceExt;

use super::TestApp;

pub const DAV: &str = madang_dav::names::DAV;
pub const CALDAV: &str = madang_dav::names::CALDAV;
pub const CS: &str = madang_dav::names::CALENDARSERVER;
pub const ICAL: &str = madang_dav::names::APPLE_ICAL;

/// The password every DAV test user has.
pub const PASSWORD: &str = "correct horse battery";

/// Namespace declarations for request bodies.
pub const NS: &str = r#"xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" xmlns:I="http://apple.com/ns/ical/""#;

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as XML; panics with the body when it is not.
    pub fn xml(&self) -> Element {
        match madang_dav::xml::parse_document(self.text.as_bytes()) {
            Ok(Some(e)) => e,
            other => panic!("expected an XML body ({other:?}), got {} {}", self.status, self.text),
        }
    }

    /// A 207's responses; panics unless the status is 207.
    pub fn multistatus(&self) -> Multistatus {
        assert_eq!(self.status, StatusCode::MULTI_STATUS, "expected 207, body: {}", self.text);
        Multistatus::parse(&self.xml())
    }

    /// Asserts the status and that the body is a `DAV:error` naming `{ns}local`.
    #[track_caller]
    pub fn assert_precondition(&self, status: u16, ns: &str, local: &str) -> Element {
        assert_eq!(self.status.as_u16(), status, "expected {status} with {local}, body: {}", self.text);
        let error = self.xml();
        assert!(error.is(DAV, "error"), "expected DAV:error, got {}", self.text);
        match error.child(ns, local) {
            Some(e) => e.clone(),
            None => panic!("expected precondition {{{ns}}}{local} in {}", self.text),
        }
    }
}

/// One `DAV:propstat`.
#[derive(Debug, Clone)]
pub struct Propstat {
    pub status: u16,
    pub props: Vec<Element>,
    pub error: Option<Element>,
}

/// One `DAV:response`.
#[derive(Debug, Clone)]
pub struct MsResponse {
    pub href: String,
    pub status: Option<u16>,
    pub propstats: Vec<Propstat>,
    pub error: Option<Element>,
}

impl MsResponse {
    /// The property and the status of the propstat it is in.
    pub fn prop(&self, ns: &str, local: &str) -> Option<(&Element, u16)> {
        self.propstats.iter().find_map(|ps| ps.props.iter().find(|p| p.is(ns, local)).map(|p| (p, ps.status)))
    }

    /// The property when it was found (200).
    pub fn found(&self, ns: &str, local: &str) -> Option<&Element> {
        self.prop(ns, local).filter(|(_, s)| *s == 200).map(|(e, _)| e)
    }

    /// The property's text; panics unless it was found.
    #[track_caller]
    pub fn text(&self, ns: &str, local: &str) -> String {
        match self.found(ns, local) {
            Some(e) => e.text(),
            None => panic!("{{{ns}}}{local} not found (200) for {}: {self:#?}", self.href),
        }
    }

    pub fn status_of(&self, ns: &str, local: &str) -> Option<u16> {
        self.prop(ns, local).map(|(_, s)| s)
    }

    /// The hrefs inside a found property.
    pub fn hrefs(&self, ns: &str, local: &str) -> Vec<String> {
        self.found(ns, local)
            .map(|e| e.children_named(DAV, "href").map(|h| h.text().trim().to_string()).collect())
            .unwrap_or_default()
    }

    /// The names of the child elements of a found property (resourcetype, …).
    pub fn child_names(&self, ns: &str, local: &str) -> Vec<(String, String)> {
        self.found(ns, local)
            .map(|e| e.elements().map(|c| (c.name.ns.to_string(), c.name.local.to_string())).collect())
            .unwrap_or_default()
    }

    pub fn has_child(&self, ns: &str, local: &str, child_ns: &str, child_local: &str) -> bool {
        self.child_names(ns, local).iter().any(|(n, l)| n == child_ns && l == child_local)
    }
}

/// A parsed `207 Multi-Status`.
#[derive(Debug, Clone)]
pub struct Multistatus {
    pub responses: Vec<MsResponse>,
    pub sync_token: Option<String>,
}

/// `HTTP/1.1 404 Not Found` → 404.
pub fn status_code(line: &str) -> u16 {
    line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"))
}

impl Multistatus {
    pub fn parse(root: &Element) -> Multistatus {
        assert!(root.is(DAV, "multistatus"), "not a multistatus: {}", root.to_xml());
        let responses = root
            .children_named(DAV, "response")
            .map(|r| MsResponse {
                href: r.child(DAV, "href").map(|h| h.text().trim().to_string()).unwrap_or_default(),
                status: r.child(DAV, "status").map(|s| status_code(&s.text())),
                propstats: r
                    .children_named(DAV, "propstat")
                    .map(|ps| Propstat {
                        status: ps.child(DAV, "status").map(|s| status_code(&s.text())).unwrap_or(0),
                        props: ps.child(DAV, "prop").map(|p| p.elements().cloned().collect()).unwrap_or_default(),
                        error: ps.child(DAV, "error").cloned(),
                    })
                    .collect(),
                error: r.child(DAV, "error").cloned(),
            })
            .collect();
        let sync_token = root.child(DAV, "sync-token").map(|t| t.text().trim().to_string());
        Multistatus { responses, sync_token }
    }

    pub fn get(&self, href: &str) -> Option<&MsResponse> {
        self.responses.iter().find(|r| r.href == href)
    }

    #[track_caller]
    pub fn response(&self, href: &str) -> &MsResponse {
        match self.get(href) {
            Some(r) => r,
            None => panic!("no response for {href} in {:#?}", self.hrefs()),
        }
    }

    pub fn hrefs(&self) -> Vec<&str> {
        self.responses.iter().map(|r| r.href.as_str()).collect()
    }

    /// The hrefs, sorted: for comparing sets.
    pub fn sorted_hrefs(&self) -> Vec<String> {
        let mut h: Vec<String> = self.responses.iter().map(|r| r.href.clone()).collect();
        h.sort();
        h
    }
}

/// A DAV client signed in as one user (or as nobody).
#[derive(Clone)]
pub struct Client<'a> {
    pub app: &'a TestApp,
    pub auth: Option<String>,
}

impl<'a> Client<'a> {
    pub fn new(app: &'a TestApp, user: &str) -> Client<'a> {
        Client { app, auth: Some(basic(user, PASSWORD)) }
    }

    pub fn anonymous(app: &'a TestApp) -> Client<'a> {
        Client { app, auth: None }
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path)
            .header(header::HOST, "localhost");
        if let Some(auth) = &self.auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let response = self.app.router().oneshot(req.body(body.into()).expect("request")).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn propfind(&self, path: &str, depth: &str, body: &str) -> Reply {
        let headers = [("depth", depth), ("content-type", "application/xml; charset=utf-8")];
        self.send("PROPFIND", path, &headers, body.to_string()).await
    }

    /// PROPFIND for `props` (inner XML of `D:prop`, prefixes from [`NS`]).
    pub async fn props(&self, path: &str, depth: &str, props: &str) -> Reply {
        self.propfind(path, depth, &propfind_body(props)).await
    }

    pub async fn proppatch(&self, path: &str, body: &str) -> Reply {
        self.send("PROPPATCH", path, &[("content-type", "application/xml")], body.to_string()).await
    }

    pub async fn report(&self, path: &str, depth: &str, body: &str) -> Reply {
        let headers = [("depth", depth), ("content-type", "application/xml; charset=utf-8")];
        self.send("REPORT", path, &headers, body.to_string()).await
    }

    pub async fn put(&self, path: &str, ics: &str) -> Reply {
        self.put_with(path, ics, &[]).await
    }

    pub async fn put_with(&self, path: &str, ics: &str, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![("content-type", "text/calendar; charset=utf-8")];
        headers.extend_from_slice(extra);
        self.send("PUT", path, &headers, ics.to_string()).await
    }

    /// PUT that must create; returns the ETag.
    pub async fn create(&self, path: &str, ics: &str) -> String {
        let r = self.put(path, ics).await;
        assert_eq!(r.status, StatusCode::CREATED, "PUT {path}: {}", r.text);
        r.header("etag").expect("ETag on PUT").to_string()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Body::empty()).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], Body::empty()).await
    }

    pub async fn mkcalendar(&self, path: &str, body: &str) -> Reply {
        self.send("MKCALENDAR", path, &[("content-type", "application/xml")], body.to_string()).await
    }

    /// `REPORT sync-collection` with `token` (empty for the initial sync),
    /// asking for getetag.
    pub async fn sync(&self, calendar: &str, token: &str, extra: &str) -> Reply {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection {NS}><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{extra}<D:prop><D:getetag/></D:prop></D:sync-collection>"#
        );
        self.report(calendar, "0", &body).await
    }

    /// The calendar's current `DAV:sync-token`.
    pub async fn sync_token(&self, calendar: &str) -> String {
        let r = self.props(calendar, "0", "<D:sync-token/>").await;
        r.multistatus().responses[0].text(DAV, "sync-token")
    }

    /// `CS:getctag` of a calendar.
    pub async fn ctag(&self, calendar: &str) -> String {
        let r = self.props(calendar, "0", "<CS:getctag/>").await;
        r.multistatus().responses[0].text(CS, "getctag")
    }

    /// calendar-query with a VCALENDAR filter body (`filter` is the inner
    /// XML of the VCALENDAR comp-filter); returns the sorted hrefs.
    pub async fn query_hrefs(&self, calendar: &str, filter: &str) -> Vec<String> {
        let r = self.report(calendar, "1", &calendar_query("<D:getetag/>", filter)).await;
        r.multistatus().sorted_hrefs()
    }
}

pub fn propfind_body(props: &str) -> String {
    format!(r#"<?xml version="1.0" encoding="utf-8"?><D:propfind {NS}><D:prop>{props}</D:prop></D:propfind>"#)
}

/// A calendar-query: `props` inside `D:prop`, `filter` inside the VCALENDAR comp-filter.
pub fn calendar_query(props: &str, filter: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query {NS}><D:prop>{props}</D:prop><C:filter><C:comp-filter name="VCALENDAR">{filter}</C:comp-filter></C:filter></C:calendar-query>"#
    )
}

/// A `VEVENT` time-range filter.
pub fn event_range(start: &str, end: &str) -> String {
    format!(r#"<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter>"#)
}

pub fn home(user: &str) -> String {
    format!("/dav/calendars/{user}/")
}

pub fn calendar(user: &str, cal: &str) -> String {
    format!("/dav/calendars/{user}/{cal}/")
}

pub fn object(user: &str, cal: &str, name: &str) -> String {
    format!("/dav/calendars/{user}/{cal}/{name}")
}

pub fn principal(user: &str) -> String {
    format!("/dav/principals/{user}/")
}

/// Wraps components in a VCALENDAR with CRLF line ends; `body` uses `\n`.
pub fn vcalendar(body: &str) -> String {
    let text = format!("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Madang tests//EN\n{}\nEND:VCALENDAR\n", body.trim());
    text.replace('\n', "\r\n")
}

/// A single timed event in UTC (`start`/`end` as `20240101T100000Z`).
pub fn event(uid: &str, start: &str, end: &str, summary: &str) -> String {
    vcalendar(&format!(
        "BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20240101T000000Z\nDTSTART:{start}\nDTEND:{end}\nSUMMARY:{summary}\nEND:VEVENT"
    ))
}

/// A to-do; `extra` holds its date lines.
pub fn todo(uid: &str, extra: &str, summary: &str) -> String {
    let extra = if extra.is_empty() { String::new() } else { format!("{}\n", extra.trim()) };
    vcalendar(&format!("BEGIN:VTODO\nUID:{uid}\nDTSTAMP:20240101T000000Z\n{extra}SUMMARY:{summary}\nEND:VTODO"))
}

/// A fixture from `fixtures/ical/`.
pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ical").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Adds the users the tests sign in as, all with [`PASSWORD`].
pub async fn users(app: &TestApp, names: &[&str]) {
    for name in names {
        app.add_user(name, PASSWORD).await;
    }
}

// ----- CardDAV (RFC 6352) -----

pub const CARDDAV: &str = madang_dav::names::CARDDAV;

/// Namespace declarations for CardDAV request bodies: `D:` is DAV, `CR:` is CardDAV.
pub const CARD_NS: &str =
    r#"xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/""#;

impl Client<'_> {
    /// PROPFIND for `props` (inner XML of `D:prop`, prefixes from [`CARD_NS`]).
    pub async fn card_props(&self, path: &str, depth: &str, props: &str) -> Reply {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:propfind {CARD_NS}><D:prop>{props}</D:prop></D:propfind>"#
        );
        self.propfind(path, depth, &body).await
    }

    /// PUT of a vCard with `Content-Type: text/vcard`.
    pub async fn put_vcard(&self, path: &str, vcf: &str) -> Reply {
        self.put_vcard_with(path, vcf, &[]).await
    }

    pub async fn put_vcard_with(&self, path: &str, vcf: &str, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![("content-type", "text/vcard; charset=utf-8")];
        headers.extend_from_slice(extra);
        self.send("PUT", path, &headers, vcf.to_string()).await
    }

    /// vCard PUT that must create; returns the ETag.
    pub async fn create_vcard(&self, path: &str, vcf: &str) -> String {
        let r = self.put_vcard(path, vcf).await;
        assert_eq!(r.status, StatusCode::CREATED, "PUT {path}: {}", r.text);
        r.header("etag").expect("ETag on PUT").to_string()
    }

    /// GET with an `Accept` header.
    pub async fn get_accept(&self, path: &str, accept: &str) -> Reply {
        self.send("GET", path, &[("accept", accept)], Body::empty()).await
    }

    /// `REPORT sync-collection` on an address book, asking for getetag.
    pub async fn card_sync(&self, book: &str, token: &str) -> Reply {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection {CARD_NS}><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#
        );
        self.report(book, "0", &body).await
    }
}

/// An addressbook-query: `props` inside `D:prop`, `filter` is the whole `CR:filter` element,
/// `tail` goes after it (a `CR:limit`).
pub fn addressbook_query(props: &str, filter: &str, tail: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query {CARD_NS}><D:prop>{props}</D:prop>{filter}{tail}</CR:addressbook-query>"#
    )
}

/// An addressbook-multiget of `hrefs`, with `props` inside `D:prop`.
pub fn addressbook_multiget(props: &str, hrefs: &[&str]) -> String {
    let hrefs: String = hrefs.iter().map(|h| format!("<D:href>{h}</D:href>")).collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><CR:addressbook-multiget {CARD_NS}><D:prop>{props}</D:prop>{hrefs}</CR:addressbook-multiget>"#
    )
}

pub fn addressbook_home(user: &str) -> String {
    format!("/dav/addressbooks/{user}/")
}

pub fn addressbook(user: &str, book: &str) -> String {
    format!("/dav/addressbooks/{user}/{book}/")
}

pub fn card(user: &str, book: &str, name: &str) -> String {
    format!("/dav/addressbooks/{user}/{book}/{name}")
}

/// A vCard 3.0 with CRLF line ends; `extra` holds more property lines (`\n`-separated).
pub fn vcard3(uid: &str, full_name: &str, extra: &str) -> String {
    vcard_of("3.0", uid, full_name, extra)
}

/// A vCard 4.0 with CRLF line ends; `extra` holds more property lines (`\n`-separated).
pub fn vcard4(uid: &str, full_name: &str, extra: &str) -> String {
    vcard_of("4.0", uid, full_name, extra)
}

fn vcard_of(version: &str, uid: &str, full_name: &str, extra: &str) -> String {
    let extra = if extra.trim().is_empty() { String::new() } else { format!("{}\n", extra.trim()) };
    format!("BEGIN:VCARD\nVERSION:{version}\nUID:{uid}\nFN:{full_name}\nN:{full_name};;;;\n{extra}END:VCARD\n")
        .replace('\n', "\r\n")
}

/// A fixture from `fixtures/vcard/`.
pub fn vcard_fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vcard").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
