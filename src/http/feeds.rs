//! `GET /feeds/<token>.ics`: a published calendar (`collections::publish`), read-only and without
//! credentials; the token in the path is the only secret, and the request log shows the route,
//! never the path (`app::loggable_path`).
//!
//! The body is the same document as a DAV `GET` of the calendar (`collections::export`, with
//! `REFRESH-INTERVAL`), and so is the ETag, so subscribers that poll get a 304 until the
//! calendar changes. Every answer that is not the calendar is the same 404: an unknown token, a
//! revoked or replaced one, a deleted calendar, a disabled owner, the calendar module off.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use madang_dav::headers::ETagList;

use crate::app::state::AppState;
use crate::collections::export::{self, ExportError, Purpose};
use crate::collections::publish;
use crate::http::error::ApiError;
use crate::modules::Module;

/// Subscribers may keep a copy but must ask again before using it (the ETag makes that a
/// 304), so a change or a revocation reaches them at their next poll; `private` keeps the
/// secret calendar out of shared caches.
const CACHE_CONTROL: &str = "private, no-cache";

pub async fn get(
    State(state): State<AppState>,
    method: Method,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("no such feed");
    if !state.modules.is_on(Module::Calendar).await? {
        return Err(not_found());
    }
    let calendar = publish::resolve(&state.store, &file).await?.ok_or_else(not_found)?;
    let etag = export::etag(&calendar);
    let modified = export::modified(&calendar);
    let mut answer = axum::http::Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, crate::dav::props::http_date(modified))
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header("x-robots-tag", "noindex, nofollow")
        .header(header::CONTENT_TYPE, "text/calendar; charset=utf-8");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ETagList::parse(v).ok())
        .is_some_and(|list| list.matches_weak(Some(&etag)));
    if unchanged {
        answer = answer.status(StatusCode::NOT_MODIFIED);
        return Ok(answer.body(axum::body::Body::empty()).unwrap_or_default());
    }
    let document =
        export::document(&state.store, &state.collections, &calendar, Purpose::Feed).await.map_err(|e| match e {
            ExportError::TooLarge(m) => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "too_large", m),
            ExportError::Store(e) => e.into(),
        })?;
    if let Ok(disposition) =
        HeaderValue::from_str(&export::content_disposition(&calendar).replacen("attachment", "inline", 1))
    {
        answer = answer.header(header::CONTENT_DISPOSITION, disposition);
    }
    let length = document.body.len();
    let body = if method == Method::HEAD { axum::body::Body::empty() } else { axum::body::Body::from(document.body) };
    Ok(answer.header(header::CONTENT_LENGTH, length).body(body).unwrap_or_default().into_response())
}
