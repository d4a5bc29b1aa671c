//! expand-property (RFC 3253 §3.8), principal-property-search and principal-search-property-set (RFC 3744 §9.4, §9.5).

use axum::http::StatusCode;
use axum::response::Response;
use madang_dav::multistatus::{MultistatusWriter, PropValue, Response as DavResponse};
use madang_dav::names::{CALDAV, CALENDARSERVER, DAV, QName};
use madang_dav::propfind::PropFind;
use madang_dav::report::{ExpandItem, ExpandProperty, PrincipalPropertySearch, SearchTest};
use madang_ical::filter::MatchType;

use super::{Ctx, DavResult, path};
use crate::dav::error::xml_response;
use crate::dav::multistatus;
use crate::dav::props::{self, PropContext, Resource};
use crate::domain::User;
use crate::store::dav::{Collection, CollectionKind};

/// Nesting bound for expand-property, so a cycle of hrefs cannot loop.
const MAX_EXPAND_DEPTH: usize = 3;

/// A resource loaded for property evaluation.
enum Loaded {
    Root,
    Principals,
    Principal(User),
    Other(User),
    CalendarHome,
    AddressbookHome,
    Calendar(Collection),
}

async fn load(ctx: &Ctx, href: &str) -> DavResult<Option<(String, Loaded)>> {
    let Some(target) = path::Target::parse(href) else { return Ok(None) };
    let mine = target.owner().is_none_or(|o| o.eq_ignore_ascii_case(ctx.me()));
    Ok(Some(match target {
        path::Target::Root => (path::ROOT.to_string(), Loaded::Root),
        path::Target::Principals => (path::principals_href(), Loaded::Principals),
        path::Target::Principal(_) if mine => (path::principal_href(ctx.me()), Loaded::Principal(ctx.user.clone())),
        path::Target::Principal(name) => {
            let Ok(username) = crate::domain::Username::parse(&name) else { return Ok(None) };
            match ctx.state.store.user_by_name(&username).await {
                Ok(user) => (path::principal_href(user.username.as_str()), Loaded::Other(user)),
                Err(_) => return Ok(None),
            }
        }
        path::Target::CalendarHome(_) if mine => (path::calendar_home_href(ctx.me()), Loaded::CalendarHome),
        path::Target::AddressbookHome(_) if mine => (path::addressbook_home_href(ctx.me()), Loaded::AddressbookHome),
        path::Target::Calendar(_, slug) if mine => match ctx.reach(CollectionKind::Calendar, &slug).await? {
            Some((c, _)) => (path::calendar_href(ctx.me(), &c.slug), Loaded::Calendar(c)),
            None => return Ok(None),
        },
        _ => return Ok(None),
    }))
}

fn resource<'a>(ctx: &'a Ctx, loaded: &'a Loaded) -> Resource<'a> {
    match loaded {
        Loaded::Root => Resource::Root,
        Loaded::Principals => Resource::Principals,
        Loaded::Principal(u) => Resource::Principal(u),
        Loaded::Other(u) => Resource::OtherPrincipal(u),
        Loaded::CalendarHome => Resource::CalendarHome(&ctx.user),
        Loaded::AddressbookHome => Resource::AddressbookHome(&ctx.user),
        Loaded::Calendar(c) => Resource::Calendar(c),
    }
}

fn prop_context(ctx: &Ctx) -> PropContext<'_> {
    PropContext {
        me: &ctx.user,
        quota: None,
        directory: ctx.config().directory.is_some(),
        max_resource_size: ctx.config().max_resource_size,
        home_tag: None,
    }
}

pub async fn expand_property(ctx: &Ctx, target: &path::Target, request: ExpandProperty) -> DavResult<Response> {
    let href = match target {
        path::Target::Principal(name) => path::principal_href(name),
        path::Target::CalendarHome(_) => path::calendar_home_href(ctx.me()),
        path::Target::Calendar(_, slug) => path::calendar_href(ctx.me(), slug),
        path::Target::Principals => path::principals_href(),
        _ => path::ROOT.to_string(),
    };
    let mut out = MultistatusWriter::new();
    match Box::pin(expand(ctx, &href, &request.items, 0)).await? {
        Some(response) => out.push(&response),
        None => out.push(&DavResponse::status(href, 404)),
    }
    Ok(multistatus(out.finish(None)))
}

