//! Chat files' door: upload into a channel, download, thumbnail (docs/chat.md, "Files").
//!
//! Downloads are served so that no upload can act as a page of this origin: `nosniff`
//! (Fetch §3.5.1), `Content-Security-Policy: sandbox` (CSP 3 §6.3.2: the response gets an
//! opaque origin and no scripts even if a browser renders it), a type that is never an active
//! one as sent (HTML, SVG, XML, JavaScript become `application/octet-stream`), and
//! `Content-Disposition: attachment` (RFC 6266) except for raster images, which are shown inline.
//! The name travels as `filename*` (RFC 6266 §4.3, RFC 8187 encoding) with an ASCII `filename`
//! fallback for old clients.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::state::AppState;
use crate::blob::{Blob, BlobError};
use crate::chat_files::{FileError, Upload, is_active, is_raster_image};
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiPath};
use crate::store::chat_files::ChatFile;

/// The route whose body limit is `chat.max_file_size` instead of `server.max_body_size`.
pub const UPLOAD_ROUTE: &str = "/api/v1/chat/channels/{id}/files";

/// The file routes, relative to `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/chat/channels/{id}/files", post(upload))
        .route("/chat/files/{id}", get(download))
        .route("/chat/files/{id}/thumbnail", get(thumbnail))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (a path is reduced to its last segment), at most 255 characters.
    pub name: String,
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::NotFound => ApiError::not_found("no such file or channel"),
            FileError::Archived => ApiError::forbidden("the channel is archived: it is read-only"),
            FileError::TooLarge { limit } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
                .with_details(serde_json::json!({ "limit": limit })),
            FileError::Invalid(m) => super::super::invalid(m),
            FileError::Body(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_body", m),
            FileError::Store(e) => e.into(),
            FileError::Blob(m) => {
                tracing::error!(error = %m, "blob store failed");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "file storage unavailable; retry later")
            }
        }
    }
}

/// Whether a body error is the body limit's (`app::limit_body`) rather than a broken connection.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[utoipa::path(
    post, path = "/api/v1/chat/channels/{id}/files", tag = "chat",
    params(("id" = i64, Path, description = "The channel"), UploadParams),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The file's bytes, with its own `Content-Type`"),
    responses(
        (status = 201, description = "Stored; attach it by sending a message with its id in `files`", body = ChatFile),
        (status = 403, description = "The channel is archived", body = super::super::openapi::ErrorBody),
        (status = 404, description = "No such channel, or not a member", body = super::super::openapi::ErrorBody),
        (status = 413, description = "Larger than `chat.max_file_size`; nothing was stored", body = super::super::openapi::ErrorBody),
        (status = 422, description = "A missing or unusable `name`", body = super::super::openapi::ErrorBody),
    ),
)]
pub async fn upload(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| super::super::invalid(format!("`name` is required: {}", e.body_text())))?;
    let limit = state.chat_files.config().max_file_size;
    let declared_length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let upload = Upload { channel: id, uploader: principal.user.id, name: &params.name, content_type, declared_length };
    let body = body.into_data_stream().map(move |chunk| {
        chunk.map_err(
            |e| if is_length_limit(&e) { BlobError::TooLarge { limit } } else { BlobError::Body(e.to_string()) },
        )
    });
    let file = state.chat_files.upload(upload, body).await?;
    Ok((StatusCode::CREATED, axum::Json(file)).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/chat/files/{id}", tag = "chat",
    params(("id" = i64, Path, description = "The file")),
    responses(
        (status = 200, description = "The file's bytes: inline for raster images, else an attachment", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such file, or not the caller's to read: not a member of its channel, its message deleted, or someone else's unsent upload", body = super::super::openapi::ErrorBody),
    ),
)]
pub async fn download(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (file, blob) = state.chat_files.open(id, principal.user.id).await?;
    Ok(serve(&file, &file.content_type, &file.name, blob))
}

#[utoipa::path(
    get, path = "/api/v1/chat/files/{id}/thumbnail", tag = "chat",
    params(("id" = i64, Path, description = "The file")),
    responses(
        (status = 200, description = "A PNG or JPEG of at most 360×360 pixels", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "No such file or thumbnail, or not the caller's to read (as for the file)", body = super::super::openapi::ErrorBody),
    ),
)]
pub async fn thumbnail(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (file, blob) = state.chat_files.open_thumbnail(id, principal.user.id).await?;
    let content_type = blob.content_type.clone();
    Ok(serve(&file, &content_type, &file.name, blob))
}

/// The answer carrying a blob, with the headers described at the top of this file.
fn serve(file: &ChatFile, content_type: &str, name: &str, blob: Blob) -> Response {
    let inline = is_raster_image(content_type);
    let served_type = if is_active(content_type) { "application/octet-stream" } else { content_type };
    let disposition = content_disposition(if inline { "inline" } else { "attachment" }, name);
    let mut response = Response::new(Body::from_stream(blob.body));
    let headers = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, value(served_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.length));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    // Membership decides who may read, so shared caches must not keep it; a file never changes.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", file.blob_key.replace('/', "-"))) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// `attachment; filename="plan.pdf"; filename*=UTF-8''plan.pdf` (RFC 6266 §4.1, §4.3): the
/// ASCII fallback replaces what it cannot carry with `_`; `filename*` is RFC 8187's
/// percent-encoded UTF-8, so any name survives.
pub fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        // RFC 8187 §3.2.1 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~".
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn names_are_encoded_per_rfc_8187_with_an_ascii_fallback() {
        assert_eq!(
            content_disposition("attachment", "plan.pdf"),
            "attachment; filename=\"plan.pdf\"; filename*=UTF-8''plan.pdf"
        );
        assert_eq!(
            content_disposition("attachment", "보고서 \"1\".txt"),
            "attachment; filename=\"___ _1_.txt\"; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%20%221%22.txt"
        );
    }
}
