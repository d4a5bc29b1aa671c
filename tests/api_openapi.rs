//! The OpenAPI description (`/api/v1/openapi.json`) against the routes the router serves.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::dav::Client;
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

on_both_databases!(
    every_route_is_in_the_spec_and_nothing_else,
    every_listed_route_is_served,
    operations_document_their_errors_with_the_error_schema,
);
