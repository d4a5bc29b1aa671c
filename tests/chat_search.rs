//! Chat search (`GET /api/v1/chat/search`) through the router, on both databases: English and
//! Korean (two-syllable words inside longer ones too), phrases, filters, paging, and that
//! nothing of a channel reaches a non-member or a removed member, deleted messages vanish and
//! edited ones are found by their new text only.
//!
//! Channels and messages are written with SQL here, as the chat store writes them: the search
//! index follows the `chat_messages` rows (SQLite triggers, a PostgreSQL expression index), so
//! that is the behaviour under test.

mod common;

use axum::http::StatusCode;
use common::api::{assert_error, call};
use common::dav::users;
use common::{Backend, TestApp, TestDb};
use madang::domain::Username;
use madang::modules::Module;
use madang::store::chat_search::MessageSearch;
use serde_json::Value;

/// A connection of the test's own, beside the app's store.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn open(db: &TestDb) -> Raw {
        match db.backend {
            Backend::Sqlite => Raw::Sqlite(sqlx::SqlitePool::connect(&db.url).await.unwrap()),
            Backend::Postgres => Raw::Postgres(sqlx::PgPool::connect(&db.url).await.unwrap()),
        }
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

struct Chat {
    app: TestApp,
    raw: Raw,
    next_seq: i64,
    next_id: i64,
}

impl Chat {
    async fn new(db: &TestDb) -> Chat {
        let app = TestApp::new(db).await;
        app.state.modules.set(&[(Module::Chat, true)]).await.unwrap();
        users(&app, &["alice", "bob", "carol"]).await;
        Chat { app, raw: Raw::open(db).await, next_seq: 0, next_id: 0 }
    }

    async fn user_id(&self, name: &str) -> i64 {
        self.app.store.user_by_name(&Username::parse(name).unwrap()).await.unwrap().id.0
    }

