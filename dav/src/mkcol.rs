//! MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689) request bodies.

use crate::error::XmlError;
use crate::names::{CALDAV, DAV, QName};
use crate::proppatch::{PropertyValue, set_properties};
use crate::xml;

/// Which method's body this was; each method accepts only its own root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MkcolKind {
    /// `<C:mkcalendar><D:set><D:prop>…` (RFC 4791 §9.1).
    Mkcalendar,
    /// `<D:mkcol><D:set><D:prop>…` (RFC 5689 §5.1).
    Mkcol,
}

/// The properties to set on the new collection, in document order.
///
/// ```text
/// <!ELEMENT mkcalendar (DAV:set)>      (RFC 4791 §9.1)
/// <!ELEMENT mkcol (set+)>              (RFC 5689 §5.1)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mkcol {
    pub kind: MkcolKind,
    pub set: Vec<(QName, PropertyValue)>,
}

impl Mkcol {
    /// A MKCALENDAR body. Empty means "no initial properties" (RFC 4791 §5.3.1).
    pub fn parse_mkcalendar(body: &[u8]) -> Result<Mkcol, XmlError> {
        Mkcol::parse_as(body, MkcolKind::Mkcalendar)
    }

    /// A MKCOL body. Empty is a plain RFC 4918 MKCOL; a body makes it an
    /// extended MKCOL (RFC 5689 §3).
    pub fn parse_mkcol(body: &[u8]) -> Result<Mkcol, XmlError> {
        Mkcol::parse_as(body, MkcolKind::Mkcol)
    }

    fn parse_as(body: &[u8], kind: MkcolKind) -> Result<Mkcol, XmlError> {
        let Some(root) = xml::parse_document(body)? else {
            return Ok(Mkcol { kind, set: Vec::new() });
        };
        let (ns, local, expected) = match kind {
            MkcolKind::Mkcalendar => (CALDAV, "mkcalendar", "CALDAV:mkcalendar"),
            MkcolKind::Mkcol => (DAV, "mkcol", "DAV:mkcol"),
        };
        if !root.is(ns, local) {
            return Err(XmlError::UnexpectedRoot { expected, found: root.name });
        }
        Ok(Mkcol { kind, set: set_properties(&root)? })
    }

    /// The requested `DAV:resourcetype` children, if the body sets it (RFC 5689
    /// §3: an extended MKCOL says what kind of collection to make this way).
    pub fn resourcetype(&self) -> Option<Vec<QName>> {
        self.get(&QName::dav("resourcetype")).map(PropertyValue::child_names)
    }

    /// The value set for `name`, if any (the last one wins if set twice).
    pub fn get(&self, name: &QName) -> Option<&PropertyValue> {
        self.set.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4791_mkcalendar_example() {
        let m = Mkcol::parse_mkcalendar(include_bytes!("../testdata/requests/rfc4791-mkcalendar.xml")).unwrap();
        assert_eq!(m.kind, MkcolKind::Mkcalendar);
        let names: Vec<String> = m.set.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names,
            [
                "{DAV:}displayname",
                "{urn:ietf:params:xml:ns:caldav}calendar-description",
                "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set",
                "{urn:ietf:params:xml:ns:caldav}calendar-timezone",
            ]
        );
        assert_eq!(m.get(&QName::dav("displayname")).unwrap().text(), "Lisa's Events");
        let desc = m.get(&QName::caldav("calendar-description")).unwrap();
        assert_eq!(desc.element().attr_ns(crate::names::XML, "lang"), Some("en"));
        assert!(desc.xml().contains(r#"xml:lang="en""#));
        let comps = m.get(&QName::caldav("supported-calendar-component-set")).unwrap();
        assert_eq!(comps.comp_names(), ["VEVENT"]);
        assert!(m.get(&QName::caldav("calendar-timezone")).unwrap().text().contains("TZID:US-Eastern"));
        assert_eq!(m.resourcetype(), None);
    }

    #[test]
    fn rfc5689_extended_mkcol() {
        let body = br#"<?xml version="1.0" encoding="utf-8" ?>
<D:mkcol xmlns:D="DAV:" xmlns:E="urn:ietf:params:xml:ns:caldav">
  <D:set>
    <D:prop>
      <D:resourcetype><D:collection/><E:calendar/></D:resourcetype>
      <D:displayname>Special Resource</D:displayname>
    </D:prop>
  </D:set>
</D:mkcol>"#;
        let m = Mkcol::parse_mkcol(body).unwrap();
        assert_eq!(m.resourcetype(), Some(vec![QName::dav("collection"), QName::caldav("calendar")]));
        assert_eq!(m.get(&QName::dav("displayname")).unwrap().text(), "Special Resource");
    }

    #[test]
    fn empty_bodies_and_wrong_roots() {
        assert_eq!(Mkcol::parse_mkcalendar(b""), Ok(Mkcol { kind: MkcolKind::Mkcalendar, set: vec![] }));
        assert_eq!(Mkcol::parse_mkcol(b""), Ok(Mkcol { kind: MkcolKind::Mkcol, set: vec![] }));
        let mkcol = br#"<mkcol xmlns="DAV:"/>"#;
        assert!(matches!(Mkcol::parse_mkcalendar(mkcol), Err(XmlError::UnexpectedRoot { .. })));
    }
}
