//! Chat files, the domain service: uploads into a channel (size cap, bytes into the blob store,
//! a thumbnail for images, then the row), reads for members only, and the pruning of files no
//! message ever used. Takes the store, the blob store, the clock and `[chat]`'s file settings,
//! never `AppState` (LAYERS.md); the door is `api::chat::files`.
//!
//! Order of an upload: the channel's membership and archive state are checked first, the size
//! from `Content-Length` next (nothing read yet), then the body streams into a blob under its cap
//! (a refused body leaves no blob, see `blob`), the thumbnail is made from the stored bytes, and
//! the row is written last — a failure at any step deletes the blobs already written, so no row
//! ever names bytes that are not there.

pub mod thumbnail;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::Stream;

use crate::blob::{BlobError, BlobKey, BlobStore};
use crate::clock::Clock;
use crate::config::ChatFilesConfig;
use crate::domain::UserId;
use crate::store::chat_files::{ChatFile, NewChatFile};
use crate::store::{Store, StoreError};

/// The blob-key prefix of chat files and their thumbnails.
pub const BLOB_PREFIX: &str = "chat";
/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Thumbnails made at once: each may hold a decoded image of up to `chat.max_image_pixels`.
const THUMBNAILS_AT_ONCE: usize = 2;

/// Why a file operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No such channel or file, or the user is not a member of its channel: the same answer.
    #[error("no such file or channel")]
    NotFound,
    #[error("the channel is archived")]
    Archived,
    #[error("the file is larger than chat.max_file_size ({limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Invalid(String),
    /// The request body could not be read.
    #[error("the request body could not be read: {0}")]
    Body(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store failed (disk, network): logged where it is answered.
    #[error("blob store: {0}")]
    Blob(String),
}

impl From<BlobError> for FileError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => FileError::Blob("a file's blob is missing".into()),
            BlobError::TooLarge { limit } => FileError::TooLarge { limit },
            BlobError::Body(m) => FileError::Body(m),
            BlobError::Backend(m) => FileError::Blob(m),
        }
    }
}

/// One upload as the door hands it over.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    pub channel: i64,
    pub uploader: UserId,
    /// As given in `?name=`; reduced to its last path segment.
    pub name: &'a str,
    /// The request's `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// The request's `Content-Length`, if any.
    pub declared_length: Option<u64>,
}

/// Files in chat channels; cheap to share (`Arc`).
pub struct ChatFiles {
    store: Store,
    blobs: BlobStore,
    clock: Arc<dyn Clock>,
    config: ChatFilesConfig,
    thumbnails: tokio::sync::Semaphore,
}

impl ChatFiles {
    pub fn new(store: Store, blobs: BlobStore, clock: Arc<dyn Clock>, config: ChatFilesConfig) -> ChatFiles {
        ChatFiles { store, blobs, clock, config, thumbnails: tokio::sync::Semaphore::new(THUMBNAILS_AT_ONCE) }
    }

