//! The JSON API for calendars and contacts (`/api/v1/calendars`, `/api/v1/addressbooks`), and its OpenAPI spec.
//!
//! These handlers are a second door into the same collections CalDAV and CardDAV serve: every
//! write goes through the store's conditional `put_object` / `delete_object` /
//! `change_properties`, which bump the collection's revision and change log, so a change made
//! here shows up in a native client's next sync-collection or getctag poll. Nothing is cached
//! on this side.
//!
//! Module map: `calendars`, `events` and `contacts` hold the axum handlers (parse → apply →
//! answer); `write` is their one write path (conditions, merge, compare-and-set, 412/409);
//! `contact_model` and `event_model` are the pure JSON ⇄ vCard / iCalendar conversions;
//! `series` edits one occurrence of a recurring item (override, EXDATE, split, UNTIL); `ics` keeps iCalendar text as lossless content lines for edits, imports and
//! exports; `openapi` derives the spec from the
//! handlers' annotations. [`ROUTES`] lists every route of `/api/v1` in one place; a test checks
//! it against the router and the spec.

pub mod calendars;
pub mod chat;
pub mod contact_model;
pub mod contacts;
pub mod event_model;
pub mod events;
pub use crate::collections::ics;
pub mod mail;
pub mod openapi;
pub mod publication;
pub mod push;
pub mod series;
pub mod subscriptions;
pub(crate) mod write;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::state::AppState;
use crate::domain::{InvalidInput, User};
use crate::http::error::ApiError;
use crate::store::dav::{Collection, CollectionKind};

