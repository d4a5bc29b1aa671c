//! A stored calendar object resource (RFC 4791 §4.1): the client's exact text plus the parse.

use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarFrequency, ICalendarProperty};
use calcard::{Entry, Parser};

use crate::model::{Comp, TzTable, kind_of, prepare};
use crate::{Limits, MAX_PERIOD_INSTANCES, ObjectError};

/// The main component type of a calendar object resource (RFC 4791 §4.1 allows one kind per resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Event,
    Todo,
    Journal,
    FreeBusy,
}

impl ComponentKind {
    /// The iCalendar component name, as used in `supported-calendar-component-set` and comp-filters.
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Event => "VEVENT",
            ComponentKind::Todo => "VTODO",
            ComponentKind::Journal => "VJOURNAL",
            ComponentKind::FreeBusy => "VFREEBUSY",
        }
    }

    /// The kind named `name` (case-insensitive), if it is one of the four.
    pub fn from_name(name: &str) -> Option<ComponentKind> {
        [ComponentKind::Event, ComponentKind::Todo, ComponentKind::Journal, ComponentKind::FreeBusy]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// One calendar object resource. The raw text is the truth and is returned byte for byte on
/// GET; the parse and the prepared times are derived and exist so queries never re-parse.
#[derive(Debug, Clone)]
pub struct CalendarObject {
    raw: String,
    pub(crate) ical: ICalendar,
    uid: String,
    kind: ComponentKind,
    pub(crate) comps: Vec<Comp>,
}

impl CalendarObject {
    pub fn uid(&self) -> &str {
        &self.uid
    }

    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    /// Exactly the text the client sent.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The calcard parse, for callers that need more than this crate offers.
    pub fn ical(&self) -> &ICalendar {
        &self.ical
    }

    /// True when the main component recurs (RRULE or RDATE) or has overrides.
    pub fn is_recurring(&self) -> bool {
        self.comps.iter().any(|c| c.is_recurring() || c.rid.is_some())
    }

    /// Refuses, before the object is stored, a recurrence rule no query could expand within
    /// `limits`: one whose FREQ period may hold more than [`Limits::max_period_instances`]
    /// instances (`FREQ=YEARLY` with every BYMONTH, BYMONTHDAY, BYHOUR, BYMINUTE and BYSECOND
    /// makes 31.6 million a year). Such a rule is an [`ObjectError::InvalidObject`]
    /// (`CALDAV:valid-calendar-object-resource`, RFC 4791 §5.3.2.1); [`parse_object`] itself
    /// accepts it, so objects stored before this check still load, and every expansion treats
    /// the rule as producing nothing beyond DTSTART and RDATE.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), ObjectError> {
        let max = limits.max_period_instances.min(MAX_PERIOD_INSTANCES);
        for comp in &self.comps {
            let (Some(rule), Some(start)) = (comp.rrule.as_deref(), comp.start) else { continue };
            let bound = crate::recur::period_bound(start.naive, rule);
            if bound > max as u64 {
                let period = match rule.freq {
                    ICalendarFrequency::Yearly => "year",
                    ICalendarFrequency::Monthly => "month",
                    ICalendarFrequency::Weekly => "week",
                    ICalendarFrequency::Daily => "day",
                    ICalendarFrequency::Hourly => "hour",
                    ICalendarFrequency::Minutely => "minute",
                    ICalendarFrequency::Secondly => "second",
                };
                return Err(ObjectError::InvalidObject(format!(
                    "the RRULE of this {} can produce up to {bound} instances in one {period}; \
                     this server expands at most {max} per period of a rule's FREQ",
                    comp.kind.name()
                )));
            }
        }
        Ok(())
    }
}

