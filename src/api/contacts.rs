//! `/api/v1/addressbooks`: contacts as JSON (search, read, write), vCard import and export; CardDAV sees the same cards.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use madang_ical::vcard::{CardObject, parse_card, split_cards};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::contact_model::{ContactFields, card_from_fields, fields_from_card, member_uid};
use super::openapi::ErrorBody;
use super::write::{self, IfMissing, Kind, Preconditions, store_error};
use super::{invalid, own_collection, provision};
use crate::app::state::AppState;
use crate::collections::href;
use crate::collections::sync_token;
use crate::domain::User;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::dav::{Collection, CollectionKind, StoredObject};

/// The component column of address objects; the same value `dav::card` stores.
use crate::collections::VCARD;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// An address book as the JSON API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressBook {
    /// The address book's slug: the last segment of its CardDAV URL.
    #[schema(example = "default")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `DAV:sync-token`; changes whenever a card in the book does.
    pub sync_token: String,
    /// The CardDAV collection URL (path).
    pub dav_url: String,
    /// Madang writes this address book itself (the company directory, `directory`): its cards
    /// cannot be changed here or over CardDAV (403 `read_only`).
    pub read_only: bool,
}

impl AddressBook {
    fn of(c: &Collection, owner: &str) -> AddressBook {
        AddressBook {
            id: c.slug.clone(),
            name: c.props.display_name.clone(),
            description: c.props.description.clone(),
            sync_token: sync_token(c),
            dav_url: href::addressbook_href(owner, &c.slug),
            read_only: super::write::check_writable(c).is_err(),
        }
    }
}

/// A stored contact: its identity, version and fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contact {
    /// The vCard UID; the contact's id in URLs.
    pub uid: String,
    /// The stored card's ETag; send it as `If-Match` to update safely.
    pub etag: String,
    /// The card's CardDAV URL (path).
    pub dav_url: String,
    #[serde(flatten)]
    pub fields: ContactFields,
    /// The groups of this address book that list the contact as a member (read-only; change
    /// a group's `members`, or use `…/groups/{group_uid}/members/{uid}`).
    pub groups: Vec<GroupRef>,
}

/// A group a contact belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupRef {
    /// The group card's UID.
    pub uid: String,
    /// Its FN.
    pub name: String,
}

impl super::Versioned for Contact {
    fn etag(&self) -> &str {
        &self.etag
    }
}

/// A contact to write. `uid` is optional when creating (one is generated) and must match the
/// URL when replacing; `etag` and `dav_url` of a `Contact` read earlier are ignored, so a read
/// contact can be edited and sent back as is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactInput {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(flatten)]
    pub fields: ContactFields,
}

/// Search results, best first: prefix matches before substring matches, then by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    /// How many contacts matched in all, over every page.
    pub total: usize,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Matched case-insensitively against names, nicknames, e-mails and organisation
    /// (prefix or substring), and by digits against phone numbers.
    pub q: Option<String>,
    /// At most this many contacts per page (default 50, at most 500).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only cards of this kind: `group`, or `individual` (which includes cards without KIND),
    /// `org`, `location`.
    pub kind: Option<String>,
}

/// Which groups each contact of a book is in, from the book's group cards.
struct Groups(std::collections::HashMap<String, Vec<GroupRef>>);

impl Groups {
    fn of(objects: &[StoredObject]) -> Groups {
        let mut map: std::collections::HashMap<String, Vec<GroupRef>> = std::collections::HashMap::new();
        for object in objects {
            let Ok(card) = parse_card(&object.data) else { continue };
            if !card.is_group() {
                continue;
            }
            for member in card.members() {
                let group = GroupRef { uid: card.uid().to_string(), name: card.display_name() };
                map.entry(member_uid(&member).to_string()).or_default().push(group);
            }
        }
        for groups in map.values_mut() {
            groups.sort_by(|a, b| (a.name.to_lowercase(), &a.uid).cmp(&(b.name.to_lowercase(), &b.uid)));
        }
        Groups(map)
    }

    async fn load(state: &AppState, book: &Collection) -> Result<Groups, ApiError> {
        Ok(Groups::of(&state.store.objects_overlapping(book.id, Some(VCARD), None, None).await?))
    }

    fn of_contact(&self, uid: &str) -> Vec<GroupRef> {
        self.0.get(uid).cloned().unwrap_or_default()
    }
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// 0-based position of the card in the file.
    pub index: usize,
    pub reason: String,
}

