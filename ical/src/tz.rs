//! Time zones: resolving TZIDs (IANA, Windows, Outlook's odd spellings) and turning local times into UTC.
//!
//! Clients are sloppy with zones, so resolution is layered (RFC 7809 lets clients omit VTIMEZONE):
//! the VTIMEZONE's own name or `X-LIC-LOCATION`/`X-MICROSOFT-CDO-TZID`, then the TZID as a name
//! (calcard maps Windows names such as "W. Europe Standard Time"), then a guess from the
//! VTIMEZONE's UTC offsets, and finally "floating" so the event is still stored and shown.

use calcard::Entry;
use calcard::Parser;
use calcard::common::timezone::Tz as CTz;
use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty, ICalendarValue};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use std::str::FromStr;

use crate::ObjectError;

/// Resolves a bare TZID (a `TZID` parameter or RFC 7809 `timezone-id`) to an IANA zone.
/// Accepts IANA names, Windows names, `/`-prefixed global IDs and trailing/leading blanks.
pub fn resolve_tzid(tzid: &str) -> Option<chrono_tz::Tz> {
    match resolve_name(tzid)? {
        CTz::Tz(tz) => Some(tz),
        CTz::Fixed(offset) if offset.local_minus_utc() == 0 => Some(chrono_tz::UTC),
        _ => None,
    }
}

/// Name-based resolution into calcard's zone type (which can also be a fixed offset).
pub(crate) fn resolve_name(tzid: &str) -> Option<CTz> {
    // Microsoft clients append spaces to TZIDs (Radicale 3.7.6 changelog); quotes come from
    // clients that quote the parameter value twice.
    let trimmed = tzid.trim().trim_matches('"').trim();
    if trimmed.is_empty() {
        return None;
    }
    CTz::from_str(trimmed).ok().filter(|tz| !tz.is_floating())
}

/// Parses the body of a `CALDAV:calendar-timezone` property or `CALDAV:timezone` request
/// element (RFC 4791 §5.2.2, §7.3): a VCALENDAR with exactly one VTIMEZONE.
pub fn timezone_from_vcalendar(text: &str) -> Result<chrono_tz::Tz, ObjectError> {
    let ical = match Parser::new(text).entry() {
        Entry::ICalendar(ical) => ical,
        _ => return Err(ObjectError::InvalidData("not an iCalendar VCALENDAR".into())),
    };
    let mut zones = ical.components.iter().filter(|c| c.component_type == ICalendarComponentType::VTimezone);
    let (Some(zone), None) = (zones.next(), zones.next()) else {
        return Err(ObjectError::InvalidObject("expected exactly one VTIMEZONE".into()));
    };
    match resolve_vtimezone(&ical, zone) {
        Some(CTz::Tz(tz)) => Ok(tz),
        Some(CTz::Fixed(offset)) if offset.local_minus_utc() == 0 => Ok(chrono_tz::UTC),
        _ => Err(ObjectError::InvalidObject("unknown time zone and no IANA zone matches its offsets".into())),
    }
}

/// Resolves one VTIMEZONE component: by its declared names, else by guessing from its offsets.
pub(crate) fn resolve_vtimezone(ical: &ICalendar, zone: &ICalendarComponent) -> Option<CTz> {
    if let Some((_, tz)) = zone.timezone() {
        return Some(tz);
    }
    let tzid = zone.property(&ICalendarProperty::Tzid).and_then(|e| e.values.first()).and_then(|v| v.as_text());
    if let Some(tz) = tzid.and_then(resolve_name) {
        return Some(tz);
    }
    guess_from_offsets(ical, zone)
}

/// Best effort for home-made VTIMEZONEs (e.g. Thunderbird's "Mitteleuropäische Zeit"): find an
/// IANA zone whose January and July offsets equal the STANDARD/DAYLIGHT `TZOFFSETTO`s.
/// Without DAYLIGHT a fixed offset is exact enough.
fn guess_from_offsets(ical: &ICalendar, zone: &ICalendarComponent) -> Option<CTz> {
    let mut standard = None;
    let mut daylight = None;
    for id in &zone.component_ids {
        let Some(sub) = ical.components.get(*id as usize) else { continue };
        let offset =
            sub.property(&ICalendarProperty::Tzoffsetto).and_then(|e| e.values.first()).and_then(|v| match v {
                ICalendarValue::PartialDateTime(p) => {
                    let secs = i32::from(p.tz_hour.unwrap_or(0)) * 3600 + i32::from(p.tz_minute.unwrap_or(0)) * 60;
                    Some(if p.tz_minus { -secs } else { secs })
                }
                _ => None,
            });
        match sub.component_type {
            ICalendarComponentType::Standard => standard = offset.or(standard),
            ICalendarComponentType::Daylight => daylight = offset.or(daylight),
            _ => {}
        }
    }
    let standard = standard.or(daylight)?;
    let Some(daylight) = daylight.filter(|d| *d != standard) else {
        return chrono::FixedOffset::east_opt(standard).map(CTz::Fixed);
    };
    // A fixed reference year keeps the answer independent of the clock.
    let jan = NaiveDate::from_ymd_opt(2025, 1, 15)?.and_hms_opt(12, 0, 0)?;
    let jul = NaiveDate::from_ymd_opt(2025, 7, 15)?.and_hms_opt(12, 0, 0)?;
    let want_north = (standard, daylight);
    let want_south = (daylight, standard);
    chrono_tz::TZ_VARIANTS
        .iter()
        .filter(|tz| tz.name().contains('/') && !tz.name().starts_with("Etc/"))
        .find(|tz| {
            let got = (
                tz.offset_from_utc_datetime(&jan).fix().local_minus_utc(),
                tz.offset_from_utc_datetime(&jul).fix().local_minus_utc(),
            );
            got == want_north || got == want_south
        })
        .map(|tz| CTz::Tz(*tz))
}

