//! addressbook-multiget (RFC 6352 §8.7) and addressbook-query (§8.6), with address-data in the version asked for.

use std::collections::{BTreeMap, HashMap};

use axum::response::Response;
use madang_dav::headers::Destination;
use madang_dav::multistatus::{MultistatusWriter, Response as DavResponse};
use madang_dav::precondition::Precondition;
use madang_dav::report::{AddressbookMultiget, AddressbookQuery, PropRequest};
use madang_ical::vcard::{CardObject, VCardVersion};

use super::{Ctx, DavError, DavResult, path, prop_context};
use crate::dav::{multistatus, props};
use crate::store::dav::{Collection, CollectionKind, StoredObject};

/// One card's answer: the requested properties, with address-data in the
/// version and with the properties the request names (RFC 6352 §10.4).
pub fn card_response(
    ctx: &Ctx,
    book: &Collection,
    object: &StoredObject,
    request: &PropRequest,
    parsed: Option<&CardObject>,
) -> DavResult<DavResponse> {
    let wanted = request.props.names().contains(&props::ADDRESS_DATA) || request.address_data.is_some();
    let data = if wanted {
        let owned;
        let card = match parsed {
            Some(c) => c,
            None => {
                owned = madang_ical::vcard::parse_card(&object.data)
                    .map_err(|e| DavError::Precondition(Precondition::ValidAddressData(e.to_string())))?;
                &owned
            }
        };
        // RFC 6352 §10.4: without a version attribute the answer is 3.0,
        // which is also the only thing macOS Contacts accepts.
        let (version, selection) = match &request.address_data {
            Some(a) => (a.version.as_deref(), a.props.as_deref()),
            None => (None, None),
        };
        let version = match version {
            None => VCardVersion::V3,
            Some(v) => VCardVersion::from_name(v)
                .ok_or(DavError::Precondition(Precondition::SupportedAddressDataConversion))?,
        };
        Some(card.render(version, selection))
    } else {
        None
    };
    let meta = object.meta();
    Ok(props::respond(
        path::card_href(ctx.me(), &book.slug, &object.name),
        &props::Resource::Object(book, &meta),
        &request.props,
        &prop_context(ctx),
        &[],
        data.as_deref(),
    ))
}

pub async fn multiget(ctx: &Ctx, target: &path::Target, request: AddressbookMultiget) -> DavResult<Response> {
    if request.hrefs.len() > ctx.config().max_results {
        return Err(DavError::Precondition(Precondition::NumberOfMatchesWithinLimits));
    }
    if !matches!(
        target,
        path::Target::Addressbook(..) | path::Target::AddressbookHome(..) | path::Target::AddressObject(..)
    ) {
        return Err(DavError::Precondition(Precondition::SupportedReport));
    }
    let mut by_book: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut out = MultistatusWriter::new();
    for href in &request.hrefs {
        let path = Destination::parse(href).map(|d| d.path).unwrap_or_else(|_| href.clone());
        match path::Target::parse(&path) {
            Some(path::Target::AddressObject(owner, slug, name)) if owner.eq_ignore_ascii_case(ctx.me()) => {
                by_book.entry(slug).or_default().push((href.clone(), name));
            }
            _ => out.push(&DavResponse::status(href.clone(), 404)),
        }
    }
    for (slug, wanted) in by_book {
        let Some((book, _)) = ctx.reach(CollectionKind::AddressBook, &slug).await? else {
            for (href, _) in wanted {
                out.push(&DavResponse::status(href, 404));
            }
            continue;
        };
        let names: Vec<String> = wanted.iter().map(|(_, n)| n.clone()).collect();
        // By name, so that matching up to `max_results` hrefs is not quadratic.
        let objects: HashMap<String, StoredObject> =
            ctx.state.store.objects_named(book.id, &names).await?.into_iter().map(|o| (o.name.clone(), o)).collect();
        for (href, name) in wanted {
            crate::dav::take_turn().await;
            match objects.get(name.as_str()) {
                Some(object) => out.push(&card_response(ctx, &book, object, &request.props, None)?),
                None => out.push(&DavResponse::status(href, 404)),
            }
        }
    }
    Ok(multistatus(out.finish(None)))
}

pub async fn query(ctx: &Ctx, slug: &str, request: AddressbookQuery) -> DavResult<Response> {
    let book = ctx.collection(CollectionKind::AddressBook, slug).await?;
    // FIXME: every card is parsed per query (10,000 cards: about 100 ms on
    // the benchmark machine, bench/README.md); an index of e-mail addresses,
    // phones and names would let SQL pre-filter as calendars do.
    let candidates = ctx.state.store.objects_overlapping(book.id, None, None, None).await?;
    let server_limit = ctx.config().max_results;
    let limit = request.limit.map_or(server_limit, |l| (l as usize).min(server_limit));
    let mut out = MultistatusWriter::new();
    let mut matched = 0usize;
    for object in &candidates {
        crate::dav::take_turn().await;
        let Ok(card) = madang_ical::vcard::parse_card(&object.data) else {
            tracing::warn!(object = %object.name, "stored card no longer parses");
            continue;
        };
        if !card.matches(&request.filter) {
            continue;
        }
        if matched == limit {
            // RFC 6352 §8.6.1: say the answer was cut, on the request URI.
            let mut truncated = DavResponse::status(path::addressbook_href(ctx.me(), &book.slug), 507);
            truncated.error = Some(Precondition::NumberOfMatchesWithinLimits);
            out.push(&truncated);
            break;
        }
        matched += 1;
        out.push(&card_response(ctx, &book, object, &request.props, Some(&card))?);
    }
    Ok(multistatus(out.finish(None)))
}
