//! Behaviour required by real clients (see CLIENTS.md) and by RFC 4791 §9.6, §9.7, §9.9, §7.10.

use chrono::{DateTime, TimeZone, Utc};
use madang_ical::filter::*;
use madang_ical::*;
use std::time::Instant;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("valid test date")
}

fn range(s: DateTime<Utc>, e: DateTime<Utc>) -> TimeRange {
    TimeRange { start: Some(s), end: Some(e) }
}

fn cal(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{}END:VCALENDAR\r\n", body.replace('\n', "\r\n"))
}

fn comp(name: &str, tr: Option<TimeRange>, props: Vec<PropFilter>, comps: Vec<CompFilter>) -> CompFilter {
    CompFilter { name: name.into(), test: CompTest::Defined { time_range: tr, props, comps } }
}

fn root(inner: CompFilter) -> CompFilter {
    comp("VCALENDAR", None, vec![], vec![inner])
}

fn in_range(kind: &str, s: DateTime<Utc>, e: DateTime<Utc>) -> CompFilter {
    root(comp(kind, Some(range(s, e)), vec![], vec![]))
}

fn ctx() -> EvalContext {
    EvalContext::default()
}

#[test]
fn rejects_what_rfc4791_section_4_1_forbids() {
    assert!(parse_object("hello world").unwrap_err().is_invalid_data());
    assert!(parse_object("").unwrap_err().is_invalid_data());
    assert!(parse_object("BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n").unwrap_err().is_invalid_data());
    let empty = parse_object(&cal("")).unwrap_err();
    assert_eq!(empty.precondition(), "valid-calendar-object-resource");
    let mixed = cal("BEGIN:VEVENT\nUID:a\nDTSTART:20240101T100000Z\nEND:VEVENT\nBEGIN:VTODO\nUID:a\nEND:VTODO\n");
    assert!(matches!(parse_object(&mixed), Err(ObjectError::InvalidObject(m)) if m.contains("mixes")));
    let two_uids = cal(
        "BEGIN:VEVENT\nUID:a\nDTSTART:20240101T100000Z\nEND:VEVENT\nBEGIN:VEVENT\nUID:b\nDTSTART:20240101T100000Z\nEND:VEVENT\n",
    );
    assert!(matches!(parse_object(&two_uids), Err(ObjectError::InvalidObject(m)) if m.contains("UID")));
    let no_uid = cal("BEGIN:VEVENT\nDTSTART:20240101T100000Z\nEND:VEVENT\n");
    assert!(matches!(parse_object(&no_uid), Err(ObjectError::InvalidObject(m)) if m.contains("without UID")));
    let two_masters = cal(
        "BEGIN:VEVENT\nUID:a\nDTSTART:20240101T100000Z\nEND:VEVENT\nBEGIN:VEVENT\nUID:a\nDTSTART:20240102T100000Z\nEND:VEVENT\n",
    );
    assert!(parse_object(&two_masters).is_err());
    // METHOD is accepted on purpose (see parse_object's doc).
    let method = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(parse_object(method).unwrap().uid(), "m");
}

// See: rustical#172 (DAVx5 and jtx Board send TZIDs without VTIMEZONE).
#[test]
fn tzid_without_vtimezone_is_resolved_by_name() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:a\nDTSTART;TZID=America/New_York:20240115T090000\nDTEND;TZID=America/New_York:20240115T100000\nEND:VEVENT\n")).unwrap();
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 14, 0), utc(2024, 1, 15, 14, 30)), &ctx()).unwrap());
    assert!(!obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 9, 0), utc(2024, 1, 15, 10, 0)), &ctx()).unwrap());
    assert!(obj.index(&Limits::default()).exact);
}

// See: Radicale 3.7.6 changelog (trailing spaces) and Outlook's Windows zone names.
#[test]
fn windows_zone_names_with_trailing_spaces() {
    let obj = parse_object(&cal(
        "BEGIN:VEVENT\nUID:w\nDTSTART;TZID=\"W. Europe Standard Time \":20240115T090000\nDURATION:PT1H\nEND:VEVENT\n",
    ))
    .unwrap();
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 1)), &ctx()).unwrap());
    let bare = parse_object(&cal(
        "BEGIN:VEVENT\nUID:w\nDTSTART;TZID=Pacific Standard Time:20240715T090000\nDURATION:PT1H\nEND:VEVENT\n",
    ))
    .unwrap();
    assert!(bare.matches(&in_range("VEVENT", utc(2024, 7, 15, 16, 0), utc(2024, 7, 15, 16, 1)), &ctx()).unwrap());
}

