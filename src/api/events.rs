//! `/api/v1/calendars/{id}/…`: events and tasks as JSON (list, read, write, instances), iCalendar import and export; CalDAV sees the same objects.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use madang_ical::{CalendarObject, ComponentKind, EvalContext, ExpandError, parse_object};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::event_model::{
    EventFields, ItemKind, When, ZoneNames, calendar_from_fields, component_from_fields, fields_from_calendar,
    fields_from_component, master, overrides, sequence_of,
};
use super::ics;
use super::openapi::ErrorBody;
use super::series::{self, OccurrenceId, Original, Scope};
use super::write::{self, IfMissing, Kind, Preconditions, store_error};
use super::{invalid, own_collection};
use crate::app::state::AppState;
use crate::collections::href;
use crate::domain::User;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::dav::{Collection, CollectionKind, StoredObject};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The widest window `instances` expands; with `dav.max_instances` it bounds the work.
const MAX_WINDOW_DAYS: i64 = 366;

/// A stored event, task or journal entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// The iCalendar UID; the item's id in URLs.
    pub uid: String,
    /// The stored object's ETag; send it as `If-Match` to update safely.
    pub etag: String,
    /// The object's CalDAV URL (path).
    pub dav_url: String,
    #[serde(flatten)]
    pub fields: EventFields,
    /// `SEQUENCE` (RFC 5545 §3.8.7.4): raised by every significant change (RFC 5546 §2.1.4).
    pub sequence: u32,
    /// `LAST-MODIFIED`, UTC (RFC 3339); absent when the stored item has none.
    #[schema(example = "2024-05-01T08:00:00Z")]
    pub last_modified: Option<String>,
    /// Recurrence ids of instances changed by a client (components with RECURRENCE-ID). The
    /// JSON model edits the series; these overrides are kept as they are.
    pub overrides: Vec<When>,
}

impl super::Versioned for Event {
    fn etag(&self) -> &str {
        &self.etag
    }
}

/// An item to write. `uid` is optional when creating (one is generated) and must match the URL
/// when replacing; `etag`, `dav_url` and `overrides` of an `Event` read earlier are ignored, so
/// a read item can be edited and sent back as is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventInput {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(flatten)]
    pub fields: EventFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<Event>,
    /// How many items matched, over every page.
    pub total: usize,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only items with an occurrence at or after this time (RFC 3339, or a date `2024-05-01`
    /// meaning midnight UTC). Needs `end`.
    pub start: Option<String>,
    /// Only items with an occurrence before this time. Needs `start`.
    pub end: Option<String>,
    /// At most this many items per page (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceParams {
    /// Window start: RFC 3339 (`2024-05-01T00:00:00Z`), or a date or local date-time in `tz`.
    pub start: String,
    /// Window end (exclusive); at most 366 days after `start`.
    pub end: String,
    /// IANA zone: floating and all-day times are placed in it and each instance is also given
    /// in it (`start_local`, `end_local`). Default: the calendar's zone, else UTC.
    pub tz: Option<String>,
}

