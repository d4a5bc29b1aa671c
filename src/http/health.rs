//! Probes for orchestrators and the Prometheus scrape endpoint.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::error::ApiError;
use crate::app::state::AppState;
use crate::config::MetricsAccess;
use crate::store::SchemaStatus;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics_text))
}

/// The process is up and serving; says nothing about the database.
async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// Ready for traffic: the database answers and its schema is the one this
/// binary expects. 503 otherwise, so a load balancer stops sending requests.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // Reading the migration table is itself the round trip to the database.
    match state.store.schema_status().await {
        Ok(SchemaStatus::Current { version }) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": state.store.kind(), "schema_version": version })),
        ),
        Ok(SchemaStatus::Behind { applied, known }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "reason": format!("database schema is at {applied}, this binary needs {known}; run `madang migrate`"),
            })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": e.to_string() })))
        }
    }
}

/// Prometheus text format (version 0.0.4), to whom `server.metrics` allows. Metrics name routes,
/// counts failed sign-ins and show load, which is reconnaissance for an attacker, so the default
/// serves only local scrapers.
async fn metrics_text(State(state): State<AppState>, parts: Parts) -> Response {
    match &state.settings.metrics {
        MetricsAccess::Public => {}
        MetricsAccess::Off => return ApiError::not_found("no such resource").into_response(),
        MetricsAccess::Local => {
            if !is_local_unproxied(&parts) {
                return ApiError::not_found("no such resource").into_response();
            }
        }
        MetricsAccess::Token(token) => {
            let sent = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Digests of both sides, so the comparison time says nothing about the token.
            let digest = |t: &str| ring::digest::digest(&ring::digest::SHA256, t.as_bytes());
            if digest(sent).as_ref() != digest(token).as_ref() {
                let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a bearer token is required")
                    .into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"metrics\""));
                return r;
            }
        }
    }
    let (open, idle) = state.store.pool_stats();
    let backend = state.store.kind();
    metrics::gauge!("madang_db_pool_connections", "database" => backend, "state" => "idle").set(idle as f64);
    metrics::gauge!("madang_db_pool_connections", "database" => backend, "state" => "active")
        .set(open.saturating_sub(idle as u32) as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::telemetry::metrics_handle().render())
        .into_response()
}

/// A request whose TCP peer is a loopback address and that carries no header a proxy adds:
/// a reverse proxy on the same host connects from loopback too, on behalf of anyone.
fn is_local_unproxied(parts: &Parts) -> bool {
    let peer_is_loopback =
        parts.extensions.get::<ConnectInfo<SocketAddr>>().is_some_and(|c| c.0.ip().to_canonical().is_loopback());
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| parts.headers.contains_key(*h));
    peer_is_loopback && !proxied
}
