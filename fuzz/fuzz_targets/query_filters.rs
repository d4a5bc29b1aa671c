//! Fuzz target: calendar-query, free-busy-query and addressbook-query REPORT bodies, parsed by
//! madang-dav and then evaluated the way the server does (`src/dav/report/`) against fixed
//! objects from `fixtures/`: the filter, the request's time zone, and the calendar-data or
//! address-data selection rendered for each object.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use madang_dav::Report;
use madang_ical::{
    CalendarObject, CardObject, EvalContext, Limits, VCardVersion, parse_card, parse_object, resolve_tzid,
    timezone_from_vcalendar, write_freebusy,
};

/// Objects with recurrence, overrides, alarms, all-day and floating times, tasks and free-busy:
/// together they reach every branch of filter evaluation that depends on the object.
const CALENDAR: [&str; 8] = [
    include_str!("../../fixtures/ical/ios-recurring-with-override.ics"),
    include_str!("../../fixtures/ical/thunderbird-event-with-alarm.ics"),
    include_str!("../../fixtures/ical/google-export-recurring.ics"),
    include_str!("../../fixtures/ical/outlook-windows-tzid.ics"),
    include_str!("../../fixtures/ical/macos-allday.ics"),
    include_str!("../../fixtures/ical/nextcloud-vtodo.ics"),
    include_str!("../../fixtures/ical/journal-date.ics"),
    include_str!("../../fixtures/ical/freebusy-published.ics"),
];

const CARDS: [&str; 5] = [
    include_str!("../../fixtures/vcard/davx5-contact-v4.vcf"),
    include_str!("../../fixtures/vcard/ios-contact-with-photo.vcf"),
    include_str!("../../fixtures/vcard/ios-group.vcf"),
    include_str!("../../fixtures/vcard/outlook-2.1.vcf"),
    include_str!("../../fixtures/vcard/thunderbird-contact.vcf"),
];

fn objects() -> &'static (Vec<CalendarObject>, Vec<CardObject>) {
    static PARSED: OnceLock<(Vec<CalendarObject>, Vec<CardObject>)> = OnceLock::new();
    PARSED.get_or_init(|| {
        let calendar = CALENDAR.iter().map(|t| parse_object(t).expect("calendar fixture parses")).collect();
        let cards = CARDS.iter().map(|t| parse_card(t).expect("card fixture parses")).collect();
        (calendar, cards)
    })
}

fuzz_target!(|body: &[u8]| {
    let (calendar, cards) = objects();
    let Ok(report) = Report::parse(body) else { return };
    match report {
        Report::CalendarQuery(query) => {
            // As `request_timezone` in src/dav/report/calendar.rs: an unknown zone is refused.
            let floating_tz = match (&query.timezone_id, &query.timezone) {
                (Some(id), _) => resolve_tzid(id),
                (None, Some(text)) => timezone_from_vcalendar(&text.replace("\r\n", "\n").replace('\n', "\r\n")).ok(),
                (None, None) => Some(chrono_tz::UTC),
            };
            let Some(floating_tz) = floating_tz else { return };
            let ctx = EvalContext { floating_tz, limits: Limits::default() };
            for object in calendar {
                let _ = object.matches(&query.filter, &ctx);
                if let Some(data) = &query.props.calendar_data {
                    let _ = object.render(&data.request, &ctx);
                }
            }
        }
        Report::FreeBusyQuery(query) => {
            let (Some(start), Some(end)) = (query.time_range.start, query.time_range.end) else { return };
            let mut periods = Vec::new();
            for object in calendar {
                if let Ok(p) = object.busy_periods(&query.time_range, &EvalContext::default()) {
                    periods.extend(p);
                }
            }
            let _ = write_freebusy(&periods, (start, end), start);
        }
        Report::AddressbookQuery(query) => {
            let address_data = query.props.address_data.as_ref();
            let version = match address_data.map(|a| a.version_wanted().version()) {
                Some("4.0") => VCardVersion::V4,
                _ => VCardVersion::V3,
            };
            for card in cards {
                if card.matches(&query.filter) {
                    let _ = card.render(version, address_data.and_then(|a| a.props.as_deref()));
                }
            }
        }
        _ => {}
    }
});
