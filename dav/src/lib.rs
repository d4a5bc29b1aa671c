//! WebDAV, CalDAV and CardDAV for Madang: the protocol, and nothing else.
//!
//! This crate is the "parse" and "write" of Madang's parse → apply → write.
//! It turns request bodies and headers into typed values named after the
//! RFC elements (`PropFind`, `PropertyUpdate`, `Mkcol`, `Report` with
//! `CalendarQuery`, `SyncCollection`, …), and it writes what the server
//! decided: `207 Multi-Status` bodies through [`MultistatusWriter`] and RFC
//! preconditions as `<D:error>` through [`Precondition`]. The "apply" step —
//! looking things up, checking privileges, changing the store — lives in the
//! server, in `src/dav/`. This crate knows neither SQL nor the HTTP framework,
//! so it can be tested with nothing but byte strings.
//!
//! Three decisions shape it:
//!
//! * **A bounded tree first, then the grammar.** Bodies are read with
//!   quick-xml's namespace-aware reader into a small element tree
//!   ([`xml::Element`]); each method's parser then walks that tree. The
//!   reader enforces the safety rules for every method at once: DOCTYPE is
//!   refused (so neither XXE nor entity expansion is possible), nesting depth,
//!   elements, attributes and namespace declarations are capped so that the
//!   work stays linear in the body, and no input can panic.
//! * **Names are namespace + local name.** Clients choose arbitrary
//!   prefixes, so [`QName`] never holds one. Dead properties are stored as a
//!   self-contained serialization that declares its own namespaces
//!   ([`PropertyValue::xml`]) and are replayed verbatim.
//! * **Lenient where clients are sloppy, strict where the RFCs must hold.**
//!   Unknown elements are ignored (RFC 4918 §17), optional parts default the
//!   way real clients expect, but a time-range in local time or an unknown
//!   collation is an error with the precondition the RFC names.
//!
//! The calendar-query and addressbook-query filters and the calendar-data
//! request are parsed into `madang_ical::filter` types, which the ical crate
//! evaluates.

pub use madang_ical as ical;

pub mod error;
pub mod headers;
pub mod href;
pub mod mkcol;
pub mod multistatus;
pub mod names;
pub mod precondition;
pub mod propfind;
pub mod proppatch;
pub mod report;
pub mod xml;

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod testutil;

pub use error::XmlError;
pub use headers::{
    Depth, Destination, ETagList, EntityTag, HeaderError, VCardWanted, parse_overwrite, vcard_version_from_accept,
};
pub use mkcol::{Mkcol, MkcolKind};
pub use multistatus::{MultistatusWriter, PropValue, Propstat, Response, reason_phrase, status_line};
pub use names::QName;
pub use precondition::Precondition;
pub use propfind::PropFind;
pub use proppatch::{PropertyChange, PropertyUpdate, PropertyValue};
pub use report::{
    AddressData, AddressbookMultiget, AddressbookQuery, CalendarData, CalendarMultiget, CalendarQuery, ExpandItem,
    ExpandProperty, FreeBusyQuery, PrincipalPropertySearch, PropRequest, PropertySearch, Report, SearchTest,
    SyncCollection, SyncLevel,
};
pub use xml::{escape_attr, escape_text};
