//! The JSON event/task model and its conversion to and from iCalendar (RFC 5545).
//!
//! Reading is lenient: whatever a CalDAV client stored is shown as well as the model can, from
//! the master component (the one without RECURRENCE-ID); overrides are listed by their
//! recurrence ids. Writing is strict about the properties the model owns and careful about
//! everything else: an update starts from the stored VCALENDAR, regenerates only the master's
//! modelled properties and alarms, and copies every other line unchanged (Apple's and
//! Outlook's `X-` properties, extra VALARM properties, attendees' scheduling parameters,
//! overrides, VTIMEZONEs), so a JSON edit never loses what a native client put there.
//!
//! Zones: `time_zone` is an IANA name (Windows names are accepted too). A VTIMEZONE is
//! generated from the tz database (calcard's `add_missing_timezones`) for every zone the object
//! references without defining it; a zone the stored object already defines under another
//! TZID (`W. Europe Standard Time` for `Europe/Berlin`) keeps that TZID and its VTIMEZONE.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ics::{Component, Prop, escape, is_item, split_list};
use crate::domain::{Email, InvalidInput};

/// An event, task or journal entry as the JSON API shows and accepts it. On write, a field that
/// is absent or empty removes the property; properties the model does not know are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct EventFields {
    /// `event` (VEVENT), `task` (VTODO) or `journal` (VJOURNAL). Defaults to `event` on
    /// create and to the stored kind on update; the kind of a stored item cannot change.
    pub kind: Option<ItemKind>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    /// `DTSTART`. Required for events.
    pub start: Option<When>,
    /// `DTEND` (events only). Exclusive: an all-day event on 1 May ends on `{"date": "2024-05-02"}`.
    pub end: Option<When>,
    /// `DURATION`, ISO 8601 (`PT1H30M`, `P1D`, `P2W`); instead of `end` (or `due`).
    #[schema(example = "PT1H")]
    pub duration: Option<String>,
    pub recurrence: Option<Recurrence>,
    /// `STATUS`, lower case: events `tentative`, `confirmed`, `cancelled`; tasks
    /// `needs-action`, `in-process`, `completed`, `cancelled`; journals `draft`, `final`, `cancelled`.
    pub status: Option<String>,
    /// `TRANSP`: `opaque` (busy) or `transparent` (free).
    pub transparency: Option<String>,
    pub categories: Vec<String>,
    pub url: Option<String>,
    pub organizer: Option<Person>,
    pub attendees: Vec<Attendee>,
    /// `VALARM`s.
    pub alarms: Vec<Alarm>,
    /// Tasks: `DUE`.
    pub due: Option<When>,
    /// Tasks: `COMPLETED`, a UTC date-time (`2024-05-01T10:00:00Z`).
    pub completed: Option<String>,
    /// Tasks: `PERCENT-COMPLETE`, 0 to 100.
    pub percent_complete: Option<u8>,
    /// `PRIORITY`: 1 (highest) to 9 (lowest), 0 for none.
    pub priority: Option<u8>,
    /// The UID of the item this one belongs to (`RELATED-TO;RELTYPE=PARENT`, RFC 5545
    /// §3.8.4.5): a subtask's parent task.
    pub parent: Option<String>,
    /// The place in a manually ordered list, smaller first (`X-APPLE-SORT-ORDER`, as Apple
    /// Reminders and tasks.org write it).
    pub sort_order: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Event,
    Task,
    Journal,
}

impl ItemKind {
    pub fn component(self) -> &'static str {
        match self {
            ItemKind::Event => "VEVENT",
            ItemKind::Task => "VTODO",
            ItemKind::Journal => "VJOURNAL",
        }
    }

    pub fn of_component(name: &str) -> Option<ItemKind> {
        match name.to_ascii_uppercase().as_str() {
            "VEVENT" => Some(ItemKind::Event),
            "VTODO" => Some(ItemKind::Task),
            "VJOURNAL" => Some(ItemKind::Journal),
            _ => None,
        }
    }
}

/// A date (all-day) or a date-time. `{"date": "2024-05-01"}`;
/// `{"date_time": "2024-05-01T09:00:00", "time_zone": "Europe/Berlin"}`;
/// `{"date_time": "2024-05-01T07:00:00Z"}` (UTC); a `date_time` without zone is floating
/// (the same wall-clock time everywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct When {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2024-05-01")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2024-05-01T09:00:00")]
    pub date_time: Option<String>,
    /// IANA zone name of `date_time`; `UTC` for UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

/// `RRULE`, `RDATE` and `EXDATE` of the master component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Recurrence {
    /// The rule as in RFC 5545 §3.3.10, without `RRULE:`.
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10")]
    pub rrule: Option<String>,
    pub rdates: Vec<When>,
    pub exdates: Vec<When>,
}

/// `ORGANIZER`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
}

/// `ATTENDEE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Attendee {
    pub email: String,
    pub name: Option<String>,
    /// `chair`, `req-participant` (the default), `opt-participant`, `non-participant`.
    pub role: Option<String>,
    /// `needs-action`, `accepted`, `declined`, `tentative`, `delegated`.
    pub partstat: Option<String>,
}

/// `VALARM`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Alarm {
    /// An ISO 8601 duration relative to the start (`-PT15M`: 15 minutes before), or an absolute
    /// UTC date-time (`2024-05-01T08:45:00Z`).
    #[schema(example = "-PT15M")]
    pub trigger: String,
    /// `end` when a relative trigger counts from the end (or due date); absent for the start.
    pub related: Option<String>,
    /// `display` (the default), `audio` or `email`.
    pub action: Option<String>,
    pub description: Option<String>,
}

