//! CalDAV reports: calendar-multiget (RFC 4791 §7.9), calendar-query (§7.8)
//! and free-busy-query (§7.10), with the filter (§9.7) and calendar-data (§9.6)
//! grammars they share.

use chrono::{DateTime, NaiveDate, Utc};

use super::{CalendarData, PropRequest};
use crate::error::XmlError;
use crate::ical::filter::{
    CalendarDataRequest, Collation, CompFilter, CompSelect, CompTest, MatchType, ParamFilter, ParamTest, PropFilter,
    PropSelect, PropTest, TextMatch, TimeRange,
};
use crate::names::{CALDAV, DAV};
use crate::xml::Element;

/// ```text
/// <!ELEMENT calendar-multiget ((DAV:allprop | DAV:propname | DAV:prop)?, DAV:href+)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarMultiget {
    pub props: PropRequest,
    /// The hrefs as sent, trimmed, still percent-encoded; the server decodes
    /// them and answers 404 per href it cannot map (RFC 4791 §7.9).
    pub hrefs: Vec<String>,
}

impl CalendarMultiget {
    pub(crate) fn from_element(root: &Element) -> Result<CalendarMultiget, XmlError> {
        let hrefs: Vec<String> =
            root.children_named(DAV, "href").map(|h| h.text().trim().to_owned()).filter(|h| !h.is_empty()).collect();
        if hrefs.is_empty() {
            return Err(XmlError::Missing("DAV:href"));
        }
        Ok(CalendarMultiget { props: PropRequest::from_parent(root)?, hrefs })
    }
}

/// ```text
/// <!ELEMENT calendar-query ((DAV:allprop | DAV:propname | DAV:prop)?, filter, timezone?)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarQuery {
    pub props: PropRequest,
    /// The top-level `comp-filter`, always named `VCALENDAR`.
    pub filter: CompFilter,
    /// `CALDAV:timezone` (RFC 4791 §9.8): a VCALENDAR with one VTIMEZONE, in
    /// which floating times are interpreted.
    pub timezone: Option<String>,
    /// `CALDAV:timezone-id` (RFC 7809 §5.2): the same by TZID.
    pub timezone_id: Option<String>,
}

impl CalendarQuery {
    pub(crate) fn from_element(root: &Element) -> Result<CalendarQuery, XmlError> {
        let filter_element = root.child(CALDAV, "filter").ok_or_else(|| invalid("missing CALDAV:filter"))?;
        let mut comps = filter_element.children_named(CALDAV, "comp-filter");
        let (Some(top), None) = (comps.next(), comps.next()) else {
            return Err(invalid("CALDAV:filter must hold exactly one comp-filter"));
        };
        let filter = comp_filter(top)?;
        // RFC 4791 §9.7.1: every calendar object resource is one VCALENDAR, so
        // a filter whose top level names anything else cannot be meant.
        if filter.name != "VCALENDAR" {
            return Err(invalid("the top-level comp-filter must be VCALENDAR"));
        }
        Ok(CalendarQuery {
            props: PropRequest::from_parent(root)?,
            filter,
            timezone: root.child(CALDAV, "timezone").map(Element::text),
            timezone_id: root.child(CALDAV, "timezone-id").map(|t| t.text().trim().to_owned()),
        })
    }
}

/// ```text
/// <!ELEMENT free-busy-query (time-range)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusyQuery {
    pub time_range: TimeRange,
}

impl FreeBusyQuery {
    pub(crate) fn from_element(root: &Element) -> Result<FreeBusyQuery, XmlError> {
        let tr = root.child(CALDAV, "time-range").ok_or(XmlError::Missing("CALDAV:time-range"))?;
        Ok(FreeBusyQuery { time_range: time_range(tr)? })
    }
}

fn invalid(reason: &str) -> XmlError {
    XmlError::InvalidFilter(reason.to_owned())
}

/// ```text
/// <!ELEMENT comp-filter (is-not-defined | (time-range?, prop-filter*, comp-filter*))>
/// <!ATTLIST comp-filter name CDATA #REQUIRED>
/// ```
fn comp_filter(e: &Element) -> Result<CompFilter, XmlError> {
    let name = filter_name(e, "comp-filter")?;
    if e.child(CALDAV, "is-not-defined").is_some() {
        return Ok(CompFilter { name, test: CompTest::IsNotDefined });
    }
    let time_range = e.child(CALDAV, "time-range").map(time_range).transpose()?;
    let props = e.children_named(CALDAV, "prop-filter").map(prop_filter).collect::<Result<_, _>>()?;
    let comps = e.children_named(CALDAV, "comp-filter").map(comp_filter).collect::<Result<_, _>>()?;
    Ok(CompFilter { name, test: CompTest::Defined { time_range, props, comps } })
}

