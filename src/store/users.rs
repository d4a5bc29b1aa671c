//! User accounts: creation, look-up, password hashes, role and state.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, StoreResult, conflict_as, read, write};
use crate::domain::{Email, NewUser, Role, User, UserCredentials, UserId, UserState, Username};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    display_name: String,
    role: String,
    state: String,
    password_hash: Option<String>,
    credentials_version: i64,
    email_verified: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl UserRow {
    fn into_credentials(self) -> StoreResult<UserCredentials> {
        let corrupt =
            |what: &str, value: &str| StoreError::Internal(format!("user {} has an invalid {what} `{value}`", self.id));
        let role: Role = self.role.parse().map_err(|_| corrupt("role", &self.role))?;
        let state: UserState = self.state.parse().map_err(|_| corrupt("state", &self.state))?;
        Ok(UserCredentials {
            user: User {
                id: UserId(self.id),
                username: Username::from_trusted(self.username),
                email: Email::from_trusted(self.email),
                display_name: self.display_name,
                role,
                state,
                email_verified: self.email_verified,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            password_hash: self.password_hash,
            credentials_version: self.credentials_version,
        })
    }

    fn into_user(self) -> StoreResult<User> {
        Ok(self.into_credentials()?.user)
    }
}

/// A fresh OpenID Connect subject: 128 random bits in hex.
fn new_subject() -> StoreResult<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Drops every cached sign-in of user `$1` (see `auth`), stamped `$2`; run
/// in the same transaction as the change that calls for it.
pub(super) const BUMP_CREDENTIALS: &str =
    "UPDATE users SET credentials_version = credentials_version + 1, updated_at = $2 WHERE id = $1";

const TAKEN: &str = "a user with this name already exists";

// SQL text is built once per query from constant pieces; `concat!` keeps it
// `&'static str`, which is what sqlx accepts without an escape hatch.
macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, username, email, display_name, role, state, password_hash, ",
            "credentials_version, email_verified, created_at, updated_at FROM users ",
            $tail
        )
    };
}

