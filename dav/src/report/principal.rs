//! Principal reports: `DAV:expand-property` (RFC 3253 §3.8) and
//! `DAV:principal-property-search` (RFC 3744 §9.4).

use std::collections::HashSet;

use super::caldav::match_type;
use crate::error::XmlError;
use crate::ical::filter::MatchType;
use crate::names::{DAV, QName};
use crate::propfind::{MAX_PROPERTIES, names_of_children};
use crate::xml::Element;

/// ```text
/// <!ELEMENT expand-property (property*)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandProperty {
    pub items: Vec<ExpandItem>,
}

/// ```text
/// <!ELEMENT property (property*)>
/// <!ATTLIST property name NMTOKEN #REQUIRED namespace NMTOKEN "DAV:">
/// ```
/// The server returns `name` on the target; for each href in its value it
/// returns a nested `DAV:response` with the `nested` properties of that href.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandItem {
    pub name: QName,
    pub nested: Vec<ExpandItem>,
}

impl ExpandProperty {
    pub(crate) fn from_element(root: &Element) -> Result<ExpandProperty, XmlError> {
        Ok(ExpandProperty { items: expand_items(root)? })
    }
}

fn expand_items(parent: &Element) -> Result<Vec<ExpandItem>, XmlError> {
    parent
        .children_named(DAV, "property")
        .map(|p| {
            let local =
                p.attr("name").map(str::trim).filter(|n| !n.is_empty()).ok_or(XmlError::Missing("property name"))?;
            let ns = p.attr("namespace").map(str::trim).unwrap_or(crate::names::DAV);
            Ok(ExpandItem { name: QName::new(ns.to_owned(), local.to_owned()), nested: expand_items(p)? })
        })
        .collect()
}

/// Whether all (RFC 3744's only behaviour) or any (Apple's `test="anyof"`
/// extension, which iOS and macOS send) of the property searches must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchTest {
    #[default]
    AllOf,
    AnyOf,
}

/// ```text
/// <!ELEMENT principal-property-search ((property-search+), prop?, apply-to-principal-collection-set?)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPropertySearch {
    pub test: SearchTest,
    pub searches: Vec<PropertySearch>,
    /// The properties to return for each matching principal. No searches
    /// at all means every principal (python-caldav's "list all").
    pub props: Vec<QName>,
    /// Search every principal collection rather than the request URI's subtree.
    pub apply_to_principal_collection_set: bool,
}

/// ```text
/// <!ELEMENT property-search (prop, match)>
/// ```
/// RFC 3744 §9.4 defines the match as a case-insensitive substring test;
/// CalendarServer adds a `match-type` attribute (`starts-with`, `equals`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySearch {
    pub props: Vec<QName>,
    /// The text to look for, trimmed.
    pub value: String,
    pub match_type: MatchType,
}

