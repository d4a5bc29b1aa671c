//! Chat integrations: incoming webhooks and bots, their hashed tokens, and the channels bots
//! were added to. Tokens are looked up by their SHA-256; the token itself is never stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError, StoreResult, conflict_as, read, write};
use crate::domain::UserId;

/// An incoming webhook (its secret URL is shown only when it is made).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub channel: i64,
    pub name: String,
    /// Who made it (null once that account is deleted).
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    channel_id: i64,
    name: String,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
        Webhook {
            id: r.id,
            channel: r.channel_id,
            name: r.name,
            created_by: r.created_by,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

macro_rules! select_webhooks {
    ($tail:literal) => {
        concat!(
            "SELECT w.id, w.channel_id, w.name, u.username AS created_by, w.created_at, w.last_used_at ",
            "FROM chat_webhooks w LEFT JOIN users u ON u.id = w.created_by ",
            $tail
        )
    };
}

/// A bot: a name that posts through the chat API with a bearer token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bot {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub icon_url: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct BotRow {
    id: i64,
    name: String,
    display_name: String,
    icon_url: Option<String>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<BotRow> for Bot {
    fn from(r: BotRow) -> Self {
        Bot {
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            icon_url: r.icon_url,
            created_by: r.created_by,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

macro_rules! select_bots {
    ($tail:literal) => {
        concat!(
            "SELECT b.id, b.name, b.display_name, b.icon_url, u.username AS created_by, b.created_at, b.last_used_at ",
            "FROM chat_bots b LEFT JOIN users u ON u.id = b.created_by ",
            $tail
        )
    };
}

/// A channel as a bot sees it (`GET /api/v1/chat/channels` with a bot token).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct BotChannel {
    pub id: i64,
    /// `public` or `private` (a bot is never in a direct message).
    pub kind: String,
    pub name: Option<String>,
    pub topic: String,
    pub archived: bool,
}

/// What a new bot records.
#[derive(Debug, Clone)]
pub struct NewBot<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub icon_url: Option<&'a str>,
    pub token_hash: &'a [u8],
    pub created_by: UserId,
}

impl Store {
    pub async fn create_chat_webhook(
        &self,
        channel: i64,
        name: &str,
        token_hash: &[u8],
        created_by: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Webhook> {
        let id: i64 = write!(self, |pool| sqlx::query_scalar(
            "INSERT INTO chat_webhooks (channel_id, name, token_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        .bind(channel)
        .bind(name)
        .bind(token_hash)
        .bind(created_by.0)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(conflict_as("token collision; try again"))?);
        self.chat_webhook(id).await
    }

    /// A live (not revoked) webhook.
    pub async fn chat_webhook(&self, id: i64) -> StoreResult<Webhook> {
        let row: WebhookRow =
            read!(self, |pool| sqlx::query_as(select_webhooks!("WHERE w.id = $1 AND w.revoked_at IS NULL"))
                .bind(id)
                .fetch_one(pool)
                .await?);
        Ok(row.into())
    }

    /// A channel's live webhooks, oldest first.
    pub async fn chat_webhooks(&self, channel: i64) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = read!(self, |pool| sqlx::query_as(select_webhooks!(
            "WHERE w.channel_id = $1 AND w.revoked_at IS NULL ORDER BY w.id"
        ))
        .bind(channel)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The live webhook whose token hashes to `token_hash`.
    pub async fn chat_webhook_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Webhook>> {
        let row: Option<WebhookRow> =
            read!(self, |pool| sqlx::query_as(select_webhooks!("WHERE w.token_hash = $1 AND w.revoked_at IS NULL"))
                .bind(token_hash)
                .fetch_optional(pool)
                .await?);
        Ok(row.map(Into::into))
    }

    /// Revokes a live webhook; `NotFound` if there is none with this id.
    pub async fn revoke_chat_webhook(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE chat_webhooks SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Records that a webhook posted (shown to its admins as `last_used_at`).
    pub async fn touch_chat_webhook(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| sqlx::query("UPDATE chat_webhooks SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn create_chat_bot(&self, new: &NewBot<'_>, now: DateTime<Utc>) -> StoreResult<Bot> {
        let id: i64 = write!(self, |pool| sqlx::query_scalar(
            "INSERT INTO chat_bots (name, display_name, icon_url, token_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        )
        .bind(new.name)
        .bind(new.display_name)
        .bind(new.icon_url)
        .bind(new.token_hash)
        .bind(new.created_by.0)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(conflict_as("a bot with this name exists"))?);
        let row: BotRow =
            read!(self, |pool| sqlx::query_as(select_bots!("WHERE b.id = $1")).bind(id).fetch_one(pool).await?);
        Ok(row.into())
    }

    /// The live bots, by name.
    pub async fn chat_bots(&self) -> StoreResult<Vec<Bot>> {
        let rows: Vec<BotRow> =
            read!(self, |pool| sqlx::query_as(select_bots!("WHERE b.revoked_at IS NULL ORDER BY b.name"))
                .fetch_all(pool)
                .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The live bot called `name`.
    pub async fn chat_bot(&self, name: &str) -> StoreResult<Bot> {
        let row: BotRow =
            read!(self, |pool| sqlx::query_as(select_bots!("WHERE b.name = $1 AND b.revoked_at IS NULL"))
                .bind(name)
                .fetch_one(pool)
                .await?);
        Ok(row.into())
    }

    /// The live bot whose token hashes to `token_hash`.
    pub async fn chat_bot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Bot>> {
        let row: Option<BotRow> =
            read!(self, |pool| sqlx::query_as(select_bots!("WHERE b.token_hash = $1 AND b.revoked_at IS NULL"))
                .bind(token_hash)
                .fetch_optional(pool)
                .await?);
        Ok(row.map(Into::into))
    }

    /// Revokes the live bot called `name` and takes it out of every channel.
    pub async fn revoke_chat_bot(&self, name: &str, now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            let mut tx = super::BeginWrite::begin_write(pool).await?;
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE chat_bots SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING id",
            )
            .bind(name)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { return Err(StoreError::NotFound) };
            sqlx::query("DELETE FROM chat_bot_members WHERE bot_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that a bot used its token, at most once a minute (a write per request would be
    /// a write per read).
    pub async fn touch_chat_bot(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        let a_minute_ago = now - chrono::Duration::minutes(1);
        write!(self, |pool| sqlx::query(
            "UPDATE chat_bots SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)"
        )
        .bind(id)
        .bind(now)
        .bind(a_minute_ago)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Adds a bot to a channel (again is fine).
    pub async fn add_chat_bot_member(
        &self,
        bot: i64,
        channel: i64,
        added_by: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        write!(self, |pool| sqlx::query(
            "INSERT INTO chat_bot_members (bot_id, channel_id, added_by, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (bot_id, channel_id) DO NOTHING"
        )
        .bind(bot)
        .bind(channel)
        .bind(added_by.0)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Takes a bot out of a channel; `NotFound` if it was not in it.
    pub async fn remove_chat_bot_member(&self, bot: i64, channel: i64) -> StoreResult<()> {
        let done =
            write!(self, |pool| sqlx::query("DELETE FROM chat_bot_members WHERE bot_id = $1 AND channel_id = $2")
                .bind(bot)
                .bind(channel)
                .execute(pool)
                .await?
                .rows_affected());
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Whether a bot was added to a channel.
    pub async fn chat_bot_is_member(&self, bot: i64, channel: i64) -> StoreResult<bool> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM chat_bot_members WHERE bot_id = $1 AND channel_id = $2)"
        )
        .bind(bot)
        .bind(channel)
        .fetch_one(pool)
        .await?))
    }

    /// The channels a bot was added to, by id.
    pub async fn chat_bot_channels(&self, bot: i64) -> StoreResult<Vec<BotChannel>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT c.id, c.kind, c.name, c.topic, c.archived_at IS NOT NULL AS archived \
             FROM chat_bot_members m JOIN chat_channels c ON c.id = m.channel_id WHERE m.bot_id = $1 ORDER BY c.id"
        )
        .bind(bot)
        .fetch_all(pool)
        .await?))
    }

    /// The bots in a channel, by name.
    pub async fn chat_channel_bots(&self, channel: i64) -> StoreResult<Vec<Bot>> {
        let rows: Vec<BotRow> = read!(self, |pool| {
            sqlx::query_as(select_bots!(
            "JOIN chat_bot_members m ON m.bot_id = b.id WHERE m.channel_id = $1 AND b.revoked_at IS NULL ORDER BY b.name"
        ))
        .bind(channel)
        .fetch_all(pool)
        .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
