//! Birthday calendars: the yearly all-day events a contact's BDAY and ANNIVERSARY make, and how dates without a year and 29 February are read.
//!
//! What clients write for a date (RFC 6350 §6.2.5, §6.2.6, §4.3.1; RFC 2426 §3.1.5):
//! `19900415`, `1990-04-15`, `1990-04-15T00:00:00Z` (vCard 3 date-times), vCard 4's
//! `--0415` and vCard 3's `--04-15` for a date without a year, and Apple's
//! `BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15`, where the year equal to the
//! parameter's is a placeholder (macOS/iOS Contacts and DAVx⁵ in 3.0 cards).
//! `VALUE=text` dates ("circa 1800") make no event. `X-ANNIVERSARY` is the
//! pre-vCard-4 anniversary of Evolution and Apple.
//!
//! Events are what Nextcloud's birthday calendar writes, which every client
//! shows: a DATE DTSTART in the birth year (1970 when there is none, 1972 for
//! 29 February so the date exists), a one-day DTEND, `RRULE:FREQ=YEARLY`, and
//! `TRANSP:TRANSPARENT` so a birthday never makes anyone busy. A 29 February
//! recurs on the last day of February (`BYMONTH=2;BYMONTHDAY=-1`): the 28th in
//! common years, instead of a rule RFC 5545 §3.3.10 would skip three years in four.
//!
//! Nothing here reads a clock: DTSTAMP is fixed, so an unchanged contact gives
//! byte-identical events and the calendar's ETags stay put.

use chrono::{Datelike, NaiveDate};

use crate::text::{escape_text, unfold};
use crate::vcard::CardObject;

/// Which date of a contact an event celebrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Occasion {
    Birthday,
    Anniversary,
}

impl Occasion {
    /// A short stable word, for names and UIDs derived from the contact.
    pub fn key(self) -> &'static str {
        match self {
            Occasion::Birthday => "birthday",
            Occasion::Anniversary => "anniversary",
        }
    }
}

/// One date of a contact: month and day always, the year when the card knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anniversary {
    pub occasion: Occasion,
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
}

/// The dates a card holds, at most one per occasion (the first usable one;
/// ANNIVERSARY wins over X-ANNIVERSARY only by coming first).
pub fn anniversaries(card: &CardObject) -> Vec<Anniversary> {
    let mut found: Vec<Anniversary> = Vec::new();
    for line in unfold(card.raw()).lines() {
        let Some((name, params, value)) = split_line(line) else { continue };
        let occasion = match name.as_str() {
            "BDAY" => Occasion::Birthday,
            "ANNIVERSARY" | "X-ANNIVERSARY" => Occasion::Anniversary,
            _ => continue,
        };
        if found.iter().any(|a| a.occasion == occasion) {
            continue;
        }
        if let Some((year, month, day)) = parse_date(&params, value) {
            found.push(Anniversary { occasion, year, month, day });
        }
    }
    found
}

/// A content line's parameters, as `(NAME, value)` with the name upper-cased.
type Params = Vec<(String, String)>;

/// `NAME`, its parameters and the raw value of one unfolded content line; a
/// group prefix (`item1.`) is dropped.
fn split_line(line: &str) -> Option<(String, Params, &str)> {
    let line = line.trim_end_matches('\r');
    let colon = line.find(':')?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?;
    let name = name.rsplit('.').next().unwrap_or(name).trim().to_ascii_uppercase();
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().trim_matches('"').to_string()),
            None => ("TYPE".to_string(), p.trim().to_string()),
        })
        .collect();
    Some((name, params, value.trim()))
}

