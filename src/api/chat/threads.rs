//! Threads: a root with its replies, following, thread read state, and the followed threads.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ChatAnswer;
use super::read::ReadBody;
use crate::app::state::AppState;
use crate::http::auth::Authenticated;
use crate::http::error::ApiQuery;
use crate::http::error::{ApiJson, ApiPath};
use crate::store::chat::{FollowedThread, ReadState, ThreadPage};

type ErrorBody = crate::api::openapi::ErrorBody;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Replies after this `seq`.
    pub after: Option<i64>,
    /// At most this many (1 to 200, default 200).
    pub limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/chat/messages/{id}/thread", tag = "chat",
    params(("id" = i64, Path, description = "The root message (or a reply in the thread)"), ThreadQuery),
    responses(
        (status = 200, description = "The root, its replies by `seq`, and the user's follow and read state", body = ThreadPage),
        (status = 404, description = "No such message", body = ErrorBody),
    ),
)]
pub async fn thread(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ThreadQuery>,
) -> ChatAnswer<Json<ThreadPage>> {
    Ok(Json(state.chat.thread(&p.user, id, q.after, q.limit).await?))
}

#[utoipa::path(
    put, path = "/api/v1/chat/messages/{id}/follow", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Following the thread (also sent as `chat.follow` to the user's devices)"),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
    ),
)]
pub async fn follow(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<StatusCode> {
    state.chat.follow(&p.user, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/chat/messages/{id}/follow", tag = "chat", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Not following the thread until the user replies in it (also sent as `chat.follow` to the user's devices)"),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
    ),
)]
pub async fn unfollow(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<StatusCode> {
    state.chat.follow(&p.user, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/v1/chat/messages/{id}/read", tag = "chat", request_body = ReadBody,
    params(("id" = i64, Path, description = "The thread's root message")),
    responses(
        (status = 200, description = "The thread's read state", body = ReadState),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReadBody>,
) -> ChatAnswer<Json<ReadState>> {
    Ok(Json(state.chat.thread_read(&p.user, id, body.seq).await?))
}

#[utoipa::path(
    get, path = "/api/v1/chat/threads", tag = "chat",
    responses((status = 200, description = "Followed threads with unread replies, latest reply first", body = Vec<FollowedThread>)),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ChatAnswer<Json<Vec<FollowedThread>>> {
    Ok(Json(state.chat.threads(&p.user).await?))
}
