//! Chat files through the router, on both databases: upload → download with the safety headers,
//! members only (a non-member gets the 404 of a file that does not exist), the size limit (413,
//! nothing stored), thumbnails, active content served inert, attaching, pruning.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use bytes::Bytes;
use common::dav::{PASSWORD, basic};
use common::{TestApp, TestDb};
use http_body_util::BodyExt;
use madang::blob::{BlobConfig, BlobStore};
use madang::clock::ManualClock;
use madang::config::ChatFilesConfig;
use madang::domain::User;
use serde_json::Value;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn send(app: &TestApp, user: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Body) -> Reply {
    let mut req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, basic(user, PASSWORD));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let response = app.router().oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, bytes }
}

async fn upload(app: &TestApp, user: &str, channel: i64, name: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let path = format!("/api/v1/chat/channels/{channel}/files?name={name}");
    let length = body.len().to_string();
    let headers = [("content-type", content_type), ("content-length", length.as_str())];
    send(app, user, "POST", &path, &headers, Body::from(body)).await
}

async fn get(app: &TestApp, user: &str, path: &str) -> Reply {
    send(app, user, "GET", path, &[], Body::empty()).await
}

/// A channel with these members, made with SQL (the chat's own store API lives elsewhere).
async fn channel(db: &TestDb, id: i64, kind: &str, members: &[&User]) -> i64 {
    db.execute(&format!(
        "INSERT INTO chat_channels (id, kind, name, created_at) VALUES ({id}, '{kind}', 'c{id}', '2026-12-07T00:00:00Z')"
    ))
    .await;
    for user in members {
        db.execute(&format!(
            "INSERT INTO chat_members (channel_id, user_id, joined_at) VALUES ({id}, {}, '2026-12-07T00:00:00Z')",
            user.id
        ))
        .await;
    }
    id
}

/// An app over `db` whose files go to a directory of their own, with `max_file_size`.
async fn app_with(db: &TestDb, max_file_size: u64, clock: Option<Arc<ManualClock>>) -> (tempfile::TempDir, TestApp) {
    let mut app = match clock {
        Some(clock) => TestApp::with(db, common::test_auth_config(), clock).await,
        None => TestApp::new(db).await,
    };
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&BlobConfig::Local { dir: dir.path().to_path_buf() }).unwrap();
    let config = ChatFilesConfig { max_file_size, ..ChatFilesConfig::default() };
    app.state = app.state.clone().with_blobs(blobs, config);
    // Chat is off until an administrator turns it on.
    app.state.modules.set(&[(madang::modules::Module::Chat, true)]).await.unwrap();
    (dir, app)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30])));
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn assert_inert(r: &Reply) {
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert_eq!(r.header("content-security-policy"), "sandbox");
}

async fn upload_then_download_round_trips_with_safe_headers(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 1, "public", &[&alice]).await;
    // 200 KiB: over the test server's 64 KiB `server.max_body_size`, which uploads do not obey.
    let content: Vec<u8> = (0..200 * 1024).map(|i| (i % 256) as u8).collect();
    let r =
        upload(&app, "alice", general, "plan%20v2%20%EA%B3%84%ED%9A%8D.pdf", "application/pdf", content.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let file = r.json();
    let id = file["id"].as_i64().unwrap();
    assert_eq!(file["name"], "plan v2 계획.pdf");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["size"], content.len());
    assert_eq!(file["url"], format!("/api/v1/chat/files/{id}"));
    assert_eq!(file["thumbnail_url"], Value::Null);
    assert_eq!((&file["width"], &file["height"]), (&Value::Null, &Value::Null));
    assert!(file.get("blob_key").is_none(), "{file}");

    let r = get(&app, "alice", &format!("/api/v1/chat/files/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes.as_ref(), content.as_slice());
    assert_eq!(r.header("content-type"), "application/pdf");
    assert_eq!(r.header("content-length"), content.len().to_string());
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"plan v2 __.pdf\"; filename*=UTF-8''plan%20v2%20%EA%B3%84%ED%9A%8D.pdf"
    );
    assert_inert(&r);
    assert!(r.header("cache-control").starts_with("private"));
    // A file without a thumbnail has none to give.
    assert_eq!(get(&app, "alice", &format!("/api/v1/chat/files/{id}/thumbnail")).await.status, StatusCode::NOT_FOUND);
}