/// `(year, month, day)` of a vCard date or date-time value; `None` for text
/// values, partial dates without a day and dates that do not exist.
fn parse_date(params: &[(String, String)], value: &str) -> Option<(Option<i32>, u32, u32)> {
    if params.iter().any(|(k, v)| k == "VALUE" && v.eq_ignore_ascii_case("text")) {
        return None;
    }
    // A date-time's time says nothing about the day celebrated.
    let date = value.split('T').next().unwrap_or_default();
    let (year, rest) = if let Some(rest) = date.strip_prefix("--") {
        (None, rest.replace('-', ""))
    } else {
        let digits = date.replace('-', "");
        if digits.len() != 8 {
            return None;
        }
        (Some(digits[..4].parse::<i32>().ok()?), digits[4..].to_string())
    };
    if rest.len() != 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u32 = rest[..2].parse().ok()?;
    let day: u32 = rest[2..].parse().ok()?;
    let omitted = params.iter().find(|(k, _)| k == "X-APPLE-OMIT-YEAR").and_then(|(_, v)| v.parse::<i32>().ok());
    // Apple's placeholder year, and a year 0 some exporters write for "unknown".
    let year = year.filter(|y| Some(*y) != omitted && *y > 0);
    // Without a year, 29 February is checked in a leap year: it exists.
    NaiveDate::from_ymd_opt(year.unwrap_or(2000), month, day)?;
    Some((year, month, day))
}

/// The VCALENDAR of one yearly event, with `uid` as its UID and `name` (the
/// contact's display name) in the summary.
pub fn event(uid: &str, name: &str, a: &Anniversary) -> String {
    let leap_day = a.month == 2 && a.day == 29;
    let year = a.year.unwrap_or(if leap_day { 1972 } else { 1970 });
    // `parse_date` checked the date exists in this year (a known year is the
    // real one; an unknown year is 1970, or 1972 for 29 February).
    let start = NaiveDate::from_ymd_opt(year, a.month, a.day).unwrap_or_default();
    let end = start.succ_opt().unwrap_or(start);
    let rule = if leap_day { "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1" } else { "FREQ=YEARLY" };
    let what = match a.occasion {
        Occasion::Birthday => "Birthday",
        Occasion::Anniversary => "Anniversary",
    };
    let summary = match a.year {
        Some(y) => format!("{what}: {name} ({y})"),
        None => format!("{what}: {name}"),
    };
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Madang//Birthdays//EN".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", escape_text(uid)),
        "DTSTAMP:20000101T000000Z".to_string(),
        format!("DTSTART;VALUE=DATE:{}", ymd(start)),
        format!("DTEND;VALUE=DATE:{}", ymd(end)),
        format!("RRULE:{rule}"),
        format!("SUMMARY:{}", escape_text(&summary)),
        format!("CATEGORIES:{what}"),
        "TRANSP:TRANSPARENT".to_string(),
        "CLASS:PUBLIC".to_string(),
        "END:VEVENT".to_string(),
        "END:VCALENDAR".to_string(),
    ];
    let mut out = String::new();
    for line in &lines {
        crate::fold_line(&mut out, line);
    }
    out
}

