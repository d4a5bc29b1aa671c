//! `XmlError`: why a request body was refused, short enough to show a client in a 400.

use crate::names::QName;
use crate::precondition::Precondition;

/// A request body Madang will not act on. The `Display` text is a short
/// human reason the server can put in the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The method needs a body and none was sent (PROPPATCH, REPORT).
    #[error("request body is empty")]
    Empty,
    #[error("request body is not UTF-8")]
    NotUtf8,
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// `<!DOCTYPE …>` is refused outright, so neither external entities (XXE)
    /// nor entity expansion ("billion laughs") can ever be reached. RFC 4918
    /// §20.6 allows this and names the `DAV:no-external-entities` condition.
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    #[error("unknown entity reference &{0};")]
    UnknownEntity(String),
    #[error("XML nested deeper than {0} elements")]
    TooDeep(usize),
    #[error("XML has more than {0} elements")]
    TooManyElements(usize),
    #[error("an XML element has more than {0} attributes")]
    TooManyAttributesOnElement(usize),
    #[error("XML has more than {0} attributes")]
    TooManyAttributes(usize),
    #[error("an XML element declares more than {0} namespaces")]
    TooManyNamespacesOnElement(usize),
    /// Declarations on an element and its ancestors: every name is looked up
    /// among them, so they bound the cost of each name.
    #[error("XML has more than {0} namespace declarations in scope at once")]
    TooManyNamespacesInScope(usize),
    #[error("XML declares more than {0} namespaces")]
    TooManyNamespaces(usize),
    /// A PROPFIND or REPORT naming, or a PROPPATCH, MKCOL or MKCALENDAR
    /// changing, more properties than [`crate::propfind::MAX_PROPERTIES`].
    #[error("the request names more than {0} properties")]
    TooManyProperties(usize),
    #[error("expected root element {expected}, found {found}")]
    UnexpectedRoot { expected: &'static str, found: QName },
    /// A required element or attribute is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An element or attribute has a value the RFC does not allow.
    #[error("invalid {what}: {value:?}")]
    Invalid { what: &'static str, value: String },
    /// A REPORT whose root element Madang does not implement; answered with
    /// 403 and `DAV:supported-report` (RFC 3253 §3.6).
    #[error("unsupported report {0}")]
    UnsupportedReport(QName),
    /// A `text-match` collation outside RFC 4791 §7.5.1's set; answered with
    /// `CALDAV:supported-collation`.
    #[error("unsupported collation {0:?}")]
    UnsupportedCollation(String),
    /// A CardDAV `text-match` collation Madang does not support (RFC 6352
    /// §8.3); answered with `CARDDAV:supported-collation`.
    #[error("unsupported collation {0:?}")]
    UnsupportedAddressCollation(String),
    /// An addressbook-query filter Madang cannot evaluate, such as an unknown
    /// `match-type` (RFC 6352 §10.5.4); answered with `CARDDAV:supported-filter`.
    #[error("unsupported filter: {0}")]
    UnsupportedAddressFilter(String),
    /// `CARDDAV:address-data` asking for a media type or vCard version Madang
    /// does not serve (RFC 6352 §10.4); answered with `CARDDAV:supported-address-data`.
    #[error("unsupported address data: {0}")]
    UnsupportedAddressData(String),
    /// A calendar-query filter that breaks RFC 4791 §9.7 (`CALDAV:valid-filter`).
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A time-range that is not "date with UTC time" (RFC 4791 §9.9).
    #[error("invalid time range: {0}")]
    InvalidTimeRange(String),
}

impl XmlError {
    /// The precondition to put in the `DAV:error` body, for errors that have one.
    pub fn precondition(&self) -> Option<Precondition> {
        match self {
            XmlError::Doctype | XmlError::UnknownEntity(_) => Some(Precondition::NoExternalEntities),
            XmlError::UnsupportedReport(_) => Some(Precondition::SupportedReport),
            XmlError::UnsupportedCollation(_) => Some(Precondition::SupportedCollation),
            XmlError::UnsupportedAddressCollation(_) => Some(Precondition::AddressSupportedCollation),
            XmlError::UnsupportedAddressFilter(_) => Some(Precondition::AddressSupportedFilter),
            XmlError::UnsupportedAddressData(_) => Some(Precondition::SupportedAddressData),
            XmlError::InvalidFilter(_) | XmlError::InvalidTimeRange(_) => Some(Precondition::ValidFilter),
            _ => None,
        }
    }

    /// 403 when a precondition names the failure, otherwise 400 (RFC 4918 §8.2:
    /// a body that does not follow the element definitions is a bad request).
    pub fn status(&self) -> u16 {
        match self.precondition() {
            Some(p) => p.status(),
            None => 400,
        }
    }
}

impl From<quick_xml::Error> for XmlError {
    fn from(e: quick_xml::Error) -> XmlError {
        XmlError::Malformed(e.to_string())
    }
}
