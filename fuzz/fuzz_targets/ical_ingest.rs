//! Fuzz target: what a calendar PUT does to a body (parse and validate, then compute the stored
//! time index) and what later reads do with it (occurrences, expand, limit-recurrence-set,
//! free-busy and a time-range filter), in one fixed half-year window with the default `Limits`.

#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use madang_ical::filter::{CalendarDataRequest, CompFilter, CompTest, TimeRange};
use madang_ical::{EvalContext, Limits, parse_object, timezone_from_vcalendar};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("a valid constant date")
}

fuzz_target!(|data: &[u8]| {
    // Request bodies reach the parser as text; non-UTF-8 is refused before it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The same text is also what a `calendar-timezone` PROPPATCH or a CALDAV:timezone carries.
    let _ = timezone_from_vcalendar(text);
    let Ok(object) = parse_object(text) else { return };
    let _ = object.index(&Limits::default());

    let (start, end) = (at(2024, 1, 1), at(2024, 7, 1));
    let range = TimeRange { start: Some(start), end: Some(end) };
    let berlin = EvalContext { floating_tz: chrono_tz::Europe::Berlin, limits: Limits::default() };
    let _ = object.occurrences(start, end, &berlin);
    let _ = object.render(&CalendarDataRequest { expand: Some(range), ..Default::default() }, &berlin);
    let _ = object.render(&CalendarDataRequest { limit_recurrence_set: Some(range), ..Default::default() }, &berlin);
    let _ = object.busy_periods(&range, &berlin);

    let kind = object.kind().name().to_string();
    let in_range = CompTest::Defined { time_range: Some(range), props: Vec::new(), comps: Vec::new() };
    let filter = CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Defined {
            time_range: None,
            props: Vec::new(),
            comps: vec![CompFilter { name: kind, test: in_range }],
        },
    };
    let _ = object.matches(&filter, &EvalContext::default());
});
