//! Text at the edge: control characters in the decoded path, NUL in the decoded query and in
//! form bodies, and NUL in JSON strings are refused with a 400 before any handler runs.
//!
//! Why at the edge, and for every route: PostgreSQL's `text` cannot hold U+0000 and answers
//! such a bind with an error (a 500 before this existed), while SQLite stores it — so the same
//! request behaved differently on the two databases, and a SQLite database holding a NUL could
//! not be moved to PostgreSQL. Checking once here covers routes that do not exist yet; handlers
//! still validate the shape of what they accept (user names, UIDs, colours, …).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Refuses requests whose path, query or form body carries characters no stored text may hold.
pub(crate) async fn refuse_control_characters(req: Request, next: Next) -> Response {
    // Path segments name stored things (calendars, objects, users): no C0 control or DEL,
    // which no client puts in a file name and several of which break URLs written back.
    let path = req.uri().path();
    if path.contains('%') && percent_decoded(path.as_bytes()).iter().any(|b| is_control(*b)) {
        return refuse("the path contains a control character");
    }
    if let Some(query) = req.uri().query()
        && percent_decoded(query.as_bytes()).contains(&0)
    {
        return refuse("the query contains a NUL character");
    }
    if !is_form(&req) {
        return next.run(req).await;
    }
    // Forms are small (sign-in, OAuth token requests); the body limit layers outside this one
    // have already bounded what can be collected here.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large")
                .into_response();
        }
    };
    if percent_decoded(&bytes).contains(&0) {
        return refuse("a form field contains a NUL character");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a JSON body holds a `\u0000` escape in any string (raw control characters are
/// already invalid JSON). Backslash pairs are skipped so `"\\u0000"`, a literal backslash
/// followed by `u0000`, is not mistaken for one.
pub(crate) fn json_has_nul(bytes: &Bytes) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn refuse(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).into_response()
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Percent-decoding of raw bytes (invalid escapes stay as they are); `+` needs no special case
/// because only NUL and controls are looked for.
fn percent_decoded(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (input.get(i + 1).and_then(|b| hex(*b)), input.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_finds_controls() {
        assert_eq!(percent_decoded(b"a%00b%2F%zz%4"), b"a\0b/%zz%4");
        assert!(percent_decoded(b"default%00").contains(&0));
        assert!(!percent_decoded(b"caf%C3%A9").iter().any(|b| is_control(*b)));
    }

    #[test]
    fn json_nul_escapes_only() {
        assert!(json_has_nul(&Bytes::from_static(br#"{"a":"x\u0000"}"#)));
        assert!(!json_has_nul(&Bytes::from_static(br#"{"a":"x\\u0000"}"#)));
        assert!(json_has_nul(&Bytes::from_static(br#"{"a":"x\\\u0000"}"#)));
        assert!(!json_has_nul(&Bytes::from_static(br#"{"a":"\u0001 \u00e9"}"#)));
    }
}
