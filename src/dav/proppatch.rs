//! PROPPATCH (RFC 4918 §9.2): set and remove properties, all or nothing.

use axum::body::Bytes;
use axum::response::Response;
use madang_dav::multistatus::{MultistatusWriter, PropValue, Propstat, Response as DavResponse};
use madang_dav::names::{APPLE_ICAL, CALDAV, CARDDAV, DAV, QName};
use madang_dav::precondition::Precondition;
use madang_dav::proppatch::{PropertyChange, PropertyUpdate, PropertyValue};

use super::{Ctx, DavError, DavResult, multistatus, path};
use crate::store::dav::{CollectionKind, CollectionProps, DeadProperty, PropertyChanges};

/// Why one property could not be changed.
struct Refusal {
    name: QName,
    precondition: Option<Precondition>,
    reason: Option<String>,
}

pub async fn proppatch(ctx: &Ctx, target: &path::Target, body: &Bytes) -> DavResult<Response> {
    let update = super::parse_body(body, PropertyUpdate::parse).await?;
    let me = ctx.me();
    let (cal, object, href) = if let Some((kind, slug)) = target.collection() {
        let cal = ctx.collection(kind, slug).await?;
        let href = path::collection_href(kind, me, &cal.slug);
        (cal, None, href)
    } else if let Some((kind, slug, name)) = target.member() {
        let cal = ctx.collection(kind, slug).await?;
        ctx.state.store.object(cal.id, name).await?.ok_or_else(DavError::not_found)?;
        let href = path::member_href(kind, me, &cal.slug, name);
        (cal, Some(name), href)
    } else {
        // Homes and principals have only computed properties.
        return Ok(refuse_all(ctx, target, &update));
    };

    let mut live = cal.props.clone();
    let mut changes = PropertyChanges::default();
    let mut refused = Vec::new();
    let mut names = Vec::new();
    for change in &update.changes {
        let (name, value) = match change {
            PropertyChange::Set(name, value) => (name, Some(value)),
            PropertyChange::Remove(name) => (name, None),
        };
        if !names.contains(name) {
            names.push(name.clone());
        }
        let outcome = match (object, cal.kind) {
            (Some(_), _) => LiveOutcome::NotLive,
            (None, CollectionKind::Calendar) => apply_live(&mut live, name, value),
            (None, CollectionKind::AddressBook) => apply_live_addressbook(&mut live, name, value),
        };
        match outcome {
            LiveOutcome::Applied => {}
            LiveOutcome::Refused(precondition, reason) => {
                refused.push(Refusal { name: name.clone(), precondition: Some(precondition), reason })
            }
            LiveOutcome::NotLive if is_protected(name) => refused.push(Refusal {
                name: name.clone(),
                precondition: Some(Precondition::CannotModifyProtectedProperty),
                reason: None,
            }),
            LiveOutcome::NotLive => match value {
                Some(v) => {
                    changes.remove.retain(|(ns, local)| !(ns == &name.ns && local == &name.local));
                    changes.set.retain(|p| !(p.namespace == name.ns && p.local_name == name.local));
                    changes.set.push(dead(name, v));
                }
                None => {
                    changes.set.retain(|p| !(p.namespace == name.ns && p.local_name == name.local));
                    changes.remove.push((name.ns.to_string(), name.local.to_string()));
                }
            },
        }
    }

    let mut propstats = Vec::new();
    if refused.is_empty() {
        if object.is_none() && live != cal.props {
            changes.live = Some(live);
        }
        ctx.state.store.change_properties(cal.id, object, &changes, ctx.now).await?;
        propstats.push(Propstat::new(200, names.into_iter().map(|n| (n, PropValue::Empty)).collect()));
    } else {
        // RFC 4918 §9.2.1: the failures with their reasons, everything else 424.
        for r in &refused {
            let mut p = Propstat::new(403, vec![(r.name.clone(), PropValue::Empty)]);
            p.error = r.precondition.clone();
            p.description = r.reason.clone();
            propstats.push(p);
        }
        let others: Vec<_> = names
            .into_iter()
            .filter(|n| !refused.iter().any(|r| &r.name == n))
            .map(|n| (n, PropValue::Empty))
            .collect();
        if !others.is_empty() {
            propstats.push(Propstat::new(424, others));
        }
    }
    let mut out = MultistatusWriter::new();
    out.push(&DavResponse::new(href, propstats));
    Ok(multistatus(out.finish(None)))
}

pub(super) enum LiveOutcome {
    Applied,
    Refused(Precondition, Option<String>),
    NotLive,
}

