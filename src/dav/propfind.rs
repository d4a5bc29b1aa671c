//! PROPFIND (RFC 4918 §9.1): properties of a resource and, at depth 1, of its members.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use madang_dav::headers::Depth;
use madang_dav::multistatus::MultistatusWriter;
use madang_dav::precondition::Precondition;
use madang_dav::propfind::PropFind;

use super::props::{self, PropContext, Resource};
use super::{Ctx, DavError, DavResult, header_str, multistatus, path};
use crate::domain::{User, Username};
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, DeadProperty};

pub async fn propfind(ctx: &Ctx, target: &path::Target, headers: &HeaderMap, body: &Bytes) -> DavResult<Response> {
    // A missing Depth means infinity (RFC 4918 §10.2), which Madang does not
    // do; answering as for 1 serves the clients that omit it and want members.
    let depth = Depth::parse(header_str(headers, "depth")?, Depth::One)?;
    if depth == Depth::Infinity {
        return Err(DavError::Precondition(Precondition::PropfindFiniteDepth));
    }
    let request = super::parse_body(body, PropFind::parse).await?;
    let members = depth == Depth::One;
    let quota = if props::wants_quota(&request) { Some(quota(ctx).await?) } else { None };
    let wants_home_tag = matches!(target, path::Target::CalendarHome(_))
        && (matches!(request, PropFind::AllProp { .. } | PropFind::PropName)
            || request.names().contains(&madang_dav::names::QName::calendarserver("getctag")));
    let home_tag = if wants_home_tag {
        Some(ctx.state.store.home_tag(ctx.user.id, CollectionKind::Calendar).await?)
    } else {
        None
    };
    let pctx = PropContext {
        me: &ctx.user,
        quota,
        directory: ctx.config().directory.is_some(),
        max_resource_size: ctx.config().max_resource_size,
        home_tag,
    };
    let store = &ctx.state.store;
    let mut out = MultistatusWriter::new();
    let me = ctx.me();
    match target {
        path::Target::Root => {
            out.push(&props::respond(path::ROOT.into(), &Resource::Root, &request, &pctx, &[], None));
            if members {
                out.push(&props::respond(path::principals_href(), &Resource::Principals, &request, &pctx, &[], None));
            }
        }
        path::Target::Principals => {
            out.push(&props::respond(path::principals_href(), &Resource::Principals, &request, &pctx, &[], None));
            if members {
                let me_resource = Resource::Principal(&ctx.user);
                out.push(&props::respond(path::principal_href(me), &me_resource, &request, &pctx, &[], None));
            }
        }
        path::Target::Principal(name) => {
            let user = principal_user(ctx, name).await?;
            let resource =
                if user.id == ctx.user.id { Resource::Principal(&user) } else { Resource::OtherPrincipal(&user) };
            let href = path::principal_href(user.username.as_str());
            out.push(&props::respond(href, &resource, &request, &pctx, &[], None));
        }
        path::Target::CalendarHome(_) => {
            let home = Resource::CalendarHome(&ctx.user);
            out.push(&props::respond(path::calendar_home_href(me), &home, &request, &pctx, &[], None));
            if members {
                for (cal, _) in
                    ctx.state.collections.home(store, ctx.user.id, CollectionKind::Calendar, ctx.now).await?
                {
                    let dead = store.dead_properties(cal.id, None).await?;
                    let href = path::calendar_href(me, &cal.slug);
                    out.push(&props::respond(href, &Resource::Calendar(&cal), &request, &pctx, &dead, None));
                }
            }
        }
        path::Target::AddressbookHome(_) => {
            let home = Resource::AddressbookHome(&ctx.user);
            out.push(&props::respond(path::addressbook_home_href(me), &home, &request, &pctx, &[], None));
            if members {
                for (book, _) in
                    ctx.state.collections.home(store, ctx.user.id, CollectionKind::AddressBook, ctx.now).await?
                {
                    let dead = store.dead_properties(book.id, None).await?;
                    let href = path::addressbook_href(me, &book.slug);
                    out.push(&props::respond(href, &Resource::Calendar(&book), &request, &pctx, &dead, None));
                }
            }
        }
        path::Target::Calendar(..) | path::Target::Addressbook(..) => {
            let Some((kind, slug)) = target.collection() else { return Err(DavError::not_found()) };
            let cal = ctx.collection(kind, slug).await?;
            let dead = store.dead_properties(cal.id, None).await?;
            let href = path::collection_href(kind, me, &cal.slug);
            out.push(&props::respond(href, &Resource::Calendar(&cal), &request, &pctx, &dead, None));
            if members {
                // One more than allowed tells "too many" without reading them all.
                let metas = store.object_metas(cal.id, Some(ctx.config().max_results + 1)).await?;
                if metas.len() > ctx.config().max_results {
                    return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
                }
                let member_dead = if needs_dead(&request) { dead_by_member(ctx, &cal).await? } else { HashMap::new() };
                let names = request.names();
                let wants_data = names.contains(&props::CALENDAR_DATA) || names.contains(&props::ADDRESS_DATA);
                for meta in &metas {
                    super::take_turn().await;
                    let data = if wants_data {
                        match store.object(cal.id, &meta.name).await? {
                            Some(o) => Some(member_data(kind, o.data)?),
                            None => None,
                        }
                    } else {
                        None
                    };
                    let dead = member_dead.get(meta.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                    out.push(&props::respond(
                        path::member_href(kind, me, &cal.slug, &meta.name),
                        &Resource::Object(&cal, meta),
                        &request,
                        &pctx,
                        dead,
                        data.as_deref(),
                    ));
                    // Members × named properties can outgrow any sane body (a thousand unknown
                    // names over 50,000 members is gigabytes of "404" entries): stop at the
                    // configured size instead of building it (issue 19).
                    if out.len_bytes() > ctx.config().max_response_size {
                        return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
                    }
                }
            }
        }
        path::Target::CalendarObject(..) | path::Target::AddressObject(..) => {
            let Some((kind, slug, name)) = target.member() else { return Err(DavError::not_found()) };
            let cal = ctx.collection(kind, slug).await?;
            let object = store.object(cal.id, name).await?.ok_or_else(DavError::not_found)?;
            let dead = store.dead_properties(cal.id, Some(name)).await?;
            let meta = object.meta();
            let data = member_data(kind, object.data)?;
            out.push(&props::respond(
                path::member_href(kind, me, &cal.slug, name),
                &Resource::Object(&cal, &meta),
                &request,
                &pctx,
                &dead,
                Some(&data),
            ));
        }
    }
    Ok(multistatus(out.finish(None)))
}

/// A member's data as a PROPFIND returns it: calendar objects as stored;
/// vCards in 3.0, RFC 6352 §10.4's default, since PROPFIND cannot ask for a
/// version and macOS Contacts refuses 4.0 (rustical#265).
fn member_data(kind: CollectionKind, data: String) -> DavResult<String> {
    match kind {
        CollectionKind::Calendar => Ok(data),
        CollectionKind::AddressBook => Ok(super::card::convert(&data, Some("3.0"))?.0),
    }
}

/// (used, limit) bytes for the RFC 4331 quota properties.
pub async fn quota(ctx: &Ctx) -> DavResult<(u64, Option<u64>)> {
    let used = ctx.state.store.dav_bytes_used(ctx.user.id).await?;
    Ok((used.max(0) as u64, ctx.config().quota))
}

/// The user a principal path names; the same 404 whether the name is
/// malformed or unknown.
async fn principal_user(ctx: &Ctx, name: &str) -> DavResult<User> {
    if name.eq_ignore_ascii_case(ctx.me()) {
        return Ok(ctx.user.clone());
    }
    let username = Username::parse(name).map_err(|_| DavError::not_found())?;
    match ctx.state.store.user_by_name(&username).await {
        Ok(user) => Ok(user),
        Err(StoreError::NotFound) => Err(DavError::not_found()),
        Err(e) => Err(e.into()),
    }
}

fn needs_dead(request: &PropFind) -> bool {
    match request {
        PropFind::Prop(names) => names.iter().any(|n| {
            !(n.ns == madang_dav::names::DAV
                || n.ns == madang_dav::names::CALDAV
                || n.ns == madang_dav::names::CALENDARSERVER)
        }),
        _ => true,
    }
}

async fn dead_by_member(
    ctx: &Ctx,
    cal: &crate::store::dav::Collection,
) -> DavResult<HashMap<String, Vec<DeadProperty>>> {
    let mut map: HashMap<String, Vec<DeadProperty>> = HashMap::new();
    for (name, prop) in ctx.state.store.member_dead_properties(cal.id).await? {
        map.entry(name).or_default().push(prop);
    }
    Ok(map)
}
