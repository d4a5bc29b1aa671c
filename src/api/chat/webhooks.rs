//! Incoming webhooks: `/api/v1/chat/channels/{id}/webhooks` and `/api/v1/chat/webhooks/{id}`
//! (channel admins and administrators make, list and revoke them), and the public
//! `POST /hooks/{token}` that posts a Slack-compatible payload into the webhook's channel.
//!
//! `/hooks/{token}` needs no other credential: the 256-bit token in the URL is the secret. An
//! unknown or revoked token is 404; a payload that cannot be posted is 400 with the reason
//! (`madang_chat::slack`) and posts nothing; past `chat.webhook_posts_per_minute` a hook gets
//! 429 with `Retry-After`. Payloads are at most `madang_chat::slack::MAX_PAYLOAD_BYTES`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bots::managed_channel;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::chat::{Author, ChatError, SendMessage};
use crate::chat_integrations::IntegrationError;
use crate::http::auth::{Authenticated, client_address_of};
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::chat_integrations::Webhook;

type ErrorBody = crate::api::openapi::ErrorBody;

/// A webhook to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Shown as the author of its posts unless a payload names one (`username`).
    pub name: String,
}

/// A webhook just made, with its secret URL: shown this once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Where to POST: `server.public_url` + `hooks/<token>`.
    pub url: String,
}

#[utoipa::path(
    get, path = "/api/v1/chat/channels/{id}/webhooks", tag = "chat", params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel's webhooks (not their URLs)", body = Vec<Webhook>),
        (status = 403, description = "Not a channel admin", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    managed_channel(&state, &p.user, id).await?;
    Ok(Json(state.integrations.webhooks(id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels/{id}/webhooks", tag = "chat", request_body = NewWebhookBody,
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 201, description = "Made; the URL is in this answer only", body = CreatedWebhook),
        (status = 403, description = "Not a channel admin", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "The channel is archived", body = ErrorBody),
        (status = 422, description = "Bad name, or a direct message", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    parts: axum::http::request::Parts,
    ApiJson(body): ApiJson<NewWebhookBody>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let channel = managed_channel(&state, &p.user, id).await?;
    if channel.kind == "dm" {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "webhooks post into channels, not DMs"));
    }
    if channel.archived {
        return Err(ChatError::Archived.into());
    }
    let (webhook, token) = state.integrations.create_webhook(id, &body.name, &p.user).await?;
    let entry = Entry::new("chat.webhook.create")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("webhook {} in channel {id}", webhook.id));
    state.audit(entry).await;
    let url = format!("{}hooks/{token}", state.web.config.public_url);
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook, url })))
}

#[utoipa::path(
    delete, path = "/api/v1/chat/webhooks/{id}", tag = "chat", params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Revoked: its URL answers 404 from now on"),
        (status = 403, description = "Not a channel admin", body = ErrorBody),
        (status = 404, description = "No such webhook (or in a channel the user cannot see)", body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    parts: axum::http::request::Parts,
) -> Result<StatusCode, ApiError> {
    let webhook = state.integrations.webhook(id).await?;
    managed_channel(&state, &p.user, webhook.channel).await.map_err(|e| {
        // A webhook in a channel the user cannot see does not exist for them.
        if e.status == StatusCode::NOT_FOUND { ApiError::not_found("no such webhook or bot") } else { e }
    })?;
    state.integrations.revoke_webhook(id).await?;
    let entry = Entry::new("chat.webhook.revoke")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("webhook {id} in channel {}", webhook.channel));
    state.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /hooks/{token}`: a Slack-compatible payload posted as a message.
pub async fn post(State(state): State<AppState>, ApiPath(token): ApiPath<String>, req: Request) -> Response {
    match deliver(&state, &token, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn deliver(state: &AppState, token: &str, req: Request) -> Result<Response, ApiError> {
    let Some(webhook) = state.integrations.webhook_by_token(token).await? else {
        return Err(ApiError::not_found("no such webhook (it may have been revoked)"));
    };
    // The allowance is taken before the body is read: a flood costs no parsing.
    if let Err(IntegrationError::RateLimited(wait)) = state.integrations.admit_post(&webhook) {
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "this webhook posts too often; retry later")
                .into_response();
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return Ok(response);
    }
    let limit = madang_chat::slack::MAX_PAYLOAD_BYTES;
    let body: Bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the payload is larger than {limit} bytes, the most a webhook accepts"),
        )
    })?;
    let incoming = madang_chat::slack::parse(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_payload", e.to_string()))?;
    let author = Author::Bot {
        name: incoming.username.unwrap_or_else(|| webhook.name.clone()),
        icon_url: incoming.icon_url,
        bot: None,
    };
    let sent = state
        .chat
        .send(author, webhook.channel, SendMessage { text: incoming.text, ..Default::default() })
        .await
        .map_err(|e| match e {
            // The channel went away under the webhook.
            ChatError::NotFound => ApiError::not_found("no such webhook (its channel is gone)"),
            e => ApiError::from(e),
        })?;
    state.integrations.webhook_used(&webhook).await?;
    // Slack answers `ok` in plain text; senders (Gitea among them) only look at the status.
    let _ = sent;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response())
}
