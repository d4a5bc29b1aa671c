//! Chat messages: history, send, one message, edit, delete, earlier versions, reactions,
//! pins and the composer's preview.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ChatAnswer;
use crate::app::state::AppState;
use crate::chat::{Author, SendMessage};
use crate::http::auth::Authenticated;
use crate::http::error::ApiQuery;
use crate::http::error::{ApiJson, ApiPath};
use crate::store::chat::Message;

type ErrorBody = crate::api::openapi::ErrorBody;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages before this `seq` (the newest of them).
    pub before: Option<i64>,
    /// Messages after this `seq` (the oldest of them).
    pub after: Option<i64>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<i64>,
}

/// A page of a channel's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// More messages lie beyond this page in the direction asked.
    pub has_more: bool,
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}/messages", tag = "chat", params(("id" = i64, Path, description = "Channel id"), HistoryQuery),
    responses(
        (status = 200, description = "Top-level messages by `seq` (replies are in their thread)", body = HistoryPage),
        (status = 404, description = "No such channel", body = ErrorBody),
    ),
)]
pub async fn history(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ChatAnswer<Json<HistoryPage>> {
    let page = state.chat.history(&p.user, id, q.before, q.after, q.limit).await?;
    Ok(Json(HistoryPage { messages: page.messages, has_more: page.has_more }))
}

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// Markdown.
    pub text: String,
    /// The client's id for this message: a retry with the same one returns the first message.
    pub client_id: Option<String>,
    /// Reply in the thread of this message.
    pub thread: Option<i64>,
    /// Uploaded files to attach.
    #[serde(default)]
    pub files: Vec<i64>,
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels/{id}/messages", tag = "chat", request_body = SendBody,
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 201, description = "Sent", body = Message),
        (status = 200, description = "Sent before with this `client_id`: the first message", body = Message),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such channel or thread", body = ErrorBody),
        (status = 409, description = "The channel is archived (`archived`)", body = ErrorBody),
        (status = 413, description = "Longer than `chat.max_message_bytes`", body = ErrorBody),
        (status = 422, description = "Empty text or a bad `client_id`", body = ErrorBody),
        (status = 429, description = "More than `chat.messages_per_minute`; see `Retry-After`", body = ErrorBody),
    ),
)]
pub async fn send(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SendBody>,
) -> ChatAnswer<(StatusCode, Json<Message>)> {
    let req = SendMessage { text: body.text, client_id: body.client_id, thread: body.thread, files: body.files };
    let sent = state.chat.send(Author::User(p.user.id), id, req).await?;
    let status = if sent.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(sent.message)))
}

#[utoipa::path(
    get, path = "/api/v1/chat/messages/{id}", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = Message),
        (status = 404, description = "No such message (or one in a channel the user cannot see)", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.message(&p.user, id).await?.0))
}

/// New text for a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    pub text: String,
}

#[utoipa::path(
    patch, path = "/api/v1/chat/messages/{id}", tag = "chat", request_body = EditBody,
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The edited message (the earlier text is kept in its history)", body = Message),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
        (status = 413, description = "Longer than `chat.max_message_bytes`", body = ErrorBody),
        (status = 422, description = "Empty text", body = ErrorBody),
    ),
)]
pub async fn edit(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EditBody>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.edit(&p.user, id, &body.text).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/chat/messages/{id}", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The tombstone left behind", body = Message),
        (status = 403, description = "Neither the author nor a channel admin", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.delete(&p.user, id).await?))
}

/// An earlier version of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub text: String,
    /// When this version was replaced by the next.
    pub edited_at: DateTime<Utc>,
}

#[utoipa::path(
    get, path = "/api/v1/chat/messages/{id}/history", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "Earlier versions, oldest first", body = Vec<Version>),
        (status = 404, description = "No such message", body = ErrorBody),
    ),
)]
pub async fn edit_history(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Vec<Version>>> {
    let versions = state.chat.edit_history(&p.user, id).await?;
    Ok(Json(versions.into_iter().map(|(text, edited_at)| Version { text, edited_at }).collect()))
}

#[utoipa::path(
    put, path = "/api/v1/chat/messages/{id}/reactions/{emoji}", tag = "chat",
    params(("id" = i64, Path, description = "Message id"), ("emoji" = String, Path, description = "The emoji, URL-encoded, or `:short_name:`")),
    responses(
        (status = 200, description = "The message with the reaction", body = Message),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
        (status = 422, description = "Not an emoji", body = ErrorBody),
    ),
)]
pub async fn react(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.react(&p.user, id, &emoji, true).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/chat/messages/{id}/reactions/{emoji}", tag = "chat",
    params(("id" = i64, Path, description = "Message id"), ("emoji" = String, Path, description = "The emoji, URL-encoded")),
    responses(
        (status = 200, description = "The message without the user's reaction", body = Message),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
        (status = 422, description = "Not an emoji", body = ErrorBody),
    ),
)]
pub async fn unreact(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, emoji)): ApiPath<(i64, String)>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.react(&p.user, id, &emoji, false).await?))
}

#[utoipa::path(
    put, path = "/api/v1/chat/messages/{id}/pin", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The pinned message", body = Message),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
    ),
)]
pub async fn pin(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.pin(&p.user, id, true).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/chat/messages/{id}/pin", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "The unpinned message", body = Message),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
    ),
)]
pub async fn unpin(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Message>> {
    Ok(Json(state.chat.pin(&p.user, id, false).await?))
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}/pins", tag = "chat", params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Pinned messages, latest pin first", body = Vec<Message>),
        (status = 404, description = "No such channel", body = ErrorBody),
    ),
)]
pub async fn pins(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Vec<Message>>> {
    Ok(Json(state.chat.pins(&p.user, id).await?))
}

/// Markdown to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    pub text: String,
}

/// The preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub html: String,
}

#[utoipa::path(
    post, path = "/api/v1/chat/preview", tag = "chat", request_body = PreviewBody,
    responses(
        (status = 200, description = "The text rendered as a sent message would be", body = Preview),
        (status = 413, description = "Longer than `chat.max_message_bytes`", body = ErrorBody),
    ),
)]
pub async fn preview(
    State(state): State<AppState>,
    Authenticated(_signed_in): Authenticated,
    ApiJson(body): ApiJson<PreviewBody>,
) -> ChatAnswer<Json<Preview>> {
    Ok(Json(Preview { html: state.chat.preview(&body.text)? }))
}
