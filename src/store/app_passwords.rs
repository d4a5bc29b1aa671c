//! App passwords: per-device secrets, stored only as keyed hashes.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, StoreResult, conflict_as, read, write};
use crate::domain::{AppPassword, AppPasswordId, UserId};

#[derive(sqlx::FromRow)]
struct AppPasswordRow {
    id: i64,
    user_id: i64,
    label: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<AppPasswordRow> for AppPassword {
    fn from(row: AppPasswordRow) -> Self {
        AppPassword {
            id: AppPasswordId(row.id),
            user_id: UserId(row.user_id),
            label: row.label,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

impl Store {
    pub async fn create_app_password(
        &self,
        user: UserId,
        label: &str,
        secret_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<AppPassword> {
        let row: AppPasswordRow = write!(self, |pool| sqlx::query_as(
            "INSERT INTO app_passwords (user_id, label, secret_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, user_id, label, created_at, last_used_at"
        )
        .bind(user.0)
        .bind(label)
        .bind(secret_hash)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(conflict_as("app password collision; try again"))?);
        Ok(row.into())
    }

    /// A user's app passwords, oldest first.
    pub async fn app_passwords(&self, user: UserId) -> StoreResult<Vec<AppPassword>> {
        let rows: Vec<AppPasswordRow> = read!(self, |pool| sqlx::query_as(
            "SELECT id, user_id, label, created_at, last_used_at FROM app_passwords WHERE user_id = $1 ORDER BY id"
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The app password of `user` whose keyed hash is `secret_hash`, if any.
    pub async fn app_password_by_hash(&self, user: UserId, secret_hash: &[u8]) -> StoreResult<Option<AppPassword>> {
        let row: Option<AppPasswordRow> = read!(self, |pool| sqlx::query_as(
            "SELECT id, user_id, label, created_at, last_used_at FROM app_passwords \
             WHERE secret_hash = $1 AND user_id = $2"
        )
        .bind(secret_hash)
        .bind(user.0)
        .fetch_optional(pool)
        .await?);
        Ok(row.map(Into::into))
    }

    pub async fn touch_app_password(&self, id: AppPasswordId, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query("UPDATE app_passwords SET last_used_at = $2 WHERE id = $1")
            .bind(id.0)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Revokes an app password of `user`; cached sign-ins of the user are
    /// dropped in the same transaction so the revoked secret stops working
    /// everywhere at once.
    pub async fn revoke_app_password(&self, user: UserId, id: AppPasswordId, now: DateTime<Utc>) -> StoreResult<()> {
        let done = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM app_passwords WHERE id = $1 AND user_id = $2")
                .bind(id.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(super::users::BUMP_CREDENTIALS).bind(user.0).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n
        });
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