/// ```text
/// <!ELEMENT prop-filter (is-not-defined | ((time-range | text-match)?, param-filter*))>
/// ```
fn prop_filter(e: &Element) -> Result<PropFilter, XmlError> {
    let name = filter_name(e, "prop-filter")?;
    if e.child(CALDAV, "is-not-defined").is_some() {
        return Ok(PropFilter { name, test: PropTest::IsNotDefined });
    }
    let time_range = e.child(CALDAV, "time-range").map(time_range).transpose()?;
    let text_match = e.child(CALDAV, "text-match").map(text_match).transpose()?;
    if time_range.is_some() && text_match.is_some() {
        return Err(invalid("prop-filter has both time-range and text-match"));
    }
    let params = e.children_named(CALDAV, "param-filter").map(param_filter).collect::<Result<_, _>>()?;
    Ok(PropFilter { name, test: PropTest::Defined { time_range, text_match, params } })
}

/// ```text
/// <!ELEMENT param-filter (is-not-defined | text-match)?>
/// ```
fn param_filter(e: &Element) -> Result<ParamFilter, XmlError> {
    let name = filter_name(e, "param-filter")?;
    if e.child(CALDAV, "is-not-defined").is_some() {
        return Ok(ParamFilter { name, test: ParamTest::IsNotDefined });
    }
    let text_match = e.child(CALDAV, "text-match").map(text_match).transpose()?;
    Ok(ParamFilter { name, test: ParamTest::Defined { text_match } })
}

fn filter_name(e: &Element, what: &str) -> Result<String, XmlError> {
    match e.attr("name").map(str::trim) {
        Some(n) if !n.is_empty() => Ok(n.to_ascii_uppercase()),
        _ => Err(XmlError::InvalidFilter(format!("{what} without a name"))),
    }
}

/// ```text
/// <!ELEMENT text-match (#PCDATA)>
/// <!ATTLIST text-match collation CDATA "i;ascii-casemap" negate-condition (yes | no) "no">
/// ```
/// plus CardDAV's `match-type` (RFC 6352 §10.5.4). The value is kept exactly
/// as sent: leading or trailing spaces may be what the user searches for.
fn text_match(e: &Element) -> Result<TextMatch, XmlError> {
    let collation = match e.attr("collation").map(str::trim) {
        None => Collation::default(),
        Some(name) => Collation::from_name(name).ok_or_else(|| XmlError::UnsupportedCollation(name.to_owned()))?,
    };
    let negate = match e.attr("negate-condition").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => return Err(XmlError::InvalidFilter(format!("negate-condition={other:?}"))),
    };
    let match_type = match e.attr("match-type").map(str::trim) {
        None => MatchType::default(),
        Some(m) => match_type(m).ok_or_else(|| XmlError::InvalidFilter(format!("match-type={m:?}")))?,
    };
    Ok(TextMatch { value: e.text(), collation, match_type, negate })
}

/// The `match-type` values of RFC 6352 §10.5.4 (also used by Apple's
/// principal-property-search extension).
pub(crate) fn match_type(value: &str) -> Option<MatchType> {
    match value {
        "equals" => Some(MatchType::Equals),
        "contains" => Some(MatchType::Contains),
        "starts-with" => Some(MatchType::StartsWith),
        "ends-with" => Some(MatchType::EndsWith),
        _ => None,
    }
}

/// A filter `time-range` (RFC 4791 §9.9): at least one of `start`/`end`, both
/// "date with UTC time", and `end` after `start`.
fn time_range(e: &Element) -> Result<TimeRange, XmlError> {
    let start = e.attr("start").map(parse_utc).transpose()?;
    let end = e.attr("end").map(parse_utc).transpose()?;
    if start.is_none() && end.is_none() {
        return Err(XmlError::InvalidTimeRange("time-range needs start or end".into()));
    }
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(XmlError::InvalidTimeRange("end must be after start".into()));
    }
    Ok(TimeRange { start, end })
}

