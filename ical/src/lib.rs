//! iCalendar and vCard for Madang's CalDAV/CardDAV server, on top of `calcard`: validation of
//! stored objects, calendar-query and addressbook-query evaluation, calendar-data and
//! address-data rendering, and free-busy. Pure: no I/O, no clock.
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
//! calcard materialises one whole FREQ period (a year for `FREQ=YEARLY`) before it yields the
//! first instance of it, so a 700-byte rule multiplying BYMONTH × BYMONTHDAY × BYHOUR ×
//! BYMINUTE × BYSECOND (31.6 million instances a year) used to cost 1.5 GB on every read, and no
//! count limit applied after the fact can help (Stalwart's CVE-2025-59045 is the same class).
//! So before any rule reaches calcard, `recur::period_bound` computes from the BYxxx parts an
//! upper bound on the instances one period can hold, and a rule over
//! [`Limits::max_period_instances`] is never expanded: [`CalendarObject::check_limits`] refuses
//! it at PUT, and one already stored contributes no instances beyond DTSTART and its RDATEs
//! (as a rule calcard rejects does), so one such object can neither exhaust memory nor make a
//! whole calendar-query fail.
//!
//! # vCard
//!
//! A [`CardObject`] follows the same rule: the text is the truth, the parse a cache. The
//! difference is versions. Clients store vCard 3.0 (Apple, RFC 2426), 4.0 (DAVx5, Thunderbird,
//! RFC 6350) or even 2.1 (Outlook exports), and each must be answered in the version it
//! understands: macOS Contacts fails a whole sync on one 4.0 card. So a card is served raw when
//! the client asks for its stored version and converted (calcard's writer plus the fix-ups in
//! `vcard_convert`, notably Apple's `X-ADDRESSBOOKSERVER-*` groups ⇄ `KIND`/`MEMBER`) when it
//! does not. Only a card without UID, or a body that is not exactly one vCard, is refused
//! (RFC 6352 §5.1), as a [`CardError`]. Addressbook-query (RFC 6352 §10.5) reuses the
//! collations of the calendar side.
//!
//! Modules: `model` (prepared view), `recur` (windowed RRULE expansion), `instances`
//! (RDATE/EXDATE/overrides), `timerange` (RFC 4791 §9.9), `filter_eval` (§9.7), `render`
//! (§9.6), `freebusy` (§7.10), `index` (the SQL pre-filter), `tz` (zone resolution), `text`
//! (text-match collations, shared), `vcard` (card objects), `vcard_convert` (RFC 6352 §10.4),
//! `vcard_filter` (RFC 6352 §10.5), `export` (a whole collection as one document).

pub mod birthdays;
pub mod directory;
pub mod export;
pub mod filter;
pub mod vcard;

mod error;
mod filter_eval;
mod freebusy;
mod index;
mod instances;
mod model;
mod object;
mod occurrences;
mod recur;
mod render;
mod text;
mod timerange;
mod tz;
mod vcard_convert;
mod vcard_filter;

pub use error::{CardError, ExpandError, ObjectError};
pub use freebusy::{BusyKind, BusyPeriod, write_freebusy};
pub use index::Index;
pub use object::{CalendarObject, ComponentKind, parse_object};
pub use occurrences::Occurrence;
pub use tz::{resolve_tzid, timezone_from_vcalendar};
pub use vcard::{CardObject, VCardVersion, normalize_phone, parse_card, split_cards};

/// Bounds on recurrence work. Every expansion counts instances against these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most instances one component may produce inside (or just around) one queried window.
    /// Only instances near the window count, so long-running series are never cut off; a rule
    /// that produces more than this inside an `expand` range is an error.
    pub max_instances: usize,
    /// Most occurrences counted from DTSTART to find where a COUNT-bounded rule ends (the count
    /// depends on everything before the window); a window past that point is an error. Only
    /// counts are kept, so this bounds time, not memory.
    pub max_scan: usize,
    /// Most instances one period of a rule's FREQ may hold, as estimated from its BYxxx parts
    /// before expanding (RFC 5545 §3.3.10). calcard builds a whole period in memory before
    /// yielding any of it, so this is what bounds the memory of one expansion step. A rule
    /// over it is refused at PUT ([`CalendarObject::check_limits`]) and never expanded when
    /// already stored. At most [`MAX_PERIOD_INSTANCES`].
    pub max_period_instances: usize,
}

/// The largest [`Limits::max_period_instances`] honoured: parsing probes every rule once (see
/// `recur::yields_any`) before any configuration is known, and this keeps that probe bounded
/// (a few MiB) whatever the rule.
pub const MAX_PERIOD_INSTANCES: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_instances: 10_000, max_scan: 200_000, max_period_instances: 10_000 }
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
