//! The derived time index stored next to each object so the server can pre-filter
//! time-range queries in SQL before evaluating RFC 4791 §9.9 exactly.

use chrono::{DateTime, TimeDelta, Utc};

use crate::instances::{Window, collect};
use crate::model::Comp;
use crate::{CalendarObject, ComponentKind, EvalContext, Limits};

/// A superset of the time covered by every instance of the object's main components, in UTC
/// Unix seconds, as a half-open interval `[start, end)`.
///
/// SQL pre-filter for a query `[qs, qe)`: `(start IS NULL OR start < qe) AND (end IS NULL OR end > qs)`.
/// Point-like values (a DATE-TIME DTSTART without end) are stored as `[t, t+1)`, which makes that
/// half-open test reproduce §9.9's `(start <= DTSTART AND end > DTSTART)` for whole-second queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    /// `None`: unbounded past (or no time information at all).
    pub start: Option<i64>,
    /// `None`: open-ended (an infinite RRULE) or no time information.
    pub end: Option<i64>,
    /// True when a comp-filter time-range on the main component kind is decided exactly by the
    /// half-open overlap of `[start, end)`: a single non-recurring VEVENT with UTC or zoned
    /// (not floating, not all-day) times. Time-ranges on VALARM or properties still need `matches()`.
    pub exact: bool,
}

/// Floating and all-day times are placed by the *query's* time zone, unknown at store time;
/// UTC offsets span −12:00…+14:00, so ±14 h covers every zone.
const FLOATING_PAD: TimeDelta = TimeDelta::hours(14);

impl CalendarObject {
    pub fn index(&self, limits: &Limits) -> Index {
        let ctx = EvalContext { floating_tz: chrono_tz::UTC, limits: *limits };
        let mut lo: Option<DateTime<Utc>> = None;
        let mut hi: Option<DateTime<Utc>> = None;
        let mut open_lo = false;
        let mut open_hi = false;
        let mut extend = |s: Option<DateTime<Utc>>, e: Option<DateTime<Utc>>| {
            match s {
                Some(s) => lo = Some(lo.map_or(s, |l| l.min(s))),
                None => open_lo = true,
            }
            match e {
                Some(e) => hi = Some(hi.map_or(e, |h| h.max(e))),
                None => open_hi = true,
            }
        };
        let floating = self.comps.iter().any(has_floating);
        let pad = if floating { FLOATING_PAD } else { TimeDelta::zero() };
        let one = TimeDelta::seconds(1);
        for comp in &self.comps {
            if comp.kind == ComponentKind::FreeBusy {
                let mut points: Vec<DateTime<Utc>> = comp.freebusy.iter().flat_map(|(_, s, e)| [*s, *e]).collect();
                points.extend(comp.start.iter().chain(comp.end.iter()).map(|d| d.utc(chrono_tz::UTC)));
                match (points.iter().min(), points.iter().max()) {
                    (Some(s), Some(e)) => extend(Some(*s - pad), Some(*e + pad + one)),
                    _ => extend(None, None),
                }
                continue;
            }
            if comp.kind == ComponentKind::Todo && comp.start.is_none() && comp.due.is_none() {
                // §9.9: COMPLETED/CREATED rows, or no dates at all (always matches).
                let done = comp.completed.map(|d| d.utc(chrono_tz::UTC));
                let made = comp.created.map(|d| d.utc(chrono_tz::UTC));
                match (done, made) {
                    (Some(d), Some(m)) => extend(Some(d.min(m) - pad), Some(d.max(m) + pad + one)),
                    (Some(d), None) => extend(Some(d - pad), Some(d + pad + one)),
                    (None, Some(m)) => extend(Some(m - pad), None),
                    (None, None) => extend(None, None),
                }
                continue;
            }
        }
        // Instances of events, journals and dated to-dos. A finite series is enumerated once
        // (bounded by the limits); an infinite one is open-ended.
        let infinite = self
            .comps
            .iter()
            .any(|c| c.rrule.as_ref().is_some_and(|r| r.count.is_none() && c.until.is_none()) && c.rid.is_none());
        let dated =
            self.comps.iter().any(|c| c.kind != ComponentKind::FreeBusy && (c.start.is_some() || c.due.is_some()));
        if dated {
            let window = Window { lo: None, hi: None, slack: TimeDelta::zero() };
            let instances = if infinite { Err(()) } else { collect(self, window, &ctx).map_err(|_| ()) };
            match instances {
                Ok(list) => {
                    if list.is_empty() {
                        // Every instance excluded (sabre-io/dav#1456): an empty interval that
                        // overlaps nothing, placed at DTSTART.
                        let t = self.comps.iter().find_map(|c| c.start).map(|d| d.utc(chrono_tz::UTC));
                        extend(t, t);
                    }
                    for inst in list {
                        let comp = &self.comps[inst.comp];
                        if comp.kind == ComponentKind::Todo && comp.start.is_none() && comp.due.is_none() {
                            continue;
                        }
                        let s = inst.start.or(inst.end);
                        let e = inst.end.or(inst.start);
                        extend(s.map(|s| s - pad), e.map(|e| e.max(s.unwrap_or(e)) + pad + one));
                    }
                }
                Err(()) => {
                    // Earliest possible start: DTSTART, RDATEs and overrides; no end.
                    let starts = self.comps.iter().flat_map(|c| {
                        c.start.iter().chain(c.due.iter()).chain(c.rdates.iter().map(|r| &r.start)).copied()
                    });
                    let first = starts.map(|d| d.utc(chrono_tz::UTC)).min();
                    extend(first.map(|s| s - pad - TimeDelta::days(1)), None);
                }
            }
        }
        let exact = self.kind() == ComponentKind::Event
            && self.comps.len() == 1
            && !floating
            && !self.comps[0].is_recurring()
            && self.comps[0].rid.is_none()
            && self.comps[0].start.is_some();
        let exact_end_fix = |e: DateTime<Utc>| {
            // For an exact point event the `+1 s` above is the point encoding; for a real
            // interval it would be off by one, so remove it again.
            let c = &self.comps[0];
            let start = c.start.map(|s| s.utc(chrono_tz::UTC));
            if exact && start.is_some_and(|s| s + one < e) { e - one } else { e }
        };
        Index {
            start: if open_lo { None } else { lo.map(|t| t.timestamp()) },
            end: if open_hi { None } else { hi.map(|t| exact_end_fix(t).timestamp()) },
            exact,
        }
    }
}

fn has_floating(c: &Comp) -> bool {
    [c.start, c.end, c.due, c.completed, c.created, c.rid].iter().flatten().any(|d| d.is_floating())
        || c.rdates.iter().any(|r| r.start.is_floating())
}
