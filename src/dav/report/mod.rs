//! REPORT (RFC 3253 §3.6): dispatch to the CalDAV, sync and principal reports.

mod calendar;
mod card;
mod principal;
mod sync;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use madang_dav::headers::Depth;
use madang_dav::multistatus::Response as DavResponse;
use madang_dav::precondition::Precondition;
use madang_dav::report::{PropRequest, Report};

use super::props::{self, PropContext, Resource};
use super::{Ctx, DavError, DavResult, path};
use crate::store::dav::{Collection, StoredObject};

pub async fn report(ctx: &Ctx, target: &path::Target, headers: &HeaderMap, body: &Bytes) -> DavResult<Response> {
    // Depth is otherwise ignored: every report here defines its own scope, and
    // Thunderbird sends `Depth: 1` on sync-collection (RFC 6578 wants 0).
    let report = super::parse_body(body, Report::parse).await?;
    if matches!(report, Report::PrincipalPropertySearch(_) | Report::PrincipalSearchPropertySet) {
        // RFC 3744 §9.4 and §9.5: only defined for Depth 0 (REPORT's default,
        // RFC 3253 §3.6); any other value is a 400.
        let depth = Depth::parse(super::header_str(headers, "depth")?, Depth::Zero)?;
        if depth != Depth::Zero {
            return Err(DavError::status(StatusCode::BAD_REQUEST, "this report is only defined for Depth: 0"));
        }
    }
    match (report, target) {
        (Report::CalendarMultiget(r), _) => calendar::multiget(ctx, target, r).await,
        (Report::CalendarQuery(r), path::Target::Calendar(_, slug)) => calendar::query(ctx, slug, None, r).await,
        (Report::CalendarQuery(r), path::Target::CalendarObject(_, slug, name)) => {
            calendar::query(ctx, slug, Some(name), r).await
        }
        (Report::FreeBusyQuery(r), path::Target::Calendar(_, slug)) => calendar::free_busy(ctx, slug, r).await,
        (Report::SyncCollection(r), path::Target::Calendar(..) | path::Target::Addressbook(..)) => {
            sync::sync_collection(ctx, target, r).await
        }
        (Report::AddressbookMultiget(r), _) => card::multiget(ctx, target, r).await,
        (Report::AddressbookQuery(r), path::Target::Addressbook(_, slug)) => card::query(ctx, slug, r).await,
        (Report::ExpandProperty(r), _) => principal::expand_property(ctx, target, r).await,
        (Report::PrincipalPropertySearch(r), _) => principal::property_search(ctx, r).await,
        (Report::PrincipalSearchPropertySet, _) => Ok(principal::search_property_set()),
        _ => Err(DavError::Precondition(Precondition::SupportedReport)),
    }
}

/// The context for the properties of objects in a report.
fn prop_context(ctx: &Ctx) -> PropContext<'_> {
    PropContext {
        me: &ctx.user,
        quota: None,
        directory: ctx.config().directory.is_some(),
        max_resource_size: ctx.config().max_resource_size,
        home_tag: None,
    }
}

/// How many expanded instances (RFC 4791 §9.6.5) one REPORT may still write. Each object's
/// expansion is bounded by `dav.max_instances`; this bounds their sum, which otherwise grows
/// with the number of objects, by `dav.max_results`, like the number of members.
struct ExpandBudget {
    left: usize,
}

impl ExpandBudget {
    fn new(ctx: &Ctx) -> ExpandBudget {
        ExpandBudget { left: ctx.config().max_results }
    }

    fn spend(&mut self, instances: usize) -> DavResult<()> {
        self.left = self
            .left
            .checked_sub(instances)
            .ok_or(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits))?;
        Ok(())
    }
}

/// One object's answer: the requested properties, with `calendar-data`
/// rendered as the request asks (RFC 4791 §9.6).
fn object_response(
    ctx: &Ctx,
    cal: &Collection,
    object: &StoredObject,
    request: &PropRequest,
    parsed: Option<&madang_ical::CalendarObject>,
    eval: &madang_ical::EvalContext,
    budget: &mut ExpandBudget,
) -> DavResult<DavResponse> {
    if cal.kind == crate::store::dav::CollectionKind::AddressBook {
        return card::card_response(ctx, cal, object, request, None);
    }
    let data = match &request.calendar_data {
        None if request.props.names().contains(&props::CALENDAR_DATA) => Some(object.data.clone()),
        None => None,
        Some(cd) if cd.request == Default::default() => Some(object.data.clone()),
        Some(cd) => {
            let owned;
            let parsed = match parsed {
                Some(p) => p,
                None => {
                    owned = madang_ical::parse_object(&object.data)?;
                    &owned
                }
            };
            let (text, expanded) = parsed.render_counted(&cd.request, eval)?;
            budget.spend(expanded)?;
            Some(text)
        }
    };
    let meta = object.meta();
    Ok(props::respond(
        path::member_href(cal.kind, ctx.me(), &cal.slug, &object.name),
        &Resource::Object(cal, &meta),
        &request.props,
        &prop_context(ctx),
        &[],
        data.as_deref(),
    ))
}
