//! Edits of one occurrence of a recurring item, as iCalendar changes: an override (RECURRENCE-ID), an exception (EXDATE), a series ended early (UNTIL), a series split in two.
//!
//! Everything here is pure: it takes the stored VCALENDAR (`ics::Component`) and returns the
//! changed one; `events.rs` reads, checks conditions and writes through `write`. The shapes
//! are those native clients write, so CalDAV clients see what they would have made themselves:
//! RFC 5545 §3.8.4.4 (RECURRENCE-ID), §3.8.5.1 (EXDATE), §3.3.10 (UNTIL), RFC 9253 (the
//! FIRST/NEXT links between the two halves of a split series).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};

use super::event_model::{EventFields, ZoneNames, add_missing_timezones, component_from_fields, master, sequence_of};
use super::ics::{Component, Prop, escape, is_item, split_list};
use crate::domain::InvalidInput;

/// `scope` of an occurrence edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This occurrence only.
    This,
    /// This occurrence and every later one.
    Following,
}

/// An occurrence of a series, named the way the series' DTSTART is written.
#[derive(Debug, Clone)]
pub struct OccurrenceId {
    /// The instant, as the expansion reports it (all-day and floating: in the evaluation zone).
    pub utc: DateTime<Utc>,
    /// The wall-clock value in the series' own zone (midnight for a date).
    pub local: NaiveDateTime,
    pub all_day: bool,
    /// How DTSTART places its value.
    form: Form,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Date,
    Utc,
    /// The TZID as the stored object writes it, and the zone it resolves to.
    Zoned(String, chrono_tz::Tz),
    Floating,
}

impl OccurrenceId {
    /// Reads a recurrence id from a URL (`2024-05-13T07:00:00Z`, `2024-05-13T09:00:00+02:00`,
    /// a local `2024-05-13T09:00:00` in the series' zone, or `2024-05-13` for all-day series)
    /// against the master's DTSTART. `floating` places floating and all-day times.
    pub fn parse(text: &str, master: &Component, floating: chrono_tz::Tz) -> Result<OccurrenceId, InvalidInput> {
        let start = master.prop("DTSTART").ok_or_else(|| InvalidInput("the item has no start".into()))?;
        let form = form_of(start);
        let t = text.trim();
        let bad = || {
            InvalidInput(format!(
                "recurrence_id: `{t}` is not an occurrence time like 2024-05-13T07:00:00Z (or 2024-05-13 for all-day items)"
            ))
        };
        let absolute = DateTime::parse_from_rfc3339(t).ok().map(|d| d.with_timezone(&Utc));
        let local_text = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok();
        let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
        let local = match (&form, absolute, local_text, date) {
            (Form::Date, _, _, Some(d)) => d.and_time(chrono::NaiveTime::MIN),
            (Form::Date, Some(a), _, _) => a.with_timezone(&floating).date_naive().and_time(chrono::NaiveTime::MIN),
            (Form::Date, ..) => return Err(bad()),
            (Form::Utc, Some(a), ..) => a.naive_utc(),
            (Form::Zoned(_, tz), Some(a), ..) => a.with_timezone(tz).naive_local(),
            (Form::Floating, Some(a), ..) => a.with_timezone(&floating).naive_local(),
            (_, None, Some(l), _) => l,
            _ => return Err(bad()),
        };
        let utc = match &form {
            Form::Utc => local.and_utc(),
            Form::Zoned(_, tz) => to_utc(*tz, local),
            Form::Date | Form::Floating => to_utc(floating, local),
        };
        Ok(OccurrenceId { utc, local, all_day: form == Form::Date, form })
    }

    /// The property `name` (RECURRENCE-ID, EXDATE) naming this occurrence, in DTSTART's form.
    fn prop(&self, name: &str) -> Prop {
        match &self.form {
            Form::Date => Prop::new(name, &[("VALUE", "DATE")], &self.local.format("%Y%m%d").to_string()),
            Form::Utc => Prop::new(name, &[], &self.local.format("%Y%m%dT%H%M%SZ").to_string()),
            Form::Zoned(tzid, _) => Prop::new(name, &[("TZID", tzid)], &self.local.format("%Y%m%dT%H%M%S").to_string()),
            Form::Floating => Prop::new(name, &[], &self.local.format("%Y%m%dT%H%M%S").to_string()),
        }
    }

