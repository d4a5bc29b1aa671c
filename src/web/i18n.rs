//! Message catalogues: English and Korean, one `key = text` per line in
//! `i18n/en.txt` and `i18n/ko.txt`, compiled into the binary. `{0}`, `{1}`…
//! in a text are filled by [`tf`]. A unit test keeps the two catalogues'
//! keys and placeholders identical and checks that every key the pages use
//! exists.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};

/// A language the pages are available in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

/// Cookie that remembers the language chosen with the footer links.
pub const COOKIE: &str = "lang";

const EN: &str = include_str!("i18n/en.txt");
const KO: &str = include_str!("i18n/ko.txt");

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        // Language tags compare case-insensitively; `ko-KR` is Korean.
        let primary = code.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ko" => Some(Lang::Ko),
            _ => None,
        }
    }

    /// The `lang` cookie if set, else the best match of `Accept-Language`
    /// (RFC 9110 §12.5.4), else English.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(lang) = super::cookie(headers, COOKIE).and_then(Lang::from_code) {
            return lang;
        }
        let mut best: Option<(f32, Lang)> = None;
        let ranges = headers
            .get_all(header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .take(32);
        for range in ranges {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

fn parse(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static EN_MAP: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    static KO_MAP: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    match lang {
        Lang::En => EN_MAP.get_or_init(|| parse(EN)),
        Lang::Ko => KO_MAP.get_or_init(|| parse(KO)),
    }
}

/// The text of `key` in `lang`; English if missing there, the key itself
/// if missing everywhere (a test makes sure neither happens).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    catalogue(lang).get(key).or_else(|| catalogue(Lang::En).get(key)).copied().unwrap_or(key)
}

/// [`t`] with `{0}`, `{1}`… replaced by `args` (not escaped: escape first
/// when the result goes into HTML).
pub fn tf(lang: Lang, key: &'static str, args: &[&str]) -> String {
    let mut text = t(lang, key).to_string();
    for (i, arg) in args.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), arg);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn placeholders(text: &str) -> Vec<usize> {
        let mut found: Vec<usize> = (0..10).filter(|i| text.contains(&format!("{{{i}}}"))).collect();
        found.sort();
        found
    }

    #[test]
    fn catalogues_are_complete_and_agree() {
        let (en, ko) = (parse(EN), parse(KO));
        for (key, text) in &en {
            let other = ko.get(key).unwrap_or_else(|| panic!("`{key}` is missing in ko.txt"));
            assert!(!text.is_empty() && !other.is_empty(), "`{key}` is empty");
            assert_eq!(placeholders(text), placeholders(other), "`{key}` has different placeholders");
        }
        for key in ko.keys() {
            assert!(en.contains_key(key), "`{key}` is in ko.txt but not in en.txt");
        }
        // Every line is either a comment, blank, or `key = text`.
        for (name, text) in [("en", EN), ("ko", KO)] {
            for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
                assert!(line.contains(" = "), "{name}.txt: malformed line `{line}`");
            }
        }
    }

    /// Every `t(lang, "…")`/`tf(lang, "…"` key used in src/web exists.
    #[test]
    fn every_used_key_exists() {
        let en = parse(EN);
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // This file only mentions the pattern in its documentation.
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("i18n.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for marker in ["t(lang, \"", "tf(lang, \""] {
                for piece in source.split(marker).skip(1) {
                    let key = piece.split('"').next().unwrap();
                    assert!(en.contains_key(key), "{}: key `{key}` is not in the catalogues", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "found only {checked} uses");
    }

    #[test]
    fn language_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("ko-KR,ko;q=0.9,en-US;q=0.8"));
        assert_eq!(Lang::from_headers(&h), Lang::Ko);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("fr, en;q=0.5, ko;q=0.7"));
        assert_eq!(Lang::from_headers(&h), Lang::Ko);
        h.insert(header::COOKIE, HeaderValue::from_static("lang=en"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
        assert_eq!(
            tf(Lang::En, "signin.rate_limited", &["30"]),
            t(Lang::En, "signin.rate_limited").replace("{0}", "30")
        );
    }
}
