//! calendar-multiget (RFC 4791 §7.9), calendar-query (§7.8) and free-busy-query (§7.10).
//!
//! calendar-query never reads a whole calendar: the store pre-filters on
//! the component type and each object's derived UTC range, and only the
//! candidates are parsed and evaluated. A candidate whose range is exact
//! (no recurrence, no floating time) and a filter that is only "this
//! component in this range" is decided from the index alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::headers::Destination;
use madang_dav::multistatus::{MultistatusWriter, Response as DavResponse};
use madang_dav::precondition::Precondition;
use madang_dav::report::{CalendarMultiget, CalendarQuery, FreeBusyQuery};
use madang_ical::CalendarObject;
use madang_ical::filter::{CompFilter, CompTest, TimeRange};

use super::{Ctx, DavError, DavResult, ExpandBudget, object_response, path};
use crate::dav::multistatus;
use crate::store::dav::StoredObject;

pub async fn multiget(ctx: &Ctx, target: &path::Target, request: CalendarMultiget) -> DavResult<Response> {
    if request.hrefs.len() > ctx.config().max_results {
        return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
    }
    if !matches!(target, path::Target::Calendar(..) | path::Target::CalendarHome(..) | path::Target::CalendarObject(..))
    {
        return Err(DavError::Precondition(Precondition::SupportedReport));
    }
    // Group the hrefs by calendar so each calendar costs one query.
    let mut by_calendar: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut out = MultistatusWriter::new();
    let mut budget = ExpandBudget::new(ctx);
    for href in &request.hrefs {
        let path = Destination::parse(href).map(|d| d.path).unwrap_or_else(|_| href.clone());
        match path::Target::parse(&path) {
            Some(path::Target::CalendarObject(owner, slug, name)) if owner.eq_ignore_ascii_case(ctx.me()) => {
                by_calendar.entry(slug).or_default().push((href.clone(), name));
            }
            _ => out.push(&DavResponse::status(href.clone(), 404)),
        }
    }
    for (slug, wanted) in by_calendar {
        let Some((cal, _)) = ctx.reach(crate::store::dav::CollectionKind::Calendar, &slug).await? else {
            for (href, _) in wanted {
                out.push(&DavResponse::status(href, 404));
            }
            continue;
        };
        let names: Vec<String> = wanted.iter().map(|(_, n)| n.clone()).collect();
        // By name, so that matching up to `max_results` hrefs is not quadratic.
        let objects: HashMap<String, StoredObject> =
            ctx.state.store.objects_named(cal.id, &names).await?.into_iter().map(|o| (o.name.clone(), o)).collect();
        let eval = ctx.eval_context(&cal, None);
        for (href, name) in wanted {
            crate::dav::take_turn().await;
            match objects.get(name.as_str()) {
                Some(object) => {
                    out.push(&object_response(ctx, &cal, object, &request.props, None, &eval, &mut budget)?)
                }
                None => out.push(&DavResponse::status(href, 404)),
            }
        }
    }
    Ok(multistatus(out.finish(None)))
}

/// The component and range the store can pre-filter on, and whether the
/// filter says nothing more than that.
struct Prefilter {
    component: Option<String>,
    range: Option<TimeRange>,
    simple: bool,
}

fn prefilter(filter: &CompFilter) -> DavResult<Prefilter> {
    if !filter.name.eq_ignore_ascii_case("VCALENDAR") {
        return Err(DavError::Precondition(Precondition::ValidFilter));
    }
    let none = Prefilter { component: None, range: None, simple: false };
    let CompTest::Defined { time_range: None, props, comps } = &filter.test else {
        return Ok(none);
    };
    let [comp] = comps.as_slice() else { return Ok(none) };
    if !props.is_empty() {
        return Ok(none);
    }
    match &comp.test {
        CompTest::Defined { time_range, props, comps } => Ok(Prefilter {
            component: Some(comp.name.to_ascii_uppercase()),
            range: *time_range,
            simple: props.is_empty() && comps.is_empty(),
        }),
        CompTest::IsNotDefined => Ok(none),
    }
}

pub async fn query(ctx: &Ctx, slug: &str, only: Option<&str>, request: CalendarQuery) -> DavResult<Response> {
    let cal = ctx.calendar(slug).await?;
    let request_tz = request_timezone(&request)?;
    let eval = ctx.eval_context(&cal, request_tz);
    let pre = prefilter(&request.filter)?;
    let store = &ctx.state.store;
    let candidates = match only {
        Some(name) => store.objects_named(cal.id, &[name.to_string()]).await?,
        None => {
            let (start, end) = match pre.range {
                Some(r) => (r.start.map(|t| t.timestamp()), r.end.map(|t| t.timestamp())),
                None => (None, None),
            };
            store.objects_overlapping(cal.id, pre.component.as_deref(), start, end).await?
        }
    };
    let decided_by_index = pre.simple && only.is_none();
    // Parses are kept only for calendar-data that must be re-rendered
    // (expand, component selection); otherwise each is dropped as soon as
    // it has been matched, so a large result never holds them all.
    let keep_parses = request.props.calendar_data.as_ref().is_some_and(|cd| cd.request != Default::default());
    let matches = evaluate(candidates, request.filter, eval, decided_by_index, keep_parses).await?;
    if matches.len() > ctx.config().max_results {
        return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
    }
    let mut out = MultistatusWriter::new();
    let mut budget = ExpandBudget::new(ctx);
    for (object, parsed) in &matches {
        crate::dav::take_turn().await;
        out.push(&object_response(ctx, &cal, object, &request.props, parsed.as_ref(), &eval, &mut budget)?);
    }
    Ok(multistatus(out.finish(None)))
}