/// Properties of the master component the model owns: regenerated on write.
const MODELLED: &[&str] = &[
    "UID",
    "DTSTAMP",
    "LAST-MODIFIED",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "STATUS",
    "TRANSP",
    "CATEGORIES",
    "URL",
    "ORGANIZER",
    "ATTENDEE",
    "DUE",
    "COMPLETED",
    "PERCENT-COMPLETE",
    "PRIORITY",
    "SEQUENCE",
    "X-APPLE-SORT-ORDER",
];

/// Whether the model owns a stored line of the item: the names above, and the one RELATED-TO
/// that names the parent (other relations are kept as they are).
fn is_modelled(p: &Prop) -> bool {
    MODELLED.contains(&p.name.as_str()) || is_parent_relation(p)
}

/// `RELATED-TO` with RELTYPE=PARENT, or without RELTYPE (PARENT is the default, RFC 5545 §3.2.15).
fn is_parent_relation(p: &Prop) -> bool {
    p.name == "RELATED-TO" && p.param("RELTYPE").is_none_or(|t| t.trim().eq_ignore_ascii_case("PARENT"))
}

/// Properties of a VALARM the model owns.
const ALARM_MODELLED: &[&str] = &["ACTION", "TRIGGER", "DESCRIPTION"];

/// The component the model shows: the first item without RECURRENCE-ID, else the first item.
pub fn master(cal: &Component) -> Option<&Component> {
    let items = || cal.children.iter().filter(|c| is_item(c));
    items().find(|c| c.prop("RECURRENCE-ID").is_none()).or_else(|| items().next())
}

/// The recurrence ids of the overrides (components with RECURRENCE-ID).
pub fn overrides(cal: &Component) -> Vec<When> {
    cal.children.iter().filter(|c| is_item(c)).filter_map(|c| c.prop("RECURRENCE-ID")).filter_map(when_of).collect()
}

/// The model's view of a stored VCALENDAR.
pub fn fields_from_calendar(cal: &Component) -> EventFields {
    master(cal).map(fields_from_component).unwrap_or_default()
}

