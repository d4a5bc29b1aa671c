//! calendar-data rendering (RFC 4791 §9.6): comp/prop selection, expand, limit-recurrence-set
//! and limit-freebusy-set. Without any of them the stored text is returned unchanged.

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName, ICalendarPeriod,
    ICalendarProperty, ICalendarValue,
};
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use std::fmt::Write;

use crate::filter::{CalendarDataRequest, CompSelect, TimeRange};
use crate::instances::{Window, collect};
use crate::timerange::instance_overlaps;
use crate::{CalendarObject, EvalContext, ExpandError};

/// An output component: calcard's component, possibly with rewritten entries, and children.
struct Node<'a> {
    comp: &'a ICalendarComponent,
    entries: Option<Vec<ICalendarEntry>>,
    children: Vec<Node<'a>>,
}

impl CalendarObject {
    /// Renders `calendar-data` for a REPORT (RFC 4791 §9.6). `expand` and the `limit-*` elements
    /// need a range with both ends (§9.6.5–§9.6.7), else [`ExpandError::UnboundedRange`].
    pub fn render(&self, req: &CalendarDataRequest, ctx: &EvalContext) -> Result<String, ExpandError> {
        self.render_counted(req, ctx).map(|(text, _)| text)
    }

    /// [`CalendarObject::render`], and how many components `expand` wrote (0 without `expand`):
    /// each object's expansion is bounded by [`crate::Limits`], and this count lets a caller
    /// bound a whole response, whose size otherwise grows with objects × instances.
    pub fn render_counted(&self, req: &CalendarDataRequest, ctx: &EvalContext) -> Result<(String, usize), ExpandError> {
        if *req == CalendarDataRequest::default() {
            return Ok((self.raw().to_string(), 0));
        }
        for r in [&req.expand, &req.limit_recurrence_set, &req.limit_freebusy_set].into_iter().flatten() {
            if r.start.is_none() || r.end.is_none() {
                return Err(ExpandError::UnboundedRange);
            }
        }
        let root = &self.ical.components[0];
        let mut children = Vec::new();
        let mut expanded = 0;
        if let Some(range) = &req.expand {
            // §9.6.5: instances as separate components in UTC; VTIMEZONEs are no longer needed.
            let window = Window { lo: range.start, hi: range.end, slack: TimeDelta::zero() };
            let mut instances = collect(self, window, ctx)?;
            instances.retain(|i| instance_overlaps(&self.comps[i.comp], i, range, ctx));
            instances.sort_by_key(|i| (i.start, i.rid));
            expanded = instances.len();
            for inst in instances {
                let comp = &self.comps[inst.comp];
                let source = &self.ical.components[comp.idx];
                let entries = expanded_entries(source, inst.start, inst.end, inst.rid, comp.kind);
                children.push(Node { comp: source, entries: Some(entries), children: self.subtree(comp.idx).children });
            }
        } else {
            for id in &root.component_ids {
                let idx = *id as usize;
                if let Some(range) = &req.limit_recurrence_set
                    && !self.keep_for_limit(idx, range, ctx)?
                {
                    continue;
                }
                let mut node = self.subtree(idx);
                if let Some(range) = &req.limit_freebusy_set {
                    limit_freebusy(&mut node, range);
                }
                children.push(node);
            }
        }
        let top = Node { comp: root, entries: None, children };
        let mut out = String::with_capacity(self.raw().len());
        write_node(&mut out, &top, req.comp.as_ref());
        Ok((out, expanded))
    }

    fn subtree(&self, idx: usize) -> Node<'_> {
        let comp = &self.ical.components[idx];
        Node { comp, entries: None, children: comp.component_ids.iter().map(|id| self.subtree(*id as usize)).collect() }
    }

    /// §9.6.6: keep the master and every override whose instance or RECURRENCE-ID touches the range.
    fn keep_for_limit(&self, idx: usize, range: &TimeRange, ctx: &EvalContext) -> Result<bool, ExpandError> {
        let Some(pos) = self.comps.iter().position(|c| c.idx == idx) else { return Ok(true) };
        let comp = &self.comps[pos];
        let Some(rid) = comp.rid else { return Ok(true) };
        let rid = rid.utc(ctx.floating_tz);
        if range.start.is_none_or(|s| s <= rid) && range.end.is_none_or(|e| e > rid) {
            return Ok(true);
        }
        let window = Window { lo: range.start, hi: range.end, slack: TimeDelta::zero() };
        let list = collect(self, window, ctx)?;
        Ok(list.iter().any(|i| i.comp == pos && instance_overlaps(comp, i, range, ctx)))
    }
}

fn utc_value(t: DateTime<Utc>) -> ICalendarValue {
    ICalendarValue::PartialDateTime(Box::new(PartialDateTime {
        year: u16::try_from(t.year()).ok(),
        month: Some(t.month() as u8),
        day: Some(t.day() as u8),
        hour: Some(t.hour() as u8),
        minute: Some(t.minute() as u8),
        second: Some(t.second() as u8),
        tz_hour: Some(0),
        tz_minute: Some(0),
        tz_minus: false,
    }))
}

