//! The calendar-query filter (RFC 4791 §9.7) as plain data: `dav` parses XML into it, this crate evaluates it.

use chrono::{DateTime, Utc};

/// A UTC time range (RFC 4791 §9.9). Either end may be open: a missing `start`
/// means "from the beginning of time", a missing `end` "until the end of time".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// `CALDAV:comp-filter` (RFC 4791 §9.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    /// Component name in upper case: `VCALENDAR`, `VEVENT`, `VTODO`, `VALARM`, …
    pub name: String,
    pub test: CompTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompTest {
    /// `<is-not-defined/>`: the component must not exist.
    IsNotDefined,
    /// The component must exist, optionally overlap a time range, and every
    /// nested filter must match (RFC 4791 §9.7.1: the tests are ANDed).
    Defined { time_range: Option<TimeRange>, props: Vec<PropFilter>, comps: Vec<CompFilter> },
}

/// `CALDAV:prop-filter` (RFC 4791 §9.7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    /// Property name in upper case: `SUMMARY`, `ATTENDEE`, `X-FOO`, …
    pub name: String,
    pub test: PropTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropTest {
    IsNotDefined,
    Defined { time_range: Option<TimeRange>, text_match: Option<TextMatch>, params: Vec<ParamFilter> },
}

/// `CALDAV:param-filter` (RFC 4791 §9.7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    /// Parameter name in upper case: `PARTSTAT`, `TZID`, …
    pub name: String,
    pub test: ParamTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTest {
    IsNotDefined,
    Defined { text_match: Option<TextMatch> },
}

/// `CALDAV:text-match` (RFC 4791 §9.7.5). CalDAV's text-match is a substring
/// match; CardDAV adds the other match types (RFC 6352 §10.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub value: String,
    pub collation: Collation,
    pub match_type: MatchType,
    pub negate: bool,
}

/// Collations of RFC 4790 that CalDAV servers must support (RFC 4791 §7.5.1),
/// plus `i;unicode-casemap` (RFC 5051).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    #[default]
    AsciiCasemap,
    Octet,
    UnicodeCasemap,
}

impl Collation {
    /// The collation named by a `collation` attribute, or `None` if unsupported
    /// (the caller answers with the `supported-collation` precondition).
    pub fn from_name(name: &str) -> Option<Collation> {
        match name {
            "i;ascii-casemap" => Some(Collation::AsciiCasemap),
            "i;octet" => Some(Collation::Octet),
            "i;unicode-casemap" => Some(Collation::UnicodeCasemap),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Collation::AsciiCasemap => "i;ascii-casemap",
            Collation::Octet => "i;octet",
            Collation::UnicodeCasemap => "i;unicode-casemap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    Equals,
    #[default]
    Contains,
    StartsWith,
    EndsWith,
}

/// Which parts of an object a `calendar-data` element asks for (RFC 4791 §9.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarDataRequest {
    /// `CALDAV:comp` selection; `None` returns every component and property.
    pub comp: Option<CompSelect>,
    /// `CALDAV:expand`: return the instances in the range as separate
    /// components with RECURRENCE-ID, in UTC, without RRULE/RDATE/EXDATE.
    pub expand: Option<TimeRange>,
    /// `CALDAV:limit-recurrence-set`: keep the master, drop overrides outside the range.
    pub limit_recurrence_set: Option<TimeRange>,
    /// `CALDAV:limit-freebusy-set`: drop FREEBUSY periods outside the range.
    pub limit_freebusy_set: Option<TimeRange>,
}

/// `CALDAV:comp` (RFC 4791 §9.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompSelect {
    pub name: String,
    /// `None` = `<allprop/>` (or no prop elements), else the named properties.
    pub props: Option<Vec<PropSelect>>,
    /// `None` = `<allcomp/>` (or no comp elements), else the named sub-components.
    pub comps: Option<Vec<CompSelect>>,
}

/// `CALDAV:prop` inside `CALDAV:comp` (RFC 4791 §9.6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropSelect {
    /// Property name in upper case.
    pub name: String,
    /// `novalue="yes"`: return the property with its parameters but an empty value.
    pub novalue: bool,
}

/// `CARDDAV:filter` (RFC 6352 §10.5): the prop-filters of an addressbook-query
/// and whether any or all of them must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressFilter {
    /// The `test` attribute; RFC 6352 §10.5 defaults it to `anyof`.
    pub test: FilterTest,
    /// No prop-filters matches every card.
    pub props: Vec<CardPropFilter>,
}

/// `test="anyof|allof"` (RFC 6352 §10.5, §10.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterTest {
    #[default]
    AnyOf,
    AllOf,
}

/// `CARDDAV:prop-filter` (RFC 6352 §10.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPropFilter {
    /// vCard property name in upper case: `FN`, `EMAIL`, `TEL`, `X-FOO`, …
    pub name: String,
    /// How the text-matches and param-filters below combine (default `anyof`).
    pub test: FilterTest,
    /// `<is-not-defined/>`: the card must not have the property.
    pub is_not_defined: bool,
    pub text_matches: Vec<TextMatch>,
    /// Reuses CalDAV's param-filter; CardDAV's differs only in its default collation.
    pub params: Vec<ParamFilter>,
}
