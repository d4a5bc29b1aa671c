//! Chat search: messages matching terms and filters in the channels a user belongs to, newest
//! first with a keyset cursor; and people by name prefix (`@` autocomplete).
//!
//! The indexes are dialect-specific (migration `20261207000003_chat_search`), so the SQL is too:
//! - SQLite: the FTS5 trigram index `chat_search` answers every term of three or more characters
//!   (`MATCH '"term" AND "other term"'`, a quoted string is a substring match there) and is
//!   walked in descending rowid order, which is the newest-first order, so a page stops after
//!   `limit` hits. Shorter terms have no trigram: they are checked with `instr`. When no term
//!   is long enough for the index, one request scans at most `scan_window` message ids below
//!   the cursor (newest first) and says where to go on ([`SearchPage::resume_before`]), so the
//!   work of a request stays bounded however rare the word (bench/chat_search.py measured a
//!   full scan of 100,000 messages at 45–300 ms, depending on load).
//! - PostgreSQL: the GIN index over each message's character bigrams narrows every term of two
//!   or more characters; `strpos` then checks each term exactly.
//!
//! Visibility is one condition shared by both: the message's channel is one the user is a
//! member of *now* (so a removed member sees nothing more, and a private channel's messages,
//! names and counts never reach anyone else), and the message is not deleted.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, read};
use crate::domain::UserId;

/// What to look for; every part that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// Substrings that must all occur (case-insensitive); a phrase is one term with its spaces.
    pub terms: Vec<String>,
    /// A channel name (lower case, without `#`), or the name of someone the user has a direct
    /// message with.
    pub in_channel: Option<String>,
    /// The author's user name.
    pub from: Option<String>,
    /// Only messages created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only messages created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Keyset cursor: only messages with an id below this one.
    pub before_id: Option<i64>,
    pub limit: u32,
    /// On SQLite, when no term can use the index: the most message ids one request scans.
    pub scan_window: i64,
}

/// One page of hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Set when the scan stopped at its window with fewer than `limit` hits: the next page
    /// starts below this id (it may hold older hits, or none).
    pub resume_before: Option<i64>,
}

/// One message found, with what the answer shows of its channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SearchHit {
    pub id: i64,
    pub channel_id: i64,
    pub channel_kind: String,
    /// `None` for direct messages.
    pub channel_name: Option<String>,
    pub seq: i64,
    pub author_name: Option<String>,
    pub author_display_name: Option<String>,
    pub bot_name: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub thread_root_id: Option<i64>,
}

/// A person for `@` autocomplete.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

/// A value bound to a `$n` placeholder, in order.
enum Bind {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

/// Terms the trigram index can answer (three characters or more).
fn indexed_on_sqlite(term: &str) -> bool {
    term.chars().count() >= 3
}

/// An FTS5 query matching every term as a substring: each term a string in double quotes
/// (`"` doubled inside), joined by AND (SQLite FTS5 §3.1, "FTS5 Strings").
fn fts5_query<'a>(terms: impl Iterator<Item = &'a String>) -> String {
    terms.map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND ")
}

/// The SQL text of one search and its values. Only the filters that are set are named, and
/// every value is bound, never spliced.
/// Whether the search scans a window of ids rather than following an index.
fn scans(postgres: bool, q: &MessageSearch) -> bool {
    !postgres && !q.terms.iter().any(|t| indexed_on_sqlite(t)) && q.terms.iter().any(|t| !t.is_empty())
}