/// Every route of `/api/v1` as (method, path template). The router below, the OpenAPI spec
/// and this list must agree; `tests/api_openapi.rs` checks that.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/push"),
    ("GET", "/api/v1/me/app-passwords"),
    ("POST", "/api/v1/me/app-passwords"),
    ("DELETE", "/api/v1/me/app-passwords/{id}"),
    ("GET", "/api/v1/admin/users"),
    ("GET", "/api/v1/admin/users/{name}"),
    ("PATCH", "/api/v1/admin/users/{name}"),
    ("POST", "/api/v1/admin/users/{name}/approve"),
    ("POST", "/api/v1/admin/users/{name}/reject"),
    ("POST", "/api/v1/admin/users/{name}/disable"),
    ("POST", "/api/v1/admin/users/{name}/enable"),
    ("POST", "/api/v1/admin/users/{name}/reset-link"),
    ("GET", "/api/v1/admin/groups"),
    ("POST", "/api/v1/admin/groups"),
    ("GET", "/api/v1/admin/groups/{name}"),
    ("DELETE", "/api/v1/admin/groups/{name}"),
    ("PUT", "/api/v1/admin/groups/{name}/members/{user}"),
    ("DELETE", "/api/v1/admin/groups/{name}/members/{user}"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/modules"),
    ("PUT", "/api/v1/admin/modules"),
    ("GET", "/api/v1/admin/oauth-clients"),
    ("POST", "/api/v1/admin/oauth-clients"),
    ("GET", "/api/v1/admin/oauth-clients/{client_id}"),
    ("PATCH", "/api/v1/admin/oauth-clients/{client_id}"),
    ("DELETE", "/api/v1/admin/oauth-clients/{client_id}"),
    ("POST", "/api/v1/admin/oauth-clients/{client_id}/rotate-secret"),
    ("GET", "/api/v1/calendars"),
    ("POST", "/api/v1/calendars"),
    ("GET", "/api/v1/calendars/{id}"),
    ("PATCH", "/api/v1/calendars/{id}"),
    ("DELETE", "/api/v1/calendars/{id}"),
    ("GET", "/api/v1/calendars/{id}/publication"),
    ("POST", "/api/v1/calendars/{id}/publication"),
    ("DELETE", "/api/v1/calendars/{id}/publication"),
    ("GET", "/api/v1/subscriptions"),
    ("POST", "/api/v1/subscriptions"),
    ("GET", "/api/v1/subscriptions/{id}"),
    ("DELETE", "/api/v1/subscriptions/{id}"),
    ("POST", "/api/v1/subscriptions/{id}/refresh"),
    ("GET", "/api/v1/calendars/{id}/events"),
    ("POST", "/api/v1/calendars/{id}/events"),
    ("GET", "/api/v1/calendars/{id}/events/{uid}"),
    ("PUT", "/api/v1/calendars/{id}/events/{uid}"),
    ("DELETE", "/api/v1/calendars/{id}/events/{uid}"),
    ("PUT", "/api/v1/calendars/{id}/events/{uid}/occurrences/{recurrence_id}"),
    ("DELETE", "/api/v1/calendars/{id}/events/{uid}/occurrences/{recurrence_id}"),
    ("GET", "/api/v1/calendars/{id}/instances"),
    ("POST", "/api/v1/calendars/{id}/import"),
    ("GET", "/api/v1/calendars/{id}/export"),
    ("GET", "/api/v1/addressbooks"),
    ("GET", "/api/v1/addressbooks/{id}/contacts"),
    ("POST", "/api/v1/addressbooks/{id}/contacts"),
    ("GET", "/api/v1/addressbooks/{id}/contacts/{uid}"),
    ("PUT", "/api/v1/addressbooks/{id}/contacts/{uid}"),
    ("DELETE", "/api/v1/addressbooks/{id}/contacts/{uid}"),
    ("PUT", "/api/v1/addressbooks/{id}/groups/{group_uid}/members/{uid}"),
    ("DELETE", "/api/v1/addressbooks/{id}/groups/{group_uid}/members/{uid}"),
    ("POST", "/api/v1/addressbooks/{id}/import"),
    ("GET", "/api/v1/addressbooks/{id}/export"),
    ("GET", "/api/v1/chat/channels"),
    ("POST", "/api/v1/chat/channels"),
    ("GET", "/api/v1/chat/channels/browse"),
    ("GET", "/api/v1/chat/channels/{id}"),
    ("PATCH", "/api/v1/chat/channels/{id}"),
    ("GET", "/api/v1/chat/channels/{id}/members"),
    ("PUT", "/api/v1/chat/channels/{id}/members/{user}"),
    ("DELETE", "/api/v1/chat/channels/{id}/members/{user}"),
    ("POST", "/api/v1/chat/dms"),
    ("GET", "/api/v1/chat/channels/{id}/messages"),
    ("POST", "/api/v1/chat/channels/{id}/messages"),
    ("GET", "/api/v1/chat/channels/{id}/pins"),
    ("POST", "/api/v1/chat/channels/{id}/read"),
    ("GET", "/api/v1/chat/messages/{id}"),
    ("PATCH", "/api/v1/chat/messages/{id}"),
    ("DELETE", "/api/v1/chat/messages/{id}"),
    ("GET", "/api/v1/chat/messages/{id}/history"),
    ("PUT", "/api/v1/chat/messages/{id}/reactions/{emoji}"),
    ("DELETE", "/api/v1/chat/messages/{id}/reactions/{emoji}"),
    ("PUT", "/api/v1/chat/messages/{id}/pin"),
    ("DELETE", "/api/v1/chat/messages/{id}/pin"),
    ("GET", "/api/v1/chat/messages/{id}/thread"),
    ("PUT", "/api/v1/chat/messages/{id}/follow"),
    ("DELETE", "/api/v1/chat/messages/{id}/follow"),
    ("POST", "/api/v1/chat/messages/{id}/read"),
    ("GET", "/api/v1/chat/threads"),
    ("POST", "/api/v1/chat/preview"),
    ("GET", "/api/v1/chat/search"),
    ("POST", "/api/v1/chat/channels/{id}/typing"),
    ("GET", "/api/v1/chat/presence"),
    ("PUT", "/api/v1/chat/presence"),
    ("GET", "/api/v1/chat/users"),
    ("POST", "/api/v1/chat/channels/{id}/files"),
    ("GET", "/api/v1/chat/files/{id}"),
    ("GET", "/api/v1/chat/files/{id}/thumbnail"),
    ("GET", "/api/v1/chat/channels/{id}/webhooks"),
    ("POST", "/api/v1/chat/channels/{id}/webhooks"),
    ("DELETE", "/api/v1/chat/webhooks/{id}"),
    ("GET", "/api/v1/chat/channels/{id}/bots"),
    ("PUT", "/api/v1/chat/channels/{id}/bots/{name}"),
    ("DELETE", "/api/v1/chat/channels/{id}/bots/{name}"),
    ("GET", "/api/v1/admin/bots"),
    ("POST", "/api/v1/admin/bots"),
    ("DELETE", "/api/v1/admin/bots/{name}"),
    ("GET", "/api/v1/mail/accounts"),
    ("POST", "/api/v1/mail/accounts"),
    ("POST", "/api/v1/mail/accounts/test"),
    ("GET", "/api/v1/mail/accounts/{id}"),
    ("PUT", "/api/v1/mail/accounts/{id}"),
    ("DELETE", "/api/v1/mail/accounts/{id}"),
    ("POST", "/api/v1/mail/accounts/{id}/test"),
    ("PUT", "/api/v1/mail/accounts/{id}/default"),
    ("GET", "/api/v1/mail/providers"),
    ("GET", "/api/v1/mail/oauth/providers"),
    ("POST", "/api/v1/mail/oauth/start"),
    ("GET", "/api/v1/mail/accounts/{id}/folders"),
    ("POST", "/api/v1/mail/accounts/{id}/folders"),
    ("PATCH", "/api/v1/mail/folders/{id}"),
    ("DELETE", "/api/v1/mail/folders/{id}"),
    ("POST", "/api/v1/mail/accounts/{id}/sync"),
    ("POST", "/api/v1/mail/accounts/{id}/send"),
    ("POST", "/api/v1/mail/accounts/{id}/drafts"),
    ("GET", "/api/v1/mail/messages"),
    ("GET", "/api/v1/mail/messages/{id}"),
    ("PATCH", "/api/v1/mail/messages/{id}"),
    ("DELETE", "/api/v1/mail/messages/{id}"),
    ("POST", "/api/v1/mail/messages/{id}/move"),
    ("POST", "/api/v1/mail/messages/{id}/copy"),
    ("GET", "/api/v1/mail/messages/{id}/parts/{part}"),
    ("GET", "/api/v1/mail/image"),
    ("GET", "/api/v1/mail/image-senders"),
    ("POST", "/api/v1/mail/image-senders"),
    ("DELETE", "/api/v1/mail/image-senders/{address}"),
    ("GET", "/api/v1/mail/accounts/{id}/threads/{thread}"),
];