fn ymd(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EvalContext, Limits, parse_card, parse_object};

    fn card(extra: &str) -> CardObject {
        parse_card(&format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Alice Kim\r\n{extra}END:VCARD\r\n"))
            .expect("card")
    }

    fn dates(extra: &str) -> Vec<(Occasion, Option<i32>, u32, u32)> {
        anniversaries(&card(extra)).into_iter().map(|a| (a.occasion, a.year, a.month, a.day)).collect()
    }

    #[test]
    fn reads_the_forms_clients_write() {
        use Occasion::*;
        assert_eq!(dates("BDAY:19900415\r\n"), [(Birthday, Some(1990), 4, 15)]);
        assert_eq!(dates("BDAY;VALUE=date:1990-04-15\r\n"), [(Birthday, Some(1990), 4, 15)]);
        assert_eq!(dates("BDAY:1990-04-15T00:00:00Z\r\n"), [(Birthday, Some(1990), 4, 15)]);
        assert_eq!(dates("BDAY:--0415\r\n"), [(Birthday, None, 4, 15)]);
        assert_eq!(dates("BDAY:--04-15\r\n"), [(Birthday, None, 4, 15)]);
        assert_eq!(dates("BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15\r\n"), [(Birthday, None, 4, 15)]);
        // The parameter only hides its own year.
        assert_eq!(dates("BDAY;X-APPLE-OMIT-YEAR=1604:1985-04-15\r\n"), [(Birthday, Some(1985), 4, 15)]);
        assert_eq!(dates("item1.BDAY:19900415\r\n"), [(Birthday, Some(1990), 4, 15)]);
        assert_eq!(
            dates("BDAY:19900415\r\nANNIVERSARY:20150620\r\n"),
            [(Birthday, Some(1990), 4, 15), (Anniversary, Some(2015), 6, 20)]
        );
        assert_eq!(dates("X-ANNIVERSARY:2015-06-20\r\n"), [(Anniversary, Some(2015), 6, 20)]);
    }

    #[test]
    fn skips_what_is_no_date() {
        for extra in [
            "BDAY;VALUE=text:circa 1800\r\n",
            "BDAY:1990-04\r\n",
            "BDAY:19900231\r\n",
            "BDAY:19910229\r\n",
            "BDAY:--1301\r\n",
            "BDAY:\r\n",
            "BDAY:tomorrow\r\n",
        ] {
            assert_eq!(dates(extra), [], "{extra:?}");
        }
        // A year-less 29 February exists.
        assert_eq!(dates("BDAY:--0229\r\n"), [(Occasion::Birthday, None, 2, 29)]);
    }

    fn instances(ics: &str, from: &str, to: &str) -> Vec<String> {
        let object = parse_object(ics).expect("valid event");
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&chrono::Utc);
        let ctx = EvalContext { floating_tz: chrono_tz::UTC, limits: Limits::default() };
        object
            .occurrences(t(from), t(to), &ctx)
            .expect("expands")
            .into_iter()
            .map(|o| o.start.format("%Y-%m-%d").to_string())
            .collect()
    }

    #[test]
    fn events_recur_yearly_on_the_day() {
        let a = Anniversary { occasion: Occasion::Birthday, year: Some(1990), month: 4, day: 15 };
        let ics = event("b1@madang", "Alice Kim", &a);
        assert!(ics.contains("DTSTART;VALUE=DATE:19900415\r\n"), "{ics}");
        assert!(ics.contains("DTEND;VALUE=DATE:19900416\r\n"));
        assert!(ics.contains("RRULE:FREQ=YEARLY\r\n"));
        assert!(ics.contains("SUMMARY:Birthday: Alice Kim (1990)\r\n"));
        assert!(ics.contains("TRANSP:TRANSPARENT\r\n"));
        assert_eq!(instances(&ics, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z"), ["2026-04-15", "2027-04-15"]);
        // Byte for byte the same each time: the ETag depends on nothing else.
        assert_eq!(ics, event("b1@madang", "Alice Kim", &a));
    }

    #[test]
    fn a_date_without_a_year_starts_in_1970_and_names_no_year() {
        let a = Anniversary { occasion: Occasion::Anniversary, year: None, month: 12, day: 31 };
        let ics = event("a1@madang", "Bob; the \"builder\", Jr.", &a);
        assert!(ics.contains("DTSTART;VALUE=DATE:19701231\r\n"), "{ics}");
        assert!(ics.contains("DTEND;VALUE=DATE:19710101\r\n"));
        assert!(ics.contains("SUMMARY:Anniversary: Bob\\; the \"builder\"\\, Jr.\r\n"), "{ics}");
        assert_eq!(instances(&ics, "2026-12-01T00:00:00Z", "2027-01-02T00:00:00Z"), ["2026-12-31"]);
    }

    #[test]
    fn the_29th_of_february_falls_on_the_last_day_of_february() {
        for year in [Some(1988), None] {
            let a = Anniversary { occasion: Occasion::Birthday, year, month: 2, day: 29 };
            let ics = event("l1@madang", "Leap", &a);
            assert!(ics.contains("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1\r\n"), "{ics}");
            assert_eq!(
                instances(&ics, "2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
                ["2027-02-28", "2028-02-29"],
                "{year:?}"
            );
        }
    }

    #[test]
    fn long_names_are_folded_and_parse_back() {
        let name = "가".repeat(60);
        let a = Anniversary { occasion: Occasion::Birthday, year: None, month: 1, day: 2 };
        let ics = event("x@madang", &name, &a);
        assert!(ics.lines().all(|l| l.len() <= 75));
        parse_object(&ics).expect("parses");
    }
}