/// One occurrence of an event or dated task, overrides applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct Instance {
    pub uid: String,
    pub kind: ItemKind,
    /// The original start (UTC) of this instance of a recurring series; absent for single items.
    pub recurrence_id: Option<String>,
    /// UTC, RFC 3339.
    #[schema(example = "2024-05-06T07:00:00Z")]
    pub start: String,
    /// UTC, RFC 3339. Equal to `start` for an instant (a task placed at its due time).
    pub end: String,
    /// `start` in `tz`, with its offset; only when `tz` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2024-05-06T09:00:00+02:00")]
    pub start_local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_local: Option<String>,
    pub all_day: bool,
    pub summary: Option<String>,
    /// The occurrence's own fields when it was changed on its own (an override, a component
    /// with RECURRENCE-ID); `null` for occurrences that follow the series.
    #[serde(rename = "override")]
    pub override_fields: Option<EventFields>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceList {
    /// Sorted by start.
    pub instances: Vec<Instance>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarImportReport {
    /// Objects stored (one per UID).
    pub accepted: usize,
    pub rejected: Vec<RejectedItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedItem {
    /// The UID of the refused object; absent for a component without UID.
    pub uid: Option<String>,
    pub reason: String,
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/events", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)"), ListParams),
    responses(
        (status = 200, description = "The calendar's items (with a window: those occurring in it)", body = EventList),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 404, description = "No such calendar of this user", body = ErrorBody),
        (status = 422, description = "Bad window (unparseable, only one end, or end before start), or a cursor this server did not hand out", body = ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let window = match (params.start.as_deref(), params.end.as_deref()) {
        (None, None) => None,
        (Some(s), Some(e)) => Some(window(s, e, chrono_tz::UTC)?),
        _ => return Err(invalid("give both start and end, or neither")),
    };
    let (lo, hi) = window.map_or((None, None), |(s, e)| (Some(s.timestamp()), Some(e.timestamp())));
    let objects = state.store.objects_overlapping(cal.id, None, lo, hi).await?;
    let ctx = eval_context(&state, &cal, None);
    // Items come in resource-name order; the cursor is the last name sent.
    let after: Option<String> = super::cursor::decode(params.cursor.as_deref())?;
    let mut events = Vec::new();
    let mut names = Vec::new();
    for object in &objects {
        // An object that no longer parses (stored before a parser change) is skipped, not fatal.
        let Ok(parsed) = parse_object(&object.data) else { continue };
        if let Some((s, e)) = window {
            // The store's range is a superset; journals have no occurrences, so their range decides.
            let occurs = parsed.kind() == ComponentKind::Journal
                || match parsed.occurrences(s, e, &ctx) {
                    Ok(list) => !list.is_empty(),
                    Err(_) => true,
                };
            if !occurs {
                continue;
            }
        }
        if let Ok(event) = event_of(&principal.user, &cal, object) {
            events.push(event);
            names.push(object.name.clone());
        }
    }
    let total = events.len();
    let skip = after.map_or(0, |a| names.iter().take_while(|n| **n <= a).count());
    let mut page: Vec<Event> = events.into_iter().skip(skip).take(limit + 1).collect();
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        names.get(skip + limit - 1).map(super::cursor::encode)
    } else {
        None
    };
    Ok(Json(EventList { events: page, total, next_cursor }))
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/events/{uid}", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)"), ("uid" = String, Path, description = "Item UID")),
    responses(
        (status = 200, description = "The item; the `ETag` header is its version", body = Event),
        (status = 404, description = "No such calendar or item", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let object = state.store.object_by_uid(cal.id, &uid).await?.ok_or_else(|| ApiError::not_found("no such event"))?;
    Ok(super::with_etag(StatusCode::OK, event_of(&principal.user, &cal, &object)?))
}

#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/events", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    request_body = EventInput,
    responses(
        (status = 201, description = "Created; stored as an iCalendar object named `<uid>.ics`", body = Event),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such calendar", body = ErrorBody),
        (status = 409, description = "An item with this UID exists", body = ErrorBody),
        (status = 413, description = "Larger than the server's max_resource_size", body = ErrorBody),
        (status = 422, description = "Invalid field, or a kind the calendar does not accept", body = ErrorBody),
        (status = 507, description = "Storage quota exceeded", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EventInput>,
) -> Result<Response, ApiError> {
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let now = state.clock.now();
    let uid = match body.uid.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(uid) => super::parse_uid(uid)?,
        None => super::new_uid(now),
    };
    let text = calendar_from_fields(&uid, &body.fields, None, now)?;
    let object = write::create(&state, &cal, Kind::Calendar, &uid, &text).await?;
    Ok(super::with_etag(StatusCode::CREATED, event_of(&principal.user, &cal, &object)?))
}

#[utoipa::path(
    put, path = "/api/v1/calendars/{id}/events/{uid}", tag = "events",
    params(
        ("id" = String, Path, description = "Calendar id (slug)"),
        ("uid" = String, Path, description = "Item UID"),
        ("If-Match" = Option<String>, Header, description = "Replace only if the stored ETag is this one"),
    ),
    request_body = EventInput,
    responses(
        (status = 200, description = "Replaced; properties, alarms' extras and overrides the model does not know were kept", body = Event),
        (status = 201, description = "Created", body = Event),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such calendar", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the stored ETag", body = ErrorBody),
        (status = 413, description = "Larger than the server's max_resource_size", body = ErrorBody),
        (status = 422, description = "Invalid field, a changed kind, or a body UID that differs from the URL's", body = ErrorBody),
        (status = 507, description = "Storage quota exceeded", body = ErrorBody),
    ),
)]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventInput>,
) -> Result<Response, ApiError> {
    let conditions = Preconditions::from_headers(&headers)?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let uid = super::parse_uid(&uid)?;
    if body.uid.as_deref().is_some_and(|u| u.trim() != uid) {
        return Err(invalid("the body's uid differs from the URL's"));
    }
    let now = state.clock.now();
    let written = write::update(&state, &cal, Kind::Calendar, &uid, &conditions, IfMissing::Create, |stored| {
        let old = stored.map(stored_calendar).transpose()?;
        Ok(calendar_from_fields(&uid, &body.fields, old.as_ref(), now)?)
    })
    .await?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(super::with_etag(status, event_of(&principal.user, &cal, &written.object)?))
}

