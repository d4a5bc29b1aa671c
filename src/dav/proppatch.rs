//! PROPPATCH (RFC 4918 §9.2): set and remove properties, all or nothing.
//!
//! Property values are bounded like member data: one value by
//! `dav.max_property_size` (checked here, before anything is stored), the
//! dead properties of one resource together by `dav.max_properties_size`, and
//! all of them by the owner's quota, since their bytes are counted with the
//! collection's (both checked by the store inside the write transaction).

use axum::body::Bytes;
use axum::response::Response;
use madang_dav::multistatus::{MultistatusWriter, PropValue, Propstat, Response as DavResponse};
use madang_dav::names::{APPLE_ICAL, CALDAV, CARDDAV, DAV, QName};
use madang_dav::precondition::Precondition;
use madang_dav::proppatch::{PropertyChange, PropertyUpdate, PropertyValue};

use super::{Ctx, DavError, DavResult, multistatus, path};
use crate::collections::access::Privilege;
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, CollectionProps, DeadProperty, PropertyChanges};

/// Why one property could not be changed (RFC 4918 §9.2.1).
struct Refusal {
    name: QName,
    /// 403 for a value that can never be stored, 507 when there is no room.
    status: u16,
    precondition: Option<Precondition>,
    reason: Option<String>,
}

pub async fn proppatch(ctx: &Ctx, target: &path::Target, body: &Bytes) -> DavResult<Response> {
    let update = super::parse_body(body, PropertyUpdate::parse).await?;
    let me = ctx.me();
    let (cal, object, href) = if let Some((kind, slug)) = target.collection() {
        let cal = ctx.writable(kind, slug, Privilege::WriteProperties).await?;
        let href = path::collection_href(kind, me, &cal.slug);
        (cal, None, href)
    } else if let Some((kind, slug, name)) = target.member() {
        let cal = ctx.writable(kind, slug, Privilege::WriteProperties).await?;
        ctx.state.store.object(cal.id, name).await?.ok_or_else(DavError::not_found)?;
        let href = path::member_href(kind, me, &cal.slug, name);
        (cal, Some(name), href)
    } else {
        // Homes and principals have only computed properties.
        return Ok(refuse_all(ctx, target, &update));
    };

    let max_size = ctx.config().max_property_size;
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
        if let Some(value) = value
            && property_size(name, value) > max_size
        {
            // Live or dead, a value this large is never stored: 403, not
            // 507, since no amount of freed space would make it fit.
            refused.push(Refusal {
                name: name.clone(),
                status: 403,
                precondition: None,
                reason: Some(format!("the property is larger than {max_size} bytes (dav.max_property_size)")),
            });
            continue;
        }
        let outcome = match (object, cal.kind) {
            (Some(_), _) => LiveOutcome::NotLive,
            (None, CollectionKind::Calendar) => apply_live(&mut live, name, value),
            (None, CollectionKind::AddressBook) => apply_live_addressbook(&mut live, name, value),
        };
        match outcome {
            LiveOutcome::Applied => {}
            LiveOutcome::Refused(precondition, reason) => {
                refused.push(Refusal { name: name.clone(), status: 403, precondition: Some(precondition), reason })
            }
            LiveOutcome::NotLive if is_protected(name) => refused.push(Refusal {
                name: name.clone(),
                status: 403,
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

    if refused.is_empty() {
        if object.is_none() && live != cal.props {
            changes.live = Some(live);
        }
        let limits = ctx.property_limits();
        // The dead properties being set are what takes the space; they get
        // the 507 when there is none, the rest 424 (RFC 4918 §9.2.1).
        let no_room = |precondition: Option<Precondition>, reason: Option<String>| {
            let setting = |n: &&QName| changes.set.iter().any(|p| p.namespace == n.ns && p.local_name == n.local);
            // Only a set can grow a resource, so one always matches; were
            // none to, every property gets the 507 rather than a false 200.
            let mut blamed: Vec<&QName> = names.iter().filter(setting).collect();
            if blamed.is_empty() {
                blamed = names.iter().collect();
            }
            blamed
                .into_iter()
                .map(|n| Refusal {
                    name: n.clone(),
                    status: 507,
                    precondition: precondition.clone(),
                    reason: reason.clone(),
                })
                .collect::<Vec<_>>()
        };
        match ctx.state.store.change_properties(cal.id, object, &changes, &limits, ctx.now).await {
            Ok(()) => {}
            Err(StoreError::PropertiesTooLarge) => {
                let max = limits.per_resource;
                refused = no_room(
                    None,
                    Some(format!("the resource's dead properties would exceed {max} bytes (dav.max_properties_size)")),
                );
            }
            // RFC 4331 §6: DAV:quota-not-exceeded with 507.
            Err(StoreError::QuotaExceeded) => refused = no_room(Some(Precondition::QuotaNotExceeded), None),
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = MultistatusWriter::new();
    out.push(&DavResponse::new(href, propstats(names, &refused)));
    Ok(multistatus(out.finish(None)))
}

/// 200 for every property when nothing was refused; else the refusals with
/// their reasons and 424 for everything else (RFC 4918 §9.2.1).
fn propstats(names: Vec<QName>, refused: &[Refusal]) -> Vec<Propstat> {
    if refused.is_empty() {
        return vec![Propstat::new(200, names.into_iter().map(|n| (n, PropValue::Empty)).collect())];
    }
    let mut out = Vec::new();
    for r in refused {
        let mut p = Propstat::new(r.status, vec![(r.name.clone(), PropValue::Empty)]);
        p.error = r.precondition.clone();
        p.description = r.reason.clone();
        out.push(p);
    }
    let others: Vec<_> =
        names.into_iter().filter(|n| !refused.iter().any(|r| &r.name == n)).map(|n| (n, PropValue::Empty)).collect();
    if !others.is_empty() {
        out.push(Propstat::new(424, others));
    }
    out
}

/// Bytes a property takes as stored: its names and its XML, the measure
/// `DeadProperty::size` counts too. The XML is the parser's re-serialisation,
/// which can be larger than what the client sent (`>` becomes `&gt;`), so
/// the bound holds for what is stored and served, not only for the request.
pub(super) fn property_size(name: &QName, value: &PropertyValue) -> usize {
    name.ns.len() + name.local.len() + value.xml().len()
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
