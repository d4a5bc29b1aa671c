//! The prepared, query-ready view of an object: every date of every component resolved to a
//! zone once, at parse time, so `matches()` over 10,000 objects never re-reads the text.

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz as CTz;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarFreeBusyType,
    ICalendarParameterName, ICalendarParameterValue, ICalendarPeriod, ICalendarProperty, ICalendarRecurrenceRule,
    ICalendarRelated, ICalendarStatus, ICalendarTransparency, ICalendarValue,
};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use std::collections::HashMap;

use crate::tz::{local_to_utc, resolve_name, resolve_vtimezone};
use crate::{BusyKind, ComponentKind};

/// A date or date-time as written, with its zone resolved. `CTz::Floating` covers floating
/// times, DATE values and TZIDs nobody could resolve (RFC 4791 §9.9: those are interpreted
/// in the calendar's time zone at query time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dt {
    pub naive: NaiveDateTime,
    pub tz: CTz,
    pub date_only: bool,
}

impl Dt {
    pub fn utc(&self, floating: chrono_tz::Tz) -> DateTime<Utc> {
        local_to_utc(self.naive, self.tz, floating)
    }

    pub fn is_floating(&self) -> bool {
        self.tz.is_floating()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum RdateEnd {
    At(Dt),
    For(TimeDelta),
}

#[derive(Debug, Clone)]
pub(crate) struct Rdate {
    pub start: Dt,
    pub end: Option<RdateEnd>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger {
    /// Relative to the instance start, or to its end with `RELATED=END` (RFC 5545 §3.8.6.3).
    Relative {
        delta: TimeDelta,
        from_end: bool,
    },
    Absolute(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub(crate) struct Alarm {
    pub trigger: Option<Trigger>,
    pub repeat: u32,
    pub interval: TimeDelta,
}

/// One VEVENT/VTODO/VJOURNAL/VFREEBUSY with its times resolved.
#[derive(Debug, Clone)]
pub(crate) struct Comp {
    /// Index into `ICalendar::components`.
    pub idx: usize,
    pub kind: ComponentKind,
    pub start: Option<Dt>,
    pub end: Option<Dt>,
    pub duration: Option<TimeDelta>,
    pub due: Option<Dt>,
    pub completed: Option<Dt>,
    pub created: Option<Dt>,
    pub rrule: Option<Box<ICalendarRecurrenceRule>>,
    /// UNTIL of the RRULE, kept with its own zone (usually UTC) for correct comparison.
    pub until: Option<Dt>,
    pub rdates: Vec<Rdate>,
    pub exdates: Vec<Dt>,
    pub rid: Option<Dt>,
    pub this_and_future: bool,
    pub alarms: Vec<(usize, Alarm)>,
    pub transparent: bool,
    pub status: Option<ICalendarStatus>,
    /// FREEBUSY periods of a VFREEBUSY (RFC 5545 §3.8.2.6: always UTC).
    pub freebusy: Vec<(Option<BusyKind>, DateTime<Utc>, DateTime<Utc>)>,
}

impl Comp {
    pub fn is_recurring(&self) -> bool {
        self.rid.is_none() && (self.rrule.is_some() || !self.rdates.is_empty())
    }
}

/// Maps each TZID used in the object to a zone: the object's own VTIMEZONEs first, then names.
pub(crate) struct TzTable {
    zones: HashMap<String, CTz>,
}

impl TzTable {
    pub fn new(ical: &ICalendar) -> Self {
        let mut zones = HashMap::new();
        for comp in ical.components.iter().filter(|c| c.component_type == ICalendarComponentType::VTimezone) {
            let tzid = comp.property(&ICalendarProperty::Tzid).and_then(|e| e.values.first()).and_then(|v| v.as_text());
            if let (Some(tzid), Some(tz)) = (tzid, resolve_vtimezone(ical, comp)) {
                zones.insert(tzid.to_string(), tz);
            }
        }
        TzTable { zones }
    }

    /// The zone for a TZID; unknown ones become floating rather than an error (rustical#210:
    /// Home Assistant sends zones nobody knows).
    pub fn resolve(&self, tzid: &str) -> CTz {
        self.zones
            .get(tzid)
            .or_else(|| self.zones.get(tzid.trim()))
            .copied()
            .or_else(|| resolve_name(tzid))
            .unwrap_or(CTz::Floating)
    }

    pub fn dt(&self, entry: &ICalendarEntry, value: &PartialDateTime) -> Option<Dt> {
        let result = value.to_date_time()?;
        let date_only = !value.has_time();
        let tz = if date_only {
            CTz::Floating
        } else if let Some(tz) = result.tz() {
            tz
        } else {
            entry.tz_id().map(|id| self.resolve(id)).unwrap_or(CTz::Floating)
        };
        Some(Dt { naive: result.date_time, tz, date_only })
    }

    fn first_dt(&self, entry: &ICalendarEntry) -> Option<Dt> {
        match entry.values.first()? {
            ICalendarValue::PartialDateTime(p) => self.dt(entry, p),
            _ => None,
        }
    }
}

pub(crate) fn kind_of(t: &ICalendarComponentType) -> Option<ComponentKind> {
    match t {
        ICalendarComponentType::VEvent => Some(ComponentKind::Event),
        ICalendarComponentType::VTodo => Some(ComponentKind::Todo),
        ICalendarComponentType::VJournal => Some(ComponentKind::Journal),
        ICalendarComponentType::VFreebusy => Some(ComponentKind::FreeBusy),
        _ => None,
    }
}

/// Builds the prepared view of one main component.
pub(crate) fn prepare(ical: &ICalendar, tzs: &TzTable, idx: usize, kind: ComponentKind) -> Comp {
    let comp = &ical.components[idx];
    let mut out = Comp {
        idx,
        kind,
        start: None,
        end: None,
        duration: None,
        due: None,
        completed: None,
        created: None,
        rrule: None,
        until: None,
        rdates: Vec::new(),
        exdates: Vec::new(),
        rid: None,
        this_and_future: false,
        alarms: Vec::new(),
        transparent: false,
        status: comp.status().cloned(),
        freebusy: Vec::new(),
    };
    out.transparent = matches!(comp.transparency(), Some(ICalendarTransparency::Transparent));
    for entry in &comp.entries {
        match &entry.name {
            ICalendarProperty::Dtstart => out.start = tzs.first_dt(entry),
            ICalendarProperty::Dtend => out.end = tzs.first_dt(entry),
            ICalendarProperty::Due => out.due = tzs.first_dt(entry),
            ICalendarProperty::Completed => out.completed = tzs.first_dt(entry),
            ICalendarProperty::Created => out.created = tzs.first_dt(entry),
            ICalendarProperty::Duration => {
                if let Some(ICalendarValue::Duration(d)) = entry.values.first() {
                    out.duration = d.to_time_delta();
                }
            }
            ICalendarProperty::Rrule => {
                if let Some(ICalendarValue::RecurrenceRule(rule)) = entry.values.first() {
                    // UNTIL without Z inherits DTSTART's zone; fixed up after the loop.
                    out.until = rule.until.as_ref().and_then(|u| tzs.dt(entry, u));
                    out.rrule = Some(rule.clone());
                }
            }
            ICalendarProperty::Rdate => collect_rdates(tzs, entry, &mut out.rdates),
            ICalendarProperty::Exdate => out.exdates.extend(entry.values.iter().filter_map(|v| match v {
                ICalendarValue::PartialDateTime(p) => tzs.dt(entry, p),
                _ => None,
            })),
            ICalendarProperty::RecurrenceId => {
                out.rid = tzs.first_dt(entry);
                out.this_and_future = entry.params.iter().any(|p| p.name == ICalendarParameterName::Range);
            }
            ICalendarProperty::Freebusy => collect_freebusy(tzs, entry, &mut out.freebusy),
            _ => {}
        }
    }
    // A floating UNTIL next to a zoned DTSTART is in DTSTART's zone (RFC 5545 §3.3.10).
    if let (Some(until), Some(start)) = (out.until.as_mut(), out.start)
        && until.tz.is_floating()
    {
        until.tz = start.tz;
    }
    // Drop rules that can never produce an occurrence (see `recur::yields_any`).
    if let (Some(rule), Some(start)) = (out.rrule.as_deref(), out.start) {
        let until = out.until.map(|u| {
            if u.date_only {
                u.naive.date().and_hms_opt(23, 59, 59).unwrap_or(u.naive)
            } else if u.tz == start.tz || start.tz.is_floating() {
                u.naive
            } else {
                crate::tz::utc_to_local(u.utc(chrono_tz::UTC), start.tz, chrono_tz::UTC)
            }
        });
        if !crate::recur::yields_any(start.naive, rule, until) {
            out.rrule = None;
        }
    }
    for child in &comp.component_ids {
        let child = *child as usize;
        if let Some(c) = ical.components.get(child)
            && c.component_type == ICalendarComponentType::VAlarm
        {
            out.alarms.push((child, prepare_alarm(tzs, c)));
        }
    }
    out
}

fn collect_rdates(tzs: &TzTable, entry: &ICalendarEntry, out: &mut Vec<Rdate>) {
    for value in &entry.values {
        match value {
            ICalendarValue::PartialDateTime(p) => {
                if let Some(start) = tzs.dt(entry, p) {
                    out.push(Rdate { start, end: None });
                }
            }
            ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => {
                if let (Some(start), Some(end)) = (tzs.dt(entry, start), tzs.dt(entry, end)) {
                    out.push(Rdate { start, end: Some(RdateEnd::At(end)) });
                }
            }
            ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
                if let (Some(start), Some(d)) = (tzs.dt(entry, start), duration.to_time_delta()) {
                    out.push(Rdate { start, end: Some(RdateEnd::For(d)) });
                }
            }
            _ => {}
        }
    }
}

fn collect_freebusy(
    tzs: &TzTable,
    entry: &ICalendarEntry,
    out: &mut Vec<(Option<BusyKind>, DateTime<Utc>, DateTime<Utc>)>,
) {
    // FBTYPE defaults to BUSY (RFC 5545 §3.2.9); FREE periods are kept as `None` so
    // limit-freebusy-set can still see them but busy-time reports skip them.
    let kind = match entry.parameter(&ICalendarParameterName::Fbtype) {
        Some(ICalendarParameterValue::Fbtype(ICalendarFreeBusyType::Free)) => None,
        Some(ICalendarParameterValue::Fbtype(ICalendarFreeBusyType::BusyTentative)) => Some(BusyKind::Tentative),
        Some(ICalendarParameterValue::Fbtype(ICalendarFreeBusyType::BusyUnavailable)) => Some(BusyKind::Unavailable),
        _ => Some(BusyKind::Busy),
    };
    for value in &entry.values {
        let ICalendarValue::Period(period) = value else { continue };
        let (start, end) = match period {
            ICalendarPeriod::Range { start, end } => {
                let (Some(s), Some(e)) = (tzs.dt(entry, start), tzs.dt(entry, end)) else { continue };
                (s.utc(chrono_tz::UTC), e.utc(chrono_tz::UTC))
            }
            ICalendarPeriod::Duration { start, duration } => {
                let (Some(s), Some(d)) = (tzs.dt(entry, start), duration.to_time_delta()) else { continue };
                let s = s.utc(chrono_tz::UTC);
                (s, s + d)
            }
        };
        out.push((kind, start, end));
    }
}

fn prepare_alarm(tzs: &TzTable, alarm: &ICalendarComponent) -> Alarm {
    let mut out = Alarm { trigger: None, repeat: 0, interval: TimeDelta::zero() };
    for entry in &alarm.entries {
        match (&entry.name, entry.values.first()) {
            (ICalendarProperty::Trigger, Some(ICalendarValue::Duration(d))) => {
                let from_end = matches!(
                    entry.parameter(&ICalendarParameterName::Related),
                    Some(ICalendarParameterValue::Related(ICalendarRelated::End))
                );
                out.trigger = d.to_time_delta().map(|delta| Trigger::Relative { delta, from_end });
            }
            (ICalendarProperty::Trigger, Some(ICalendarValue::PartialDateTime(p))) => {
                out.trigger = tzs.dt(entry, p).map(|dt| Trigger::Absolute(dt.utc(chrono_tz::UTC)));
            }
            (ICalendarProperty::Repeat, Some(ICalendarValue::Integer(n))) => {
                out.repeat = u32::try_from(*n).unwrap_or(0).min(1000);
            }
            (ICalendarProperty::Duration, Some(ICalendarValue::Duration(d))) => {
                out.interval = d.to_time_delta().unwrap_or_default();
            }
            _ => {}
        }
    }
    out
}