#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}/events/{uid}", tag = "events",
    params(
        ("id" = String, Path, description = "Calendar id (slug)"),
        ("uid" = String, Path, description = "Item UID"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the stored ETag is this one"),
    ),
    responses(
        (status = 204, description = "Deleted, with its overrides"),
        (status = 400, description = "Malformed path or If-Match header", body = ErrorBody),
        (status = 404, description = "No such calendar or item", body = ErrorBody),
        (status = 412, description = "If-Match did not match the stored ETag", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let conditions = Preconditions::from_headers(&headers)?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    write::delete(&state, &cal, Kind::Calendar, &uid, conditions).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccurrenceParams {
    /// `this` (the default): only this occurrence; `following`: this one and every later one.
    pub scope: Option<Scope>,
}

#[utoipa::path(
    put, path = "/api/v1/calendars/{id}/events/{uid}/occurrences/{recurrence_id}", tag = "events",
    params(
        ("id" = String, Path, description = "Calendar id (slug)"),
        ("uid" = String, Path, description = "The series' UID"),
        ("recurrence_id" = String, Path, description = "The occurrence's original start: RFC 3339 (`2024-05-13T07:00:00Z`), a date for all-day series, or a local time in the series' zone"),
        OccurrenceParams,
        ("If-Match" = Option<String>, Header, description = "Change only if the series' stored ETag is this one"),
    ),
    request_body = EventInput,
    responses(
        (status = 200, description = "`scope=this`: the series, with the occurrence's override written (RECURRENCE-ID). `scope=following` at the first occurrence: the whole series changed", body = Event),
        (status = 201, description = "`scope=following`: the series was split; this is the new item holding this occurrence and the later ones (header `X-Previous-ETag`: the old series' new ETag)", body = Event),
        (status = 400, description = "Malformed JSON, query or If-Match header", body = ErrorBody),
        (status = 404, description = "No such calendar or item, or no occurrence at this time", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the series' stored ETag", body = ErrorBody),
        (status = 422, description = "Invalid field, a `recurrence` with `scope=this`, or an item that does not recur", body = ErrorBody),
    ),
)]
pub async fn edit_occurrence(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid, recurrence_id)): ApiPath<(String, String, String)>,
    params: Result<Query<OccurrenceParams>, QueryRejection>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventInput>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let conditions = Preconditions::from_headers(&headers)?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let occurrence = Occurrence::find(&state, &cal, &uid, &recurrence_id, &conditions).await?;
    let Occurrence { stored, vcal, rid, original, floating } = occurrence;
    let now = state.clock.now();
    if params.scope.unwrap_or(Scope::This) == Scope::This {
        let mut changed = vcal;
        series::edit_this(&mut changed, &uid, &rid, &original, &body.fields, floating, now)?;
        let object =
            write::commit(&state, &cal, Kind::Calendar, &stored.name, &changed.to_text(), Some(stored.etag.clone()))
                .await?;
        return Ok(super::with_etag(StatusCode::OK, event_of(&principal.user, &cal, &object)?));
    }
    let mut old = vcal.clone();
    if !series::truncate(&mut old, &rid, floating, now) {
        // The first occurrence: "this and following" is the whole series.
        let text = calendar_from_fields(&uid, &body.fields, Some(&vcal), now)?;
        let object =
            write::commit(&state, &cal, Kind::Calendar, &stored.name, &text, Some(stored.etag.clone())).await?;
        return Ok(super::with_etag(StatusCode::OK, event_of(&principal.user, &cal, &object)?));
    }
    let new_uid = super::new_uid(now);
    let mut fields = body.fields.clone();
    inherit_rule(&state, &cal, &vcal, &rid, &mut fields)?;
    let zones = ZoneNames::of(Some(&vcal));
    let new_master = component_from_fields(&new_uid, &fields, master(&vcal), &zones, now)?;
    let shift = series::shift_of(&new_master, &rid);
    let second = series::second_half(&vcal, new_master, &new_uid, &rid, shift, floating, now);
    series::link_next(&mut old, &new_uid);
    // Two members change: the new half is created first, then the old half is cut back only if
    // it is still the one read. If that fails, the new half is removed again, so a concurrent
    // edit never leaves the occurrences twice.
    let created = write::create(&state, &cal, Kind::Calendar, &new_uid, &second.to_text()).await?;
    let cut =
        write::commit(&state, &cal, Kind::Calendar, &stored.name, &old.to_text(), Some(stored.etag.clone())).await;
    let previous = match cut {
        Ok(previous) => previous,
        Err(e) => {
            let any = Box::new(|_: Option<&str>| true);
            if let Err(undo) = state.store.delete_object(cal.id, &created.name, any, now).await {
                tracing::error!(error = %undo, name = %created.name, "could not remove the new half of a failed split");
            }
            return Err(e);
        }
    };
    let mut response = super::with_etag(StatusCode::CREATED, event_of(&principal.user, &cal, &created)?);
    if let Ok(v) = HeaderValue::from_str(&previous.etag) {
        response.headers_mut().insert("x-previous-etag", v);
    }
    Ok(response)
}

