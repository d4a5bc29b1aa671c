//! The JSON API's one write path for collection members: conditions, merge with the stored object, validation, compare-and-set, and the 412/409 answers.
//!
//! Every JSON write of an event, task or contact (and, next, of chat and mail items stored the
//! same way) has the same shape:
//!
//! 1. read the stored member by UID and check the client's `If-Match` / `If-None-Match`
//!    against its ETag — a mismatch is the client's stale read: **412**, naming the current
//!    ETag so it can re-read ([`read`]);
//! 2. merge the JSON with the stored object (the caller's closure: only it knows the model);
//! 3. validate the text exactly as a CalDAV/CardDAV PUT would ([`Kind`]);
//! 4. write it only if the member is still the one read in step 1 — a mismatch now is a
//!    concurrent writer, not the client's fault: **409**, retry ([`commit`]).
//!
//! Handlers call [`create`], [`update`] or [`delete`]; a write of two members (an event series
//! split in two) uses [`read`] and [`commit`] directly.

use crate::collections::access::Access;
use axum::http::{HeaderMap, StatusCode};
use madang_dav::headers::WriteConditions;

use super::invalid;
use crate::app::state::AppState;
use crate::collections::{VCARD, etag_of};
use crate::http::error::ApiError;
use crate::store::StoreError;
use crate::store::dav::{Collection, NewObject, StoredObject, WriteCondition};

/// What kind of member a collection holds, which decides how its text is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An iCalendar object resource (RFC 4791 §4.1): one UID, its overrides, its zones.
    Calendar,
    /// A vCard (RFC 6352 §5.1).
    Card,
}

impl Kind {
    /// The resource name's extension for members made here.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Calendar => "ics",
            Kind::Card => "vcf",
        }
    }

    /// The word for one member in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Calendar => "item",
            Kind::Card => "contact",
        }
    }
}

/// `If-Match` / `If-None-Match` of a write, checked against the stored ETag; the same
/// evaluation as DAV's (`madang_dav::headers::WriteConditions`).
pub(crate) struct Preconditions(WriteConditions);

impl Preconditions {
    pub fn from_headers(headers: &HeaderMap) -> Result<Preconditions, ApiError> {
        let text =
            |name: &str| -> Result<Option<&str>, ApiError> {
                headers.get(name).map(|v| v.to_str()).transpose().map_err(|_| {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_header", format!("malformed {name} header"))
                })
            };
        WriteConditions::parse(text("if-match")?, text("if-none-match")?)
            .map(Preconditions)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_header", e.to_string()))
    }

    /// Only if the member's ETag is still `etag` (a follow-up write to a member just read).
    pub fn matching(etag: &str) -> Preconditions {
        Preconditions(WriteConditions {
            if_match: madang_dav::headers::ETagList::parse(etag).ok(),
            if_none_match: None,
        })
    }

    pub fn allow(&self, current: Option<&str>) -> bool {
        self.0.allow(current)
    }
}

/// 412 for a failed `If-Match`, naming the current ETag (in `details` and the `ETag` header)
/// so the client can re-read and retry; `None` when the member is gone.
pub(crate) fn stale(current: Option<&str>) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "the resource changed since you read it (If-Match); read it again",
    )
    .with_details(serde_json::json!({ "current_etag": current }))
    .with_etag(current)
}

/// Store errors in API words.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::PreconditionFailed => stale(None),
        StoreError::UidConflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", "another item in this collection has the same UID")
        }
        StoreError::QuotaExceeded => {
            ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded", "storage quota exceeded")
        }
        other => other.into(),
    }
}

fn concurrent(kind: Kind) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("the {} changed while it was being written; retry", kind.noun()),
    )
}

/// Step 1: the stored member with this UID (or `None`), once the client's conditions accept
/// its ETag; 412 otherwise.
pub(crate) async fn read(
    state: &AppState,
    coll: &Collection,
    uid: &str,
    conditions: &Preconditions,
) -> Result<Option<StoredObject>, ApiError> {
    let stored = state.store.object_by_uid(coll.id, uid).await?;
    let etag = stored.as_ref().map(|o| o.etag.as_str());
    if !conditions.allow(etag) {
        return Err(stale(etag));
    }
    Ok(stored)
}

/// Step 4: writes `text` as member `name` if the member's ETag is still `read_etag` (`None`:
/// if there is no such member yet); 409 when another writer came first.
pub(crate) async fn commit(
    state: &AppState,
    coll: &Collection,
    kind: Kind,
    name: &str,
    text: &str,
    read_etag: Option<String>,
) -> Result<StoredObject, ApiError> {
    let unchanged = Box::new(move |current: Option<&str>| current == read_etag.as_deref());
    store_text(state, coll, kind, name, text, unchanged).await.map_err(|e| match e.status {
        StatusCode::PRECONDITION_FAILED => concurrent(kind),
        _ => e,
    })
}

/// A new member with this UID: 409 if the UID is taken.
pub(crate) async fn create(
    state: &AppState,
    coll: &Collection,
    kind: Kind,
    uid: &str,
    text: &str,
) -> Result<StoredObject, ApiError> {
    if state.store.object_by_uid(coll.id, uid).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a {} with this UID exists; PUT to change it", kind.noun()),
        ));
    }
    let name = super::resource_name(kind.extension(), uid);
    let absent = Box::new(|current: Option<&str>| current.is_none());
    store_text(state, coll, kind, &name, text, absent).await.map_err(|e| match e.status {
        StatusCode::PRECONDITION_FAILED => {
            ApiError::new(StatusCode::CONFLICT, "conflict", format!("a {} with this resource name exists", kind.noun()))
        }
        _ => e,
    })
}