    /// RFC 5545 §3.3.10: UNTIL has DTSTART's value type; it is UTC when DTSTART has a zone
    /// or is UTC, and local when DTSTART is floating. "Just before" this occurrence: the day
    /// before for dates, one second before otherwise. The bound is inclusive, so the
    /// occurrence itself is left out.
    fn until_before(&self) -> String {
        match &self.form {
            Form::Date => (self.local.date() - TimeDelta::days(1)).format("%Y%m%d").to_string(),
            Form::Utc | Form::Zoned(..) => (self.utc - TimeDelta::seconds(1)).format("%Y%m%dT%H%M%SZ").to_string(),
            Form::Floating => (self.local - TimeDelta::seconds(1)).format("%Y%m%dT%H%M%S").to_string(),
        }
    }
}

fn form_of(start: &Prop) -> Form {
    let v = start.value.trim();
    if v.len() == 8 || start.param("VALUE").is_some_and(|t| t.eq_ignore_ascii_case("DATE")) {
        return Form::Date;
    }
    if v.ends_with(['Z', 'z']) {
        return Form::Utc;
    }
    match start.param("TZID").and_then(|t| madang_ical::resolve_tzid(t).map(|tz| (t.to_string(), tz))) {
        Some((tzid, tz)) => Form::Zoned(tzid, tz),
        None => Form::Floating,
    }
}

fn to_utc(tz: chrono_tz::Tz, local: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or_else(|| local.and_utc())
}

/// The instant of one value of a date or date-time property (`floating` for floating times and
/// dates), to compare occurrences however they are written.
pub fn instant_of(p: &Prop, value: &str, floating: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if v.len() == 8 || p.param("VALUE").is_some_and(|t| t.eq_ignore_ascii_case("DATE")) {
        let d = NaiveDate::parse_from_str(v.get(..8)?, "%Y%m%d").ok()?;
        return Some(to_utc(floating, d.and_time(chrono::NaiveTime::MIN)));
    }
    if let Some(l) = v.strip_suffix(['Z', 'z']) {
        return NaiveDateTime::parse_from_str(l, "%Y%m%dT%H%M%S").ok().map(|t| t.and_utc());
    }
    let local = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()?;
    let tz = p.param("TZID").and_then(madang_ical::resolve_tzid).unwrap_or(floating);
    Some(to_utc(tz, local))
}

/// The override (component with RECURRENCE-ID) for this occurrence, by position.
fn override_at(cal: &Component, rid: &OccurrenceId, floating: chrono_tz::Tz) -> Option<usize> {
    cal.children.iter().position(|c| {
        is_item(c)
            && c.prop("RECURRENCE-ID").and_then(|p| instant_of(p, &p.value, floating)).is_some_and(|t| t == rid.utc)
    })
}

