//! Instance-wide random keys, kept in the database so that every Madang
//! process sharing it agrees on them (app-password hashes must verify on
//! whichever process behind the load balancer gets the request).

use chrono::{DateTime, Utc};

use super::{Store, StoreError, StoreResult, write};

impl Store {
    /// Returns the secret called `name`, storing `candidate` first if there
    /// is none yet. When several processes start at once, the first insert
    /// wins and all of them read back the same value.
    pub async fn instance_secret(&self, name: &str, candidate: &[u8], now: DateTime<Utc>) -> StoreResult<Vec<u8>> {
        Ok(write!(self, |pool| {
            sqlx::query(
                "INSERT INTO instance_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query_scalar("SELECT value FROM instance_secrets WHERE name = $1").bind(name).fetch_one(pool).await?
        }))
    }

    /// A 256-bit instance key called `name`: made from fresh randomness the
    /// first time, read back ever after (see [`Store::instance_secret`]).
    pub async fn instance_key(&self, name: &str, now: DateTime<Utc>) -> StoreResult<[u8; 32]> {
        let mut candidate = [0u8; 32];
        getrandom::getrandom(&mut candidate).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
        self.instance_secret(name, &candidate, now)
            .await?
            .try_into()
            .map_err(|_| StoreError::Internal(format!("instance secret {name} is not 32 bytes")))
    }
}
