//! The client's files, embedded at build time (`build.rs`), and how they are served:
//! content-hashed URLs cached for a year, brotli or gzip when the browser takes them.
//!
//! A hashed URL names one version of one file forever, so it may be cached `immutable`
//! (RFC 8246); a new build changes the hash, the shell names the new URL, and an old URL
//! answers 404 rather than the wrong bytes.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its path below `client/`, e.g. `views/calendar.js`.
    pub path: &'static str,
    /// The URL it is served at, e.g. `/assets/views/calendar.0123456789.js`.
    pub url: &'static str,
    /// The first 10 hex digits of the SHA-256 of `identity`.
    pub hash: &'static str,
    pub content_type: &'static str,
    pub identity: &'static [u8],
    /// Absent when compression would not save anything worth it.
    pub gzip: Option<&'static [u8]>,
    pub br: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset at `path` below `client/`.
pub fn by_path(path: &str) -> Option<&'static Asset> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Asset>> = OnceLock::new();
    INDEX.get_or_init(|| ASSETS.iter().map(|a| (a.path, a)).collect()).get(path).copied()
}

/// The asset served at `url`.
pub fn by_url(url: &str) -> Option<&'static Asset> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Asset>> = OnceLock::new();
    INDEX.get_or_init(|| ASSETS.iter().map(|a| (a.url, a)).collect()).get(url).copied()
}

/// The hashed URL of the file at `path` below `client/`; `/assets/missing` (a 404) if there
/// is none, so that a typo shows up as a failed load rather than a failed page.
pub fn url(path: &str) -> &'static str {
    by_path(path).map_or("/assets/missing", |a| a.url)
}

/// A content coding this server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
        }
    }
}

/// The coding to send, by `Accept-Encoding` (RFC 9110 §12.5.3): the highest q-value among
/// those `available` (brotli before gzip before identity on a tie). `identity` is acceptable
/// unless excluded by `identity;q=0` or by `*;q=0` without an `identity` entry; when nothing
/// acceptable is available the file goes out uncompressed anyway, which §12.5.3 allows and
/// which every browser reads.
pub fn negotiate(headers: &HeaderMap, available: &[Coding]) -> Coding {
    let mut q_of: HashMap<String, f32> = HashMap::new();
    let entries = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(32);
    for entry in entries {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)))
            .unwrap_or(0.0);
        // `x-gzip` is gzip (§8.4.1.3); the higher q of repeated entries counts.
        let name = if name == "x-gzip" { "gzip".to_string() } else { name };
        let entry = q_of.entry(name).or_insert(q);
        *entry = entry.max(q);
    }
    let star = q_of.get("*").copied();
    let q = |c: Coding| -> f32 {
        match (q_of.get(c.token()), c) {
            (Some(q), _) => *q,
            (None, Coding::Identity) => {
                if star == Some(0.0) {
                    0.0
                } else {
                    // Identity is always acceptable unless excluded; rank it below any coding
                    // the client named, so `gzip` alone still means gzip.
                    0.001
                }
            }
            (None, _) => star.unwrap_or(0.0),
        }
    };
    let mut best = (Coding::Identity, q(Coding::Identity));
    for coding in [Coding::Br, Coding::Gzip] {
        if available.contains(&coding) {
            let cq = q(coding);
            if cq > 0.0 && cq > best.1 {
                best = (coding, cq);
            }
        }
    }
    best.0
}

/// `GET /assets/{*path}`.
pub async fn serve(Path(rest): Path<String>, headers: HeaderMap) -> Response {
    let url = format!("/assets/{rest}");
    let Some(asset) = by_url(&url) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            "no such asset (the page that asked for it may be from an older version: reload it)\n",
        )
            .into_response();
    };
    respond(asset, &headers)
}

/// The answer for `asset` in the coding `headers` ask for.
pub fn respond(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let mut available = vec![Coding::Identity];
    if asset.br.is_some() {
        available.push(Coding::Br);
    }
    if asset.gzip.is_some() {
        available.push(Coding::Gzip);
    }
    let coding = negotiate(headers, &available);
    let body: &'static [u8] = match coding {
        Coding::Br => asset.br.unwrap_or(asset.identity),
        Coding::Gzip => asset.gzip.unwrap_or(asset.identity),
        Coding::Identity => asset.identity,
    };
    // Each coding is another representation, so each has its own strong ETag (RFC 9110 §8.8.3).
    let etag = match coding {
        Coding::Identity => format!("\"{}\"", asset.hash),
        other => format!("\"{}-{}\"", asset.hash, other.token()),
    };
    let mut response = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if coding != Coding::Identity {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    }
    response
}

/// Whether `If-None-Match` names `etag` or is `*` (RFC 9110 §13.1.2: weak comparison).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        h
    }

    const ALL: &[Coding] = &[Coding::Identity, Coding::Br, Coding::Gzip];

    #[test]
    fn accept_encoding_is_negotiated_by_q_value() {
        assert_eq!(negotiate(&HeaderMap::new(), ALL), Coding::Identity);
        assert_eq!(negotiate(&accept("gzip, deflate, br, zstd"), ALL), Coding::Br);
        assert_eq!(negotiate(&accept("gzip"), ALL), Coding::Gzip);
        assert_eq!(negotiate(&accept("x-gzip"), ALL), Coding::Gzip);
        assert_eq!(negotiate(&accept("br;q=0.5, gzip;q=0.8"), ALL), Coding::Gzip);
        assert_eq!(negotiate(&accept("br;q=0, gzip;q=0"), ALL), Coding::Identity);
        assert_eq!(negotiate(&accept("*"), ALL), Coding::Br);
        assert_eq!(negotiate(&accept("*;q=0.5, br;q=0"), ALL), Coding::Gzip);
        assert_eq!(negotiate(&accept("identity"), ALL), Coding::Identity);
        assert_eq!(negotiate(&accept("identity;q=1, gzip;q=0.5"), ALL), Coding::Identity);
        assert_eq!(negotiate(&accept("br"), &[Coding::Identity, Coding::Gzip]), Coding::Identity);
        // Nothing acceptable: the file still goes out, uncompressed.
        assert_eq!(negotiate(&accept("identity;q=0, zstd"), ALL), Coding::Identity);
        // Garbage q-values count as "not acceptable", never as a panic.
        assert_eq!(negotiate(&accept("br;q=abc, gzip;q=7"), ALL), Coding::Identity);
    }

    #[test]
    fn hashed_urls_name_their_content() {
        use sha2::Digest;
        assert!(!ASSETS.is_empty());
        for asset in ASSETS {
            let full: String = sha2::Sha256::digest(asset.identity).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(asset.hash, &full[..10], "{}", asset.path);
            assert!(asset.url.contains(asset.hash), "{}", asset.url);
            assert_eq!(by_url(asset.url).map(|a| a.path), Some(asset.path));
        }
    }
}
