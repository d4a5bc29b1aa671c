//! App assembly: the complete router with its middleware (`app(state) -> Router`), above every door.
//!
//! [`app`] builds the whole router from an [`AppState`] (wired in [`state`]), so tests drive
//! the real stack without a socket; `http::server` runs it on a TCP listener (plain or TLS,
//! HTTP/1.1 and HTTP/2) with graceful shutdown.

pub mod state;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::http::error::ApiError;
use crate::http::{api, autoconfig, feeds, health, modules, valid_text};
pub use state::{AppState, HttpSettings};

/// The complete router with its middleware.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    // Install the recorder before the first request, or its metrics are lost.
    let _ = crate::telemetry::metrics_handle();
    let x_request_id = HeaderName::from_static("x-request-id");
    let routes = Router::new()
        .merge(health::routes())
        .merge(crate::web::routes())
        // `GET /` is the web client's shell; every other method on `/` is the DAV root's.
        .merge(crate::client::routes())
        .merge(crate::oidc::routes())
        .nest("/api/v1", api::routes())
        // Incoming chat webhooks: the token in the path is the only credential.
        .route("/hooks/{token}", axum::routing::post(crate::api::chat::webhooks::post))
        // Published calendars: the token in the path is the only credential (`http::feeds`).
        .route(crate::collections::publish::FEED_ROUTE, axum::routing::get(feeds::get))
        // Mail apps' own set-up: Mozilla autoconfig and Microsoft Autodiscover (`http::autoconfig`).
        .route(autoconfig::AUTOCONFIG_WELL_KNOWN, axum::routing::get(autoconfig::autoconfig))
        .route(autoconfig::AUTOCONFIG_HOST, axum::routing::get(autoconfig::autoconfig))
        .route(autoconfig::AUTODISCOVER, axum::routing::post(autoconfig::autodiscover))
        .route(autoconfig::AUTODISCOVER_OUTLOOK, axum::routing::post(autoconfig::autodiscover))
        .merge(crate::dav::routes())
        .fallback(|| async { ApiError::not_found("no such resource") })
        .with_state(state.clone());
    // Outermost last. `Router::layer` wraps each route after routing, which
    // is what lets `record_metrics` see the matched route template.
    routes
        // Chat requests with a bot token are answered by the bots' door (inside the module gate).
        .layer(middleware::from_fn_with_state(state.clone(), crate::api::chat::bots::gate))
        // A module that is off answers 403 before anything else is done.
        .layer(middleware::from_fn_with_state(state.clone(), modules::gate))
        // Pages rendered while answering carry this instance's brand.
        .layer(middleware::from_fn_with_state(state.clone(), crate::web::page::brand_scope))
        // Innermost: it reads form bodies, which the limits below have bounded.
        .layer(middleware::from_fn(valid_text::refuse_control_characters))
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
                }))
                .layer(middleware::from_fn_with_state(state.clone(), limit_body))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
                .layer(DefaultBodyLimit::max(settings.max_body_size)),
        )
        // Before anything reads them: `X-Forwarded-Proto`/`-Host` from a peer that is not a trusted proxy go.
        .layer(middleware::from_fn_with_state(state, drop_untrusted_forwarding))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(SetRequestIdLayer::new(x_request_id.clone(), RandomRequestId))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let id = req
                                .extensions()
                                .get::<RequestId>()
                                .and_then(|id| id.header_value().to_str().ok())
                                .unwrap_or("-");
                            // The path only (query strings may carry tokens), and without the
                            // secret of an incoming webhook's URL.
                            let path = loggable_path(req.uri().path());
                            tracing::info_span!("request", id = %id, method = %req.method(), path = %path)
                        })
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                        .on_failure(log_failure),
                )
                .layer(PropagateRequestIdLayer::new(x_request_id)),
        )
}

/// The request path as logged: an incoming webhook's URL is its secret (`/hooks/{token}`,
/// docs/chat.md), and so is a published calendar's (`/feeds/<token>.ics`), so only their
/// routes are written.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/hooks/") {
        "/hooks/{token}"
    } else if crate::collections::publish::is_feed_path(path) {
        crate::collections::publish::FEED_ROUTE
    } else {
        path
    }
}