// See: rustical#210 (Home Assistant sends unknown zones): stored, treated as floating.
#[test]
fn unknown_tzid_falls_back_to_floating() {
    let obj = parse_object(&cal(
        "BEGIN:VEVENT\nUID:u\nDTSTART;TZID=Mars/Olympus_Mons:20240115T090000\nDURATION:PT1H\nEND:VEVENT\n",
    ))
    .unwrap();
    let berlin = EvalContext { floating_tz: chrono_tz::Europe::Berlin, ..ctx() };
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 9, 0), utc(2024, 1, 15, 9, 1)), &ctx()).unwrap());
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 1)), &berlin).unwrap());
    assert!(!obj.index(&Limits::default()).exact);
}

// See: rustical#173 (Thunderbird's broken VTIMEZONE).
#[test]
fn malformed_vtimezone_is_accepted() {
    let text = cal(
        "BEGIN:VTIMEZONE\nTZID:Custom\nBEGIN:STANDARD\nTZOFFSETTO:+0100\nEND:STANDARD\nBEGIN:DAYLIGHT\nEND:DAYLIGHT\nEND:VTIMEZONE\nBEGIN:VEVENT\nUID:t\nDTSTART;TZID=Custom:20240115T090000\nDTEND;TZID=Custom:20240115T100000\nEND:VEVENT\n",
    );
    let obj = parse_object(&text).unwrap();
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 1)), &ctx()).unwrap());
}

// See: sabre-io/dav#1456 (Apple creates RRULEs whose every instance is excluded).
#[test]
fn fully_excluded_rrule_is_stored_and_has_no_instances() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:x\nX-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=2\nEXDATE:20240101T090000Z,20240102T090000Z\nEND:VEVENT\n")).unwrap();
    assert!(!obj.matches(&in_range("VEVENT", utc(2023, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0)), &ctx()).unwrap());
    let idx = obj.index(&Limits::default());
    assert_eq!(idx.start, idx.end);
}

// See: Radicale#1621 (expanding in UTC breaks DST).
#[test]
fn weekly_meeting_keeps_wall_clock_across_dst() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:d\nDTSTART;TZID=Europe/Berlin:20240108T090000\nDTEND;TZID=Europe/Berlin:20240108T093000\nRRULE:FREQ=WEEKLY\nEND:VEVENT\n")).unwrap();
    let req = CalendarDataRequest {
        expand: Some(range(utc(2024, 3, 18, 0, 0), utc(2024, 4, 2, 0, 0))),
        ..Default::default()
    };
    let out = obj.render(&req, &ctx()).unwrap();
    assert!(out.contains("DTSTART:20240318T080000Z"), "{out}");
    assert!(out.contains("DTSTART:20240325T080000Z"), "{out}");
    assert!(out.contains("DTSTART:20240401T070000Z"), "{out}");
    assert!(out.contains("RECURRENCE-ID:20240401T070000Z"), "{out}");
    assert!(!out.contains("RRULE"), "{out}");
}

