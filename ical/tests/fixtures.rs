//! Golden tests over real-client iCalendar files in `fixtures/ical/`: parse, index, expansion.
//! Run with `UPDATE_EXPECT=1` to rewrite the `.expected` files, then review the diff.

use chrono::{DateTime, TimeZone, Utc};
use madang_ical::filter::{CalendarDataRequest, CompFilter, CompTest, TimeRange};
use madang_ical::{EvalContext, Limits, parse_object};
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ical")
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("valid test date")
}

fn ts(t: Option<i64>) -> String {
    match t.and_then(|t| DateTime::from_timestamp(t, 0)) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "open".into(),
    }
}

/// What we record for one fixture: identity, index, and the instances in 2023–2024 as `expand` renders them.
fn describe(text: &str) -> String {
    let obj = match parse_object(text) {
        Ok(obj) => obj,
        Err(err) => return format!("error: {err}\n"),
    };
    assert_eq!(obj.raw(), text, "raw text must be kept byte for byte");
    // What real clients write is never refused by the recurrence bounds (issue 19).
    obj.check_limits(&Limits::default()).expect("real clients' rules are within the default limits");
    let idx = obj.index(&Limits::default());
    let mut out = format!(
        "uid: {}\nkind: {}\nrecurring: {}\nindex: {} .. {} exact={}\n",
        obj.uid(),
        obj.kind().name(),
        obj.is_recurring(),
        ts(idx.start),
        ts(idx.end),
        idx.exact
    );
    let range = TimeRange { start: Some(utc(2023, 1, 1, 0, 0)), end: Some(utc(2025, 1, 1, 0, 0)) };
    let req = CalendarDataRequest { expand: Some(range), ..Default::default() };
    let ctx = EvalContext::default();
    match obj.render(&req, &ctx) {
        Ok(text) => {
            out.push_str("expand 2023..2025:\n");
            for line in text.lines().filter(|l| {
                ["BEGIN:V", "DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "SUMMARY"].iter().any(|p| l.starts_with(p))
            }) {
                if line.starts_with("BEGIN:VCALENDAR") {
                    continue;
                }
                out.push_str("  ");
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        Err(err) => out.push_str(&format!("expand error: {err}\n")),
    }
    let busy = obj.busy_periods(&range, &ctx).expect("busy periods");
    for p in busy {
        out.push_str(&format!("busy {:?}: {} .. {}\n", p.kind, p.start, p.end));
    }
    out
}

#[test]
fn golden_fixtures() {
    let dir = fixtures_dir();
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/ical exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the real-client corpus in {}", dir.display());
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("utf-8 fixture");
        let actual = describe(&text);
        let expected_path = path.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &actual).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!("{}:\n--- expected\n{expected}--- actual\n{actual}", path.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatch (UPDATE_EXPECT=1 to bless):\n{}", failures.join("\n"));
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture")
}

fn event_in(start: DateTime<Utc>, end: DateTime<Utc>) -> CompFilter {
    CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Defined {
            time_range: None,
            props: vec![],
            comps: vec![CompFilter {
                name: "VEVENT".into(),
                test: CompTest::Defined {
                    time_range: Some(TimeRange { start: Some(start), end: Some(end) }),
                    props: vec![],
                    comps: vec![],
                },
            }],
        },
    }
}

#[test]
fn ios_weekly_standup_instances_and_override() {
    let obj = parse_object(&read("ios-recurring-with-override.ics")).expect("parses");
    let ctx = EvalContext::default();
    // Winter: 09:00 Berlin = 08:00Z.
    assert!(obj.matches(&event_in(utc(2024, 1, 22, 8, 0), utc(2024, 1, 22, 8, 30)), &ctx).unwrap());
    // Summer: 09:00 Berlin = 07:00Z, and 08:00Z is after the meeting started... still inside 07:00–08:00? No.
    assert!(obj.matches(&event_in(utc(2024, 7, 1, 7, 0), utc(2024, 7, 1, 7, 30)), &ctx).unwrap());
    assert!(!obj.matches(&event_in(utc(2024, 7, 1, 8, 0), utc(2024, 7, 1, 8, 30)), &ctx).unwrap());
    // The moved instance: not at 08:00Z on 15 Jan, but at 09:30Z.
    assert!(!obj.matches(&event_in(utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 30)), &ctx).unwrap());
    assert!(obj.matches(&event_in(utc(2024, 1, 15, 9, 30), utc(2024, 1, 15, 9, 45)), &ctx).unwrap());
    // Twenty years out, the infinite series still matches.
    assert!(obj.matches(&event_in(utc(2044, 3, 7, 0, 0), utc(2044, 3, 7, 23, 0)), &ctx).unwrap());
}

#[test]
fn davx5_exdate_and_until() {
    let obj = parse_object(&read("davx5-tzid-without-vtimezone.ics")).expect("parses");
    let ctx = EvalContext::default();
    // 18:00 Vienna (CET) on 11 March = 17:00Z.
    assert!(obj.matches(&event_in(utc(2024, 3, 11, 17, 0), utc(2024, 3, 11, 17, 10)), &ctx).unwrap());
    // EXDATE'd Easter Monday.
    assert!(!obj.matches(&event_in(utc(2024, 4, 1, 0, 0), utc(2024, 4, 2, 0, 0)), &ctx).unwrap());
    // After UNTIL.
    assert!(!obj.matches(&event_in(utc(2024, 7, 1, 0, 0), utc(2024, 7, 2, 0, 0)), &ctx).unwrap());
}