/// The calendar and contact routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::spec))
        .route("/push", get(push::stream))
        .route("/calendars", get(calendars::list).post(calendars::create))
        .route("/calendars/{id}", get(calendars::show).patch(calendars::update).delete(calendars::remove))
        .route("/calendars/{id}/events", get(events::list).post(events::create))
        .route("/calendars/{id}/events/{uid}", get(events::show).put(events::replace).delete(events::remove))
        .route(
            "/calendars/{id}/events/{uid}/occurrences/{recurrence_id}",
            axum::routing::put(events::edit_occurrence).delete(events::remove_occurrence),
        )
        .route("/calendars/{id}/instances", get(events::instances))
        .route("/calendars/{id}/import", axum::routing::post(events::import))
        .route("/calendars/{id}/export", get(events::export))
        .route(
            "/calendars/{id}/publication",
            get(publication::show).post(publication::publish).delete(publication::revoke),
        )
        .route("/subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route("/subscriptions/{id}", get(subscriptions::show).delete(subscriptions::remove))
        .route("/subscriptions/{id}/refresh", axum::routing::post(subscriptions::refresh))
        .route("/addressbooks", get(contacts::list_books))
        .route("/addressbooks/{id}/contacts", get(contacts::search).post(contacts::create))
        .route("/addressbooks/{id}/contacts/{uid}", get(contacts::show).put(contacts::replace).delete(contacts::remove))
        .route(
            "/addressbooks/{id}/groups/{group_uid}/members/{uid}",
            axum::routing::put(contacts::add_group_member).delete(contacts::remove_group_member),
        )
        .route("/addressbooks/{id}/import", axum::routing::post(contacts::import))
        .route("/addressbooks/{id}/export", get(contacts::export))
        .nest("/chat", chat::routes())
        .nest("/mail", mail::routes())
        .merge(chat::files::routes())
}

/// 422: the request was understood but its content is not acceptable.
pub(crate) fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        invalid(e)
    }
}

/// A stored member as the JSON API shows it, with its version.
pub(crate) trait Versioned: serde::Serialize {
    fn etag(&self) -> &str;
}

/// A JSON answer carrying the item's version in the `ETag` header too.
pub(crate) fn with_etag<T: Versioned>(status: StatusCode, body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let etag = axum::http::HeaderValue::from_str(body.etag()).ok();
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(axum::http::header::ETAG, etag);
    }
    response
}

/// 415 unless the request's `Content-Type` (without parameters) is one of `accepted`.
pub(crate) fn require_media_type(
    headers: &axum::http::HeaderMap,
    accepted: &[&str],
    hint: &str,
) -> Result<(), ApiError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if accepted.iter().any(|a| essence.eq_ignore_ascii_case(a)) {
        return Ok(());
    }
    Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", hint.to_string()))
}

