//! Busy time for CALDAV:free-busy-query (RFC 4791 §7.10) and its VFREEBUSY answer.

use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Write;

use calcard::icalendar::ICalendarStatus;

use crate::filter::TimeRange;
use crate::instances::{Window, collect};
use crate::{CalendarObject, ComponentKind, EvalContext, ExpandError};

/// FBTYPE of a busy period (RFC 5545 §3.2.9). FREE time is never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BusyKind {
    Busy,
    Tentative,
    Unavailable,
}

impl BusyKind {
    pub fn fbtype(self) -> &'static str {
        match self {
            BusyKind::Busy => "BUSY",
            BusyKind::Tentative => "BUSY-TENTATIVE",
            BusyKind::Unavailable => "BUSY-UNAVAILABLE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: BusyKind,
}

impl CalendarObject {
    /// Busy periods inside `range` (RFC 4791 §7.10): VEVENT instances that are not
    /// `TRANSP:TRANSPARENT` and not `STATUS:CANCELLED` (TENTATIVE → BUSY-TENTATIVE), plus the
    /// FREEBUSY periods of VFREEBUSY components; clipped to the range. Zero-length events
    /// block no time and are skipped.
    pub fn busy_periods(&self, range: &TimeRange, ctx: &EvalContext) -> Result<Vec<BusyPeriod>, ExpandError> {
        let (Some(lo), Some(hi)) = (range.start, range.end) else { return Err(ExpandError::UnboundedRange) };
        let mut out = Vec::new();
        let mut clip = |start: DateTime<Utc>, end: DateTime<Utc>, kind: BusyKind| {
            let (s, e) = (start.max(lo), end.min(hi));
            if s < e {
                out.push(BusyPeriod { start: s, end: e, kind });
            }
        };
        match self.kind() {
            ComponentKind::Event => {
                let window = Window { lo: Some(lo), hi: Some(hi), slack: TimeDelta::zero() };
                for inst in collect(self, window, ctx)? {
                    let comp = &self.comps[inst.comp];
                    if comp.transparent || comp.status == Some(ICalendarStatus::Cancelled) {
                        continue;
                    }
                    let kind = match comp.status {
                        Some(ICalendarStatus::Tentative) => BusyKind::Tentative,
                        _ => BusyKind::Busy,
                    };
                    if let (Some(s), Some(e)) = (inst.start, inst.end) {
                        clip(s, e, kind);
                    }
                }
            }
            ComponentKind::FreeBusy => {
                for comp in &self.comps {
                    for (kind, s, e) in &comp.freebusy {
                        if let Some(kind) = kind {
                            clip(*s, *e, *kind);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

/// The free-busy-query answer: one VCALENDAR/VFREEBUSY with DTSTAMP, the queried range and the
/// periods merged per FBTYPE, one FREEBUSY line per period (short lines need no folding).
pub fn write_freebusy(periods: &[BusyPeriod], range: (DateTime<Utc>, DateTime<Utc>), now: DateTime<Utc>) -> String {
    let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang//CalDAV//EN\r\nBEGIN:VFREEBUSY\r\n");
    let _ = write!(out, "DTSTAMP:{}\r\nDTSTART:{}\r\nDTEND:{}\r\n", utc(now), utc(range.0), utc(range.1));
    for kind in [BusyKind::Busy, BusyKind::Tentative, BusyKind::Unavailable] {
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            periods.iter().filter(|p| p.kind == kind && p.start < p.end).map(|p| (p.start, p.end)).collect();
        spans.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            let _ = write!(out, "FREEBUSY;FBTYPE={}:{}/{}\r\n", kind.fbtype(), utc(s), utc(e));
        }
    }
    out.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    out
}

pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}
