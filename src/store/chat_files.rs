//! Chat files: the rows that say what was uploaded where, who may read it, and which message it
//! belongs to (the bytes are in the blob store, `crate::blob`).
//!
//! A file is uploaded to a channel first and attached when its message is sent, inside the
//! send's transaction (`chat::attach_files`): only by its uploader, only in its channel, only
//! once. Reading goes through the channel's membership in the same query
//! ([`Store::chat_file_for_member`]), so a non-member cannot tell a file they may not see from
//! one that does not exist; until it is sent only its uploader may read it, and once its message
//! is deleted nobody may (the pruning deletes it, bytes included).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, StoreResult, read, write};
use crate::domain::UserId;

/// At most this many files on one message.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// A stored file. Serialises as docs/chat.md's File JSON (`FileJson`), with its URLs.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
#[serde(into = "FileJson")]
pub struct ChatFile {
    pub id: i64,
    pub channel_id: i64,
    /// `None` once the uploader's account is deleted.
    pub uploader_id: Option<i64>,
    pub message_id: Option<i64>,
    pub blob_key: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumb_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A file as the JSON API shows it (docs/chat.md, "File").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ChatFile)]
pub struct FileJson {
    pub id: i64,
    pub name: String,
    /// As the uploader sent it.
    pub content_type: String,
    pub size: i64,
    /// Images with a thumbnail only: the original's size in pixels.
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Where to download it (members of the channel only).
    pub url: String,
    /// The thumbnail (at most 360×360), for images.
    pub thumbnail_url: Option<String>,
}

impl From<ChatFile> for FileJson {
    fn from(f: ChatFile) -> Self {
        FileJson {
            url: format!("/api/v1/chat/files/{}", f.id),
            thumbnail_url: f.thumb_key.as_ref().map(|_| format!("/api/v1/chat/files/{}/thumbnail", f.id)),
            id: f.id,
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            width: f.width,
            height: f.height,
        }
    }
}

impl utoipa::PartialSchema for ChatFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <FileJson as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ChatFile {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ChatFile")
    }
}

/// What an upload stores, once its blobs are written.
#[derive(Debug, Clone)]
pub struct NewChatFile<'a> {
    pub channel_id: i64,
    pub uploader: UserId,
    pub blob_key: &'a str,
    pub name: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    /// The original's pixel size and the thumbnail's key, for images.
    pub image: Option<(i64, i64, &'a str)>,
    pub created_at: DateTime<Utc>,
}

/// The columns, unqualified (for `RETURNING`) and of `chat_files f` (for joins).
const RETURNING: &str = "id, channel_id, uploader_id, message_id, blob_key, name, content_type, size, width, height, \
                         thumb_key, created_at";
pub(crate) const COLUMNS: &str = "f.id, f.channel_id, f.uploader_id, f.message_id, f.blob_key, f.name, f.content_type, f.size, \
                       f.width, f.height, f.thumb_key, f.created_at";

impl Store {
    /// Whether `user` is a member of `channel` and, if so, whether it is archived; `None` for a
    /// non-member and for a channel that does not exist alike.
    pub async fn chat_channel_archived_for_member(&self, channel: i64, user: UserId) -> StoreResult<Option<bool>> {
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT c.archived_at IS NOT NULL FROM chat_channels c \
             JOIN chat_members m ON m.channel_id = c.id AND m.user_id = $2 WHERE c.id = $1"
        )
        .bind(channel)
        .bind(user.0)
        .fetch_optional(pool)
        .await?))
    }

    /// Attaches files to a message in a transaction of its own: the send's own step
    /// (`store::chat::messages::attach_files`), for callers that attach after the fact.
    pub async fn attach_chat_files(
        &self,
        uploader: UserId,
        channel: i64,
        message: i64,
        ids: &[i64],
    ) -> StoreResult<()> {
        let mut db = super::db::Db::write(self).await?;
        super::chat::attach_files(&mut db, Some(uploader.0), channel, message, ids).await?;
        db.commit().await
    }

    pub async fn insert_chat_file(&self, file: &NewChatFile<'_>) -> StoreResult<ChatFile> {
        let (width, height, thumb) = match file.image {
            Some((w, h, thumb)) => (Some(w), Some(h), Some(thumb)),
            None => (None, None, None),
        };
        Ok(write!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO chat_files (channel_id, uploader_id, blob_key, name, content_type, size, width, \
             height, thumb_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {RETURNING}"
        )))
        .bind(file.channel_id)
        .bind(file.uploader.0)
        .bind(file.blob_key)
        .bind(file.name)
        .bind(file.content_type)
        .bind(file.size)
        .bind(width)
        .bind(height)
        .bind(thumb)
        .bind(file.created_at)
        .fetch_one(pool)
        .await?))
    }

    /// The file, if `user` is a member of its channel and it is on a message that is not deleted,
    /// or `user` uploaded it and has not sent it yet: [`StoreError::NotFound`] otherwise, exactly
    /// as for a file that does not exist (file ids are sequential, so anything else would let a
    /// member read a colleague's unsent upload or a deleted message's file by counting).
    pub async fn chat_file_for_member(&self, id: i64, user: UserId) -> StoreResult<ChatFile> {
        Ok(read!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM chat_files f \
             JOIN chat_members m ON m.channel_id = f.channel_id AND m.user_id = $2 \
             LEFT JOIN chat_messages x ON x.id = f.message_id \
             WHERE f.id = $1 AND ((f.message_id IS NOT NULL AND x.deleted_at IS NULL) \
               OR (f.message_id IS NULL AND f.uploader_id = $2))"
        )))
        .bind(id)
        .bind(user.0)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound)?))
    }

    /// The files of each of `messages` (absent keys have none), each list in upload order.
    pub async fn chat_files_of(&self, messages: &[i64]) -> StoreResult<HashMap<i64, Vec<ChatFile>>> {
        let mut out: HashMap<i64, Vec<ChatFile>> = HashMap::new();
        // A page of history is at most a few hundred messages; chunks keep any caller under
        // both databases' limits on bound parameters.
        for chunk in messages.chunks(500) {
            let placeholders = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql =
                format!("SELECT {COLUMNS} FROM chat_files f WHERE f.message_id IN ({placeholders}) ORDER BY f.id");
            let rows: Vec<ChatFile> = read!(self, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            for file in rows {
                if let Some(message) = file.message_id {
                    out.entry(message).or_default().push(file);
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` files to delete: never attached to a message and uploaded before `before`,
    /// or on a message that was deleted (which never comes back).
    pub async fn prunable_chat_files(&self, before: DateTime<Utc>, limit: i64) -> StoreResult<Vec<ChatFile>> {
        Ok(read!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM chat_files f LEFT JOIN chat_messages x ON x.id = f.message_id \
             WHERE (f.message_id IS NULL AND f.created_at < $1) OR x.deleted_at IS NOT NULL \
             ORDER BY f.created_at LIMIT $2"
        )))
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// Deletes the file's row if it is still unattached or its message deleted; whether it did.
    /// The caller deletes the blobs afterwards, so a file attached meanwhile never loses its
    /// bytes.
    pub async fn delete_prunable_chat_file(&self, id: i64) -> StoreResult<bool> {
        Ok(write!(self, |pool| sqlx::query(
            "DELETE FROM chat_files WHERE id = $1 AND (message_id IS NULL \
             OR message_id IN (SELECT id FROM chat_messages WHERE deleted_at IS NOT NULL))"
        )
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected())
            > 0)
    }
}
