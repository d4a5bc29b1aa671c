//! `/api/v1/mail`: linking mail accounts, their folders and messages (docs/mail.md). Handlers only translate: parse, call
//! `mail::MailService`, answer. A user only ever sees their own accounts; another user's id is
//! a plain 404. Passwords go in, never out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::openapi::ErrorBody;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::http::auth::{Authenticated, client_address_of};
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::mail::folders::{FolderChange, NewFolder};
use crate::mail::images::{ImageError, ImageSender, NewImageSender};
use crate::mail::index::{FlagChange, MessageDetail, MessagePage, MessageSummary, SyncReport};
use crate::mail::oauth::{ProviderView, Start, Started};
use crate::mail::providers::Suggestion;
use crate::mail::send::{Draft, Outgoing, Sent};
use crate::mail::{Account, AccountInput, Folder, MailError, TestReport};
use crate::store::mail_index::MessageQuery;

/// The mail routes, relative to `/api/v1/mail`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts/test", post(test))
        .route("/accounts/{id}", get(show).put(replace).delete(remove))
        .route("/accounts/{id}/test", post(retest))
        .route("/accounts/{id}/default", put(make_default))
        .route("/accounts/{id}/folders", get(folders).post(create_folder))
        .route("/folders/{id}", patch(change_folder).delete(delete_folder))
        .route("/accounts/{id}/sync", post(sync))
        .route("/accounts/{id}/send", post(send))
        .route("/accounts/{id}/drafts", post(save_draft))
        .route("/messages", get(messages))
        .route("/messages/{id}", get(message).patch(flag).delete(delete_message))
        .route("/messages/{id}/move", post(move_message))
        .route("/messages/{id}/copy", post(copy_message))
        .route("/messages/{id}/parts/{part}", get(part))
        .route("/image", get(image))
        .route("/image-senders", get(image_senders).post(trust_sender))
        .route("/image-senders/{address}", delete(distrust_sender))
        .route("/accounts/{id}/threads/{thread}", get(thread))
        .route("/providers", get(providers))
        .route("/oauth/providers", get(oauth_providers))
        .route("/oauth/start", post(oauth_start))
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            MailError::NotFound => ApiError::not_found("no such mail account"),
            MailError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            MailError::TestFailed(report) => {
                let what = [("IMAP", &report.imap), ("SMTP", &report.smtp)]
                    .into_iter()
                    .filter_map(|(name, r)| r.failure.as_ref().map(|f| format!("{name}: {}", f.message)))
                    .collect::<Vec<_>>()
                    .join("; ");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "connection_failed", what)
                    .with_details(serde_json::to_value(*report).unwrap_or_default())
            }
            // Madang's own connection limit: try again in a moment (not the server's fault).
            MailError::Unreachable(f) if f.step == crate::mail::Step::Limit => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", f.message.clone())
                    .with_details(serde_json::to_value(&f).unwrap_or_default())
            }
            MailError::Unreachable(f) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", f.message.clone())
                .with_details(serde_json::to_value(&f).unwrap_or_default()),
            MailError::TooLarge(max) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the message is larger than {max} bytes (mail.max_message_size): open it in a mail app"),
            ),
            MailError::Gone => ApiError::not_found("the message is no longer on the mail server"),
            e @ MailError::SignInAgain(_) => ApiError::new(StatusCode::CONFLICT, "consent_required", e.to_string()),
            MailError::FolderNotFound => ApiError::not_found("no such folder"),
            MailError::Refused(text) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", format!("the mail server refused: {text}"))
            }
            MailError::SenderNotFound => ApiError::not_found("this sender is not on the list"),
            MailError::Store(s) => s.into(),
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let message = e.to_string();
        match e {
            ImageError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            ImageError::BadSignature => ApiError::new(StatusCode::FORBIDDEN, "bad_signature", message),
            ImageError::Blocked(_) => ApiError::new(StatusCode::FORBIDDEN, "blocked", message),
            ImageError::Upstream(_) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", message),
            ImageError::NotAnImage(_) => ApiError::new(StatusCode::BAD_GATEWAY, "not_an_image", message),
            ImageError::TooLarge(_) => ApiError::new(StatusCode::BAD_GATEWAY, "too_large", message),
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/mail/accounts", tag = "mail",
    responses((status = 200, description = "The user's linked accounts, the default first", body = [Account])),
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Vec<Account>>, ApiError> {
    Ok(Json(state.mail.list(p.user.id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts", tag = "mail", request_body = AccountInput,
    responses(
        (status = 201, description = "Linked, after the connection test passed", body = Account),
        (status = 409, description = "Already linked, or too many accounts", body = ErrorBody),
        (status = 422, description = "Bad settings (`invalid`), or the connection test failed \
            (`connection_failed`, `details` is the test report: which step failed, per server)", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    parts: axum::http::request::Parts,
    ApiJson(body): ApiJson<AccountInput>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let account = state.mail.create(p.user.id, &body).await?;
    let entry = Entry::new("mail.account.link")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("mail account {} ({})", account.id, account.email));
    state.audit(entry).await;
    Ok((StatusCode::CREATED, Json(account)))
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/test", tag = "mail", request_body = AccountInput,
    responses(
        (status = 200, description = "What the test found, per server (nothing is saved)", body = TestReport),
        (status = 422, description = "Bad settings, or no password", body = ErrorBody),
    ),
)]
pub async fn test(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    ApiJson(body): ApiJson<AccountInput>,
) -> Result<Json<TestReport>, ApiError> {
    Ok(Json(state.mail.test(&body).await?))
}

#[utoipa::path(
    get, path = "/api/v1/mail/accounts/{id}", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account (never its password)", body = Account),
        (status = 404, description = "No such account of this user", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(state.mail.get(p.user.id, id).await?))
}

#[utoipa::path(
    put, path = "/api/v1/mail/accounts/{id}", tag = "mail", request_body = AccountInput,
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "Changed; the connection test ran again if the servers, user name or \
            password changed (an absent `password` keeps the stored one)", body = Account),
        (status = 404, description = "No such account of this user", body = ErrorBody),
        (status = 409, description = "Another linked account has this address", body = ErrorBody),
        (status = 422, description = "Bad settings, or the connection test failed", body = ErrorBody),
    ),
)]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AccountInput>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(state.mail.update(p.user.id, id, &body).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/mail/accounts/{id}", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 204, description = "Unlinked: its stored credentials are gone (the mailbox itself is untouched)"),
        (status = 404, description = "No such account of this user", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    parts: axum::http::request::Parts,
) -> Result<StatusCode, ApiError> {
    state.mail.delete(p.user.id, id).await?;
    let entry = Entry::new("mail.account.unlink")
        .actor(&p.user)
        .address(client_address_of(&parts, &state))
        .target(format!("mail account {id}"));
    state.audit(entry).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/{id}/test", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "The connection test with the stored settings and password", body = TestReport),
        (status = 404, description = "No such account of this user", body = ErrorBody),
    ),
)]
pub async fn retest(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TestReport>, ApiError> {
    Ok(Json(state.mail.retest(p.user.id, id).await?))
}

#[utoipa::path(
    put, path = "/api/v1/mail/accounts/{id}/default", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "Now the default account", body = Account),
        (status = 404, description = "No such account of this user", body = ErrorBody),
    ),
)]
pub async fn make_default(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(state.mail.set_default(p.user.id, id).await?))
}

