//! `/api/v1/mail`: linking mail accounts (docs/mail.md). Handlers only translate: parse, call
//! `mail::MailService`, answer. A user only ever sees their own accounts; another user's id is
//! a plain 404. Passwords go in, never out.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::openapi::ErrorBody;
use crate::app::state::AppState;
use crate::audit::Entry;
use crate::http::auth::{Authenticated, client_address_of};
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::mail::providers::Suggestion;
use crate::mail::{Account, AccountInput, Folder, MailError, TestReport};

/// The mail routes, relative to `/api/v1/mail`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts/test", post(test))
        .route("/accounts/{id}", get(show).put(replace).delete(remove))
        .route("/accounts/{id}/test", post(retest))
        .route("/accounts/{id}/default", put(make_default))
        .route("/accounts/{id}/folders", get(folders))
        .route("/accounts/{id}/sync", post(sync))
        .route("/providers", get(providers))
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
            MailError::Unreachable(f) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", f.message.clone())
                .with_details(serde_json::to_value(&f).unwrap_or_default()),
            MailError::Store(s) => s.into(),
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
        (status = 200, description = "Settings for the address: a known provider's, else a guess from its domain \
            (`provider` is null) for the connection test to confirm", body = Suggestion),
        (status = 422, description = "Not an address with a domain", body = ErrorBody),
    ),
)]
pub async fn providers(
    Authenticated(_p): Authenticated,
    Query(q): Query<ProviderQuery>,
) -> Result<Json<Suggestion>, ApiError> {
    crate::mail::providers::suggest(&q.email)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "email: an address with a domain"))
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
    post, path = "/api/v1/mail/accounts/{id}/sync", tag = "mail",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "Synchronised now: the folders with their counts and sync state", body = [Folder]),
        (status = 404, description = "No such account of this user", body = ErrorBody),
        (status = 502, description = "The mail server could not be reached or refused \
            (`upstream_failed`, `details` names the step)", body = ErrorBody),
    ),
)]
pub async fn sync(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Folder>>, ApiError> {
    Ok(Json(state.mail.sync_folders(p.user.id, id).await?))
}
