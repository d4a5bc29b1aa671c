//! PROPFIND request bodies (RFC 4918 §9.1, §14.20).

use std::collections::HashSet;

use crate::error::XmlError;
use crate::names::{DAV, QName};
use crate::xml::{self, Element};

/// Most properties one PROPFIND or REPORT may name, or one PROPPATCH, MKCOL or
/// MKCALENDAR may change. Each is answered for every resource in the
/// response, so this bounds the answer per resource (and keeps the server's
/// per-property bookkeeping small); real clients name at most about forty
/// (iOS's calendar-home PROPFIND: 37).
pub const MAX_PROPERTIES: usize = 1_000;

/// What a PROPFIND (or the property part of a REPORT) asks for.
///
/// ```text
/// <!ELEMENT propfind ( propname | (allprop, include?) | prop ) >
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropFind {
    /// `DAV:prop`: exactly these properties, in the client's order.
    Prop(Vec<QName>),
    /// `DAV:allprop`, plus any `DAV:include`d properties that allprop would
    /// not return on its own (RFC 4918 §14.8).
    AllProp { include: Vec<QName> },
    /// `DAV:propname`: names only, no values.
    PropName,
}

impl PropFind {
    /// Parses a PROPFIND body. An empty body is allprop (RFC 4918 §9.1), and
    /// so is a `DAV:propfind` element with none of the three children, which
    /// the DTD forbids but which costs nothing to accept.
    pub fn parse(body: &[u8]) -> Result<PropFind, XmlError> {
        let Some(root) = xml::parse_document(body)? else {
            return Ok(PropFind::AllProp { include: Vec::new() });
        };
        if !root.is(DAV, "propfind") {
            return Err(XmlError::UnexpectedRoot { expected: "DAV:propfind", found: root.name });
        }
        Ok(PropFind::from_parent(&root)?.unwrap_or(PropFind::AllProp { include: Vec::new() }))
    }

    /// Finds the `prop`/`allprop`/`propname` choice among `parent`'s children.
    /// The first one wins; unknown siblings are ignored (RFC 4918 §17).
    pub(crate) fn from_parent(parent: &Element) -> Result<Option<PropFind>, XmlError> {
        for child in parent.elements() {
            if child.is(DAV, "prop") {
                return Ok(Some(PropFind::Prop(names_of_children(child)?)));
            }
            if child.is(DAV, "allprop") {
                let include = parent.child(DAV, "include").map(names_of_children).transpose()?.unwrap_or_default();
                return Ok(Some(PropFind::AllProp { include }));
            }
            if child.is(DAV, "propname") {
                return Ok(Some(PropFind::PropName));
            }
        }
        Ok(None)
    }

    /// The explicitly named properties (`prop` or `include`), empty for propname.
    pub fn names(&self) -> &[QName] {
        match self {
            PropFind::Prop(names) | PropFind::AllProp { include: names } => names,
            PropFind::PropName => &[],
        }
    }
}

/// The names of an element's children, duplicates removed: a client that asks
/// twice for `getetag` gets it once, as a 207 must not repeat a property.
/// More than [`MAX_PROPERTIES`] children are refused; the set keeps the
/// de-duplication linear.
pub(crate) fn names_of_children(e: &Element) -> Result<Vec<QName>, XmlError> {
    let mut seen: HashSet<&QName> = HashSet::new();
    let mut names = Vec::new();
    for child in e.elements() {
        if seen.insert(&child.name) {
            if names.len() == MAX_PROPERTIES {
                return Err(XmlError::TooManyProperties(MAX_PROPERTIES));
            }
            names.push(child.name.clone());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{CALDAV, CALENDARSERVER};

    // See: issue 19. 99,000 names took 34 s, each compared with all before it.
    #[test]
    fn issue19_bounds_property_names() {
        let body = |props: String| format!(r#"<D:propfind xmlns:D="DAV:"><D:prop>{props}</D:prop></D:propfind>"#);
        let distinct = |n: usize| (0..n).map(|i| format!("<D:n{i}/>")).collect::<String>();
        assert_eq!(PropFind::parse(body(distinct(MAX_PROPERTIES)).as_bytes()).unwrap().names().len(), MAX_PROPERTIES);
        assert_eq!(
            PropFind::parse(body(distinct(MAX_PROPERTIES + 1)).as_bytes()),
            Err(XmlError::TooManyProperties(MAX_PROPERTIES))
        );
        // Repeats are dropped, not counted.
        let repeated = body("<D:getetag/>".repeat(MAX_PROPERTIES + 1));
        assert_eq!(PropFind::parse(repeated.as_bytes()), Ok(PropFind::Prop(vec![QName::dav("getetag")])));
    }

    #[test]
    fn empty_body_is_allprop() {
        assert_eq!(PropFind::parse(b""), Ok(PropFind::AllProp { include: vec![] }));
        assert_eq!(PropFind::parse(b"\n"), Ok(PropFind::AllProp { include: vec![] }));
        assert_eq!(PropFind::parse(br#"<propfind xmlns="DAV:"/>"#), Ok(PropFind::AllProp { include: vec![] }));
    }

    #[test]
    fn ios_principal_propfind() {
        let p = PropFind::parse(include_bytes!("../testdata/requests/ios-propfind-principal.xml")).unwrap();
        let PropFind::Prop(names) = p else { panic!("expected prop, got {p:?}") };
        assert_eq!(names.len(), 13);
        assert_eq!(names[0], QName::caldav("calendar-home-set"));
        assert!(names.contains(&QName::new(CALENDARSERVER, "email-address-set")));
        assert!(names.contains(&QName::dav("principal-URL")));
        assert!(names.contains(&QName::new(CALDAV, "schedule-inbox-URL")));
    }

    #[test]
    fn allprop_include_and_propname() {
        let body = br#"<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:supported-live-property-set/><D:supported-report-set/></D:include></D:propfind>"#;
        assert_eq!(
            PropFind::parse(body),
            Ok(PropFind::AllProp {
                include: vec![QName::dav("supported-live-property-set"), QName::dav("supported-report-set")]
            })
        );
        assert_eq!(PropFind::parse(br#"<propfind xmlns="DAV:"><propname/></propfind>"#), Ok(PropFind::PropName));
    }

    #[test]
    fn wrong_root_is_an_error() {
        assert!(matches!(PropFind::parse(br#"<propertyupdate xmlns="DAV:"/>"#), Err(XmlError::UnexpectedRoot { .. })));
        assert!(matches!(PropFind::parse(b"<propfind>"), Err(XmlError::Malformed(_))));
    }
}
