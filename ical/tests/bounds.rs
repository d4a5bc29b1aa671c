//! Time and memory ceilings of recurrence expansion, measured with an allocation-counting
//! global allocator (issue 19, "Recurrence explosion"; the class of Stalwart's CVE-2025-59045).
//!
//! Every test takes `SERIAL` for its whole run, so the counter sees one measurement at a time.
//! Ceilings hold in debug builds; the figures in the release notes of issue 19 were taken with
//! `--release`.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use madang_ical::filter::{CalendarDataRequest, CompFilter, CompTest, TimeRange};
use madang_ical::{EvalContext, Limits, parse_object};

#[global_allocator]
static ALLOCATOR: madang_testkit::CountingAlloc = madang_testkit::CountingAlloc;

static SERIAL: Mutex<()> = Mutex::new(());

use madang_testkit::{assert_bounded, measure, number_list, recurrence_bomb_rule};

const MIB: usize = 1 << 20;

#[track_caller]
fn within<T>(what: &str, (value, peak, took): (T, usize, Duration), max_peak: usize, max_time: Duration) -> T {
    assert_bounded(what, peak, took, max_peak, max_time);
    value
}

fn event(dtstart: &str, rule: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//madang//bounds//EN\r\nBEGIN:VEVENT\r\nUID:bomb\r\n\
DTSTAMP:20260101T000000Z\r\n{dtstart}\r\nDURATION:PT1S\r\nRRULE:{rule}\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid test date")
}

fn events_in(start: DateTime<Utc>, end: DateTime<Utc>) -> CompFilter {
    let range = TimeRange { start: Some(start), end: Some(end) };
    let event = CompFilter {
        name: "VEVENT".into(),
        test: CompTest::Defined { time_range: Some(range), props: vec![], comps: vec![] },
    };
    CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Defined { time_range: None, props: vec![], comps: vec![event] },
    }
}

/// Before: parsing alone (the probe whether the rule yields anything) held 1.48 GB for 2.8 s
/// (release build), and every read parsed it again.
#[test]
fn issue19_recurrence_explosion_is_refused_at_put() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = event("DTSTART:20260101T000000Z", &recurrence_bomb_rule());
    assert!(text.len() < 1024, "the attack fits in {} bytes", text.len());
    let obj = within("parse", measure(|| parse_object(&text)), MIB, Duration::from_millis(200)).expect("parses");
    let err = within("check_limits", measure(|| obj.check_limits(&Limits::default())), MIB, Duration::from_millis(200))
        .expect_err("refused");
    assert_eq!(err.precondition(), "valid-calendar-object-resource");
    let message = err.to_string();
    assert!(message.contains("31622400 instances in one year"), "{message}");
    assert!(message.contains("at most 10000"), "{message}");
}

/// An object stored before the check (or under a higher bound) is read within the same
/// ceilings: its rule is not expanded, DTSTART stays its one instance.
#[test]
fn issue19_recurrence_explosion_stored_reads_are_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rule = recurrence_bomb_rule();
    for (dtstart, rule) in [
        ("DTSTART:20260101T000000Z", rule.clone()),
        ("DTSTART;TZID=Europe/Berlin:20260101T000000", rule.clone()),
        ("DTSTART:20260101T000000", format!("{rule};COUNT=100000000")),
        ("DTSTART:20260101T000000Z", format!("{rule};UNTIL=20991231T235959Z")),
    ] {
        let text = event(dtstart, &rule);
        let ctx = EvalContext::default();
        let (day_lo, day_hi) = (utc(2026, 6, 1), utc(2026, 6, 2));
        let day = TimeRange { start: Some(day_lo), end: Some(day_hi) };
        let ceiling = 4 * MIB;
        let second = Duration::from_secs(1);
        let all = measure(|| {
            let obj = parse_object(&text).expect("parses");
            let index = obj.index(&ctx.limits);
            let occurrences = obj.occurrences(day_lo, day_hi, &ctx).expect("bounded");
            let matched = obj.matches(&events_in(day_lo, day_hi), &ctx).expect("bounded");
            let expand = CalendarDataRequest { expand: Some(day), ..Default::default() };
            let expanded = obj.render(&expand, &ctx).expect("bounded");
            let year = TimeRange { start: Some(utc(2026, 1, 1)), end: Some(utc(2027, 1, 1)) };
            let busy = obj.busy_periods(&year, &ctx).expect("bounded");
            (index, occurrences.len(), matched, expanded.matches("BEGIN:VEVENT").count(), busy.len())
        });
        let (index, occurrences, matched, expanded, busy) =
            within(&format!("read {dtstart} {}", &rule[rule.len() - 20..]), all, ceiling, second);
        assert!(index.start.is_some(), "{dtstart}: {index:?}");
        assert_eq!((occurrences, matched, expanded), (0, false, 0), "{dtstart}: nothing on 1 June");
        assert!(busy <= 1, "{dtstart}: DTSTART at most");
    }
}

