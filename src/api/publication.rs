//! `/api/v1/calendars/{id}/publication`: publishing a calendar at a secret, read-only feed URL
//! (`collections::publish`), seeing whether it is published, and stopping it. The URL is in the
//! answer that makes it and nowhere else: only its hash is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::ErrorBody;
use super::own_collection;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::collections::publish;
use crate::http::auth::{Authenticated, client_address_of};
use crate::http::error::{ApiError, ApiPath};
use crate::store::dav::CollectionKind;

/// Whether a calendar is published (never its URL, which is not stored).
#[derive(Debug, Serialize, ToSchema)]
pub struct Publication {
    pub published: bool,
    /// When the current URL was made; null when not published.
    pub published_at: Option<DateTime<Utc>>,
}

/// A feed URL just made: shown this once. Publishing again makes a new one and stops this one.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewPublication {
    pub published: bool,
    pub published_at: DateTime<Utc>,
    /// `server.public_url` + `feeds/<token>.ics`: for Google Calendar ("From URL"), Outlook
    /// ("Subscribe from web") or a web site.
    pub url: String,
    /// The same address with the `webcal://` scheme, which opens the system's calendar app.
    pub webcal_url: String,
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/publication", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 200, description = "Whether the calendar is published", body = Publication),
        (status = 404, description = "No such calendar", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Publication>, ApiError> {
    let cal = own_collection(&state, &p.user, CollectionKind::Calendar, &id).await?;
    let published_at = state.store.feed_published_at(cal.id).await?;
    Ok(Json(Publication { published: published_at.is_some(), published_at }))
}

#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/publication", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 201, description = "Published at a new URL, shown in this answer only; an earlier URL stops working", body = NewPublication),
        (status = 404, description = "No such calendar", body = ErrorBody),
    ),
)]
pub async fn publish(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
    parts: axum::http::request::Parts,
) -> Result<(StatusCode, Json<NewPublication>), ApiError> {
    let cal = own_collection(&state, &p.user, CollectionKind::Calendar, &id).await?;
    let now = state.clock.now();
    let token = publish::publish(&state.store, &cal, now).await?;
    let entry = Entry::new("calendar.publish")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("calendar {}", cal.slug));
    state.audit(entry).await;
    let base = state.web.config.public_url.trim_end_matches('/');
    let url = format!("{base}{}", publish::feed_path(&token));
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    Ok((StatusCode::CREATED, Json(NewPublication { published: true, published_at: now, url, webcal_url })))
}

#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}/publication", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 204, description = "Not published (any more): the feed URL answers 404 from now on"),
        (status = 404, description = "No such calendar", body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
    parts: axum::http::request::Parts,
) -> Result<StatusCode, ApiError> {
    let cal = own_collection(&state, &p.user, CollectionKind::Calendar, &id).await?;
    if state.store.revoke_feed(cal.id).await? {
        let entry = Entry::new("calendar.unpublish")
            .actor(&p.user)
            .address(client_address_of(&parts, &state))
            .target(format!("calendar {}", cal.slug));
        state.audit(entry).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
