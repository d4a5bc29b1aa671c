//! Chat channels, their members and DMs: `/api/v1/chat/channels…` and `/api/v1/chat/dms`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ChatAnswer, present};
use crate::api::cursor;
use crate::app::state::AppState;
use crate::chat::{CreateChannel, UpdateChannel};
use crate::http::auth::Authenticated;
use crate::http::error::ApiQuery;
use crate::http::error::{ApiJson, ApiPath};
use crate::store::chat::{Channel, ChannelRole, Member};

#[utoipa::path(
    get, path = "/api/v1/chat/channels", tag = "chat",
    responses((status = 200, description = "The user's channels and DMs with their unread and mention counts", body = Vec<Channel>)),
)]
pub async fn list(State(state): State<AppState>, Authenticated(p): Authenticated) -> ChatAnswer<Json<Vec<Channel>>> {
    Ok(Json(state.chat.channels(&p.user).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// Part of the name.
    pub q: Option<String>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// A page of public channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrowsePage {
    pub channels: Vec<Channel>,
    /// The next page's cursor; `null` on the last page.
    pub cursor: Option<String>,
}

const BROWSE_PAGE: i64 = 100;

#[utoipa::path(
    get, path = "/api/v1/chat/channels/browse", tag = "chat", params(BrowseQuery),
    responses(
        (status = 200, description = "Public channels by name, joined or not (`member`)", body = BrowsePage),
        (status = 422, description = "A cursor this server did not hand out", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn browse(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiQuery(q): ApiQuery<BrowseQuery>,
) -> ChatAnswer<Json<BrowsePage>> {
    let after: Option<String> =
        cursor::decode(q.cursor.as_deref()).map_err(|e| crate::chat::ChatError::Invalid(e.message))?;
    let channels = state.chat.browse(&p.user, q.q.as_deref().unwrap_or(""), after.as_deref(), BROWSE_PAGE).await?;
    let next = (channels.len() as i64 == BROWSE_PAGE).then(|| channels.last().and_then(|c| c.name.clone())).flatten();
    Ok(Json(BrowsePage { channels, cursor: next.map(|n| cursor::encode(&n)) }))
}

/// A channel to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannelBody {
    /// 1 to 80 letters, digits, `-`, `_`, `.`; stored in lower case.
    pub name: String,
    /// `public` or `private`.
    #[schema(example = "public")]
    pub kind: String,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    /// Users to add besides the creator.
    #[serde(default)]
    pub members: Vec<String>,
    /// A group whose members the channel's membership follows.
    pub group: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels", tag = "chat", request_body = NewChannelBody,
    responses(
        (status = 201, description = "Created; the creator is its admin", body = Channel),
        (status = 409, description = "The name is taken", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Bad name, kind, topic, member or group", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(body): ApiJson<NewChannelBody>,
) -> ChatAnswer<(StatusCode, Json<Channel>)> {
    let req = CreateChannel {
        name: body.name,
        kind: body.kind,
        topic: body.topic,
        purpose: body.purpose,
        members: body.members,
        group: body.group,
    };
    Ok((StatusCode::CREATED, Json(state.chat.create_channel(&p.user, req).await?)))
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}", tag = "chat",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = Channel),
        (status = 404, description = "No such channel (or a private one the user is not in)", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Channel>> {
    Ok(Json(state.chat.channel(&p.user, id).await?))
}

/// Changes to a channel; absent fields stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelPatchBody {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: Option<bool>,
    /// A group name to follow, or `null` to stop following one.
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub group: Option<Option<String>>,
}

#[utoipa::path(
    patch, path = "/api/v1/chat/channels/{id}", tag = "chat", request_body = ChannelPatchBody,
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The changed channel", body = Channel),
        (status = 403, description = "Not a channel admin or administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The name is taken, or the channel is archived (`archived`)", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Bad name, topic or group", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ChannelPatchBody>,
) -> ChatAnswer<Json<Channel>> {
    let req = UpdateChannel {
        name: body.name,
        topic: body.topic,
        purpose: body.purpose,
        archived: body.archived,
        group: body.group,
    };
    Ok(Json(state.chat.update_channel(&p.user, id, req).await?))
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}/members", tag = "chat",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Members by name", body = Vec<Member>),
        (status = 404, description = "No such channel", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn members(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> ChatAnswer<Json<Vec<Member>>> {
    Ok(Json(state.chat.members(&p.user, id).await?))
}

/// A member's role (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MemberBody {
    pub role: Option<ChannelRole>,
}

#[utoipa::path(
    put, path = "/api/v1/chat/channels/{id}/members/{user}", tag = "chat",
    request_body(content = Option<MemberBody>, description = "Optional: the role to give"),
    params(("id" = i64, Path, description = "Channel id"), ("user" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "A member (also if they were already)"),
        (status = 403, description = "Only channel admins add others or set roles", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such channel or user", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The channel is archived", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn put_member(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, user)): ApiPath<(i64, String)>,
    body: axum::body::Bytes,
) -> ChatAnswer<StatusCode> {
    // The body is optional: empty, or `{"role": …}`.
    let role = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<MemberBody>(&body)
            .map_err(|e| crate::chat::ChatError::Invalid(format!("body: {e}")))?
            .role
    };
    state.chat.put_member(&p.user, id, &user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/chat/channels/{id}/members/{user}", tag = "chat",
    params(("id" = i64, Path, description = "Channel id"), ("user" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Left or removed"),
        (status = 403, description = "Only channel admins remove others", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such channel or member", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, user)): ApiPath<(i64, String)>,
) -> ChatAnswer<StatusCode> {
    state.chat.remove_member(&p.user, id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The people of a DM besides the signed-in user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DmBody {
    pub users: Vec<String>,
}

#[utoipa::path(
    post, path = "/api/v1/chat/dms", tag = "chat", request_body = DmBody,
    responses(
        (status = 200, description = "The DM with these people (found or created)", body = Channel),
        (status = 422, description = "Unknown users, or too few or too many", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn dm(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(body): ApiJson<DmBody>,
) -> ChatAnswer<Json<Channel>> {
    Ok(Json(state.chat.dm(&p.user, &body.users).await?))
}