/// The entries of one expanded instance: recurrence properties removed, DTSTART/DTEND/DUE and
/// RECURRENCE-ID in UTC (all-day values are kept as DATE so clients still show them all-day).
fn expanded_entries(
    source: &ICalendarComponent,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    rid: Option<DateTime<Utc>>,
    kind: crate::ComponentKind,
) -> Vec<ICalendarEntry> {
    let date_only = source
        .property(&ICalendarProperty::Dtstart)
        .and_then(|e| e.values.first())
        .and_then(|v| v.as_partial_date_time())
        .is_some_and(|p| !p.has_time());
    let mut out = Vec::with_capacity(source.entries.len() + 1);
    let set = |entry: &ICalendarEntry, t: Option<DateTime<Utc>>| -> Option<ICalendarEntry> {
        let t = t?;
        let value = if date_only {
            ICalendarValue::PartialDateTime(Box::new(PartialDateTime {
                year: u16::try_from(t.year()).ok(),
                month: Some(t.month() as u8),
                day: Some(t.day() as u8),
                ..Default::default()
            }))
        } else {
            utc_value(t)
        };
        let params = entry
            .params
            .iter()
            .filter(|p| !matches!(p.name, ICalendarParameterName::Tzid | ICalendarParameterName::Range))
            .cloned()
            .collect();
        Some(ICalendarEntry { name: entry.name.clone(), params, values: vec![value] })
    };
    for entry in &source.entries {
        match entry.name {
            ICalendarProperty::Rrule
            | ICalendarProperty::Rdate
            | ICalendarProperty::Exdate
            | ICalendarProperty::RecurrenceId => {}
            ICalendarProperty::Dtstart => out.extend(set(entry, start)),
            ICalendarProperty::Dtend => out.extend(set(entry, end)),
            ICalendarProperty::Due if kind == crate::ComponentKind::Todo => out.extend(set(entry, end)),
            _ => out.push(entry.clone()),
        }
    }
    if let Some(rid) = rid {
        let proto = ICalendarEntry::new(ICalendarProperty::RecurrenceId);
        out.extend(set(&proto, Some(rid)));
    }
    out
}

/// §9.6.7: drop FREEBUSY periods that do not overlap the range.
fn limit_freebusy(node: &mut Node<'_>, range: &TimeRange) {
    if node.comp.component_type == ICalendarComponentType::VFreebusy {
        let mut entries = Vec::new();
        for entry in &node.comp.entries {
            if entry.name != ICalendarProperty::Freebusy {
                entries.push(entry.clone());
                continue;
            }
            let values: Vec<ICalendarValue> =
                entry.values.iter().filter(|v| period_overlaps(v, range)).cloned().collect();
            if !values.is_empty() {
                entries.push(ICalendarEntry { name: entry.name.clone(), params: entry.params.clone(), values });
            }
        }
        node.entries = Some(entries);
    }
    for child in &mut node.children {
        limit_freebusy(child, range);
    }
}

fn period_overlaps(value: &ICalendarValue, range: &TimeRange) -> bool {
    let utc = |p: &PartialDateTime| p.to_date_time().map(|d| d.date_time.and_utc());
    let (s, e) = match value {
        ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => (utc(start), utc(end)),
        ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
            let s = utc(start);
            (s, s.and_then(|s| duration.to_time_delta().map(|d| s + d)))
        }
        _ => return true,
    };
    let (Some(s), Some(e)) = (s, e) else { return true };
    range.start.is_none_or(|q| q < e) && range.end.is_none_or(|q| q > s)
}

/// Writes `node` applying a `CALDAV:comp` selection (§9.6.1–§9.6.4).
fn write_node(out: &mut String, node: &Node<'_>, select: Option<&CompSelect>) {
    let name = node.comp.component_type.as_str();
    let _ = write!(out, "BEGIN:{name}\r\n");
    let entries = node.entries.as_deref().unwrap_or(&node.comp.entries);
    for entry in entries {
        let chosen = match select.and_then(|s| s.props.as_ref()) {
            None => Some(false),
            Some(props) => props.iter().find(|p| p.name.eq_ignore_ascii_case(entry.name.as_str())).map(|p| p.novalue),
        };
        match chosen {
            None => {}
            Some(false) => {
                let _ = entry.write_to(out);
            }
            Some(true) => {
                // novalue="yes": the property with its parameters and an empty value.
                let empty =
                    ICalendarEntry { name: entry.name.clone(), params: entry.params.clone(), values: Vec::new() };
                let _ = empty.write_to(out);
            }
        }
    }
    for child in &node.children {
        let child_select = match select.and_then(|s| s.comps.as_ref()) {
            None => Some(None),
            Some(comps) => {
                comps.iter().find(|c| c.name.eq_ignore_ascii_case(child.comp.component_type.as_str())).map(Some)
            }
        };
        if let Some(sel) = child_select {
            write_node(out, child, sel);
        }
    }
    let _ = write!(out, "END:{name}\r\n");
}
