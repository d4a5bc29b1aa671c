//! Bots: `/api/v1/admin/bots` (administrators make and revoke them; the token is shown once),
//! `/api/v1/chat/channels/{id}/bots/{name}` (channel admins add them to channels), and
//! [`gate`], which answers the chat requests a bot token makes.
//!
//! A bot token (`Authorization: Bearer mdb_…`) works on `/api/v1/chat` only, and there only
//! for what a bot is for: listing the channels it was added to (`GET /channels`) and posting
//! in them (`POST /channels/{id}/messages`, thread replies included). Every other chat route
//! answers 403, a channel it was not added to 404 (as a private channel does to a non-member),
//! and everywhere else — DAV, the rest of the API, the admin API — the token is not a
//! credential at all: the OpenID Connect verifier does not know it, so the answer is 401.

use axum::Json;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::audit::Entry;
use crate::chat::{Author, SendMessage};
use crate::chat_integrations::{IntegrationError, is_bot_token};
use crate::http::admin::Admin;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::chat_integrations::Bot;

type ErrorBody = crate::api::openapi::ErrorBody;

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::NotFound => ApiError::not_found("no such webhook or bot"),
            IntegrationError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            IntegrationError::RateLimited(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
            IntegrationError::Store(s) => s.into(),
        }
    }
}

/// A bot to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBotBody {
    /// Lower case letters, digits, `.`, `_`, `-` (like a user name).
    pub name: String,
    /// The name its messages show (default: `name`).
    pub display_name: Option<String>,
    /// An http(s) URL of its avatar.
    pub icon_url: Option<String>,
}

/// A bot just made, with its token: shown this once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedBot {
    #[serde(flatten)]
    pub bot: Bot,
    /// `Authorization: Bearer <token>` on `/api/v1/chat`.
    pub token: String,
}

#[utoipa::path(
    post, path = "/api/v1/admin/bots", tag = "admin", request_body = NewBotBody,
    responses(
        (status = 201, description = "Made; the token is in this answer only", body = CreatedBot),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 422, description = "Bad name, display name or icon URL, or the name is taken", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewBotBody>,
) -> Result<(StatusCode, Json<CreatedBot>), ApiError> {
    let (bot, token) = state
        .integrations
        .create_bot(&body.name, body.display_name.as_deref(), body.icon_url.as_deref(), &admin.user)
        .await?;
    let entry = Entry::new("admin.chat_bot.create").actor(&admin.user).address(admin.address).target(&bot.name);
    state.audit(entry).await;
    Ok((StatusCode::CREATED, Json(CreatedBot { bot, token })))
}

#[utoipa::path(
    get, path = "/api/v1/admin/bots", tag = "admin",
    responses(
        (status = 200, description = "The bots that are not revoked, by name", body = Vec<Bot>),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ),
)]
pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Vec<Bot>>, ApiError> {
    Ok(Json(state.integrations.bots().await?))
}