#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}/events/{uid}/occurrences/{recurrence_id}", tag = "events",
    params(
        ("id" = String, Path, description = "Calendar id (slug)"),
        ("uid" = String, Path, description = "The series' UID"),
        ("recurrence_id" = String, Path, description = "The occurrence's original start: RFC 3339 (`2024-05-13T07:00:00Z`), a date for all-day series, or a local time in the series' zone"),
        OccurrenceParams,
        ("If-Match" = Option<String>, Header, description = "Change only if the series' stored ETag is this one"),
    ),
    responses(
        (status = 200, description = "The series without the occurrence (`scope=this`: an EXDATE, its override removed) or without it and the later ones (`scope=following`: UNTIL just before it)", body = Event),
        (status = 204, description = "`scope=following` at the first occurrence: the whole item was deleted"),
        (status = 400, description = "Malformed query or If-Match header", body = ErrorBody),
        (status = 404, description = "No such calendar or item, or no occurrence at this time", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the series' stored ETag", body = ErrorBody),
        (status = 422, description = "The item does not recur", body = ErrorBody),
    ),
)]
pub async fn remove_occurrence(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid, recurrence_id)): ApiPath<(String, String, String)>,
    params: Result<Query<OccurrenceParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let conditions = Preconditions::from_headers(&headers)?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let Occurrence { stored, mut vcal, rid, floating, .. } =
        Occurrence::find(&state, &cal, &uid, &recurrence_id, &conditions).await?;
    let now = state.clock.now();
    let whole_item_goes = match params.scope.unwrap_or(Scope::This) {
        Scope::This => {
            series::delete_this(&mut vcal, &rid, floating, now);
            false
        }
        Scope::Following => !series::truncate(&mut vcal, &rid, floating, now),
    };
    if whole_item_goes {
        let read = stored.etag.clone();
        let unchanged = Preconditions::matching(&read);
        write::delete(&state, &cal, Kind::Calendar, &uid, unchanged).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let object = write::commit(&state, &cal, Kind::Calendar, &stored.name, &vcal.to_text(), Some(stored.etag)).await?;
    Ok(super::with_etag(StatusCode::OK, event_of(&principal.user, &cal, &object)?))
}

/// An occurrence named in a URL, checked against the stored series.
struct Occurrence {
    stored: StoredObject,
    vcal: ics::Component,
    rid: OccurrenceId,
    original: Original,
    floating: chrono_tz::Tz,
}