impl PrincipalPropertySearch {
    pub(crate) fn from_element(root: &Element) -> Result<PrincipalPropertySearch, XmlError> {
        let test = match root.attr("test").map(str::trim) {
            None | Some("allof") => SearchTest::AllOf,
            Some("anyof") => SearchTest::AnyOf,
            Some(other) => return Err(XmlError::Invalid { what: "test", value: other.to_owned() }),
        };
        let mut searches = Vec::new();
        for search in root.children_named(DAV, "property-search") {
            let props = search.child(DAV, "prop").map(names_of_children).transpose()?.unwrap_or_default();
            let m = search.child(DAV, "match").ok_or(XmlError::Missing("DAV:match"))?;
            let match_type = match m.attr("match-type").map(str::trim) {
                None => MatchType::Contains,
                Some(t) => {
                    match_type(t).ok_or_else(|| XmlError::Invalid { what: "match-type", value: t.to_owned() })?
                }
            };
            searches.push(PropertySearch { props, value: m.text().trim().to_owned(), match_type });
        }
        // RFC 3744 §9.4 requires one property-search; python-caldav's
        // `search_principals()` sends none to list every principal, and puts
        // the wanted properties beside an empty `DAV:prop` instead of in it.
        // Both are read as meant rather than refused.
        let mut props = root.child(DAV, "prop").map(names_of_children).transpose()?.unwrap_or_default();
        // A set, so that a body of many strays is not quadratic.
        let mut seen: HashSet<QName> = props.iter().cloned().collect();
        for stray in root.elements() {
            let known = ["property-search", "prop", "apply-to-principal-collection-set"];
            let structural = stray.name.ns == DAV && known.contains(&stray.name.local.as_ref());
            if !structural && seen.insert(stray.name.clone()) {
                if props.len() == MAX_PROPERTIES {
                    return Err(XmlError::TooManyProperties(MAX_PROPERTIES));
                }
                props.push(stray.name.clone());
            }
        }
        Ok(PrincipalPropertySearch {
            test,
            searches,
            props,
            apply_to_principal_collection_set: root.child(DAV, "apply-to-principal-collection-set").is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    #[test]
    fn ios_expand_property_for_proxies() {
        let Report::ExpandProperty(e) =
            Report::parse(include_bytes!("../../testdata/requests/ios-expand-property-proxy.xml")).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.items.len(), 2);
        assert_eq!(e.items[1].name, QName::calendarserver("calendar-proxy-read-for"));
        let nested: Vec<&QName> = e.items[1].nested.iter().map(|i| &i.name).collect();
        assert_eq!(
            nested,
            [&QName::dav("displayname"), &QName::dav("principal-URL"), &QName::caldav("calendar-user-address-set")]
        );
    }

    // See: issue 19. Stray property names are collected into a set and bounded.
    #[test]
    fn issue19_bounds_stray_properties() {
        let body = |n: usize| {
            let strays: String = (0..n).map(|i| format!("<D:n{i}/>")).collect();
            format!(r#"<D:principal-property-search xmlns:D="DAV:"><D:prop/>{strays}</D:principal-property-search>"#)
        };
        let Report::PrincipalPropertySearch(s) = Report::parse(body(MAX_PROPERTIES).as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(s.props.len(), MAX_PROPERTIES);
        assert_eq!(
            Report::parse(body(MAX_PROPERTIES + 1).as_bytes()),
            Err(XmlError::TooManyProperties(MAX_PROPERTIES))
        );
    }

    #[test]
    fn expand_property_namespace_defaults_to_dav() {
        let body = br#"<D:expand-property xmlns:D="DAV:"><D:property name="version-history"><D:property name="version-set"><D:property name="creator-displayname"/></D:property></D:property></D:expand-property>"#;
        let Report::ExpandProperty(e) = Report::parse(body).unwrap() else { panic!() };
        assert_eq!(e.items[0].name, QName::dav("version-history"));
        assert_eq!(e.items[0].nested[0].nested[0].name, QName::dav("creator-displayname"));
        let nameless = br#"<D:expand-property xmlns:D="DAV:"><D:property/></D:expand-property>"#;
        assert_eq!(Report::parse(nameless), Err(XmlError::Missing("property name")));
    }

    #[test]
    fn ios_principal_property_search() {
        let Report::PrincipalPropertySearch(s) =
            Report::parse(include_bytes!("../../testdata/requests/ios-principal-property-search.xml")).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.test, SearchTest::AnyOf);
        assert_eq!(s.searches.len(), 2);
        assert_eq!(
            s.searches[1],
            PropertySearch {
                props: vec![QName::calendarserver("email-address-set")],
                value: "ali".into(),
                match_type: MatchType::StartsWith
            }
        );
        assert_eq!(s.props.len(), 3);
        assert!(s.apply_to_principal_collection_set);
    }

    #[test]
    fn rfc3744_principal_property_search() {
        let body = br#"<?xml version="1.0" encoding="utf-8" ?>
<D:principal-property-search xmlns:D="DAV:">
  <D:property-search>
    <D:prop><D:displayname/></D:prop>
    <D:match>doE</D:match>
  </D:property-search>
  <D:prop xmlns:B="http://www.example.com/ns/">
    <D:displayname/>
    <B:department/>
  </D:prop>
</D:principal-property-search>"#;
        let Report::PrincipalPropertySearch(s) = Report::parse(body).unwrap() else { panic!() };
        assert_eq!(s.test, SearchTest::AllOf);
        assert_eq!(s.searches[0].value, "doE");
        assert_eq!(s.searches[0].match_type, MatchType::Contains);
        assert_eq!(s.props[1], QName::new("http://www.example.com/ns/", "department"));
        assert!(!s.apply_to_principal_collection_set);
        let empty = br#"<D:principal-property-search xmlns:D="DAV:"/>"#;
        let Report::PrincipalPropertySearch(all) = Report::parse(empty).unwrap() else { panic!() };
        assert!(all.searches.is_empty(), "no search lists every principal");
    }

    /// python-caldav's `search_principals()` (used by caldav-server-tester)
    /// sends an empty `DAV:prop` and the wanted names beside it.
    #[test]
    fn python_caldav_list_all_principals() {
        let body = br#"<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>"#;
        let Report::PrincipalPropertySearch(s) = Report::parse(body).unwrap() else { panic!() };
        assert!(s.searches.is_empty());
        assert_eq!(s.props, [QName::caldav("calendar-home-set"), QName::dav("displayname")]);
    }
}