#[utoipa::path(
    get, path = "/api/v1/addressbooks", tag = "contacts",
    responses((status = 200, description = "The user's address books", body = Vec<AddressBook>)),
)]
pub async fn list_books(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<AddressBook>>, ApiError> {
    provision(&state, &principal.user).await?;
    let owner = principal.user.username.as_str();
    // The same listing as the CardDAV home: the user's books and the company directory.
    let books =
        state.collections.home(&state.store, principal.user.id, CollectionKind::AddressBook, state.clock.now()).await?;
    Ok(Json(books.iter().map(|(c, _)| AddressBook::of(c, owner)).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/addressbooks/{id}/contacts", tag = "contacts",
    params(("id" = String, Path, description = "Address book id (slug)"), SearchParams),
    responses(
        (status = 200, description = "Matching contacts", body = ContactList),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 404, description = "No such address book of this user", body = ErrorBody),
        (status = 422, description = "A cursor this server did not hand out", body = ErrorBody),
    ),
)]
pub async fn search(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<ContactList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let query = Search::new(params.q.as_deref().unwrap_or_default());
    let objects = state.store.objects_overlapping(book.id, Some(VCARD), None, None).await?;
    let groups = Groups::of(&objects);
    let kind = params.kind.as_deref().map(|k| k.trim().to_ascii_lowercase()).filter(|k| !k.is_empty());
    let after: Option<(u8, String, String)> = super::cursor::decode(params.cursor.as_deref())?;
    let mut hits: Vec<((u8, String, String), Contact)> = Vec::new();
    for object in &objects {
        // A card that no longer parses (stored before a parser change) is skipped, not fatal.
        let Ok(card) = parse_card(&object.data) else { continue };
        let fields = fields_from_card(&card);
        if kind.as_ref().is_some_and(|k| fields.kind.as_ref() != Some(k)) {
            continue;
        }
        if let Some(rank) = query.rank(&card, &fields) {
            // The UID breaks ties, so the order (and the cursor) is total.
            let key = (rank, card.display_name().to_lowercase(), card.uid().to_string());
            hits.push((key, contact(&principal.user, &book, object, &card, fields, &groups)));
        }
    }
    hits.sort_by(|a, b| a.0.cmp(&b.0));
    let total = hits.len();
    let mut page: Vec<((u8, String, String), Contact)> =
        hits.into_iter().filter(|(k, _)| after.as_ref().is_none_or(|a| k > a)).take(limit + 1).collect();
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|(k, _)| super::cursor::encode(k))
    } else {
        None
    };
    let contacts = page.into_iter().map(|(_, c)| c).collect();
    Ok(Json(ContactList { contacts, total, next_cursor }))
}

/// A search: the text lower-cased (Unicode), and its digits for phone numbers.
struct Search {
    text: String,
    digits: String,
}

impl Search {
    fn new(q: &str) -> Search {
        let text = q.trim().to_lowercase();
        let digits = madang_ical::normalize_phone(q).trim_start_matches('+').to_string();
        Search { text, digits }
    }

    /// `Some(0)` for a prefix match (of the whole value or one of its words), `Some(1)` for a
    /// substring match, `None` for no match. An empty query matches everything.
    fn rank(&self, card: &CardObject, f: &ContactFields) -> Option<u8> {
        if self.text.is_empty() {
            return Some(0);
        }
        let mut texts = vec![card.display_name()];
        texts.extend(f.full_name.clone());
        if let Some(n) = &f.name {
            texts.extend([n.given.clone(), n.family.clone(), n.additional.clone()]);
        }
        texts.extend(f.nicknames.iter().cloned());
        texts.extend(f.emails.iter().map(|e| e.value.clone()));
        texts.extend(f.organization.clone());
        let mut best = None;
        for t in texts.iter().map(|t| t.to_lowercase()) {
            if t.starts_with(&self.text) || t.split_whitespace().any(|w| w.starts_with(&self.text)) {
                return Some(0);
            }
            if t.contains(&self.text) {
                best = Some(1);
            }
        }
        // Phone numbers compare by digits, so "555 12" finds "+1 (555) 123-4567". Two digits
        // at least, or every card with a 1 in its number would match "1".
        if self.digits.len() >= 2 {
            for phone in card.phones() {
                let phone = phone.trim_start_matches('+');
                if phone.starts_with(&self.digits) {
                    return Some(0);
                }
                if phone.contains(&self.digits) {
                    best = Some(1);
                }
            }
        }
        best
    }
}

