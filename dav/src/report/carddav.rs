//! CardDAV reports: addressbook-multiget (RFC 6352 §8.7) and addressbook-query
//! (§8.6) with the filter grammar of §10.5.
//!
//! The filter is parsed into `madang_ical::filter::AddressFilter`. CardDAV's
//! `text-match` and `param-filter` are CalDAV's with other defaults (collation
//! `i;unicode-casemap`) and with `match-type`, so the CalDAV types are reused.
//! RFC 6352 has no `valid-filter` precondition: a filter that breaks the DTD is
//! a 400, while one Madang cannot evaluate (an unknown `match-type` or
//! collation) is a 403 with `CARDDAV:supported-filter` or
//! `CARDDAV:supported-collation`.

use super::PropRequest;
use crate::error::XmlError;
use crate::ical::filter::{AddressFilter, CardPropFilter, Collation, FilterTest, ParamFilter, ParamTest, TextMatch};
use crate::names::{CARDDAV, DAV};
use crate::xml::Element;

/// ```text
/// <!ELEMENT addressbook-multiget ((DAV:allprop | DAV:propname | DAV:prop)?, DAV:href+)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressbookMultiget {
    pub props: PropRequest,
    /// The hrefs as sent, trimmed, still percent-encoded; the server decodes
    /// them and answers 404 per href it cannot map (RFC 6352 §8.7).
    pub hrefs: Vec<String>,
}

impl AddressbookMultiget {
    pub(crate) fn from_element(root: &Element) -> Result<AddressbookMultiget, XmlError> {
        let hrefs: Vec<String> =
            root.children_named(DAV, "href").map(|h| h.text().trim().to_owned()).filter(|h| !h.is_empty()).collect();
        if hrefs.is_empty() {
            return Err(XmlError::Missing("DAV:href"));
        }
        Ok(AddressbookMultiget { props: PropRequest::from_parent(root)?, hrefs })
    }
}

/// ```text
/// <!ELEMENT addressbook-query ((DAV:allprop | DAV:propname | DAV:prop)?, filter, limit?)>
/// <!ELEMENT limit (nresults)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressbookQuery {
    pub props: PropRequest,
    pub filter: AddressFilter,
    /// `CARDDAV:limit/CARDDAV:nresults` (§8.6.1): the client wants at most
    /// this many responses. When the server truncates, it reports 507 with
    /// `DAV:number-of-matches-within-limits` for the request URI.
    pub limit: Option<u32>,
}

impl AddressbookQuery {
    pub(crate) fn from_element(root: &Element) -> Result<AddressbookQuery, XmlError> {
        let filter = root.child(CARDDAV, "filter").ok_or(XmlError::Missing("CARDDAV:filter"))?;
        let filter = AddressFilter {
            test: filter_test(filter)?,
            props: filter.children_named(CARDDAV, "prop-filter").map(prop_filter).collect::<Result<_, _>>()?,
        };
        let limit = super::nresults(root.child(CARDDAV, "limit"), CARDDAV, "CARDDAV:nresults")?;
        Ok(AddressbookQuery { props: PropRequest::from_parent(root)?, filter, limit })
    }
}

/// `test (anyof | allof) "anyof"` on `filter` and `prop-filter` (§10.5, §10.5.1).
fn filter_test(e: &Element) -> Result<FilterTest, XmlError> {
    match e.attr("test").map(str::trim) {
        None | Some("anyof") => Ok(FilterTest::AnyOf),
        Some("allof") => Ok(FilterTest::AllOf),
        Some(other) => Err(XmlError::Invalid { what: "CARDDAV filter test", value: other.to_owned() }),
    }
}

/// ```text
/// <!ELEMENT prop-filter (is-not-defined | (text-match*, param-filter*))>
/// <!ATTLIST prop-filter name CDATA #REQUIRED test (anyof | allof) "anyof">
/// ```
fn prop_filter(e: &Element) -> Result<CardPropFilter, XmlError> {
    let name = filter_name(e, "CARDDAV:prop-filter name")?;
    let test = filter_test(e)?;
    if e.child(CARDDAV, "is-not-defined").is_some() {
        return Ok(CardPropFilter { name, test, is_not_defined: true, text_matches: Vec::new(), params: Vec::new() });
    }
    let text_matches = e.children_named(CARDDAV, "text-match").map(text_match).collect::<Result<_, _>>()?;
    let params = e.children_named(CARDDAV, "param-filter").map(param_filter).collect::<Result<_, _>>()?;
    Ok(CardPropFilter { name, test, is_not_defined: false, text_matches, params })
}