async fn non_members_of_a_private_channel_get_404_for_everything(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    app.add_user("mallory", PASSWORD).await;
    let secret = channel(db, 2, "private", &[&alice]).await;
    let r = upload(&app, "alice", secret, "photo.png", "image/png", png(10, 10)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();

    let missing = get(&app, "mallory", "/api/v1/chat/files/987654").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    for path in [format!("/api/v1/chat/files/{id}"), format!("/api/v1/chat/files/{id}/thumbnail")] {
        let r = get(&app, "mallory", &path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.bytes, missing.bytes, "{path}: the same answer as for a file that does not exist");
    }
    let r = upload(&app, "mallory", secret, "x.txt", "text/plain", b"hi".to_vec()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let nowhere = upload(&app, "mallory", 987654, "x.txt", "text/plain", b"hi".to_vec()).await;
    assert_eq!(r.bytes, nowhere.bytes, "the same answer as for a channel that does not exist");
    // Only alice's file (and its thumbnail) is stored.
    assert_eq!(app.state.blobs.keys("chat").await.unwrap().len(), 2);
}

async fn oversized_uploads_get_413_and_store_nothing(db: &TestDb) {
    let (_dir, app) = app_with(db, 1000, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 3, "public", &[&alice]).await;
    // Refused from Content-Length, before the body is read.
    let r = upload(&app, "alice", general, "big.bin", "application/octet-stream", vec![0; 1001]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"], "too_large");
    assert_eq!(r.json()["details"]["limit"], 1000);
    // A chunked body (no Content-Length) is cut off where it passes the limit.
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 300])));
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let path = format!("/api/v1/chat/channels/{general}/files?name=big.bin");
    let r = send(&app, "alice", "POST", &path, &[("content-type", "application/octet-stream")], body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.json());
    assert_eq!(r.json()["error"], "too_large");
    // Neither a blob nor a row.
    assert!(app.state.blobs.keys("chat").await.unwrap().is_empty());
    let far = chrono::Utc::now() + chrono::Duration::days(365);
    assert!(app.store.prunable_chat_files(far, 10).await.unwrap().is_empty());
    // At the limit is fine.
    let r = upload(&app, "alice", general, "ok.bin", "application/octet-stream", vec![0; 1000]).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn images_get_thumbnails_of_the_right_size(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 4, "public", &[&alice]).await;
    let r = upload(&app, "alice", general, "wide.png", "image/png", png(800, 400)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let file = r.json();
    let id = file["id"].as_i64().unwrap();
    assert_eq!((file["width"].as_i64(), file["height"].as_i64()), (Some(800), Some(400)));
    assert_eq!(file["thumbnail_url"], format!("/api/v1/chat/files/{id}/thumbnail"));

    let thumb = get(&app, "alice", &format!("/api/v1/chat/files/{id}/thumbnail")).await;
    assert_eq!(thumb.status, StatusCode::OK);
    assert_eq!(thumb.header("content-type"), "image/jpeg");
    assert!(thumb.header("content-disposition").starts_with("inline;"));
    assert_inert(&thumb);
    let decoded = image::load_from_memory(&thumb.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (360, 180));

    // The original is shown inline too, as the image it is.
    let original = get(&app, "alice", &format!("/api/v1/chat/files/{id}")).await;
    assert_eq!(original.header("content-type"), "image/png");
    assert!(original.header("content-disposition").starts_with("inline; filename=\"wide.png\""));
    assert_inert(&original);

    // Not an image after all: stored, without a thumbnail.
    let r = upload(&app, "alice", general, "fake.png", "image/png", b"not a png".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["thumbnail_url"], Value::Null);
}

async fn active_content_is_served_as_an_inert_attachment(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 5, "public", &[&alice]).await;
    for (name, content_type) in [("page.html", "text/html; charset=utf-8"), ("logo.svg", "image/svg+xml")] {
        let body = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(1)</script></svg>";
        let r = upload(&app, "alice", general, name, content_type, body.to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.json()["content_type"], content_type, "the JSON tells what was sent");
        assert_eq!(r.json()["thumbnail_url"], Value::Null);
        let r = get(&app, "alice", &format!("/api/v1/chat/files/{}", r.json()["id"])).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "application/octet-stream", "{name}");
        assert!(r.header("content-disposition").starts_with("attachment;"), "{name}");
        assert_inert(&r);
    }
}