    pub fn config(&self) -> &ChatFilesConfig {
        &self.config
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Stores an upload: see the module's description for the order of the steps.
    pub async fn upload<S>(&self, upload: Upload<'_>, body: S) -> Result<ChatFile, FileError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        let name = file_name(upload.name)?;
        let content_type = content_type(upload.content_type);
        match self.store.chat_channel_archived_for_member(upload.channel, upload.uploader).await? {
            None => return Err(FileError::NotFound),
            Some(true) => return Err(FileError::Archived),
            Some(false) => {}
        }
        let limit = self.config.max_file_size;
        if upload.declared_length.is_some_and(|n| n > limit) {
            return Err(FileError::TooLarge { limit });
        }
        let key = BlobKey::random(BLOB_PREFIX)?;
        let size = self.blobs.put_stream(&key, &content_type, body, limit).await?;
        let thumb = match self.thumbnail(&key, &content_type).await {
            Ok(thumb) => thumb,
            Err(e) => {
                self.forget(&[&key]).await;
                return Err(e);
            }
        };
        let new = NewChatFile {
            channel_id: upload.channel,
            uploader: upload.uploader,
            blob_key: key.as_str(),
            name: &name,
            content_type: &content_type,
            size: size as i64,
            image: thumb.as_ref().map(|(key, w, h)| (i64::from(*w), i64::from(*h), key.as_str())),
            created_at: self.clock.now(),
        };
        match self.store.insert_chat_file(&new).await {
            Ok(file) => Ok(file),
            Err(e) => {
                let mut keys = vec![&key];
                keys.extend(thumb.as_ref().map(|(k, _, _)| k));
                self.forget(&keys).await;
                Err(e.into())
            }
        }
    }

    /// Makes and stores the thumbnail of an image upload: its key and the original's size, or
    /// `None` for anything that is not a decodable image within `chat.max_image_pixels`.
    async fn thumbnail(&self, key: &BlobKey, content_type: &str) -> Result<Option<(BlobKey, u32, u32)>, FileError> {
        if !is_raster_image(content_type) {
            return Ok(None);
        }
        let _permit = self.thumbnails.acquire().await.map_err(|e| FileError::Blob(e.to_string()))?;
        let data = self.blobs.get(key).await?.bytes().await?;
        let max_pixels = self.config.max_image_pixels;
        let made = tokio::task::spawn_blocking(move || thumbnail::make(&data, max_pixels))
            .await
            .map_err(|e| FileError::Blob(format!("thumbnail task: {e}")))?;
        let Some(t) = made else { return Ok(None) };
        let thumb_key = BlobKey::random(BLOB_PREFIX)?;
        self.blobs.put_bytes(&thumb_key, t.content_type, Bytes::from(t.bytes)).await?;
        Ok(Some((thumb_key, t.width, t.height)))
    }

    /// Deletes blobs after a failed upload; a failure here leaves garbage, never a wrong answer.
    async fn forget(&self, keys: &[&BlobKey]) {
        for key in keys {
            if let Err(e) = self.blobs.delete(key).await {
                tracing::warn!(key = %key, error = %e, "could not delete the blob of a failed upload");
            }
        }
    }

    /// The file and its bytes, if `user` is a member of its channel.
    pub async fn open(&self, id: i64, user: UserId) -> Result<(ChatFile, crate::blob::Blob), FileError> {
        let file = self.store.chat_file_for_member(id, user).await.map_err(not_found)?;
        let key = BlobKey::parse(&file.blob_key).ok_or_else(|| FileError::Blob("a damaged blob key".into()))?;
        let blob = self.blobs.get(&key).await?;
        Ok((file, blob))
    }

    /// The file's thumbnail, if it has one and `user` is a member of its channel.
    pub async fn open_thumbnail(&self, id: i64, user: UserId) -> Result<(ChatFile, crate::blob::Blob), FileError> {
        let file = self.store.chat_file_for_member(id, user).await.map_err(not_found)?;
        let Some(thumb) = file.thumb_key.as_deref() else { return Err(FileError::NotFound) };
        let key = BlobKey::parse(thumb).ok_or_else(|| FileError::Blob("a damaged blob key".into()))?;
        let blob = self.blobs.get(&key).await?;
        Ok((file, blob))
    }

    /// Deletes files no message used within `chat.unattached_file_lifetime` and those of
    /// deleted messages, rows then blobs; how many.
    pub async fn prune(&self) -> Result<usize, FileError> {
        let lifetime = chrono::Duration::from_std(self.config.unattached_file_lifetime)
            .map_err(|e| FileError::Invalid(e.to_string()))?;
        let before = self.clock.now() - lifetime;
        let mut pruned = 0;
        loop {
            let batch = self.store.prunable_chat_files(before, 100).await?;
            if batch.is_empty() {
                return Ok(pruned);
            }
            for file in batch {
                // The row goes first: a file attached meanwhile keeps its row and its bytes.
                if !self.store.delete_prunable_chat_file(file.id).await? {
                    continue;
                }
                pruned += 1;
                for key in std::iter::once(file.blob_key.as_str()).chain(file.thumb_key.as_deref()) {
                    if let Some(key) = BlobKey::parse(key) {
                        self.forget(&[&key]).await;
                    }
                }
            }
        }
    }
}

/// Prunes unattached files hourly, in the background.
pub fn spawn_pruning(files: Arc<ChatFiles>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match files.prune().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "pruned chat files never attached to a message"),
                Err(e) => tracing::warn!(error = %e, "pruning unattached chat files failed"),
            }
        }
    });
}

