//! The administrators' JSON API (`/api/v1/admin`): sign-up approval, account
//! state and roles, groups, the modules that are on, and the audit log.
//! Every change is audited.
//!
//! Only an administrator may call it, with the account password or with a
//! bearer token carrying the `admin` scope (which only first-party clients
//! can be allowed, and which an administrator with two-step verification
//! gets only after both steps). An app password is a device's key to
//! calendars and contacts, and a token without `admin` belongs to a relying
//! party acting for the user: both are refused here.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authenticated, client_address_of};
use super::error::{ApiError, ApiJson, ApiPath};
use crate::app::state::AppState;
use crate::audit::{self, Entry};
use crate::auth::{Credential, Principal};
use crate::domain::{GroupName, Role, User, UserState};
use crate::modules::{Module, ModuleStates};
use crate::oidc::clients::{ClientError, ClientUpdate, NewClient};
use crate::store::audit::{AuditQuery, AuditRecord};
use crate::store::groups::Group;
use crate::store::oidc::OAuthClient;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{name}", get(show_user).patch(update_user))
        .route("/users/{name}/approve", post(approve))
        .route("/users/{name}/reject", post(reject))
        .route("/users/{name}/disable", post(disable))
        .route("/users/{name}/enable", post(enable))
        .route("/users/{name}/reset-link", post(reset_link))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{name}", get(show_group).delete(delete_group))
        .route("/groups/{name}/members/{user}", put(add_member).delete(remove_member))
        .route("/audit", get(list_audit))
        .route("/modules", get(show_modules).put(update_modules))
        .route("/oauth-clients", get(list_clients).post(create_client))
        .route("/oauth-clients/{client_id}", get(show_client).patch(update_client).delete(delete_client))
        .route("/oauth-clients/{client_id}/rotate-secret", post(rotate_client_secret))
}

/// An authenticated administrator, with the address the request came from
/// (for the audit log).
pub struct Admin {
    pub user: User,
    pub address: Option<std::net::IpAddr>,
}

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(Principal { user, credential }) =
            Authenticated::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        // A bearer token got here only with the `admin` scope: the
        // authenticator checks scopes against the path it was sent to.
        // A web session is what the `/admin` pages already trust; on the
        // API it comes with the client's CSRF header (`http::auth`).
        if !matches!(credential, Credential::AccountPassword | Credential::Bearer | Credential::WebSession) {
            return Err(ApiError::forbidden(
                "the admin API needs the account password or an `admin` token, not an app password",
            )
            .into_response());
        }
        if user.role != Role::Admin {
            return Err(ApiError::forbidden("administrators only").into_response());
        }
        Ok(Admin { user, address: client_address_of(parts, state) })
    }
}

impl Admin {
    fn audit(&self, action: &str) -> Entry {
        Entry::new(action).actor(&self.user).address(self.address)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserFilter {
    /// Only accounts in this state: `pending`, `active` or `disabled`.
    state: Option<String>,
}

/// An account as administrators see it: the user and their groups.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminUser {
    #[serde(flatten)]
    #[schema(inline, value_type = super::api::UserSchema)]
    user: User,
    groups: Vec<String>,
}

async fn admin_user(state: &AppState, user: User) -> Result<AdminUser, ApiError> {
    let groups = state.store.user_groups(user.id).await?;
    Ok(AdminUser { user, groups })
}

#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "admin", params(UserFilter),
    responses(
        (status = 200, description = "Accounts, oldest first", body = Vec<AdminUser>),
        (status = 400, description = "Unknown state", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    filter: Result<Query<UserFilter>, QueryRejection>,
) -> Result<Json<Vec<AdminUser>>, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let wanted = match filter.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<UserState>().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.0))?),
    };
    // Every membership in one read, not one query per user.
    let mut groups_of: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for group in state.store.groups().await? {
        for member in group.members {
            groups_of.entry(member.as_str().to_string()).or_default().push(group.name.as_str().to_string());
        }
    }
    let out = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| wanted.is_none_or(|w| w == u.state))
        .map(|user| {
            let mut groups = groups_of.remove(user.username.as_str()).unwrap_or_default();
            groups.sort();
            AdminUser { user, groups }
        })
        .collect();
    Ok(Json(out))
}

