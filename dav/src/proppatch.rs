//! PROPPATCH request bodies (RFC 4918 §9.2, §14.19) and `PropertyValue`, the
//! client-sent property element that PROPPATCH, MKCALENDAR and MKCOL share.

use crate::error::XmlError;
use crate::names::{CALDAV, DAV, QName};
use crate::propfind::MAX_PROPERTIES;
use crate::xml::{self, Element};

/// One property element exactly as the client sent it.
///
/// Live properties read `text()` or `child_names()`; dead properties are
/// stored as `xml()` and written back verbatim, which RFC 4918 §4.3 asks for
/// ("the server MUST preserve … the element names, attributes, and values").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyValue {
    element: Element,
    xml: String,
}

impl PropertyValue {
    pub fn new(element: Element) -> PropertyValue {
        let xml = element.to_xml();
        PropertyValue { element, xml }
    }

    pub fn name(&self) -> &QName {
        &self.element.name
    }

    /// The parsed element, for anything the helpers below do not cover.
    pub fn element(&self) -> &Element {
        &self.element
    }

    /// The whole property element, self-contained (every namespace declared on
    /// it), ready to store and to replay as `PropValue::Raw`.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// All character data inside the element, untouched: a `displayname` of
    /// `" Work "` keeps its spaces, a `calendar-timezone` its line breaks.
    pub fn text(&self) -> String {
        self.element.text()
    }

    /// The character data with surrounding whitespace removed, for values
    /// where pretty-printing clients add indentation (colors, orders, URLs).
    pub fn text_trimmed(&self) -> String {
        self.element.text().trim().to_owned()
    }

    /// Names of the child elements, e.g. `resourcetype`'s `collection` and `calendar`.
    pub fn child_names(&self) -> Vec<QName> {
        self.element.elements().map(|e| e.name.clone()).collect()
    }

    /// The child elements themselves, with their attributes.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.element.elements()
    }

    /// An attribute of the property element (in no namespace).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.element.attr(local)
    }

    /// The `name` of every `<C:comp name="…"/>` child, upper-cased, as in
    /// `supported-calendar-component-set` (RFC 4791 §5.2.3).
    pub fn comp_names(&self) -> Vec<String> {
        self.element
            .children_named(CALDAV, "comp")
            .filter_map(|c| c.attr("name"))
            .map(|n| n.trim().to_ascii_uppercase())
            .collect()
    }

    /// Whether the element has neither text nor children (`<D:displayname/>`).
    pub fn is_empty(&self) -> bool {
        self.element.children.is_empty()
    }
}

/// One instruction of a PROPPATCH, in document order: RFC 4918 §9.2 requires
/// the instructions to be applied in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyChange {
    Set(QName, PropertyValue),
    Remove(QName),
}

/// ```text
/// <!ELEMENT propertyupdate (remove | set)+ >
/// <!ELEMENT set (prop) >   <!ELEMENT remove (prop) >
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyUpdate {
    pub changes: Vec<PropertyChange>,
}

impl PropertyUpdate {
    pub fn parse(body: &[u8]) -> Result<PropertyUpdate, XmlError> {
        let root = xml::parse_required(body)?;
        if !root.is(DAV, "propertyupdate") {
            return Err(XmlError::UnexpectedRoot { expected: "DAV:propertyupdate", found: root.name });
        }
        let mut changes = Vec::new();
        for instruction in root.elements() {
            let set = if instruction.is(DAV, "set") {
                true
            } else if instruction.is(DAV, "remove") {
                false
            } else {
                continue;
            };
            for prop in instruction.children_named(DAV, "prop") {
                for property in prop.elements() {
                    // Bounded like PROPFIND's names: the server answers and
                    // stores each one (real clients change one to six).
                    if changes.len() == MAX_PROPERTIES {
                        return Err(XmlError::TooManyProperties(MAX_PROPERTIES));
                    }
                    changes.push(if set {
                        PropertyChange::Set(property.name.clone(), PropertyValue::new(property.clone()))
                    } else {
                        PropertyChange::Remove(property.name.clone())
                    });
                }
            }
        }
        if changes.is_empty() {
            return Err(XmlError::Missing("DAV:set or DAV:remove with a property"));
        }
        Ok(PropertyUpdate { changes })
    }
}

