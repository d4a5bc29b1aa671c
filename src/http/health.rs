//! Probes for orchestrators and the Prometheus scrape endpoint.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;
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

/// Prometheus text format (version 0.0.4).
async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let (open, idle) = state.store.pool_stats();
    let backend = state.store.kind();
    metrics::gauge!("madang_db_pool_connections", "database" => backend, "state" => "idle").set(idle as f64);
    metrics::gauge!("madang_db_pool_connections", "database" => backend, "state" => "active")
        .set(open.saturating_sub(idle as u32) as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::telemetry::metrics_handle().render())
}