// See: sabre-io/dav#899, Stalwart (far-future instances vanished under an instance cap).
#[test]
fn infinite_rules_match_far_in_the_future_quickly() {
    let weekly = parse_object(&cal("BEGIN:VEVENT\nUID:w\nDTSTART;TZID=Europe/Berlin:20240108T090000\nDURATION:PT30M\nRRULE:FREQ=WEEKLY;BYDAY=MO\nEND:VEVENT\n")).unwrap();
    // 2044-01-04 is a Monday; 09:00 CET = 08:00Z.
    assert!(weekly.matches(&in_range("VEVENT", utc(2044, 1, 4, 8, 0), utc(2044, 1, 4, 8, 10)), &ctx()).unwrap());
    assert!(!weekly.matches(&in_range("VEVENT", utc(2044, 1, 5, 0, 0), utc(2044, 1, 10, 0, 0)), &ctx()).unwrap());

    let daily = parse_object(&cal(
        "BEGIN:VEVENT\nUID:d\nDTSTART:20240101T120000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nEND:VEVENT\n",
    ))
    .unwrap();
    let started = Instant::now();
    assert!(daily.matches(&in_range("VEVENT", utc(2054, 6, 1, 12, 30), utc(2054, 6, 1, 12, 40)), &ctx()).unwrap());
    assert!(!daily.matches(&in_range("VEVENT", utc(2054, 6, 1, 14, 0), utc(2054, 6, 1, 15, 0)), &ctx()).unwrap());
    let open_end = TimeRange { start: Some(utc(2054, 6, 1, 0, 0)), end: None };
    assert!(daily.matches(&root(comp("VEVENT", Some(open_end), vec![], vec![])), &ctx()).unwrap());
    let open_start = TimeRange { start: None, end: Some(utc(2054, 6, 1, 0, 0)) };
    assert!(daily.matches(&root(comp("VEVENT", Some(open_start), vec![], vec![])), &ctx()).unwrap());
    let budget = if cfg!(debug_assertions) { 2_000 } else { 50 };
    assert!(started.elapsed().as_millis() < budget, "took {:?}", started.elapsed());
    assert_eq!(daily.index(&Limits::default()).end, None);
}

#[test]
fn too_many_instances_in_an_expand_window_is_an_error() {
    let obj =
        parse_object(&cal("BEGIN:VEVENT\nUID:m\nDTSTART:20240101T000000Z\nRRULE:FREQ=MINUTELY\nEND:VEVENT\n")).unwrap();
    let req =
        CalendarDataRequest { expand: Some(range(utc(2024, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0))), ..Default::default() };
    let started = Instant::now();
    assert_eq!(obj.render(&req, &ctx()), Err(ExpandError::TooManyInstances { limit: 10_000 }));
    assert!(started.elapsed().as_secs() < 5);
    let unbounded = CalendarDataRequest { expand: Some(TimeRange { start: None, end: None }), ..Default::default() };
    assert_eq!(obj.render(&unbounded, &ctx()), Err(ExpandError::UnboundedRange));
}

#[test]
fn this_and_future_override_moves_later_instances() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:t\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=10\nSUMMARY:old\nEND:VEVENT\nBEGIN:VEVENT\nUID:t\nRECURRENCE-ID;RANGE=THISANDFUTURE:20240105T090000Z\nDTSTART:20240105T140000Z\nDURATION:PT1H\nSUMMARY:new\nEND:VEVENT\n")).unwrap();
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 3, 9, 0), utc(2024, 1, 3, 9, 30)), &ctx()).unwrap());
    assert!(!obj.matches(&in_range("VEVENT", utc(2024, 1, 7, 9, 0), utc(2024, 1, 7, 9, 30)), &ctx()).unwrap());
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 1, 7, 14, 0), utc(2024, 1, 7, 14, 30)), &ctx()).unwrap());
}

#[test]
fn rdate_adds_instances() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:r\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRDATE:20240201T090000Z,20240301T090000Z\nEND:VEVENT\n")).unwrap();
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 3, 1, 9, 0), utc(2024, 3, 1, 9, 30)), &ctx()).unwrap());
    assert!(!obj.matches(&in_range("VEVENT", utc(2024, 2, 2, 0, 0), utc(2024, 2, 28, 0, 0)), &ctx()).unwrap());
}

#[test]
fn all_day_uses_the_calendar_time_zone() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20240301\nEND:VEVENT\n")).unwrap();
    let tokyo = EvalContext { floating_tz: chrono_tz::Asia::Tokyo, ..ctx() };
    // 1 March in Tokyo is 29 Feb 15:00Z – 1 March 15:00Z.
    assert!(obj.matches(&in_range("VEVENT", utc(2024, 2, 29, 16, 0), utc(2024, 2, 29, 17, 0)), &tokyo).unwrap());
    assert!(!obj.matches(&in_range("VEVENT", utc(2024, 2, 29, 16, 0), utc(2024, 2, 29, 17, 0)), &ctx()).unwrap());
    let idx = obj.index(&Limits::default());
    assert!(!idx.exact);
    assert!(idx.start.unwrap() <= utc(2024, 2, 29, 15, 0).timestamp());
}