#[utoipa::path(
    get, path = "/api/v1/admin/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 200, description = "The account", body = AdminUser),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn show_user(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let user = state.accounts.user(&name).await?;
    Ok(Json(admin_user(&state, user).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChanges {
    /// `admin` or `member`.
    role: Option<String>,
    /// Vouch for (or withdraw) the e-mail address; relying parties link accounts by verified addresses.
    email_verified: Option<bool>,
}

#[utoipa::path(
    patch, path = "/api/v1/admin/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    request_body = UserChanges,
    responses(
        (status = 200, description = "The changed account", body = AdminUser),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "Refused (e.g. demoting the last admin)", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Invalid role", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(name): ApiPath<String>,
    ApiJson(changes): ApiJson<UserChanges>,
) -> Result<Json<AdminUser>, ApiError> {
    let role = match changes.role.as_deref() {
        Some(r) => {
            Some(r.parse::<Role>().map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.0))?)
        }
        None => None,
    };
    let user = change_user(&state, &admin, &name, role, changes.email_verified).await?;
    Ok(Json(admin_user(&state, user).await?))
}

/// Sets the role and/or vouches for the address; each real change is audited.
pub(crate) async fn change_user(
    state: &AppState,
    admin: &Admin,
    name: &str,
    role: Option<Role>,
    email_verified: Option<bool>,
) -> Result<User, ApiError> {
    let mut user = state.accounts.user(name).await?;
    if let Some(role) = role.filter(|r| *r != user.role) {
        user = state.accounts.set_role(name, role).await?;
        audit::record(state, admin.audit("admin.user.role").target(user.username.as_str()).detail(role.as_str())).await;
    }
    if let Some(verified) = email_verified.filter(|v| *v != user.email_verified) {
        state.store.set_email_verified(user.id, verified, state.clock.now()).await?;
        user = state.store.user(user.id).await?;
        let detail = format!("email_verified={verified} ({})", user.email);
        audit::record(state, admin.audit("admin.user.email_verified").target(user.username.as_str()).detail(detail))
            .await;
    }
    Ok(user)
}

/// Approve, reject, disable or enable (`action` is the audit name,
/// `admin.user.<verb>`); shared by the JSON API and the admin pages.
pub(crate) async fn transition(
    state: &AppState,
    admin: &Admin,
    name: &str,
    action: &'static str,
) -> Result<Option<User>, ApiError> {
    let result = match action {
        "admin.user.approve" => state.accounts.approve(name).await.map(Some),
        "admin.user.reject" => state.accounts.reject(name).await.map(|_| None),
        "admin.user.disable" => state.accounts.disable(name).await.map(Some),
        _ => state.accounts.enable(name).await.map(Some),
    };
    let user = result?;
    audit::record(state, admin.audit(action).target(name.trim().to_lowercase())).await;
    Ok(user)
}

macro_rules! state_change {
    ($fn:ident, $verb:literal, $action:literal, $ok:literal) => {
        #[utoipa::path(
            post, path = concat!("/api/v1/admin/users/{name}/", $verb), tag = "admin",
            params(("name" = String, Path, description = "User name")),
            responses(
                (status = 200, description = $ok, body = AdminUser),
                (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
                (status = 404, description = "No such user", body = crate::api::openapi::ErrorBody),
                (status = 409, description = "Refused in the account's state", body = crate::api::openapi::ErrorBody),
            ),
        )]
        pub(crate) async fn $fn(
            State(state): State<AppState>,
            admin: Admin,
            ApiPath(name): ApiPath<String>,
        ) -> Result<Json<AdminUser>, ApiError> {
            let user = transition(&state, &admin, &name, $action).await?;
            let user = user.ok_or_else(|| ApiError::internal(&"state change returned no user"))?;
            Ok(Json(admin_user(&state, user).await?))
        }
    };
}

state_change!(approve, "approve", "admin.user.approve", "Approved: the account is active");
state_change!(disable, "disable", "admin.user.disable", "Disabled: every credential stops working at once");
state_change!(enable, "enable", "admin.user.enable", "Enabled");

#[utoipa::path(
    post, path = "/api/v1/admin/users/{name}/reject", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Rejected: the pending sign-up is deleted"),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The account is not pending", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn reject(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    transition(&state, &admin, &name, "admin.user.reject").await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ResetLink {
    /// A one-time link that lets the user choose a new password; hand it over privately.
    url: String,
}

#[utoipa::path(
    post, path = "/api/v1/admin/users/{name}/reset-link", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 201, description = "A one-time password reset link", body = ResetLink),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The account is not active", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn reset_link(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let url = reset_link_for(&state, &admin, &name).await?;
    Ok((StatusCode::CREATED, Json(ResetLink { url })))
}

/// A one-time reset link for an active account, audited.
pub(crate) async fn reset_link_for(state: &AppState, admin: &Admin, name: &str) -> Result<String, ApiError> {
    let user = state.accounts.user(name).await?;
    if user.state != UserState::Active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            format!("{} is {}; only active accounts can reset their password", user.username, user.state),
        ));
    }
    let url = crate::web::reset::issue_link(state, &user, None).await?;
    audit::record(state, admin.audit("admin.user.reset_link").target(user.username.as_str())).await;
    Ok(url)
}

