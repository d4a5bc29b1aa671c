//! Writing `207 Multi-Status` bodies (RFC 4918 §13, §14.16) incrementally.
//!
//! The writer appends each response to one `String` as it is pushed, so a
//! sync of 10,000 objects never holds 10,000 `Response` values at once. The
//! common namespaces are declared once on the root with fixed prefixes (`D`,
//! `C`, `CR`, `CS`, `ICAL`); any other namespace is declared on the element
//! that uses it. Hrefs arrive already percent-encoded from the server; this
//! module escapes XML and nothing else.

use crate::names::{self, QName};
use crate::precondition::Precondition;
use crate::xml::{escape_attr, escape_text};

/// The value written for one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// `<P/>`: a property with no value, also used in 404/403 propstats and propname.
    Empty,
    /// Character data, escaped.
    Text(String),
    /// `<P><D:href>…</D:href></P>` (`current-user-principal`, `calendar-home-set`, …).
    Href(String),
    /// Several hrefs (`calendar-user-address-set`, `group-member-set`, …).
    Hrefs(Vec<String>),
    /// Empty child elements: `resourcetype` as `<D:collection/><C:calendar/>`.
    Children(Vec<QName>),
    /// `supported-report-set` (RFC 3253 §3.1.5): each name in `D:supported-report/D:report`.
    SupportedReports(Vec<QName>),
    /// `current-user-privilege-set` (RFC 3744 §5.4): each name in `D:privilege`.
    Privileges(Vec<QName>),
    /// `supported-calendar-component-set` (RFC 4791 §5.2.3): `<C:comp name="VEVENT"/>`.
    Comps(Vec<String>),
    /// `supported-calendar-data` (RFC 4791 §5.2.4): (content-type, version) pairs
    /// as `<C:calendar-data content-type="text/calendar" version="2.0"/>`.
    SupportedCalendarData(Vec<(String, String)>),
    /// `supported-address-data` (RFC 6352 §6.2.2): (content-type, version) pairs
    /// as `<CR:address-data-type content-type="text/vcard" version="3.0"/>`.
    SupportedAddressData(Vec<(String, String)>),
    /// A stored dead property (`PropertyValue::xml`): the *whole* property
    /// element, written verbatim in place of `<P>…</P>`.
    Raw(String),
    /// An inner XML fragment written verbatim between `<P>` and `</P>`. It may
    /// use the root's prefixes `D`, `C`, `CR`, `CS`, `ICAL`.
    Xml(String),
    /// Nested responses, as `DAV:expand-property` returns them (RFC 3253 §3.8).
    Responses(Vec<Response>),
}

/// `<!ELEMENT propstat (prop, status, error?, responsedescription?)>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propstat {
    pub status: u16,
    pub props: Vec<(QName, PropValue)>,
    pub error: Option<Precondition>,
    pub description: Option<String>,
}

impl Propstat {
    pub fn new(status: u16, props: Vec<(QName, PropValue)>) -> Propstat {
        Propstat { status, props, error: None, description: None }
    }
}

/// `<!ELEMENT response (href, ((href*, status)|(propstat+)), error?, responsedescription?)>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub href: String,
    /// A status for the whole resource (e.g. 404 for a multiget href, or a
    /// member removed since the last sync, RFC 6578 §3.5.2). When set,
    /// `propstats` is not written.
    pub status: Option<u16>,
    pub propstats: Vec<Propstat>,
    pub error: Option<Precondition>,
    pub description: Option<String>,
}

impl Response {
    /// A response with per-property results.
    pub fn new(href: impl Into<String>, propstats: Vec<Propstat>) -> Response {
        Response { href: href.into(), status: None, propstats, error: None, description: None }
    }

    /// A response with one status for the whole resource.
    pub fn status(href: impl Into<String>, status: u16) -> Response {
        Response { href: href.into(), status: Some(status), propstats: Vec::new(), error: None, description: None }
    }

    /// The usual PROPFIND shape: found properties under 200, the ones the
    /// resource does not have as empty elements under 404 (RFC 4918 §9.1).
    pub fn found_and_missing(href: impl Into<String>, found: Vec<(QName, PropValue)>, missing: Vec<QName>) -> Response {
        let mut propstats = Vec::new();
        if !found.is_empty() || missing.is_empty() {
            propstats.push(Propstat::new(200, found));
        }
        if !missing.is_empty() {
            propstats.push(Propstat::new(404, missing.into_iter().map(|n| (n, PropValue::Empty)).collect()));
        }
        Response::new(href, propstats)
    }
}