/// The VTODO rows of the RFC 4791 §9.9 table.
#[test]
fn vtodo_time_range_table() {
    let check = |props: &str, s: DateTime<Utc>, e: DateTime<Utc>| {
        let obj = parse_object(&cal(&format!("BEGIN:VTODO\nUID:t\n{props}END:VTODO\n"))).unwrap();
        obj.matches(&in_range("VTODO", s, e), &ctx()).unwrap()
    };
    let jan = |d: u32, h: u32| utc(2024, 1, d, h, 0);
    // DTSTART + DURATION
    assert!(check("DTSTART:20240110T100000Z\nDURATION:PT2H\n", jan(10, 11), jan(10, 13)));
    assert!(check("DTSTART:20240110T100000Z\nDURATION:PT2H\n", jan(10, 12), jan(10, 13)));
    assert!(!check("DTSTART:20240110T100000Z\nDURATION:PT2H\n", jan(10, 13), jan(10, 14)));
    // DTSTART + DUE
    assert!(check("DTSTART:20240110T100000Z\nDUE:20240112T100000Z\n", jan(11, 0), jan(11, 1)));
    assert!(!check("DTSTART:20240110T100000Z\nDUE:20240112T100000Z\n", jan(12, 11), jan(12, 12)));
    // DUE only
    assert!(check("DUE:20240112T100000Z\n", jan(12, 9), jan(12, 10)));
    assert!(!check("DUE:20240112T100000Z\n", jan(12, 10), jan(12, 11)));
    // DTSTART only
    assert!(check("DTSTART:20240110T100000Z\n", jan(10, 10), jan(10, 11)));
    assert!(!check("DTSTART:20240110T100000Z\n", jan(10, 11), jan(10, 12)));
    // COMPLETED + CREATED
    assert!(check("CREATED:20240101T000000Z\nCOMPLETED:20240105T000000Z\n", jan(3, 0), jan(4, 0)));
    assert!(!check("CREATED:20240101T000000Z\nCOMPLETED:20240105T000000Z\n", jan(6, 0), jan(7, 0)));
    // COMPLETED only
    assert!(check("COMPLETED:20240105T000000Z\n", jan(4, 0), jan(5, 0)));
    assert!(!check("COMPLETED:20240105T000000Z\n", jan(6, 0), jan(7, 0)));
    // CREATED only: anything ending after CREATED
    assert!(check("CREATED:20240105T000000Z\n", jan(20, 0), jan(21, 0)));
    assert!(!check("CREATED:20240105T000000Z\n", jan(1, 0), jan(2, 0)));
    // Nothing: always
    assert!(check("SUMMARY:x\n", jan(1, 0), jan(2, 0)));
}

#[test]
fn vjournal_and_vfreebusy_time_ranges() {
    let journal = parse_object(&cal("BEGIN:VJOURNAL\nUID:j\nDTSTART;VALUE=DATE:20240402\nEND:VJOURNAL\n")).unwrap();
    assert!(journal.matches(&in_range("VJOURNAL", utc(2024, 4, 2, 12, 0), utc(2024, 4, 2, 13, 0)), &ctx()).unwrap());
    assert!(!journal.matches(&in_range("VJOURNAL", utc(2024, 4, 3, 12, 0), utc(2024, 4, 3, 13, 0)), &ctx()).unwrap());
    let undated = parse_object(&cal("BEGIN:VJOURNAL\nUID:j\nSUMMARY:x\nEND:VJOURNAL\n")).unwrap();
    assert!(!undated.matches(&in_range("VJOURNAL", utc(2000, 1, 1, 0, 0), utc(2100, 1, 1, 0, 0)), &ctx()).unwrap());
    let fb = parse_object(&cal("BEGIN:VFREEBUSY\nUID:f\nFREEBUSY:20240603T090000Z/20240603T100000Z\nEND:VFREEBUSY\n"))
        .unwrap();
    assert!(fb.matches(&in_range("VFREEBUSY", utc(2024, 6, 3, 9, 30), utc(2024, 6, 3, 9, 45)), &ctx()).unwrap());
    assert!(!fb.matches(&in_range("VFREEBUSY", utc(2024, 6, 3, 10, 0), utc(2024, 6, 3, 11, 0)), &ctx()).unwrap());
}

