//! Blob stores for tests: a local directory (always), and a fresh bucket on the S3-compatible
//! server named by `MADANG_TEST_S3_URL` (conformance-tests/s3_server.sh starts one), skipped
//! when that is unset unless `MADANG_REQUIRE_S3=1` (CI), which makes it a failure.

use madang::blob::{BlobConfig, BlobStore, S3Config};

/// A store in a directory of its own, removed with the returned guard.
pub fn local() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = BlobStore::open(&BlobConfig::Local { dir: dir.path().join("blobs") }).expect("local store");
    (dir, store)
}

/// A store on a new bucket of the S3-compatible test server, or `None` (after one loud line).
pub async fn s3() -> Option<BlobStore> {
    s3_with_bucket_url().await.map(|(store, _)| store)
}

/// [`s3`], with the bucket's URL for asking the server directly.
pub async fn s3_with_bucket_url() -> Option<(BlobStore, String)> {
    let Ok(url) = std::env::var("MADANG_TEST_S3_URL") else {
        if std::env::var("MADANG_REQUIRE_S3").is_ok_and(|v| v == "1") {
            panic!("MADANG_REQUIRE_S3=1 but MADANG_TEST_S3_URL is not set (conformance-tests/s3_server.sh start)");
        }
        eprintln!(
            "!!!!! S3 TEST SKIPPED: set MADANG_TEST_S3_URL=http://… (conformance-tests/s3_server.sh start) !!!!!"
        );
        return None;
    };
    let url = url.trim_end_matches('/').to_string();
    let mut suffix = [0u8; 6];
    getrandom::getrandom(&mut suffix).expect("randomness");
    let bucket = format!("madang-test-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
    // CreateBucket (PUT /bucket); the test server takes it unsigned.
    let created = reqwest::Client::new().put(format!("{url}/{bucket}")).send().await.expect("reach the S3 server");
    assert!(created.status().is_success(), "create bucket {bucket}: {}", created.status());
    let bucket_url = format!("{url}/{bucket}");
    let config = BlobConfig::S3(S3Config {
        bucket,
        endpoint: Some(url),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: true,
    });
    Some((BlobStore::open(&config).expect("S3 store"), bucket_url))
}

/// Turns `async fn test(store: &BlobStore)` into a test on a local directory and one on S3.
#[macro_export]
macro_rules! on_both_blob_stores {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, store) = $crate::common::blob::local();
                    super::$name(&store).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(store) = $crate::common::blob::s3().await else { return };
                    super::$name(&store).await;
                }
            )*
        }
    };
}
