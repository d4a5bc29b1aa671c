//! MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689): new calendars with their initial properties.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use madang_dav::mkcol::Mkcol;
use madang_dav::names::{CALDAV, CARDDAV, DAV, QName};
use madang_dav::precondition::Precondition;
use madang_dav::proppatch::PropertyValue;

use super::proppatch::{LiveOutcome, apply_live, apply_live_addressbook, dead, is_protected, property_size};
use super::{Ctx, DavError, DavResult, path};
use crate::collections::access::Privilege;
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, CollectionProps};

/// Components a calendar may hold (RFC 4791 §5.2.3); VFREEBUSY and
/// VAVAILABILITY are storable but no client creates calendars of them.
const KNOWN_COMPONENTS: &[&str] = &["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"];

pub async fn mkcalendar(ctx: &Ctx, target: &path::Target, body: &Bytes) -> DavResult<Response> {
    check_place(ctx, target).await?;
    let request = super::parse_body(body, Mkcol::parse_mkcalendar).await?;
    create(ctx, target, &request).await
}

pub async fn mkcol(ctx: &Ctx, target: &path::Target, body: &Bytes) -> DavResult<Response> {
    check_place(ctx, target).await?;
    let request = super::parse_body(body, Mkcol::parse_mkcol).await?;
    // RFC 5689 §3: the resourcetype says what to make. Madang's homes hold
    // calendars only; a plain collection has no place here.
    let Some(resourcetype) = request.resourcetype() else {
        return Err(if matches!(target, path::Target::Calendar(..) | path::Target::Addressbook(..)) {
            DavError::forbidden("only calendars and address books can be created here; use an extended MKCOL")
        } else {
            DavError::method_not_allowed("collections cannot be created here")
        });
    };
    if resourcetype.iter().any(|t| t.is(CARDDAV, "addressbook")) {
        return create_addressbook(ctx, target, &request).await;
    }
    if !resourcetype.iter().any(|t| t.is(CALDAV, "calendar")) {
        return Err(DavError::Precondition(Precondition::ValidResourcetype));
    }
    create(ctx, target, &request).await
}

/// Where a collection may not be made whatever the body says: inside a
/// collection the user may not add to (`bind`, RFC 3744 Appendix B), or on a
/// name a collection they reach already has (405, RFC 4918 §9.3.1), which
/// includes the directory and the birthday calendar, held by no row of theirs.
async fn check_place(ctx: &Ctx, target: &path::Target) -> DavResult<()> {
    if let Some((kind, slug, _)) = target.member()
        && let Some((collection, access)) = ctx.reach(kind, slug).await?
        && !access.grants(Privilege::Bind)
    {
        return Err(DavError::need_privileges(
            path::collection_href(kind, ctx.me(), &collection.slug),
            Privilege::Bind,
        ));
    }
    if let Some((kind, slug)) = target.collection()
        && ctx.reach(kind, slug).await?.is_some()
    {
        return Err(DavError::method_not_allowed("a collection with this name exists"));
    }
    Ok(())
}

/// Extended MKCOL of an address book (RFC 6352 §6.3.1, RFC 5689).
async fn create_addressbook(ctx: &Ctx, target: &path::Target, request: &Mkcol) -> DavResult<Response> {
    let slug = match target {
        path::Target::Addressbook(_, slug) => slug,
        path::Target::AddressObject(..) | path::Target::Calendar(..) | path::Target::CalendarObject(..) => {
            return Err(DavError::Precondition(Precondition::AddressbookCollectionLocationOk));
        }
        _ => return Err(DavError::method_not_allowed("a collection exists here already")),
    };
    if !path::valid_name(slug) {
        return Err(DavError::forbidden("unusable address book name"));
    }
    let mut props = CollectionProps::default();
    let mut dead_props = Vec::new();
    for (name, value) in &request.set {
        if name.is(DAV, "resourcetype") {
            continue;
        }
        check_size(ctx, name, value)?;
        match apply_live_addressbook(&mut props, name, Some(value)) {
            LiveOutcome::Applied => {}
            LiveOutcome::Refused(precondition, _) => return Err(DavError::Precondition(precondition)),
            LiveOutcome::NotLive if is_protected(name) => {
                return Err(DavError::Precondition(Precondition::CannotModifyProtectedProperty));
            }
            LiveOutcome::NotLive => dead_props.push(dead(name, value)),
        }
    }
    insert(ctx, CollectionKind::AddressBook, slug, &props, &dead_props).await
}

/// `dav.max_property_size` applies to initial properties as to a PROPPATCH.
fn check_size(ctx: &Ctx, name: &QName, value: &PropertyValue) -> DavResult<()> {
    let max = ctx.config().max_property_size;
    if property_size(name, value) > max {
        return Err(DavError::forbidden(&format!(
            "property {} is larger than {max} bytes (dav.max_property_size)",
            name.local
        )));
    }
    Ok(())
}

async fn insert(
    ctx: &Ctx,
    kind: CollectionKind,
    slug: &str,
    props: &CollectionProps,
    dead_props: &[crate::store::dav::DeadProperty],
) -> DavResult<Response> {
    let limits = ctx.property_limits();
    match ctx.state.store.create_collection(ctx.user.id, (kind, slug), props, dead_props, &limits, ctx.now).await {
        Ok(_) => Ok((StatusCode::CREATED, [(axum::http::header::CONTENT_LENGTH, "0")]).into_response()),
        // RFC 4918 §9.3.1: MKCOL on an existing resource is 405.
        Err(StoreError::Conflict(_)) => Err(DavError::method_not_allowed("a collection with this name exists")),
        Err(StoreError::PropertiesTooLarge) => Err(DavError::status(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("the dead properties exceed {} bytes (dav.max_properties_size)", limits.per_resource),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn create(ctx: &Ctx, target: &path::Target, request: &Mkcol) -> DavResult<Response> {
    let slug = match target {
        path::Target::Calendar(_, slug) => slug,
        path::Target::CalendarObject(..) | path::Target::Addressbook(..) | path::Target::AddressObject(..) => {
            return Err(DavError::Precondition(Precondition::CalendarCollectionLocationOk));
        }
        _ => return Err(DavError::method_not_allowed("a collection exists here already")),
    };
    if !path::valid_name(slug) {
        return Err(DavError::forbidden("unusable calendar name"));
    }
    let mut props =
        CollectionProps { components: vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()], ..Default::default() };
    let mut dead_props = Vec::new();
    for (name, value) in &request.set {
        if name.is(DAV, "resourcetype") {
            continue;
        }
        check_size(ctx, name, value)?;
        if name.is(CALDAV, "supported-calendar-component-set") {
            let comps: Vec<String> = value.comp_names().into_iter().map(|c| c.to_ascii_uppercase()).collect();
            if comps.is_empty() || comps.iter().any(|c| !KNOWN_COMPONENTS.contains(&c.as_str())) {
                return Err(DavError::Precondition(Precondition::SupportedCalendarComponent));
            }
            props.components = comps;
            continue;
        }
        match apply_live(&mut props, name, Some(value)) {
            LiveOutcome::Applied => {}
            LiveOutcome::Refused(precondition, _) => return Err(DavError::Precondition(precondition)),
            LiveOutcome::NotLive if is_protected(name) => {
                return Err(DavError::Precondition(Precondition::CannotModifyProtectedProperty));
            }
            LiveOutcome::NotLive => dead_props.push(dead(name, value)),
        }
    }
    insert(ctx, CollectionKind::Calendar, slug, &props, &dead_props).await
}
