//! Evaluation of a calendar-query filter (RFC 4791 §9.7) against one object.
//!
//! A comp-filter matches when *some* component of that name satisfies all its tests (§9.7.1).
//! A time-range on a VEVENT/VTODO/VJOURNAL is tested against the instances that component is
//! responsible for: a master answers for the instances no override replaced, an override for
//! its own (and, with RANGE=THISANDFUTURE, the later ones). VALARM time-ranges test the
//! alarm's trigger times per instance of the enclosing component.

use calcard::icalendar::{ICalendarComponent, ICalendarComponentType, ICalendarValue};

use crate::filter::{CompFilter, CompTest, ParamFilter, ParamTest, PropFilter, PropTest, TimeRange};
use crate::instances::{Instance, Window, for_each_instance};
use crate::text::{entry_text, param_text, text_matches};
use crate::timerange::{alarm_fires_in, alarm_reach, instance_overlaps};
use crate::{CalendarObject, EvalContext, ExpandError};

impl CalendarObject {
    /// Full calendar-query filter evaluation (RFC 4791 §9.7, time ranges per §9.9). The filter's
    /// root must be `VCALENDAR`. Never re-parses: works on the prepared view.
    pub fn matches(&self, filter: &CompFilter, ctx: &EvalContext) -> Result<bool, ExpandError> {
        let root = &self.ical.components[0];
        if !filter.name.eq_ignore_ascii_case("VCALENDAR") {
            return Ok(false);
        }
        match &filter.test {
            CompTest::IsNotDefined => Ok(false),
            CompTest::Defined { time_range, props, comps } => {
                // A time-range directly on VCALENDAR is meaningless (§9.9 lists no rule); ignore it.
                let _ = time_range;
                if !props.iter().all(|p| prop_matches(root, p, ctx)) {
                    return Ok(false);
                }
                for c in comps {
                    if !self.comp_matches(0, c, ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// Does some child of component `parent` satisfy `filter`?
    fn comp_matches(&self, parent: usize, filter: &CompFilter, ctx: &EvalContext) -> Result<bool, ExpandError> {
        let children: Vec<usize> = self.ical.components[parent]
            .component_ids
            .iter()
            .map(|id| *id as usize)
            .filter(|id| {
                self.ical
                    .components
                    .get(*id)
                    .is_some_and(|c| c.component_type.as_str().eq_ignore_ascii_case(&filter.name))
            })
            .collect();
        let CompTest::Defined { time_range, props, comps } = &filter.test else {
            return Ok(children.is_empty());
        };
        for child in children {
            let comp = &self.ical.components[child];
            if !props.iter().all(|p| prop_matches(comp, p, ctx)) {
                continue;
            }
            if let Some(range) = time_range
                && !self.component_in_range(parent, child, range, ctx)?
            {
                continue;
            }
            let mut all = true;
            for c in comps {
                if !self.comp_matches(child, c, ctx)? {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The §9.9 test for component `child` (a main component or a VALARM inside one).
    fn component_in_range(
        &self,
        parent: usize,
        child: usize,
        range: &TimeRange,
        ctx: &EvalContext,
    ) -> Result<bool, ExpandError> {
        let comp_type = &self.ical.components[child].component_type;
        if *comp_type == ICalendarComponentType::VAlarm {
            let Some(owner) = self.comps.iter().position(|c| c.idx == parent) else { return Ok(false) };
            let Some((_, alarm)) = self.comps[owner].alarms.iter().find(|(i, _)| *i == child) else {
                return Ok(false);
            };
            let window = Window { lo: range.start, hi: range.end, slack: alarm_reach(&self.comps[owner]) };
            return for_each_instance(self, window, ctx, &mut |inst: &Instance| {
                inst.comp == owner && alarm_fires_in(alarm, inst, range)
            });
        }
        let Some(own) = self.comps.iter().position(|c| c.idx == child) else {
            // VTIMEZONE and friends have no time-range semantics (§9.9).
            return Ok(false);
        };
        let comp = &self.comps[own];
        if comp.kind == crate::ComponentKind::FreeBusy {
            let whole = Instance { comp: own, start: None, end: None, rid: None };
            return Ok(instance_overlaps(comp, &whole, range, ctx));
        }
        let window = Window { lo: range.start, hi: range.end, slack: chrono::TimeDelta::zero() };
        for_each_instance(self, window, ctx, &mut |inst: &Instance| {
            inst.comp == own && instance_overlaps(comp, inst, range, ctx)
        })
    }
}

/// `CALDAV:prop-filter` (§9.7.2): some property of that name passes every test.
fn prop_matches(comp: &ICalendarComponent, filter: &PropFilter, ctx: &EvalContext) -> bool {
    let mut entries = comp.entries.iter().filter(|e| e.name.as_str().eq_ignore_ascii_case(&filter.name));
    let PropTest::Defined { time_range, text_match, params } = &filter.test else {
        return entries.next().is_none();
    };
    entries.any(|entry| {
        if let Some(range) = time_range {
            // A date-time property overlaps when (start <= value AND end > value) (§9.9).
            let hit = entry.values.iter().any(|v| match v {
                ICalendarValue::PartialDateTime(p) => p.to_date_time().is_some_and(|d| {
                    let t = d
                        .to_date_time_with_tz(calcard::common::timezone::Tz::Tz(ctx.floating_tz))
                        .map(|t| t.with_timezone(&chrono::Utc));
                    t.is_some_and(|t| range.start.is_none_or(|s| s <= t) && range.end.is_none_or(|e| e > t))
                }),
                _ => false,
            });
            if !hit {
                return false;
            }
        }
        if let Some(tm) = text_match
            && !text_matches(tm, &entry_text(entry))
        {
            return false;
        }
        params.iter().all(|p| param_matches(entry, p))
    })
}

/// `CALDAV:param-filter` (§9.7.3).
fn param_matches(entry: &calcard::icalendar::ICalendarEntry, filter: &ParamFilter) -> bool {
    let mut params = entry.params.iter().filter(|p| p.name.as_str().eq_ignore_ascii_case(&filter.name));
    match &filter.test {
        ParamTest::IsNotDefined => params.next().is_none(),
        ParamTest::Defined { text_match: None } => params.next().is_some(),
        ParamTest::Defined { text_match: Some(tm) } => params.any(|p| text_matches(tm, &param_text(p))),
    }
}