/// `?email=`: the address to suggest settings for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProviderQuery {
    pub email: String,
}

#[utoipa::path(
    get, path = "/api/v1/mail/providers", tag = "mail", params(ProviderQuery),
    responses(
        (status = 200, description = "Settings for the address (`source`): a known provider's (`table`), else the \
            domain's RFC 6186 SRV records (`srv`), else its MX records at Google Workspace or Microsoft 365 (`mx`), \
            else a guess from the domain (`guess`) for the connection test to confirm", body = Suggestion),
        (status = 400, description = "No `email` in the query (`bad_query`)", body = ErrorBody),
        (status = 422, description = "Not an address with a domain", body = ErrorBody),
    ),
)]
pub async fn providers(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    ApiQuery(q): ApiQuery<ProviderQuery>,
) -> Result<Json<Suggestion>, ApiError> {
    let suggestion =
        state.mail.suggest(&q.email).await.ok_or_else(|| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "email: an address with a domain")
        })?;
    Ok(Json(suggestion))
}

#[utoipa::path(
    get, path = "/api/v1/mail/oauth/providers", tag = "mail",
    responses(
        (status = 200, description = "The OAuth providers this server is configured for (docs/mail.md): \
            accounts there are linked by signing in, without a password", body = [ProviderView]),
    ),
)]
pub async fn oauth_providers(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
) -> Json<Vec<ProviderView>> {
    Json(state.mail.oauth_providers())
}