#[test]
fn valarm_time_range_per_instance() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:a\nDTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=DAILY\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nEND:VALARM\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=END:PT5M\nEND:VALARM\nEND:VEVENT\n")).unwrap();
    let alarm_in = |s, e| root(comp("VEVENT", None, vec![], vec![comp("VALARM", Some(range(s, e)), vec![], vec![])]));
    // 08:45 on day 40 (relative to start).
    assert!(obj.matches(&alarm_in(utc(2024, 2, 9, 8, 40), utc(2024, 2, 9, 8, 50)), &ctx()).unwrap());
    // 10:05 (relative to end).
    assert!(obj.matches(&alarm_in(utc(2024, 2, 9, 10, 0), utc(2024, 2, 9, 10, 10)), &ctx()).unwrap());
    assert!(!obj.matches(&alarm_in(utc(2024, 2, 9, 9, 0), utc(2024, 2, 9, 10, 0)), &ctx()).unwrap());
    let absolute = parse_object(&cal("BEGIN:VTODO\nUID:t\nDUE:20240110T100000Z\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;VALUE=DATE-TIME:20240109T080000Z\nEND:VALARM\nEND:VTODO\n")).unwrap();
    let todo_alarm = |s, e| root(comp("VTODO", None, vec![], vec![comp("VALARM", Some(range(s, e)), vec![], vec![])]));
    assert!(absolute.matches(&todo_alarm(utc(2024, 1, 9, 7, 0), utc(2024, 1, 9, 9, 0)), &ctx()).unwrap());
    assert!(!absolute.matches(&todo_alarm(utc(2024, 1, 10, 7, 0), utc(2024, 1, 10, 9, 0)), &ctx()).unwrap());
}

#[test]
fn prop_and_param_filters() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:p\nDTSTART:20240101T090000Z\nSUMMARY:Straßenfest Planung\nATTENDEE;PARTSTAT=ACCEPTED;CN=Max:mailto:max@example.com\nEND:VEVENT\n")).unwrap();
    let tm =
        |v: &str, collation, negate| TextMatch { value: v.into(), collation, match_type: MatchType::Contains, negate };
    let prop = |name: &str, text_match, params| PropFilter {
        name: name.into(),
        test: PropTest::Defined { time_range: None, text_match, params },
    };
    let with = |p: PropFilter| root(comp("VEVENT", None, vec![p], vec![]));
    assert!(
        obj.matches(&with(prop("SUMMARY", Some(tm("PLANUNG", Collation::AsciiCasemap, false)), vec![])), &ctx())
            .unwrap()
    );
    assert!(
        !obj.matches(&with(prop("SUMMARY", Some(tm("PLANUNG", Collation::Octet, false)), vec![])), &ctx()).unwrap()
    );
    assert!(
        obj.matches(&with(prop("SUMMARY", Some(tm("STRASSENFEST", Collation::UnicodeCasemap, false)), vec![])), &ctx())
            .unwrap()
    );
    assert!(
        !obj.matches(&with(prop("SUMMARY", Some(tm("planung", Collation::AsciiCasemap, true)), vec![])), &ctx())
            .unwrap()
    );
    let partstat = ParamFilter {
        name: "PARTSTAT".into(),
        test: ParamTest::Defined { text_match: Some(tm("accepted", Collation::AsciiCasemap, false)) },
    };
    assert!(obj.matches(&with(prop("ATTENDEE", None, vec![partstat])), &ctx()).unwrap());
    let no_role = ParamFilter { name: "ROLE".into(), test: ParamTest::IsNotDefined };
    assert!(obj.matches(&with(prop("ATTENDEE", None, vec![no_role])), &ctx()).unwrap());
    let no_location = PropFilter { name: "LOCATION".into(), test: PropTest::IsNotDefined };
    assert!(obj.matches(&with(no_location), &ctx()).unwrap());
    let no_todo = root(CompFilter { name: "VTODO".into(), test: CompTest::IsNotDefined });
    assert!(obj.matches(&no_todo, &ctx()).unwrap());
    assert!(!obj.matches(&root(comp("VTODO", None, vec![], vec![])), &ctx()).unwrap());
    let dt = PropFilter {
        name: "DTSTART".into(),
        test: PropTest::Defined {
            time_range: Some(range(utc(2024, 1, 1, 9, 0), utc(2024, 1, 1, 10, 0))),
            text_match: None,
            params: vec![],
        },
    };
    assert!(obj.matches(&with(dt), &ctx()).unwrap());
}