fn master_index(cal: &Component) -> Result<usize, InvalidInput> {
    let m = master(cal).ok_or_else(|| InvalidInput("the item has no component".into()))?;
    cal.children.iter().position(|c| c == m).ok_or_else(|| InvalidInput("the item has no component".into()))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Sets DTSTAMP and LAST-MODIFIED to `now` (RFC 5545 §3.8.7.2, §3.8.7.3) and SEQUENCE to `seq`.
fn touch(c: &mut Component, now: DateTime<Utc>, seq: u32) {
    c.props.retain(|p| !matches!(p.name.as_str(), "DTSTAMP" | "LAST-MODIFIED" | "SEQUENCE"));
    let at = c.props.iter().position(|p| p.name == "UID").map_or(0, |i| i + 1);
    let new = [
        Prop::new("DTSTAMP", &[], &stamp(now)),
        Prop::new("LAST-MODIFIED", &[], &stamp(now)),
        Prop::new("SEQUENCE", &[], &seq.to_string()),
    ];
    c.props.splice(at..at, new);
}

/// What the occurrence looked like before the edit, to tell whether the edit is significant.
pub struct Original {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `scope=this`: writes (or replaces) the override of one occurrence with `fields`. A new
/// override starts from the series' properties (minus its recurrence), an existing one from
/// itself, so what the model does not know is kept. SEQUENCE: an existing override's goes up
/// on a significant change (as for any edit); a new one gets the series' SEQUENCE, plus one if
/// the occurrence moved or its LOCATION or STATUS changed.
pub fn edit_this(
    cal: &mut Component,
    uid: &str,
    rid: &OccurrenceId,
    original: &Original,
    fields: &EventFields,
    floating: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<(), InvalidInput> {
    if fields.recurrence.as_ref().is_some_and(|r| {
        r.rrule.as_deref().is_some_and(|s| !s.trim().is_empty()) || !r.rdates.is_empty() || !r.exdates.is_empty()
    }) {
        return Err(InvalidInput(
            "recurrence: one occurrence has no recurrence of its own; use scope=following to change the rule".into(),
        ));
    }
    let zones = ZoneNames::of(Some(cal));
    let m = master_index(cal)?;
    match override_at(cal, rid, floating) {
        Some(i) => {
            let new = component_from_fields(uid, fields, Some(&cal.children[i]), &zones, now)?;
            cal.children[i] = new;
        }
        None => {
            let series = cal.children[m].clone();
            let mut new = component_from_fields(uid, fields, Some(&series), &zones, now)?;
            let moved = new.prop("DTSTART").and_then(|p| instant_of(p, &p.value, floating)) != Some(original.start)
                || new
                    .prop("DTEND")
                    .or(new.prop("DUE"))
                    .and_then(|p| instant_of(p, &p.value, floating))
                    .is_some_and(|e| e != original.end);
            let text = |c: &Component, n: &str| c.prop(n).map(|p| p.text().trim().to_string());
            let changed = moved
                || text(&new, "LOCATION") != text(&series, "LOCATION")
                || text(&new, "STATUS") != text(&series, "STATUS");
            touch(&mut new, now, sequence_of(&series) + u32::from(changed));
            let at = new.props.iter().position(|p| p.name == "DTSTART").unwrap_or(new.props.len());
            new.props.insert(at, rid.prop("RECURRENCE-ID"));
            cal.children.insert(m + 1, new);
        }
    }
    add_missing_timezones(cal);
    Ok(())
}

/// `DELETE scope=this`: the occurrence joins the series' EXDATEs (in DTSTART's form) and its
/// override, if any, goes. The master's SEQUENCE goes up: EXDATE is significant.
pub fn delete_this(cal: &mut Component, rid: &OccurrenceId, floating: chrono_tz::Tz, now: DateTime<Utc>) {
    if let Some(i) = override_at(cal, rid, floating) {
        cal.children.remove(i);
    }
    let Ok(m) = master_index(cal) else { return };
    let series = &mut cal.children[m];
    let seq = sequence_of(series) + 1;
    let at = series.props.iter().rposition(|p| matches!(p.name.as_str(), "EXDATE" | "RRULE" | "RDATE"));
    let at = at.map_or(series.props.len(), |i| i + 1);
    series.props.insert(at, rid.prop("EXDATE"));
    touch(series, now, seq);
}

/// Ends the series just before the occurrence: UNTIL replaces UNTIL/COUNT in the RRULE, RDATEs,
/// EXDATEs and overrides from the occurrence on are dropped. `false` when the occurrence is the
/// series' first, so nothing would be left (the caller deletes or replaces the whole item).
pub fn truncate(cal: &mut Component, rid: &OccurrenceId, floating: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
    let Ok(m) = master_index(cal) else { return false };
    let first = cal.children[m].prop("DTSTART").and_then(|p| instant_of(p, &p.value, floating));
    if first.is_none_or(|f| f >= rid.utc) {
        return false;
    }
    let later = |c: &Component| {
        is_item(c)
            && c.prop("RECURRENCE-ID").and_then(|p| instant_of(p, &p.value, floating)).is_some_and(|t| t >= rid.utc)
    };
    cal.children.retain(|c| !later(c));
    let Ok(m) = master_index(cal) else { return false };
    let series = &mut cal.children[m];
    let mut props = Vec::with_capacity(series.props.len());
    for p in series.props.drain(..) {
        match p.name.as_str() {
            "RRULE" => {
                let mut parts: Vec<&str> = p
                    .value
                    .trim()
                    .split(';')
                    .filter(|part| {
                        let key = part.split('=').next().unwrap_or_default().trim().to_ascii_uppercase();
                        !part.is_empty() && key != "COUNT" && key != "UNTIL"
                    })
                    .collect();
                let until = format!("UNTIL={}", rid.until_before());
                parts.push(&until);
                let params: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                props.push(Prop::new("RRULE", &params, &parts.join(";")));
            }
            "RDATE" | "EXDATE" => {
                let kept: Vec<String> = split_list(&p.value)
                    .into_iter()
                    .filter(|v| {
                        let start = v.split('/').next().unwrap_or_default();
                        instant_of(&p, start, floating).is_none_or(|t| t < rid.utc)
                    })
                    .collect();
                if kept.len() == split_list(&p.value).len() {
                    props.push(p);
                } else if !kept.is_empty() {
                    let params: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                    props.push(Prop::new(&p.name, &params, &kept.join(",")));
                }
            }
            _ => props.push(p),
        }
    }
    series.props = props;
    let seq = sequence_of(series) + 1;
    touch(series, now, seq);
    true
}

/// The RRULE of the master, as written.
pub fn rule_of(cal: &Component) -> Option<String> {
    master(cal).and_then(|m| m.prop("RRULE")).map(|p| p.value.trim().to_string())
}

/// `COUNT` of a rule, if it has one.
pub fn count_of(rule: &str) -> Option<u64> {
    rule.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim().eq_ignore_ascii_case("COUNT").then(|| v.trim().parse().ok()).flatten()
    })
}

/// A rule with `COUNT` set to `count`.
pub fn with_count(rule: &str, count: u64) -> String {
    rule.split(';')
        .map(|part| match part.split_once('=') {
            Some((k, _)) if k.trim().eq_ignore_ascii_case("COUNT") => format!("COUNT={count}"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// `scope=following`: the second half of a split series, as its own VCALENDAR. `series` is
/// the stored VCALENDAR before the split; `new` the new master built from the client's fields
/// (with `component_from_fields`). The overrides at or after the split move with it, under the
/// new UID, their recurrence ids shifted by `shift` (how far the client moved the start).
/// Links: the new master gets `RELATED-TO;RELTYPE=FIRST` naming the first series of the chain
/// (RFC 9253 §9.1), the caller gives the old one `RELTYPE=NEXT`.
pub fn second_half(
    series: &Component,
    mut new: Component,
    new_uid: &str,
    rid: &OccurrenceId,
    shift: TimeDelta,
    floating: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Component {
    let old_master = master(series);
    let old_uid = old_master.and_then(|m| m.uid()).unwrap_or_default();
    let first = old_master
        .and_then(|m| {
            m.props
                .iter()
                .find(|p| p.name == "RELATED-TO" && p.param("RELTYPE").is_some_and(|t| t.eq_ignore_ascii_case("FIRST")))
        })
        .map(|p| p.value.trim().to_string())
        .unwrap_or_else(|| escape(&old_uid));
    // A new item: its own CREATED, SEQUENCE 0, and none of the old one's chain links.
    let chain_link = |p: &Prop| {
        p.name == "RELATED-TO"
            && p.param("RELTYPE").is_some_and(|t| t.eq_ignore_ascii_case("FIRST") || t.eq_ignore_ascii_case("NEXT"))
    };
    new.props.retain(|p| !matches!(p.name.as_str(), "CREATED" | "SEQUENCE") && !chain_link(p));
    touch(&mut new, now, 0);
    new.props.push(Prop::new("CREATED", &[], &stamp(now)));
    new.props.push(Prop::new("RELATED-TO", &[("RELTYPE", "FIRST")], &first));
    // RDATEs and EXDATEs before the new start are not part of this series.
    let start = new.prop("DTSTART").and_then(|p| instant_of(p, &p.value, floating));
    if let Some(start) = start {
        new.props.retain(|p| {
            !matches!(p.name.as_str(), "RDATE" | "EXDATE")
                || split_list(&p.value).iter().any(|v| {
                    instant_of(p, v.split('/').next().unwrap_or_default(), floating).is_none_or(|t| t >= start)
                })
        });
    }
    let mut cal = Component::new("VCALENDAR");
    cal.props = series.props.iter().filter(|p| p.name != "METHOD").cloned().collect();
    cal.children.push(new);
    for c in series.children.iter().filter(|c| is_item(c)) {
        let Some(r) = c.prop("RECURRENCE-ID") else { continue };
        if instant_of(r, &r.value, floating).is_none_or(|t| t < rid.utc) {
            continue;
        }
        let mut moved = c.clone();
        for p in moved.props.iter_mut() {
            match p.name.as_str() {
                "UID" => *p = Prop::new("UID", &[], &escape(new_uid)),
                "RECURRENCE-ID" if !shift.is_zero() => *p = shifted(p, shift),
                _ => {}
            }
        }
        cal.children.push(moved);
    }
    // The zones the moved components use, as the old object defined them.
    let mut used = std::collections::BTreeSet::new();
    for c in &cal.children {
        c.tzids(&mut used);
    }
    let zones: Vec<Component> = series
        .children
        .iter()
        .filter(|c| c.name == "VTIMEZONE" && c.prop("TZID").is_some_and(|p| used.contains(p.text().trim())))
        .cloned()
        .collect();
    cal.children.splice(0..0, zones);
    add_missing_timezones(&mut cal);
    cal
}

/// A date or date-time property moved by `shift`, in its own form.
fn shifted(p: &Prop, shift: TimeDelta) -> Prop {
    let v = p.value.trim();
    let params: Vec<(&str, &str)> = p.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let new = if v.len() == 8 {
        NaiveDate::parse_from_str(v, "%Y%m%d").ok().map(|d| (d + shift).format("%Y%m%d").to_string())
    } else {
        let (local, z) = match v.strip_suffix(['Z', 'z']) {
            Some(l) => (l, "Z"),
            None => (v, ""),
        };
        NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| format!("{}{z}", (t + shift).format("%Y%m%dT%H%M%S")))
    };
    Prop::new(&p.name, &params, &new.unwrap_or_else(|| v.to_string()))
}

/// Adds `RELATED-TO;RELTYPE=NEXT:<next>` to the master, replacing an earlier NEXT link.
pub fn link_next(cal: &mut Component, next: &str) {
    let Ok(m) = master_index(cal) else { return };
    let series = &mut cal.children[m];
    series
        .props
        .retain(|p| !(p.name == "RELATED-TO" && p.param("RELTYPE").is_some_and(|t| t.eq_ignore_ascii_case("NEXT"))));
    series.props.push(Prop::new("RELATED-TO", &[("RELTYPE", "NEXT")], &escape(next)));
}

/// How far the client moved the occurrence's start: its new DTSTART minus the old start, in the
/// series' wall clock (so an override at 09:00 local follows a series moved to 10:00 local).
pub fn shift_of(new_master: &Component, rid: &OccurrenceId) -> TimeDelta {
    let Some(p) = new_master.prop("DTSTART") else { return TimeDelta::zero() };
    let v = p.value.trim();
    let local = if v.len() == 8 {
        NaiveDate::parse_from_str(v, "%Y%m%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN))
    } else {
        NaiveDateTime::parse_from_str(v.trim_end_matches(['Z', 'z']), "%Y%m%dT%H%M%S").ok()
    };
    local.map_or(TimeDelta::zero(), |l| l - rid.local)
}
