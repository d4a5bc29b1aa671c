//! GET and HEAD of a whole calendar or address book: the collection as one `text/calendar` or
//! `text/vcard` document (`crate::collections::export`), for clients and people that want a
//! file rather than a sync. Its ETag is the collection's sync token, so a conditional GET is
//! answered 304 without reading a member.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use madang_dav::headers::ETagList;

use super::object::respond_with_body;
use super::{Ctx, DavError, DavResult, header_str};
use crate::collections::export::{self, ExportError, Purpose};
use crate::store::dav::CollectionKind;

pub async fn get(ctx: &Ctx, kind: CollectionKind, slug: &str, headers: &HeaderMap, head: bool) -> DavResult<Response> {
    let c = ctx.collection(kind, slug).await?;
    let etag = export::etag(&c);
    let modified = export::modified(&c);
    let content_type = match kind {
        CollectionKind::Calendar => "text/calendar; charset=utf-8",
        CollectionKind::AddressBook => "text/vcard; charset=utf-8",
    };
    let unchanged = match header_str(headers, "if-none-match")? {
        Some(none_match) => ETagList::parse(none_match)?.matches_weak(Some(&etag)),
        None => false,
    };
    if unchanged {
        // RFC 9110 §13.1.2: 304, decided before a member is read.
        return respond_with_body(headers, &etag, modified, content_type, String::new(), head);
    }
    let document = export::document(&ctx.state.store, &ctx.state.collections, &c, Purpose::Download).await.map_err(
        |e| match e {
            ExportError::TooLarge(m) => DavError::status(StatusCode::INSUFFICIENT_STORAGE, m),
            ExportError::Store(e) => e.into(),
        },
    )?;
    let mut response = respond_with_body(headers, &etag, modified, document.content_type, document.body, head)?;
    if let Ok(disposition) = HeaderValue::from_str(&export::content_disposition(&c)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}
