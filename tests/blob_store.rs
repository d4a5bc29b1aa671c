//! The blob store's contract, one suite run on both backends: a local directory and an
//! S3-compatible server speaking the real wire protocol (moto; see tests/common/blob.rs).

mod common;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use madang::blob::{BlobError, BlobKey, BlobStore};
use sha2::{Digest, Sha256};

/// `total` bytes of a deterministic pattern in chunks of `chunk`, as an upload body.
fn pattern(total: usize, chunk: usize) -> impl futures_util::Stream<Item = Result<Bytes, BlobError>> + Send + Unpin {
    let chunks: Vec<Bytes> = (0..total)
        .step_by(chunk)
        .map(|start| Bytes::from((start..(start + chunk).min(total)).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>()))
        .collect();
    stream::iter(chunks.into_iter().map(Ok))
}

fn sha256_of_pattern(total: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    Sha256::digest(&bytes).to_vec()
}

async fn round_trip(store: &BlobStore) {
    let key = BlobKey::random("chat").unwrap();
    let n = store.put_bytes(&key, "text/plain; charset=utf-8", Bytes::from_static(b"hello, blobs")).await.unwrap();
    assert_eq!(n, 12);
    assert!(store.exists(&key).await.unwrap());
    let blob = store.get(&key).await.unwrap();
    assert_eq!(blob.length, 12);
    assert_eq!(blob.content_type, "text/plain; charset=utf-8");
    assert_eq!(blob.bytes().await.unwrap(), b"hello, blobs");
    // Putting again replaces the blob whole.
    store.put_bytes(&key, "application/octet-stream", Bytes::from_static(b"x")).await.unwrap();
    let blob = store.get(&key).await.unwrap();
    assert_eq!((blob.length, blob.content_type.as_str()), (1, "application/octet-stream"));
    assert_eq!(store.keys("chat").await.unwrap(), vec![key]);
}

async fn large_objects_stream_both_ways(store: &BlobStore) {
    // 20 MiB: past the single-PUT size, so S3 gets a multipart upload.
    let total = 20 << 20;
    let key = BlobKey::random("chat").unwrap();
    let n = store.put_stream(&key, "application/zip", pattern(total, 64 << 10), 25 << 20).await.unwrap();
    assert_eq!(n, total as u64);
    let mut blob = store.get(&key).await.unwrap();
    assert_eq!(blob.length, total as u64);
    assert_eq!(blob.content_type, "application/zip");
    let (mut hasher, mut chunks, mut read) = (Sha256::new(), 0, 0);
    while let Some(chunk) = blob.body.next().await {
        let chunk = chunk.unwrap();
        read += chunk.len();
        chunks += 1;
        hasher.update(&chunk);
    }
    assert_eq!(read, total);
    assert!(chunks > 1, "the body must come as a stream, not one buffer");
    assert_eq!(hasher.finalize().to_vec(), sha256_of_pattern(total));
}

async fn a_missing_key_is_not_found(store: &BlobStore) {
    let key = BlobKey::random("chat").unwrap();
    assert!(matches!(store.get(&key).await, Err(BlobError::NotFound)));
    assert!(!store.exists(&key).await.unwrap());
    store.delete(&key).await.expect("deleting what is not there is not an error");
}

async fn delete_removes_the_blob(store: &BlobStore) {
    let (a, b) = (BlobKey::random("chat").unwrap(), BlobKey::random("chat").unwrap());
    store.put_bytes(&a, "image/png", Bytes::from_static(b"a")).await.unwrap();
    store.put_bytes(&b, "image/png", Bytes::from_static(b"b")).await.unwrap();
    store.delete(&a).await.unwrap();
    assert!(!store.exists(&a).await.unwrap());
    assert!(matches!(store.get(&a).await, Err(BlobError::NotFound)));
    assert_eq!(store.get(&b).await.unwrap().bytes().await.unwrap(), b"b", "only the one deleted is gone");
}

async fn a_body_over_the_cap_leaves_nothing_behind(store: &BlobStore) {
    // Small (refused before anything is sent) and large (refused in the middle of an S3
    // multipart upload, which must be aborted).
    for (total, cap) in [(3 << 20, 1 << 20), (12 << 20, 10 << 20)] {
        let key = BlobKey::random("chat").unwrap();
        let refused = store.put_stream(&key, "application/octet-stream", pattern(total, 64 << 10), cap).await;
        assert!(matches!(refused, Err(BlobError::TooLarge { limit }) if limit == cap), "{refused:?}");
        assert!(!store.exists(&key).await.unwrap());
        assert!(store.keys("chat").await.unwrap().is_empty());
    }
    // Exactly at the cap is allowed.
    let key = BlobKey::random("chat").unwrap();
    assert_eq!(store.put_stream(&key, "text/plain", pattern(1000, 100), 1000).await.unwrap(), 1000);
}

async fn a_broken_body_leaves_nothing_behind(store: &BlobStore) {
    let key = BlobKey::random("chat").unwrap();
    let body = stream::iter(vec![Ok(Bytes::from(vec![1u8; 1 << 20])), Err(BlobError::Body("connection reset".into()))]);
    let failed = store.put_stream(&key, "text/plain", body, 10 << 20).await;
    assert!(matches!(failed, Err(BlobError::Body(_))), "{failed:?}");
    assert!(store.keys("chat").await.unwrap().is_empty());
}

on_both_blob_stores!(
    round_trip,
    large_objects_stream_both_ways,
    a_missing_key_is_not_found,
    delete_removes_the_blob,
    a_body_over_the_cap_leaves_nothing_behind,
    a_broken_body_leaves_nothing_behind,
);

#[test]
fn keys_are_made_by_the_server_and_only_such_keys_are_read_back() {
    let key = BlobKey::random("chat").unwrap();
    assert_eq!(BlobKey::parse(key.as_str()), Some(key.clone()));
    for bad in ["../etc/passwd", "chat/../../x", "chat/ABCDEF", "/chat/0123456789abcdef0123456789abcdef", "chat"] {
        assert_eq!(BlobKey::parse(bad), None, "{bad}");
    }
}

/// The local backend writes through a temporary file: a refused body leaves no temporary file.
#[tokio::test]
async fn local_refusals_leave_no_temporary_files() {
    let (dir, store) = common::blob::local();
    let key = BlobKey::random("chat").unwrap();
    let _ = store.put_stream(&key, "text/plain", pattern(2 << 20, 64 << 10), 1 << 20).await;
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join("blobs/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

/// A body refused in the middle of a multipart upload leaves no unfinished upload on the server
/// either (ListMultipartUploads, `GET /bucket?uploads`), which would cost storage forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refused_multipart_uploads_are_aborted() {
    let Some((store, bucket_url)) = common::blob::s3_with_bucket_url().await else { return };
    let key = BlobKey::random("chat").unwrap();
    let refused = store.put_stream(&key, "application/octet-stream", pattern(20 << 20, 1 << 20), 18 << 20).await;
    assert!(matches!(refused, Err(BlobError::TooLarge { .. })), "{refused:?}");
    let listing = reqwest::get(format!("{bucket_url}?uploads")).await.unwrap().text().await.unwrap();
    assert!(listing.contains("ListMultipartUploadsResult"), "{listing}");
    assert!(!listing.contains("<Upload>"), "an upload was left open: {listing}");
}