/// `server.max_body_size` for every route but chat uploads, which get `chat.max_file_size`
/// (larger, by default): a 413 from `Content-Length` before anything is read, and a body cut
/// off where it passes the limit when it is chunked.
async fn limit_body(axum::extract::State(state): axum::extract::State<AppState>, req: Request, next: Next) -> Response {
    let upload =
        req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str() == crate::api::chat::files::UPLOAD_ROUTE);
    let (limit, what) = if upload {
        (state.chat_files.config().max_file_size, "the file is larger than chat.max_file_size")
    } else {
        (state.settings.max_body_size as u64, "the request body is larger than server.max_body_size")
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("{what} ({limit} bytes)"))
            .with_details(serde_json::json!({ "limit": limit }))
            .into_response();
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    next.run(req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)))).await
}

/// Removes `X-Forwarded-Proto` and `X-Forwarded-Host` unless the peer is a trusted proxy
/// (`server.trusted_proxies`), so that what reads them later (`Secure` cookies, the
/// same-origin check) never believes a client that wrote them itself. `X-Forwarded-For`
/// stays: [`crate::proxies::TrustedProxies::client_address`] walks it with the same rule,
/// and `/metrics` sees in it that a request came through a proxy.
async fn drop_untrusted_forwarding(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    if !state.settings.proxies.trusts(peer) {
        req.headers_mut().remove("x-forwarded-proto");
        req.headers_mut().remove("x-forwarded-host");
    }
    next.run(req).await
}

/// How a 5xx answer or a failed response body is logged. Only a 500 (and a broken body) is
/// an error of Madang's own; 503 means the database was away (logged where it happened);
/// the others answer the request itself — 507 for too many results or a full quota, 502 for a
/// COPY to another server (RFC 4918 §9.8.5) — so they must not bury real errors at ERROR.
fn log_failure(failure: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    let latency_ms = latency.as_millis() as u64;
    match failure_level(&failure) {
        tracing::Level::ERROR => tracing::error!(classification = %failure, latency_ms, "response failed"),
        tracing::Level::WARN => tracing::warn!(classification = %failure, latency_ms, "response failed"),
        _ => tracing::info!(classification = %failure, latency_ms, "request refused"),
    }
}

fn failure_level(failure: &ServerErrorsFailureClass) -> tracing::Level {
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::INTERNAL_SERVER_ERROR) => tracing::Level::ERROR,
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => tracing::Level::WARN,
        ServerErrorsFailureClass::StatusCode(_) => tracing::Level::INFO,
        ServerErrorsFailureClass::Error(_) => tracing::Level::ERROR,
    }
}

/// Request IDs: 16 random hex digits, unless the client or a proxy sent one.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes).ok()?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        HeaderValue::from_str(&hex).ok().map(RequestId::new)
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Clients may send any token as a method; only known ones become labels.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "PROPFIND" | "PROPPATCH" | "MKCOL"
        | "MKCALENDAR" | "COPY" | "MOVE" | "REPORT" | "LOCK" | "UNLOCK") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    // The route template (`/api/v1/me/app-passwords/{id}`), so that IDs in
    // paths do not explode the label set.
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let elapsed = start.elapsed().as_secs_f64();
    metrics::counter!("madang_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("madang_http_request_duration_seconds", "method" => method, "route" => route).record(elapsed);
    response
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn webhook_secrets_stay_out_of_the_request_log() {
        assert_eq!(super::loggable_path("/hooks/c2VjcmV0LXRva2Vu"), "/hooks/{token}");
        assert_eq!(super::loggable_path("/api/v1/chat/channels"), "/api/v1/chat/channels");
    }

    #[test]
    fn issue16_feed_secrets_stay_out_of_the_request_log() {
        let path = crate::collections::publish::feed_path("c2VjcmV0LXRva2Vu");
        assert_eq!(super::loggable_path(&path), "/feeds/{file}");
    }
}