#[utoipa::path(
    post, path = "/api/v1/mail/oauth/start", tag = "mail", request_body = Start,
    responses(
        (status = 200, description = "Send the browser to `authorize_url`. The provider sends it back to \
            `/mail/oauth/callback`, which runs the connection test with the new token and links the account \
            (or renews its consent), then returns to the web client's mail view", body = Started),
        (status = 404, description = "No such account of this user (`account`)", body = ErrorBody),
        (status = 409, description = "The address is already linked, or the user has as many accounts as allowed", body = ErrorBody),
        (status = 422, description = "An unknown provider, bad settings, or neither/both of `account` and `settings`", body = ErrorBody),
    ),
)]
pub async fn oauth_start(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(body): ApiJson<Start>,
) -> Result<Json<Started>, ApiError> {
    Ok(Json(state.mail.oauth_start(p.user.id, &body).await?))
}

#[utoipa::path(
    get, path = "/api/v1/mail/accounts/{id}/folders", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account's folders from the index, INBOX first (empty before the first sync)", body = [Folder]),
        (status = 404, description = "No such account of this user", body = ErrorBody),
    ),
)]
pub async fn folders(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Folder>>, ApiError> {
    Ok(Json(state.mail.folders(p.user.id, id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/{id}/folders", tag = "mail", request_body = NewFolder,
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 201, description = "Created on the server (`CREATE`, the name in modified UTF-7), then the \
            folder list read again into the index; other tabs get `mail.changed`", body = Folder),
        (status = 404, description = "No such account, or `parent` folder, of this user", body = ErrorBody),
        (status = 409, description = "A folder with this name already exists there", body = ErrorBody),
        (status = 422, description = "An empty name, control characters, the server's hierarchy separator, \
            a parent of another account (`invalid`); or the server refused (`refused`, its words)", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn create_folder(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewFolder>,
) -> Result<(StatusCode, Json<Folder>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.mail.create_folder(p.user.id, id, &body).await?)))
}

#[utoipa::path(
    patch, path = "/api/v1/mail/folders/{id}", tag = "mail", request_body = FolderChange,
    params(("id" = i64, Path, description = "Folder id")),
    responses(
        (status = 200, description = "Renamed and/or moved on the server (`RENAME`: its subfolders go with it); \
            the index keeps the folders' ids and messages", body = Folder),
        (status = 404, description = "No such folder of this user", body = ErrorBody),
        (status = 409, description = "A folder with the new name already exists there", body = ErrorBody),
        (status = 422, description = "INBOX or a special-use folder (Drafts, Sent, Trash, Junk, Archive, …); a bad \
            name; a parent of another account or inside the folder itself; or the server refused (`refused`)", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn change_folder(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FolderChange>,
) -> Result<Json<Folder>, ApiError> {
    Ok(Json(state.mail.change_folder(p.user.id, id, &body).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/mail/folders/{id}", tag = "mail",
    params(("id" = i64, Path, description = "Folder id")),
    responses(
        (status = 204, description = "Deleted on the server (`DELETE`) with its messages, then from the index"),
        (status = 404, description = "No such folder of this user", body = ErrorBody),
        (status = 409, description = "The folder has subfolders: delete or move them first", body = ErrorBody),
        (status = 422, description = "INBOX or a special-use folder; or the server refused (`refused`)", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn delete_folder(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.mail.delete_folder(p.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/{id}/sync", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "Synchronised now (folders, then each folder's messages, INBOX first): \
            what changed, and the folders with their counts", body = SyncReport),
        (status = 404, description = "No such account of this user", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached or refused \
            (`upstream_failed`, `details` names the step)", body = ErrorBody),
    ),
)]
pub async fn sync(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SyncReport>, ApiError> {
    // The sync runs in its own task: a client that gives up does not cut it off half-way
    // (each chunk is committed anyway, but the folder's completion mark is the last step).
    let mail = state.mail.clone();
    let user = p.user.id;
    let report = tokio::spawn(async move { mail.sync(user, id).await }).await.map_err(|e| ApiError::internal(&e))??;
    Ok(Json(report))
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/{id}/send", tag = "mail", request_body = Outgoing,
    params(("id" = i64, Path, description = "Account id: the sender")),
    responses(
        (status = 201, description = "Submitted through the account's SMTP server; a copy filed in Sent \
            (unless the provider does it itself), the replied message marked answered", body = Sent),
        (status = 404, description = "No such account, or replied/forwarded message, of this user", body = ErrorBody),
        (status = 413, description = "Larger than `mail.max_message_size`", body = ErrorBody),
        (status = 422, description = "No recipient, a bad address, too many recipients, a bad attachment", body = ErrorBody),
        (status = 502, description = "The SMTP server could not be reached or refused the message", body = ErrorBody),
    ),
)]
pub async fn send(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Outgoing>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.mail.send(p.user.id, id, &body).await?)))
}

#[utoipa::path(
    post, path = "/api/v1/mail/accounts/{id}/drafts", tag = "mail", request_body = Outgoing,
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 201, description = "Saved in the account's Drafts folder (replacing `replaces`); its index id", body = Draft),
        (status = 404, description = "No such account of this user", body = ErrorBody),
        (status = 422, description = "A bad address or attachment, `replaces` not a draft of this account, or no Drafts folder", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached or refused", body = ErrorBody),
    ),
)]
pub async fn save_draft(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Outgoing>,
) -> Result<(StatusCode, Json<Draft>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.mail.save_draft(p.user.id, id, &body).await?)))
}

/// A message list's filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// A folder id; without it, the unified inbox (every account's INBOX).
    folder: Option<i64>,
    /// Only unread messages.
    #[serde(default)]
    unread: bool,
    /// Only flagged messages.
    #[serde(default)]
    flagged: bool,
    /// Only messages with attachments.
    #[serde(default)]
    attachments: bool,
    /// Search: words that must all appear in the subject, sender, recipients or preview
    /// (without `folder`: across every folder of every account).
    q: Option<String>,
    /// Search the whole message text on the mail server instead (`UID SEARCH TEXT`), which
    /// needs `folder`: only the newest 1,000 matches are listed (paging walks within them), and
    /// only messages the index already has.
    #[serde(default)]
    body: bool,
    /// The `next` of the previous page.
    before: Option<String>,
    /// Messages per page, 1 to 200 (50).
    limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/v1/mail/messages", tag = "mail", params(MessageParams),
    responses(
        (status = 200, description = "A page of messages from the index, newest first; with `body=true` the \
            index's rows for what the server's own search of the folder found (at most its newest 1,000 \
            matches, so paging ends there)", body = MessagePage),
        (status = 400, description = "A malformed query: a flag that is not `true` or `false`, a number that is not one (`bad_query`)", body = ErrorBody),
        (status = 404, description = "No such folder of this user", body = ErrorBody),
        (status = 422, description = "A bad cursor; too many or too long words; `body=true` without `folder` \
            or `q`, or non-ASCII words for a server that only searches ASCII", body = ErrorBody),
        (status = 502, description = "`body=true`: the mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn messages(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiQuery(q): ApiQuery<MessageParams>,
) -> Result<Json<MessagePage>, ApiError> {
    let text: Vec<String> = q.q.as_deref().unwrap_or_default().split_whitespace().map(str::to_string).collect();
    if text.len() > 8 || text.iter().any(|w| w.chars().count() > 100 || w.chars().any(char::is_control)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "q: up to 8 words of up to 100 characters, without control characters",
        ));
    }
    let query = MessageQuery {
        folder: q.folder,
        unread: q.unread,
        flagged: q.flagged,
        attachments: q.attachments,
        text,
        before: None,
        limit: q.limit.unwrap_or(50),
        uids: None,
    };
    if q.body {
        return Ok(Json(state.mail.search_on_server(p.user.id, query, q.before.as_deref()).await?));
    }
    Ok(Json(state.mail.messages(p.user.id, query, q.before.as_deref()).await?))
}