#[utoipa::path(
    get, path = "/api/v1/addressbooks/{id}/contacts/{uid}", tag = "contacts",
    params(("id" = String, Path, description = "Address book id (slug)"), ("uid" = String, Path, description = "Contact UID")),
    responses(
        (status = 200, description = "The contact; the `ETag` header is its version", body = Contact),
        (status = 404, description = "No such address book or contact", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let object =
        state.store.object_by_uid(book.id, &uid).await?.ok_or_else(|| ApiError::not_found("no such contact"))?;
    answer(&state, &principal.user, &book, &object, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/api/v1/addressbooks/{id}/contacts", tag = "contacts",
    params(("id" = String, Path, description = "Address book id (slug)")),
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created; stored as a vCard 4.0 named `<uid>.vcf`", body = Contact),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such address book", body = ErrorBody),
        (status = 409, description = "A contact with this UID exists", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ContactInput>,
) -> Result<Response, ApiError> {
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let now = state.clock.now();
    let uid = match body.uid.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(uid) => super::parse_uid(uid)?,
        None => super::new_uid(now),
    };
    let text = card_from_fields(&uid, &body.fields, None, now)?;
    let object = write::create(&state, &book, Kind::Card, &uid, &text).await?;
    answer(&state, &principal.user, &book, &object, StatusCode::CREATED).await
}

#[utoipa::path(
    put, path = "/api/v1/addressbooks/{id}/contacts/{uid}", tag = "contacts",
    params(
        ("id" = String, Path, description = "Address book id (slug)"),
        ("uid" = String, Path, description = "Contact UID"),
        ("If-Match" = Option<String>, Header, description = "Replace only if the stored ETag is this one"),
    ),
    request_body = ContactInput,
    responses(
        (status = 200, description = "Replaced; properties the model does not know were kept", body = Contact),
        (status = 201, description = "Created", body = Contact),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such address book", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the stored ETag", body = ErrorBody),
        (status = 422, description = "Invalid field, or a body UID that differs from the URL's", body = ErrorBody),
    ),
)]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, uid)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ContactInput>,
) -> Result<Response, ApiError> {
    let conditions = Preconditions::from_headers(&headers)?;
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let uid = super::parse_uid(&uid)?;
    if body.uid.as_deref().is_some_and(|u| u.trim() != uid) {
        return Err(invalid("the body's uid differs from the URL's"));
    }
    let now = state.clock.now();
    let written = write::update(&state, &book, Kind::Card, &uid, &conditions, IfMissing::Create, |stored| {
        let card = stored.map(parse_stored).transpose()?;
        Ok(card_from_fields(&uid, &body.fields, card.as_ref(), now)?)
    })
    .await?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    answer(&state, &principal.user, &book, &written.object, status).await
}

#[utoipa::path(
    delete, path = "/api/v1/addressbooks/{id}/contacts/{uid}", tag = "contacts",
    params(
        ("id" = String, Path, description = "Address book id (slug)"),
        ("uid" = String, Path, description = "Contact UID"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the stored ETag is this one"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed path or If-Match header", body = ErrorBody),
        (status = 404, description = "No such address book or contact", body = ErrorBody),
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
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    write::delete(&state, &book, Kind::Card, &uid, conditions).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put, path = "/api/v1/addressbooks/{id}/groups/{group_uid}/members/{uid}", tag = "contacts",
    params(
        ("id" = String, Path, description = "Address book id (slug)"),
        ("group_uid" = String, Path, description = "The group card's UID"),
        ("uid" = String, Path, description = "The UID of the contact to add"),
        ("If-Match" = Option<String>, Header, description = "Change only if the group's stored ETag is this one"),
    ),
    responses(
        (status = 200, description = "The group, with the contact among its `members` (unchanged if it was there)", body = Contact),
        (status = 400, description = "Malformed path or If-Match header", body = ErrorBody),
        (status = 404, description = "No such address book, group or contact", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the group's stored ETag", body = ErrorBody),
        (status = 422, description = "The card is not a group, or the group would list itself", body = ErrorBody),
    ),
)]
pub async fn add_group_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, group_uid, uid)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    if state.store.object_by_uid(book.id, &uid).await?.is_none() {
        return Err(ApiError::not_found("no such contact"));
    }
    change_members(&state, &principal.user, &book, &group_uid, &headers, |members| {
        if !members.iter().any(|m| member_uid(m) == uid) {
            members.push(uid.clone());
        }
    })
    .await
}

#[utoipa::path(
    delete, path = "/api/v1/addressbooks/{id}/groups/{group_uid}/members/{uid}", tag = "contacts",
    params(
        ("id" = String, Path, description = "Address book id (slug)"),
        ("group_uid" = String, Path, description = "The group card's UID"),
        ("uid" = String, Path, description = "The UID of the contact to remove"),
        ("If-Match" = Option<String>, Header, description = "Change only if the group's stored ETag is this one"),
    ),
    responses(
        (status = 200, description = "The group without the contact (unchanged if it was not a member)", body = Contact),
        (status = 400, description = "Malformed path or If-Match header", body = ErrorBody),
        (status = 404, description = "No such address book or group", body = ErrorBody),
        (status = 409, description = "Changed concurrently; read and retry", body = ErrorBody),
        (status = 412, description = "If-Match did not match the group's stored ETag", body = ErrorBody),
        (status = 422, description = "The card is not a group", body = ErrorBody),
    ),
)]
pub async fn remove_group_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, group_uid, uid)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    change_members(&state, &principal.user, &book, &group_uid, &headers, |members| {
        members.retain(|m| member_uid(m) != uid);
    })
    .await
}