/// The reason phrase for the statuses DAV responses use.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        207 => "Multi-Status",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// `HTTP/1.1 207 Multi-Status`, the form `DAV:status` takes (RFC 4918 §14.28).
pub fn status_line(status: u16) -> String {
    format!("HTTP/1.1 {status} {}", reason_phrase(status))
}

/// Builds a multistatus body one response at a time.
#[derive(Debug)]
pub struct MultistatusWriter {
    out: String,
    responses: usize,
}

impl Default for MultistatusWriter {
    fn default() -> Self {
        MultistatusWriter::new()
    }
}

impl MultistatusWriter {
    pub fn new() -> MultistatusWriter {
        MultistatusWriter::with_capacity(4096)
    }

    /// Reserves `bytes` up front, for callers that can estimate the size.
    pub fn with_capacity(bytes: usize) -> MultistatusWriter {
        let mut out = String::with_capacity(bytes);
        out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        out.push_str("\n<D:multistatus");
        for (ns, prefix) in names::FIXED_PREFIXES {
            out.push_str(&format!(" xmlns:{prefix}=\"{ns}\""));
        }
        out.push_str(">\n");
        MultistatusWriter { out, responses: 0 }
    }

    pub fn push(&mut self, response: &Response) {
        write_response(&mut self.out, response);
        self.out.push('\n');
        self.responses += 1;
    }

    /// The size of the body written so far, in bytes.
    pub fn len_bytes(&self) -> usize {
        self.out.len()
    }

    /// How many responses have been pushed.
    pub fn len(&self) -> usize {
        self.responses
    }

    pub fn is_empty(&self) -> bool {
        self.responses == 0
    }

    /// Bytes written so far, for callers that cap response sizes.
    pub fn bytes(&self) -> usize {
        self.out.len()
    }

    /// Closes the document. `sync_token` is written as `DAV:sync-token` after
    /// the responses, as a sync-collection report requires (RFC 6578 §6.2).
    pub fn finish(mut self, sync_token: Option<&str>) -> String {
        if let Some(token) = sync_token {
            self.out.push_str("<D:sync-token>");
            self.out.push_str(&escape_text(token));
            self.out.push_str("</D:sync-token>\n");
        }
        self.out.push_str("</D:multistatus>\n");
        self.out
    }
}

fn write_response(out: &mut String, r: &Response) {
    out.push_str("<D:response><D:href>");
    out.push_str(&escape_text(&r.href));
    out.push_str("</D:href>");
    match r.status {
        Some(status) => write_status(out, status),
        None => {
            for ps in &r.propstats {
                write_propstat(out, ps);
            }
        }
    }
    write_error(out, r.error.as_ref());
    write_description(out, r.description.as_deref());
    out.push_str("</D:response>");
}

fn write_propstat(out: &mut String, ps: &Propstat) {
    out.push_str("<D:propstat><D:prop>");
    for (name, value) in &ps.props {
        write_property(out, name, value);
    }
    out.push_str("</D:prop>");
    write_status(out, ps.status);
    write_error(out, ps.error.as_ref());
    write_description(out, ps.description.as_deref());
    out.push_str("</D:propstat>");
}

fn write_status(out: &mut String, status: u16) {
    out.push_str("<D:status>");
    out.push_str(&status_line(status));
    out.push_str("</D:status>");
}

fn write_error(out: &mut String, error: Option<&Precondition>) {
    if let Some(p) = error {
        out.push_str("<D:error>");
        p.write_condition(out);
        out.push_str("</D:error>");
    }
}

fn write_description(out: &mut String, description: Option<&str>) {
    if let Some(d) = description {
        out.push_str("<D:responsedescription>");
        out.push_str(&escape_text(d));
        out.push_str("</D:responsedescription>");
    }
}

/// The opening tag's name and, for namespaces without a fixed prefix, the
/// declaration to put on the element itself.
fn tag_of(name: &QName) -> (String, String) {
    if name.ns.is_empty() {
        return (name.local.to_string(), String::new());
    }
    // The XML namespace is bound to `xml` and to no other prefix (Namespaces in XML §3); a
    // declaration of `X` for it made the 207 ill-formed (fuzz finding F1). The declaration of
    // `xml` itself is optional there, but strict parsers (roxmltree) want it on element names.
    if name.ns == names::XML {
        return (format!("xml:{}", name.local), format!(" xmlns:xml=\"{}\"", names::XML));
    }
    match names::fixed_prefix(&name.ns) {
        Some(p) => (format!("{p}:{}", name.local), String::new()),
        None => (format!("X:{}", name.local), format!(" xmlns:X=\"{}\"", escape_attr(&name.ns))),
    }
}