/// Parses and validates a PUT body. Parsing is lenient (unknown properties, X- properties,
/// TZIDs without VTIMEZONE and broken VTIMEZONEs are all fine); only what RFC 4791 §4.1 makes
/// essential is checked. A `METHOD` property is accepted although §4.1 forbids it: iTIP
/// clients paste invitations as-is and rejecting them loses data for no gain.
pub fn parse_object(text: &str) -> Result<CalendarObject, ObjectError> {
    if let Some((line, c)) = crate::text::forbidden_control(text) {
        return Err(ObjectError::InvalidData(crate::text::describe_control(line, c)));
    }
    let mut parser = Parser::new(text);
    let ical = match parser.entry() {
        Entry::ICalendar(ical) => ical,
        Entry::VCard(_) => return Err(ObjectError::InvalidData("a vCard, not iCalendar".into())),
        Entry::Eof => return Err(ObjectError::InvalidData("empty body, expected BEGIN:VCALENDAR".into())),
        Entry::InvalidLine(line) => return Err(ObjectError::InvalidData(format!("invalid line: {line}"))),
        Entry::UnexpectedComponentEnd { expected, found } => {
            return Err(ObjectError::InvalidData(format!(
                "END:{} where END:{} was expected",
                found.as_str(),
                expected.as_str()
            )));
        }
        Entry::UnterminatedComponent(name) => {
            return Err(ObjectError::InvalidData(format!("BEGIN:{name} is never closed")));
        }
        Entry::TooManyComponents => return Err(ObjectError::InvalidData("too many components".into())),
        _ => return Err(ObjectError::InvalidData("not iCalendar".into())),
    };
    if ical.components.first().map(|c| &c.component_type) != Some(&ICalendarComponentType::VCalendar) {
        return Err(ObjectError::InvalidData("the body must be a single VCALENDAR".into()));
    }
    if let Entry::ICalendar(_) | Entry::VCard(_) = parser.entry() {
        return Err(ObjectError::InvalidObject("more than one VCALENDAR in one resource".into()));
    }
    validate(text, ical)
}

fn validate(text: &str, ical: ICalendar) -> Result<CalendarObject, ObjectError> {
    // The raw text was checked for controls, but calcard decodes QUOTED-PRINTABLE (vCalendar
    // 1.0 style), so `UID;ENCODING=QUOTED-PRINTABLE:a=00b` still made a UID with a NUL, which
    // the `uid` column of PostgreSQL cannot hold (fuzz, issue 19).
    for comp in &ical.components {
        for entry in &comp.entries {
            // ATTACH;ENCODING=BASE64 holds bytes, not text (RFC 5545 §3.8.1.1).
            if entry.name == ICalendarProperty::Attach {
                continue;
            }
            let decoded = entry.values.iter().filter_map(|v| match v {
                calcard::icalendar::ICalendarValue::Text(t) => Some(t.as_str()),
                _ => None,
            });
            if let Some(c) = decoded.filter_map(crate::text::forbidden_control).map(|(_, c)| c).next() {
                return Err(ObjectError::InvalidData(format!(
                    "{}: a decoded value contains control character U+{:04X} (RFC 5545 §3.1)",
                    entry.name.as_str(),
                    c as u32
                )));
            }
        }
    }
    let mut kind = None;
    let mut uid: Option<String> = None;
    let mut mains = Vec::new();
    for id in &ical.components[0].component_ids {
        let idx = *id as usize;
        let Some(comp) = ical.components.get(idx) else { continue };
        let Some(k) = kind_of(&comp.component_type) else { continue };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(ObjectError::InvalidObject(format!(
                    "mixes {} and {} components (RFC 4791 §4.1)",
                    prev.name(),
                    k.name()
                )));
            }
            Some(_) => {}
        }
        let this_uid = comp
            .property(&ICalendarProperty::Uid)
            .and_then(|e| e.values.first())
            .and_then(|v| v.as_text())
            .map(|u| u.trim())
            .filter(|u| !u.is_empty());
        let Some(this_uid) = this_uid else {
            return Err(ObjectError::InvalidObject(format!("{} without UID", k.name())));
        };
        match &uid {
            None => uid = Some(this_uid.to_string()),
            Some(prev) if prev != this_uid => {
                return Err(ObjectError::InvalidObject("more than one UID in one resource (RFC 4791 §4.1)".into()));
            }
            Some(_) => {}
        }
        mains.push((idx, k));
    }
    let (Some(kind), Some(uid)) = (kind, uid) else {
        return Err(ObjectError::InvalidObject("no VEVENT, VTODO, VJOURNAL or VFREEBUSY component".into()));
    };
    let tzs = TzTable::new(&ical);
    let comps: Vec<Comp> = mains.into_iter().map(|(idx, k)| prepare(&ical, &tzs, idx, k)).collect();
    // Two components for the same instance would make every answer ambiguous.
    let mut rids: Vec<_> =
        comps.iter().filter(|c| c.kind != ComponentKind::FreeBusy).map(|c| c.rid.map(|r| r.naive)).collect();
    rids.sort();
    if rids.windows(2).any(|w| w[0] == w[1]) {
        let what = if rids.iter().filter(|r| r.is_none()).count() > 1 { "master" } else { "RECURRENCE-ID" };
        return Err(ObjectError::InvalidObject(format!("duplicate {what} component for UID {uid}")));
    }
    Ok(CalendarObject { raw: text.to_string(), ical, uid, kind, comps })
}
