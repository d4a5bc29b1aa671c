//! Account rules shared by the CLI and the API: what may be done to an
//! account, on top of the plain storage operations.

use std::sync::Arc;

use crate::auth::{AuthError, Authenticator, app_password};
use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::domain::{
    AppPassword, AppPasswordId, Email, InvalidInput, NewUser, Role, User, UserState, Username,
    parse_app_password_label, parse_display_name,
};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("no such app password: {0}")]
    NoSuchAppPassword(AppPasswordId),
    #[error("a user named `{0}` already exists")]
    UserExists(String),
    /// The change is allowed in general but not in the account's state.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e)
    }
}

impl From<AuthError> for AccountError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unavailable(s) => AccountError::Store(s),
            other => AccountError::Refused(other.to_string()),
        }
    }
}

pub type AccountResult<T> = Result<T, AccountError>;

/// What `add_user` needs beyond the name.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub state: UserState,
    pub password: Option<String>,
}

pub struct Accounts {
    store: Store,
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

impl Accounts {
    pub fn new(store: Store, auth: Arc<Authenticator>, clock: Arc<dyn Clock>, config: AuthConfig) -> Self {
        Self { store, auth, clock, config }
    }

    pub fn check_password_policy(&self, password: &str) -> Result<(), InvalidInput> {
        let chars = password.chars().count();
        if chars < self.config.min_password_length {
            return Err(InvalidInput(format!(
                "password is too short: at least {} characters are required",
                self.config.min_password_length
            )));
        }
        if password.len() > 1024 {
            return Err(InvalidInput("password is longer than 1024 bytes".into()));
        }
        Ok(())
    }

    pub async fn user(&self, name: &str) -> AccountResult<User> {
        let username = Username::parse(name)?;
        self.store.user_by_name(&username).await.map_err(|e| not_found_as_user(e, &username))
    }

    pub async fn add_user(&self, new: NewAccount) -> AccountResult<User> {
        let username = Username::parse(&new.username)?;
        let email = Email::parse(&new.email)?;
        let display_name = match new.display_name {
            Some(name) => parse_display_name(&name)?,
            None => username.to_string(),
        };
        let password_hash = match new.password {
            Some(password) => {
                self.check_password_policy(&password)?;
                Some(self.auth.hash_password(&password).await?)
            }
            None => None,
        };
        let user = NewUser {
            username: username.clone(),
            email,
            display_name,
            role: new.role,
            state: new.state,
            password_hash,
        };
        self.store.create_user(&user, self.clock.now()).await.map_err(|e| match e {
            StoreError::Conflict(_) => AccountError::UserExists(username.to_string()),
            other => other.into(),
        })
    }

    /// Sets a new password. Whoever was signed in on the web with the old
    /// one is signed out — every browser session but `keep` (the browser that
    /// made the change, if it was one) — and cached Basic sign-ins drop too.
    /// Every OpenID Connect grant is revoked as well: a password change is
    /// how an account recovers from a stolen password, and a thief could
    /// have signed in to a relying party with it. (Turning TOTP on or off
    /// deliberately does not revoke grants; see `crate::oidc`.)
    pub async fn set_password(&self, name: &str, password: &str, keep: Option<i64>) -> AccountResult<User> {
        self.check_password_policy(password)?;
        let user = self.user(name).await?;
        let hash = self.auth.hash_password(password).await?;
        let now = self.clock.now();
        self.store.set_password_hash(user.id, &hash, now).await?;
        self.store.delete_web_sessions_except(user.id, keep).await?;
        self.store.revoke_oauth_grants_of_user(user.id, now).await?;
        Ok(user)
    }

    pub async fn set_role(&self, name: &str, role: Role) -> AccountResult<User> {
        let user = self.user(name).await?;
        if user.role == Role::Admin && role != Role::Admin {
            self.guard_last_admin(&user, "remove the admin role from").await?;
        }
        self.store.set_role(user.id, role, self.clock.now()).await?;
        Ok(self.store.user(user.id).await?)
    }

