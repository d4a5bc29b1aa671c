//! The local-directory backend: one file per blob, written atomically (temp file, fsync, rename,
//! fsync of the directory).
//!
//! Layout: `<dir>/<prefix>/<first two hex digits>/<32 hex digits>`, so no directory grows past a
//! few thousand entries; temporary files live in `<dir>/tmp/` (same file system, so the rename is
//! atomic) and are removed when a write fails. Each file starts with one header line,
//! `madang-blob 1 <content type>\n`, so the type travels with the bytes in one atomic rename;
//! the blob's length is the file's minus the header's.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::{Blob, BlobError, BlobKey, BlobResult};

const MAGIC: &str = "madang-blob 1 ";
/// The header line's longest allowed length: the magic, a content type, the newline.
const MAX_HEADER: usize = 512;
const READ_CHUNK: usize = 64 << 10;

#[derive(Debug)]
pub(super) struct LocalDir {
    dir: PathBuf,
}

fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> BlobError {
    let context = format!("{context} {}", path.display());
    move |e| BlobError::Backend(format!("{context}: {e}"))
}

/// What the header may carry: a header value's visible ASCII, else the neutral type.
fn header_type(content_type: &str) -> &str {
    let ok = !content_type.is_empty()
        && content_type.len() < MAX_HEADER - MAGIC.len() - 1
        && content_type.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok { content_type } else { "application/octet-stream" }
}

impl LocalDir {
    pub(super) fn new(dir: PathBuf) -> LocalDir {
        LocalDir { dir }
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        // `BlobKey` is `<letters>/<32 hex>`, so these joins can never leave `dir`.
        let (prefix, hex) = key.as_str().split_once('/').unwrap_or(("x", key.as_str()));
        self.dir.join(prefix).join(&hex[..2.min(hex.len())]).join(hex)
    }

    pub(super) async fn put<S>(&self, key: &BlobKey, content_type: &str, body: S, max: u64) -> BlobResult<u64>
    where
        S: Stream<Item = BlobResult<Bytes>> + Send + Unpin,
    {
        let tmp_dir = self.dir.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(io("cannot create", &tmp_dir))?;
        let tmp = tmp_dir.join(format!("{}.tmp", BlobKey::random("tmp")?.as_str().trim_start_matches("tmp/")));
        let written = self.write_temp(&tmp, content_type, body, max).await;
        let result = match written {
            Ok(length) => self.commit(&tmp, key).await.map(|()| length),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Best effort: a leftover temp file is garbage, never a blob.
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn write_temp<S>(&self, tmp: &Path, content_type: &str, mut body: S, max: u64) -> BlobResult<u64>
    where
        S: Stream<Item = BlobResult<Bytes>> + Send + Unpin,
    {
        let mut file = tokio::fs::File::create(tmp).await.map_err(io("cannot create", tmp))?;
        let header = format!("{MAGIC}{}\n", header_type(content_type));
        file.write_all(header.as_bytes()).await.map_err(io("cannot write", tmp))?;
        let mut length: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            length += chunk.len() as u64;
            if length > max {
                return Err(BlobError::TooLarge { limit: max });
            }
            file.write_all(&chunk).await.map_err(io("cannot write", tmp))?;
        }
        file.flush().await.map_err(io("cannot write", tmp))?;
        file.sync_all().await.map_err(io("cannot sync", tmp))?;
        Ok(length)
    }

    async fn commit(&self, tmp: &Path, key: &BlobKey) -> BlobResult<()> {
        let path = self.path_of(key);
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        tokio::fs::create_dir_all(&parent).await.map_err(io("cannot create", &parent))?;
        tokio::fs::rename(tmp, &path).await.map_err(io("cannot rename into", &path))?;
        // The rename is durable only once the directory entry is (fsync(2), "Notes").
        let dir = tokio::fs::File::open(&parent).await.map_err(io("cannot open", &parent))?;
        dir.sync_all().await.map_err(io("cannot sync", &parent))
    }

    pub(super) async fn get(&self, key: &BlobKey) -> BlobResult<Blob> {
        let path = self.path_of(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(io("cannot open", &path)(e)),
        };
        let size = file.metadata().await.map_err(io("cannot read", &path))?.len();
        let mut reader = tokio::io::BufReader::with_capacity(READ_CHUNK, file);
        let mut header = Vec::with_capacity(64);
        (&mut reader).take(MAX_HEADER as u64).read_until(b'\n', &mut header).await.map_err(io("cannot read", &path))?;
        let content_type = std::str::from_utf8(&header)
            .ok()
            .and_then(|h| h.strip_prefix(MAGIC))
            .and_then(|h| h.strip_suffix('\n'))
            .map(str::to_string)
            .ok_or_else(|| BlobError::Backend(format!("{} is not a blob file", path.display())))?;
        let length = size - header.len() as u64;
        let body = futures_util::stream::unfold((reader, path), |(mut reader, path)| async move {
            let mut buf = vec![0u8; READ_CHUNK];
            match reader.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (reader, path)))
                }
                Err(e) => Some((Err(io("cannot read", &path)(e)), (reader, path))),
            }
        });
        Ok(Blob { length, content_type, body: body.boxed() })
    }

    pub(super) async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("cannot remove", &path)(e)),
        }
    }

    pub(super) async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        let path = self.path_of(key);
        tokio::fs::try_exists(&path).await.map_err(io("cannot look at", &path))
    }

    pub(super) async fn keys(&self, prefix: &'static str) -> BlobResult<Vec<BlobKey>> {
        let root = self.dir.join(prefix);
        let mut keys = Vec::new();
        let mut shards = match tokio::fs::read_dir(&root).await {
            Ok(shards) => shards,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(io("cannot list", &root)(e)),
        };
        while let Some(shard) = shards.next_entry().await.map_err(io("cannot list", &root))? {
            let mut files = tokio::fs::read_dir(shard.path()).await.map_err(io("cannot list", &shard.path()))?;
            while let Some(file) = files.next_entry().await.map_err(io("cannot list", &shard.path()))? {
                if let Some(key) =
                    file.file_name().to_str().and_then(|name| BlobKey::parse(&format!("{prefix}/{name}")))
                {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }
}