#[utoipa::path(
    get, path = "/api/v1/admin/groups", tag = "admin",
    responses(
        (status = 200, description = "Groups with their members", body = Vec<Group>),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_groups(State(state): State<AppState>, _admin: Admin) -> Result<Json<Vec<Group>>, ApiError> {
    Ok(Json(state.store.groups().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGroup {
    /// Letters a-z, digits, `.`, `_`, `-`; case-insensitive. Sent as is in the `groups` claim.
    name: String,
    #[serde(default)]
    description: String,
}

fn group_name(raw: &str) -> Result<GroupName, ApiError> {
    GroupName::parse(raw).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.0))
}

#[utoipa::path(
    post, path = "/api/v1/admin/groups", tag = "admin",
    request_body = NewGroup,
    responses(
        (status = 201, description = "Created", body = Group),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The name is taken", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Invalid name or description", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_group(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewGroup>,
) -> Result<impl IntoResponse, ApiError> {
    let group = new_group(&state, &admin, &body.name, &body.description).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

pub(crate) async fn new_group(
    state: &AppState,
    admin: &Admin,
    name: &str,
    description: &str,
) -> Result<Group, ApiError> {
    let name = group_name(name)?;
    let description = crate::domain::parse_display_name(description).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.0.replace("display name", "description"))
    })?;
    let group = state.store.create_group(&name, &description, state.clock.now()).await?;
    audit::record(state, admin.audit("admin.group.create").target(name.as_str())).await;
    Ok(group)
}

#[utoipa::path(
    get, path = "/api/v1/admin/groups/{name}", tag = "admin",
    params(("name" = String, Path, description = "Group name")),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such group", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn show_group(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Group>, ApiError> {
    let name = GroupName::parse(&name).map_err(|_| ApiError::not_found("no such group"))?;
    Ok(Json(state.store.group(&name).await.map_err(not_found("no such group"))?))
}