async fn bad_names_and_archived_channels_are_refused(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 6, "public", &[&alice]).await;
    let r = upload(&app, "alice", general, "..", "text/plain", b"x".to_vec()).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")));
    let r = send(&app, "alice", "POST", &format!("/api/v1/chat/channels/{general}/files"), &[], Body::from("x")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "`name` is required");
    db.execute(&format!("UPDATE chat_channels SET archived_at = '2026-12-07T01:00:00Z' WHERE id = {general}")).await;
    let r = upload(&app, "alice", general, "late.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert!(app.state.blobs.keys("chat").await.unwrap().is_empty());
}

async fn files_attach_once_by_their_uploader_in_their_channel(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let bob = app.add_user("bob", PASSWORD).await;
    let general = channel(db, 7, "public", &[&alice, &bob]).await;
    let other = channel(db, 8, "public", &[&alice]).await;
    for (id, seq, author) in [(70, 1, alice.id), (71, 2, bob.id)] {
        db.execute(&format!(
            "INSERT INTO chat_messages (id, channel_id, seq, author_id, body, created_at) \
             VALUES ({id}, {general}, {seq}, {author}, 'hi', '2026-12-07T00:00:00Z')"
        ))
        .await;
    }
    let mut ids = Vec::new();
    for name in ["a.txt", "b.txt"] {
        ids.push(
            upload(&app, "alice", general, name, "text/plain", b"x".to_vec()).await.json()["id"].as_i64().unwrap(),
        );
    }
    let elsewhere =
        upload(&app, "alice", other, "c.txt", "text/plain", b"x".to_vec()).await.json()["id"].as_i64().unwrap();

    let invalid = |r: Result<(), madang::store::StoreError>| matches!(r, Err(madang::store::StoreError::Invalid(_)));
    // Someone else's file, a file of another channel, a file named twice: refused, nothing attached.
    assert!(invalid(app.store.attach_chat_files(bob.id, general, 71, &ids).await));
    assert!(invalid(app.store.attach_chat_files(alice.id, general, 70, &[ids[0], elsewhere]).await));
    assert!(invalid(app.store.attach_chat_files(alice.id, general, 70, &[ids[0], ids[0]]).await));
    assert!(app.store.chat_files_of(&[70, 71]).await.unwrap().is_empty());

    app.store.attach_chat_files(alice.id, general, 70, &ids).await.unwrap();
    let files = app.store.chat_files_of(&[70, 71]).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[&70].iter().map(|f| f.id).collect::<Vec<_>>(), ids);
    let json = serde_json::to_value(&files[&70][0]).unwrap();
    assert_eq!(json["url"], format!("/api/v1/chat/files/{}", ids[0]));
    assert_eq!(json["name"], "a.txt");
    // Once attached, never again.
    assert!(invalid(app.store.attach_chat_files(alice.id, general, 70, &ids[..1]).await));
}