#[test]
fn render_selection_and_limits() {
    let text = cal(
        "BEGIN:VEVENT\nUID:r\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nSUMMARY:Daily\nDESCRIPTION:secret\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT5M\nEND:VALARM\nEND:VEVENT\nBEGIN:VEVENT\nUID:r\nRECURRENCE-ID:20240110T090000Z\nDTSTART:20240110T100000Z\nDURATION:PT1H\nSUMMARY:Moved\nEND:VEVENT\n",
    );
    let obj = parse_object(&text).unwrap();
    assert_eq!(obj.render(&CalendarDataRequest::default(), &ctx()).unwrap(), text);
    let select = CompSelect {
        name: "VCALENDAR".into(),
        props: Some(vec![PropSelect { name: "VERSION".into(), novalue: false }]),
        comps: Some(vec![CompSelect {
            name: "VEVENT".into(),
            props: Some(vec![
                PropSelect { name: "UID".into(), novalue: false },
                PropSelect { name: "SUMMARY".into(), novalue: true },
            ]),
            comps: Some(vec![]),
        }]),
    };
    let out = obj.render(&CalendarDataRequest { comp: Some(select), ..Default::default() }, &ctx()).unwrap();
    assert!(out.contains("VERSION:2.0") && !out.contains("PRODID"), "{out}");
    assert!(
        out.contains("UID:r") && out.contains("SUMMARY:\r\n") && !out.contains("secret") && !out.contains("VALARM"),
        "{out}"
    );
    let limited = CalendarDataRequest {
        limit_recurrence_set: Some(range(utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0))),
        ..Default::default()
    };
    let out = obj.render(&limited, &ctx()).unwrap();
    assert!(out.contains("Daily") && !out.contains("Moved"), "{out}");
}

#[test]
fn limit_freebusy_set_drops_outside_periods() {
    let obj = parse_object(&cal("BEGIN:VFREEBUSY\nUID:f\nFREEBUSY:20240603T090000Z/20240603T100000Z,20240703T090000Z/20240703T100000Z\nEND:VFREEBUSY\n")).unwrap();
    let req = CalendarDataRequest {
        limit_freebusy_set: Some(range(utc(2024, 6, 1, 0, 0), utc(2024, 6, 30, 0, 0))),
        ..Default::default()
    };
    let out = obj.render(&req, &ctx()).unwrap();
    assert!(out.contains("20240603T090000Z") && !out.contains("20240703"), "{out}");
}

