//! The chat search syntax: free text with `in:`, `from:`, `before:`, `after:` and `during:`.
//!
//! `in:#general` or `in:general` limits to a channel, `from:@alice` or `from:alice` to an
//! author; `before:2026-01-31` and `after:2026-01-01` are exclusive bounds (as in Slack),
//! `during:2026-01-31` is that day and `during:2026-01` that month. Words and `"quoted
//! phrases"` are the text searched for; a filter inside quotes is text. An operator given twice
//! keeps the last value.

use chrono::{Datelike, NaiveDate};
use thiserror::Error;

use crate::names;

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// What remains to search for: words and quoted phrases (quotes kept), single spaces.
    pub text: String,
    /// A channel name in canonical form (see [`names::channel_name`]).
    pub in_channel: Option<String>,
    /// A user name, lower-cased.
    pub from: Option<String>,
    /// Messages strictly before this day.
    pub before: Option<NaiveDate>,
    /// Messages strictly after this day.
    pub after: Option<NaiveDate>,
    /// Messages on this day.
    pub during: Option<NaiveDate>,
}

/// One thing searched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Word(String),
    Phrase(String),
}

impl SearchQuery {
    /// The text split into words and phrases (without their quotes).
    pub fn terms(&self) -> Vec<Term> {
        tokens(&self.text)
            .into_iter()
            .filter_map(|t| match t.strip_prefix('"') {
                Some(p) => {
                    let p = p.strip_suffix('"').unwrap_or(p).trim();
                    (!p.is_empty()).then(|| Term::Phrase(p.to_string()))
                }
                None => Some(Term::Word(t.to_string())),
            })
            .collect()
    }

    /// Whether nothing at all was asked for.
    pub fn is_empty(&self) -> bool {
        *self == SearchQuery::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("`{op}:` needs a value, as in `{op}:{example}`")]
    MissingValue { op: &'static str, example: &'static str },
    #[error("`{op}:{value}` is not a date; write YYYY-MM-DD{month}")]
    BadDate { op: &'static str, value: String, month: &'static str },
    #[error("`in:{value}` is not a channel name: {reason}")]
    BadChannel { value: String, reason: names::NameError },
    #[error("`from:{value}` is not a user name; use letters a-z, digits, `.`, `_` and `-`")]
    BadUser { value: String },
}

/// Splits on whitespace, keeping `"quoted phrases"` (an unclosed quote runs to the end).
fn tokens(q: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = q.trim_start();
    while !rest.is_empty() {
        let end = if let Some(after) = rest.strip_prefix('"') {
            after.find('"').map_or(rest.len(), |i| i + 2)
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    out
}

fn day(op: &'static str, value: &str) -> Result<NaiveDate, QueryError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().filter(|_| value.len() == 10).ok_or_else(|| QueryError::BadDate {
        op,
        value: value.to_string(),
        month: "",
    })
}

