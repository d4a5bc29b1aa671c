//! COPY and MOVE of calendar objects and vCards between the user's collections of the same kind (RFC 4918 §9.8, §9.9; RFC 4791 §5.3.2; RFC 6352 §6.3.2).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::headers::{Destination, parse_overwrite};
use madang_dav::precondition::Precondition;

use super::object::etag_of;
use super::{Ctx, DavError, DavResult, header_str, path};
use crate::collections::access::Privilege;
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, NewObject};

pub async fn copy_or_move(ctx: &Ctx, target: &path::Target, headers: &HeaderMap, is_move: bool) -> DavResult<Response> {
    let Some((kind, from_slug, from_name)) = target.member() else {
        return Err(DavError::forbidden("only calendar objects and contacts can be copied or moved"));
    };
    let location_ok = match kind {
        CollectionKind::Calendar => Precondition::CalendarCollectionLocationOk,
        CollectionKind::AddressBook => Precondition::AddressbookCollectionLocationOk,
    };
    let destination = header_str(headers, "destination")?
        .ok_or_else(|| DavError::status(StatusCode::BAD_REQUEST, "Destination header missing"))?;
    let destination = Destination::parse(destination)?;
    if let (Some(authority), Some(host)) = (&destination.authority, header_str(headers, "host")?)
        && !authority.eq_ignore_ascii_case(host)
    {
        // RFC 4918 §9.8.5: another server.
        return Err(DavError::status(StatusCode::BAD_GATEWAY, "the destination is on another server"));
    }
    let overwrite = parse_overwrite(header_str(headers, "overwrite")?)?;
    let Some(dest) = path::Target::parse(&destination.path) else {
        return Err(DavError::Precondition(location_ok));
    };
    let (owner, to_slug, to_name) = match (&dest, dest.member()) {
        (path::Target::CalendarObject(owner, ..) | path::Target::AddressObject(owner, ..), Some((k, slug, name)))
            if k == kind =>
        {
            (owner.clone(), slug.to_string(), name.to_string())
        }
        _ => return Err(DavError::Precondition(location_ok)),
    };
    if !owner.eq_ignore_ascii_case(ctx.me()) {
        return Err(DavError::forbidden("the destination belongs to another user"));
    }
    if !path::valid_name(&to_name) {
        return Err(DavError::forbidden("unusable resource name"));
    }
    if from_slug == to_slug && from_name == to_name {
        return Err(DavError::forbidden("source and destination are the same"));
    }
    let store = &ctx.state.store;
    // RFC 3744 Appendix B: MOVE unbinds from the source, both bind into the destination.
    let from = if is_move {
        ctx.writable(kind, from_slug, Privilege::Unbind).await?
    } else {
        ctx.collection(kind, from_slug).await?
    };
    let to = ctx.writable(kind, &to_slug, Privilege::Bind).await?;
    let source = store.object(from.id, from_name).await?.ok_or_else(DavError::not_found)?;
    let index = match kind {
        CollectionKind::Calendar => {
            if !to.props.components.contains(&source.component) {
                return Err(DavError::Precondition(Precondition::SupportedCalendarComponent));
            }
            madang_ical::parse_object(&source.data)?.index(&ctx.limits())
        }
        CollectionKind::AddressBook => madang_ical::Index { start: None, end: None, exact: false },
    };
    let etag = etag_of(&source.data);
    let new = NewObject {
        name: &to_name,
        uid: &source.uid,
        component: &source.component,
        etag: &etag,
        data: &source.data,
        range_start: index.start,
        range_end: index.end,
        range_exact: index.exact,
    };
    let allow = |current: Option<&str>| overwrite || current.is_none();
    if from.id == to.id && !is_move {
        // A copy into the same collection would hold the UID twice (RFC 4791 §4.1, RFC 6352 §5.1).
        let holder = path::member_href(kind, ctx.me(), &from.slug, from_name);
        return Err(DavError::Precondition(uid_conflict(kind, holder)));
    }
    let quota = ctx.config().quota;
    let created = if is_move {
        // One transaction: the source is gone and the destination written,
        // or neither (RFC 4918 §9.9).
        store.move_object((from.id, from_name), to.id, &new, &allow, quota, ctx.now).await
    } else {
        store.copy_object((from.id, from_name), to.id, &new, &allow, quota, ctx.now).await
    }
    .map_err(|e| write_error(ctx, kind, &to.slug, e))?;
    Ok(done(created, &etag))
}

fn done(created: bool, etag: &str) -> Response {
    let status = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    match HeaderValue::from_str(etag) {
        Ok(etag) => (status, [(header::ETAG, etag)]).into_response(),
        Err(_) => status.into_response(),
    }
}

fn write_error(ctx: &Ctx, kind: CollectionKind, slug: &str, e: StoreError) -> DavError {
    match e {
        StoreError::UidConflict(other) => {
            DavError::Precondition(uid_conflict(kind, path::member_href(kind, ctx.me(), slug, &other)))
        }
        other => other.into(),
    }
}

fn uid_conflict(kind: CollectionKind, href: String) -> Precondition {
    match kind {
        CollectionKind::Calendar => Precondition::NoUidConflict(href),
        CollectionKind::AddressBook => Precondition::AddressNoUidConflict(href),
    }
}