/// The response for `href` with `items` evaluated; href-valued properties
/// with nested items become nested responses (RFC 3253 §3.8).
async fn expand(ctx: &Ctx, href: &str, items: &[ExpandItem], depth: usize) -> DavResult<Option<DavResponse>> {
    let Some((href, loaded)) = load(ctx, href).await? else { return Ok(None) };
    let pctx = prop_context(ctx);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for item in items {
        let value = props::live(&resource(ctx, &loaded), &item.name, &pctx);
        let value = match value {
            Some(PropValue::Href(h)) if !item.nested.is_empty() && depth < MAX_EXPAND_DEPTH => {
                expand_hrefs(ctx, &[h], &item.nested, depth).await?
            }
            Some(PropValue::Hrefs(hs)) if !item.nested.is_empty() && depth < MAX_EXPAND_DEPTH => {
                expand_hrefs(ctx, &hs, &item.nested, depth).await?
            }
            other => other,
        };
        match value {
            Some(v) => found.push((item.name.clone(), v)),
            None => missing.push(item.name.clone()),
        }
    }
    Ok(Some(DavResponse::found_and_missing(href, found, missing)))
}

async fn expand_hrefs(
    ctx: &Ctx,
    hrefs: &[String],
    nested: &[ExpandItem],
    depth: usize,
) -> DavResult<Option<PropValue>> {
    let mut responses = Vec::new();
    for h in hrefs {
        // mailto: addresses in calendar-user-address-set are not resources.
        if !h.starts_with('/') {
            continue;
        }
        match Box::pin(expand(ctx, h, nested, depth + 1)).await? {
            Some(r) => responses.push(r),
            None => responses.push(DavResponse::status(h.clone(), 404)),
        }
    }
    Ok(Some(PropValue::Responses(responses)))
}

/// Properties principal-property-search can match on.
fn searchable() -> [QName; 3] {
    [QName::dav("displayname"), QName::caldav("calendar-user-address-set"), QName::calendarserver("email-address-set")]
}

/// Most principals one search returns; a directory look-up, not an export.
const MAX_SEARCH_RESULTS: usize = 50;

pub async fn property_search(ctx: &Ctx, request: PrincipalPropertySearch) -> DavResult<Response> {
    let users = ctx.state.store.users().await?;
    let pctx = prop_context(ctx);
    let mut out = MultistatusWriter::new();
    let mut count = 0;
    for user in users.iter().filter(|u| u.state == crate::domain::UserState::Active) {
        let test = |search: &madang_dav::report::PropertySearch| {
            search.props.iter().any(|p| {
                let candidates: Vec<String> = match (p.ns.as_ref(), p.local.as_ref()) {
                    (DAV, "displayname") => vec![user.display_name.clone(), user.username.to_string()],
                    (CALDAV, "calendar-user-address-set") | (CALENDARSERVER, "email-address-set") => {
                        vec![user.email.as_str().to_string(), format!("mailto:{}", user.email.as_str())]
                    }
                    _ => Vec::new(),
                };
                candidates.iter().any(|c| text_matches(c, &search.value, search.match_type))
            })
        };
        let hit = request.searches.is_empty()
            || match request.test {
                SearchTest::AllOf => request.searches.iter().all(test),
                SearchTest::AnyOf => request.searches.iter().any(test),
            };
        if !hit {
            continue;
        }
        count += 1;
        if count > MAX_SEARCH_RESULTS {
            break;
        }
        let resource = if user.id == ctx.user.id { Resource::Principal(user) } else { Resource::OtherPrincipal(user) };
        let names = if request.props.is_empty() { vec![QName::dav("displayname")] } else { request.props.clone() };
        out.push(&props::respond(
            path::principal_href(user.username.as_str()),
            &resource,
            &PropFind::Prop(names),
            &pctx,
            &[],
            None,
        ));
    }
    Ok(multistatus(out.finish(None)))
}

/// RFC 3744 §9.4: case-insensitive, substring unless the client says otherwise.
fn text_matches(candidate: &str, value: &str, match_type: MatchType) -> bool {
    let (c, v) = (candidate.to_lowercase(), value.to_lowercase());
    match match_type {
        MatchType::Equals => c == v,
        MatchType::Contains => c.contains(&v),
        MatchType::StartsWith => c.starts_with(&v),
        MatchType::EndsWith => c.ends_with(&v),
    }
}

/// RFC 3744 §9.5: which properties principal-property-search understands.
pub fn search_property_set() -> Response {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set xmlns:D=\"DAV:\" \
         xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\">",
    );
    for (name, description) in searchable().iter().zip(["Display name", "Calendar user address", "E-mail address"]) {
        let prefix = madang_dav::names::fixed_prefix(&name.ns).unwrap_or("D");
        body.push_str(&format!(
            "<D:principal-search-property><D:prop><{prefix}:{}/></D:prop>\
             <D:description xml:lang=\"en\">{description}</D:description></D:principal-search-property>",
            name.local
        ));
    }
    body.push_str("</D:principal-search-property-set>");
    xml_response(StatusCode::OK, body)
}
