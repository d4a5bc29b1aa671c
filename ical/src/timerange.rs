//! The time-range tests of RFC 4791 §9.9, per component type, applied to one instance.

use chrono::{DateTime, TimeDelta, Utc};

use crate::filter::TimeRange;
use crate::instances::Instance;
use crate::model::{Alarm, Comp, Trigger};
use crate::{ComponentKind, EvalContext};

type T = DateTime<Utc>;

/// `start < t` with an open start meaning "always".
fn s_lt(r: &TimeRange, t: T) -> bool {
    r.start.is_none_or(|s| s < t)
}
fn s_le(r: &TimeRange, t: T) -> bool {
    r.start.is_none_or(|s| s <= t)
}
fn e_gt(r: &TimeRange, t: T) -> bool {
    r.end.is_none_or(|e| e > t)
}
fn e_ge(r: &TimeRange, t: T) -> bool {
    r.end.is_none_or(|e| e >= t)
}

/// Note the table's operands: `start`/`end` are the *query*; the table is written as
/// "(start < DTEND AND end > DTSTART)". Here `r.start` is the query start.
fn q_start_before(r: &TimeRange, t: T) -> bool {
    // query.start < t
    r.start.is_none_or(|s| s < t)
}

/// Does `inst` of `comp` overlap `r` under the §9.9 table for its component type?
pub(crate) fn instance_overlaps(comp: &Comp, inst: &Instance, r: &TimeRange, ctx: &EvalContext) -> bool {
    let f = ctx.floating_tz;
    match comp.kind {
        ComponentKind::Event | ComponentKind::Journal => {
            let Some(start) = inst.start else { return false };
            let end = inst.end.unwrap_or(start);
            if end > start {
                // (start < DTEND AND end > DTSTART)
                q_start_before(r, end) && e_gt(r, start)
            } else {
                // Zero length: (start <= DTSTART AND end > DTSTART)
                s_le(r, start) && e_gt(r, start)
            }
        }
        ComponentKind::Todo => todo_overlaps(comp, inst, r, f),
        ComponentKind::FreeBusy => freebusy_overlaps(comp, r, f),
    }
}

/// The VTODO table of RFC 4791 §9.9, row by row.
fn todo_overlaps(comp: &Comp, inst: &Instance, r: &TimeRange, f: chrono_tz::Tz) -> bool {
    let completed = comp.completed.map(|d| d.utc(f));
    let created = comp.created.map(|d| d.utc(f));
    match (inst.start, comp.due.is_some(), comp.duration.is_some(), inst.end) {
        // DTSTART + DURATION: (start <= DTSTART+DURATION) AND ((end > DTSTART) OR (end >= DTSTART+DURATION))
        (Some(start), false, true, Some(end)) => s_le(r, end) && (e_gt(r, start) || e_ge(r, end)),
        // DTSTART + DUE: ((start < DUE) OR (start <= DTSTART)) AND ((end > DTSTART) OR (end >= DUE))
        (Some(start), true, _, Some(due)) => (s_lt(r, due) || s_le(r, start)) && (e_gt(r, start) || e_ge(r, due)),
        // DTSTART only: (start <= DTSTART) AND (end > DTSTART)
        (Some(start), _, _, _) => s_le(r, start) && e_gt(r, start),
        // DUE only: (start < DUE) AND (end >= DUE)
        (None, true, _, Some(due)) => s_lt(r, due) && e_ge(r, due),
        _ => match (completed, created) {
            // COMPLETED + CREATED: ((start <= CREATED) OR (start <= COMPLETED)) AND
            //                      ((end >= CREATED) OR (end >= COMPLETED))
            (Some(done), Some(made)) => (s_le(r, made) || s_le(r, done)) && (e_ge(r, made) || e_ge(r, done)),
            // COMPLETED only: (start <= COMPLETED) AND (end >= COMPLETED)
            (Some(done), None) => s_le(r, done) && e_ge(r, done),
            // CREATED only: (end > CREATED)
            (None, Some(made)) => e_gt(r, made),
            // Nothing: always matches.
            (None, None) => true,
        },
    }
}

/// VFREEBUSY (RFC 4791 §9.9): DTSTART/DTEND, else any FREEBUSY period, else no match.
fn freebusy_overlaps(comp: &Comp, r: &TimeRange, f: chrono_tz::Tz) -> bool {
    if let (Some(s), Some(e)) = (comp.start, comp.end) {
        // (start <= DTEND) AND (end > DTSTART)
        return s_le(r, e.utc(f)) && e_gt(r, s.utc(f));
    }
    comp.freebusy.iter().any(|(_, s, e)| q_start_before(r, *e) && e_gt(r, *s))
}

/// VALARM (RFC 4791 §9.9): some trigger time of this instance, including repetitions,
/// satisfies (start <= trigger AND end > trigger).
pub(crate) fn alarm_fires_in(alarm: &Alarm, inst: &Instance, r: &TimeRange) -> bool {
    let Some(trigger) = alarm_time(alarm, inst) else { return false };
    (0..=alarm.repeat).any(|n| {
        let t = trigger + alarm.interval * n as i32;
        s_le(r, t) && e_gt(r, t)
    })
}

fn alarm_time(alarm: &Alarm, inst: &Instance) -> Option<T> {
    match alarm.trigger? {
        Trigger::Absolute(t) => Some(t),
        Trigger::Relative { delta, from_end: true } => inst.end.or(inst.start).map(|t| t + delta),
        Trigger::Relative { delta, from_end: false } => inst.start.or(inst.end).map(|t| t + delta),
    }
}

/// How far alarm triggers of `comp` reach from an instance: the window widening needed to see them.
pub(crate) fn alarm_reach(comp: &Comp) -> TimeDelta {
    comp.alarms
        .iter()
        .map(|(_, a)| {
            let base = match a.trigger {
                Some(Trigger::Relative { delta, .. }) => delta.abs(),
                // Absolute triggers do not move with the instance; they are tested per instance anyway.
                _ => TimeDelta::zero(),
            };
            base + a.interval.abs() * a.repeat as i32
        })
        .max()
        .unwrap_or_default()
}
