//! GET, HEAD, PUT and DELETE of calendar objects (RFC 4791 §5.3.2, RFC 4918 §9.4–9.7), and DELETE of calendars
//! (GET of a whole collection is `export`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::headers::{ETagList, WriteConditions};
use madang_dav::precondition::Precondition;

use super::props::http_date;
use super::{Ctx, DavError, DavResult, header_str, path};
use crate::collections::access::{Access, Privilege};
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, NewObject};

/// The `If-Match` / `If-None-Match` pair of a request, checked against the
/// current ETag inside the store's write transaction.
pub struct Conditions(WriteConditions);

impl Conditions {
    pub fn from_headers(headers: &HeaderMap) -> DavResult<Conditions> {
        let parsed = WriteConditions::parse(header_str(headers, "if-match")?, header_str(headers, "if-none-match")?)?;
        Ok(Conditions(parsed))
    }

    pub fn allow(&self, current: Option<&str>) -> bool {
        self.0.allow(current)
    }
}

pub use crate::collections::etag_of;

/// Builds a GET/HEAD answer: validators, conditional requests, body.
pub fn respond_with_body(
    headers: &HeaderMap,
    etag: &str,
    modified: chrono::DateTime<chrono::Utc>,
    content_type: &str,
    body: String,
    head: bool,
) -> DavResult<Response> {
    let mut builder = axum::http::Response::builder()
        .header(header::ETAG, etag)
        .header(header::LAST_MODIFIED, http_date(modified))
        .header(header::CONTENT_TYPE, content_type);
    if let Some(none_match) = header_str(headers, "if-none-match")?
        && ETagList::parse(none_match)?.matches_weak(Some(etag))
    {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return Ok(builder.body(axum::body::Body::empty()).unwrap_or_default());
    }
    if let Some(m) = header_str(headers, "if-match")?
        && !ETagList::parse(m)?.matches_strong(Some(etag))
    {
        return Err(DavError::precondition_failed());
    }
    let length = body.len();
    let body = if head { axum::body::Body::empty() } else { axum::body::Body::from(body) };
    Ok(builder.header(header::CONTENT_LENGTH, length).body(body).unwrap_or_default())
}

pub async fn get(ctx: &Ctx, target: &path::Target, headers: &HeaderMap, head: bool) -> DavResult<Response> {
    if let path::Target::AddressObject(_, slug, name) = target {
        return super::card::get(ctx, slug, name, headers, head).await;
    }
    let path::Target::CalendarObject(_, slug, name) = target else {
        return match target.collection() {
            Some((kind, slug)) => super::export::get(ctx, kind, slug, headers, head).await,
            None => Err(DavError::method_not_allowed("nothing to GET here; use PROPFIND")),
        };
    };
    let object = ctx
        .state
        .store
        .object_at(ctx.user.id, CollectionKind::Calendar, slug, name)
        .await?
        .ok_or_else(DavError::not_found)?;
    respond_with_body(headers, &object.etag, object.modified_at, "text/calendar; charset=utf-8", object.data, head)
}