/// `expand`, `limit-recurrence-set` and `limit-freebusy-set` require both
/// attributes (RFC 4791 §9.6.5–§9.6.7: `#REQUIRED`).
fn closed_time_range(e: &Element) -> Result<TimeRange, XmlError> {
    let range = time_range(e)?;
    if range.start.is_none() || range.end.is_none() {
        return Err(XmlError::InvalidTimeRange(format!("{} needs both start and end", e.name.local)));
    }
    Ok(range)
}

/// Parses an iCalendar "date with UTC time" (RFC 5545 §3.3.5 form 2), e.g.
/// `20060104T000000Z`. Local and date-only values are refused, as RFC 4791
/// §9.9 requires UTC.
pub fn parse_utc(value: &str) -> Result<DateTime<Utc>, XmlError> {
    let err = || XmlError::InvalidTimeRange(format!("{value:?} is not a UTC date-time like 20060104T000000Z"));
    let v = value.trim().as_bytes();
    if v.len() != 16 || v[8] != b'T' || !matches!(v[15], b'Z' | b'z') {
        return Err(err());
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        v[r].iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
        (digits(0..4), digits(4..6), digits(6..8), digits(9..11), digits(11..13), digits(13..15))
    else {
        return Err(err());
    };
    let year = i32::try_from(y).map_err(|_| err())?;
    // A leap second (60) is clamped rather than refused; it cannot change which events match.
    let naive =
        NaiveDate::from_ymd_opt(year, mo, d).and_then(|date| date.and_hms_opt(h, mi, s.min(59))).ok_or_else(err)?;
    Ok(naive.and_utc())
}

/// ```text
/// <!ELEMENT calendar-data (comp?, (expand | limit-recurrence-set)?, limit-freebusy-set?)>
/// <!ATTLIST calendar-data content-type CDATA "text/calendar" version CDATA "2.0">
/// ```
pub(super) fn calendar_data(e: &Element) -> Result<CalendarData, XmlError> {
    let request = CalendarDataRequest {
        comp: e.child(CALDAV, "comp").map(comp_select).transpose()?,
        expand: e.child(CALDAV, "expand").map(closed_time_range).transpose()?,
        limit_recurrence_set: e.child(CALDAV, "limit-recurrence-set").map(closed_time_range).transpose()?,
        limit_freebusy_set: e.child(CALDAV, "limit-freebusy-set").map(closed_time_range).transpose()?,
    };
    if request.expand.is_some() && request.limit_recurrence_set.is_some() {
        return Err(XmlError::Invalid {
            what: "calendar-data",
            value: "expand and limit-recurrence-set are exclusive".into(),
        });
    }
    Ok(CalendarData {
        request,
        content_type: e.attr("content-type").map(str::to_owned),
        version: e.attr("version").map(str::to_owned),
    })
}

/// ```text
/// <!ELEMENT comp ((allprop | prop*), (allcomp | comp*))>
/// <!ATTLIST comp name CDATA #REQUIRED>
/// <!ELEMENT prop EMPTY>  <!ATTLIST prop name CDATA #REQUIRED novalue (yes | no) "no">
/// ```
fn comp_select(e: &Element) -> Result<CompSelect, XmlError> {
    let name = e.attr("name").map(str::trim).filter(|n| !n.is_empty()).ok_or(XmlError::Missing("comp name"))?;
    let props = if e.child(CALDAV, "allprop").is_some() {
        None
    } else {
        let props: Vec<PropSelect> = e
            .children_named(CALDAV, "prop")
            .filter_map(|p| {
                let name = p.attr("name")?.trim().to_ascii_uppercase();
                Some(PropSelect { name, novalue: p.attr("novalue").map(str::trim) == Some("yes") })
            })
            .collect();
        (!props.is_empty()).then_some(props)
    };
    let comps = if e.child(CALDAV, "allcomp").is_some() {
        None
    } else {
        let comps: Vec<CompSelect> = e.children_named(CALDAV, "comp").map(comp_select).collect::<Result<_, _>>()?;
        (!comps.is_empty()).then_some(comps)
    };
    Ok(CompSelect { name: name.to_ascii_uppercase(), props, comps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::QName;
    use crate::propfind::PropFind;
    use crate::report::Report;

    fn utc(s: &str) -> Option<DateTime<Utc>> {
        Some(parse_utc(s).unwrap())
    }

    fn query(body: &[u8]) -> CalendarQuery {
        match Report::parse(body) {
            Ok(Report::CalendarQuery(q)) => q,
            other => panic!("expected calendar-query, got {other:?}"),
        }
    }

    #[test]
    fn thunderbird_multiget_with_default_namespace() {
        let Report::CalendarMultiget(m) =
            Report::parse(include_bytes!("../../testdata/requests/thunderbird-multiget.xml")).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.props.props, PropFind::Prop(vec![QName::dav("getetag"), QName::caldav("calendar-data")]));
        assert_eq!(m.props.calendar_data, Some(CalendarData::default()));
        assert_eq!(
            m.hrefs,
            [
                "/dav/calendars/alice/work/0b3c4d2e-1111.ics",
                "/dav/calendars/alice/work/Meeting%20notes%20%26%20more.ics"
            ]
        );
    }

    #[test]
    fn ios_time_range_query() {
        let q = query(include_bytes!("../../testdata/requests/ios-calendar-query.xml"));
        assert_eq!(q.props.props, PropFind::Prop(vec![QName::dav("getetag"), QName::dav("getcontenttype")]));
        let CompTest::Defined { comps, .. } = &q.filter.test else { panic!() };
        assert_eq!(
            comps[0],
            CompFilter {
                name: "VEVENT".into(),
                test: CompTest::Defined {
                    time_range: Some(TimeRange { start: utc("20240212T000000Z"), end: None }),
                    props: vec![],
                    comps: vec![],
                },
            }
        );
    }

    #[test]
    fn rfc4791_expand_query_with_comp_selection() {
        let q = query(include_bytes!("../../testdata/requests/rfc4791-query-expand.xml"));
        let cd = q.props.calendar_data.unwrap();
        let range = TimeRange { start: utc("20060103T000000Z"), end: utc("20060105T000000Z") };
        assert_eq!(cd.request.expand, Some(range));
        let comp = cd.request.comp.unwrap();
        assert_eq!(comp.name, "VCALENDAR");
        assert_eq!(comp.props, Some(vec![PropSelect { name: "VERSION".into(), novalue: false }]));
        // `<C:comp name="VTIMEZONE"/>` names neither props nor comps: the whole component.
        let vtimezone = &comp.comps.as_ref().unwrap()[1];
        assert_eq!((vtimezone.name.as_str(), &vtimezone.props, &vtimezone.comps), ("VTIMEZONE", &None, &None));
        let vevent = &comp.comps.as_ref().unwrap()[0];
        assert_eq!(vevent.name, "VEVENT");
        let props = vevent.props.as_ref().unwrap();
        assert_eq!(props[0], PropSelect { name: "SUMMARY".into(), novalue: false });
        assert_eq!(props.iter().find(|p| p.name == "DESCRIPTION").map(|p| p.novalue), Some(true));
        assert_eq!(q.timezone, None);
    }

    #[test]
    fn text_and_param_filters() {
        let q = query(include_bytes!("../../testdata/requests/rfc4791-query-partstat.xml"));
        let CompTest::Defined { comps, .. } = &q.filter.test else { panic!() };
        let CompTest::Defined { props, .. } = &comps[0].test else { panic!() };
        assert_eq!(props[0].name, "ATTENDEE");
        let PropTest::Defined { text_match: Some(tm), params, .. } = &props[0].test else { panic!() };
        assert_eq!(tm.value, "mailto:lisa@example.com");
        assert_eq!(tm.collation, Collation::AsciiCasemap);
        assert_eq!(
            params[0],
            ParamFilter {
                name: "PARTSTAT".into(),
                test: ParamTest::Defined {
                    text_match: Some(TextMatch {
                        value: "NEEDS-ACTION".into(),
                        collation: Collation::AsciiCasemap,
                        match_type: MatchType::Contains,
                        negate: false
                    })
                },
            }
        );
        assert_eq!(q.timezone_id.as_deref(), Some("Europe/Berlin"));
    }

    fn filter_body(inner: &str) -> String {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter></C:calendar-query>"#
        )
    }

    #[test]
    fn negate_is_not_defined_and_collations() {
        let q = query(
            filter_body(
                r#"<C:comp-filter name="vtodo"><C:prop-filter name="completed"><C:is-not-defined/></C:prop-filter>
                   <C:prop-filter name="SUMMARY"><C:text-match collation="i;octet" negate-condition="yes">x</C:text-match></C:prop-filter></C:comp-filter>"#,
            )
            .as_bytes(),
        );
        let CompTest::Defined { comps, .. } = &q.filter.test else { panic!() };
        assert_eq!(comps[0].name, "VTODO");
        let CompTest::Defined { props, .. } = &comps[0].test else { panic!() };
        assert_eq!(props[0], PropFilter { name: "COMPLETED".into(), test: PropTest::IsNotDefined });
        let PropTest::Defined { text_match: Some(tm), .. } = &props[1].test else { panic!() };
        assert!(tm.negate);
        assert_eq!(tm.collation, Collation::Octet);

        let unsupported = filter_body(
            r#"<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>"#,
        );
        let err = Report::parse(unsupported.as_bytes()).unwrap_err();
        assert_eq!(err, XmlError::UnsupportedCollation("i;klingon".into()));
        assert_eq!(err.precondition(), Some(crate::precondition::Precondition::SupportedCollation));
    }

    #[test]
    fn invalid_filters_and_time_ranges() {
        let cases = [
            r#"<C:comp-filter name="VEVENT"><C:time-range start="20060104T000000"/></C:comp-filter>"#,
            r#"<C:comp-filter name="VEVENT"><C:time-range start="20060104"/></C:comp-filter>"#,
            r#"<C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter>"#,
            r#"<C:comp-filter name="VEVENT"><C:time-range start="20060105T000000Z" end="20060104T000000Z"/></C:comp-filter>"#,
            r#"<C:comp-filter name="VEVENT"><C:time-range start="20061304T000000Z"/></C:comp-filter>"#,
            r#"<C:comp-filter><C:is-not-defined/></C:comp-filter>"#,
            r#"<C:comp-filter name="VEVENT"><C:prop-filter name="X"><C:text-match negate-condition="maybe">a</C:text-match></C:prop-filter></C:comp-filter>"#,
        ];
        for case in cases {
            let err = Report::parse(filter_body(case).as_bytes()).unwrap_err();
            assert_eq!(err.precondition(), Some(crate::precondition::Precondition::ValidFilter), "{case}");
        }
        let not_vcalendar = r#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VEVENT"/></C:filter></C:calendar-query>"#;
        assert!(matches!(Report::parse(not_vcalendar.as_bytes()), Err(XmlError::InvalidFilter(_))));
        let no_filter = r#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#;
        assert!(matches!(Report::parse(no_filter.as_bytes()), Err(XmlError::InvalidFilter(_))));
    }

    #[test]
    fn utc_parsing() {
        assert_eq!(parse_utc("20060104T000000Z").unwrap().to_rfc3339(), "2006-01-04T00:00:00+00:00");
        assert_eq!(parse_utc("19991231T235960Z").unwrap().to_rfc3339(), "1999-12-31T23:59:59+00:00");
        for bad in
            ["", "2006-01-04T00:00:00Z", "20060104T000000+01", "20060230T000000Z", "2006010AT000000Z", "２００６"]
        {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_busy_query() {
        let body = br#"<?xml version="1.0" encoding="utf-8" ?>
<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
  <C:time-range start="20060104T140000Z" end="20060105T220000Z"/>
</C:free-busy-query>"#;
        let Report::FreeBusyQuery(fb) = Report::parse(body).unwrap() else { panic!() };
        assert_eq!(fb.time_range, TimeRange { start: utc("20060104T140000Z"), end: utc("20060105T220000Z") });
        let missing = br#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#;
        assert_eq!(Report::parse(missing), Err(XmlError::Missing("CALDAV:time-range")));
    }

    #[test]
    fn calendar_data_limits_need_both_ends() {
        let body = r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:limit-recurrence-set start="20060103T000000Z"/></C:calendar-data></D:prop><D:href>/a.ics</D:href></C:calendar-multiget>"#;
        assert!(matches!(Report::parse(body.as_bytes()), Err(XmlError::InvalidTimeRange(_))));
        let body = r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data content-type="text/calendar" version="2.0"><C:limit-freebusy-set start="20060102T000000Z" end="20060103T000000Z"/></C:calendar-data></D:prop><D:href> /a.ics </D:href></C:calendar-multiget>"#;
        let Report::CalendarMultiget(m) = Report::parse(body.as_bytes()).unwrap() else { panic!() };
        let cd = m.props.calendar_data.unwrap();
        assert!(cd.request.limit_freebusy_set.is_some());
        assert_eq!(cd.content_type.as_deref(), Some("text/calendar"));
        assert_eq!(m.hrefs, ["/a.ics"]);
        let no_href = r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop/></C:calendar-multiget>"#;
        assert_eq!(Report::parse(no_href.as_bytes()), Err(XmlError::Missing("DAV:href")));
    }
}
