//! A channel's read state: `POST /channels/{id}/read`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::ChatAnswer;
use crate::app::state::AppState;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiJson, ApiPath};
use crate::store::chat::ReadState;

/// Read up to this `seq` (a lower one marks later messages unread again).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    pub seq: i64,
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels/{id}/read", tag = "chat", request_body = ReadBody,
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The read state (also sent as `chat.read` to the user's devices)", body = ReadState),
        (status = 403, description = "Not a member", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReadBody>,
) -> ChatAnswer<Json<ReadState>> {
    Ok(Json(state.chat.read(&p.user, id, body.seq).await?))
}
