//! TOTP secrets (sealed, never in clear) and recovery codes (keyed hashes).

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreResult, read, write};
use crate::domain::UserId;

/// A user's TOTP record.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    /// The secret, encrypted with [`crate::auth::secretbox::SecretBox`].
    pub secret_sealed: Vec<u8>,
    /// False while enrolment waits for the first code.
    pub enabled: bool,
    /// The last time step a code was accepted for.
    pub last_step: i64,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    secret_sealed: Vec<u8>,
    enabled: bool,
    last_step: i64,
}

impl Store {
    pub async fn totp(&self, user: UserId) -> StoreResult<Option<TotpRecord>> {
        let row: Option<TotpRow> =
            read!(self, |pool| sqlx::query_as("SELECT secret_sealed, enabled, last_step FROM totp WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(pool)
                .await?);
        Ok(row.map(|r| TotpRecord { secret_sealed: r.secret_sealed, enabled: r.enabled, last_step: r.last_step }))
    }

    /// Whether the account password is refused over HTTP Basic.
    pub async fn totp_enabled(&self, user: UserId) -> StoreResult<bool> {
        let enabled: Option<bool> =
            read!(self, |pool| sqlx::query_scalar("SELECT enabled FROM totp WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(pool)
                .await?);
        Ok(enabled.unwrap_or(false))
    }

    /// Starts (or restarts) enrolment with a new secret. Refused (false)
    /// when TOTP is already on: replacing the secret needs disabling first.
    pub async fn begin_totp(&self, user: UserId, secret_sealed: &[u8], now: DateTime<Utc>) -> StoreResult<bool> {
        let done = write!(self, |pool| {
            sqlx::query(
            "INSERT INTO totp (user_id, secret_sealed, enabled, last_step, created_at) VALUES ($1, $2, FALSE, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, last_step = 0, \
             created_at = excluded.created_at WHERE totp.enabled = FALSE"
        )
        .bind(user.0)
        .bind(secret_sealed)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(done == 1)
    }

    /// Turns TOTP on after the first good code (whose step is recorded, so
    /// it cannot be replayed at sign-in) and stores the recovery codes.
    /// Cached HTTP Basic sign-ins with the account password are dropped in
    /// the same transaction: from now on only app passwords work there.
    pub async fn enable_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE totp SET enabled = TRUE, last_step = $2, enabled_at = $3 WHERE user_id = $1 AND enabled = FALSE",
            )
            .bind(user.0)
            .bind(step)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
                for hash in recovery_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                        .bind(user.0)
                        .bind(&hash[..])
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(super::users::BUMP_CREDENTIALS).bind(user.0).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n == 1
        }))
    }

    /// Turns TOTP off and forgets the secret and the recovery codes.
    pub async fn disable_totp(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM totp WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.0).execute(&mut *tx).await?;
            sqlx::query(super::users::BUMP_CREDENTIALS).bind(user.0).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that a code for `step` was accepted, only if no code for this
    /// or a later step was (RFC 6238 §5.2: a verifier must not accept the
    /// same OTP twice). One conditional write, so concurrent replays of one
    /// code cannot both win.
    pub async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE totp SET last_step = $2 WHERE user_id = $1 AND enabled = TRUE AND last_step < $2"
        )
        .bind(user.0)
        .bind(step)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Spends a recovery code: true once, false ever after.
    pub async fn use_recovery_code(&self, user: UserId, code_hash: &[u8], now: DateTime<Utc>) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL"
        )
        .bind(user.0)
        .bind(code_hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    pub async fn recovery_codes_left(&self, user: UserId) -> StoreResult<i64> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"
        )
        .bind(user.0)
        .fetch_one(pool)
        .await?))
    }
}