fn not_found(e: StoreError) -> FileError {
    match e {
        StoreError::NotFound => FileError::NotFound,
        other => other.into(),
    }
}

/// The name to keep: the last segment of what the client gave (browsers on Windows once sent
/// whole paths), without control characters, at most [`MAX_NAME_CHARS`] characters.
pub fn file_name(given: &str) -> Result<String, FileError> {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(FileError::Invalid("`name` must be a file name".into()));
    }
    if last.chars().any(char::is_control) {
        return Err(FileError::Invalid("`name` must not contain control characters".into()));
    }
    if last.chars().count() > MAX_NAME_CHARS {
        return Err(FileError::Invalid(format!("`name` is longer than {MAX_NAME_CHARS} characters")));
    }
    Ok(last.to_string())
}

/// The type to record: the request's `Content-Type` if it is a well-formed media type
/// (RFC 9110 §8.3.1), else `application/octet-stream`.
pub fn content_type(given: Option<&str>) -> String {
    let neutral = "application/octet-stream".to_string();
    let Some(given) = given.map(str::trim) else { return neutral };
    let essence = given.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    let well_formed = given.len() <= 255
        && given.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence.split_once('/').is_some_and(|(t, s)| token(t) && token(s));
    if well_formed { given.to_string() } else { neutral }
}

/// The media type without parameters, lower case.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The raster images browsers show and the thumbnailer reads.
pub fn is_raster_image(content_type: &str) -> bool {
    matches!(essence(content_type).as_str(), "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// Types a browser would run as a document or script (HTML, SVG, XML, JavaScript): downloads never
/// carry them as such.
pub fn is_active(content_type: &str) -> bool {
    let e = essence(content_type);
    e.starts_with("text/html")
        || e.ends_with("+xml")
        || e.ends_with("/xml")
        || e.contains("javascript")
        || e.contains("ecmascript")
        || e == "multipart/x-mixed-replace"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_paths_and_bad_names_are_refused() {
        assert_eq!(file_name("C:\\Users\\me\\plan.pdf").unwrap(), "plan.pdf");
        assert_eq!(file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(file_name("보고서 (최종).hwp").unwrap(), "보고서 (최종).hwp");
        for bad in ["", "dir/", "..", "a\u{7}b", &"x".repeat(256)] {
            assert!(matches!(file_name(bad), Err(FileError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn content_types_are_kept_only_when_well_formed() {
        assert_eq!(content_type(Some("image/png")), "image/png");
        assert_eq!(content_type(Some("text/plain; charset=utf-8")), "text/plain; charset=utf-8");
        assert_eq!(content_type(None), "application/octet-stream");
        assert_eq!(content_type(Some("nonsense")), "application/octet-stream");
        assert_eq!(content_type(Some("text/plain\u{0}")), "application/octet-stream");
    }

    #[test]
    fn active_types_are_recognised() {
        for t in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/javascript",
            "text/javascript",
        ] {
            assert!(is_active(t), "{t}");
        }
        for t in ["image/png", "application/pdf", "text/plain", "application/octet-stream"] {
            assert!(!is_active(t), "{t}");
        }
    }
}