#[utoipa::path(
    delete, path = "/api/v1/admin/bots/{name}", tag = "admin", params(("name" = String, Path, description = "Bot name")),
    responses(
        (status = 204, description = "Revoked: its token stops working and it leaves every channel"),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such bot", body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.integrations.revoke_bot(&name).await?;
    let entry = Entry::new("admin.chat_bot.revoke").actor(&admin.user).address(admin.address).target(&name);
    state.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The channel if the user may manage it (channel admin or administrator); 404 for a channel
/// they cannot see, as everywhere in chat.
pub(super) async fn managed_channel(
    state: &AppState,
    user: &crate::domain::User,
    id: i64,
) -> Result<crate::store::chat::Channel, ApiError> {
    let channel = state.chat.channel(user, id).await?;
    let admin = user.role == crate::domain::Role::Admin;
    if channel.role != Some(crate::store::chat::ChannelRole::Admin) && !admin {
        return Err(ApiError::forbidden("only channel admins and administrators may do this"));
    }
    Ok(channel)
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}/bots", tag = "chat", params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The bots added to the channel", body = Vec<Bot>),
        (status = 404, description = "No such channel", body = ErrorBody),
    ),
)]
pub async fn channel_bots(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Bot>>, ApiError> {
    state.chat.channel(&p.user, id).await?;
    Ok(Json(state.integrations.channel_bots(id).await?))
}

#[utoipa::path(
    put, path = "/api/v1/chat/channels/{id}/bots/{name}", tag = "chat",
    params(("id" = i64, Path, description = "Channel id"), ("name" = String, Path, description = "Bot name")),
    responses(
        (status = 204, description = "The bot may list and post in the channel"),
        (status = 403, description = "Not a channel admin", body = ErrorBody),
        (status = 404, description = "No such channel or bot", body = ErrorBody),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, name)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    managed_channel(&state, &p.user, id).await?;
    let bot = state.integrations.bot(&name).await?;
    state.integrations.add_bot(&bot, id, &p.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/chat/channels/{id}/bots/{name}", tag = "chat",
    params(("id" = i64, Path, description = "Channel id"), ("name" = String, Path, description = "Bot name")),
    responses(
        (status = 204, description = "The bot left the channel"),
        (status = 403, description = "Not a channel admin", body = ErrorBody),
        (status = 404, description = "No such channel, or the bot is not in it", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, name)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    managed_channel(&state, &p.user, id).await?;
    let bot = state.integrations.bot(&name).await?;
    state.integrations.remove_bot(&bot, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a bot posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BotSend {
    text: String,
    client_id: Option<String>,
    thread: Option<i64>,
}

/// RFC 6750 §3.1: the same answer for an unknown, revoked or malformed token.
fn invalid_token() -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the access token is invalid, expired, revoked, or not valid for this resource",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="Madang", error="invalid_token""#));
    response
}

/// The bot token of a request to the chat API, if it carries one.
fn bot_token(req: &Request) -> Option<&str> {
    let path = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().path(), |o| o.0.path());
    if !path.starts_with("/api/v1/chat/") {
        return None;
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && is_bot_token(token)).then_some(token)
}

/// Middleware on the whole router: requests to `/api/v1/chat` with a bot token are answered
/// here; every other request goes on untouched. (Bots are not users, so the user-facing
/// handlers, which take [`Authenticated`], never see them.)
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = bot_token(&req) else { return next.run(req).await };
    let bot = match state.integrations.bot_by_token(token).await {
        Ok(Some(bot)) => bot,
        Ok(None) => return invalid_token(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    match act(&state, &bot, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// What a bot asked for: its channels, or a post in one of them.
async fn act(state: &AppState, bot: &Bot, req: Request) -> Result<Response, ApiError> {
    let path = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().path(), |o| o.0.path()).to_string();
    let rest = path.trim_start_matches("/api/v1/chat/");
    let segments: Vec<&str> = rest.split('/').collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["channels"]) => Ok(Json(state.integrations.bot_channels(bot).await?).into_response()),
        (&Method::POST, ["channels", id, "messages"]) => {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found("no such channel or message"))?;
            if !state.integrations.bot_in(bot, id).await? {
                return Err(ApiError::not_found("no such channel or message"));
            }
            let ApiJson(body) =
                <ApiJson<BotSend> as axum::extract::FromRequest<AppState>>::from_request(req, state).await?;
            let req =
                SendMessage { text: body.text, client_id: body.client_id, thread: body.thread, files: Vec::new() };
            let author =
                Author::Bot { name: bot.display_name.clone(), icon_url: bot.icon_url.clone(), bot: Some(bot.id) };
            let sent = state.chat.send(author, id, req).await.map_err(ApiError::from)?;
            let status = if sent.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok((status, Json(sent.message)).into_response())
        }
        _ => Err(ApiError::forbidden(
            "a bot token lists the bot's channels (GET /api/v1/chat/channels) and posts in them \
             (POST /api/v1/chat/channels/{id}/messages); nothing else",
        )),
    }
}