#[utoipa::path(
    delete, path = "/api/v1/admin/groups/{name}", tag = "admin",
    params(("name" = String, Path, description = "Group name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such group", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    drop_group(&state, &admin, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn drop_group(state: &AppState, admin: &Admin, name: &str) -> Result<(), ApiError> {
    let name = GroupName::parse(name).map_err(|_| ApiError::not_found("no such group"))?;
    state.store.delete_group(&name).await.map_err(not_found("no such group"))?;
    audit::record(state, admin.audit("admin.group.delete").target(name.as_str())).await;
    Ok(())
}

#[utoipa::path(
    put, path = "/api/v1/admin/groups/{name}/members/{user}", tag = "admin",
    params(("name" = String, Path, description = "Group name"), ("user" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "The user is a member (also if they already were)"),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such group or user", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((name, user)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership(&state, &admin, &name, &user, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds (`add`) or removes a member, audited.
pub(crate) async fn membership(
    state: &AppState,
    admin: &Admin,
    group: &str,
    user: &str,
    add: bool,
) -> Result<(), ApiError> {
    let name = GroupName::parse(group).map_err(|_| ApiError::not_found("no such group"))?;
    let user = state.accounts.user(user).await?;
    let action = if add {
        state.store.add_group_member(&name, user.id, state.clock.now()).await.map_err(not_found("no such group"))?;
        "admin.group.add_member"
    } else {
        state.store.remove_group_member(&name, user.id).await.map_err(not_found("no such membership"))?;
        "admin.group.remove_member"
    };
    audit::record(state, admin.audit(action).target(name.as_str()).detail(user.username.as_str())).await;
    // Chat channels that follow the group follow its membership.
    let group = state.store.group(&name).await?;
    state.chat.group_changed(group.id).await?;
    Ok(())
}

#[utoipa::path(
    delete, path = "/api/v1/admin/groups/{name}/members/{user}", tag = "admin",
    params(("name" = String, Path, description = "Group name"), ("user" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such group, user or membership", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((name, user)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership(&state, &admin, &name, &user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditFilter {
    /// Only records with a smaller id (the `id` of the last record of the previous page).
    before: Option<i64>,
    /// Only this action (`signin.failure`), or a family of actions when it ends with `.` (`admin.`).
    action: Option<String>,
    /// Only records whose actor or target is this user name.
    user: Option<String>,
    /// At most this many records (1–1000, default 100).
    limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "admin", params(AuditFilter),
    responses(
        (status = 200, description = "Audit records, newest first", body = Vec<AuditRecord>),
        (status = 400, description = "Malformed query", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    _admin: Admin,
    filter: Result<Query<AuditFilter>, QueryRejection>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let Query(f) = filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let query = AuditQuery { before: f.before, action: f.action, user: f.user, limit: f.limit.unwrap_or(100) };
    Ok(Json(state.store.audit_records(&query).await?))
}

fn not_found(message: &'static str) -> impl FnOnce(crate::store::StoreError) -> ApiError {
    move |e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found(message),
        other => other.into(),
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            ClientError::NotFound(_) => ApiError::not_found(e.to_string()),
            ClientError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ClientError::Store(s) => s.into(),
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/admin/oauth-clients", tag = "admin",
    responses(
        (status = 200, description = "Registered OpenID Connect clients (never their secrets)", body = Vec<OAuthClient>),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_clients(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<OAuthClient>>, ApiError> {
    Ok(Json(state.oidc.clients().list().await?))
}

/// A registered client, with its secret this once (confidential clients).
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedClient {
    #[serde(flatten)]
    client: OAuthClient,
    /// Shown once; only a keyed hash is kept. Absent for public clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/admin/oauth-clients", tag = "admin",
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedClient),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "The client id is taken", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Invalid redirect URI, scope or policy", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_client(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewClient>,
) -> Result<impl IntoResponse, ApiError> {
    let (client, client_secret) = state.oidc.clients().create(body, Some(&admin.user)).await?;
    Ok((StatusCode::CREATED, Json(CreatedClient { client, client_secret })))
}

#[utoipa::path(
    get, path = "/api/v1/admin/oauth-clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client", body = OAuthClient),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such client", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn show_client(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Json<OAuthClient>, ApiError> {
    Ok(Json(state.oidc.clients().get(&client_id).await?))
}

#[utoipa::path(
    patch, path = "/api/v1/admin/oauth-clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path, description = "Client id")),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "The changed client", body = OAuthClient),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such client", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "Invalid redirect URI, scope or policy", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_client(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<ClientUpdate>,
) -> Result<Json<OAuthClient>, ApiError> {
    Ok(Json(state.oidc.clients().update(&client_id, body, Some(&admin.user)).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/admin/oauth-clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted, with every token and consent issued to it"),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such client", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_client(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(client_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.oidc.clients().delete(&client_id, Some(&admin.user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RotatedSecret {
    /// The new secret, shown once; the old one stops working at once.
    client_secret: String,
}

#[utoipa::path(
    post, path = "/api/v1/admin/oauth-clients/{client_id}/rotate-secret", tag = "admin",
    params(("client_id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "A new secret", body = RotatedSecret),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "No such client", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "A public client has no secret", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn rotate_client_secret(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let client_secret = state.oidc.clients().rotate_secret(&client_id, Some(&admin.user)).await?;
    Ok(Json(RotatedSecret { client_secret }))
}

#[utoipa::path(
    get, path = "/api/v1/admin/modules", tag = "admin",
    responses(
        (status = 200, description = "Which modules are on for the whole instance", body = ModuleStates),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn show_modules(State(state): State<AppState>, _admin: Admin) -> Result<Json<ModuleStates>, ApiError> {
    Ok(Json(state.modules.states().await?))
}

/// Modules to turn on (`true`) or off (`false`); those not named keep their state.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModuleChanges {
    pub calendar: Option<bool>,
    pub contacts: Option<bool>,
    pub mail: Option<bool>,
    pub chat: Option<bool>,
}

impl ModuleChanges {
    fn list(&self) -> Vec<(Module, bool)> {
        [
            (Module::Calendar, self.calendar),
            (Module::Contacts, self.contacts),
            (Module::Mail, self.mail),
            (Module::Chat, self.chat),
        ]
        .into_iter()
        .filter_map(|(m, on)| on.map(|on| (m, on)))
        .collect()
    }
}

#[utoipa::path(
    put, path = "/api/v1/admin/modules", tag = "admin",
    request_body = ModuleChanges,
    responses(
        (status = 200, description = "The modules' states after the change; every process applies it within a second", body = ModuleStates),
        (status = 400, description = "Malformed JSON", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::api::openapi::ErrorBody),
        (status = 422, description = "A module Madang does not know, or a value that is not true or false", body = crate::api::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_modules(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(changes): ApiJson<ModuleChanges>,
) -> Result<Json<ModuleStates>, ApiError> {
    set_modules(&state, &admin, &changes.list()).await?;
    Ok(Json(state.modules.states().await?))
}

/// Turns modules on or off; each real change is audited as
/// `admin.module.enable` / `admin.module.disable` with the module as target.
/// Shared by the JSON API and the admin pages.
pub(crate) async fn set_modules(state: &AppState, admin: &Admin, changes: &[(Module, bool)]) -> Result<(), ApiError> {
    for (module, on) in state.modules.set(changes).await? {
        let action = if on { "admin.module.enable" } else { "admin.module.disable" };
        audit::record(state, admin.audit(action).target(module.name())).await;
    }
    Ok(())
}
