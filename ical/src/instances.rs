//! The recurrence set of an object (RFC 5545 §3.8.5): DTSTART, RRULE, RDATE, minus EXDATE,
//! with RECURRENCE-ID overrides (incl. RANGE=THISANDFUTURE) replacing the instances they name.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use calcard::common::timezone::Tz as CTz;
use calcard::icalendar::{ICalendarFrequency, ICalendarRecurrenceRule};

use crate::model::{Comp, Dt, RdateEnd};
use crate::recur::{occurrences, period_bound};
use crate::tz::{local_to_utc, utc_to_local};
use crate::{CalendarObject, ComponentKind, EvalContext, ExpandError, Limits, MAX_PERIOD_INSTANCES};

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
    let mut futures: Vec<(DateTime<Utc>, usize, TimeDelta)> = overrides
        .iter()
        .filter(|(o, _)| obj.comps[*o].this_and_future)
        .map(|(o, rid)| {
            let c = &obj.comps[*o];
            let shift = c.start.map(|s| s.utc(f) - *rid).unwrap_or_default();
            (*rid, *o, shift)
        })
        .collect();
    futures.sort_by_key(|(rid, _, _)| *rid);
    let max_shift = futures.iter().map(|(_, _, s)| s.abs()).max().unwrap_or_default();
    let pad = window.slack.abs() + len.unwrap_or_default().abs() + max_shift + TimeDelta::days(2);
    let lo_local = window.lo.and_then(|lo| lo.checked_sub_signed(pad)).map(|lo| utc_to_local(lo, tz, f));
    let hi_local = window.hi.and_then(|hi| hi.checked_add_signed(pad)).map(|hi| utc_to_local(hi, tz, f));
    // Sorted, so that each instance costs a binary search rather than a scan: a 1 MiB body can
    // hold tens of thousands of EXDATEs or overrides, and a window up to `max_instances` instances.
    let mut exdates: Vec<DateTime<Utc>> = master.exdates.iter().map(|e| e.utc(f)).collect();
    exdates.sort_unstable();
    let mut exdate_days: Vec<_> = master.exdates.iter().filter(|e| e.date_only).map(|e| e.naive.date()).collect();
    exdate_days.sort_unstable();
    let mut overridden: Vec<DateTime<Utc>> = overrides.iter().map(|(_, rid)| *rid).collect();
    overridden.sort_unstable();

    let mut emit = |naive: NaiveDateTime, own_end: Option<DateTime<Utc>>| -> bool {
        let utc = local_to_utc(naive, tz, f);
        if exdates.binary_search(&utc).is_ok() || exdate_days.binary_search(&naive.date()).is_ok() {
            return false;
        }
        if overridden.binary_search(&utc).is_ok() {
            return false;
        }
        // The latest THISANDFUTURE override at or before this instance takes over.
        let taking_over = futures.partition_point(|(rid, _, _)| *rid <= utc).checked_sub(1).map(|k| &futures[k]);
        if let Some((_, o, shift)) = taking_over {
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
            // A period's duration comes from the client and may pass the end of time: saturate
            // instead of overflowing (a panic, found by fuzzing ical_ingest, issue 19).
            Some(RdateEnd::For(d)) => {
                let at = local_to_utc(naive, tz, f);
                // iCalendar years have four digits: the end of 9999 leaves the index room to pad.
                let last =
                    NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59)).map(|n| n.and_utc());
                let end = at.checked_add_signed(*d).filter(|e| last.is_none_or(|l| *e <= l));
                Some(end.unwrap_or(if *d < TimeDelta::zero() { at } else { last.map_or(at, |l| l.max(at)) }))
            }
            None => None,
        };
        if emit(naive, own_end) {
            return Ok(true);
        }
    }
    let Some(rule) = master.rrule.as_deref() else { return Ok(false) };
    // A rule whose periods are too large to build is never handed to calcard (see `recur`);
    // checked once here so that walking a long window does not re-check it chunk by chunk.
    if period_bound(start.naive, rule) > ctx.limits.max_period_instances.min(MAX_PERIOD_INSTANCES) as u64 {
        return Ok(false);
    }
    let until = master.until.map(|u| if u.date_only { end_of_day(u.naive) } else { local_of(&u, tz, f) });
    let mut visited = 0usize;
    let mut take = |occ: Vec<NaiveDateTime>| {
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
    // A COUNT rule is the same rule without COUNT, ended at its COUNT-th instance; found once,
    // that end lets the window be walked like any other (re-anchored, chunk by chunk) instead of
    // holding every instance from DTSTART in memory.
    let mut open_rule;
    let (rule, until) = match rule.count {
        None => (rule, until),
        Some(count) => {
            open_rule = rule.clone();
            open_rule.count = None;
            let (last, complete) = count_end(start.naive, &open_rule, until, count, &ctx.limits)?;
            let Some(last) = last else { return Ok(false) };
            if !complete && hi_local.is_none_or(|hi| hi > last) {
                // More than `max_scan` instances lie before the end of the window.
                return Err(ExpandError::TooManyInstances { limit: ctx.limits.max_scan });
            }
            (&open_rule, Some(until.map_or(last, |u| u.min(last))))
        }
    };
    let from = lo_local.map_or(start.naive, |lo| lo.max(start.naive));
    let end = match (until, hi_local) {
        (Some(u), Some(h)) => Some(u.min(h)),
        (u, h) => u.or(h),
    };
    walk_chunks(start.naive, rule, until, from, end, &ctx.limits, &mut take)
}

