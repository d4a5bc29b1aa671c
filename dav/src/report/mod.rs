//! REPORT request bodies, dispatched on the root element (RFC 3253 §3.6).
//!
//! Each report has its own type named after its root element; `Report::parse`
//! picks the type. An unknown root is not a syntax error but an unsupported
//! report, which the server answers with 403 and `DAV:supported-report`.

mod caldav;
mod carddav;
mod principal;
mod sync;

pub use caldav::{CalendarMultiget, CalendarQuery, FreeBusyQuery, parse_utc};
pub use carddav::{AddressbookMultiget, AddressbookQuery};
pub use principal::{ExpandItem, ExpandProperty, PrincipalPropertySearch, PropertySearch, SearchTest};
pub use sync::{SyncCollection, SyncLevel};

use crate::error::XmlError;
use crate::headers::VCardWanted;
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
    /// `CARDDAV:addressbook-multiget` (RFC 6352 §8.7).
    AddressbookMultiget(AddressbookMultiget),
    /// `CARDDAV:addressbook-query` (RFC 6352 §8.6).
    AddressbookQuery(AddressbookQuery),
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
        } else if name.is(CARDDAV, "addressbook-multiget") {
            Report::AddressbookMultiget(AddressbookMultiget::from_element(&root)?)
        } else if name.is(CARDDAV, "addressbook-query") {
            Report::AddressbookQuery(AddressbookQuery::from_element(&root)?)
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
///
/// ```text
/// <!ELEMENT address-data (allprop | prop*)>
/// <!ATTLIST address-data content-type CDATA "text/vcard" version CDATA "3.0">
/// ```
/// Parsing refuses a media type other than `text/vcard` and a version other
/// than 3.0 or 4.0 with `CARDDAV:supported-address-data`, so a parsed value
/// always names something Madang can produce.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressData {
    /// Defaults to `text/vcard` (RFC 6352 §10.4).
    pub content_type: Option<String>,
    /// Defaults to `3.0`; when present, `3.0` or `4.0`.
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
        let props = PropFind::from_parent(parent)?.unwrap_or(PropFind::AllProp { include: Vec::new() });
        let prop = parent.child(DAV, "prop");
        let calendar_data = match prop.and_then(|p| p.child(CALDAV, "calendar-data")) {
            Some(e) => Some(caldav::calendar_data(e)?),
            None => None,
        };
        let address_data = match prop.and_then(|p| p.child(CARDDAV, "address-data")) {
            Some(e) => Some(address_data(e)?),
            None => None,
        };
        Ok(PropRequest { props, calendar_data, address_data })
    }
}

impl AddressData {
    /// The vCard version to return: the `version` attribute, or 3.0, the
    /// DTD's default (RFC 6352 §10.4), when it is absent. A client that omits
    /// it (macOS Contacts does) is owed 3.0 even when the card is stored as 4.0.
    pub fn version_wanted(&self) -> VCardWanted {
        self.version.as_deref().and_then(VCardWanted::from_version).unwrap_or(VCardWanted::V3)
    }
}

fn address_data(e: &Element) -> Result<AddressData, XmlError> {
    if let Some(ct) = e.attr("content-type") {
        // Media types are case-insensitive; parameters (`charset=utf-8`) are ignored.
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("text/vcard") && !essence.eq_ignore_ascii_case("text/x-vcard") {
            return Err(XmlError::UnsupportedAddressData(format!("content-type={ct:?}")));
        }
    }
    if let Some(v) = e.attr("version")
        && VCardWanted::from_version(v).is_none()
    {
        return Err(XmlError::UnsupportedAddressData(format!("version={v:?}")));
    }
    let props = if e.child(CARDDAV, "allprop").is_some() {
        None
    } else {
        let names: Vec<String> = e
            .children_named(CARDDAV, "prop")
            .filter_map(|p| p.attr("name").map(str::trim).filter(|n| !n.is_empty()))
            .map(|n| n.to_ascii_uppercase())
            .collect();
        (!names.is_empty()).then_some(names)
    };
    Ok(AddressData {
        content_type: e.attr("content-type").map(str::to_owned),
        version: e.attr("version").map(str::to_owned),
        props,
    })
}

/// `<limit><nresults>N</nresults></limit>` in the namespace of the report
/// (`DAV:` for sync-collection, RFC 6578 §6.1; CardDAV for addressbook-query,
/// RFC 6352 §10.6). A missing `nresults` means no limit.
fn nresults(limit: Option<&Element>, ns: &str, what: &'static str) -> Result<Option<u32>, XmlError> {
    let Some(n) = limit.and_then(|l| l.child(ns, "nresults")) else { return Ok(None) };
    let text = n.text();
    let value = text.trim().parse::<u32>().map_err(|_| XmlError::Invalid { what, value: text.trim().to_owned() })?;
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::QName;

    #[test]
    fn unknown_report_names_its_root() {
        let err = Report::parse(br#"<D:version-tree xmlns:D="DAV:"/>"#).unwrap_err();
        assert_eq!(err, XmlError::UnsupportedReport(QName::dav("version-tree")));
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

    fn multiget_with(address_data: &str) -> Result<Option<AddressData>, XmlError> {
        let body = format!(
            r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/>{address_data}</D:prop><D:href>/a.vcf</D:href></CR:addressbook-multiget>"#
        );
        match Report::parse(body.as_bytes())? {
            Report::AddressbookMultiget(m) => Ok(m.props.address_data),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn address_data_forms() {
        let ad = multiget_with(
            r#"<CR:address-data content-type="text/vcard" version="4.0"><CR:prop name="EMAIL"/></CR:address-data>"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ad.content_type.as_deref(), Some("text/vcard"));
        assert_eq!(ad.version_wanted(), VCardWanted::V4);
        assert_eq!(ad.props, Some(vec!["EMAIL".to_owned()]));

        let ad = multiget_with(r#"<CR:address-data><CR:allprop/></CR:address-data>"#).unwrap().unwrap();
        assert_eq!(ad, AddressData::default());
        assert_eq!(ad.version_wanted(), VCardWanted::V3);
        // allprop wins over prop, and prop without a name is skipped.
        let ad = multiget_with(r#"<CR:address-data version="3.0"><CR:prop name="FN"/><CR:allprop/></CR:address-data>"#)
            .unwrap()
            .unwrap();
        assert_eq!((&ad.props, ad.version_wanted()), (&None, VCardWanted::V3));
        let ad = multiget_with(r#"<CR:address-data content-type="TEXT/VCARD; charset=utf-8"><CR:prop/><CR:prop name=" "/><CR:prop name=" n "/></CR:address-data>"#)
            .unwrap()
            .unwrap();
        assert_eq!(ad.props, Some(vec!["N".to_owned()]));
        assert_eq!(multiget_with("").unwrap(), None);

        for bad in [
            r#"<CR:address-data version="2.1"/>"#,
            r#"<CR:address-data content-type="application/vcard+json" version="4.0"/>"#,
            r#"<CR:address-data content-type="text/calendar"/>"#,
        ] {
            let err = multiget_with(bad).unwrap_err();
            assert!(matches!(err, XmlError::UnsupportedAddressData(_)), "{bad}: {err:?}");
            assert_eq!(err.precondition(), Some(crate::Precondition::SupportedAddressData));
            assert_eq!(err.status(), 403);
        }
    }
}
