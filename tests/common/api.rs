//! JSON API calls through the router for the `api_*` tests: one request, its status, ETag and parsed body.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::Value;

use super::TestApp;
use super::dav::Client;

pub struct Json {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub body: Value,
    pub text: String,
}

pub async fn call_with(
    app: &TestApp,
    user: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Json {
    let client = Client::new(app, user);
    let mut headers = headers.to_vec();
    let r = match body {
        Some(b) => {
            headers.push(("content-type", "application/json"));
            client.send(method, path, &headers, b.to_string()).await
        }
        None => client.send(method, path, &headers, Body::empty()).await,
    };
    let body = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    Json { status: r.status, etag: r.header("etag").map(str::to_string), body, text: r.text }
}

pub async fn call(app: &TestApp, user: &str, method: &str, path: &str, body: Option<Value>) -> Json {
    call_with(app, user, method, path, &[], body).await
}

#[track_caller]
pub fn assert_error(r: &Json, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"], code, "{}", r.text);
}

/// iCalendar text with its folded lines joined, to search for whole lines.
pub fn unfold(ics: &str) -> String {
    ics.replace("\r\n ", "").replace("\r\n\t", "")
}
