//! The recurrence set of an object (RFC 5545 §3.8.5): DTSTART, RRULE, RDATE, minus EXDATE,
//! with RECURRENCE-ID overrides (incl. RANGE=THISANDFUTURE) replacing the instances they name.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use calcard::common::timezone::Tz as CTz;
use calcard::icalendar::ICalendarFrequency;

use crate::model::{Comp, Dt, RdateEnd};
use crate::recur::occurrences;
use crate::tz::{local_to_utc, utc_to_local};
use crate::{CalendarObject, ComponentKind, EvalContext, ExpandError};

/// One occurrence, with the component whose properties it carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Instance {
    /// Index into `CalendarObject::comps`.
    pub comp: usize,
    pub start: Option<DateTime<Utc>>,
    /// DTEND/DUE, or the end derived from DURATION or the RFC 5545 §3.6.1 defaults.
    pub end: Option<DateTime<Utc>>,
    /// Original start (RECURRENCE-ID) for instances of a recurring component.
    pub rid: Option<DateTime<Utc>>,
}

/// A window in UTC; `None` ends are unbounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub lo: Option<DateTime<Utc>>,
    pub hi: Option<DateTime<Utc>>,
    /// Extra widening on both sides (alarm triggers, periods reaching into the window).
    pub slack: TimeDelta,
}