impl Occurrence {
    /// The series (after the client's conditions, 412), the occurrence's id in the series' own
    /// form, and where it was before the edit. 404 when the series has no occurrence there, 422
    /// when it does not recur.
    async fn find(
        state: &AppState,
        cal: &Collection,
        uid: &str,
        recurrence_id: &str,
        conditions: &Preconditions,
    ) -> Result<Occurrence, ApiError> {
        let stored =
            write::read(state, cal, uid, conditions).await?.ok_or_else(|| ApiError::not_found("no such item"))?;
        let vcal = stored_calendar(&stored)?;
        let ctx = eval_context(state, cal, None);
        let floating = ctx.floating_tz;
        let m = master(&vcal).ok_or_else(|| invalid("the item has no component"))?;
        if m.prop("RRULE").is_none() && m.prop("RDATE").is_none() {
            return Err(invalid("this item does not recur; change it with PUT …/events/{uid}"));
        }
        let rid = OccurrenceId::parse(recurrence_id, m, floating)?;
        let no_such = || ApiError::not_found(format!("the series has no occurrence at {recurrence_id}"));
        // An override may have moved the occurrence anywhere: then it is where the override says.
        let moved =
            vcal.children.iter().filter(|c| ics::is_item(c)).find(|c| {
                c.prop("RECURRENCE-ID").and_then(|r| series::instant_of(r, &r.value, floating)) == Some(rid.utc)
            });
        let original = match moved {
            Some(o) => {
                let at = |name: &str| o.prop(name).and_then(|p| series::instant_of(p, &p.value, floating));
                let start = at("DTSTART").unwrap_or(rid.utc);
                Original { start, end: at("DTEND").or(at("DUE")).unwrap_or(start) }
            }
            None => {
                let parsed = parse_object(&stored.data).map_err(invalid)?;
                let list = parsed.occurrences(rid.utc, rid.utc + TimeDelta::seconds(1), &ctx).map_err(invalid)?;
                let o = list.into_iter().find(|o| o.recurrence_id == Some(rid.utc)).ok_or_else(no_such)?;
                Original { start: o.start, end: o.end }
            }
        };
        Ok(Occurrence { stored, vcal, rid, original, floating })
    }
}

/// A split's new half keeps the old rule when the client sent it back unchanged: its COUNT then
/// counts what is left after the split (RFC 5545 §3.3.10: COUNT counts every instance the rule
/// makes, EXDATEs included, so the instances before the split are expanded and counted).
fn inherit_rule(
    state: &AppState,
    cal: &Collection,
    vcal: &ics::Component,
    rid: &OccurrenceId,
    fields: &mut EventFields,
) -> Result<(), ApiError> {
    let Some(rule) = series::rule_of(vcal) else { return Ok(()) };
    let sent = fields.recurrence.as_ref().and_then(|r| r.rrule.as_deref()).map(str::trim).unwrap_or_default();
    if !sent.eq_ignore_ascii_case(&rule) {
        return Ok(());
    }
    let Some(count) = series::count_of(&rule) else { return Ok(()) };
    // The series with nothing but its start and rule, expanded up to the split.
    let mut bare = vcal.clone();
    bare.children.retain(|c| !ics::is_item(c) || c.prop("RECURRENCE-ID").is_none());
    for c in bare.children.iter_mut().filter(|c| ics::is_item(c)) {
        c.props.retain(|p| !matches!(p.name.as_str(), "EXDATE" | "RDATE"));
    }
    let parsed = parse_object(&bare.to_text()).map_err(invalid)?;
    let ctx = eval_context(state, cal, None);
    let first = master(&bare)
        .and_then(|m| m.prop("DTSTART"))
        .and_then(|p| series::instant_of(p, &p.value, ctx.floating_tz))
        .unwrap_or(rid.utc);
    let before = parsed.occurrences(first, rid.utc, &ctx).map_err(invalid)?.len() as u64;
    let left = count.saturating_sub(before).max(1);
    if let Some(r) = fields.recurrence.as_mut() {
        r.rrule = Some(series::with_count(&rule, left));
    }
    Ok(())
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/instances", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)"), InstanceParams),
    responses(
        (status = 200, description = "Occurrences of events and dated tasks in the window, overrides applied", body = InstanceList),
        (status = 400, description = "Missing or malformed query parameter", body = ErrorBody),
        (status = 404, description = "No such calendar", body = ErrorBody),
        (status = 422, description = "Bad window (unparseable, end before start, wider than 366 days), unknown tz, or more instances than the server's dav.max_instances", body = ErrorBody),
    ),
)]
pub async fn instances(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    params: Result<Query<InstanceParams>, QueryRejection>,
) -> Result<Json<InstanceList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let tz = match params.tz.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(name) => {
            Some(madang_ical::resolve_tzid(name).ok_or_else(|| invalid(format!("tz: unknown time zone `{name}`")))?)
        }
        None => None,
    };
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let ctx = eval_context(&state, &cal, tz);
    let (start, end) = window(&params.start, &params.end, ctx.floating_tz)?;
    if end - start > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(invalid(format!("the window is wider than {MAX_WINDOW_DAYS} days; ask for a shorter one")));
    }
    let objects = state.store.objects_overlapping(cal.id, None, Some(start.timestamp()), Some(end.timestamp())).await?;
    let max = ctx.limits.max_instances;
    let too_many = || {
        invalid(format!(
            "more than {max} instances in this window (the server's dav.max_instances); ask for a shorter window"
        ))
    };
    let mut out = Vec::new();
    for object in &objects {
        let Ok(parsed) = parse_object(&object.data) else { continue };
        let list = parsed.occurrences(start, end, &ctx).map_err(|e| match e {
            ExpandError::TooManyInstances { .. } => too_many(),
            other => invalid(other),
        })?;
        if out.len() + list.len() > max {
            return Err(too_many());
        }
        let changed = override_fields(object, ctx.floating_tz);
        out.extend(list.into_iter().map(|o| {
            let own = o.recurrence_id.and_then(|r| changed.iter().find(|(t, _)| *t == r)).map(|(_, f)| f.clone());
            instance(&parsed, o, tz, own)
        }));
    }
    out.sort_by(|a, b| (&a.start, &a.end, &a.uid).cmp(&(&b.start, &b.end, &b.uid)));
    Ok(Json(InstanceList { instances: out }))
}

