//! `/api/v1/chat`: team chat's JSON API (docs/chat.md is the contract). Handlers only
//! translate: parse the request, call `chat::ChatService`, answer; permissions, limits and the
//! push events live below.
//!
//! Files: `channels` (channels, members, DMs), `messages` (history, send, edit, delete,
//! reactions, pins, preview), `threads` (threads, follows, thread read state, followed threads),
//! `read` (channel read state). Others plug in here: files, search, presence, webhooks.

pub mod channels;
pub mod messages;
pub mod read;
pub mod threads;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::app::state::AppState;
use crate::chat::ChatError;
use crate::http::error::ApiError;

/// The chat routes, relative to `/api/v1/chat`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/browse", get(channels::browse))
        .route("/channels/{id}", get(channels::show).patch(channels::update))
        .route("/channels/{id}/members", get(channels::members))
        .route("/channels/{id}/members/{user}", put(channels::put_member).delete(channels::remove_member))
        .route("/dms", post(channels::dm))
        .route("/channels/{id}/messages", get(messages::history).post(messages::send))
        .route("/channels/{id}/pins", get(messages::pins))
        .route("/channels/{id}/read", post(read::read))
        .route("/messages/{id}", get(messages::show).patch(messages::edit).delete(messages::remove))
        .route("/messages/{id}/history", get(messages::edit_history))
        .route("/messages/{id}/reactions/{emoji}", put(messages::react).delete(messages::unreact))
        .route("/messages/{id}/pin", put(messages::pin).delete(messages::unpin))
        .route("/messages/{id}/thread", get(threads::thread))
        .route("/messages/{id}/follow", put(threads::follow).delete(threads::unfollow))
        .route("/messages/{id}/read", post(threads::read))
        .route("/threads", get(threads::list))
        .route("/preview", post(messages::preview))
    // files: wired by h13-files; search, presence, webhooks: by their helpers.
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            // One body for "missing" and "not yours to see", so a private channel's existence
            // never shows.
            ChatError::NotFound => ApiError::not_found("no such channel or message"),
            ChatError::Forbidden(m) => ApiError::forbidden(m),
            ChatError::Archived => ApiError::new(StatusCode::CONFLICT, "archived", e.to_string()),
            ChatError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            ChatError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
            ChatError::RateLimited(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string()),
            ChatError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ChatError::Store(s) => s.into(),
        }
    }
}

/// A chat error as an answer: the JSON error shape, and `Retry-After` (RFC 9110 §10.2.3) on
/// a 429.
#[derive(Debug)]
pub struct ChatFailure(pub ChatError);

impl From<ChatError> for ChatFailure {
    fn from(e: ChatError) -> Self {
        ChatFailure(e)
    }
}

impl IntoResponse for ChatFailure {
    fn into_response(self) -> Response {
        let retry = match &self.0 {
            ChatError::RateLimited(wait) => Some(wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0)),
            _ => None,
        };
        let mut response = ApiError::from(self.0).into_response();
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub(crate) type ChatAnswer<T> = Result<T, ChatFailure>;

/// Tells a field that is `null` (`Some(None)`) from one that is absent (`None`, the default).
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}
