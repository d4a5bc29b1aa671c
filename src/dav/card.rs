//! GET and PUT of address objects (RFC 6352 §5.1, §6.3.2): vCards stored as sent, served in the version asked for.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::headers::vcard_version_from_accept;
use madang_dav::precondition::Precondition;
use madang_ical::vcard::VCardVersion;

use super::object::{Conditions, etag_of, respond_with_body};
use super::{Ctx, DavError, DavResult, header_str, path};
use crate::store::StoreError;
use crate::store::dav::{CollectionKind, NewObject};

pub use crate::collections::VCARD;

pub async fn get(ctx: &Ctx, slug: &str, name: &str, headers: &HeaderMap, head: bool) -> DavResult<Response> {
    // Through the collection the user reaches, so the directory's cards are found too.
    let book = ctx.collection(CollectionKind::AddressBook, slug).await?;
    let object = ctx.state.store.object(book.id, name).await?.ok_or_else(DavError::not_found)?;
    // RFC 6352 §5.1.1 / RFC 6350 §10.1.2: the version is negotiated with
    // Accept; without one the card goes out as it was stored.
    let wanted = vcard_version_from_accept(header_str(headers, "accept")?)?;
    let (body, version) = convert(&object.data, wanted.map(|w| w.version()))?;
    let content_type = format!("text/vcard; charset=utf-8; version={}", version.as_str());
    respond_with_body(headers, &object.etag, object.modified_at, &content_type, body, head)
}

/// The card in `wanted` (`"3.0"`/`"4.0"`), or as stored when `None`; with
/// the version it ends up in.
pub fn convert(stored: &str, wanted: Option<&str>) -> DavResult<(String, VCardVersion)> {
    let card = madang_ical::vcard::parse_card(stored)
        .map_err(|e| DavError::Precondition(Precondition::ValidAddressData(e.to_string())))?;
    let target = match wanted {
        None => card.version().unwrap_or(VCardVersion::V3),
        Some(v) => {
            VCardVersion::from_name(v).ok_or(DavError::Precondition(Precondition::SupportedAddressDataConversion))?
        }
    };
    Ok((card.render(target, None), target))
}

pub async fn put(ctx: &Ctx, slug: &str, name: &str, headers: &HeaderMap, body: &[u8]) -> DavResult<Response> {
    if !path::valid_name(name) {
        return Err(DavError::forbidden("unusable resource name"));
    }
    // RFC 4918 §9.7.1: a PUT whose parent collection is missing is 409.
    let book = ctx.for_put(CollectionKind::AddressBook, slug, name).await.map_err(|e| match e {
        DavError::Status(StatusCode::NOT_FOUND, _) => {
            DavError::status(StatusCode::CONFLICT, "the address book does not exist")
        }
        other => other,
    })?;
    let conditions = Conditions::from_headers(headers)?;
    // RFC 6352 §6.3.2.1 preconditions, cheapest first.
    if let Some(content_type) = header_str(headers, "content-type")? {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        // text/x-vcard is what vCard 2.1-era exporters still send.
        if !essence.eq_ignore_ascii_case("text/vcard") && !essence.eq_ignore_ascii_case("text/x-vcard") {
            return Err(DavError::Precondition(Precondition::SupportedAddressData));
        }
    }
    if body.len() > ctx.config().max_resource_size {
        return Err(DavError::Precondition(Precondition::AddressMaxResourceSize));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| DavError::Precondition(Precondition::ValidAddressData("the body is not UTF-8".into())))?;
    let card = madang_ical::vcard::parse_card(text)
        .map_err(|e| DavError::Precondition(Precondition::ValidAddressData(e.to_string())))?;
    let etag = etag_of(text);
    let new = NewObject {
        name,
        uid: card.uid(),
        component: VCARD,
        etag: &etag,
        data: text,
        range_start: None,
        range_end: None,
        range_exact: false,
    };
    let allow = Box::new(move |current: Option<&str>| conditions.allow(current));
    match ctx.state.store.put_object(book.id, &new, allow, ctx.config().quota, ctx.now).await {
        Ok(created) => {
            let status = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
            let etag = HeaderValue::from_str(&etag)
                .map_err(|_| DavError::status(StatusCode::INTERNAL_SERVER_ERROR, "etag"))?;
            Ok((status, [(header::ETAG, etag)]).into_response())
        }
        Err(StoreError::UidConflict(other)) => {
            let href = if other.is_empty() { String::new() } else { path::card_href(ctx.me(), &book.slug, &other) };
            Err(DavError::Precondition(Precondition::AddressNoUidConflict(href)))
        }
        Err(e) => Err(e.into()),
    }
}