async fn unattached_files_are_pruned_after_their_lifetime(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let (_dir, app) = app_with(db, 25 << 20, Some(clock.clone())).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let general = channel(db, 9, "public", &[&alice]).await;
    db.execute(&format!(
        "INSERT INTO chat_messages (id, channel_id, seq, author_id, body, created_at) \
         VALUES (90, {general}, 1, {}, 'hi', '2026-12-07T00:00:00Z')",
        alice.id
    ))
    .await;
    let kept = upload(&app, "alice", general, "kept.png", "image/png", png(4, 4)).await.json()["id"].as_i64().unwrap();
    let dropped =
        upload(&app, "alice", general, "gone.png", "image/png", png(4, 4)).await.json()["id"].as_i64().unwrap();
    app.store.attach_chat_files(alice.id, general, 90, &[kept]).await.unwrap();
    assert_eq!(app.state.chat_files.prune().await.unwrap(), 0, "too young to prune");
    clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(app.state.chat_files.prune().await.unwrap(), 1);
    assert_eq!(get(&app, "alice", &format!("/api/v1/chat/files/{dropped}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "alice", &format!("/api/v1/chat/files/{kept}")).await.status, StatusCode::OK);
    // The pruned file's blob and thumbnail went with it.
    assert_eq!(app.state.blobs.keys("chat").await.unwrap().len(), 2);
}

/// The web client's flow: upload, then send a message naming the file; the message carries it
/// (in the answer, in history and in the push event) and another member cannot reuse it.
async fn a_sent_message_carries_its_files(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let bob = app.add_user("bob", PASSWORD).await;
    let general = channel(db, 11, "public", &[&alice, &bob]).await;
    let file = upload(&app, "alice", general, "pic.png", "image/png", png(40, 20)).await.json()["id"].as_i64().unwrap();
    let post = |user: &'static str, body: Value| {
        let app = &app;
        async move {
            let path = format!("/api/v1/chat/channels/{general}/messages");
            send(app, user, "POST", &path, &[("content-type", "application/json")], Body::from(body.to_string())).await
        }
    };
    // Bob cannot send Alice's file: 422, and no message is stored.
    let r = post("bob", serde_json::json!({"text": "mine now", "files": [file]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
    let history = get(&app, "alice", &format!("/api/v1/chat/channels/{general}/messages")).await.json();
    assert_eq!(history["messages"].as_array().unwrap().len(), 0, "{history}");
    // A message may be only files.
    let r = post("alice", serde_json::json!({"text": "", "files": [file]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let message = r.json();
    assert_eq!(message["files"][0]["id"], file);
    assert_eq!(message["files"][0]["width"], 40);
    assert_eq!(message["files"][0]["thumbnail_url"], format!("/api/v1/chat/files/{file}/thumbnail"));
    let history = get(&app, "bob", &format!("/api/v1/chat/channels/{general}/messages")).await.json();
    assert_eq!(history["messages"][0]["files"][0]["name"], "pic.png", "{history}");
    // Once on a message, never on another.
    let r = post("alice", serde_json::json!({"text": "again", "files": [file]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A deleted message shows no files.
    let id = message["id"].as_i64().unwrap();
    assert!(
        send(&app, "alice", "DELETE", &format!("/api/v1/chat/messages/{id}"), &[], Body::empty())
            .await
            .status
            .is_success()
    );
    let shown = get(&app, "bob", &format!("/api/v1/chat/messages/{id}")).await.json();
    assert_eq!(shown["files"], serde_json::json!([]), "{shown}");
    // Nor can anyone fetch them any more, and the next pruning deletes them, bytes included.
    for user in ["alice", "bob"] {
        for path in [format!("/api/v1/chat/files/{file}"), format!("/api/v1/chat/files/{file}/thumbnail")] {
            assert_eq!(get(&app, user, &path).await.status, StatusCode::NOT_FOUND, "{user} {path}");
        }
    }
    assert_eq!(app.state.blobs.keys("chat").await.unwrap().len(), 2, "the file and its thumbnail");
    assert_eq!(app.state.chat_files.prune().await.unwrap(), 1);
    assert!(app.state.blobs.keys("chat").await.unwrap().is_empty());
}

/// File ids are sequential: until its message is sent, an upload is its uploader's alone.
async fn an_unsent_upload_is_only_its_uploaders(db: &TestDb) {
    let (_dir, app) = app_with(db, 25 << 20, None).await;
    let alice = app.add_user("alice", PASSWORD).await;
    let bob = app.add_user("bob", PASSWORD).await;
    let general = channel(db, 12, "public", &[&alice, &bob]).await;
    let file = upload(&app, "alice", general, "draft.png", "image/png", png(8, 8)).await.json()["id"].as_i64().unwrap();
    for path in [format!("/api/v1/chat/files/{file}"), format!("/api/v1/chat/files/{file}/thumbnail")] {
        assert_eq!(get(&app, "alice", &path).await.status, StatusCode::OK, "{path}");
        assert_eq!(get(&app, "bob", &path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

on_both_databases!(
    a_sent_message_carries_its_files,
    an_unsent_upload_is_only_its_uploaders,
    upload_then_download_round_trips_with_safe_headers,
    non_members_of_a_private_channel_get_404_for_everything,
    oversized_uploads_get_413_and_store_nothing,
    images_get_thumbnails_of_the_right_size,
    active_content_is_served_as_an_inert_attachment,
    bad_names_and_archived_channels_are_refused,
    files_attach_once_by_their_uploader_in_their_channel,
    unattached_files_are_pruned_after_their_lifetime,
);