/// The first day of `YYYY-MM`.
fn month(value: &str) -> Option<NaiveDate> {
    let (y, m) = value.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// Parses a search.
pub fn parse(q: &str) -> Result<SearchQuery, QueryError> {
    let mut out = SearchQuery::default();
    let mut text = Vec::new();
    for token in tokens(q) {
        let Some((op, value)) = token.split_once(':').filter(|_| !token.starts_with('"')) else {
            text.push(token);
            continue;
        };
        match op.to_ascii_lowercase().as_str() {
            "in" => {
                let v = value.strip_prefix('#').unwrap_or(value);
                if v.is_empty() {
                    return Err(QueryError::MissingValue { op: "in", example: "#general" });
                }
                let name = names::channel_name(v)
                    .map_err(|reason| QueryError::BadChannel { value: value.to_string(), reason })?;
                out.in_channel = Some(name);
            }
            "from" => {
                let v = value.strip_prefix('@').unwrap_or(value).to_ascii_lowercase();
                if v.is_empty() {
                    return Err(QueryError::MissingValue { op: "from", example: "@alice" });
                }
                let valid = v.len() <= 64
                    && v != "."
                    && v != ".."
                    && v.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
                if !valid {
                    return Err(QueryError::BadUser { value: value.to_string() });
                }
                out.from = Some(v);
            }
            "before" | "after" | "during" if value.is_empty() => {
                let op = match op.to_ascii_lowercase().as_str() {
                    "before" => "before",
                    "after" => "after",
                    _ => "during",
                };
                return Err(QueryError::MissingValue { op, example: "2026-01-31" });
            }
            "before" => out.before = Some(day("before", value)?),
            "after" => out.after = Some(day("after", value)?),
            "during" => {
                if let Some(first) = month(value) {
                    // A month is the pair of exclusive bounds around it.
                    let next = if first.month() == 12 {
                        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
                    } else {
                        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
                    };
                    out.after = first.pred_opt();
                    out.before = next;
                } else {
                    let d = day("during", value).map_err(|_| QueryError::BadDate {
                        op: "during",
                        value: value.to_string(),
                        month: " or YYYY-MM",
                    })?;
                    out.during = Some(d);
                }
            }
            _ => text.push(token),
        }
    }
    out.text = text.join(" ");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn filters_and_text() {
        let q =
            parse("  deploy  in:#General from:@Alice before:2026-01-31 after:2025-12-01 \"release notes\" ").unwrap();
        assert_eq!(q.text, "deploy \"release notes\"");
        assert_eq!(q.in_channel.as_deref(), Some("general"));
        assert_eq!(q.from.as_deref(), Some("alice"));
        assert_eq!(q.before, Some(d("2026-01-31")));
        assert_eq!(q.after, Some(d("2025-12-01")));
        assert_eq!(q.terms(), [Term::Word("deploy".into()), Term::Phrase("release notes".into())]);
        let q = parse("in:개발 from:bob 배포").unwrap();
        assert_eq!((q.in_channel.as_deref(), q.from.as_deref(), q.text.as_str()), (Some("개발"), Some("bob"), "배포"));
    }

    #[test]
    fn during_day_and_month() {
        assert_eq!(parse("during:2026-02-28").unwrap().during, Some(d("2026-02-28")));
        let q = parse("during:2026-12").unwrap();
        assert_eq!((q.after, q.before, q.during), (Some(d("2026-11-30")), Some(d("2027-01-01")), None));
        let q = parse("During:2026-03").unwrap();
        assert_eq!((q.after, q.before), (Some(d("2026-02-28")), Some(d("2026-04-01"))));
    }

    #[test]
    fn quoted_and_unknown_operators_are_text() {
        let q = parse("\"in:general is\" a:b http://x.y \"unclosed phrase").unwrap();
        assert_eq!(q.in_channel, None);
        assert_eq!(q.text, "\"in:general is\" a:b http://x.y \"unclosed phrase");
        assert_eq!(
            q.terms(),
            [
                Term::Phrase("in:general is".into()),
                Term::Word("a:b".into()),
                Term::Word("http://x.y".into()),
                Term::Phrase("unclosed phrase".into())
            ]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\"\"").unwrap().terms().is_empty());
    }

    #[test]
    fn errors_say_why() {
        let e = |q: &str| parse(q).unwrap_err().to_string();
        assert_eq!(e("before:2026-13-01"), "`before:2026-13-01` is not a date; write YYYY-MM-DD");
        assert_eq!(e("after:yesterday"), "`after:yesterday` is not a date; write YYYY-MM-DD");
        assert_eq!(e("before:2026-1-1"), "`before:2026-1-1` is not a date; write YYYY-MM-DD");
        assert_eq!(e("during:2026-02-30"), "`during:2026-02-30` is not a date; write YYYY-MM-DD or YYYY-MM");
        assert_eq!(e("during:"), "`during:` needs a value, as in `during:2026-01-31`");
        assert_eq!(e("in:#"), "`in:` needs a value, as in `in:#general`");
        assert_eq!(e("from:"), "`from:` needs a value, as in `from:@alice`");
        assert!(e("in:a<b").starts_with("`in:a<b` is not a channel name: `<` is not allowed"));
        assert_eq!(e("from:@bö"), "`from:@bö` is not a user name; use letters a-z, digits, `.`, `_` and `-`");
    }
}