/// A file download: `content_type`, saved as `filename`.
/// A whole collection as one document (the same one DAV's GET and a published feed serve),
/// or 507 past the export limits.
pub(crate) async fn export_document(
    state: &AppState,
    c: &crate::store::dav::Collection,
) -> Result<String, crate::http::error::ApiError> {
    use crate::collections::export::{ExportError, Purpose, document};
    match document(&state.store, &state.collections, c, Purpose::Download).await {
        Ok(d) => Ok(d.body),
        Err(ExportError::TooLarge(m)) => {
            Err(crate::http::error::ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "too_large", m))
        }
        Err(ExportError::Store(e)) => Err(e.into()),
    }
}

pub(crate) fn attachment(content_type: &'static str, filename: &str, body: String) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let disposition = format!("attachment; filename=\"{filename}\"");
    let disposition = HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment"));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type)), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response()
}

/// Creates the user's default collections on first use, exactly as the DAV layer does (it is
/// the same code, `collections::Collections::provision`), so a user who starts with the JSON API gets the same home and a
/// JSON-made collection named like a default cannot block DAV provisioning later.
pub(crate) async fn provision(state: &AppState, user: &User) -> Result<(), ApiError> {
    Ok(state.collections.provision(&state.store, user.id, state.clock.now()).await?)
}

/// The collection of `kind` the user reaches as `id`, or 404 (also for another user's: what a
/// user reaches is `Collections::reach`, their own and Madang's derived ones, the directory
/// and their birthday calendar, exactly as over DAV).
pub(crate) async fn own_collection(
    state: &AppState,
    user: &User,
    kind: CollectionKind,
    id: &str,
) -> Result<Collection, ApiError> {
    provision(state, user).await?;
    let what = match kind {
        CollectionKind::Calendar => "no such calendar",
        CollectionKind::AddressBook => "no such address book",
    };
    let reached = state.collections.reach(&state.store, user.id, kind, id, state.clock.now()).await?;
    reached.map(|(c, _)| c).ok_or_else(|| ApiError::not_found(what))
}

/// The user's collection of `kind` named `id` when they may change it: 403 `read_only` for
/// one they may only read (a birthday calendar), by the same `Access` the DAV door uses.
pub(crate) async fn writable_collection(
    state: &AppState,
    user: &User,
    kind: CollectionKind,
    id: &str,
) -> Result<Collection, ApiError> {
    let collection = own_collection(state, user, kind, id).await?;
    write::check_writable(&collection)?;
    Ok(collection)
}

/// `<uid>.<extension>` when the UID is safe in a URL as is, else a hash of it (UIDs such as
/// `urn:uuid:…` or ones with spaces or slashes), so names never collide and never need
/// escaping. CalDAV/CardDAV clients choose their own names; this is for JSON-made objects.
pub(crate) fn resource_name(extension: &str, uid: &str) -> String {
    use sha2::{Digest, Sha256};
    let safe = uid.len() <= 100
        && !uid.starts_with('.')
        && uid.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if safe {
        format!("{uid}.{extension}")
    } else {
        let digest = Sha256::digest(uid.as_bytes());
        format!("{}.{extension}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// A client-supplied UID: 1 to 255 characters, no control characters.
pub(crate) fn parse_uid(uid: &str) -> Result<String, ApiError> {
    let uid = uid.trim();
    if uid.is_empty() || uid.len() > 255 || uid.chars().any(char::is_control) {
        return Err(invalid("uid: 1 to 255 characters, no control characters"));
    }
    Ok(uid.to_string())
}

/// A random (version 4) UUID for objects created without a UID.
pub(crate) fn new_uid(now: chrono::DateTime<chrono::Utc>) -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // Unique enough without randomness: the time, to the nanosecond.
        b[..8].copy_from_slice(&now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Opaque pagination cursors (keyset, not offsets: items added or removed
/// between two pages neither repeat nor vanish). The client passes back what
/// it was given; the content is base64url JSON of the last item's sort key.
pub(crate) mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::http::error::ApiError;

    pub fn encode<K: Serialize>(key: &K) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
    }

    pub fn decode<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
        let Some(cursor) = cursor.filter(|c| !c.is_empty()) else { return Ok(None) };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .map(Some)
            .ok_or_else(|| super::invalid("cursor: not one this server handed out"))
    }
}