/// ```text
/// <!ELEMENT param-filter (is-not-defined | text-match)?>
/// <!ATTLIST param-filter name CDATA #REQUIRED>
/// ```
fn param_filter(e: &Element) -> Result<ParamFilter, XmlError> {
    let name = filter_name(e, "CARDDAV:param-filter name")?;
    if e.child(CARDDAV, "is-not-defined").is_some() {
        return Ok(ParamFilter { name, test: ParamTest::IsNotDefined });
    }
    let text_match = e.child(CARDDAV, "text-match").map(text_match).transpose()?;
    Ok(ParamFilter { name, test: ParamTest::Defined { text_match } })
}

/// vCard property and parameter names are case-insensitive (RFC 6350 §3.3);
/// they are kept upper-cased.
fn filter_name(e: &Element, what: &'static str) -> Result<String, XmlError> {
    match e.attr("name").map(str::trim) {
        Some(n) if !n.is_empty() => Ok(n.to_ascii_uppercase()),
        _ => Err(XmlError::Missing(what)),
    }
}

/// ```text
/// <!ELEMENT text-match (#PCDATA)>
/// <!ATTLIST text-match collation CDATA "i;unicode-casemap"
///                      negate-condition (yes | no) "no"
///                      match-type (equals|contains|starts-with|ends-with) "contains">
/// ```
/// The value is kept exactly as sent: leading or trailing spaces may be what
/// the user searches for.
fn text_match(e: &Element) -> Result<TextMatch, XmlError> {
    let collation = match e.attr("collation").map(str::trim) {
        None => Collation::UnicodeCasemap,
        Some(name) => {
            Collation::from_name(name).ok_or_else(|| XmlError::UnsupportedAddressCollation(name.to_owned()))?
        }
    };
    let negate = match e.attr("negate-condition").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => {
            return Err(XmlError::Invalid { what: "CARDDAV:text-match negate-condition", value: other.into() });
        }
    };
    let match_type = match e.attr("match-type").map(str::trim) {
        None => Default::default(),
        Some(m) => super::caldav::match_type(m)
            .ok_or_else(|| XmlError::UnsupportedAddressFilter(format!("match-type={m:?}")))?,
    };
    Ok(TextMatch { value: e.text(), collation, match_type, negate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::VCardWanted;
    use crate::ical::filter::MatchType;
    use crate::names::QName;
    use crate::precondition::Precondition;
    use crate::propfind::PropFind;
    use crate::report::{AddressData, Report};

    fn query(body: &[u8]) -> AddressbookQuery {
        match Report::parse(body) {
            Ok(Report::AddressbookQuery(q)) => q,
            other => panic!("expected addressbook-query, got {other:?}"),
        }
    }

    fn multiget(body: &[u8]) -> AddressbookMultiget {
        match Report::parse(body) {
            Ok(Report::AddressbookMultiget(m)) => m,
            other => panic!("expected addressbook-multiget, got {other:?}"),
        }
    }

    fn contains(value: &str) -> TextMatch {
        TextMatch {
            value: value.into(),
            collation: Collation::UnicodeCasemap,
            match_type: MatchType::Contains,
            negate: false,
        }
    }

    fn filter_body(filter: &str) -> String {
        format!(
            r#"<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>{filter}</C:addressbook-query>"#
        )
    }

    #[test]
    fn macos_multiget_declares_dav_on_each_element() {
        let m = multiget(include_bytes!("../../testdata/requests/macos-addressbook-multiget.xml"));
        assert_eq!(m.props.props, PropFind::Prop(vec![QName::dav("getetag"), QName::carddav("address-data")]));
        let ad = m.props.address_data.unwrap();
        assert_eq!(ad, AddressData::default());
        // No version attribute: RFC 6352 §10.4's default, 3.0.
        assert_eq!(ad.version_wanted(), VCardWanted::V3);
        assert_eq!(
            m.hrefs,
            [
                "/dav/addressbooks/alice/contacts/5C1B2F3A-7D1E-4F7A-9E0B-1D2C3B4A5F60.vcf",
                "/dav/addressbooks/alice/contacts/ABPerson%20Jos%C3%A9.vcf"
            ]
        );
        assert_eq!(m.props.calendar_data, None);
    }

    #[test]
    fn davx5_multiget_asks_for_vcard4() {
        let m = multiget(include_bytes!("../../testdata/requests/davx5-addressbook-multiget-v4.xml"));
        assert_eq!(
            m.props.props.names(),
            [QName::dav("getcontenttype"), QName::dav("getetag"), QName::carddav("address-data")]
        );
        let ad = m.props.address_data.unwrap();
        assert_eq!(ad.content_type.as_deref(), Some("text/vcard"));
        assert_eq!(ad.version.as_deref(), Some("4.0"));
        assert_eq!(ad.version_wanted(), VCardWanted::V4);
        assert_eq!(ad.props, None);
        assert_eq!(m.hrefs.len(), 3);
        assert_eq!(m.hrefs[2], "/dav/addressbooks/alice/contacts/b%2Bc.vcf");
    }

    #[test]
    fn query_by_email_with_limit() {
        let q = query(include_bytes!("../../testdata/requests/carddav-query-email-limit.xml"));
        assert_eq!(q.limit, Some(25));
        assert_eq!(q.filter.test, FilterTest::AnyOf);
        assert_eq!(
            q.filter.props,
            [CardPropFilter {
                name: "EMAIL".into(),
                test: FilterTest::AnyOf,
                is_not_defined: false,
                text_matches: vec![contains("@example.org")],
                params: vec![],
            }]
        );
        let ad = q.props.address_data.unwrap();
        assert_eq!(ad.props, Some(vec!["UID".to_owned(), "FN".to_owned(), "EMAIL".to_owned()]));
    }

    #[test]
    fn rfc6352_partial_retrieval_query() {
        let q = query(include_bytes!("../../testdata/requests/rfc6352-query-anyof.xml"));
        assert_eq!(q.limit, None);
        assert_eq!(q.filter.test, FilterTest::AnyOf);
        let names: Vec<&str> = q.filter.props.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["FN", "EMAIL"]);
        for p in &q.filter.props {
            assert_eq!(p.text_matches, [contains("daboo")]);
        }
        let ad = q.props.address_data.unwrap();
        assert_eq!(
            ad.props,
            Some(["VERSION", "UID", "NICKNAME", "EMAIL", "FN"].map(str::to_owned).to_vec()),
            "prop names are upper-cased"
        );
        assert_eq!(ad.version_wanted(), VCardWanted::V3);
    }

    #[test]
    fn allof_params_negation_and_is_not_defined() {
        let q = query(
            filter_body(
                r#"<C:filter test="allof">
                  <C:prop-filter name="tel" test="allof">
                    <C:text-match match-type="starts-with">+49</C:text-match>
                    <C:text-match match-type="ends-with" negate-condition="yes" collation="i;octet"> 0</C:text-match>
                    <C:param-filter name="type"><C:text-match match-type="equals" collation="i;ascii-casemap">cell</C:text-match></C:param-filter>
                    <C:param-filter name="PREF"><C:is-not-defined/></C:param-filter>
                    <C:param-filter name="x-any"/>
                  </C:prop-filter>
                  <C:prop-filter name="NICKNAME"><C:is-not-defined/></C:prop-filter>
                  <C:prop-filter name="EMAIL"/>
                </C:filter>
                <C:limit><C:nresults>0</C:nresults></C:limit>"#,
            )
            .as_bytes(),
        );
        assert_eq!(q.filter.test, FilterTest::AllOf);
        assert_eq!(q.limit, Some(0));
        let [tel, nick, email] = &q.filter.props[..] else { panic!("{:?}", q.filter.props) };
        assert_eq!((tel.name.as_str(), tel.test, tel.is_not_defined), ("TEL", FilterTest::AllOf, false));
        assert_eq!(
            tel.text_matches,
            [
                TextMatch { match_type: MatchType::StartsWith, ..contains("+49") },
                TextMatch {
                    match_type: MatchType::EndsWith,
                    negate: true,
                    collation: Collation::Octet,
                    ..contains(" 0")
                },
            ]
        );
        assert_eq!(
            tel.params,
            [
                ParamFilter {
                    name: "TYPE".into(),
                    test: ParamTest::Defined {
                        text_match: Some(TextMatch {
                            match_type: MatchType::Equals,
                            collation: Collation::AsciiCasemap,
                            ..contains("cell")
                        })
                    },
                },
                ParamFilter { name: "PREF".into(), test: ParamTest::IsNotDefined },
                ParamFilter { name: "X-ANY".into(), test: ParamTest::Defined { text_match: None } },
            ]
        );
        assert_eq!(
            *nick,
            CardPropFilter {
                name: "NICKNAME".into(),
                test: FilterTest::AnyOf,
                is_not_defined: true,
                text_matches: vec![],
                params: vec![],
            }
        );
        assert_eq!((email.is_not_defined, email.text_matches.len(), email.params.len()), (false, 0, 0));

        // An empty filter matches every card.
        let q = query(filter_body("<C:filter/>").as_bytes());
        assert_eq!(q.filter, AddressFilter::default());
    }

    #[test]
    fn unsupported_collation_and_match_type_use_carddav_conditions() {
        let body = filter_body(
            r#"<C:filter><C:prop-filter name="FN"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:filter>"#,
        );
        let err = Report::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err, XmlError::UnsupportedAddressCollation("i;klingon".into()));
        assert_eq!(err.precondition(), Some(Precondition::AddressSupportedCollation));
        assert_eq!(err.precondition().unwrap().name(), QName::carddav("supported-collation"));
        assert_eq!(err.status(), 403);

        let body = filter_body(
            r#"<C:filter><C:prop-filter name="FN"><C:param-filter name="TYPE"><C:text-match match-type="regex">x</C:text-match></C:param-filter></C:prop-filter></C:filter>"#,
        );
        let err = Report::parse(body.as_bytes()).unwrap_err();
        assert!(matches!(err, XmlError::UnsupportedAddressFilter(_)), "{err:?}");
        assert_eq!(err.precondition().unwrap().name(), QName::carddav("supported-filter"));
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn malformed_filters_are_bad_requests() {
        let cases = [
            r#"<C:filter test="oneof"/>"#,
            r#"<C:filter><C:prop-filter name="FN" test="none"/></C:filter>"#,
            r#"<C:filter><C:prop-filter/></C:filter>"#,
            r#"<C:filter><C:prop-filter name=" "/></C:filter>"#,
            r#"<C:filter><C:prop-filter name="FN"><C:param-filter/></C:prop-filter></C:filter>"#,
            r#"<C:filter><C:prop-filter name="FN"><C:text-match negate-condition="true">x</C:text-match></C:prop-filter></C:filter>"#,
            r#"<C:filter/><C:limit><C:nresults>many</C:nresults></C:limit>"#,
            r#"<C:filter/><C:limit><C:nresults>-5</C:nresults></C:limit>"#,
            "",
        ];
        for case in cases {
            let err = Report::parse(filter_body(case).as_bytes()).unwrap_err();
            assert_eq!((err.precondition(), err.status()), (None, 400), "{case}: {err:?}");
        }
        // A CalDAV filter in an addressbook-query is no CardDAV filter.
        let caldav_filter = r#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:CAL="urn:ietf:params:xml:ns:caldav"><CAL:filter/></C:addressbook-query>"#;
        assert_eq!(Report::parse(caldav_filter.as_bytes()), Err(XmlError::Missing("CARDDAV:filter")));
        // DAV:limit is sync-collection's; CARDDAV:limit is the one that counts here.
        let dav_limit = filter_body(r#"<C:filter/><D:limit><D:nresults>5</D:nresults></D:limit>"#);
        assert_eq!(query(dav_limit.as_bytes()).limit, None);
    }

    #[test]
    fn multiget_needs_an_href() {
        let body = r#"<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><D:href>  </D:href></C:addressbook-multiget>"#;
        assert_eq!(Report::parse(body.as_bytes()), Err(XmlError::Missing("DAV:href")));
        // Without a prop element the report returns every property.
        let body = r#"<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:href>/a.vcf</D:href></C:addressbook-multiget>"#;
        let m = multiget(body.as_bytes());
        assert_eq!(m.props.props, PropFind::AllProp { include: vec![] });
        assert_eq!(m.props.address_data, None);
    }
}
