//! Instance-wide random keys, kept in the database so that every Madang
//! process sharing it agrees on them (app-password hashes must verify on
//! whichever process behind the load balancer gets the request).

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, write};

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
}