/// Calls `visit` for every instance of the object's components that might touch `window`
/// (a superset; callers apply the exact §9.9 test), stopping early when `visit` returns true.
/// Returns whether `visit` stopped the walk.
pub(crate) fn for_each_instance(
    obj: &CalendarObject,
    window: Window,
    ctx: &EvalContext,
    visit: &mut dyn FnMut(&Instance) -> bool,
) -> Result<bool, ExpandError> {
    let f = ctx.floating_tz;
    let overrides: Vec<(usize, DateTime<Utc>)> =
        obj.comps.iter().enumerate().filter_map(|(i, c)| c.rid.map(|r| (i, r.utc(f)))).collect();
    for (i, comp) in obj.comps.iter().enumerate() {
        if comp.kind == ComponentKind::FreeBusy {
            continue;
        }
        if !comp.is_recurring() {
            let inst = single(i, comp, f, comp.rid.map(|r| r.utc(f)));
            if visit(&inst) {
                return Ok(true);
            }
            continue;
        }
        if expand_master(obj, i, comp, &overrides, window, ctx, visit)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Collects instances into a vector, for rendering and free-busy.
pub(crate) fn collect(obj: &CalendarObject, window: Window, ctx: &EvalContext) -> Result<Vec<Instance>, ExpandError> {
    let mut out = Vec::new();
    let mut count = 0usize;
    let limit = ctx.limits.max_instances;
    let mut over = false;
    for_each_instance(obj, window, ctx, &mut |inst| {
        count += 1;
        if count > limit {
            over = true;
            return true;
        }
        out.push(*inst);
        false
    })?;
    if over {
        return Err(ExpandError::TooManyInstances { limit });
    }
    Ok(out)
}

/// The instance of a non-recurring component or an override.
fn single(i: usize, comp: &Comp, f: chrono_tz::Tz, rid: Option<DateTime<Utc>>) -> Instance {
    let start = comp.start.map(|s| s.utc(f));
    let end = match comp.start {
        Some(s) => end_for(comp, s.naive, s.tz, f),
        None => comp.due.map(|d| d.utc(f)),
    };
    Instance { comp: i, start, end, rid }
}

/// The naive (wall-clock) length from DTSTART to DTEND/DUE, or DURATION. Nominal lengths keep
/// an all-day or 09:00–10:00 event the same on both sides of a DST change.
fn nominal_length(comp: &Comp, f: chrono_tz::Tz) -> Option<TimeDelta> {
    let start = comp.start?;
    let end = match comp.kind {
        ComponentKind::Todo => comp.due,
        _ => comp.end,
    };
    if let Some(end) = end {
        let local_end = if end.tz == start.tz { end.naive } else { utc_to_local(end.utc(f), start.tz, f) };
        return Some(local_end - start.naive);
    }
    if let Some(d) = comp.duration {
        return Some(d);
    }
    match comp.kind {
        // RFC 5545 §3.6.1: a DATE DTSTART alone lasts one day, a DATE-TIME one is a point.
        ComponentKind::Event | ComponentKind::Journal if start.date_only => Some(TimeDelta::days(1)),
        ComponentKind::Event | ComponentKind::Journal => Some(TimeDelta::zero()),
        _ => None,
    }
}

fn end_for(comp: &Comp, start: NaiveDateTime, tz: CTz, f: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    nominal_length(comp, f).and_then(|len| start.checked_add_signed(len)).map(|e| local_to_utc(e, tz, f))
}

fn chunk_length(freq: ICalendarFrequency, interval: i64) -> TimeDelta {
    let secs = match freq {
        ICalendarFrequency::Yearly => 366 * 86_400 * 8,
        ICalendarFrequency::Monthly => 31 * 86_400 * 12,
        ICalendarFrequency::Weekly => 7 * 86_400 * 52,
        ICalendarFrequency::Daily => 86_400 * 366,
        ICalendarFrequency::Hourly => 3600 * 24 * 31,
        ICalendarFrequency::Minutely => 60 * 60 * 24,
        ICalendarFrequency::Secondly => 3600,
    };
    TimeDelta::try_seconds(secs * interval.max(1)).unwrap_or(TimeDelta::days(366))
}

/// How many chunks an open-ended query walks before concluding nothing further matches.
/// Each chunk holds at least four INTERVALs, so this only gives up on visitors that reject
/// every instance of an infinite series.
const MAX_OPEN_CHUNKS: usize = 64;

fn expand_master(
    obj: &CalendarObject,
    i: usize,
    master: &Comp,
    overrides: &[(usize, DateTime<Utc>)],
    window: Window,
    ctx: &EvalContext,
    visit: &mut dyn FnMut(&Instance) -> bool,
) -> Result<bool, ExpandError> {
    let f = ctx.floating_tz;
    let Some(start) = master.start else {
        // RRULE without DTSTART is meaningless (RFC 5545 §3.8.5.3); treat as one instance.
        return Ok(visit(&single(i, master, f, None)));
    };
    let tz = start.tz;
    let len = nominal_length(master, f);
    // THISANDFUTURE overrides shift later instances; widen by their largest shift.
    let futures: Vec<(DateTime<Utc>, usize, TimeDelta)> = overrides
        .iter()
        .filter(|(o, _)| obj.comps[*o].this_and_future)
        .map(|(o, rid)| {
            let c = &obj.comps[*o];
            let shift = c.start.map(|s| s.utc(f) - *rid).unwrap_or_default();
            (*rid, *o, shift)
        })
        .collect();
    let max_shift = futures.iter().map(|(_, _, s)| s.abs()).max().unwrap_or_default();
    let pad = window.slack.abs() + len.unwrap_or_default().abs() + max_shift + TimeDelta::days(2);
    let lo_local = window.lo.and_then(|lo| lo.checked_sub_signed(pad)).map(|lo| utc_to_local(lo, tz, f));
    let hi_local = window.hi.and_then(|hi| hi.checked_add_signed(pad)).map(|hi| utc_to_local(hi, tz, f));
    let exdates: Vec<DateTime<Utc>> = master.exdates.iter().map(|e| e.utc(f)).collect();
    let exdate_days: Vec<_> = master.exdates.iter().filter(|e| e.date_only).map(|e| e.naive.date()).collect();

    let mut emit = |naive: NaiveDateTime, own_end: Option<DateTime<Utc>>| -> bool {
        let utc = local_to_utc(naive, tz, f);
        if exdates.contains(&utc) || exdate_days.contains(&naive.date()) {
            return false;
        }
        if overrides.iter().any(|(_, rid)| *rid == utc) {
            return false;
        }
        // The latest THISANDFUTURE override at or before this instance takes over.
        if let Some((_, o, shift)) = futures.iter().filter(|(rid, _, _)| *rid <= utc).max_by_key(|(rid, _, _)| *rid) {
            let c = &obj.comps[*o];
            let s = utc + *shift;
            let e = nominal_length(c, f).map(|l| s + l);
            return visit(&Instance { comp: *o, start: Some(s), end: e, rid: Some(utc) });
        }
        let end = own_end.or_else(|| end_for(master, naive, tz, f));
        visit(&Instance { comp: i, start: Some(utc), end, rid: Some(utc) })
    };

    // DTSTART is always the first instance (RFC 5545 §3.8.5.3), whether or not the rule matches it.
    let mut seen_start = false;
    if in_local(start.naive, lo_local, hi_local) {
        seen_start = true;
        if emit(start.naive, None) {
            return Ok(true);
        }
    }
    for rdate in &master.rdates {
        let naive = local_of(&rdate.start, tz, f);
        if naive == start.naive || !in_local(naive, lo_local, hi_local) {
            continue;
        }
        let own_end = match &rdate.end {
            Some(RdateEnd::At(e)) => Some(e.utc(f)),
            Some(RdateEnd::For(d)) => Some(local_to_utc(naive, tz, f) + *d),
            None => None,
        };
        if emit(naive, own_end) {
            return Ok(true);
        }
    }
    let Some(rule) = master.rrule.as_deref() else { return Ok(false) };
    let until = master.until.map(|u| if u.date_only { end_of_day(u.naive) } else { local_of(&u, tz, f) });
    let mut visited = 0usize;
    let mut take = |occ: Vec<NaiveDateTime>, emit: &mut dyn FnMut(NaiveDateTime, Option<DateTime<Utc>>) -> bool| {
        for t in occ {
            if t == start.naive && seen_start {
                continue;
            }
            if !in_local(t, lo_local, hi_local) {
                continue;
            }
            visited += 1;
            if visited > ctx.limits.max_instances {
                return Err(ExpandError::TooManyInstances { limit: ctx.limits.max_instances });
            }
            if emit(t, None) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    if rule.count.is_some() {
        let occ = occurrences(start.naive, rule, until, lo_local, hi_local, &ctx.limits)?;
        return take(occ, &mut emit);
    }
    // Walk in chunks so an early match never pays for the whole window, and open-ended
    // windows terminate.
    let chunk = chunk_length(rule.freq, i64::from(rule.interval.unwrap_or(1)));
    let mut cursor = lo_local.map_or(start.naive, |lo| lo.max(start.naive));
    let end = match (until, hi_local) {
        (Some(u), Some(h)) => Some(u.min(h)),
        (u, h) => u.or(h),
    };
    let mut chunks = 0usize;
    loop {
        if end.is_some_and(|e| cursor > e) {
            return Ok(false);
        }
        if end.is_none() {
            chunks += 1;
            if chunks > MAX_OPEN_CHUNKS {
                return Ok(false);
            }
        }
        let Some(next) = cursor.checked_add_signed(chunk) else { return Ok(false) };
        let hi = end.map_or(next, |e| e.min(next));
        let occ = occurrences(start.naive, rule, until, Some(cursor), Some(hi), &ctx.limits)?;
        let occ: Vec<_> = occ.into_iter().filter(|t| *t < next).collect();
        if take(occ, &mut emit)? {
            return Ok(true);
        }
        cursor = next;
    }
}

fn in_local(t: NaiveDateTime, lo: Option<NaiveDateTime>, hi: Option<NaiveDateTime>) -> bool {
    lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
}

fn local_of(dt: &Dt, tz: CTz, f: chrono_tz::Tz) -> NaiveDateTime {
    if dt.tz == tz || dt.date_only { dt.naive } else { utc_to_local(dt.utc(f), tz, f) }
}

fn end_of_day(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(23, 59, 59).unwrap_or(t)
}