/// The `DAV:set/DAV:prop/*` elements of an MKCOL or MKCALENDAR body, at most
/// [`MAX_PROPERTIES`] of them.
pub(crate) fn set_properties(root: &Element) -> Result<Vec<(QName, PropertyValue)>, XmlError> {
    let properties = root
        .children_named(DAV, "set")
        .flat_map(|set| set.children_named(DAV, "prop"))
        .flat_map(|prop| prop.elements());
    let mut set = Vec::new();
    for p in properties {
        if set.len() == MAX_PROPERTIES {
            return Err(XmlError::TooManyProperties(MAX_PROPERTIES));
        }
        set.push((p.name.clone(), PropertyValue::new(p.clone())));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::APPLE_ICAL;

    // See: issue 19. The server's per-property bookkeeping is quadratic in
    // the number of changes, so a body may carry at most MAX_PROPERTIES.
    #[test]
    fn issue19_bounds_property_changes() {
        let body = |n: usize| {
            let props: String = (0..n).map(|i| format!("<D:n{i}/>")).collect();
            format!(
                r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop>{props}</D:prop></D:remove></D:propertyupdate>"#
            )
        };
        assert_eq!(PropertyUpdate::parse(body(MAX_PROPERTIES).as_bytes()).unwrap().changes.len(), MAX_PROPERTIES);
        assert_eq!(
            PropertyUpdate::parse(body(MAX_PROPERTIES + 1).as_bytes()),
            Err(XmlError::TooManyProperties(MAX_PROPERTIES))
        );
        let mkcol = |n: usize| {
            let props: String = (0..n).map(|i| format!("<D:n{i}/>")).collect();
            format!(r#"<D:mkcol xmlns:D="DAV:"><D:set><D:prop>{props}</D:prop></D:set></D:mkcol>"#)
        };
        assert!(crate::Mkcol::parse_mkcol(mkcol(MAX_PROPERTIES).as_bytes()).is_ok());
        assert_eq!(
            crate::Mkcol::parse_mkcol(mkcol(MAX_PROPERTIES + 1).as_bytes()),
            Err(XmlError::TooManyProperties(MAX_PROPERTIES))
        );
    }

    #[test]
    fn ios_proppatch_keeps_order_and_values() {
        let update = PropertyUpdate::parse(include_bytes!("../testdata/requests/ios-proppatch-calendar.xml")).unwrap();
        let names: Vec<String> = update
            .changes
            .iter()
            .map(|c| match c {
                PropertyChange::Set(n, _) => format!("set {n}"),
                PropertyChange::Remove(n) => format!("remove {n}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "set {http://apple.com/ns/ical/}calendar-color",
                "set {http://apple.com/ns/ical/}calendar-order",
                "set {DAV:}displayname",
                "set {urn:ietf:params:xml:ns:caldav}calendar-timezone",
                "remove {urn:ietf:params:xml:ns:caldav}calendar-description",
            ]
        );
        let PropertyChange::Set(_, color) = &update.changes[0] else { panic!() };
        assert_eq!(color.text(), "#FF2968FF");
        assert_eq!(color.attr("symbolic-color"), Some("red"));
        assert_eq!(
            color.xml(),
            r##"<ICAL:calendar-color xmlns:ICAL="http://apple.com/ns/ical/" symbolic-color="red">#FF2968FF</ICAL:calendar-color>"##
        );
        let PropertyChange::Set(_, tz) = &update.changes[3] else { panic!() };
        // XML 1.0 §2.11 normalises CRLF to LF; the iCalendar parser restores CRLF.
        assert!(tz.text().starts_with("BEGIN:VCALENDAR\nVERSION:2.0\n"));
        assert!(tz.text_trimmed().ends_with("END:VCALENDAR"));
        assert_eq!(update.changes[0], update.changes[0].clone());
        assert!(
            matches!(&update.changes[1], PropertyChange::Set(n, v) if n.is(APPLE_ICAL, "calendar-order") && v.text() == "3")
        );
    }

    #[test]
    fn dead_property_with_foreign_children_round_trips() {
        let body = br#"<?xml version="1.0"?>
<d:propertyupdate xmlns:d="DAV:" xmlns:z="http://example.com/ns">
  <d:set><d:prop>
    <z:Authors><z:Author>Jim &amp; Roy</z:Author><d:href>/x</d:href></z:Authors>
  </d:prop></d:set>
</d:propertyupdate>"#;
        let update = PropertyUpdate::parse(body).unwrap();
        let PropertyChange::Set(name, value) = &update.changes[0] else { panic!() };
        assert_eq!(name, &QName::new("http://example.com/ns", "Authors"));
        assert_eq!(
            value.xml(),
            r#"<x0:Authors xmlns:x0="http://example.com/ns" xmlns:D="DAV:"><x0:Author>Jim &amp; Roy</x0:Author><D:href>/x</D:href></x0:Authors>"#
        );
        assert_eq!(value.child_names(), [QName::new("http://example.com/ns", "Author"), QName::dav("href")]);
    }

    #[test]
    fn empty_or_wrong_bodies_are_errors() {
        assert_eq!(PropertyUpdate::parse(b""), Err(XmlError::Empty));
        assert!(matches!(PropertyUpdate::parse(br#"<propertyupdate xmlns="DAV:"/>"#), Err(XmlError::Missing(_))));
        assert!(matches!(PropertyUpdate::parse(br#"<propfind xmlns="DAV:"/>"#), Err(XmlError::UnexpectedRoot { .. })));
    }
}
