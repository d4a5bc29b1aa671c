//! The object-store backend: S3-compatible servers (and, for tests, memory) through the
//! `object_store` crate.
//!
//! A body of up to [`SINGLE_PUT`] bytes is gathered and sent in one PUT, so nothing exists
//! until it is complete; a longer one becomes a multipart upload (parts of [`SINGLE_PUT`],
//! above S3's 5 MiB minimum) that is aborted if the body fails or passes its cap — an
//! unfinished multipart upload is never an object.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    WriteMultipart,
};

use super::{Blob, BlobError, BlobKey, BlobResult, S3Config};

/// Bodies up to this size go up in one request; longer ones in parts of this size.
const SINGLE_PUT: usize = 8 << 20;

#[derive(Debug)]
pub(super) struct Objects {
    store: Arc<dyn ObjectStore>,
    kind: &'static str,
}

fn backend(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Backend(other.to_string()),
    }
}

impl Objects {
    pub(super) fn s3(config: &S3Config) -> BlobResult<Objects> {
        // reqwest's rustls takes the process's crypto provider (src/main.rs installs ring; tests
        // and other embedders may not have).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http);
        if let Some(endpoint) = &config.endpoint {
            // Path-style URLs (`endpoint/bucket/key`): what every S3-compatible server speaks.
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| BlobError::Backend(format!("S3 configuration: {e}")))?;
        Ok(Objects { store: Arc::new(store), kind: "s3" })
    }

    pub(super) fn memory() -> Objects {
        Objects { store: Arc::new(object_store::memory::InMemory::new()), kind: "memory" }
    }

    pub(super) fn kind(&self) -> &'static str {
        self.kind
    }

    fn attributes(content_type: &str) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, AttributeValue::from(content_type.to_string()));
        attributes
    }

    pub(super) async fn put<S>(&self, key: &BlobKey, content_type: &str, mut body: S, max: u64) -> BlobResult<u64>
    where
        S: Stream<Item = BlobResult<Bytes>> + Send + Unpin,
    {
        let path = Path::from(key.as_str());
        let mut length: u64 = 0;
        let mut first: Vec<Bytes> = Vec::new();
        let mut buffered = 0usize;
        // Gather up to one part; most files end here.
        while buffered <= SINGLE_PUT {
            let Some(chunk) = body.next().await else {
                let payload: PutPayload = first.into_iter().collect();
                let options = PutOptions { attributes: Self::attributes(content_type), ..Default::default() };
                self.store.put_opts(&path, payload, options).await.map_err(backend)?;
                return Ok(length);
            };
            let chunk = chunk?;
            length += chunk.len() as u64;
            if length > max {
                return Err(BlobError::TooLarge { limit: max });
            }
            buffered += chunk.len();
            first.push(chunk);
        }
        let options = PutMultipartOptions { attributes: Self::attributes(content_type), ..Default::default() };
        let upload = self.store.put_multipart_opts(&path, options).await.map_err(backend)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, SINGLE_PUT);
        for chunk in first {
            writer.put(chunk);
        }
        let failure = loop {
            // Two parts in flight at most: memory stays at a few parts whatever the body's size.
            if let Err(e) = writer.wait_for_capacity(2).await {
                break backend(e);
            }
            match body.next().await {
                None => return writer.finish().await.map(|_| length).map_err(backend),
                Some(Err(e)) => break e,
                Some(Ok(chunk)) => {
                    length += chunk.len() as u64;
                    if length > max {
                        break BlobError::TooLarge { limit: max };
                    }
                    writer.put(chunk);
                }
            }
        };
        if let Err(e) = writer.abort().await {
            tracing::warn!(key = %key, error = %e, "could not abort a refused multipart upload");
        }
        Err(failure)
    }

    pub(super) async fn get(&self, key: &BlobKey) -> BlobResult<Blob> {
        let result = self.store.get(&Path::from(key.as_str())).await.map_err(backend)?;
        let content_type = match result.attributes.get(&Attribute::ContentType) {
            Some(value) => value.as_ref().to_string(),
            None => "application/octet-stream".to_string(),
        };
        let length = result.meta.size;
        let body = result.into_stream().map_err(backend).boxed();
        Ok(Blob { length, content_type, body })
    }

    pub(super) async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        match self.store.delete(&Path::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    pub(super) async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        match self.store.head(&Path::from(key.as_str())).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    pub(super) async fn keys(&self, prefix: &'static str) -> BlobResult<Vec<BlobKey>> {
        let metas: Vec<_> = self.store.list(Some(&Path::from(prefix))).try_collect().await.map_err(backend)?;
        Ok(metas.into_iter().filter_map(|m| BlobKey::parse(m.location.as_ref())).collect())
    }
}
