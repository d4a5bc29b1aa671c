//! `/api/v1/subscriptions`: subscribing to external calendar feeds (`crate::subscriptions`), seeing their fetch state, refreshing one now, unsubscribing. Each is also a read-only calendar in `/api/v1/calendars` and over CalDAV.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendars::{parse_color, random_id, slug_from_name};
use super::openapi::ErrorBody;
use super::provision;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::collections::{href, sync_token};
use crate::domain::parse_display_name;
use crate::http::auth::{Authenticated, client_address_of};
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::dav::{CollectionKind, CollectionProps, Subscription};
use crate::subscriptions::SubscriptionError;

/// A subscribed calendar with its fetch state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// The calendar's id (slug), as in `/api/v1/calendars`.
    #[schema(example = "holidays")]
    pub id: String,
    pub name: Option<String>,
    pub color: Option<String>,
    /// The feed's address as given (`webcal://` shown as `https://`); only ever shown to its owner.
    /// Null when it can no longer be opened (the server's `auth.encryption_key` was changed):
    /// fetches then fail too, and subscribing again mends it.
    pub url: Option<String>,
    /// The feed's host.
    pub host: String,
    /// The calendar's CalDAV collection URL (path).
    pub dav_url: String,
    /// Always true: the calendar's items come from the feed.
    pub read_only: bool,
    pub sync_token: String,
    /// When the feed was last asked for, successfully or not.
    pub last_fetched_at: Option<DateTime<Utc>>,
    /// When the feed last answered with a calendar (or 304 Not Modified).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last fetch failed; null when it succeeded. What is stored stays as it was.
    pub last_error: Option<String>,
    /// When it is fetched next.
    pub next_fetch_at: DateTime<Utc>,
    /// How many fetches the feed answered with 304 Not Modified.
    pub not_modified_count: i64,
}

/// A feed to subscribe to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// A `webcal://`, `https://` or `http://` address of an iCalendar feed.
    #[schema(example = "webcal://example.com/holidays.ics")]
    pub url: String,
    /// The calendar's name; the feed's host when absent.
    pub name: Option<String>,
    /// `#RRGGBB` or `#RRGGBBAA`.
    pub color: Option<String>,
}

fn view(state: &AppState, owner: &str, s: &Subscription) -> SubscriptionView {
    let c = &s.collection;
    SubscriptionView {
        id: c.slug.clone(),
        name: c.props.display_name.clone(),
        color: c.props.color.clone(),
        url: state.subscriptions.url_of(s).ok(),
        host: s.host.clone(),
        dav_url: href::calendar_href(owner, &c.slug),
        read_only: true,
        sync_token: sync_token(c),
        last_fetched_at: s.last_fetched_at,
        last_success_at: s.last_success_at,
        last_error: s.last_error.clone(),
        next_fetch_at: s.next_fetch_at,
        not_modified_count: s.not_modified,
    }
}

fn api_error(e: SubscriptionError) -> ApiError {
    match e {
        SubscriptionError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
        SubscriptionError::Limit(m) => ApiError::new(StatusCode::FORBIDDEN, "limit", m),
        SubscriptionError::Busy => ApiError::new(StatusCode::CONFLICT, "busy", e.to_string()),
        SubscriptionError::Store(s) => s.into(),
    }
}

async fn own(state: &AppState, p: &crate::auth::Principal, id: &str) -> Result<Subscription, ApiError> {
    state.store.subscription(p.user.id, id).await?.ok_or_else(|| ApiError::not_found("no such subscription"))
}

#[utoipa::path(
    get, path = "/api/v1/subscriptions", tag = "calendars",
    responses((status = 200, description = "The user's subscribed calendars", body = [SubscriptionView])),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Vec<SubscriptionView>>, ApiError> {
    let all = state.store.subscriptions(p.user.id).await?;
    Ok(Json(all.iter().map(|s| view(&state, p.user.username.as_str(), s)).collect()))
}

#[utoipa::path(
    post, path = "/api/v1/subscriptions", tag = "calendars",
    request_body = NewSubscription,
    responses(
        (status = 201, description = "Subscribed and fetched once; a failed first fetch is in `last_error`", body = SubscriptionView),
        (status = 403, description = "Over `dav.subscription_max_per_user` (`limit`)", body = ErrorBody),
        (status = 422, description = "Not a webcal/https/http URL, or an invalid name or colour", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    parts: axum::http::request::Parts,
    ApiJson(new): ApiJson<NewSubscription>,
) -> Result<(StatusCode, Json<SubscriptionView>), ApiError> {
    provision(&state, &p.user).await?;
    let now = state.clock.now();
    let url = crate::subscriptions::checked_url(&new.url).map_err(|m| api_error(SubscriptionError::Invalid(m)))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let name = new.name.as_deref().map(parse_display_name).transpose()?.filter(|n| !n.is_empty());
    let color = new.color.as_deref().map(parse_color).transpose()?;
    let mut slug = slug_from_name(name.as_deref().unwrap_or(&host)).unwrap_or_else(|| "subscription".into());
    if state.store.collection(p.user.id, CollectionKind::Calendar, &slug).await?.is_some() {
        slug = format!("{slug}-{}", &random_id(now)[..6]);
    }
    let props = CollectionProps {
        display_name: Some(name.unwrap_or_else(|| host.clone())),
        color,
        components: vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()],
        ..Default::default()
    };
    let made = state
        .subscriptions
        .subscribe(&state.store, &state.collections, p.user.id, (url.as_str(), &slug, props), now)
        .await
        .map_err(api_error)?;
    let entry = Entry::new("calendar.subscribe")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("calendar {} from {host}", made.collection.slug));
    state.audit(entry).await;
    Ok((StatusCode::CREATED, Json(view(&state, p.user.username.as_str(), &made))))
}

#[utoipa::path(
    get, path = "/api/v1/subscriptions/{id}", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 200, description = "The subscription and its fetch state", body = SubscriptionView),
        (status = 404, description = "No such subscription of this user", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let s = own(&state, &p, &id).await?;
    Ok(Json(view(&state, p.user.username.as_str(), &s)))
}

#[utoipa::path(
    post, path = "/api/v1/subscriptions/{id}/refresh", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 200, description = "Fetched now; a failure is in `last_error`, and nothing stored was replaced", body = SubscriptionView),
        (status = 404, description = "No such subscription of this user", body = ErrorBody),
        (status = 409, description = "A fetch of it is under way (`busy`)", body = ErrorBody),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let s = own(&state, &p, &id).await?;
    let now = state.clock.now();
    let s = state.subscriptions.refresh_now(&state.store, &state.collections, &s, now).await.map_err(api_error)?;
    Ok(Json(view(&state, p.user.username.as_str(), &s)))
}

#[utoipa::path(
    delete, path = "/api/v1/subscriptions/{id}", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 204, description = "Unsubscribed: the calendar and its items are gone"),
        (status = 404, description = "No such subscription of this user", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<String>,
    parts: axum::http::request::Parts,
) -> Result<StatusCode, ApiError> {
    let s = own(&state, &p, &id).await?;
    state.store.delete_collection(s.collection.id, state.clock.now()).await?;
    let entry = Entry::new("calendar.unsubscribe")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("calendar {} from {}", s.collection.slug, s.host));
    state.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}