impl Store {
    pub async fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> StoreResult<User> {
        let subject = new_subject()?;
        let row: UserRow = write!(self, |pool| {
            sqlx::query_as(concat!(
            "INSERT INTO users (username, email, display_name, role, state, password_hash, created_at, updated_at, ",
            "subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id, username, email, display_name, role, ",
            "state, password_hash, credentials_version, email_verified, created_at, updated_at"
        ))
        .bind(new.username.as_str())
        .bind(new.email.as_str())
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(new.state.as_str())
        .bind(new.password_hash.as_deref())
        .bind(now)
        .bind(&subject)
        .fetch_one(pool)
        .await
        .map_err(conflict_as(TAKEN))?
        });
        row.into_user()
    }

    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        Ok(self.credentials_by_id(id).await?.user)
    }

    pub async fn user_by_name(&self, name: &Username) -> StoreResult<User> {
        Ok(self.credentials_by_name(name).await?.user)
    }

    /// The account with its password hash, for sign-in only.
    pub async fn credentials_by_name(&self, name: &Username) -> StoreResult<UserCredentials> {
        let row: UserRow = read!(self, |pool| sqlx::query_as(select_users!("WHERE username = $1"))
            .bind(name.as_str())
            .fetch_one(pool)
            .await?);
        row.into_credentials()
    }

    /// All accounts, oldest first.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> =
            read!(self, |pool| sqlx::query_as(select_users!("ORDER BY id")).fetch_all(pool).await?);
        rows.into_iter().map(UserRow::into_user).collect()
    }

    /// The account with its credentials version: what a cached sign-in is
    /// checked against.
    pub async fn credentials_by_id(&self, id: UserId) -> StoreResult<UserCredentials> {
        let row: UserRow =
            read!(self, |pool| sqlx::query_as(select_users!("WHERE id = $1")).bind(id.0).fetch_one(pool).await?);
        row.into_credentials()
    }

    /// Sets a new password; every cached sign-in of the user is dropped.
    pub async fn set_password_hash(&self, id: UserId, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET password_hash = $2, credentials_version = credentials_version + 1, updated_at = $3 WHERE id = $1",
            id,
            hash,
            now,
        )
        .await
    }

    /// Replaces a hash with a stronger hash of the same password (bcrypt to
    /// argon2id on sign-in), only if the password was not changed meanwhile.
    /// Cached sign-ins stay valid: the password is the same.
    pub async fn upgrade_password_hash(&self, id: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"
        )
        .bind(id.0)
        .bind(old)
        .bind(new)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    pub async fn set_role(&self, id: UserId, role: Role, now: DateTime<Utc>) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET role = $2, credentials_version = credentials_version + 1, updated_at = $3 WHERE id = $1",
            id,
            role.as_str(),
            now,
        )
        .await
    }

    pub async fn set_state(&self, id: UserId, state: UserState, now: DateTime<Utc>) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET state = $2, credentials_version = credentials_version + 1, updated_at = $3 WHERE id = $1",
            id,
            state.as_str(),
            now,
        )
        .await
    }

    async fn update_user(&self, sql: &'static str, id: UserId, value: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let done =
            write!(self, |pool| sqlx::query(sql).bind(id.0).bind(value).bind(now).execute(pool).await?.rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Changes state only if the account is in `from` — approving a sign-up
    /// twice, or one that was rejected meanwhile, must not silently succeed.
    pub async fn transition_state(
        &self,
        id: UserId,
        from: UserState,
        to: UserState,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE users SET state = $3, credentials_version = credentials_version + 1, updated_at = $4 \
             WHERE id = $1 AND state = $2"
        )
        .bind(id.0)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Deletes the account and, through foreign keys, everything it owns.
    pub async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        let done = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM users WHERE id = $1").bind(id.0).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Deletes the account only while it is still pending, so a rejection
    /// racing an approval can never delete an account that became active.
    pub async fn delete_pending_user(&self, id: UserId) -> StoreResult<()> {
        let done = write!(self, |pool| sqlx::query("DELETE FROM users WHERE id = $1 AND state = 'pending'")
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        if done == 0 { Err(StoreError::Conflict("the account is no longer pending".into())) } else { Ok(()) }
    }

    /// How many sign-up requests wait for an administrator: the count shown
    /// on administrators' pages and in the mail that tells them.
    pub async fn count_pending_users(&self) -> StoreResult<i64> {
        Ok(read!(self, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE state = 'pending'")
            .fetch_one(pool)
            .await?))
    }

    /// The active administrators, oldest first: who is told about sign-up requests.
    pub async fn active_admins(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> =
            read!(self, |pool| sqlx::query_as(select_users!("WHERE role = 'admin' AND state = 'active' ORDER BY id"))
                .fetch_all(pool)
                .await?);
        rows.into_iter().map(UserRow::into_user).collect()
    }

    pub async fn count_active_admins(&self) -> StoreResult<i64> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND state = 'active'"
        )
        .fetch_one(pool)
        .await?))
    }

    /// The user's OpenID Connect subject (`sub`): stable for the life of the
    /// account and never given to another (OIDC Core §2).
    pub async fn user_subject(&self, id: UserId) -> StoreResult<String> {
        Ok(read!(self, |pool| sqlx::query_scalar("SELECT subject FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_one(pool)
            .await?))
    }

    pub async fn user_by_subject(&self, subject: &str) -> StoreResult<User> {
        let row: UserRow = read!(self, |pool| sqlx::query_as(select_users!("WHERE subject = $1"))
            .bind(subject)
            .fetch_one(pool)
            .await?);
        row.into_user()
    }

    /// Records whether the user's address is proven (an e-mailed link was
    /// followed, or an administrator vouched for it). Changing the address
    /// elsewhere must clear it.
    pub async fn set_email_verified(&self, id: UserId, verified: bool, now: DateTime<Utc>) -> StoreResult<()> {
        let done =
            write!(self, |pool| sqlx::query("UPDATE users SET email_verified = $2, updated_at = $3 WHERE id = $1")
                .bind(id.0)
                .bind(verified)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// The account a live OAuth access token speaks for, with the token's
    /// scopes: what a `Bearer` request needs, in one read (the token, its
    /// grant and the user joined), since every such request pays for it.
    pub async fn user_by_access_token(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(User, String)>> {
        let row: Option<BearerRow> = read!(self, |pool| sqlx::query_as(concat!(
            "SELECT u.id, u.username, u.email, u.display_name, u.role, u.state, u.password_hash, ",
            "u.credentials_version, u.email_verified, u.created_at, u.updated_at, t.scopes ",
            "FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id JOIN users u ON u.id = g.user_id ",
            "WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2 AND t.revoked_at IS NULL ",
            "AND t.used_at IS NULL AND g.revoked_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?);
        row.map(|r| Ok((r.user.into_user()?, r.scopes))).transpose()
    }
}

#[derive(sqlx::FromRow)]
struct BearerRow {
    #[sqlx(flatten)]
    user: UserRow,
    scopes: String,
}
