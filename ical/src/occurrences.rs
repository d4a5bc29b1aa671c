//! Occurrences of events and dated tasks in a window, as plain values: what a listing (the JSON API's instances) shows.

use chrono::{DateTime, TimeDelta, Utc};

use crate::instances::{Window, collect};
use crate::text::entry_text;
use crate::{CalendarObject, ComponentKind, EvalContext, ExpandError};

/// One occurrence, with overrides already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub kind: ComponentKind,
    pub start: DateTime<Utc>,
    /// Equal to `start` for instants (an event without DTEND/DURATION on a date-time).
    pub end: DateTime<Utc>,
    /// The component's DTSTART is a DATE (RFC 5545 §3.6.1): an all-day item.
    pub all_day: bool,
    /// The original start of this instance of a recurring series (RECURRENCE-ID).
    pub recurrence_id: Option<DateTime<Utc>>,
    pub summary: Option<String>,
}

impl CalendarObject {
    /// Occurrences overlapping `[start, end)`, sorted by start. VEVENTs, and
    /// VTODOs with a start or due date; journals and free-busy are not
    /// occurrences. Bounded by `ctx.limits` like every expansion.
    pub fn occurrences(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ctx: &EvalContext,
    ) -> Result<Vec<Occurrence>, ExpandError> {
        let window = Window { lo: Some(start), hi: Some(end), slack: TimeDelta::zero() };
        let mut out = Vec::new();
        for inst in collect(self, window, ctx)? {
            let Some(comp) = self.comps.get(inst.comp) else { continue };
            if !matches!(comp.kind, ComponentKind::Event | ComponentKind::Todo) {
                continue;
            }
            // A task is placed at its start, else at its due date.
            let Some(s) = inst.start.or(inst.end) else { continue };
            let e = inst.end.unwrap_or(s).max(s);
            // Half-open overlap; an instant counts when it lies inside the window.
            let overlaps = if e == s { s >= start && s < end } else { s < end && e > start };
            if !overlaps {
                continue;
            }
            let summary = self
                .ical
                .components
                .get(comp.idx)
                .and_then(|c| c.entries.iter().find(|e| e.name.as_str().eq_ignore_ascii_case("SUMMARY")))
                .map(|entry| entry_text(entry).into_owned());
            let all_day = comp.start.or(comp.due).is_some_and(|d| d.date_only);
            out.push(Occurrence { kind: comp.kind, start: s, end: e, all_day, recurrence_id: inst.rid, summary });
        }
        out.sort_by_key(|o| (o.start, o.end));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::parse_object;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap_or_default()
    }

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n\
BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T090000\r\n\
DTEND;TZID=Europe/Berlin:20260302T100000\r\nRRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:20260309T090000\r\n\
SUMMARY:Standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260316T090000\r\n\
DTSTART;TZID=Europe/Berlin:20260316T110000\r\nDTEND;TZID=Europe/Berlin:20260316T120000\r\nSUMMARY:Moved\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn weekly_series_with_exdate_override_and_dst() {
        let obj = parse_object(WEEKLY).unwrap();
        let got = obj.occurrences(utc(2026, 3, 1, 0), utc(2026, 4, 6, 0), &EvalContext::default()).unwrap();
        let starts: Vec<_> = got.iter().map(|o| (o.start, o.summary.as_deref().unwrap_or(""))).collect();
        assert_eq!(
            starts,
            [
                (utc(2026, 3, 2, 8), "Standup"),
                (utc(2026, 3, 16, 10), "Moved"),
                (utc(2026, 3, 23, 8), "Standup"),
                // Europe switches to summer time on 2026-03-29: 09:00 local is 07:00Z.
                (utc(2026, 3, 30, 7), "Standup"),
            ]
        );
        assert_eq!(got[1].recurrence_id, Some(utc(2026, 3, 16, 8)));
        assert!(got.iter().all(|o| !o.all_day && o.kind == ComponentKind::Event));
    }

    #[test]
    fn tasks_without_dates_are_not_occurrences() {
        let todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t\r\n\
DTSTAMP:20260101T000000Z\r\nSUMMARY:Someday\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        let obj = parse_object(todo).unwrap();
        assert!(obj.occurrences(utc(2000, 1, 1, 0), utc(2100, 1, 1, 0), &EvalContext::default()).unwrap().is_empty());
        let due = todo.replace("SUMMARY:Someday", "SUMMARY:Pay\r\nDUE;VALUE=DATE:20260310");
        let obj = parse_object(&due).unwrap();
        let got = obj.occurrences(utc(2026, 3, 1, 0), utc(2026, 4, 1, 0), &EvalContext::default()).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].all_day);
        assert_eq!(got[0].kind, ComponentKind::Todo);
    }
}