/// The model's view of one item component (a master or an override).
pub fn fields_from_component(m: &Component) -> EventFields {
    let text = |name: &str| m.prop(name).map(|p| p.text()).filter(|s| !s.is_empty());
    let lower = |name: &str| m.prop(name).map(|p| p.value.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let dates = |name: &str| -> Vec<When> {
        m.props_named(name)
            .flat_map(|p| {
                split_list(&p.value)
                    .into_iter()
                    // An RDATE period keeps its start.
                    .filter_map(|v| when_from_value(p, v.split('/').next().unwrap_or_default()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let rrule = m.prop("RRULE").map(|p| p.value.trim().to_string());
    let (rdates, exdates) = (dates("RDATE"), dates("EXDATE"));
    let recurrence =
        (rrule.is_some() || !rdates.is_empty() || !exdates.is_empty()).then_some(Recurrence { rrule, rdates, exdates });
    EventFields {
        kind: ItemKind::of_component(&m.name),
        summary: text("SUMMARY"),
        description: text("DESCRIPTION"),
        location: text("LOCATION"),
        start: m.prop("DTSTART").and_then(when_of),
        end: m.prop("DTEND").and_then(when_of),
        duration: m.prop("DURATION").map(|p| p.value.trim().to_string()),
        recurrence,
        status: lower("STATUS"),
        transparency: lower("TRANSP"),
        categories: m
            .props_named("CATEGORIES")
            .flat_map(|p| split_list(&p.value))
            .map(|c| super::ics::unescape(&c).trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        url: text("URL"),
        organizer: m
            .prop("ORGANIZER")
            .map(|p| Person { email: mail_of(&p.value), name: p.param("CN").map(str::to_string) }),
        attendees: m
            .props_named("ATTENDEE")
            .map(|p| Attendee {
                email: mail_of(&p.value),
                name: p.param("CN").map(str::to_string),
                role: p.param("ROLE").map(str::to_ascii_lowercase),
                partstat: p.param("PARTSTAT").map(str::to_ascii_lowercase),
            })
            .collect(),
        alarms: m.children.iter().filter(|c| c.name == "VALARM").map(alarm_of).collect(),
        due: m.prop("DUE").and_then(when_of),
        completed: m.prop("COMPLETED").and_then(when_of).and_then(|w| w.date_time.map(|d| format!("{d}Z"))),
        percent_complete: m.prop("PERCENT-COMPLETE").and_then(|p| p.value.trim().parse().ok()),
        priority: m.prop("PRIORITY").and_then(|p| p.value.trim().parse().ok()),
        parent: m.props.iter().find(|p| is_parent_relation(p)).map(|p| p.text().trim().to_string()),
        sort_order: m.prop("X-APPLE-SORT-ORDER").and_then(|p| p.value.trim().parse().ok()),
    }
}

fn alarm_of(c: &Component) -> Alarm {
    let trigger = c.prop("TRIGGER");
    let absolute = trigger.is_some_and(|t| {
        t.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE-TIME")) || !t.value.trim().contains('P')
    });
    let trigger_text = match trigger {
        Some(t) if absolute => {
            when_of(t).and_then(|w| w.date_time).map(|d| format!("{d}Z")).unwrap_or_else(|| t.value.trim().to_string())
        }
        Some(t) => t.value.trim().to_string(),
        None => String::new(),
    };
    Alarm {
        trigger: trigger_text,
        related: trigger.and_then(|t| t.param("RELATED")).map(str::to_ascii_lowercase).filter(|r| r == "end"),
        action: c.prop("ACTION").map(|p| p.value.trim().to_ascii_lowercase()),
        description: c.prop("DESCRIPTION").map(|p| p.text()),
    }
}

/// `mailto:jane@example.com` → `jane@example.com`.
fn mail_of(value: &str) -> String {
    let v = value.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => v[7..].to_string(),
        _ => v.to_string(),
    }
}

/// A date or date-time property's (first) value.
fn when_of(p: &Prop) -> Option<When> {
    when_from_value(p, split_list(&p.value).first().map(String::as_str).unwrap_or_default())
}

fn when_from_value(p: &Prop, value: &str) -> Option<When> {
    let v = value.trim();
    if v.len() == 8 || p.param("VALUE").is_some_and(|t| t.eq_ignore_ascii_case("DATE")) {
        let d = NaiveDate::parse_from_str(v.get(..8)?, "%Y%m%d").ok()?;
        return Some(When { date: Some(d.format("%Y-%m-%d").to_string()), ..Default::default() });
    }
    let (local, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(l) => (l, true),
        None => (v, false),
    };
    let dt = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S").ok()?;
    let time_zone = if utc {
        Some("UTC".to_string())
    } else {
        p.param("TZID").map(|t| madang_ical::resolve_tzid(t).map(|z| z.name().to_string()).unwrap_or(t.to_string()))
    };
    Some(When { date: None, date_time: Some(dt.format("%Y-%m-%dT%H:%M:%S").to_string()), time_zone })
}

/// The VCALENDAR text for `fields`. With `stored`, that object's VCALENDAR is the starting
/// point and only the master's modelled properties and alarms are replaced.
pub fn calendar_from_fields(
    uid: &str,
    fields: &EventFields,
    stored: Option<&Component>,
    now: DateTime<Utc>,
) -> Result<String, InvalidInput> {
    let stored_master = stored.and_then(master);
    let zones = ZoneNames::of(stored);
    let m = component_from_fields(uid, fields, stored_master, &zones, now)?;
    let mut cal = match stored {
        Some(s) => {
            let mut cal = s.clone();
            match cal.children.iter().position(|c| Some(c) == stored_master) {
                Some(i) => cal.children[i] = m,
                None => cal.children.push(m),
            }
            cal
        }
        None => {
            let mut cal = Component::new("VCALENDAR");
            cal.props.push(Prop::new("VERSION", &[], "2.0"));
            cal.props.push(Prop::new("PRODID", &[], "-//Madang//JSON API//EN"));
            cal.children.push(m);
            cal
        }
    };
    add_missing_timezones(&mut cal);
    Ok(cal.to_text())
}

/// One item component for `fields`. With `old` (the stored component it replaces), lines whose
/// value did not change are kept as stored, with every parameter; what the model does not own
/// is copied; SEQUENCE goes up when a significant property changed.
pub(crate) fn component_from_fields(
    uid: &str,
    fields: &EventFields,
    old: Option<&Component>,
    zones: &ZoneNames,
    now: DateTime<Utc>,
) -> Result<Component, InvalidInput> {
    let stored_kind = old.and_then(|m| ItemKind::of_component(&m.name));
    let kind = match (fields.kind, stored_kind) {
        (Some(k), Some(s)) if k != s => {
            return Err(InvalidInput(format!(
                "kind: this item is a {}; it cannot become a {} (delete it and create a new one)",
                name_of(s),
                name_of(k)
            )));
        }
        (Some(k), _) => k,
        (None, Some(s)) => s,
        (None, None) => ItemKind::Event,
    };
    let mut m = Component::new(kind.component());
    write_fields(&mut m, uid, kind, fields, zones, now)?;
    if let Some(old) = old {
        keep_scheduling_params(&mut m, old);
        keep_stored_lines(&mut m, old);
    }
    let sequence = match old {
        Some(old) => sequence_of(old) + u32::from(significant_change(old, &m)),
        None => 0,
    };
    m.props.push(Prop::new("SEQUENCE", &[], &sequence.to_string()));
    if let Some(old) = old {
        if old.name == m.name {
            // CREATED and everything the model does not own, in their stored order.
            m.props.extend(old.props.iter().filter(|p| !is_modelled(p)).cloned());
        }
    } else {
        m.props.push(Prop::new("CREATED", &[], &stamp(now)));
    }
    let old_alarms: Vec<&Component> =
        old.map(|o| o.children.iter().filter(|c| c.name == "VALARM").collect()).unwrap_or_default();
    for (i, alarm) in fields.alarms.iter().enumerate() {
        m.children.push(alarm_component(alarm, fields, old_alarms.get(i).copied())?);
    }
    if let Some(old) = old {
        m.children.extend(old.children.iter().filter(|c| c.name != "VALARM").cloned());
    }
    Ok(m)
}

/// The component's SEQUENCE (RFC 5545 §3.8.7.4; 0 when absent).
pub(crate) fn sequence_of(c: &Component) -> u32 {
    c.prop("SEQUENCE").and_then(|p| p.value.trim().parse().ok()).unwrap_or(0)
}

/// Properties whose change is significant for the attendees, so that SEQUENCE goes up: the
/// list of RFC 5546 §2.1.4 (DTSTART, DTEND, DURATION, DUE, RRULE, RDATE, EXDATE, STATUS), plus
/// LOCATION, which the organizer may add under the same section and which moves people as
/// much as a new time does.
pub(crate) const SIGNIFICANT: &[&str] =
    &["DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE", "EXDATE", "STATUS", "LOCATION"];

/// Whether a significant property differs between two versions of a component: values are
/// compared one by one (an EXDATE list split over several lines is the same list), with their
/// time zone, ignoring other parameters.
pub(crate) fn significant_change(old: &Component, new: &Component) -> bool {
    let key = |c: &Component| {
        let mut k: Vec<(String, String, String)> = c
            .props
            .iter()
            .filter(|p| SIGNIFICANT.contains(&p.name.as_str()))
            .flat_map(|p| {
                let zone = p
                    .param("TZID")
                    .map(|t| madang_ical::resolve_tzid(t).map(|z| z.name().to_string()).unwrap_or(t.trim().to_string()))
                    .unwrap_or_default();
                let values = if matches!(p.name.as_str(), "RDATE" | "EXDATE") {
                    split_list(&p.value)
                } else {
                    vec![p.value.clone()]
                };
                values.into_iter().map(move |v| (p.name.clone(), v.trim().to_ascii_uppercase(), zone.clone()))
            })
            .collect();
        k.sort();
        k
    };
    key(old) != key(new)
}

/// Parameters the model writes; a stored line is kept only when it agrees on all of them.
const OWNED_PARAMS: &[&str] = &["VALUE", "TZID", "CN", "ROLE", "PARTSTAT", "RELATED", "RELTYPE"];

/// Text properties whose language and private parameters outlive a change of their value.
const TEXT_PROPS: &[&str] = &["SUMMARY", "DESCRIPTION", "LOCATION"];

/// Lines the model regenerated with the value they already had are replaced by the stored
/// line, so parameters the model does not know (`LANGUAGE`, `ALTREP`, `X-…`) survive an edit
/// that did not touch them. A changed SUMMARY, DESCRIPTION or LOCATION keeps `LANGUAGE` and
/// `X-` parameters; `ALTREP` goes, as it pointed to the old text (RFC 5545 §3.2.1).
fn keep_stored_lines(m: &mut Component, old: &Component) {
    let mut used = vec![false; old.props.len()];
    for p in m.props.iter_mut() {
        if matches!(p.name.as_str(), "UID" | "DTSTAMP" | "LAST-MODIFIED" | "SEQUENCE" | "CREATED") {
            continue;
        }
        let same = old.props.iter().enumerate().find(|(i, o)| {
            !used[*i] && o.name == p.name && same_value(o, p) && OWNED_PARAMS.iter().all(|n| same_param(o, p, n))
        });
        if let Some((i, o)) = same {
            used[i] = true;
            *p = o.clone();
            continue;
        }
        if TEXT_PROPS.contains(&p.name.as_str())
            && let Some(o) = old.prop(&p.name)
        {
            let carried: Vec<(&str, &str)> = o
                .params
                .iter()
                .filter(|(n, _)| n == "LANGUAGE" || n.starts_with("X-"))
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            if !carried.is_empty() {
                let mut params: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                params.extend(carried);
                *p = Prop::new(&p.name, &params, &p.value);
            }
        }
    }
}

fn same_value(a: &Prop, b: &Prop) -> bool {
    a.value.trim() == b.value.trim() || a.text().trim() == b.text().trim()
}

/// A parameter both lines give alike (case-insensitively), or neither gives. A RELATED-TO
/// without RELTYPE is a PARENT one (RFC 5545 §3.2.15).
fn same_param(a: &Prop, b: &Prop, name: &str) -> bool {
    fn get<'a>(p: &'a Prop, name: &str) -> Option<&'a str> {
        match p.param(name) {
            None if name == "RELTYPE" && p.name == "RELATED-TO" => Some("PARENT"),
            other => other,
        }
    }
    match (get(a, name), get(b, name)) {
        (None, None) => true,
        (Some(x), Some(y)) => x.trim().eq_ignore_ascii_case(y.trim()),
        _ => false,
    }
}

fn name_of(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Event => "event",
        ItemKind::Task => "task",
        ItemKind::Journal => "journal",
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn write_fields(
    m: &mut Component,
    uid: &str,
    kind: ItemKind,
    f: &EventFields,
    zones: &ZoneNames,
    now: DateTime<Utc>,
) -> Result<(), InvalidInput> {
    let push = |m: &mut Component, p: Prop| m.props.push(p);
    push(m, Prop::new("UID", &[], &escape(uid)));
    push(m, Prop::new("DTSTAMP", &[], &stamp(now)));
    push(m, Prop::new("LAST-MODIFIED", &[], &stamp(now)));
    for (field, name, value, multiline) in [
        ("summary", "SUMMARY", &f.summary, false),
        ("description", "DESCRIPTION", &f.description, true),
        ("location", "LOCATION", &f.location, false),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            check_text(field, v, multiline)?;
            push(m, Prop::new(name, &[], &escape(v)));
        }
    }
    let start = f.start.as_ref().map(|w| zones.format("start", w)).transpose()?;
    match (kind, &start) {
        (ItemKind::Event, None) => return Err(InvalidInput("start: required for an event".into())),
        (ItemKind::Journal, _) if f.end.is_some() || f.due.is_some() || f.duration.is_some() => {
            return Err(InvalidInput("a journal entry has only a start".into()));
        }
        (ItemKind::Task, _) if f.end.is_some() => {
            return Err(InvalidInput("end: a task has `due` instead".into()));
        }
        (ItemKind::Event | ItemKind::Journal, _) if f.due.is_some() || f.completed.is_some() => {
            return Err(InvalidInput("due and completed are for tasks".into()));
        }
        _ => {}
    }
    if let Some(s) = &start {
        push(m, s.prop("DTSTART"));
    }
    let (end_name, end_field, end) = match kind {
        ItemKind::Task => ("DUE", "due", f.due.as_ref()),
        _ => ("DTEND", "end", f.end.as_ref()),
    };
    if let Some(e) = end {
        if f.duration.is_some() {
            return Err(InvalidInput(format!("{end_field} and duration: give one, not both")));
        }
        let e = zones.format(end_field, e)?;
        if let Some(s) = &start {
            if s.all_day != e.all_day {
                return Err(InvalidInput(format!("start and {end_field}: both dates or both date-times")));
            }
            if e.instant < s.instant || (e.all_day && e.instant == s.instant) {
                return Err(InvalidInput(format!("{end_field}: must be after start")));
            }
        }
        push(m, e.prop(end_name));
    }
    if let Some(d) = f.duration.as_deref().filter(|d| !d.trim().is_empty()) {
        if start.is_none() {
            return Err(InvalidInput("duration: needs a start".into()));
        }
        push(m, Prop::new("DURATION", &[], &duration("duration", d, false)?));
    }
    if let Some(r) = &f.recurrence {
        if start.is_none() {
            return Err(InvalidInput("recurrence: needs a start".into()));
        }
        if let Some(rule) = r.rrule.as_deref().filter(|r| !r.trim().is_empty()) {
            push(m, Prop::new("RRULE", &[], &rrule(rule)?));
        }
        for (field, name, list) in [("rdates", "RDATE", &r.rdates), ("exdates", "EXDATE", &r.exdates)] {
            for w in list {
                push(m, zones.format(&format!("recurrence.{field}"), w)?.prop(name));
            }
        }
    }
    if let Some(s) = f.status.as_deref().filter(|s| !s.trim().is_empty()) {
        let allowed: &[&str] = match kind {
            ItemKind::Event => &["tentative", "confirmed", "cancelled"],
            ItemKind::Task => &["needs-action", "in-process", "completed", "cancelled"],
            ItemKind::Journal => &["draft", "final", "cancelled"],
        };
        push(m, Prop::new("STATUS", &[], &one_of("status", s, allowed)?));
    }
    if let Some(t) = f.transparency.as_deref().filter(|s| !s.trim().is_empty()) {
        push(m, Prop::new("TRANSP", &[], &one_of("transparency", t, &["opaque", "transparent"])?));
    }
    let mut categories = Vec::new();
    for c in f.categories.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        check_text("categories", c, false)?;
        categories.push(escape(c));
    }
    if !categories.is_empty() {
        push(m, Prop::new("CATEGORIES", &[], &categories.join(",")));
    }
    if let Some(u) = f.url.as_deref().filter(|s| !s.trim().is_empty()) {
        check_uri("url", u)?;
        push(m, Prop::new("URL", &[], u.trim()));
    }
    if let Some(o) = &f.organizer {
        push(m, person("organizer", &o.email, o.name.as_deref(), &[])?);
    }
    for a in &f.attendees {
        let mut params = Vec::new();
        if let Some(r) = a.role.as_deref().filter(|s| !s.trim().is_empty()) {
            params.push((
                "ROLE",
                one_of("attendees.role", r, &["chair", "req-participant", "opt-participant", "non-participant"])?,
            ));
        }
        if let Some(p) = a.partstat.as_deref().filter(|s| !s.trim().is_empty()) {
            let allowed = ["needs-action", "accepted", "declined", "tentative", "delegated", "completed", "in-process"];
            params.push(("PARTSTAT", one_of("attendees.partstat", p, &allowed)?));
        }
        push(m, person("attendees", &a.email, a.name.as_deref(), &params)?);
    }
    if let Some(c) = f.completed.as_deref().filter(|s| !s.trim().is_empty()) {
        let t = DateTime::parse_from_rfc3339(c.trim())
            .map_err(|_| InvalidInput(format!("completed: `{c}` is not a date-time like 2024-05-01T10:00:00Z")))?;
        push(m, Prop::new("COMPLETED", &[], &stamp(t.with_timezone(&Utc))));
    }
    if let Some(p) = f.percent_complete {
        if p > 100 {
            return Err(InvalidInput("percent_complete: 0 to 100".into()));
        }
        push(m, Prop::new("PERCENT-COMPLETE", &[], &p.to_string()));
    }
    if let Some(p) = f.priority {
        if p > 9 {
            return Err(InvalidInput("priority: 0 to 9".into()));
        }
        push(m, Prop::new("PRIORITY", &[], &p.to_string()));
    }
    if let Some(parent) = f.parent.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        check_text("parent", parent, false)?;
        if parent == uid {
            return Err(InvalidInput("parent: an item cannot be its own parent".into()));
        }
        push(m, Prop::new("RELATED-TO", &[("RELTYPE", "PARENT")], &escape(parent)));
    }
    if let Some(order) = f.sort_order {
        push(m, Prop::new("X-APPLE-SORT-ORDER", &[], &order.to_string()));
    }
    Ok(())
}

/// An ORGANIZER or ATTENDEE that was stored with the same address keeps the parameters the
/// model does not own (RSVP, CUTYPE, SCHEDULE-STATUS, DELEGATED-TO, SENT-BY, …).
fn keep_scheduling_params(m: &mut Component, old: &Component) {
    for p in m.props.iter_mut().filter(|p| p.name == "ATTENDEE" || p.name == "ORGANIZER") {
        let email = mail_of(&p.value);
        let Some(before) = old.props_named(&p.name).find(|o| mail_of(&o.value).eq_ignore_ascii_case(&email)) else {
            continue;
        };
        let owned = ["CN", "ROLE", "PARTSTAT"];
        let mut params: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        params.extend(
            before.params.iter().filter(|(n, _)| !owned.contains(&n.as_str())).map(|(n, v)| (n.as_str(), v.as_str())),
        );
        *p = Prop::new(&p.name, &params, &p.value);
    }
}

/// ORGANIZER / ATTENDEE with CN and `extra` parameters.
fn person(field: &str, email: &str, name: Option<&str>, extra: &[(&str, String)]) -> Result<Prop, InvalidInput> {
    let email = Email::parse(email).map_err(|e| InvalidInput(format!("{field}: {e}")))?;
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
        check_text(field, n, false)?;
        params.push(("CN", n.replace('"', "'")));
    }
    params.extend(extra.iter().cloned());
    let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Ok(Prop::new(
        if field == "organizer" { "ORGANIZER" } else { "ATTENDEE" },
        &params,
        &format!("mailto:{}", email.as_str()),
    ))
}

fn alarm_component(a: &Alarm, f: &EventFields, old: Option<&Component>) -> Result<Component, InvalidInput> {
    let mut c = Component::new("VALARM");
    let action = one_of("alarms.action", a.action.as_deref().unwrap_or("display"), &["display", "audio", "email"])?;
    c.props.push(Prop::new("ACTION", &[], &action));
    let t = a.trigger.trim();
    if t.is_empty() {
        return Err(InvalidInput("alarms.trigger: required (e.g. -PT15M)".into()));
    }
    let trigger = if t.trim_start_matches(['-', '+']).starts_with(['P', 'p']) {
        let mut params = Vec::new();
        match a.related.as_deref().map(str::trim) {
            Some(r) if r.eq_ignore_ascii_case("end") => params.push(("RELATED", "END")),
            None | Some("") => {}
            Some(r) if r.eq_ignore_ascii_case("start") => {}
            Some(r) => return Err(InvalidInput(format!("alarms.related: `{r}` is not start or end"))),
        }
        Prop::new("TRIGGER", &params, &duration("alarms.trigger", t, true)?)
    } else {
        let at = DateTime::parse_from_rfc3339(t).map_err(|_| {
            InvalidInput(format!("alarms.trigger: `{t}` is neither a duration (-PT15M) nor a date-time (…Z)"))
        })?;
        Prop::new("TRIGGER", &[("VALUE", "DATE-TIME")], &stamp(at.with_timezone(&Utc)))
    };
    c.props.push(trigger);
    if action != "AUDIO" {
        let text = a
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .or(f.summary.as_deref().filter(|s| !s.trim().is_empty()))
            .unwrap_or("Reminder");
        check_text("alarms.description", text, true)?;
        c.props.push(Prop::new("DESCRIPTION", &[], &escape(text)));
    }
    if let Some(old) = old {
        c.props.extend(old.props.iter().filter(|p| !ALARM_MODELLED.contains(&p.name.as_str())).cloned());
        c.children.extend(old.children.iter().cloned());
    }
    Ok(c)
}

/// A checked date or date-time, ready to be written, and the instant used to order it.
struct Formatted {
    params: Vec<(&'static str, String)>,
    value: String,
    all_day: bool,
    instant: NaiveDateTime,
}

impl Formatted {
    fn prop(&self, name: &str) -> Prop {
        let params: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Prop::new(name, &params, &self.value)
    }
}

/// TZIDs the stored object already uses, by the IANA zone they resolve to, so an edit keeps
/// referring to the client's own VTIMEZONE.
pub(crate) struct ZoneNames(Vec<(String, String)>);

impl ZoneNames {
    pub(crate) fn of(stored: Option<&Component>) -> ZoneNames {
        // Defined zones first: their TZID is the one with a VTIMEZONE behind it.
        let mut tzids: Vec<String> = Vec::new();
        let mut referenced = BTreeSet::new();
        for c in stored.iter().flat_map(|s| s.children.iter()) {
            match c.name.as_str() {
                "VTIMEZONE" => tzids.extend(c.prop("TZID").map(|p| p.text().trim().to_string())),
                _ => c.tzids(&mut referenced),
            }
        }
        tzids.extend(referenced);
        let names = tzids
            .into_iter()
            .filter_map(|tzid| madang_ical::resolve_tzid(&tzid).map(|tz| (tz.name().to_string(), tzid)))
            .collect();
        ZoneNames(names)
    }

    fn format(&self, field: &str, w: &When) -> Result<Formatted, InvalidInput> {
        match (&w.date, &w.date_time) {
            (Some(d), None) => {
                if w.time_zone.as_deref().is_some_and(|z| !z.trim().is_empty()) {
                    return Err(InvalidInput(format!("{field}: a date has no time_zone")));
                }
                let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                    .map_err(|_| InvalidInput(format!("{field}: `{d}` is not a date like 2024-05-01")))?;
                Ok(Formatted {
                    params: vec![("VALUE", "DATE".into())],
                    value: date.format("%Y%m%d").to_string(),
                    all_day: true,
                    instant: date.and_time(chrono::NaiveTime::MIN),
                })
            }
            (None, Some(dt)) => self.format_date_time(field, dt.trim(), w.time_zone.as_deref()),
            _ => Err(InvalidInput(format!("{field}: give either `date` or `date_time`"))),
        }
    }

    fn format_date_time(&self, field: &str, dt: &str, zone: Option<&str>) -> Result<Formatted, InvalidInput> {
        let bad = || InvalidInput(format!("{field}: `{dt}` is not a date-time like 2024-05-01T09:00:00"));
        let zone = zone.map(str::trim).filter(|z| !z.is_empty());
        // An explicit offset or Z: stored in UTC.
        if dt.ends_with(['Z', 'z']) || dt.get(19..).is_some_and(|rest| rest.starts_with(['+', '-'])) {
            let t = DateTime::parse_from_rfc3339(dt).map_err(|_| bad())?.with_timezone(&Utc);
            return Ok(Formatted { params: vec![], value: stamp(t), all_day: false, instant: t.naive_utc() });
        }
        let naive = NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M"))
            .map_err(|_| bad())?;
        let value = naive.format("%Y%m%dT%H%M%S").to_string();
        let Some(zone) = zone else {
            return Ok(Formatted { params: vec![], value, all_day: false, instant: naive });
        };
        if ["UTC", "Etc/UTC", "Z", "GMT"].iter().any(|u| u.eq_ignore_ascii_case(zone)) {
            return Ok(Formatted { params: vec![], value: format!("{value}Z"), all_day: false, instant: naive });
        }
        let tz = madang_ical::resolve_tzid(zone)
            .ok_or_else(|| InvalidInput(format!("{field}: unknown time zone `{zone}`; use an IANA name")))?;
        let tzid = self.0.iter().find(|(n, _)| n == tz.name()).map(|(_, t)| t.clone()).unwrap_or(tz.name().to_string());
        use chrono::TimeZone;
        let instant = tz.from_local_datetime(&naive).earliest().map(|t| t.naive_utc()).unwrap_or(naive);
        Ok(Formatted { params: vec![("TZID", tzid)], value, all_day: false, instant })
    }
}

/// Adds a VTIMEZONE, generated from the tz database, for every TZID referenced but not defined.
pub(crate) fn add_missing_timezones(cal: &mut Component) {
    let mut used = BTreeSet::new();
    for c in cal.children.iter().filter(|c| c.name != "VTIMEZONE") {
        c.tzids(&mut used);
    }
    let defined: BTreeSet<String> = cal
        .children
        .iter()
        .filter(|c| c.name == "VTIMEZONE")
        .filter_map(|c| c.prop("TZID").map(|p| p.text().trim().to_string()))
        .collect();
    if used.iter().all(|t| defined.contains(t)) {
        return;
    }
    let mut ical = match calcard::Parser::new(&cal.to_text()).entry() {
        calcard::Entry::ICalendar(ical) => ical,
        _ => return,
    };
    if ical.add_missing_timezones() == 0 {
        return;
    }
    let mut text = String::new();
    if ical.write_to(&mut text).is_err() {
        return;
    }
    let Ok(generated) = super::ics::parse_vcalendar(&text) else { return };
    let new_zones: Vec<Component> = generated
        .children
        .into_iter()
        .filter(|c| c.name == "VTIMEZONE")
        .filter(|c| c.prop("TZID").is_some_and(|p| !defined.contains(p.text().trim())))
        .collect();
    let at = cal.children.iter().position(|c| c.name != "VTIMEZONE").unwrap_or(cal.children.len());
    cal.children.splice(at..at, new_zones);
}

/// An ISO 8601 duration in the form iCalendar accepts (RFC 5545 §3.3.6): `P1W`, `P2D`,
/// `PT1H30M`, `P1DT12H`, with an optional sign when `signed`.
fn duration(field: &str, d: &str, signed: bool) -> Result<String, InvalidInput> {
    let d = d.trim().to_ascii_uppercase();
    let bad = || InvalidInput(format!("{field}: `{d}` is not a duration like PT1H30M, P1D or P2W"));
    let (sign, rest) = match d.strip_prefix(['-', '+']) {
        Some(r) if signed => (&d[..1], r),
        Some(_) => return Err(bad()),
        None => ("", d.as_str()),
    };
    let body = rest.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match body.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    let units = |s: &str, allowed: &str| -> Result<bool, InvalidInput> {
        let mut digits = String::new();
        let mut any = false;
        let mut last = 0;
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let pos = allowed.find(c).ok_or_else(bad)?;
            if digits.is_empty() || pos < last {
                return Err(bad());
            }
            last = pos + 1;
            digits.clear();
            any = true;
        }
        if !digits.is_empty() {
            return Err(bad());
        }
        Ok(any)
    };
    let has_date = units(date, "WD")?;
    if date.contains('W') && (date.contains('D') || time.is_some()) {
        return Err(bad());
    }
    let has_time = match time {
        Some(t) => units(t, "HMS")?.then_some(true).ok_or_else(bad)?,
        None => false,
    };
    if !has_date && !has_time {
        return Err(bad());
    }
    Ok(format!("{sign}{rest}"))
}

/// An RRULE value (RFC 5545 §3.3.10): `KEY=VALUE` parts with known keys and a FREQ.
fn rrule(rule: &str) -> Result<String, InvalidInput> {
    let rule = rule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule).to_ascii_uppercase();
    let bad = |why: &str| InvalidInput(format!("recurrence.rrule: {why} (e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10)"));
    const KEYS: &[&str] = &[
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
        "RSCALE",
        "SKIP",
    ];
    let mut freq = None;
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| bad(&format!("`{part}` is not KEY=VALUE")))?;
        if !KEYS.contains(&k) {
            return Err(bad(&format!("unknown part `{k}`")));
        }
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '-' | '+')) {
            return Err(bad(&format!("bad value for {k}")));
        }
        if k == "FREQ" {
            freq = Some(v.to_string());
        }
    }
    let freq = freq.ok_or_else(|| bad("FREQ is required"))?;
    if !["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"].contains(&freq.as_str()) {
        return Err(bad(&format!("unknown FREQ `{freq}`")));
    }
    Ok(rule)
}

