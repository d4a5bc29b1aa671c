//! Web sessions, second-factor challenges and password-reset links: random
//! tokens stored only as SHA-256 hashes, looked up by hash.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, StoreResult, read, write};
use crate::domain::UserId;

/// A stored browser session (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct WebSessionRecord {
    pub id: i64,
    pub user_id: UserId,
    pub auth_time: DateTime<Utc>,
    /// Authentication methods (RFC 8176 values: `pwd`, `otp`).
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: String,
    pub address: String,
}

/// What a new session records.
#[derive(Debug, Clone)]
pub struct NewWebSession<'a> {
    pub token_hash: &'a [u8],
    pub user_id: UserId,
    pub auth_time: DateTime<Utc>,
    pub amr: &'a [String],
    pub expires_at: DateTime<Utc>,
    pub user_agent: &'a str,
    pub address: &'a str,
}

/// A sign-in whose password was right, waiting for its second factor.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    pub user_id: UserId,
    /// The user's `credentials_version` when the password was proved.
    pub credentials_version: i64,
    /// Codes entered so far.
    pub attempts: i64,
}

/// What a new challenge records.
#[derive(Debug, Clone)]
pub struct NewMfaChallenge<'a> {
    pub token_hash: &'a [u8],
    pub user_id: UserId,
    pub credentials_version: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    user_id: i64,
    auth_time: DateTime<Utc>,
    amr: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_agent: String,
    address: String,
}

impl From<SessionRow> for WebSessionRecord {
    fn from(row: SessionRow) -> Self {
        WebSessionRecord {
            id: row.id,
            user_id: UserId(row.user_id),
            auth_time: row.auth_time,
            amr: row.amr.split_whitespace().map(str::to_string).collect(),
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            user_agent: row.user_agent,
            address: row.address,
        }
    }
}

macro_rules! select_sessions {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, auth_time, amr, created_at, last_seen_at, expires_at, user_agent, address ",
            "FROM web_sessions ",
            $tail
        )
    };
}

