//! `/api/v1/calendars`: list, create, change and delete calendars as JSON; CalDAV sees the same collections.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Datelike, Offset, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{own_collection, provision, writable_collection};
use crate::app::state::AppState;
use crate::collections::href;
use crate::collections::sync_token;
use crate::domain::{InvalidInput, parse_display_name};
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::dav::{Collection, CollectionKind, CollectionProps, PropertyChanges};

/// Component types a calendar may hold (RFC 4791 §5.2.3).
const COMPONENTS: [&str; 3] = ["VEVENT", "VTODO", "VJOURNAL"];

/// A calendar as the JSON API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Calendar {
    /// The calendar's slug: the last segment of its CalDAV URL.
    #[schema(example = "work")]
    pub id: String,
    /// `DAV:displayname`.
    pub name: Option<String>,
    /// `CALDAV:calendar-description`.
    pub description: Option<String>,
    /// Apple's `calendar-color`: `#RRGGBB` or `#RRGGBBAA`.
    #[schema(example = "#3366ffff")]
    pub color: Option<String>,
    /// IANA name of `CALDAV:calendar-timezone`, when it resolves to one.
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
    /// Component types accepted (`VEVENT`, `VTODO`, `VJOURNAL`).
    pub components: Vec<String>,
    /// `DAV:sync-token`; also the `getctag`. Changes whenever the calendar or an item in it does.
    pub sync_token: String,
    /// The calendar's CalDAV collection URL (path).
    pub dav_url: String,
    /// Madang writes this calendar itself (the birthday calendar): items and settings cannot be
    /// changed here or over CalDAV (403 `read_only`).
    pub read_only: bool,
}

impl Calendar {
    fn of(c: &Collection, owner: &str) -> Calendar {
        Calendar {
            id: c.slug.clone(),
            name: c.props.display_name.clone(),
            description: c.props.description.clone(),
            color: c.props.color.clone(),
            timezone: c
                .props
                .timezone
                .as_deref()
                .and_then(|t| madang_ical::timezone_from_vcalendar(t).ok())
                .map(|tz| tz.name().to_string()),
            components: c.props.components.clone(),
            sync_token: sync_token(c),
            dav_url: href::calendar_href(owner, &c.slug),
            read_only: super::write::check_writable(c).is_err(),
        }
    }
}

/// A calendar to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendar {
    /// The slug; generated from `name` when absent. Letters, digits, `.`, `_`, `-`.
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub color: Option<String>,
    /// An IANA zone name, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// Defaults to `["VEVENT", "VTODO"]`.
    pub components: Option<Vec<String>>,
}

/// Changes to a calendar: an absent field is left alone, `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarPatch {
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub color: Option<Option<String>>,
    /// An IANA zone name, or `null` for none.
    #[serde(deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub timezone: Option<Option<String>>,
    pub components: Option<Vec<String>>,
}

