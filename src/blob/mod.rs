//! The blob store: one interface ([`BlobStore`]) for file contents (chat attachments and their
//! thumbnails), with a local directory and an S3-compatible object store as backends.
//!
//! The database holds what a file *is* (name, type, size, who may read it); the blob store holds
//! only bytes under keys the server made up ([`BlobKey`]: a prefix and 128 random bits), so no
//! name a user typed ever becomes a path or an object name.
//!
//! Backends:
//! - `local` (the default): a directory under the data directory. A write goes to a temporary
//!   file that is fsynced, renamed over its key and the directory fsynced, so a reader sees the
//!   whole blob or none of it, and an acknowledged write survives power loss.
//! - `s3`: any S3-compatible store through the `object_store` crate (which also speaks GCS,
//!   Azure and plain files, should another backend be wanted). Small bodies go up in one PUT;
//!   larger ones as a multipart upload that is aborted when the body fails or passes its cap,
//!   so a refused upload leaves nothing behind either way. Several processes sharing one
//!   PostgreSQL database need this backend (or a shared directory).
//!
//! `put` enforces a size cap while it reads, so a client that lied in `Content-Length` (or sent
//! a chunked body) is cut off at the cap rather than stored.
//!
//! A third backend, in memory (`object_store`'s `InMemory`), is what [`BlobStore::memory`] makes
//! for tests and for commands that never store a file.

mod local;
mod object;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob")]
    NotFound,
    /// The body passed the cap it was put under; nothing was stored.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body could not be read (the client went away); nothing was stored.
    #[error("the body could not be read: {0}")]
    Body(String),
    /// The backend failed (disk, network, credentials). Logged; never shown in detail.
    #[error("blob store error: {0}")]
    Backend(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// A blob's name: `<prefix>/<32 lower-case hex digits>`, always made by the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// A fresh random key under `prefix` (lower-case ASCII letters only, e.g. `chat`).
    pub fn random(prefix: &'static str) -> BlobResult<BlobKey> {
        debug_assert!(!prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_lowercase()));
        let mut bytes = [0u8; 16];
        // An upload asks for this: a missing random source is an error answer, never a panic.
        getrandom::getrandom(&mut bytes).map_err(|e| BlobError::Backend(format!("no randomness: {e}")))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(BlobKey(format!("{prefix}/{hex}")))
    }

    /// A key read back from the database; anything not shaped like one [`BlobKey::random`]
    /// makes is refused, so a damaged row can never name a path outside the store.
    pub fn parse(text: &str) -> Option<BlobKey> {
        let (prefix, hex) = text.split_once('/')?;
        let valid = !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && hex.len() == 32
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| BlobKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A blob being read: its length and type up front, its bytes as a stream.
pub struct Blob {
    pub length: u64,
    pub content_type: String,
    pub body: BoxStream<'static, BlobResult<Bytes>>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob").field("length", &self.length).field("content_type", &self.content_type).finish()
    }
}

impl Blob {
    /// The whole blob in memory; for thumbnails and tests, whose inputs are bounded.
    pub async fn bytes(mut self) -> BlobResult<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.length).unwrap_or(0).min(64 << 20));
        while let Some(chunk) = self.body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

/// Which backend, from `[blob]`.
#[derive(Clone, PartialEq, Eq)]
pub enum BlobConfig {
    Local { dir: PathBuf },
    S3(S3Config),
}

/// An S3-compatible bucket (`blob.s3_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Empty for AWS itself; the URL of any other S3-compatible server.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (a store on the same host or network).
    pub allow_http: bool,
}

impl std::fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobConfig::Local { dir } => f.debug_struct("Local").field("dir", dir).finish(),
            BlobConfig::S3(s3) => s3.fmt(f),
        }
    }
}

impl std::fmt::Debug for S3Config {
    // The secret never reaches a log or `config check`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "****"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[derive(Debug)]
enum Backend {
    Local(local::LocalDir),
    Object(object::Objects),
}

/// The blob store; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Arc<Backend>,
}

impl BlobStore {
    /// The configured backend. Nothing is contacted yet: a bad S3 setting shows on first use.
    pub fn open(config: &BlobConfig) -> BlobResult<BlobStore> {
        let backend = match config {
            BlobConfig::Local { dir } => Backend::Local(local::LocalDir::new(dir.clone())),
            BlobConfig::S3(s3) => Backend::Object(object::Objects::s3(s3)?),
        };
        Ok(BlobStore { backend: Arc::new(backend) })
    }

    /// A store in memory, gone with the process: tests and commands that store no file.
    pub fn memory() -> BlobStore {
        BlobStore { backend: Arc::new(Backend::Object(object::Objects::memory())) }
    }

    /// Which backend, for logs: `local` or `s3`/`memory`.
    pub fn kind(&self) -> &'static str {
        match &*self.backend {
            Backend::Local(_) => "local",
            Backend::Object(o) => o.kind(),
        }
    }

    /// Stores `body` under `key`, refusing it (and storing nothing) once it passes `max` bytes
    /// or yields an error (the caller says which: [`BlobError::Body`], or [`BlobError::TooLarge`]
    /// when a limit of its own cut the body off). Returns the length stored. An existing blob
    /// under `key` is replaced whole.
    pub async fn put_stream<S>(&self, key: &BlobKey, content_type: &str, body: S, max: u64) -> BlobResult<u64>
    where
        S: Stream<Item = BlobResult<Bytes>> + Send + Unpin,
    {
        match &*self.backend {
            Backend::Local(dir) => dir.put(key, content_type, body, max).await,
            Backend::Object(o) => o.put(key, content_type, body, max).await,
        }
    }

    /// Stores `bytes` under `key` (thumbnails: already in memory, already bounded).
    pub async fn put_bytes(&self, key: &BlobKey, content_type: &str, bytes: Bytes) -> BlobResult<u64> {
        let max = bytes.len() as u64;
        let body = futures_util::stream::iter([Ok(bytes)]);
        self.put_stream(key, content_type, body, max).await
    }

    /// Opens a blob for reading: [`BlobError::NotFound`] when there is none.
    pub async fn get(&self, key: &BlobKey) -> BlobResult<Blob> {
        match &*self.backend {
            Backend::Local(dir) => dir.get(key).await,
            Backend::Object(o) => o.get(key).await,
        }
    }

    /// Removes a blob; removing one that is not there is not an error.
    pub async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        match &*self.backend {
            Backend::Local(dir) => dir.delete(key).await,
            Backend::Object(o) => o.delete(key).await,
        }
    }

    pub async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        match &*self.backend {
            Backend::Local(dir) => dir.exists(key).await,
            Backend::Object(o) => o.exists(key).await,
        }
    }

    /// Every key under `prefix`, in no particular order: for maintenance and tests (that a
    /// refused upload left nothing), not for requests.
    pub async fn keys(&self, prefix: &'static str) -> BlobResult<Vec<BlobKey>> {
        match &*self.backend {
            Backend::Local(dir) => dir.keys(prefix).await,
            Backend::Object(o) => o.keys(prefix).await,
        }
    }
}