impl Store {
    pub async fn create_web_session(
        &self,
        new: &NewWebSession<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<WebSessionRecord> {
        let amr = new.amr.join(" ");
        let row: SessionRow = write!(self, |pool| sqlx::query_as(concat!(
            "INSERT INTO web_sessions (token_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ",
            "user_agent, address) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) ",
            "RETURNING id, user_id, auth_time, amr, created_at, last_seen_at, expires_at, user_agent, address"
        ))
        .bind(new.token_hash)
        .bind(new.user_id.0)
        .bind(new.auth_time)
        .bind(&amr)
        .bind(now)
        .bind(new.expires_at)
        .bind(new.user_agent)
        .bind(new.address)
        .fetch_one(pool)
        .await?);
        Ok(row.into())
    }

    /// The session whose token hashes to `token_hash`, whatever its expiry
    /// (the caller decides, with its configured timeouts).
    pub async fn web_session_by_hash(&self, token_hash: &[u8]) -> StoreResult<Option<WebSessionRecord>> {
        let row: Option<SessionRow> = read!(self, |pool| sqlx::query_as(select_sessions!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(Into::into))
    }

    /// A user's sessions, most recently used first.
    pub async fn web_sessions(&self, user: UserId) -> StoreResult<Vec<WebSessionRecord>> {
        let rows: Vec<SessionRow> = read!(self, |pool| sqlx::query_as(select_sessions!(
            "WHERE user_id = $1 ORDER BY last_seen_at DESC, id DESC"
        ))
        .bind(user.0)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn touch_web_session(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query("UPDATE web_sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Ends one session of `user`; `NotFound` if it is not theirs.
    pub async fn delete_web_session(&self, user: UserId, id: i64) -> StoreResult<()> {
        let done = write!(self, |pool| sqlx::query("DELETE FROM web_sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.0)
            .execute(pool)
            .await?
            .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Ends every session of `user` except `keep`; returns how many ended.
    pub async fn delete_web_sessions_except(&self, user: UserId, keep: Option<i64>) -> StoreResult<u64> {
        Ok(write!(self, |pool| sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.0)
            .bind(keep.unwrap_or(-1))
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Forgets sessions past their absolute expiry or idle since `idle_before`.
    pub async fn purge_web_sessions(&self, now: DateTime<Utc>, idle_before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    pub async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: &[u8],
        expires_at: DateTime<Utc>,
        sent_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, sent_to) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .bind(expires_at)
        .bind(sent_to)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The user a reset link belongs to, if it is unused and unexpired
    /// (for showing the form; [`Store::consume_password_reset`] decides).
    pub async fn password_reset_user(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<UserId>> {
        let id: Option<i64> = read!(self, |pool| sqlx::query_scalar(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?);
        Ok(id.map(UserId))
    }

    /// The address a reset link was mailed to (`None` for a link an
    /// administrator handed out, or no such link).
    pub async fn password_reset_recipient(&self, token_hash: &[u8]) -> StoreResult<Option<String>> {
        let sent_to: Option<Option<String>> =
            read!(self, |pool| sqlx::query_scalar("SELECT sent_to FROM password_resets WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?);
        Ok(sent_to.flatten())
    }

    /// Marks a reset link used and returns its user, in one conditional
    /// write: two concurrent uses of one link cannot both succeed. Every
    /// other open link of the user dies with it.
    pub async fn consume_password_reset(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<UserId>> {
        let id: Option<i64> = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE password_resets SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(user) = id {
                sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            id
        });
        Ok(id.map(UserId))
    }

    /// Reopens a link that [`Store::consume_password_reset`] closed, when
    /// what it was consumed for failed: the link must not be lost. Only
    /// this link comes back (the user's other links stay closed), and only
    /// if it has not expired.
    pub async fn restore_password_reset(&self, token_hash: &[u8], user: UserId) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "UPDATE password_resets SET used_at = NULL WHERE token_hash = $1 AND user_id = $2"
        )
        .bind(token_hash)
        .bind(user.0)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Whether `user` has an open link issued since `since`.
    pub async fn recent_password_reset(
        &self,
        user: UserId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let found: Option<i64> = read!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM password_resets \
             WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2 AND created_at >= $3 LIMIT 1"
        )
        .bind(user.0)
        .bind(now)
        .bind(since)
        .fetch_optional(pool)
        .await?);
        Ok(found.is_some())
    }

    /// Forgets used and expired reset links.
    pub async fn purge_password_resets(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| sqlx::query(
            "DELETE FROM password_resets WHERE used_at IS NOT NULL OR expires_at <= $1"
        )
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    pub async fn create_mfa_challenge(&self, new: &NewMfaChallenge<'_>, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(concat!(
            "INSERT INTO web_mfa_challenges (token_hash, user_id, credentials_version, attempts, created_at, ",
            "expires_at) VALUES ($1, $2, $3, 0, $4, $5)"
        ))
        .bind(new.token_hash)
        .bind(new.user_id.0)
        .bind(new.credentials_version)
        .bind(now)
        .bind(new.expires_at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The unexpired challenge whose token hashes to `token_hash`.
    pub async fn mfa_challenge(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Option<MfaChallenge>> {
        let row: Option<(i64, i64, i64)> = read!(self, |pool| sqlx::query_as(
            "SELECT user_id, credentials_version, attempts FROM web_mfa_challenges \
             WHERE token_hash = $1 AND expires_at > $2"
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(user_id, credentials_version, attempts)| MfaChallenge {
            user_id: UserId(user_id),
            credentials_version,
            attempts,
        }))
    }

    /// Counts one code entered against the challenge, in one conditional
    /// write: `false` once `max` codes were entered (or it is gone), so
    /// concurrent submissions cannot exceed the cap.
    pub async fn count_mfa_attempt(&self, token_hash: &[u8], max: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE web_mfa_challenges SET attempts = attempts + 1 \
             WHERE token_hash = $1 AND attempts < $2 AND expires_at > $3"
        )
        .bind(token_hash)
        .bind(max)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done > 0)
    }

    /// Deletes the challenge; `false` if it was already gone (used by a
    /// concurrent request), so it can complete one sign-in only.
    pub async fn consume_mfa_challenge(&self, token_hash: &[u8]) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query("DELETE FROM web_mfa_challenges WHERE token_hash = $1")
            .bind(token_hash)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    /// Forgets expired challenges.
    pub async fn purge_mfa_challenges(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(write!(self, |pool| sqlx::query("DELETE FROM web_mfa_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Active accounts with this e-mail address (reset requests by address).
    pub async fn active_user_ids_by_email(&self, email: &str) -> StoreResult<Vec<UserId>> {
        let ids: Vec<i64> = read!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(email) = lower($1) AND state = 'active' ORDER BY id LIMIT 5"
        )
        .bind(email)
        .fetch_all(pool)
        .await?);
        Ok(ids.into_iter().map(UserId).collect())
    }
}