/// How an opened message's remote images are shown.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageView {
    /// `show`: this time, through Madang's image proxy. Without it they are shown only when
    /// the sender is on the user's list (`/api/v1/mail/image-senders`).
    images: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/mail/messages/{id}", tag = "mail",
    params(("id" = i64, Path, description = "Message id"), MessageView),
    responses(
        (status = 200, description = "The message, read from the mail server (or the cache): text, sanitised \
            HTML, attachments. Reading does not mark it seen", body = MessageDetail),
        (status = 422, description = "`images` other than `show`", body = ErrorBody),
        (status = 404, description = "No such message of this user, or gone from the server", body = ErrorBody),
        (status = 413, description = "Larger than `mail.max_message_size`", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn message(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(view): ApiQuery<MessageView>,
) -> Result<Json<MessageDetail>, ApiError> {
    let show_images = match view.images.as_deref() {
        None => false,
        Some("show") => true,
        Some(_) => return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "images: `show` or nothing")),
    };
    Ok(Json(state.mail.message(p.user.id, id, show_images).await?))
}

#[utoipa::path(
    patch, path = "/api/v1/mail/messages/{id}", tag = "mail", request_body = FlagChange,
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, description = "Set on the mail server, then in the index", body = MessageSummary),
        (status = 404, description = "No such message of this user", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn flag(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<FlagChange>,
) -> Result<Json<MessageSummary>, ApiError> {
    Ok(Json(state.mail.set_flags(p.user.id, id, &change).await?))
}

/// Where to move (or copy) a message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveTo {
    /// A folder id of the same account.
    pub folder: i64,
}