/// Tells a field that is `null` (`Some(None)`) from one that is absent (`None`, the default).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[utoipa::path(
    get, path = "/api/v1/calendars", tag = "calendars",
    responses((status = 200, description = "The user's calendars, by id", body = Vec<Calendar>)),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<Calendar>>, ApiError> {
    provision(&state, &principal.user).await?;
    let owner = principal.user.username.as_str();
    // The same listing as the CalDAV home, the birthday calendar brought in step first.
    let calendars =
        state.collections.home(&state.store, principal.user.id, CollectionKind::Calendar, state.clock.now()).await?;
    Ok(Json(calendars.iter().map(|(c, _)| Calendar::of(c, owner)).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 200, description = "The calendar", body = Calendar),
        (status = 404, description = "No such calendar of this user", body = super::openapi::ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Calendar>, ApiError> {
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    Ok(Json(Calendar::of(&cal, principal.user.username.as_str())))
}

#[utoipa::path(
    post, path = "/api/v1/calendars", tag = "calendars",
    request_body = NewCalendar,
    responses(
        (status = 201, description = "Created", body = Calendar),
        (status = 400, description = "Malformed JSON", body = super::openapi::ErrorBody),
        (status = 409, description = "A calendar with this id exists", body = super::openapi::ErrorBody),
        (status = 422, description = "Invalid field (unknown component, bad colour or zone)", body = super::openapi::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NewCalendar>,
) -> Result<impl IntoResponse, ApiError> {
    provision(&state, &principal.user).await?;
    let slug = match &body.id {
        Some(id) => parse_slug(id)?,
        None => slug_from_name(&body.name).unwrap_or_else(|| random_id(state.clock.now())),
    };
    let props = CollectionProps {
        display_name: Some(parse_display_name(&body.name)?).filter(|n| !n.is_empty()),
        description: optional_text(body.description.as_deref())?,
        color: body.color.as_deref().map(parse_color).transpose()?,
        timezone: body.timezone.as_deref().map(|tz| timezone_vcalendar(tz, state.clock.now())).transpose()?,
        components: parse_components(body.components.as_deref().unwrap_or(&["VEVENT".into(), "VTODO".into()]))?,
        ..Default::default()
    };
    let cal = state
        .store
        .create_collection(
            principal.user.id,
            (CollectionKind::Calendar, &slug),
            &props,
            &[],
            &state.collections.property_limits(),
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Calendar::of(&cal, principal.user.username.as_str()))))
}

#[utoipa::path(
    patch, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    request_body = CalendarPatch,
    responses(
        (status = 200, description = "The changed calendar", body = Calendar),
        (status = 400, description = "Malformed JSON", body = super::openapi::ErrorBody),
        (status = 403, description = "A read-only calendar (`read_only`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such calendar of this user", body = super::openapi::ErrorBody),
        (status = 422, description = "Invalid field", body = super::openapi::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<CalendarPatch>,
) -> Result<Json<Calendar>, ApiError> {
    let cal = writable_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let now = state.clock.now();
    let mut props = cal.props.clone();
    if let Some(name) = patch.name {
        props.display_name = name.map(|n| parse_display_name(&n)).transpose()?.filter(|n| !n.is_empty());
    }
    if let Some(description) = patch.description {
        props.description = optional_text(description.as_deref())?;
    }
    if let Some(color) = patch.color {
        props.color = color.as_deref().map(parse_color).transpose()?;
    }
    if let Some(tz) = patch.timezone {
        props.timezone = tz.as_deref().map(|tz| timezone_vcalendar(tz, now)).transpose()?;
    }
    if let Some(components) = patch.components {
        props.components = parse_components(&components)?;
    }
    let changes = PropertyChanges { live: Some(props), ..Default::default() };
    state.store.change_properties(cal.id, None, &changes, &state.collections.property_limits(), now).await?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    Ok(Json(Calendar::of(&cal, principal.user.username.as_str())))
}

#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 204, description = "Deleted, with everything in it"),
        (status = 403, description = "A read-only calendar (`read_only`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such calendar of this user", body = super::openapi::ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let cal = writable_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    state.store.delete_collection(cal.id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A slug given by the client: safe in a URL without escaping.
fn parse_slug(id: &str) -> Result<String, InvalidInput> {
    let id = id.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(InvalidInput(format!("invalid id `{id}`: use 1 to 64 letters, digits, `.`, `_` or `-`")))
    }
}

/// `Work Calendar` → `work-calendar`; `None` for a name without ASCII letters or digits.
pub(crate) fn slug_from_name(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { None } else { Some(slug) }
}

/// 16 random hex digits.
pub(crate) fn random_id(now: DateTime<Utc>) -> String {
    let mut bytes = [0u8; 8];
    // Without randomness, a time-based id is still unique enough for a slug.
    if getrandom::getrandom(&mut bytes).is_err() {
        bytes = now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn optional_text(text: Option<&str>) -> Result<Option<String>, InvalidInput> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.len() > 10_000 || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(InvalidInput("description: at most 10000 bytes, no control characters".into()));
    }
    Ok(Some(text.to_string()))
}

pub(crate) fn parse_color(color: &str) -> Result<String, InvalidInput> {
    let c = color.trim();
    let hex = c.strip_prefix('#').unwrap_or_default();
    if (hex.len() == 6 || hex.len() == 8) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_uppercase()))
    } else {
        Err(InvalidInput(format!("invalid color `{c}`: expected #RRGGBB or #RRGGBBAA")))
    }
}

fn parse_components(components: &[String]) -> Result<Vec<String>, InvalidInput> {
    let mut out: Vec<String> = Vec::new();
    for c in components {
        let name = c.trim().to_ascii_uppercase();
        if !COMPONENTS.contains(&name.as_str()) {
            return Err(InvalidInput(format!("unknown component `{c}`: expected VEVENT, VTODO or VJOURNAL")));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(InvalidInput("components: name at least one of VEVENT, VTODO, VJOURNAL".into()));
    }
    Ok(out)
}

/// `CALDAV:calendar-timezone` (RFC 4791 §5.2.2) for an IANA name: a VCALENDAR whose VTIMEZONE
/// has that TZID, which is how clients (and `timezone_from_vcalendar`) recognise the zone. The
/// STANDARD part carries the zone's January offset so the component is well-formed (RFC 5545
/// §3.6.5); clients resolve IANA TZIDs by name rather than by these rules.
fn timezone_vcalendar(name: &str, now: DateTime<Utc>) -> Result<String, InvalidInput> {
    let tz = madang_ical::resolve_tzid(name)
        .ok_or_else(|| InvalidInput(format!("unknown time zone `{name}`: use an IANA name such as Europe/Berlin")))?;
    let january = tz.with_ymd_and_hms(now.year(), 1, 15, 12, 0, 0).single().map(|t| t.offset().fix());
    let secs = january.map_or(0, |o| o.local_minus_utc());
    let sign = if secs < 0 { '-' } else { '+' };
    let offset = format!("{sign}{:02}{:02}", secs.abs() / 3600, secs.abs() % 3600 / 60);
    let id = tz.name();
    Ok(format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang//JSON API//EN\r\nBEGIN:VTIMEZONE\r\nTZID:{id}\r\n\
         X-LIC-LOCATION:{id}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:{offset}\r\n\
         TZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_names() {
        assert_eq!(slug_from_name("Work Calendar!").as_deref(), Some("work-calendar"));
        assert_eq!(slug_from_name("  Family -- 2025 ").as_deref(), Some("family-2025"));
        assert_eq!(slug_from_name("가족"), None);
        assert!(parse_slug("../x").is_err());
        assert!(parse_slug("ok_id-1").is_ok());
    }

    #[test]
    fn timezone_text_resolves_back_to_its_name() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        for name in ["Europe/Berlin", "America/New_York", "Asia/Seoul", "UTC"] {
            let text = timezone_vcalendar(name, now).unwrap();
            let tz = madang_ical::timezone_from_vcalendar(&text).unwrap();
            assert_eq!(tz.name(), name, "{text}");
        }
        assert!(timezone_vcalendar("Mars/Olympus", now).is_err());
    }
}
