//! REPORT request bodies, dispatched on the root element (RFC 3253 §3.6).
//!
//! Each report has its own type named after its root element; `Report::parse`
//! picks the type. An unknown root is not a syntax error but an unsupported
//! report, which the server answers with 403 and `DAV:supported-report`.

mod caldav;
mod principal;
mod sync;

pub use caldav::{CalendarMultiget, CalendarQuery, FreeBusyQuery, parse_utc};
pub use principal::{ExpandItem, ExpandProperty, PrincipalPropertySearch, PropertySearch, SearchTest};
pub use sync::{SyncCollection, SyncLevel};

use crate::error::XmlError;
use crate::ical::filter::CalendarDataRequest;
use crate::names::{CALDAV, CARDDAV, DAV};
use crate::propfind::PropFind;
use crate::xml::{self, Element};

/// A parsed REPORT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    CalendarMultiget(CalendarMultiget),
    CalendarQuery(CalendarQuery),
    FreeBusyQuery(FreeBusyQuery),
    SyncCollection(SyncCollection),
    ExpandProperty(ExpandProperty),
    PrincipalPropertySearch(PrincipalPropertySearch),
    /// `DAV:principal-search-property-set` (RFC 3744 §9.5): the body is an
    /// empty element; the answer lists the searchable properties.
    PrincipalSearchPropertySet,
}

impl Report {
    /// Parses a REPORT body; the body is mandatory (RFC 3253 §3.6).
    pub fn parse(body: &[u8]) -> Result<Report, XmlError> {
        let root = xml::parse_required(body)?;
        let name = &root.name;
        Ok(if name.is(CALDAV, "calendar-multiget") {
            Report::CalendarMultiget(CalendarMultiget::from_element(&root)?)
        } else if name.is(CALDAV, "calendar-query") {
            Report::CalendarQuery(CalendarQuery::from_element(&root)?)
        } else if name.is(CALDAV, "free-busy-query") {
            Report::FreeBusyQuery(FreeBusyQuery::from_element(&root)?)
        } else if name.is(DAV, "sync-collection") {
            Report::SyncCollection(SyncCollection::from_element(&root)?)
        } else if name.is(DAV, "expand-property") {
            Report::ExpandProperty(ExpandProperty::from_element(&root)?)
        } else if name.is(DAV, "principal-property-search") {
            Report::PrincipalPropertySearch(PrincipalPropertySearch::from_element(&root)?)
        } else if name.is(DAV, "principal-search-property-set") {
            Report::PrincipalSearchPropertySet
        } else {
            return Err(XmlError::UnsupportedReport(root.name));
        })
    }
}

/// The property part of a report: which properties, plus the parsed
/// `CALDAV:calendar-data` / `CARDDAV:address-data` request when one of them is
/// among the properties (RFC 4791 §9.6, RFC 6352 §10.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropRequest {
    pub props: PropFind,
    pub calendar_data: Option<CalendarData>,
    pub address_data: Option<AddressData>,
}

/// `CALDAV:calendar-data` as a request (RFC 4791 §9.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarData {
    pub request: CalendarDataRequest,
    /// The `content-type` attribute if sent; RFC 4791 §9.6 defaults it to `text/calendar`.
    pub content_type: Option<String>,
    /// The `version` attribute if sent; defaults to `2.0`.
    pub version: Option<String>,
}

/// `CARDDAV:address-data` as a request (RFC 6352 §10.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressData {
    /// Defaults to `text/vcard` (RFC 6352 §10.4).
    pub content_type: Option<String>,
    /// Defaults to `3.0`.
    pub version: Option<String>,
    /// `None` = every property (`CARDDAV:allprop` or no `prop`), else the
    /// upper-cased names of the `CARDDAV:prop` children.
    pub props: Option<Vec<String>>,
}

impl PropRequest {
    /// Reads the `prop`/`allprop`/`propname` child of a report element.
    /// Without one, the report returns all properties: the report DTDs make it
    /// optional (RFC 4791 §9.5, §9.10) and allprop is what PROPFIND does
    /// without a body.
    pub(crate) fn from_parent(parent: &Element) -> Result<PropRequest, XmlError> {
        let props = PropFind::from_parent(parent).unwrap_or(PropFind::AllProp { include: Vec::new() });
        let prop = parent.child(DAV, "prop");
        let calendar_data = match prop.and_then(|p| p.child(CALDAV, "calendar-data")) {
            Some(e) => Some(caldav::calendar_data(e)?),
            None => None,
        };
        let address_data = prop.and_then(|p| p.child(CARDDAV, "address-data")).map(address_data);
        Ok(PropRequest { props, calendar_data, address_data })
    }
}

fn address_data(e: &Element) -> AddressData {
    let props = if e.child(CARDDAV, "allprop").is_some() {
        None
    } else {
        let names: Vec<String> =
            e.children_named(CARDDAV, "prop").filter_map(|p| p.attr("name")).map(|n| n.to_ascii_uppercase()).collect();
        (!names.is_empty()).then_some(names)
    };
    AddressData {
        content_type: e.attr("content-type").map(str::to_owned),
        version: e.attr("version").map(str::to_owned),
        props,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::QName;

    #[test]
    fn unknown_report_names_its_root() {
        let err = Report::parse(br#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav"/>"#).unwrap_err();
        assert_eq!(err, XmlError::UnsupportedReport(QName::carddav("addressbook-query")));
        assert_eq!(err.status(), 403);
        assert_eq!(Report::parse(b""), Err(XmlError::Empty));
    }

    #[test]
    fn principal_search_property_set() {
        let body = br#"<?xml version="1.0" encoding="utf-8" ?><D:principal-search-property-set xmlns:D="DAV:"/>"#;
        assert_eq!(Report::parse(body), Ok(Report::PrincipalSearchPropertySet));
    }

    #[test]
    fn address_data_request_is_kept() {
        let body = br#"<D:sync-collection xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:sync-token/><D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/><CR:address-data content-type="text/vcard" version="4.0"><CR:prop name="fn"/></CR:address-data></D:prop>
</D:sync-collection>"#;
        let Report::SyncCollection(s) = Report::parse(body).unwrap() else { panic!() };
        let ad = s.props.address_data.unwrap();
        assert_eq!(ad.version.as_deref(), Some("4.0"));
        assert_eq!(ad.props, Some(vec!["FN".to_owned()]));
    }
}
