//! The JSON API (`/api/v1`): the signed-in user and their app passwords; calendars and contacts come from [`crate::api`].

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::error::{ApiError, ApiJson, ApiPath};
use crate::app::state::AppState;
use crate::auth::Credential;
use crate::domain::{AppPassword, AppPasswordId, User};
use crate::modules::ModuleStates;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/app-passwords", get(list_app_passwords).post(create_app_password))
        .route("/me/app-passwords/{id}", delete(revoke_app_password))
        .nest("/admin", super::admin::routes())
        .route("/admin/bots", get(crate::api::chat::bots::list).post(crate::api::chat::bots::create))
        .route("/admin/bots/{name}", delete(crate::api::chat::bots::revoke))
        .merge(crate::api::routes())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    #[serde(flatten)]
    #[schema(inline, value_type = UserSchema)]
    user: User,
    /// How this request was authenticated: `password`, `app_password`, `bearer`, `session`.
    authenticated_with: &'static str,
    /// Which modules are on for this instance; clients hide those that are off.
    modules: ModuleStates,
    /// The language to show: `en` or `ko`, from the user's choice (the `lang`
    /// cookie the web pages set), else `Accept-Language`, else `en`.
    #[schema(example = "en")]
    locale: &'static str,
    /// Sizes the server refuses past, so a client can say so before uploading.
    limits: Limits,
}

/// Size limits, in bytes.
#[derive(Serialize, ToSchema)]
pub(crate) struct Limits {
    /// The largest request body (`server.max_body_size`; chat uploads have their own).
    max_body_size: u64,
    /// The largest mail message sent from a linked account, attachments included
    /// (`mail.max_message_size`); in base64 they must also fit in `max_body_size`.
    mail_max_message_size: u64,
}

/// The shape of `domain::User` on the wire, for the OpenAPI description.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the wire shape; `User` writes it.
pub(crate) struct UserSchema {
    id: i64,
    username: String,
    email: String,
    display_name: String,
    /// `admin` or `member`.
    role: String,
    /// `pending`, `active` or `disabled`.
    state: String,
    /// True only when the address was proven (or vouched for by an administrator).
    email_verified: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The shape of `domain::AppPassword` on the wire, for the OpenAPI description.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the wire shape; `AppPassword` writes it.
struct AppPasswordSchema {
    id: i64,
    user_id: i64,
    label: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

/// The principal's user is read from the store on every request (also on a
/// cache hit), so it is current.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "account",
    responses((status = 200, description = "The signed-in user", body = Me)),
)]
pub(crate) async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    Authenticated(principal): Authenticated,
) -> Result<Json<Me>, ApiError> {
    let authenticated_with = match principal.credential {
        Credential::AccountPassword => "password",
        Credential::AppPassword(_) => "app_password",
        Credential::Bearer => "bearer",
        Credential::WebSession => "session",
    };
    let modules = state.modules.states().await?;
    // The same rule as the web pages, so the client and the pages agree.
    let locale = crate::web::i18n::Lang::from_headers(&headers).code();
    let limits = Limits {
        max_body_size: state.settings.max_body_size as u64,
        mail_max_message_size: state.mail.max_message_size(),
    };
    Ok(Json(Me { user: principal.user, authenticated_with, modules, locale, limits }))
}

#[utoipa::path(
    get, path = "/api/v1/me/app-passwords", tag = "account",
    responses((status = 200, description = "The user's app passwords (never their secrets)", body = Vec<AppPasswordSchema>)),
)]
pub(crate) async fn list_app_passwords(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<AppPassword>>, ApiError> {
    Ok(Json(state.store.app_passwords(principal.user.id).await?))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct NewAppPassword {
    label: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedAppPassword {
    #[schema(value_type = i64)]
    id: AppPasswordId,
    label: String,
    created_at: DateTime<Utc>,
    /// Shown once; only a keyed hash is kept.
    password: String,
}

/// A device holding an app password must not be able to mint more of them
/// or revoke the others; that takes the account password (or, later, a web
/// session).
fn require_account_password(credential: Credential) -> Result<(), ApiError> {
    match credential {
        Credential::AppPassword(_) => Err(ApiError::forbidden("app passwords cannot manage app passwords")),
        _ => Ok(()),
    }
}

#[utoipa::path(
    post, path = "/api/v1/me/app-passwords", tag = "account",
    request_body = NewAppPassword,
    responses(
        (status = 201, description = "Created; the password is shown this once", body = CreatedAppPassword),
        (status = 400, description = "Malformed JSON", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "App passwords cannot manage app passwords", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Invalid label", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_app_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NewAppPassword>,
) -> Result<impl IntoResponse, ApiError> {
    require_account_password(principal.credential)?;
    let (created, password) = state.accounts.add_app_password(principal.user.username.as_str(), &body.label).await?;
    let body = CreatedAppPassword { id: created.id, label: created.label, created_at: created.created_at, password };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    delete, path = "/api/v1/me/app-passwords/{id}", tag = "account",
    params(("id" = i64, Path, description = "App password id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "App passwords cannot manage app passwords", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such app password", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn revoke_app_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_account_password(principal.credential)?;
    state.accounts.revoke_app_password(principal.user.username.as_str(), AppPasswordId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