#[utoipa::path(
    post, path = "/api/v1/mail/messages/{id}/move", tag = "mail", request_body = MoveTo,
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Moved on the server (MOVE, or COPY and EXPUNGE); both folders resynchronised"),
        (status = 404, description = "No such message or folder of this user", body = ErrorBody),
        (status = 422, description = "The folder is another account's", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached or refused", body = ErrorBody),
    ),
)]
pub async fn move_message(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MoveTo>,
) -> Result<StatusCode, ApiError> {
    state.mail.move_message(p.user.id, id, body.folder).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/v1/mail/messages/{id}/copy", tag = "mail", request_body = MoveTo,
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Copied on the server (`UID COPY`); the target folder resynchronised"),
        (status = 404, description = "No such message or folder of this user", body = ErrorBody),
        (status = 422, description = "The folder is another account's, or only holds folders; or the server \
            refused (`refused`)", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached", body = ErrorBody),
    ),
)]
pub async fn copy_message(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MoveTo>,
) -> Result<StatusCode, ApiError> {
    state.mail.copy_message(p.user.id, id, body.folder).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/mail/messages/{id}", tag = "mail",
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Moved to Trash, or deleted for good when it was in Trash"),
        (status = 404, description = "No such message of this user", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached or refused", body = ErrorBody),
    ),
)]
pub async fn delete_message(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.mail.delete_message(p.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/mail/messages/{id}/parts/{part}", tag = "mail",
    params(("id" = i64, Path, description = "Message id"), ("part" = u32, Path, description = "Part number")),
    responses(
        (status = 200, description = "The part's bytes, as an attachment (`nosniff`, `CSP: sandbox`)", content_type = "application/octet-stream"),
        (status = 404, description = "No such message or part", body = ErrorBody),
    ),
)]
pub async fn part(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, part)): ApiPath<(i64, u32)>,
) -> Result<axum::response::Response, ApiError> {
    use crate::mail::index::PartBody;
    use crate::mail::parts::Download;
    use axum::http::header;
    use axum::response::IntoResponse;
    use futures_util::StreamExt;
    let crate::mail::index::Part { name, content_type, body } = state.mail.part(p.user.id, id, part).await?;
    // Only raster images are shown inline (the reader's `cid:` pictures); anything else is a
    // download, never rendered in Madang's origin.
    let raster = matches!(content_type.as_str(), "image/png" | "image/jpeg" | "image/gif" | "image/webp");
    let served_type = if raster { content_type.as_str() } else { "application/octet-stream" };
    let kind = if raster { "inline" } else { "attachment" };
    Ok((
        [
            (header::CONTENT_TYPE, served_type.to_string()),
            (header::CONTENT_DISPOSITION, crate::api::chat::files::content_disposition(kind, &name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        match body {
            PartBody::Bytes(bytes) => axum::body::Body::from(bytes),
            // Pieces as the server gives them (`mail::parts::download`): memory stays one piece.
            PartBody::Stream(Download { first, rest }) => {
                let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) });
                match rest {
                    None => axum::body::Body::from_stream(first),
                    Some(rx) => axum::body::Body::from_stream(
                        first.chain(futures_util::stream::unfold(rx, |mut rx| async move {
                            rx.recv().await.map(|piece| (piece, rx))
                        })),
                    ),
                }
            }
        },
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/mail/accounts/{id}/threads/{thread}", tag = "mail",
    params(("id" = i64, Path, description = "Account id"), ("thread" = i64, Path, description = "Thread id (a message's `thread`)")),
    responses(
        (status = 200, description = "The conversation across the account's folders, oldest first", body = [MessageSummary]),
        (status = 404, description = "No such thread of this user", body = ErrorBody),
    ),
)]
pub async fn thread(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath((id, thread)): ApiPath<(i64, i64)>,
) -> Result<Json<Vec<MessageSummary>>, ApiError> {
    Ok(Json(state.mail.thread(p.user.id, id, thread).await?))
}

/// A remote image to fetch: what the message's HTML points at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageParams {
    /// The remote image's URL (`http` or `https`).
    u: Option<String>,
    /// Its signature for the signed-in user, as Madang wrote it in the message.
    s: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/mail/image", tag = "mail", params(ImageParams),
    responses(
        (status = 200, description = "The remote image, fetched by Madang through the outbound guard: PNG, JPEG, \
            GIF, WebP or AVIF only (`nosniff`, `CSP: sandbox`, cached privately)", content_type = "image/png"),
        (status = 403, description = "`bad_signature`: the link was changed or made for another user; \
            `blocked`: the image is on an internal address (`mail.allowed_networks`)", body = ErrorBody),
        (status = 422, description = "`u` or `s` missing; not an `http(s)` URL", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: the remote server could not be reached or did not answer \
            2xx (or redirected more than 3 times); `not_an_image`; `too_large`: over \
            `mail.image_proxy_max_size`", body = ErrorBody),
    ),
)]
pub async fn image(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiQuery(q): ApiQuery<ImageParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let (Some(url), Some(signature)) = (q.u, q.s) else {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "u and s: the URL and its signature"));
    };
    let image = state.mail.image(p.user.id, &url, &signature).await?;
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type.to_string()),
            (header::CONTENT_DISPOSITION, "inline".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
            // Per user (the URL is signed for one), so only the browser keeps it.
            (header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        image.bytes,
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/mail/image-senders", tag = "mail",
    responses((status = 200, description = "The senders whose images are always shown, by address", body = [ImageSender])),
)]
pub async fn image_senders(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Vec<ImageSender>>, ApiError> {
    Ok(Json(state.mail.image_senders(p.user.id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/mail/image-senders", tag = "mail", request_body = NewImageSender,
    responses(
        (status = 201, description = "On the list (already being there is fine): its messages' images are shown \
            without asking", body = ImageSender),
        (status = 409, description = "The list is full (5,000 senders)", body = ErrorBody),
        (status = 422, description = "Not an address", body = ErrorBody),
    ),
)]
pub async fn trust_sender(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(body): ApiJson<NewImageSender>,
) -> Result<(StatusCode, Json<ImageSender>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.mail.trust_sender(p.user.id, &body.address).await?)))
}

#[utoipa::path(
    delete, path = "/api/v1/mail/image-senders/{address}", tag = "mail",
    params(("address" = String, Path, description = "The sender's address")),
    responses(
        (status = 204, description = "Off the list: its images are blocked again"),
        (status = 404, description = "Not on this user's list", body = ErrorBody),
        (status = 422, description = "Not an address", body = ErrorBody),
    ),
)]
pub async fn distrust_sender(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(address): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.mail.distrust_sender(p.user.id, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
