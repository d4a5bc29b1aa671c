//! `GET /api/v1/push`: the signed-in user's live changes as Server-Sent Events, resumable with `Last-Event-ID`.
//!
//! Why SSE rather than a WebSocket (docs/api.md says the same to client authors): the stream
//! only flows server → client, and SSE gives that with plain HTTP — it passes proxies and
//! HTTP/2 unchanged, needs no upgrade, and browsers' `EventSource` reconnects by itself and
//! sends the last `id:` it saw as `Last-Event-ID` (WHATWG HTML §9.2), which is exactly the
//! resume protocol. Writes go through the ordinary JSON routes.
//!
//! The frames (HTML §9.2.5): a `ready` event first, whose `id:` is where the stream starts;
//! then one event per change (`id:` the user's event number, `event:` its type, `data:` JSON);
//! `resync` when the client's last id is unknown, in the future or pruned (refetch, then go on);
//! a comment line every `push.heartbeat`; `closed` when the server shuts down. Ephemeral events
//! (`chat.typing`, `chat.presence`) have no `id:` line: an event without one leaves the
//! browser's last event ID as it was (HTML §9.2.6), so a reconnect resumes after the last
//! stored event, and ephemerals missed meanwhile are gone, as they should be.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::app::state::AppState;
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::modules::{Module, Modules};
use crate::push::{Delivery, PushError};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PushParams {
    /// Resume after this event id, for clients that cannot send `Last-Event-ID` (a new
    /// `EventSource` after a page reload). The header wins when both are given.
    pub last_event_id: Option<String>,
}

/// One event of the stream, field by field (HTML §9.2.5); how the OpenAPI description gives the
/// stream's items. `frame` writes them.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the wire shape.
pub struct PushFrame {
    /// The user's event number; send the last one back as `Last-Event-ID`. Absent on ephemeral
    /// events (`chat.typing`, `chat.presence`), which are never stored.
    id: Option<String>,
    /// The type: `ready`, `calendar.object`, `calendar.collection`, `addressbook.object`,
    /// `addressbook.collection`, `chat.message`, `chat.channel`, `chat.read`, `chat.follow`,
    /// `chat.typing`, `chat.presence`, `mail.changed`, `resync`, `closed` (more may come; ignore
    /// what you do not know). docs/chat.md and docs/mail.md give their `data`.
    event: Option<String>,
    /// The event's JSON object, as text.
    data: String,
    /// Milliseconds before the browser reconnects (on `ready` only).
    retry: Option<u64>,
}