pub async fn put(
    ctx: &Ctx,
    target: &path::Target,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> DavResult<Response> {
    if let path::Target::AddressObject(_, slug, name) = target {
        return super::card::put(ctx, slug, name, headers, body).await;
    }
    let path::Target::CalendarObject(_, slug, name) = target else {
        return Err(DavError::method_not_allowed("PUT needs a calendar object URL inside a calendar"));
    };
    if !path::valid_name(name) {
        return Err(DavError::forbidden("unusable resource name"));
    }
    // RFC 4918 §9.7.1: a PUT whose parent collection is missing is 409.
    let cal = ctx.for_put(CollectionKind::Calendar, slug, name).await.map_err(|e| match e {
        DavError::Status(StatusCode::NOT_FOUND, _) => {
            DavError::status(StatusCode::CONFLICT, "the calendar does not exist")
        }
        other => other,
    })?;
    let conditions = Conditions::from_headers(headers)?;

    // RFC 4791 §5.3.2.1 preconditions, cheapest first.
    if let Some(content_type) = header_str(headers, "content-type")? {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("text/calendar") {
            return Err(DavError::Precondition(Precondition::SupportedCalendarData));
        }
    }
    if body.len() > ctx.config().max_resource_size {
        return Err(DavError::Precondition(Precondition::MaxResourceSize));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| DavError::Precondition(Precondition::ValidCalendarData("the body is not UTF-8".into())))?;
    // Up to `dav.max_resource_size` of iCalendar: a large body is parsed on the blocking pool.
    let object =
        super::parse_body(body, |b| madang_ical::parse_object(std::str::from_utf8(b).unwrap_or_default())).await?;
    let kind = object.kind().name();
    if !cal.props.components.iter().any(|c| c == kind) {
        return Err(DavError::Precondition(Precondition::SupportedCalendarComponent));
    }
    // A rule no query could expand within the limits is refused before it is stored
    // (`dav.max_instances_per_period`); the index below is bounded by the same limits.
    object.check_limits(&ctx.limits())?;
    let index = object.index(&ctx.limits());
    let etag = etag_of(text);
    let new = NewObject {
        name,
        uid: object.uid(),
        component: kind,
        etag: &etag,
        data: text,
        range_start: index.start,
        range_end: index.end,
        range_exact: index.exact,
    };
    let allow = Box::new(move |current: Option<&str>| conditions.allow(current));
    match ctx.state.store.put_object(cal.id, &new, allow, ctx.config().quota, ctx.now).await {
        Ok(created) => {
            let status = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
            let etag = HeaderValue::from_str(&etag)
                .map_err(|_| DavError::status(StatusCode::INTERNAL_SERVER_ERROR, "etag"))?;
            Ok((status, [(header::ETAG, etag)]).into_response())
        }
        Err(StoreError::UidConflict(other)) => {
            let href = if other.is_empty() { String::new() } else { path::object_href(ctx.me(), &cal.slug, &other) };
            Err(DavError::Precondition(Precondition::NoUidConflict(href)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(ctx: &Ctx, target: &path::Target, headers: &HeaderMap) -> DavResult<Response> {
    let conditions = Conditions::from_headers(headers)?;
    match target {
        path::Target::CalendarObject(..) | path::Target::AddressObject(..) => {
            let Some((kind, slug, name)) = target.member() else { return Err(DavError::not_found()) };
            let cal = ctx.writable(kind, slug, Privilege::Unbind).await?;
            let allow = Box::new(move |current: Option<&str>| conditions.allow(current));
            ctx.state.store.delete_object(cal.id, name, allow, ctx.now).await?;
        }
        path::Target::Calendar(..) | path::Target::Addressbook(..) => {
            let Some((kind, slug)) = target.collection() else { return Err(DavError::not_found()) };
            let (cal, access) = ctx.reach(kind, slug).await?.ok_or_else(DavError::not_found)?;
            // RFC 3744 Appendix B: removing a collection is `unbind` on its
            // home, which the user holds for their own collections only.
            if access != Access::Owner {
                let home = match kind {
                    CollectionKind::Calendar => path::calendar_home_href(ctx.me()),
                    CollectionKind::AddressBook => path::addressbook_home_href(ctx.me()),
                };
                return Err(DavError::need_privileges(home, Privilege::Unbind));
            }
            // A collection's ETag would be its sync token; clients that send
            // If-Match on a calendar DELETE compare against what PROPFIND gave.
            let token = format!("\"{}\"", super::props::sync_token(&cal));
            if !conditions.allow(Some(&token)) {
                return Err(DavError::precondition_failed());
            }
            ctx.state.store.delete_collection(cal.id, ctx.state.clock.now()).await?;
        }
        _ => return Err(DavError::forbidden("this resource cannot be deleted")),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
