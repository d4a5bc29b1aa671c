//! The senders whose remote images a user always wants shown (`mail_image_senders`): the "always
//! show images from this sender" list of the mail reader (docs/mail.md).

use chrono::{DateTime, Utc};

use super::db::Db;
use super::{Store, StoreError, StoreResult};
use crate::domain::UserId;
use crate::store::db::args;

/// One trusted sender.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImageSenderRow {
    /// Lower case.
    pub address: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The user's trusted senders, by address.
    pub async fn mail_image_senders(&self, user: UserId) -> StoreResult<Vec<ImageSenderRow>> {
        let mut db = Db::read(self).await?;
        db.rows("SELECT address, created_at FROM mail_image_senders WHERE user_id = $1 ORDER BY address", args![user.0])
            .await
    }

    /// Whether the user trusts `address` (lower case) with their images.
    pub async fn mail_image_sender_trusted(&self, user: UserId, address: &str) -> StoreResult<bool> {
        let mut db = Db::read(self).await?;
        let found: Option<(i64,)> = db
            .opt("SELECT user_id FROM mail_image_senders WHERE user_id = $1 AND address = $2", args![user.0, address])
            .await?;
        Ok(found.is_some())
    }

    /// Adds `address` (lower case) to the user's list; already there is fine. `Conflict` when
    /// the list already holds `max` addresses.
    pub async fn add_mail_image_sender(
        &self,
        user: UserId,
        address: &str,
        max: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<ImageSenderRow> {
        let mut db = Db::write(self).await?;
        let (count,): (i64,) =
            db.one("SELECT COUNT(*) FROM mail_image_senders WHERE user_id = $1", args![user.0]).await?;
        if u64::try_from(count).unwrap_or(0) >= max {
            let present: Option<(i64,)> = db
                .opt(
                    "SELECT user_id FROM mail_image_senders WHERE user_id = $1 AND address = $2",
                    args![user.0, address],
                )
                .await?;
            if present.is_none() {
                return Err(StoreError::Conflict(format!("at most {max} senders whose images are always shown")));
            }
        }
        db.exec(
            "INSERT INTO mail_image_senders (user_id, address, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, address) DO NOTHING",
            args![user.0, address, now],
        )
        .await?;
        let row = db
            .one(
                "SELECT address, created_at FROM mail_image_senders WHERE user_id = $1 AND address = $2",
                args![user.0, address],
            )
            .await?;
        db.commit().await?;
        Ok(row)
    }

    /// Removes `address` from the user's list; `NotFound` when it was not on it.
    pub async fn remove_mail_image_sender(&self, user: UserId, address: &str) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        let n = db
            .exec("DELETE FROM mail_image_senders WHERE user_id = $1 AND address = $2", args![user.0, address])
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        db.commit().await
    }
}
