//! Instance-wide settings (`instance_settings`): named text values an
//! administrator changes at run time, shared by every process on the
//! database. The store keeps them as text; what a name means and which value
//! is valid is the business of the service that owns it (`crate::modules`).

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreResult, read, write};

impl Store {
    /// Every stored setting as `(name, value)`, by name. The table holds a
    /// handful of rows, so readers take all of them at once.
    pub async fn instance_settings(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(read!(self, |pool| sqlx::query_as::<_, (String, String)>(
            "SELECT name, value FROM instance_settings ORDER BY name"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Sets each `(name, value)` in one transaction, so a reader sees all of
    /// them changed or none.
    pub async fn set_instance_settings(&self, values: &[(&str, &str)], now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (name, value) in values {
                sqlx::query(
                    "INSERT INTO instance_settings (name, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