/// What [`update`] does when no member has the UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMissing {
    /// `PUT` creates it (the merge gets `None`).
    Create,
    /// 404: the write only makes sense on an existing member.
    NotFound,
}

/// The result of [`update`]: the stored member, and whether it was created.
pub(crate) struct Written {
    pub object: StoredObject,
    pub created: bool,
}

/// Read, check the client's conditions, merge (`merge` gets the stored member and returns the
/// new text), then compare-and-set against what was read.
pub(crate) async fn update<F>(
    state: &AppState,
    coll: &Collection,
    kind: Kind,
    uid: &str,
    conditions: &Preconditions,
    if_missing: IfMissing,
    merge: F,
) -> Result<Written, ApiError>
where
    F: FnOnce(Option<&StoredObject>) -> Result<String, ApiError>,
{
    let stored = read(state, coll, uid, conditions).await?;
    if stored.is_none() && if_missing == IfMissing::NotFound {
        return Err(ApiError::not_found(format!("no such {}", kind.noun())));
    }
    let text = merge(stored.as_ref())?;
    let name = match &stored {
        Some(object) => object.name.clone(),
        None => super::resource_name(kind.extension(), uid),
    };
    let read_etag = stored.as_ref().map(|o| o.etag.clone());
    let object = commit(state, coll, kind, &name, &text, read_etag).await?;
    Ok(Written { object, created: stored.is_none() })
}

/// Deletes the member with this UID if the client's conditions accept its ETag: 404 when there
/// is none, 412 (with the current ETag) when they do not.
pub(crate) async fn delete(
    state: &AppState,
    coll: &Collection,
    kind: Kind,
    uid: &str,
    conditions: Preconditions,
) -> Result<(), ApiError> {
    check_writable(coll)?;
    let object = state
        .store
        .object_by_uid(coll.id, uid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no such {}", kind.noun())))?;
    let allow = Box::new(move |current: Option<&str>| conditions.allow(current));
    match state.store.delete_object(coll.id, &object.name, allow, state.clock.now()).await {
        Ok(()) => Ok(()),
        Err(StoreError::PreconditionFailed) => {
            let current = state.store.object(coll.id, &object.name).await?;
            Err(stale(current.as_ref().map(|o| o.etag.as_str())))
        }
        Err(e) => Err(store_error(e)),
    }
}

/// 403 `read_only` unless the caller may write `coll`, by `collections::access` as over DAV.
/// Every collection the JSON API reaches (`own_collection`, through `Collections::reach`) is
/// either owned by the caller (their own, their birthday calendar), so the owner's access is
/// theirs, or owned by nobody (the directory), which nobody may write.
pub(crate) fn check_writable(coll: &Collection) -> Result<(), ApiError> {
    let writable = coll.owner.and_then(|owner| Access::of(coll, owner)).is_some_and(Access::can_write);
    if writable {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "read_only", "this collection is read-only"))
    }
}

/// Writes `text` as member `name` if `condition` accepts the member's current ETag, after the
/// same checks as a CalDAV/CardDAV PUT (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1) and with the same
/// derived index. A failed condition comes back as 412 without details; callers say what it
/// means for them.
pub(crate) async fn store_text(
    state: &AppState,
    coll: &Collection,
    kind: Kind,
    name: &str,
    text: &str,
    condition: WriteCondition,
) -> Result<StoredObject, ApiError> {
    check_writable(coll)?;
    let config = &state.collections.config;
    if text.len() > config.max_resource_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the {} is larger than {} bytes", kind.noun(), config.max_resource_size),
        ));
    }
    let etag = etag_of(text);
    let (uid, component, index) = match kind {
        Kind::Calendar => {
            let object = madang_ical::parse_object(text).map_err(invalid)?;
            let component = object.kind().name();
            if !coll.props.components.iter().any(|c| c == component) {
                return Err(invalid(format!("this calendar does not accept {component} (see its components)")));
            }
            let limits = state.collections.limits();
            object
                .check_limits(&limits)
                .map_err(|e| invalid(format!("{e} (the server's dav.max_instances_per_period)")))?;
            let index = object.index(&limits);
            (object.uid().to_string(), component, Some(index))
        }
        Kind::Card => {
            let card = madang_ical::vcard::parse_card(text).map_err(invalid)?;
            (card.uid().to_string(), VCARD, None)
        }
    };
    let new = NewObject {
        name,
        uid: &uid,
        component,
        etag: &etag,
        data: text,
        range_start: index.as_ref().and_then(|i| i.start),
        range_end: index.as_ref().and_then(|i| i.end),
        range_exact: index.as_ref().is_some_and(|i| i.exact),
    };
    match state.store.put_object(coll.id, &new, condition, config.quota, state.clock.now()).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed) => {
            return Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", "the member changed"));
        }
        Err(e) => return Err(store_error(e)),
    }
    state
        .store
        .object(coll.id, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("the {} was deleted meanwhile", kind.noun())))
}