/// `value` case-insensitively one of `allowed` (lower case), as iCalendar writes it (upper case).
fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, InvalidInput> {
    let v = value.trim().to_ascii_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v.to_ascii_uppercase())
    } else {
        Err(InvalidInput(format!("{field}: `{value}` is not one of {}", allowed.join(", "))))
    }
}

fn check_text(field: &str, s: &str, multiline: bool) -> Result<(), InvalidInput> {
    if s.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(InvalidInput(format!("{field}: control characters are not allowed")));
    }
    if s.len() > 10_000 {
        return Err(InvalidInput(format!("{field}: longer than 10000 bytes")));
    }
    Ok(())
}

fn check_uri(field: &str, s: &str) -> Result<(), InvalidInput> {
    let s = s.trim();
    let scheme_ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !rest.is_empty()
    });
    if !scheme_ok || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidInput(format!("{field}: `{s}` is not a URI (e.g. https://example.com/)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ics::parse_vcalendar;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn zoned(dt: &str, tz: &str) -> When {
        When { date: None, date_time: Some(dt.into()), time_zone: Some(tz.into()) }
    }

    #[test]
    fn fields_round_trip_through_icalendar() {
        let fields = EventFields {
            kind: Some(ItemKind::Event),
            summary: Some("Planning, Q3".into()),
            description: Some("line one\nline two".into()),
            location: Some("Room 1".into()),
            start: Some(zoned("2024-05-06T09:00:00", "Europe/Berlin")),
            end: Some(zoned("2024-05-06T10:30:00", "Europe/Berlin")),
            recurrence: Some(Recurrence {
                rrule: Some("FREQ=WEEKLY;BYDAY=MO;COUNT=10".into()),
                rdates: vec![],
                exdates: vec![zoned("2024-05-13T09:00:00", "Europe/Berlin")],
            }),
            status: Some("confirmed".into()),
            transparency: Some("opaque".into()),
            categories: vec!["Work".into(), "a,b".into()],
            url: Some("https://example.com/m".into()),
            organizer: Some(Person { email: "boss@example.com".into(), name: Some("The Boss".into()) }),
            attendees: vec![Attendee {
                email: "jane@example.com".into(),
                name: Some("Doe, Jane".into()),
                role: Some("req-participant".into()),
                partstat: Some("accepted".into()),
            }],
            alarms: vec![Alarm {
                trigger: "-PT15M".into(),
                related: None,
                action: Some("display".into()),
                description: Some("Soon".into()),
            }],
            priority: Some(5),
            ..Default::default()
        };
        let text = calendar_from_fields("e-1", &fields, None, now()).unwrap();
        assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"), "{text}");
        let object = madang_ical::parse_object(&text).unwrap();
        assert_eq!(object.uid(), "e-1");
        let cal = parse_vcalendar(&text).unwrap();
        assert_eq!(fields_from_calendar(&cal), fields, "{text}");
    }

    #[test]
    fn an_edit_keeps_unknown_properties_alarm_extras_and_overrides() {
        let stored = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple//EN\r\n\
BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=W. Europe Standard Time:20240108T090000\r\n\
DTEND;TZID=W. Europe Standard Time:20240108T100000\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Old\r\n\
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nX-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n\
ATTENDEE;CN=Jane;RSVP=TRUE;SCHEDULE-STATUS=2.0:mailto:jane@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nX-WR-ALARMUID:A1\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID;TZID=W. Europe Standard Time:20240115T090000\r\n\
DTSTART;TZID=W. Europe Standard Time:20240115T110000\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let cal = parse_vcalendar(stored).unwrap();
        let mut fields = fields_from_calendar(&cal);
        assert_eq!(fields.start, Some(zoned("2024-01-08T09:00:00", "Europe/Berlin")));
        assert_eq!(overrides(&cal), vec![zoned("2024-01-15T09:00:00", "Europe/Berlin")]);
        fields.summary = Some("New".into());
        let text = calendar_from_fields("u", &fields, Some(&cal), now()).unwrap();
        for kept in [
            "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
            "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
            "X-WR-ALARMUID:A1",
            "SUMMARY:Moved",
            "DTSTART;TZID=W. Europe Standard Time:20240108T090000",
        ] {
            assert!(text.contains(kept), "{kept} lost: {text}");
        }
        assert!(text.contains("SUMMARY:New") && !text.contains("SUMMARY:Old"), "{text}");
        madang_ical::parse_object(&text).unwrap();
    }

    #[test]
    fn bad_input_is_refused_with_the_field_name() {
        let bad = |f: EventFields| calendar_from_fields("a", &f, None, now()).unwrap_err().0;
        let day = |d: &str| Some(When { date: Some(d.into()), ..Default::default() });
        assert!(bad(EventFields::default()).contains("start"));
        assert!(bad(EventFields { start: day("2024-13-01"), ..Default::default() }).contains("start"));
        let zone = bad(EventFields { start: Some(zoned("2024-05-01T09:00:00", "Mars/Olympus")), ..Default::default() });
        assert!(zone.contains("time zone"), "{zone}");
        let rule = EventFields {
            start: day("2024-05-01"),
            recurrence: Some(Recurrence { rrule: Some("FREQ=SOMETIMES".into()), ..Default::default() }),
            ..Default::default()
        };
        assert!(bad(rule).contains("rrule"));
        let order = EventFields { start: day("2024-05-02"), end: day("2024-05-01"), ..Default::default() };
        assert!(bad(order).contains("end"));
        let dur = EventFields { start: day("2024-05-02"), duration: Some("1 hour".into()), ..Default::default() };
        assert!(bad(dur).contains("duration"));
        assert!(duration("d", "PT1H30M", false).is_ok() && duration("d", "-P1W", true).is_ok());
        assert!(duration("d", "P1Y", false).is_err() && duration("d", "PT", false).is_err());
    }
}