/// Candidates per blocking task below which splitting costs more than it saves.
const MIN_CHUNK: usize = 128;

/// The candidates that match `filter`, in their order, each with its parse
/// when one was needed. Parsing and recurrence expansion are CPU work of
/// tens of milliseconds on a large calendar: they run on the blocking pool
/// (never on the async workers that serve other requests), split across the
/// cores, so one large query neither stalls the server nor waits on a
/// single core while others idle.
async fn evaluate(
    candidates: Vec<StoredObject>,
    filter: CompFilter,
    eval: madang_ical::EvalContext,
    decided_by_index: bool,
    keep_parses: bool,
) -> DavResult<Vec<(StoredObject, Option<CalendarObject>)>> {
    let filter = Arc::new(filter);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = candidates.len().div_ceil(cores).max(MIN_CHUNK);
    let mut tasks = Vec::new();
    let mut rest = candidates;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let part = std::mem::replace(&mut rest, tail);
        let filter = Arc::clone(&filter);
        tasks.push(tokio::task::spawn_blocking(move || {
            evaluate_part(part, &filter, &eval, decided_by_index, keep_parses)
        }));
    }
    let mut matches = Vec::new();
    for task in tasks {
        let part = task.await.map_err(|e| {
            tracing::error!(error = %e, "calendar-query evaluation failed");
            DavError::status(StatusCode::INTERNAL_SERVER_ERROR, "the query could not be evaluated")
        })??;
        matches.extend(part);
    }
    Ok(matches)
}

fn evaluate_part(
    part: Vec<StoredObject>,
    filter: &CompFilter,
    eval: &madang_ical::EvalContext,
    decided_by_index: bool,
    keep_parses: bool,
) -> DavResult<Vec<(StoredObject, Option<CalendarObject>)>> {
    let mut matches = Vec::new();
    for object in part {
        // A candidate with an exact range under a filter that is only
        // "this component in this range" was decided by the store's index.
        if decided_by_index && object.range_exact {
            matches.push((object, None));
            continue;
        }
        let parsed = match madang_ical::parse_object(&object.data) {
            Ok(p) => p,
            Err(e) => {
                // Stored objects were valid when written; a parser change
                // must not make a whole query fail.
                tracing::warn!(object = %object.name, error = %e, "stored object no longer parses");
                continue;
            }
        };
        if parsed.matches(filter, eval)? {
            matches.push((object, keep_parses.then_some(parsed)));
        }
    }
    Ok(matches)
}

/// `CALDAV:timezone` (RFC 4791 §9.8) or `CALDAV:timezone-id` (RFC 7809 §5.2).
fn request_timezone(request: &CalendarQuery) -> DavResult<Option<chrono_tz::Tz>> {
    if let Some(id) = &request.timezone_id {
        return madang_ical::resolve_tzid(id).map(Some).ok_or(DavError::Precondition(Precondition::ValidTimezone));
    }
    match &request.timezone {
        Some(text) => madang_ical::timezone_from_vcalendar(&text.replace("\r\n", "\n").replace('\n', "\r\n"))
            .map(Some)
            .map_err(|e| DavError::Precondition(Precondition::ValidCalendarData(e.to_string()))),
        None => Ok(None),
    }
}

pub async fn free_busy(ctx: &Ctx, slug: &str, request: FreeBusyQuery) -> DavResult<Response> {
    let cal = ctx.calendar(slug).await?;
    let (Some(start), Some(end)) = (request.time_range.start, request.time_range.end) else {
        return Err(DavError::status(StatusCode::BAD_REQUEST, "free-busy-query needs a start and an end"));
    };
    let eval = ctx.eval_context(&cal, None);
    let store = &ctx.state.store;
    let mut periods = Vec::new();
    for component in ["VEVENT", "VFREEBUSY"] {
        let candidates =
            store.objects_overlapping(cal.id, Some(component), Some(start.timestamp()), Some(end.timestamp())).await?;
        for object in candidates {
            crate::dav::take_turn().await;
            let Ok(parsed) = madang_ical::parse_object(&object.data) else { continue };
            periods.extend(parsed.busy_periods(&request.time_range, &eval)?);
            // Each object is bounded by `dav.max_instances`; the whole answer by `dav.max_results`.
            if periods.len() > ctx.config().max_results {
                return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
            }
        }
    }
    let body = madang_ical::write_freebusy(&periods, (start, end), ctx.now);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"))], body)
        .into_response())
}