    /// A channel with these members; `name` is `None` for a direct message.
    async fn channel(&self, id: i64, kind: &str, name: Option<&str>, members: &[&str]) {
        let mut ids = Vec::new();
        for m in members {
            ids.push(self.user_id(m).await);
        }
        let (name, key) = match name {
            Some(n) => (quote(n), "NULL".to_string()),
            None => ("NULL".to_string(), quote(&ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))),
        };
        self.raw
            .exec(&format!(
                "INSERT INTO chat_channels (id, kind, name, dm_key, created_at) \
                 VALUES ({id}, '{kind}', {name}, {key}, '2026-01-01T00:00:00+00:00')"
            ))
            .await;
        for user in ids {
            self.raw
                .exec(&format!(
                    "INSERT INTO chat_members (channel_id, user_id, joined_at) \
                     VALUES ({id}, {user}, '2026-01-01T00:00:00+00:00')"
                ))
                .await;
        }
    }

    /// Stores a message; returns its id.
    async fn post_at(&mut self, channel: i64, author: &str, body: &str, at: &str) -> i64 {
        self.next_seq += 1;
        self.next_id += 1;
        let (id, seq) = (self.next_id, self.next_seq);
        let author = self.user_id(author).await;
        self.raw
            .exec(&format!(
                "INSERT INTO chat_messages (id, channel_id, seq, author_id, body, created_at) \
                 VALUES ({id}, {channel}, {seq}, {author}, {}, '{at}')",
                quote(body)
            ))
            .await;
        id
    }

    async fn post(&mut self, channel: i64, author: &str, body: &str) -> i64 {
        self.post_at(channel, author, body, "2026-03-10T12:00:00+00:00").await
    }

    /// The ids found for `q` by `user` (first page of 100).
    async fn ids(&self, user: &str, q: &str) -> Vec<i64> {
        let page = self.search(user, q, "&limit=100").await;
        page["results"].as_array().unwrap().iter().map(|r| r["message"]["id"].as_i64().unwrap()).collect()
    }

    async fn search(&self, user: &str, q: &str, extra: &str) -> Value {
        let r = call(&self.app, user, "GET", &format!("/api/v1/chat/search?q={}{extra}", encode(q)), None).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        r.body
    }

    /// On SQLite, FTS5's own check that the index matches `chat_messages` exactly.
    async fn index_is_consistent(&self) {
        if let Raw::Sqlite(_) = self.raw {
            self.raw.exec("INSERT INTO chat_search (chat_search) VALUES ('integrity-check')").await;
        }
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn finds_english_and_korean(db: &TestDb) {
    let mut chat = Chat::new(db).await;
    chat.channel(1, "public", Some("general"), &["alice", "bob"]).await;
    let review = chat.post(1, "alice", "Let's review the DEPLOY plan tomorrow").await;
    let minutes = chat.post(1, "bob", "회의록 공유 부탁드립니다").await;
    let meeting = chat.post(1, "alice", "내일 회의는 3시입니다").await;
    let schedule = chat.post(1, "bob", "일정 확인했어요 deploy 완료").await;

    assert_eq!(chat.ids("alice", "deploy").await, vec![schedule, review], "case-insensitive, newest first");
    // Two-syllable Korean words, also where particles or another noun follow them.
    assert_eq!(chat.ids("alice", "회의").await, vec![meeting, minutes]);
    assert_eq!(chat.ids("alice", "일정").await, vec![schedule]);
    assert_eq!(chat.ids("alice", "회의록").await, vec![minutes]);
    assert_eq!(chat.ids("alice", "부탁드립니다").await, vec![minutes]);
    // Every word must occur, in any order; a phrase only as written.
    assert_eq!(chat.ids("alice", "plan deploy").await, vec![review]);
    assert_eq!(chat.ids("alice", "\"review the deploy\"").await, vec![review]);
    assert_eq!(chat.ids("alice", "\"plan deploy\"").await, Vec::<i64>::new());
    assert_eq!(chat.ids("alice", "회의 공유").await, vec![minutes]);
    assert_eq!(chat.ids("alice", "일정 deploy").await, vec![schedule]);
    assert_eq!(chat.ids("alice", "zeppelin").await, Vec::<i64>::new());
    // One character is checked too (without an index).
    assert_eq!(chat.ids("alice", "3").await, vec![meeting]);

    let page = chat.search("bob", "회의록", "").await;
    let result = &page["results"][0];
    assert_eq!(result["channel"], serde_json::json!({"id": 1, "name": "general", "kind": "public"}));
    assert_eq!(result["message"]["text"], "회의록 공유 부탁드립니다");
    assert_eq!(result["message"]["author"]["name"], "bob");
    assert_eq!(result["message"]["deleted"], false);
    assert_eq!(page["next_cursor"], Value::Null);
}

async fn filters(db: &TestDb) {
    let mut chat = Chat::new(db).await;
    chat.channel(1, "public", Some("general"), &["alice", "bob"]).await;
    chat.channel(2, "public", Some("random"), &["alice", "bob"]).await;
    chat.channel(3, "dm", None, &["alice", "bob"]).await;
    let march = chat.post_at(1, "alice", "release notes", "2026-03-01T23:59:59+00:00").await;
    let april = chat.post_at(1, "bob", "release party", "2026-04-02T00:00:00+00:00").await;
    let random = chat.post_at(2, "bob", "release of the cat", "2026-04-02T08:00:00+00:00").await;
    let dm = chat.post_at(3, "bob", "release the hounds", "2026-04-03T08:00:00+00:00").await;

    assert_eq!(chat.ids("alice", "release").await, vec![dm, random, april, march]);
    assert_eq!(chat.ids("alice", "release in:#general").await, vec![april, march]);
    assert_eq!(chat.ids("alice", "release in:random").await, vec![random]);
    // A direct message by the other person's name.
    assert_eq!(chat.ids("alice", "release in:bob").await, vec![dm]);
    assert_eq!(chat.ids("alice", "in:#nowhere release").await, Vec::<i64>::new());
    assert_eq!(chat.ids("alice", "release from:@bob").await, vec![dm, random, april]);
    assert_eq!(chat.ids("alice", "from:alice").await, vec![march], "filters alone");
    assert_eq!(chat.ids("alice", "from:@nobody release").await, Vec::<i64>::new());
    // Days in UTC: before and after exclude the day itself.
    assert_eq!(chat.ids("alice", "release before:2026-04-02").await, vec![march]);
    assert_eq!(chat.ids("alice", "release after:2026-04-02").await, vec![dm]);
    assert_eq!(chat.ids("alice", "release during:2026-04-02").await, vec![random, april]);
    assert_eq!(chat.ids("alice", "release during:2026-03").await, vec![march]);
    assert_eq!(chat.ids("alice", "release during:2026-04 from:bob in:general").await, vec![april]);
}

async fn private_channels_stay_private(db: &TestDb) {
    let mut chat = Chat::new(db).await;
    chat.channel(1, "public", Some("general"), &["alice", "bob", "carol"]).await;
    chat.channel(2, "private", Some("secret-plans"), &["alice", "bob"]).await;
    chat.channel(3, "dm", None, &["alice", "bob"]).await;
    // A public channel carol has not joined: search covers the channels one is in.
    chat.channel(4, "public", Some("elsewhere"), &["alice"]).await;
    let open = chat.post(1, "alice", "quarterly 예산 numbers").await;
    let hidden = chat.post(2, "alice", "quarterly 예산 layoffs").await;
    let direct = chat.post(3, "bob", "quarterly 예산 between us").await;
    let _ = chat.post(4, "alice", "quarterly 예산 elsewhere").await;

    assert_eq!(chat.ids("bob", "quarterly").await, vec![direct, hidden, open]);
    for q in ["quarterly", "예산", "layoffs", "quarterly in:#secret-plans", "in:secret-plans", "between us", "in:bob"]
    {
        let page = chat.search("carol", q, "").await;
        let ids: Vec<i64> =
            page["results"].as_array().unwrap().iter().map(|r| r["message"]["id"].as_i64().unwrap()).collect();
        assert!(ids.iter().all(|id| *id == open), "carol sees {ids:?} for {q}");
        assert!(!page.to_string().contains("secret"), "{page}");
    }
    // A removed member loses it at once.
    let bob = chat.user_id("bob").await;
    chat.raw.exec(&format!("DELETE FROM chat_members WHERE channel_id = 2 AND user_id = {bob}")).await;
    assert_eq!(chat.ids("bob", "quarterly").await, vec![direct, open]);
    assert_eq!(chat.ids("bob", "in:secret-plans").await, Vec::<i64>::new());
}

async fn deleted_and_edited_messages(db: &TestDb) {
    let mut chat = Chat::new(db).await;
    chat.channel(1, "public", Some("general"), &["alice", "bob"]).await;
    let keep = chat.post(1, "alice", "회의 준비 done").await;
    let gone = chat.post(1, "alice", "회의 취소 sorry").await;
    let edited = chat.post(1, "bob", "first draft wording").await;
    chat.index_is_consistent().await;

    // The tombstone, as the chat store writes it: the body emptied, the time set.
    chat.raw
        .exec(&format!(
            "UPDATE chat_messages SET body = '', deleted_at = '2026-03-11T00:00:00+00:00' WHERE id = {gone}"
        ))
        .await;
    assert_eq!(chat.ids("alice", "회의").await, vec![keep]);
    assert_eq!(chat.ids("alice", "취소").await, Vec::<i64>::new());
    assert_eq!(chat.ids("alice", "sorry").await, Vec::<i64>::new());

    chat.raw
        .exec(&format!(
            "UPDATE chat_messages SET body = '최종 일정 wording', edited_at = '2026-03-11T00:00:00+00:00' WHERE id = {edited}"
        ))
        .await;
    assert_eq!(chat.ids("bob", "draft").await, Vec::<i64>::new(), "the old text is no longer indexed");
    assert_eq!(chat.ids("bob", "최종 일정").await, vec![edited]);
    assert_eq!(chat.ids("bob", "wording").await, vec![edited]);
    chat.index_is_consistent().await;

    // Rows deleted with their channel leave the index too.
    chat.raw.exec("DELETE FROM chat_channels WHERE id = 1").await;
    chat.index_is_consistent().await;
    assert_eq!(chat.ids("alice", "회의").await, Vec::<i64>::new());
}

async fn pages_follow_the_cursor(db: &TestDb) {
    let mut chat = Chat::new(db).await;
    chat.channel(1, "public", Some("general"), &["alice"]).await;
    let mut posted = Vec::new();
    for i in 0..25 {
        posted.push(chat.post(1, "alice", &format!("배포 batch {i}")).await);
    }
    posted.reverse();
    for q in ["batch", "배포"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = chat.search("alice", q, &format!("&limit=10&cursor={cursor}")).await;
            let ids: Vec<i64> =
                page["results"].as_array().unwrap().iter().map(|r| r["message"]["id"].as_i64().unwrap()).collect();
            assert!(ids.len() <= 10);
            seen.extend(ids);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        assert_eq!(seen, posted, "{q}");
    }
    // A bounded scan (SQLite, only words too short for the index): each request looks at a
    // window of ids and hands out a cursor below it, so paging on finds everything once.
    let alice = madang::domain::UserId(chat.user_id("alice").await);
    let mut query = MessageSearch { terms: vec!["배포".into()], limit: 100, scan_window: 10, ..Default::default() };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = chat.app.store.search_chat_messages(alice, &query).await.unwrap();
        pages += 1;
        seen.extend(page.hits.iter().map(|h| h.id));
        match page.resume_before {
            Some(before) => query.before_id = Some(before),
            None => break,
        }
    }
    assert_eq!(seen, posted);
    assert_eq!(pages, if db.backend == Backend::Sqlite { 3 } else { 1 });

    // The default page is 20; more than 100 is cut to 100.
    assert_eq!(chat.search("alice", "batch", "").await["results"].as_array().unwrap().len(), 20);
    assert_eq!(chat.search("alice", "batch", "&limit=1000").await["results"].as_array().unwrap().len(), 25);
}

async fn bad_searches_are_refused(db: &TestDb) {
    let chat = Chat::new(db).await;
    for q in ["", "   ", "before:2026-13-01", "from:", "in:#"] {
        let r = call(&chat.app, "alice", "GET", &format!("/api/v1/chat/search?q={}", encode(q)), None).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let r = call(&chat.app, "alice", "GET", "/api/v1/chat/search?q=x&cursor=garbage", None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let long = "가".repeat(501);
    let r = call(&chat.app, "alice", "GET", &format!("/api/v1/chat/search?q={}", encode(&long)), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&chat.app, "alice", "GET", "/api/v1/chat/search?q=x&limit=-1", None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_query");
}

on_both_databases!(
    finds_english_and_korean,
    filters,
    private_channels_stay_private,
    deleted_and_edited_messages,
    pages_follow_the_cursor,
    bad_searches_are_refused,
);