/// Where a COUNT rule (given without its COUNT) ends: its `count`-th instance from DTSTART, or
/// its last one if it has fewer, with `true`; or its `max_scan`-th instance with `false` when
/// COUNT reaches further than the limits let a walk go. Only counts are kept, so memory stays
/// that of one chunk whatever COUNT says.
fn count_end(
    start: NaiveDateTime,
    open_rule: &ICalendarRecurrenceRule,
    until: Option<NaiveDateTime>,
    count: u32,
    limits: &Limits,
) -> Result<(Option<NaiveDateTime>, bool), ExpandError> {
    let wanted = usize::try_from(count).unwrap_or(usize::MAX);
    let stop = wanted.min(limits.max_scan);
    let mut seen = 0usize;
    let mut last = None;
    // Past calcard's last year nothing more is generated.
    let end = until.or_else(|| NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59)));
    walk_chunks(start, open_rule, until, start, end, limits, &mut |occ| {
        for t in occ {
            seen += 1;
            last = Some(t);
            if seen >= stop {
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    Ok((last, seen >= wanted || seen < stop))
}

/// Walks the occurrences of `rule` (without COUNT) from `from` to `end`, chunk by chunk, in
/// order, until `visit` returns true; an open `end` stops after `MAX_OPEN_CHUNKS` chunks.
/// Chunks keep an early match from paying for the whole window. A chunk that holds few
/// instances doubles the next one: a sparse rule of a fine FREQ
/// (`FREQ=SECONDLY;BYMONTH=1;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0;BYSECOND=0`, one instance a year)
/// would otherwise cost one calcard run per hour of the window, which made indexing such a rule
/// with a distant UNTIL take minutes. A chunk over the limits is walked again in halves, so
/// the chunk length never turns a window that fits the limits into an error.
fn walk_chunks(
    start: NaiveDateTime,
    rule: &ICalendarRecurrenceRule,
    until: Option<NaiveDateTime>,
    from: NaiveDateTime,
    end: Option<NaiveDateTime>,
    limits: &Limits,
    visit: &mut dyn FnMut(Vec<NaiveDateTime>) -> Result<bool, ExpandError>,
) -> Result<bool, ExpandError> {
    let base = chunk_length(rule.freq, i64::from(rule.interval.unwrap_or(1)));
    let mut chunk = base;
    let mut cursor = from;
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
        let occ = match occurrences(start, rule, until, Some(cursor), Some(hi), limits) {
            Err(ExpandError::TooManyInstances { .. }) if chunk > MIN_CHUNK => {
                chunk = (chunk / 2).max(MIN_CHUNK);
                continue;
            }
            other => other?,
        };
        let occ: Vec<_> = occ.into_iter().filter(|t| *t < next).collect();
        let sparse = occ.len().saturating_mul(SPARSE_CHUNK) < limits.max_instances;
        if visit(occ)? {
            return Ok(true);
        }
        cursor = next;
        if sparse {
            chunk = (chunk * 2).min(MAX_CHUNK.max(base));
        }
    }
}

/// A chunk with fewer than `max_instances / SPARSE_CHUNK` instances makes the next one twice as long.
const SPARSE_CHUNK: usize = 4;

/// The longest chunk a walk grows to. calcard gives up after 100,000 consecutive periods
/// without an instance (for FREQ=DAILY and finer, a day without one is one period: 273 years),
/// so one run must never have to cross more than that to find the next instance.
const MAX_CHUNK: TimeDelta = TimeDelta::days(100 * 365);

/// The shortest chunk a walk shrinks to; one second holds at most one instance of a rule.
const MIN_CHUNK: TimeDelta = TimeDelta::seconds(1);

fn in_local(t: NaiveDateTime, lo: Option<NaiveDateTime>, hi: Option<NaiveDateTime>) -> bool {
    lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
}

fn local_of(dt: &Dt, tz: CTz, f: chrono_tz::Tz) -> NaiveDateTime {
    if dt.tz == tz || dt.date_only { dt.naive } else { utc_to_local(dt.utc(f), tz, f) }
}

fn end_of_day(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(23, 59, 59).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See: fuzz finding F8 (issue 19) — an RDATE period whose duration runs past the end of
    /// time panicked with "`DateTime + TimeDelta` overflowed" on every read (a 500).
    #[test]
    fn rdate_period_past_the_end_of_time_does_not_panic_fuzz_f8() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/findings/F8-rdate-period-duration-overflow.ics");
        let text = std::fs::read_to_string(path).unwrap();
        let object = crate::parse_object(&text).expect("the finding parses: the panic was in indexing and reads");
        let ctx = EvalContext { floating_tz: chrono_tz::UTC, limits: Limits::default() };
        let lo = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let hi = NaiveDate::from_ymd_opt(9999, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let _ = object.index(&Limits::default());
        let _ = object.occurrences(lo, hi, &ctx);
    }

    use crate::recur::tests::{at, rule};

    /// Ending a rule at its COUNT-th instance gives exactly what calcard's own COUNT gives.
    #[test]
    fn count_as_an_end_equals_calcards_count() {
        let limits = Limits { max_instances: 100_000, max_scan: 100_000, ..Limits::default() };
        let start = at("2020-01-31 09:30");
        for text in [
            "FREQ=DAILY;COUNT=10",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;COUNT=100",
            "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=20",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=30",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=5",
            "FREQ=HOURLY;INTERVAL=5;BYMINUTE=0,20,40;COUNT=5000",
            "FREQ=MINUTELY;COUNT=20000",
            "FREQ=SECONDLY;BYMONTH=1;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0;BYSECOND=0;COUNT=40",
        ] {
            let counted = rule(text);
            let direct = occurrences(start, &counted, None, None, Some(at("2200-01-01 00:00")), &limits).unwrap();
            let mut open = counted.clone();
            let count = open.count.take().unwrap();
            let (last, complete) = count_end(start, &open, None, count, &limits).unwrap();
            assert!(complete, "{text}");
            let mut walked = Vec::new();
            walk_chunks(start, &open, last, start, last, &limits, &mut |occ| {
                walked.extend(occ);
                Ok(false)
            })
            .unwrap();
            assert_eq!(walked.len(), count as usize, "{text}");
            assert_eq!(direct, walked, "{text}");
        }
        // A COUNT beyond `max_scan` is cut there, and says so.
        let mut open = rule("FREQ=MINUTELY");
        let small = Limits { max_scan: 500, ..limits };
        let (last, complete) = count_end(start, &open, None, 1_000, &small).unwrap();
        assert_eq!((last, complete), (Some(start + TimeDelta::minutes(499)), false));
        open.interval = Some(7);
        let (last, complete) = count_end(start, &open, Some(start + TimeDelta::minutes(70)), 1_000, &small).unwrap();
        assert_eq!((last, complete), (Some(start + TimeDelta::minutes(70)), true));
    }
}