#[utoipa::path(
    get, path = "/api/v1/push", tag = "push",
    params(PushParams, ("Last-Event-ID" = Option<String>, Header, description = "The last event id received; the stream resumes after it")),
    responses(
        (status = 200, description = "An endless `text/event-stream`; each event as below", content_type = "text/event-stream", body = PushFrame),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 403, description = "A session cookie sent by another site", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many open streams for this account", body = super::openapi::ErrorBody),
    ),
)]
pub async fn stream(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    params: Result<Query<PushParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let from_header = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("malformed").to_string());
    let from_query = params.ok().and_then(|Query(p)| p.last_event_id);
    let last = from_header.or(from_query);
    let listener = state.push.open(principal.user.id, last.as_deref()).await.map_err(|e| match e {
        PushError::TooManyConnections(_) => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", e.to_string())
        }
        PushError::Store(e) => e.into(),
    })?;
    let modules = state.modules.clone();
    let frames = futures_util::stream::unfold(listener, move |mut listener| {
        let modules = modules.clone();
        async move {
            match listener.next().await? {
                Ok(delivery) => {
                    let delivery = without_modules_off(delivery, &modules).await;
                    Some((Ok::<_, Infallible>(Bytes::from(frame(&delivery))), listener))
                }
                Err(e) => {
                    // The client reconnects with its last id and loses nothing.
                    tracing::warn!(error = %e, "push stream ended by a database error");
                    None
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(frames));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx would otherwise hold the stream back in its response buffer.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The module an event type belongs to: what an administrator switched off is not announced
/// either (its routes answer 403; its events would still tell what changed).
fn module_of(kind: &str) -> Option<Module> {
    match kind.split('.').next() {
        Some("calendar") => Some(Module::Calendar),
        Some("addressbook") => Some(Module::Contacts),
        Some("mail") => Some(Module::Mail),
        Some("chat") => Some(Module::Chat),
        _ => None,
    }
}

/// `delivery` without the events of modules that are off. The numbers of the dropped events
/// are skipped, which is harmless: a client only ever sends back the last id it saw.
async fn without_modules_off(delivery: Delivery, modules: &Modules) -> Delivery {
    if let Delivery::Ephemeral { kind, .. } = &delivery {
        let Some(module) = module_of(kind) else { return delivery };
        return match modules.states().await {
            Ok(states) if !states.is_on(module) => Delivery::Heartbeat,
            _ => delivery,
        };
    }
    let Delivery::Events(events) = delivery else { return delivery };
    // A failed read keeps everything: the routes themselves still refuse what is off.
    let Ok(states) = modules.states().await else { return Delivery::Events(events) };
    let kept: Vec<_> = events.into_iter().filter(|e| module_of(&e.kind).is_none_or(|m| states.is_on(m))).collect();
    if kept.is_empty() { Delivery::Heartbeat } else { Delivery::Events(kept) }
}

/// One delivery as SSE text (HTML §9.2.5: fields are `name: value` lines, an event ends with a
/// blank line; a `data` value with line breaks becomes several `data:` lines).
pub fn frame(delivery: &Delivery) -> String {
    fn event(out: &mut String, id: i64, kind: &str, data: &str) {
        out.push_str(&format!("id: {id}\nevent: {kind}\n"));
        for line in data.split(['\n', '\r']) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    let mut out = String::new();
    match delivery {
        Delivery::Ready { head } => {
            // Reconnect soon after a drop; the default (a few seconds) is browser-defined.
            out.push_str("retry: 2000\n");
            event(&mut out, *head, "ready", &format!("{{\"head\":{head}}}"));
        }
        Delivery::Events(events) => {
            for e in events {
                event(&mut out, e.seq, &e.kind, &e.data);
            }
        }
        Delivery::Resync { head } => event(&mut out, *head, "resync", &format!("{{\"head\":{head}}}")),
        Delivery::Heartbeat => out.push_str(": heartbeat\n\n"),
        Delivery::Closed => out.push_str("event: closed\ndata: {}\n\n"),
        Delivery::Ephemeral { kind, data } => {
            out.push_str(&format!("event: {kind}\n"));
            for line in data.split(['\n', '\r']) {
                out.push_str("data: ");
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::push::PushEvent;

    #[test]
    fn frames_follow_the_event_stream_format() {
        assert_eq!(frame(&Delivery::Ready { head: 7 }), "retry: 2000\nid: 7\nevent: ready\ndata: {\"head\":7}\n\n");
        let events = Delivery::Events(vec![
            PushEvent { seq: 8, kind: "calendar.object".into(), data: "{\"a\":1}".into() },
            PushEvent { seq: 9, kind: "chat.message".into(), data: "line one\nline two".into() },
        ]);
        assert_eq!(
            frame(&events),
            "id: 8\nevent: calendar.object\ndata: {\"a\":1}\n\nid: 9\nevent: chat.message\ndata: line one\ndata: line two\n\n"
        );
        assert_eq!(frame(&Delivery::Resync { head: 3 }), "id: 3\nevent: resync\ndata: {\"head\":3}\n\n");
        assert_eq!(frame(&Delivery::Heartbeat), ": heartbeat\n\n");
        // No id: the client's last event id stays that of the last stored event.
        let typing =
            Delivery::Ephemeral { kind: "chat.typing".into(), data: "{\"channel\":7,\"user\":\"bob\"}".into() };
        assert_eq!(frame(&typing), "event: chat.typing\ndata: {\"channel\":7,\"user\":\"bob\"}\n\n");
    }
}
