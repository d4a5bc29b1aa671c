//! iCalendar for Madang's CalDAV server, on top of `calcard`: validation of stored objects,
//! calendar-query evaluation, calendar-data rendering and free-busy. Pure: no I/O, no clock.
//!
//! # Design
//!
//! A [`CalendarObject`] is the text a client sent plus what we derived from it. The text is the
//! truth and is served back unchanged; the parse (calcard's `ICalendar`) and a *prepared* view,
//! in which every DTSTART/DTEND/DUE/RDATE/EXDATE/RECURRENCE-ID already has its zone resolved, are
//! caches. Building them once at parse time is what makes a calendar-query over 10,000 objects
//! cheap: evaluation walks prepared values and never touches text.
//!
//! Parsing is lenient because clients are broken in well-known ways (see `CLIENTS.md`): TZIDs
//! without VTIMEZONE, Windows zone names, trailing spaces, home-made VTIMEZONEs. A zone that
//! cannot be resolved becomes *floating* (interpreted in the calendar's zone at query time)
//! rather than a 403. Only what RFC 4791 §4.1 makes essential is refused, with an
//! [`ObjectError`] whose family names the §5.3.2 precondition.
//!
//! Recurrence uses calcard's RRULE engine; this crate never reimplements BYxxx logic. What it
//! adds is *where* expansion starts: a rule without COUNT is re-anchored a whole number of
//! periods before the queried window, so an infinite weekly meeting queried 20 years ahead costs
//! the same as one queried next week. Expansion happens in the event's own zone (wall-clock)
//! and only then is converted to UTC, which keeps DST right. Every expansion is bounded by
//! [`Limits`]; exceeding them is an [`ExpandError`], never a hang.
//!
//! Modules: `model` (prepared view), `recur` (windowed RRULE expansion), `instances`
//! (RDATE/EXDATE/overrides), `timerange` (RFC 4791 §9.9), `filter_eval` (§9.7), `render`
//! (§9.6), `freebusy` (§7.10), `index` (the SQL pre-filter), `tz` (zone resolution).

pub mod filter;

mod error;
mod filter_eval;
mod freebusy;
mod index;
mod instances;
mod model;
mod object;
mod recur;
mod render;
mod text;
mod timerange;
mod tz;

pub use error::{ExpandError, ObjectError};
pub use freebusy::{BusyKind, BusyPeriod, write_freebusy};
pub use index::Index;
pub use object::{CalendarObject, ComponentKind, parse_object};
pub use tz::{resolve_tzid, timezone_from_vcalendar};

/// Bounds on recurrence work. Every expansion counts instances against these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most instances one component may produce inside (or just around) one queried window.
    /// Only instances near the window count, so long-running series are never cut off; a rule
    /// that produces more than this inside an `expand` range is an error.
    pub max_instances: usize,
    /// Most occurrences walked from DTSTART for COUNT-bounded rules, which cannot be
    /// re-anchored (the count depends on everything before the window).
    pub max_scan: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_instances: 10_000, max_scan: 200_000 }
    }
}

/// Everything evaluation needs besides the object and the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalContext {
    /// Zone for floating times and all-day values: the collection's `calendar-timezone`
    /// or the request's `CALDAV:timezone` (RFC 4791 §9.9); UTC when neither is set.
    pub floating_tz: chrono_tz::Tz,
    pub limits: Limits,
}

impl Default for EvalContext {
    fn default() -> Self {
        EvalContext { floating_tz: chrono_tz::UTC, limits: Limits::default() }
    }
}
