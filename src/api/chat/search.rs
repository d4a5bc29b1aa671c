//! `GET /api/v1/chat/search`: full-text search over the messages the user may read (docs/chat.md).
//!
//! The query syntax is parsed by `madang_chat::query` (words, `"phrases"`, `in:`, `from:`,
//! `before:`, `after:`, `during:`); this door turns it into a [`MessageSearch`] and the store
//! does the rest (`store::chat_search`: the indexes, visibility). Dates are whole days in UTC:
//! `before:D` is before D 00:00 UTC, `after:D` from D+1 00:00 UTC, `during:D` that day.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::cursor;
use crate::api::openapi::ErrorBody;
use crate::app::state::AppState;
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::store::chat_search::{MessageSearch, SearchHit};

/// Results per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// The longest query, in characters, and the most words and phrases in it: each term is one
/// more condition on every candidate row.
pub const MAX_QUERY_CHARS: usize = 500;
pub const MAX_TERMS: usize = 16;
/// On SQLite, the most message ids one request scans for terms too short for the trigram index
/// (one or two characters, e.g. `회의`); a page found within fewer than `limit` hits carries a
/// cursor to go on below it. About 10–60 ms of work (bench/chat_search.py).
pub const SCAN_WINDOW: i64 = 20_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words and `"quoted phrases"` (all must occur, case-insensitive, anywhere in the text:
    /// `회의` finds `회의록을`), with `in:#channel` (or `in:name` for your direct messages with
    /// that person), `from:@user`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`,
    /// `during:YYYY-MM-DD` or `during:YYYY-MM` (days in UTC).
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Results per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// The channel a result is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultChannel {
    pub id: i64,
    /// `null` for direct messages.
    pub name: Option<String>,
    /// `public`, `private` or `dm`.
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub message: crate::store::chat::Message,
    pub channel: ResultChannel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// Newest first.
    pub results: Vec<SearchResult>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page. A page may hold
    /// fewer results than asked (even none) and still have a next one: on SQLite a search for
    /// one- or two-character words looks at a bounded window of messages per request.
    pub next_cursor: Option<String>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The store's query for a parsed search, or why it cannot run.
pub fn to_store_query(q: &madang_chat::query::SearchQuery) -> Result<MessageSearch, String> {
    use madang_chat::query::Term;
    let terms: Vec<String> = q
        .terms()
        .into_iter()
        .map(|t| match t {
            Term::Word(w) | Term::Phrase(w) => w,
        })
        .filter(|t| !t.trim().is_empty())
        .collect();
    if terms.len() > MAX_TERMS {
        return Err(format!("at most {MAX_TERMS} words and phrases"));
    }
    let next_day = |d: NaiveDate| d.succ_opt().map(midnight);
    let mut since = q.after.and_then(next_day);
    let mut until = q.before.map(midnight);
    if let Some(day) = q.during {
        since = since.max(Some(midnight(day)));
        let end = next_day(day);
        until = match (until, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if terms.is_empty() && q.in_channel.is_none() && q.from.is_none() && since.is_none() && until.is_none() {
        return Err("nothing to search for".into());
    }
    Ok(MessageSearch {
        terms,
        in_channel: q.in_channel.clone(),
        from: q.from.clone(),
        since,
        until,
        scan_window: SCAN_WINDOW,
        ..Default::default()
    })
}

#[utoipa::path(
    get, path = "/api/v1/chat/search", tag = "chat",
    params(SearchParams),
    responses(
        (status = 200, description = "Matching messages in channels the user is a member of, newest first", body = SearchPage),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 422, description = "An empty or malformed search (the message says what), or a cursor this server did not hand out", body = ErrorBody),
    ),
)]
pub async fn search(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let text = params.q.unwrap_or_default();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(crate::api::invalid(format!("q: at most {MAX_QUERY_CHARS} characters")));
    }
    let parsed = madang_chat::query::parse(&text).map_err(|e| crate::api::invalid(format!("q: {e}")))?;
    let mut query = to_store_query(&parsed).map_err(|e| crate::api::invalid(format!("q: {e}")))?;
    query.before_id = cursor::decode::<i64>(params.cursor.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    // One more than asked tells whether there is a next page.
    query.limit = limit + 1;
    let page = state.store.search_chat_messages(principal.user.id, &query).await?;
    let mut hits = page.hits;
    let next_cursor = if hits.len() > limit as usize {
        hits.truncate(limit as usize);
        hits.last().map(|h| cursor::encode(&h.id))
    } else {
        // A scan that stopped at its window: older messages remain to be looked at.
        page.resume_before.map(|id| cursor::encode(&id))
    };
    // The page's messages in full (reactions, files, thread counts), as history shows them.
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let mut messages: std::collections::HashMap<i64, crate::store::chat::Message> =
        state.store.chat_messages_by_id(&ids).await?.into_iter().map(|m| (m.id, m)).collect();
    let results = hits
        .into_iter()
        .filter_map(|hit: SearchHit| {
            let message = messages.remove(&hit.id)?;
            let channel = ResultChannel { id: hit.channel_id, name: hit.channel_name, kind: hit.channel_kind };
            Some(SearchResult { message, channel })
        })
        .collect();
    Ok(Json(SearchPage { results, next_cursor }))
}