/// Applies a change to a writable live property of a calendar (RFC 4791 §5.2,
/// Apple's colour and order), or says it is not one.
pub(super) fn apply_live(live: &mut CollectionProps, name: &QName, value: Option<&PropertyValue>) -> LiveOutcome {
    let text = || value.map(PropertyValue::text_trimmed).filter(|t| !t.is_empty());
    match (name.ns.as_ref(), name.local.as_ref()) {
        (DAV, "displayname") => live.display_name = value.map(PropertyValue::text_trimmed),
        (CALDAV, "calendar-description") => live.description = value.map(PropertyValue::text),
        (APPLE_ICAL, "calendar-color") => live.color = text(),
        (APPLE_ICAL, "calendar-order") => live.sort_order = text(),
        (CALDAV, "calendar-timezone") => match value.map(PropertyValue::text) {
            None => live.timezone = None,
            // RFC 4791 §5.2.2: a VCALENDAR holding exactly one VTIMEZONE.
            Some(tz) => match madang_ical::timezone_from_vcalendar(&tz) {
                Ok(_) => live.timezone = Some(crlf(&tz)),
                Err(e) => {
                    return LiveOutcome::Refused(Precondition::ValidCalendarData(e.to_string()), Some(e.to_string()));
                }
            },
        },
        (CALDAV, "schedule-calendar-transp") => {
            live.transparent = value.is_some_and(|v| v.child_names().iter().any(|c| c.is(CALDAV, "transparent")))
        }
        _ => return LiveOutcome::NotLive,
    }
    LiveOutcome::Applied
}

/// The writable live properties of an address book (RFC 6352 §6.2.1).
pub(super) fn apply_live_addressbook(
    live: &mut CollectionProps,
    name: &QName,
    value: Option<&PropertyValue>,
) -> LiveOutcome {
    match (name.ns.as_ref(), name.local.as_ref()) {
        (DAV, "displayname") => live.display_name = value.map(PropertyValue::text_trimmed),
        (CARDDAV, "addressbook-description") => live.description = value.map(PropertyValue::text),
        _ => return LiveOutcome::NotLive,
    }
    LiveOutcome::Applied
}

/// XML parsing turned the client's CRLFs into LFs (XML 1.0 §2.11); iCalendar wants CRLF back.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// Server-computed properties a client can never set (RFC 4918 §15, RFC 4791 §5.2, RFC 6578 §4).
pub(super) fn is_protected(name: &QName) -> bool {
    const PROTECTED: &[(&str, &str)] = &[
        (DAV, "resourcetype"),
        (DAV, "getetag"),
        (DAV, "getcontenttype"),
        (DAV, "getcontentlength"),
        (DAV, "getlastmodified"),
        (DAV, "creationdate"),
        (DAV, "lockdiscovery"),
        (DAV, "supportedlock"),
        (DAV, "sync-token"),
        (DAV, "current-user-principal"),
        (DAV, "current-user-privilege-set"),
        (DAV, "principal-collection-set"),
        (DAV, "supported-report-set"),
        (DAV, "owner"),
        (DAV, "acl"),
        (DAV, "supported-privilege-set"),
        (DAV, "acl-restrictions"),
        (DAV, "quota-used-bytes"),
        (DAV, "quota-available-bytes"),
        (CALDAV, "supported-calendar-component-set"),
        (CALDAV, "supported-calendar-data"),
        (CALDAV, "max-resource-size"),
        (CALDAV, "min-date-time"),
        (CALDAV, "max-date-time"),
        (CALDAV, "max-instances"),
        (CALDAV, "max-attendees-per-instance"),
        (CALDAV, "calendar-data"),
        (CARDDAV, "address-data"),
        (CARDDAV, "supported-address-data"),
        (CARDDAV, "max-resource-size"),
        (madang_dav::names::CALENDARSERVER, "getctag"),
    ];
    PROTECTED.iter().any(|(ns, local)| name.is(ns, local))
}

pub(super) fn dead(name: &QName, value: &PropertyValue) -> DeadProperty {
    DeadProperty { namespace: name.ns.to_string(), local_name: name.local.to_string(), xml: value.xml().to_string() }
}

/// A PROPPATCH on a resource without writable properties: every property 403.
fn refuse_all(ctx: &Ctx, target: &path::Target, update: &PropertyUpdate) -> Response {
    let me = ctx.me();
    let href = match target {
        path::Target::Root => path::ROOT.to_string(),
        path::Target::Principals => path::principals_href(),
        path::Target::Principal(_) => path::principal_href(me),
        path::Target::CalendarHome(_) => path::calendar_home_href(me),
        path::Target::AddressbookHome(_) => path::addressbook_home_href(me),
        path::Target::Calendar(_, c) => path::calendar_href(me, c),
        path::Target::CalendarObject(_, c, o) => path::object_href(me, c, o),
        path::Target::Addressbook(_, b) => path::addressbook_href(me, b),
        path::Target::AddressObject(_, b, o) => path::card_href(me, b, o),
    };
    let mut names: Vec<QName> = Vec::new();
    for change in &update.changes {
        let name = match change {
            PropertyChange::Set(n, _) | PropertyChange::Remove(n) => n,
        };
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut p = Propstat::new(403, names.into_iter().map(|n| (n, PropValue::Empty)).collect());
    p.error = Some(Precondition::CannotModifyProtectedProperty);
    let mut out = MultistatusWriter::new();
    out.push(&DavResponse::new(href, vec![p]));
    multistatus(out.finish(None))
}