/// A group's members changed by `edit`, through the one write path (the group's other lines,
/// its vCard version and Apple or vCard 4 form are kept).
async fn change_members(
    state: &AppState,
    user: &User,
    book: &Collection,
    group_uid: &str,
    headers: &HeaderMap,
    edit: impl FnOnce(&mut Vec<String>),
) -> Result<Response, ApiError> {
    let conditions = Preconditions::from_headers(headers)?;
    let now = state.clock.now();
    let written = write::update(state, book, Kind::Card, group_uid, &conditions, IfMissing::NotFound, |stored| {
        let card = stored.map(parse_stored).transpose()?.ok_or_else(|| ApiError::not_found("no such group"))?;
        if !card.is_group() {
            return Err(invalid("this contact is not a group (kind `group`)"));
        }
        let mut fields = fields_from_card(&card);
        edit(&mut fields.members);
        Ok(card_from_fields(group_uid, &fields, Some(&card), now)?)
    })
    .await?;
    answer(state, user, book, &written.object, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/api/v1/addressbooks/{id}/import", tag = "contacts",
    params(("id" = String, Path, description = "Address book id (slug)")),
    request_body(content = String, content_type = "text/vcard", description = "One or more vCards (2.1, 3.0 or 4.0)"),
    responses(
        (status = 200, description = "Each card stored as its own resource `<uid>.vcf` (or over the card with the same UID)", body = ImportReport),
        (status = 404, description = "No such address book", body = ErrorBody),
        (status = 415, description = "Not text/vcard", body = ErrorBody),
        (status = 422, description = "The body is not UTF-8", body = ErrorBody),
    ),
)]
pub async fn import(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    super::require_media_type(&headers, &["text/vcard", "text/x-vcard"], "send the cards as text/vcard")?;
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let text = std::str::from_utf8(&body).map_err(|_| invalid("the body is not UTF-8"))?;
    let mut report = ImportReport { accepted: 0, rejected: Vec::new() };
    for (index, card_text) in split_cards(text).iter().enumerate() {
        match import_one(&state, &book, card_text).await {
            Ok(()) => report.accepted += 1,
            Err(reason) => report.rejected.push(Rejected { index, reason }),
        }
    }
    Ok(Json(report))
}

/// Stores one card of an import as sent; a card whose UID is already stored replaces it.
async fn import_one(state: &AppState, book: &Collection, text: &str) -> Result<(), String> {
    let card = parse_card(text).map_err(|e| e.to_string())?;
    let name = match state.store.object_by_uid(book.id, card.uid()).await {
        Ok(Some(existing)) => existing.name,
        Ok(None) => super::resource_name("vcf", card.uid()),
        Err(e) => return Err(store_error(e).message),
    };
    let any = Box::new(|_: Option<&str>| true);
    write::store_text(state, book, Kind::Card, &name, text, any).await.map(|_| ()).map_err(|e| e.message)
}

#[utoipa::path(
    get, path = "/api/v1/addressbooks/{id}/export", tag = "contacts",
    params(("id" = String, Path, description = "Address book id (slug)")),
    responses(
        (status = 200, description = "Every card, as stored, in one file", content_type = "text/vcard", body = String),
        (status = 404, description = "No such address book", body = ErrorBody),
        (status = 507, description = "Over `dav.max_export_items` or `dav.max_export_size`", body = ErrorBody),
    ),
)]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let book = own_collection(&state, &principal.user, CollectionKind::AddressBook, &id).await?;
    let out = super::export_document(&state, &book).await?;
    Ok(super::attachment("text/vcard; charset=utf-8", &format!("{}.vcf", book.slug), out))
}

fn parse_stored(object: &StoredObject) -> Result<CardObject, ApiError> {
    parse_card(&object.data).map_err(|e| {
        tracing::error!(name = %object.name, error = %e, "stored card does not parse");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the stored card cannot be read")
    })
}

fn contact(
    user: &User,
    book: &Collection,
    object: &StoredObject,
    card: &CardObject,
    fields: ContactFields,
    groups: &Groups,
) -> Contact {
    Contact {
        uid: card.uid().to_string(),
        etag: object.etag.clone(),
        dav_url: href::card_href(user.username.as_str(), &book.slug, &object.name),
        fields,
        groups: groups.of_contact(card.uid()),
    }
}

/// One contact as the answer to a read or write, with its groups and its ETag header.
async fn answer(
    state: &AppState,
    user: &User,
    book: &Collection,
    object: &StoredObject,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let card = parse_stored(object)?;
    let fields = fields_from_card(&card);
    let groups = Groups::load(state, book).await?;
    Ok(super::with_etag(status, contact(user, book, object, &card, fields, &groups)))
}