/// `floor`: the id the scan window stops above, when it is one.
fn search_sql(postgres: bool, viewer: UserId, q: &MessageSearch, floor: Option<i64>) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let next = |binds: &mut Vec<Bind>, value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    let terms: Vec<&String> = q.terms.iter().filter(|t| !t.is_empty()).collect();
    let long: Vec<&String> = terms.iter().copied().filter(|t| indexed_on_sqlite(t)).collect();
    let fts = !postgres && !long.is_empty();
    // The key pages are cut on: the FTS table's rowid when it drives the scan, so SQLite walks
    // the index newest first and stops at the limit instead of sorting every match.
    let key = if fts { "chat_search.rowid" } else { "m.id" };
    // The page's ids are chosen first (an inner query that sorts ids only), and only those rows
    // are joined to their channel and author: a common word has thousands of candidates.
    let mut sql = String::from("SELECT m.id AS id FROM ");
    if fts {
        sql.push_str("chat_search JOIN chat_messages m ON m.id = chat_search.rowid WHERE ");
    } else {
        sql.push_str("chat_messages m WHERE ");
    }
    if fts {
        let p = next(&mut binds, Bind::Text(fts5_query(long.iter().copied())));
        sql.push_str(&format!("chat_search MATCH {p} AND "));
    }
    let p = next(&mut binds, Bind::Int(viewer.0));
    sql.push_str(&format!(
        "m.deleted_at IS NULL AND m.channel_id IN (SELECT channel_id FROM chat_members WHERE user_id = {p})"
    ));
    if postgres {
        let indexed: Vec<String> = terms
            .iter()
            .filter(|t| t.chars().count() >= 2)
            .map(|t| format!("chat_search_grams({})", next(&mut binds, Bind::Text((*t).clone()))))
            .collect();
        if !indexed.is_empty() {
            // One containment of all terms' bigrams: one GIN index condition.
            sql.push_str(&format!(" AND chat_search_grams(m.body) @> ({})", indexed.join(" || ")));
        }
        for t in &terms {
            let p = next(&mut binds, Bind::Text((*t).clone()));
            sql.push_str(&format!(" AND strpos(lower(m.body), lower({p})) > 0"));
        }
    } else {
        for t in terms.iter().filter(|t| !indexed_on_sqlite(t)) {
            let p = next(&mut binds, Bind::Text((*t).clone()));
            sql.push_str(&format!(" AND instr(lower(m.body), lower({p})) > 0"));
        }
    }
    if let Some(name) = &q.in_channel {
        let p = next(&mut binds, Bind::Text(name.clone()));
        // A channel by its name, or the direct messages that person is in (the viewer's own
        // membership is required above, so these are the viewer's DMs with them).
        sql.push_str(&format!(
            " AND m.channel_id IN (SELECT id FROM chat_channels WHERE name = {p} \
             UNION SELECT dm.channel_id FROM chat_members dm JOIN chat_channels dc ON dc.id = dm.channel_id \
             JOIN users du ON du.id = dm.user_id WHERE dc.kind = 'dm' AND du.username = {p})"
        ));
    }
    if let Some(name) = &q.from {
        let p = next(&mut binds, Bind::Text(name.clone()));
        sql.push_str(&format!(" AND m.author_id = (SELECT id FROM users WHERE username = {p})"));
    }
    if let Some(since) = q.since {
        let p = next(&mut binds, Bind::Time(since));
        sql.push_str(&format!(" AND m.created_at >= {p}"));
    }
    if let Some(until) = q.until {
        let p = next(&mut binds, Bind::Time(until));
        sql.push_str(&format!(" AND m.created_at < {p}"));
    }
    if let Some(before) = q.before_id {
        let p = next(&mut binds, Bind::Int(before));
        sql.push_str(&format!(" AND {key} < {p}"));
    }
    if let Some(floor) = floor {
        let p = next(&mut binds, Bind::Int(floor));
        sql.push_str(&format!(" AND {key} > {p}"));
    }
    let p = next(&mut binds, Bind::Int(i64::from(q.limit.clamp(1, 1000))));
    sql.push_str(&format!(" ORDER BY {key} DESC LIMIT {p}"));
    let sql = format!(
        "SELECT m.id, m.channel_id, c.kind AS channel_kind, c.name AS channel_name, m.seq, \
         u.username AS author_name, u.display_name AS author_display_name, m.bot_name, m.body, \
         m.created_at, m.edited_at, m.thread_root_id \
         FROM ({sql}) page JOIN chat_messages m ON m.id = page.id JOIN chat_channels c ON c.id = m.channel_id \
         LEFT JOIN users u ON u.id = m.author_id ORDER BY m.id DESC"
    );
    (sql, binds)
}

