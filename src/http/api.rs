//! The JSON API (`/api/v1`): the signed-in user and their app passwords.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiJson};
use crate::auth::Credential;
use crate::domain::{AppPassword, AppPasswordId, User};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/app-passwords", get(list_app_passwords).post(create_app_password))
        .route("/me/app-passwords/{id}", delete(revoke_app_password))
}

#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    user: User,
    /// How this request was authenticated: `password`, `app_password`, `bearer`.
    authenticated_with: &'static str,
}

/// The principal's user is read from the store on every request (also on a
/// cache hit), so it is current.
async fn me(Authenticated(principal): Authenticated) -> Json<Me> {
    let authenticated_with = match principal.credential {
        Credential::AccountPassword => "password",
        Credential::AppPassword(_) => "app_password",
        Credential::Bearer => "bearer",
    };
    Json(Me { user: principal.user, authenticated_with })
}

async fn list_app_passwords(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<AppPassword>>, ApiError> {
    Ok(Json(state.store.app_passwords(principal.user.id).await?))
}

#[derive(Deserialize)]
struct NewAppPassword {
    label: String,
}

#[derive(Serialize)]
struct CreatedAppPassword {
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

async fn create_app_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NewAppPassword>,
) -> Result<impl IntoResponse, ApiError> {
    require_account_password(principal.credential)?;
    let (created, password) = state.accounts.add_app_password(principal.user.username.as_str(), &body.label).await?;
    let body = CreatedAppPassword { id: created.id, label: created.label, created_at: created.created_at, password };
    Ok((StatusCode::CREATED, Json(body)))
}

async fn revoke_app_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    require_account_password(principal.credential)?;
    state.accounts.revoke_app_password(principal.user.username.as_str(), AppPasswordId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