#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/import", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    request_body(content = String, content_type = "text/calendar", description = "One or more VCALENDARs with any number of events, tasks or journal entries"),
    responses(
        (status = 200, description = "One object stored per UID (master and overrides together, with the VTIMEZONEs they use); an item whose UID is stored replaces it", body = CalendarImportReport),
        (status = 404, description = "No such calendar", body = ErrorBody),
        (status = 415, description = "Not text/calendar", body = ErrorBody),
        (status = 422, description = "The body is not UTF-8 or not iCalendar", body = ErrorBody),
    ),
)]
pub async fn import(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CalendarImportReport>, ApiError> {
    super::require_media_type(&headers, &["text/calendar"], "send the calendar as text/calendar")?;
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    std::str::from_utf8(&body).map_err(|_| invalid("the body is not UTF-8"))?;
    // A calendar file may be as large as `server.max_body_size`: splitting it is CPU work that
    // would hold an async worker (and every request queued on it), so it runs on the blocking
    // pool (issue 19).
    let items = tokio::task::spawn_blocking(move || ics::split(std::str::from_utf8(&body).unwrap_or_default()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(invalid)?;
    let mut report = CalendarImportReport { accepted: 0, rejected: Vec::new() };
    for item in items {
        match item {
            Ok((uid, object)) => match import_one(&state, &cal, &uid, &object).await {
                Ok(()) => report.accepted += 1,
                Err(reason) => report.rejected.push(RejectedItem { uid: Some(uid), reason }),
            },
            Err((uid, reason)) => report.rejected.push(RejectedItem { uid, reason }),
        }
    }
    Ok(Json(report))
}

/// Stores one object of an import; an object whose UID is already stored is replaced.
async fn import_one(state: &AppState, cal: &Collection, uid: &str, text: &str) -> Result<(), String> {
    let name = match state.store.object_by_uid(cal.id, uid).await {
        Ok(Some(existing)) => existing.name,
        Ok(None) => super::resource_name("ics", uid),
        Err(e) => return Err(store_error(e).message),
    };
    let any = Box::new(|_: Option<&str>| true);
    write::store_text(state, cal, Kind::Calendar, &name, text, any).await.map(|_| ()).map_err(|e| e.message)
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/export", tag = "events",
    params(("id" = String, Path, description = "Calendar id (slug)")),
    responses(
        (status = 200, description = "Every object's components in one VCALENDAR, each VTIMEZONE once", content_type = "text/calendar", body = String),
        (status = 404, description = "No such calendar", body = ErrorBody),
        (status = 507, description = "Over `dav.max_export_items` or `dav.max_export_size`", body = ErrorBody),
    ),
)]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let cal = own_collection(&state, &principal.user, CollectionKind::Calendar, &id).await?;
    let text = super::export_document(&state, &cal).await?;
    Ok(super::attachment("text/calendar; charset=utf-8", &format!("{}.ics", cal.slug), text))
}

/// Floating and all-day times in `tz`, else the calendar's zone, else UTC; the server's limits.
fn eval_context(state: &AppState, cal: &Collection, tz: Option<chrono_tz::Tz>) -> EvalContext {
    let floating_tz = tz
        .or_else(|| cal.props.timezone.as_deref().and_then(|t| madang_ical::timezone_from_vcalendar(t).ok()))
        .unwrap_or(chrono_tz::UTC);
    EvalContext { floating_tz, limits: state.collections.limits() }
}

/// `[start, end)` from query values; a date or a date-time without offset is in `tz`.
fn window(start: &str, end: &str, tz: chrono_tz::Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let s = instant("start", start, tz)?;
    let e = instant("end", end, tz)?;
    if e <= s {
        return Err(invalid("end: must be after start"));
    }
    Ok((s, e))
}

fn instant(field: &str, value: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, ApiError> {
    let v = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
        .map_err(|_| invalid(format!("{field}: `{v}` is not a date-time like 2024-05-01T00:00:00Z or a date")))?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| invalid(format!("{field}: `{v}` does not exist in {}", tz.name())))
}

/// The fields of each override of a stored object, by the instant of its RECURRENCE-ID.
fn override_fields(object: &StoredObject, floating: chrono_tz::Tz) -> Vec<(DateTime<Utc>, EventFields)> {
    let Ok(vcal) = ics::parse_vcalendar(&object.data) else { return Vec::new() };
    vcal.children
        .iter()
        .filter(|c| ics::is_item(c))
        .filter_map(|c| {
            let r = c.prop("RECURRENCE-ID")?;
            let at = series::instant_of(r, &r.value, floating)?;
            Some((at, fields_from_component(c)))
        })
        .collect()
}

fn instance(
    object: &CalendarObject,
    o: madang_ical::Occurrence,
    tz: Option<chrono_tz::Tz>,
    override_fields: Option<EventFields>,
) -> Instance {
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let local = |t: DateTime<Utc>| tz.map(|z| t.with_timezone(&z).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Instance {
        uid: object.uid().to_string(),
        kind: if o.kind == ComponentKind::Todo { ItemKind::Task } else { ItemKind::Event },
        recurrence_id: o.recurrence_id.map(utc),
        start: utc(o.start),
        end: utc(o.end),
        start_local: local(o.start),
        end_local: local(o.end),
        all_day: o.all_day,
        summary: o.summary,
        override_fields,
    }
}

fn stored_calendar(object: &StoredObject) -> Result<ics::Component, ApiError> {
    ics::parse_vcalendar(&object.data).map_err(|e| {
        tracing::error!(name = %object.name, error = %e, "stored calendar object does not parse");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the stored item cannot be read")
    })
}

fn event_of(user: &User, cal: &Collection, object: &StoredObject) -> Result<Event, ApiError> {
    let vcal = stored_calendar(object)?;
    let m = master(&vcal);
    Ok(Event {
        uid: object.uid.clone(),
        etag: object.etag.clone(),
        dav_url: href::object_href(user.username.as_str(), &cal.slug, &object.name),
        fields: fields_from_calendar(&vcal),
        sequence: m.map(sequence_of).unwrap_or(0),
        last_modified: m
            .and_then(|m| m.prop("LAST-MODIFIED"))
            .and_then(|p| NaiveDateTime::parse_from_str(p.value.trim().trim_end_matches('Z'), "%Y%m%dT%H%M%S").ok())
            .map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        overrides: overrides(&vcal),
    })
}