impl Store {
    /// Messages matching `query` that `viewer` may read, newest first, at most `query.limit`.
    /// The next page is the same query with `before_id` set to the last hit's id.
    pub async fn search_chat_messages(&self, viewer: UserId, query: &MessageSearch) -> StoreResult<SearchPage> {
        let postgres = self.kind() == "postgres";
        let floor = if scans(postgres, query) {
            let top = match query.before_id {
                Some(before) => before,
                None => {
                    let max: Option<i64> = read!(self, |pool| sqlx::query_scalar("SELECT max(id) FROM chat_messages")
                        .fetch_one(pool)
                        .await?);
                    max.unwrap_or(0) + 1
                }
            };
            Some(top.saturating_sub(query.scan_window.max(1)).max(0))
        } else {
            None
        };
        let (sql, binds) = search_sql(postgres, viewer, query, floor);
        let hits: Vec<SearchHit> = read!(self, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for b in &binds {
                q = match b {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Text(v) => q.bind(v.as_str()),
                    Bind::Time(v) => q.bind(*v),
                };
            }
            q.fetch_all(pool).await?
        });
        let limit = query.limit.clamp(1, 1000) as usize;
        let resume_before = floor.filter(|f| *f > 0 && hits.len() < limit).map(|f| f + 1);
        Ok(SearchPage { hits, resume_before })
    }

    /// Active accounts whose user name or display name starts with `prefix` (case-insensitive),
    /// by user name, at most `limit`.
    pub async fn chat_people(&self, prefix: &str, limit: u32) -> StoreResult<Vec<Person>> {
        let prefix = prefix.to_lowercase();
        // Compared with substr, not LIKE: SQLite's LIKE ignores ASCII case and PostgreSQL's
        // does not, and a prefix needs no escaping this way. The length is a literal number of
        // characters, not user text.
        let n = prefix.chars().count().max(1);
        let sql = format!(
            "SELECT id, username, display_name FROM users WHERE state = 'active' \
             AND ($1 = '' OR substr(username, 1, {n}) = $1 OR lower(substr(display_name, 1, {n})) = $1) \
             ORDER BY username LIMIT $2"
        );
        let people: Vec<Person> = read!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(prefix.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(people)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_strings_quote_each_term() {
        let terms = ["회의록".to_string(), "say \"hi\"".to_string()];
        assert_eq!(fts5_query(terms.iter()), "\"회의록\" AND \"say \"\"hi\"\"\"");
    }

    #[test]
    fn sqlite_uses_the_index_only_for_long_terms() {
        let q = MessageSearch { terms: vec!["회의".into()], limit: 20, ..Default::default() };
        let (sql, binds) = search_sql(false, UserId(1), &q, None);
        assert!(!sql.contains("MATCH") && sql.contains("instr") && sql.contains("ORDER BY m.id DESC"), "{sql}");
        assert_eq!(binds.len(), 3);
        let q = MessageSearch { terms: vec!["회의록".into(), "ok".into()], limit: 20, ..Default::default() };
        let (sql, _) = search_sql(false, UserId(1), &q, None);
        assert!(sql.contains("chat_search MATCH $1") && sql.contains("ORDER BY chat_search.rowid DESC"), "{sql}");
    }

    #[test]
    fn postgres_skips_the_index_for_one_character() {
        let q = MessageSearch { terms: vec!["a".into()], limit: 20, ..Default::default() };
        let (sql, _) = search_sql(true, UserId(1), &q, None);
        assert!(!sql.contains("@>") && sql.contains("strpos"), "{sql}");
        let q = MessageSearch { terms: vec!["회의".into(), "deploy".into()], limit: 20, ..Default::default() };
        let (sql, _) = search_sql(true, UserId(1), &q, None);
        assert!(sql.contains("@> (chat_search_grams($2) || chat_search_grams($3))"), "{sql}");
    }
}