/// Local wall-clock time in `tz` to UTC. Ambiguous times (DST fall-back) take the first
/// occurrence and non-existent ones (spring-forward gap) are pushed forward by the gap,
/// as RFC 5545 §3.3.5 prescribes.
pub(crate) fn local_to_utc(naive: NaiveDateTime, tz: CTz, floating: chrono_tz::Tz) -> DateTime<Utc> {
    match tz {
        CTz::Floating => zone_to_utc(naive, floating),
        CTz::Fixed(offset) => naive.and_utc() - TimeDelta::seconds(i64::from(offset.local_minus_utc())),
        CTz::Tz(zone) => zone_to_utc(naive, zone),
    }
}

fn zone_to_utc(naive: NaiveDateTime, zone: chrono_tz::Tz) -> DateTime<Utc> {
    if let Some(dt) = zone.from_local_datetime(&naive).earliest() {
        return dt.with_timezone(&Utc);
    }
    // In a gap: interpret with the offset in force before the gap (RFC 5545 §3.3.5).
    let before = naive - TimeDelta::hours(12);
    let offset = zone.offset_from_local_datetime(&before).earliest().map(|o| o.fix().local_minus_utc()).unwrap_or(0);
    naive.and_utc() - TimeDelta::seconds(i64::from(offset))
}

/// UTC to local wall-clock time in `tz` (used to bound rule expansion in local time).
pub(crate) fn utc_to_local(utc: DateTime<Utc>, tz: CTz, floating: chrono_tz::Tz) -> NaiveDateTime {
    match tz {
        CTz::Floating => utc.with_timezone(&floating).naive_local(),
        CTz::Fixed(offset) => utc.naive_utc() + TimeDelta::seconds(i64::from(offset.local_minus_utc())),
        CTz::Tz(zone) => utc.with_timezone(&zone).naive_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_iana_windows_and_padded_names() {
        assert_eq!(resolve_tzid("Europe/Berlin"), Some(chrono_tz::Europe::Berlin));
        assert_eq!(resolve_tzid("W. Europe Standard Time"), Some(chrono_tz::Europe::Berlin));
        // Microsoft clients pad TZIDs with spaces (Radicale 3.7.6 changelog).
        assert_eq!(resolve_tzid("Europe/Berlin  "), Some(chrono_tz::Europe::Berlin));
        assert_eq!(resolve_tzid("Eastern Standard Time "), Some(chrono_tz::America::New_York));
        assert_eq!(resolve_tzid("/mozilla.org/20050126_1/America/Chicago"), Some(chrono_tz::America::Chicago));
        assert_eq!(resolve_tzid("Nowhere/Special"), None);
        assert_eq!(resolve_tzid(""), None);
    }

    #[test]
    fn calendar_timezone_property_resolves() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n\
                    BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
                    END:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        assert_eq!(timezone_from_vcalendar(text), Ok(chrono_tz::Europe::Paris));
        assert!(timezone_from_vcalendar("garbage").is_err());
        let none = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        assert!(matches!(timezone_from_vcalendar(none), Err(ObjectError::InvalidObject(_))));
    }

    #[test]
    fn unknown_vtimezone_is_guessed_from_offsets() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Mitteleuropäische Zeit\r\n\
                    BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n\
                    TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n\
                    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n\
                    END:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        let tz = timezone_from_vcalendar(text).expect("guessed");
        let winter = NaiveDate::from_ymd_opt(2024, 1, 10).unwrap().and_hms_opt(12, 0, 0).unwrap();
        let summer = NaiveDate::from_ymd_opt(2024, 7, 10).unwrap().and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(tz.offset_from_utc_datetime(&winter).fix().local_minus_utc(), 3600);
        assert_eq!(tz.offset_from_utc_datetime(&summer).fix().local_minus_utc(), 7200);
    }

    #[test]
    fn dst_gap_and_overlap() {
        let berlin = CTz::Tz(chrono_tz::Europe::Berlin);
        let gap = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(local_to_utc(gap, berlin, chrono_tz::UTC).to_rfc3339(), "2024-03-31T01:30:00+00:00");
        let overlap = NaiveDate::from_ymd_opt(2024, 10, 27).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(local_to_utc(overlap, berlin, chrono_tz::UTC).to_rfc3339(), "2024-10-27T00:30:00+00:00");
    }
}