/// `<name/>` with whatever namespace declaration it needs.
pub(crate) fn write_empty_element(out: &mut String, name: &QName) {
    let (tag, decl) = tag_of(name);
    out.push('<');
    out.push_str(&tag);
    out.push_str(&decl);
    out.push_str("/>");
}

fn write_property(out: &mut String, name: &QName, value: &PropValue) {
    match value {
        PropValue::Raw(xml) => {
            out.push_str(xml);
            return;
        }
        PropValue::Empty => {
            write_empty_element(out, name);
            return;
        }
        PropValue::Text(t) if t.is_empty() => {
            write_empty_element(out, name);
            return;
        }
        _ => {}
    }
    let (tag, decl) = tag_of(name);
    out.push('<');
    out.push_str(&tag);
    out.push_str(&decl);
    out.push('>');
    match value {
        PropValue::Empty | PropValue::Raw(_) => {}
        PropValue::Text(t) => out.push_str(&escape_text(t)),
        PropValue::Href(h) => write_href(out, h),
        PropValue::Hrefs(hs) => hs.iter().for_each(|h| write_href(out, h)),
        PropValue::Children(names) => names.iter().for_each(|n| write_empty_element(out, n)),
        PropValue::SupportedReports(reports) => {
            for r in reports {
                out.push_str("<D:supported-report><D:report>");
                write_empty_element(out, r);
                out.push_str("</D:report></D:supported-report>");
            }
        }
        PropValue::Privileges(privileges) => {
            for p in privileges {
                out.push_str("<D:privilege>");
                write_empty_element(out, p);
                out.push_str("</D:privilege>");
            }
        }
        PropValue::Comps(comps) => {
            for c in comps {
                out.push_str(&format!(r#"<C:comp name="{}"/>"#, escape_attr(c)));
            }
        }
        PropValue::SupportedCalendarData(types) => write_data_types(out, &QName::caldav("calendar-data"), types),
        PropValue::SupportedAddressData(types) => write_data_types(out, &QName::carddav("address-data-type"), types),
        PropValue::Xml(fragment) => out.push_str(fragment),
        PropValue::Responses(responses) => responses.iter().for_each(|r| write_response(out, r)),
    }
    out.push_str("</");
    out.push_str(&tag);
    out.push('>');
}

fn write_href(out: &mut String, href: &str) {
    out.push_str("<D:href>");
    out.push_str(&escape_text(href));
    out.push_str("</D:href>");
}

fn write_data_types(out: &mut String, element: &QName, types: &[(String, String)]) {
    let (tag, _) = tag_of(element);
    for (content_type, version) in types {
        out.push_str(&format!(
            r#"<{tag} content-type="{}" version="{}"/>"#,
            escape_attr(content_type),
            escape_attr(version)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proppatch::{PropertyChange, PropertyUpdate};
    use crate::testutil::golden;

    /// See: fuzz finding F1 (issue 19) — `<xml:foo/>` came back as `<X:foo xmlns:X="…/XML/1998/namespace"/>`.
    /// The parser now refuses such properties; the writer still never binds another prefix to it.
    #[test]
    fn properties_in_the_xml_namespace_keep_the_xml_prefix_fuzz_f1() {
        let body =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/findings/F1-property-in-xml-namespace.xml"))
                .unwrap();
        assert!(crate::xml::parse_document(&body).is_err());
        let mut one = String::new();
        write_empty_element(&mut one, &QName::new(names::XML.to_string(), "foo".to_string()));
        assert_eq!(one, r#"<xml:foo xmlns:xml="http://www.w3.org/XML/1998/namespace"/>"#);
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(207), "HTTP/1.1 207 Multi-Status");
        assert_eq!(status_line(404), "HTTP/1.1 404 Not Found");
        assert_eq!(status_line(424), "HTTP/1.1 424 Failed Dependency");
        assert_eq!(status_line(507), "HTTP/1.1 507 Insufficient Storage");
    }

    #[test]
    fn propfind_on_a_calendar() {
        let stored = match &PropertyUpdate::parse(
            br#"<propertyupdate xmlns="DAV:"><set><prop><z:color xmlns:z="urn:other" x="1">red</z:color></prop></set></propertyupdate>"#,
        )
        .unwrap()
        .changes[0]
        {
            PropertyChange::Set(_, v) => v.xml().to_owned(),
            PropertyChange::Remove(_) => unreachable!(),
        };
        let mut w = MultistatusWriter::new();
        w.push(&Response::found_and_missing(
            "/dav/calendars/alice/work/",
            vec![
                (
                    QName::dav("resourcetype"),
                    PropValue::Children(vec![QName::dav("collection"), QName::caldav("calendar")]),
                ),
                (QName::dav("displayname"), PropValue::Text("Work & <Play>".into())),
                (QName::dav("owner"), PropValue::Href("/dav/principals/alice/".into())),
                (QName::calendarserver("getctag"), PropValue::Text("\"42\"".into())),
                (QName::apple_ical("calendar-color"), PropValue::Text("#FF2968FF".into())),
                (
                    QName::caldav("supported-calendar-component-set"),
                    PropValue::Comps(vec!["VEVENT".into(), "VTODO".into()]),
                ),
                (
                    QName::caldav("supported-calendar-data"),
                    PropValue::SupportedCalendarData(vec![("text/calendar".into(), "2.0".into())]),
                ),
                (
                    QName::dav("supported-report-set"),
                    PropValue::SupportedReports(vec![
                        QName::caldav("calendar-multiget"),
                        QName::dav("sync-collection"),
                    ]),
                ),
                (
                    QName::dav("current-user-privilege-set"),
                    PropValue::Privileges(vec![QName::dav("read"), QName::dav("write")]),
                ),
                (QName::new("urn:other", "color"), PropValue::Raw(stored)),
                (QName::dav("sync-token"), PropValue::Text("https://madang.example/sync/42".into())),
            ],
            vec![QName::new("urn:unknown", "thing"), QName::new("", "bare")],
        ));
        w.push(&Response::status("/dav/calendars/alice/work/gone%20away.ics", 404));
        assert_eq!(w.len(), 2);
        let xml = w.finish(None);
        crate::xml::parse_document(xml.as_bytes()).unwrap();
        golden("multistatus-propfind.xml", &xml);
    }

    #[test]
    fn sync_collection_and_expand_property() {
        let mut w = MultistatusWriter::default();
        assert!(w.is_empty());
        w.push(&Response::new(
            "/dav/calendars/alice/work/a.ics",
            vec![Propstat::new(200, vec![(QName::dav("getetag"), PropValue::Text("\"abc\"".into()))])],
        ));
        w.push(&Response::status("/dav/calendars/alice/work/deleted.ics", 404));
        let mut proppatch = Response::new(
            "/dav/calendars/alice/work/",
            vec![Propstat {
                status: 403,
                props: vec![(QName::dav("getetag"), PropValue::Empty)],
                error: Some(Precondition::CannotModifyProtectedProperty),
                description: Some("getetag is computed by the server".into()),
            }],
        );
        proppatch.propstats.push(Propstat::new(424, vec![(QName::dav("displayname"), PropValue::Empty)]));
        w.push(&proppatch);
        w.push(&Response::new(
            "/dav/principals/alice/",
            vec![Propstat::new(
                200,
                vec![(
                    QName::calendarserver("calendar-proxy-read-for"),
                    PropValue::Responses(vec![Response::found_and_missing(
                        "/dav/principals/bob/",
                        vec![(QName::dav("displayname"), PropValue::Text("Bob".into()))],
                        vec![QName::caldav("calendar-user-address-set")],
                    )]),
                )],
            )],
        ));
        let mut uid = Response::status("/dav/calendars/alice/work/b.ics", 409);
        uid.error = Some(Precondition::NoUidConflict("/dav/calendars/alice/work/c.ics".into()));
        w.push(&uid);
        let xml = w.finish(Some("https://madang.example/sync/43"));
        crate::xml::parse_document(xml.as_bytes()).unwrap();
        golden("multistatus-sync.xml", &xml);
    }

    #[test]
    fn ten_thousand_responses_stream_into_one_buffer() {
        let mut w = MultistatusWriter::new();
        for i in 0..10_000 {
            w.push(&Response::new(
                format!("/dav/calendars/alice/work/{i}.ics"),
                vec![Propstat::new(200, vec![(QName::dav("getetag"), PropValue::Text(format!("\"{i}\"")))])],
            ));
        }
        assert_eq!(w.len(), 10_000);
        let xml = w.finish(Some("t"));
        assert!(xml.ends_with("<D:sync-token>t</D:sync-token>\n</D:multistatus>\n"));
        assert_eq!(crate::xml::parse_document(xml.as_bytes()).unwrap().unwrap().elements().count(), 10_001);
    }
}
