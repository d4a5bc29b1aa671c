//! Typing indicators, presence and people for `@` autocomplete: the ephemeral side of chat
//! (docs/chat.md). Nothing here is stored; the state lives in the push service
//! (`crate::push::presence`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::openapi::ErrorBody;
use crate::app::state::AppState;
use crate::domain::Username;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::push::presence::Status;

/// The most names one presence query may ask about.
pub const MAX_PRESENCE_USERS: usize = 100;
/// The most people one autocomplete answer lists.
pub const PEOPLE_LIMIT: u32 = 20;

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text())
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels/{id}/typing", tag = "chat",
    params(("id" = i64, Path, description = "Channel id")),
    responses(
        (status = 204, description = "Passed on to the channel's other members (at most once per `push.typing_interval`)"),
        (status = 404, description = "No such channel, or not a member", body = ErrorBody),
    ),
)]
pub async fn typing(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let user = &principal.user;
    let Some(members) = state.store.chat_members_if_member(id, user.id).await? else {
        return Err(ApiError::not_found("no such channel"));
    };
    if state.push.typing_allowed(user.id, id) {
        let others: Vec<_> = members.into_iter().filter(|m| *m != user.id).collect();
        let data = serde_json::json!({ "channel": id, "user": user.username.as_str() }).to_string();
        state.push.send_ephemeral(&others, "chat.typing", &data);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// What a client says about its user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPresence {
    /// `online` or `away` (`offline` follows from having no stream open).
    pub status: String,
}

#[utoipa::path(
    put, path = "/api/v1/chat/presence", tag = "chat",
    request_body = SetPresence,
    responses(
        (status = 204, description = "Set; `chat.presence` goes to everyone sharing a channel if it changed"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "A status other than `online` or `away`", body = ErrorBody),
    ),
)]
pub async fn set_presence(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<SetPresence>,
) -> Result<StatusCode, ApiError> {
    let away = match body.status.as_str() {
        "away" => true,
        "online" => false,
        _ => return Err(crate::api::invalid("status must be `online` or `away`")),
    };
    state.push.set_away(principal.user.id, away);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresenceParams {
    /// Comma-separated user names (at most 100).
    pub users: String,
}

/// One user's presence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Presence {
    pub user: String,
    pub status: Status,
}

#[utoipa::path(
    get, path = "/api/v1/chat/presence", tag = "chat",
    params(PresenceParams),
    responses(
        (status = 200, description = "The named users' presence; names of no account are left out", body = Vec<Presence>),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 422, description = "More than 100 names", body = ErrorBody),
    ),
)]
pub async fn presence(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
    params: Result<Query<PresenceParams>, QueryRejection>,
) -> Result<Json<Vec<Presence>>, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let names: Vec<&str> = params.users.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if names.len() > MAX_PRESENCE_USERS {
        return Err(crate::api::invalid(format!("at most {MAX_PRESENCE_USERS} users at once")));
    }
    let mut out = Vec::new();
    for name in names {
        let Ok(username) = Username::parse(name) else { continue };
        match state.store.user_by_name(&username).await {
            Ok(user) => out.push(Presence { user: user.username.to_string(), status: state.push.presence(user.id) }),
            Err(crate::store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleParams {
    /// The start of a user name or display name (case-insensitive); empty lists the first 20.
    pub q: Option<String>,
}

/// A person for `@` autocomplete.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonOut {
    pub name: String,
    pub display_name: String,
    pub presence: Status,
}

#[utoipa::path(
    get, path = "/api/v1/chat/users", tag = "chat",
    params(PeopleParams),
    responses(
        (status = 200, description = "Active accounts whose name or display name starts with `q`, by name, at most 20", body = Vec<PersonOut>),
        (status = 400, description = "Malformed query string", body = ErrorBody),
    ),
)]
pub async fn people(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
    params: Result<Query<PeopleParams>, QueryRejection>,
) -> Result<Json<Vec<PersonOut>>, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let q = params.q.unwrap_or_default();
    // `@` is how the composer starts a mention; a name never contains it.
    let q = q.trim().trim_start_matches('@');
    let people = state.store.chat_people(q, PEOPLE_LIMIT).await?;
    Ok(Json(
        people
            .into_iter()
            .map(|p| PersonOut {
                presence: state.push.presence(crate::domain::UserId(p.id)),
                name: p.username,
                display_name: p.display_name,
            })
            .collect(),
    ))
}
