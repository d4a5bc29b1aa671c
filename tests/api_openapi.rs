//! The OpenAPI description (`/api/v1/openapi.json`) against the routes the router serves.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::{Client, users};
use common::{TestApp, TestDb};
use serde_json::Value;

const ERRORS_OF_AUTHENTICATED_ROUTES: [&str; 3] = ["401", "429", "503"];

async fn spec(app: &TestApp) -> Value {
    let r = Client::anonymous(app).send("GET", "/api/v1/openapi.json", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    serde_json::from_str(&r.text).expect("the spec is JSON")
}

async fn every_route_is_in_the_spec_and_nothing_else(db: &TestDb) {
    let app = TestApp::new(db).await;
    let spec = spec(&app).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."), "{}", spec["openapi"]);
    let mut documented = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head"] {
            if item.get(method).is_some() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let mut registered: Vec<(String, String)> =
        madang::api::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    documented.sort();
    registered.sort();
    assert_eq!(documented, registered, "ROUTES and the spec disagree");
}

/// Each listed route is really routed: without credentials it answers 401 (not the fallback's
/// 404 or a 405), except the public spec.
async fn every_listed_route_is_served(db: &TestDb) {
    let app = TestApp::new(db).await;
    // Modules that are off by default answer 403 before authentication.
    app.state
        .modules
        .set(&[(madang::modules::Module::Chat, true), (madang::modules::Module::Mail, true)])
        .await
        .unwrap();
    let anonymous = Client::anonymous(&app);
    for (method, path) in madang::api::ROUTES {
        let concrete = path.replace("{id}", "1").replace("{uid}", "x");
        let r = anonymous.send(method, &concrete, &[], Body::empty()).await;
        let expected = if *path == "/api/v1/openapi.json" { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
        assert_eq!(r.status, expected, "{method} {path}: {}", r.text);
    }
}

async fn operations_document_their_errors_with_the_error_schema(db: &TestDb) {
    let app = TestApp::new(db).await;
    let spec = spec(&app).await;
    let schemas = &spec["components"]["schemas"];
    assert!(schemas["ErrorBody"].is_object(), "ErrorBody schema missing");
    assert!(schemas["Contact"].is_object() && schemas["Calendar"].is_object());
    assert_eq!(spec["components"]["securitySchemes"]["basic"]["scheme"], "basic");
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let public = path == "/api/v1/openapi.json";
            for code in ERRORS_OF_AUTHENTICATED_ROUTES {
                assert_eq!(responses.contains_key(code), !public, "{method} {path} {code}");
            }
            for (code, response) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {code}");
                }
            }
            if op.get("requestBody").is_some() && ["post", "put", "patch"].contains(&method.as_str()) {
                let content = op["requestBody"]["content"].as_object().unwrap();
                assert!(!content.is_empty(), "{method} {path}");
            }
        }
    }
    // Route-specific errors are there too.
    let put = &spec["paths"]["/api/v1/addressbooks/{id}/contacts/{uid}"]["put"]["responses"];
    for code in ["404", "409", "412", "422"] {
        assert!(put.get(code).is_some(), "PUT contact lacks {code}");
    }
    assert!(spec["paths"]["/api/v1/me/app-passwords"]["post"]["responses"].get("403").is_some());
    assert!(spec["paths"]["/api/v1/calendars"]["post"]["responses"].get("409").is_some());
}

/// (method, path template in the spec, request path, headers, expected status, expected error code)
type Case =
    (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str)], StatusCode, &'static str);

/// Requests schemathesis generated that got answers the spec did not declare (or not in the
/// error shape): a path segment that does not parse, a JSON route without a JSON body, an
/// empty `If-Match` on a DELETE. Each must be a JSON error whose status the operation declares.
async fn malformed_requests_get_errors_the_spec_declares(db: &TestDb) {
    let app = TestApp::new(db).await;
    users(&app, &["alice"]).await;
    let spec = spec(&app).await;
    let alice = Client::new(&app, "alice");
    let cases: [Case; 8] = [
        // Found by schemathesis: a cursor the server never made is a declared 422.
        (
            "GET",
            "/api/v1/addressbooks/{id}/contacts",
            "/api/v1/addressbooks/default/contacts?cursor=r%F4%80%B6%A6",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/api/v1/calendars/{id}/events",
            "/api/v1/calendars/default/events?cursor=bm9wZQ",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "DELETE",
            "/api/v1/me/app-passwords/{id}",
            "/api/v1/me/app-passwords/9223372036854775808",
            &[],
            StatusCode::BAD_REQUEST,
            "bad_path",
        ),
        (
            "GET",
            "/api/v1/calendars/{id}/events",
            "/api/v1/calendars/%FF/events",
            &[],
            StatusCode::BAD_REQUEST,
            "bad_path",
        ),
        (
            "GET",
            "/api/v1/addressbooks/{id}/contacts/{uid}",
            "/api/v1/addressbooks/default/contacts/%C3%28",
            &[],
            StatusCode::BAD_REQUEST,
            "bad_path",
        ),
        (
            "POST",
            "/api/v1/calendars",
            "/api/v1/calendars",
            &[],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "PATCH",
            "/api/v1/calendars/{id}",
            "/api/v1/calendars/default",
            &[("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "DELETE",
            "/api/v1/calendars/{id}/events/{uid}",
            "/api/v1/calendars/default/events/x",
            &[("if-match", "")],
            StatusCode::BAD_REQUEST,
            "bad_header",
        ),
    ];
    for (method, template, path, headers, status, code) in cases {
        let r = alice.send(method, path, headers, Body::from("{}")).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{method} {path}");
        let body: Value = serde_json::from_str(&r.text).expect("a JSON error");
        assert_eq!(body["error"], code, "{method} {path}: {}", r.text);
        let declared = &spec["paths"][template][method.to_ascii_lowercase()]["responses"][status.as_str()];
        assert!(declared.is_object(), "{method} {template} does not declare {status}");
    }
    // Every JSON body can be refused as too large or not JSON; every path parameter as malformed.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            if op["requestBody"]["content"].get("application/json").is_some() {
                assert!(responses.get("413").is_some() && responses.get("415").is_some(), "{method} {path}");
            }
            let params = op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                assert!(responses.get("400").is_some(), "{method} {path}");
            }
        }
    }
    // A contact is its fields plus `uid`, `etag` and `dav_url`: the fields' schema must not
    // forbid other properties, or every contact response would contradict the spec.
    let fields = &spec["components"]["schemas"]["ContactFields"];
    assert_ne!(fields["additionalProperties"], Value::Bool(false), "{fields}");
}

on_both_databases!(
    every_route_is_in_the_spec_and_nothing_else,
    every_listed_route_is_served,
    operations_document_their_errors_with_the_error_schema,
    malformed_requests_get_errors_the_spec_declares,
);