    /// A pending sign-up becomes an active account.
    pub async fn approve(&self, name: &str) -> AccountResult<User> {
        let user = self.user(name).await?;
        if !self.store.transition_state(user.id, UserState::Pending, UserState::Active, self.clock.now()).await? {
            return Err(AccountError::Refused(format!(
                "{} is {}, not pending; only pending sign-ups can be approved",
                user.username, user.state
            )));
        }
        Ok(self.store.user(user.id).await?)
    }

    /// Refuses a pending sign-up: the account is deleted, so the name can be
    /// asked for again. Only pending accounts can be rejected — an active
    /// account is disabled or deleted instead, deliberately.
    pub async fn reject(&self, name: &str) -> AccountResult<User> {
        let user = self.user(name).await?;
        if user.state != UserState::Pending {
            return Err(AccountError::Refused(format!(
                "{} is {}, not pending; only pending sign-ups can be rejected",
                user.username, user.state
            )));
        }
        self.store.delete_pending_user(user.id).await?;
        Ok(user)
    }

    pub async fn disable(&self, name: &str) -> AccountResult<User> {
        let user = self.user(name).await?;
        self.guard_last_admin(&user, "disable").await?;
        self.store.set_state(user.id, UserState::Disabled, self.clock.now()).await?;
        Ok(self.store.user(user.id).await?)
    }

    pub async fn enable(&self, name: &str) -> AccountResult<User> {
        let user = self.user(name).await?;
        self.store.set_state(user.id, UserState::Active, self.clock.now()).await?;
        Ok(self.store.user(user.id).await?)
    }

    pub async fn delete(&self, name: &str) -> AccountResult<User> {
        let user = self.user(name).await?;
        self.guard_last_admin(&user, "delete").await?;
        self.store.delete_user(user.id).await?;
        Ok(user)
    }

    /// Locking out the last administrator would leave nobody able to approve
    /// sign-ups or fix accounts from the web; the CLI could, but refuse anyway.
    async fn guard_last_admin(&self, user: &User, action: &str) -> AccountResult<()> {
        if user.role == Role::Admin && user.state == UserState::Active && self.store.count_active_admins().await? <= 1 {
            return Err(AccountError::Refused(format!(
                "cannot {action} {}: it is the last active admin; make another user admin first",
                user.username
            )));
        }
        Ok(())
    }

    /// Creates an app password; the returned secret is the only copy.
    pub async fn add_app_password(&self, name: &str, label: &str) -> AccountResult<(AppPassword, String)> {
        let label = parse_app_password_label(label)?;
        let user = self.user(name).await?;
        let secret = app_password::generate().map_err(|e| StoreError::Internal(e.to_string()))?;
        let hash = self
            .auth
            .app_password_hash(&secret)
            .ok_or_else(|| StoreError::Internal("generated app password does not normalize".into()))?;
        let created = self.store.create_app_password(user.id, &label, &hash, self.clock.now()).await?;
        Ok((created, secret))
    }

    pub async fn app_passwords(&self, name: &str) -> AccountResult<(User, Vec<AppPassword>)> {
        let user = self.user(name).await?;
        let list = self.store.app_passwords(user.id).await?;
        Ok((user, list))
    }

    pub async fn revoke_app_password(&self, name: &str, id: AppPasswordId) -> AccountResult<()> {
        let user = self.user(name).await?;
        self.store.revoke_app_password(user.id, id, self.clock.now()).await.map_err(|e| match e {
            StoreError::NotFound => AccountError::NoSuchAppPassword(id),
            other => other.into(),
        })
    }
}

fn not_found_as_user(e: StoreError, name: &Username) -> AccountError {
    match e {
        StoreError::NotFound => AccountError::NoSuchUser(name.to_string()),
        other => other.into(),
    }
}