/// Legitimate dense rules, at the bound's scale, stay cheap and complete far from DTSTART.
#[test]
fn issue19_dense_legitimate_rules_stay_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = EvalContext::default();
    for (rule, per_day) in [
        // Every minute: 1,440 a day.
        (format!("FREQ=DAILY;BYHOUR={};BYMINUTE={}", number_list(0, 23), number_list(0, 59)), 1_440),
        // Every half hour of office hours on weekdays, written as one yearly rule: 5,300 a year.
        (format!("FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={};BYMINUTE=0,30", number_list(8, 17)), 20),
        (format!("FREQ=MINUTELY;BYHOUR={}", number_list(8, 17)), 600),
        ("FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0".to_string(), 60),
    ] {
        let text = event("DTSTART:20200101T000000Z", &rule);
        let obj = parse_object(&text).expect("parses");
        obj.check_limits(&Limits::default()).expect("within the default bound");
        // A Wednesday eleven years after DTSTART.
        let (lo, hi) = (utc(2031, 6, 4), utc(2031, 6, 5));
        let got = within(&rule, measure(|| obj.occurrences(lo, hi, &ctx)), 8 * MIB, Duration::from_secs(1));
        assert_eq!(got.map(|o| o.len()), Ok(per_day), "{rule}");
    }
}

/// Indexing at PUT walks a finite series once. A sparse rule of a fine FREQ with a distant
/// UNTIL (one instance a year, one calcard run per hour) took 15 s (release) before chunks
/// grew; a rule that fills its first chunks stops at `max_instances` and is indexed as open.
#[test]
fn issue19_indexing_at_put_is_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits::default();
    for rule in [
        "FREQ=SECONDLY;BYMONTH=1;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0;BYSECOND=0;UNTIL=20991231T000000Z",
        "FREQ=SECONDLY;BYMONTH=1;UNTIL=99991231T000000Z",
        "FREQ=SECONDLY;COUNT=100000000",
        "FREQ=MINUTELY;BYSECOND=0,30;UNTIL=99991231T000000Z",
    ] {
        let text = event("DTSTART:20260101T000000Z", rule);
        let obj = parse_object(&text).expect("parses");
        obj.check_limits(&limits).expect("within the default bound");
        let index = within(rule, measure(|| obj.index(&limits)), 32 * MIB, Duration::from_secs(2));
        assert!(index.start.is_some_and(|s| s <= utc(2026, 1, 1).timestamp()), "{rule}: {index:?}");
    }
}

/// A recurrence set with tens of thousands of EXDATEs costs a binary search per instance, not
/// a scan: 30,000 EXDATEs × 7,300 daily instances was 219 million comparisons per query.
#[test]
fn issue19_many_exdates_stay_linear() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let exdates: Vec<String> = (0..30_000)
        .map(|n| (utc(2000, 1, 1) + chrono::TimeDelta::days(2 * n)).format("%Y%m%dT090000Z").to_string())
        .collect();
    let mut text = event("DTSTART:20000101T090000Z", "FREQ=DAILY");
    text = text.replace("SUMMARY:x\r\n", &format!("SUMMARY:x\r\nEXDATE:{}\r\n", exdates.join(",")));
    let obj = parse_object(&text).expect("parses");
    let ctx = EvalContext::default();
    let (lo, hi) = (utc(2000, 1, 1), utc(2020, 1, 1));
    let got = within(
        "20 years with 30,000 EXDATEs",
        measure(|| obj.occurrences(lo, hi, &ctx)),
        8 * MIB,
        Duration::from_secs(1),
    );
    // Every other day is excluded.
    assert_eq!(got.map(|o| o.len()), Ok(3_652));
}