#[test]
fn busy_periods_and_freebusy_answer() {
    let obj = parse_object(&cal("BEGIN:VEVENT\nUID:b\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\nBEGIN:VEVENT\nUID:b\nRECURRENCE-ID:20240102T090000Z\nDTSTART:20240102T090000Z\nDURATION:PT1H\nSTATUS:TENTATIVE\nEND:VEVENT\n")).unwrap();
    let r = range(utc(2024, 1, 1, 9, 30), utc(2024, 1, 3, 12, 0));
    let mut busy = obj.busy_periods(&r, &ctx()).unwrap();
    busy.sort_by_key(|p| p.start);
    assert_eq!(busy.len(), 3);
    assert_eq!((busy[0].start, busy[0].kind), (utc(2024, 1, 1, 9, 30), BusyKind::Busy));
    assert_eq!(busy[1].kind, BusyKind::Tentative);
    let transparent = parse_object(&cal(
        "BEGIN:VEVENT\nUID:t\nDTSTART:20240101T090000Z\nDURATION:PT1H\nTRANSP:TRANSPARENT\nEND:VEVENT\n",
    ))
    .unwrap();
    assert!(transparent.busy_periods(&r, &ctx()).unwrap().is_empty());
    let cancelled = parse_object(&cal(
        "BEGIN:VEVENT\nUID:c\nDTSTART:20240102T090000Z\nDURATION:PT1H\nSTATUS:CANCELLED\nEND:VEVENT\n",
    ))
    .unwrap();
    assert!(cancelled.busy_periods(&r, &ctx()).unwrap().is_empty());

    let periods = [
        BusyPeriod { start: utc(2024, 1, 1, 9, 0), end: utc(2024, 1, 1, 10, 0), kind: BusyKind::Busy },
        BusyPeriod { start: utc(2024, 1, 1, 9, 30), end: utc(2024, 1, 1, 11, 0), kind: BusyKind::Busy },
        BusyPeriod { start: utc(2024, 1, 2, 9, 0), end: utc(2024, 1, 2, 10, 0), kind: BusyKind::Tentative },
    ];
    let out = write_freebusy(&periods, (utc(2024, 1, 1, 0, 0), utc(2024, 1, 3, 0, 0)), utc(2024, 1, 1, 0, 0));
    assert_eq!(
        out,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang//CalDAV//EN\r\nBEGIN:VFREEBUSY\r\n\
         DTSTAMP:20240101T000000Z\r\nDTSTART:20240101T000000Z\r\nDTEND:20240103T000000Z\r\n\
         FREEBUSY;FBTYPE=BUSY:20240101T090000Z/20240101T110000Z\r\n\
         FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240102T090000Z/20240102T100000Z\r\n\
         END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    );
}

/// No input may panic: truncations, garbage and random byte slices of the fixtures.
#[test]
fn no_panic_on_any_input() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ical");
    let mut inputs: Vec<String> = vec![
        String::new(),
        "BEGIN:VCALENDAR".into(),
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:99999999T999999Z\r\nRRULE:FREQ=SECONDLY;INTERVAL=0\r\n"
            .into(),
        cal("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T000000Z\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T000000Z\nRRULE:FREQ=MONTHLY;BYWEEKNO=3\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:x\nDTSTART:20240101\nRRULE:FREQ=DAILY;UNTIL=20200101\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T000000Z\nDTEND:20230101T000000Z\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:x\nRRULE:FREQ=DAILY\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:x\nDTSTART:99991231T235959Z\nRRULE:FREQ=SECONDLY\nDURATION:P9999W\nEND:VEVENT\n"),
        cal("BEGIN:VTODO\nUID:x\nDUE:00010101T000000\nRRULE:FREQ=DAILY;COUNT=4294967295\nEND:VTODO\n"),
    ];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ics") {
            let text = std::fs::read_to_string(&path).unwrap();
            let bytes = text.as_bytes();
            // Deterministic pseudo-random cuts (xorshift), kept on char boundaries.
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ bytes.len() as u64;
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let a = (seed as usize) % bytes.len();
                let b = a + ((seed >> 32) as usize) % (bytes.len() - a + 1);
                inputs.push(String::from_utf8_lossy(&bytes[a..b]).into_owned());
                inputs.push(String::from_utf8_lossy(&bytes[..a]).into_owned());
            }
        }
    }
    let everything = TimeRange { start: Some(utc(1990, 1, 1, 0, 0)), end: Some(utc(2100, 1, 1, 0, 0)) };
    for input in &inputs {
        let Ok(obj) = parse_object(input) else { continue };
        let _ = obj.index(&Limits::default());
        for kind in ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"] {
            let _ = obj.matches(
                &root(comp(kind, Some(everything), vec![], vec![comp("VALARM", Some(everything), vec![], vec![])])),
                &ctx(),
            );
        }
        let _ = obj.render(&CalendarDataRequest { expand: Some(everything), ..Default::default() }, &ctx());
        let _ = obj.busy_periods(&everything, &ctx());
    }
}
