//! Upgrades lose nothing: a database made by an older schema is migrated in
//! place and everything in it is still there, seen through DAV.
//! See: stalwartlabs/stalwart#1739 (every calendar gone after an upgrade).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use common::{TestApp, TestDb};
use http_body_util::BodyExt;
use madang::store::Store;
use tower::ServiceExt;

/// Applies only the migrations up to `version`, as an older binary would have.
async fn migrate_to(db: &TestDb, version: i64) -> Store {
    let dialect = if db.url.starts_with("sqlite") { "sqlite" } else { "postgres" };
    let old = tempfile::tempdir().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let v: i64 = name.split('_').next().unwrap().parse().unwrap();
        if v <= version {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    let store = Store::connect(&db.database_config()).await.unwrap();
    store.run_migrator(&migrator).await.unwrap();
    store
}

/// Inserts an account the way the foundation-era binary did (its columns
/// only), so the test does not depend on today's insert.
async fn insert_old_user(db: &TestDb, name: &str, password: &str) {
    try_insert_old_user(db, name, password).await.unwrap();
}

async fn try_insert_old_user(db: &TestDb, name: &str, password: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let hash = madang::auth::password::PasswordHasher::new(1024, 1).hash(password);
    let sql = "INSERT INTO users (username, email, display_name, role, state, password_hash, created_at, updated_at) \
               VALUES ($1, $2, $1, 'member', 'active', $3, $4, $4)";
    let now = chrono::Utc::now();
    let email = format!("{name}@example.com");
    match db.backend {
        common::Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
            sqlx::query(sql).bind(name).bind(&email).bind(&hash).bind(now).execute(&mut conn).await?;
        }
        common::Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await?;
            sqlx::query(sql).bind(name).bind(&email).bind(&hash).bind(now).execute(&mut conn).await?;
        }
    }
    Ok(())
}

async fn send(app: &TestApp, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    let token = base64::engine::general_purpose::STANDARD.encode("alice:old-password-1");
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("authorization", format!("Basic {token}"))
        .header("depth", "1")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn accounts_survive_the_dav_migration(db: &TestDb) {
    // A foundation-era database: accounts only.
    {
        let old = migrate_to(db, 20261121000001).await;
        insert_old_user(db, "alice", "old-password-1").await;
        old.close().await;
    }
    // The new binary migrates it and serves CalDAV for the old account.
    let app = TestApp::new(db).await;
    assert_eq!(app.store.users().await.unwrap().len(), 1);
    let (status, body) = send(&app, "PROPFIND", "/dav/calendars/alice/", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert!(body.contains("/dav/calendars/alice/default/"), "{body}");
    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\n\
                 DTSTART:20260102T100000Z\r\nDTEND:20260102T110000Z\r\nSUMMARY:kept\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (status, _) = send(&app, "PUT", "/dav/calendars/alice/default/u1.ics", event).await;
    assert_eq!(status, StatusCode::CREATED);
    // Migrating again (another process starting) changes nothing.
    app.store.migrate().await.unwrap();
    let (status, body) = send(&app, "GET", "/dav/calendars/alice/default/u1.ics", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, event);
}

/// Accounts made before the identity migration get an OpenID Connect
/// subject each, distinct and stable, and keep signing in.
async fn accounts_get_a_subject_in_the_identity_migration(db: &TestDb) {
    {
        let old = migrate_to(db, 20261121000003).await;
        insert_old_user(db, "alice", "old-password-1").await;
        insert_old_user(db, "bob", "old-password-2").await;
        old.close().await;
    }
    let app = TestApp::new(db).await;
    let users = app.store.users().await.unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| !u.email_verified), "no address is verified by an upgrade");
    let a = app.store.user_subject(users[0].id).await.unwrap();
    let b = app.store.user_subject(users[1].id).await.unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(app.store.user_by_subject(&a).await.unwrap().username.as_str(), "alice");
    app.store.migrate().await.unwrap();
    assert_eq!(app.store.user_subject(users[0].id).await.unwrap(), a, "the subject never changes");
    let (status, _) = send(&app, "PROPFIND", "/dav/calendars/alice/", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    // From now on an account without a subject cannot exist, on either database.
    let refused = try_insert_old_user(db, "carol", "old-password-3").await.unwrap_err();
    assert!(refused.to_string().contains("subject"), "{refused}");
}

/// Runs `sql` (several statements, no parameters) on the database as it is.
async fn execute_old(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    match db.backend {
        common::Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
        common::Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
    }
}

/// See: issue 19, "Dead properties bypass … the quota". Dead properties
/// stored before migration 20261121000007 were never counted; the migration
/// measures them (in bytes, not characters) and puts them in the counters,
/// so quota-used-bytes includes them and removing them gives back exactly
/// what was added, never driving a counter below what is stored.
async fn issue19_dead_properties_are_counted_after_the_upgrade(db: &TestDb) {
    {
        let old = migrate_to(db, 20261121000003).await;
        insert_old_user(db, "alice", "old-password-1").await;
        // What the old binary left: the counter holds the member's 5 bytes only.
        execute_old(
            db,
            "INSERT INTO dav_collections (owner_id, kind, slug, components, bytes, created_at, updated_at) \
             VALUES ((SELECT id FROM users WHERE username = 'alice'), 'calendar', 'legacy', 'VEVENT', 5, \
             '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'); \
             INSERT INTO dav_objects (collection_id, name, uid, component, etag, size, data, range_exact, revision, \
             created_at, modified_at) VALUES ((SELECT id FROM dav_collections WHERE slug = 'legacy'), 'a.ics', 'a', \
             'VEVENT', '\"a\"', 5, 'HELLO', FALSE, 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'); \
             INSERT INTO dav_properties (collection_id, object_name, namespace, local_name, xml) VALUES \
             ((SELECT id FROM dav_collections WHERE slug = 'legacy'), '', 'urn:x', 'p', '<p xmlns=\"urn:x\">été</p>'), \
             ((SELECT id FROM dav_collections WHERE slug = 'legacy'), 'a.ics', 'urn:x', 'q', '<q xmlns=\"urn:x\"/>');",
        )
        .await;
        old.close().await;
    }
    let app = TestApp::new(db).await;
    let alice = app.store.users().await.unwrap()[0].id;
    // "été" is 3 characters and 5 bytes: the counters hold bytes.
    let p = "urn:x".len() + "p".len() + "<p xmlns=\"urn:x\">été</p>".len();
    let q = "urn:x".len() + "q".len() + "<q xmlns=\"urn:x\"/>".len();
    assert_eq!(app.store.dav_bytes_used(alice).await.unwrap(), (5 + p + q) as i64);
    let cal = "/dav/calendars/alice/legacy/";
    let quota = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/></D:prop></D:propfind>"#;
    let (status, body) = send(&app, "PROPFIND", cal, quota).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert!(body.contains(&format!("<D:quota-used-bytes>{}</D:quota-used-bytes>", 5 + p + q)), "{body}");
    let remove = r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><X:p xmlns:X="urn:x"/></D:prop></D:remove></D:propertyupdate>"#;
    let (status, body) = send(&app, "PROPPATCH", cal, remove).await;
    assert!(status == StatusCode::MULTI_STATUS && body.contains("200 OK"), "{body}");
    assert_eq!(app.store.dav_bytes_used(alice).await.unwrap(), (5 + q) as i64);
    let (status, _) = send(&app, "DELETE", "/dav/calendars/alice/legacy/a.ics", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.store.dav_bytes_used(alice).await.unwrap(), 0);
}

/// The instance-settings migration adds a table and no rows: an upgraded
/// instance runs with the default modules (calendar and contacts on), and an
/// administrator's choice is stored from then on.
async fn modules_keep_their_defaults_after_the_settings_migration(db: &TestDb) {
    {
        let old = migrate_to(db, 20261121000003).await;
        insert_old_user(db, "alice", "old-password-1").await;
        old.close().await;
        // The binary just before instance settings.
        migrate_to(db, 20261121000007).await.close().await;
    }
    let app = TestApp::new(db).await;
    assert_eq!(app.store.instance_settings().await.unwrap(), Vec::<(String, String)>::new());
    let states = app.state.modules.states().await.unwrap();
    assert!(states.calendar && states.contacts && !states.mail && !states.chat, "{states:?}");
    let (status, body) = send(&app, "GET", "/api/v1/calendars", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed = app.state.modules.set(&[(madang::modules::Module::Calendar, false)]).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(app.store.instance_settings().await.unwrap(), [("module.calendar".to_string(), "off".to_string())]);
    let (status, _) = send(&app, "GET", "/api/v1/calendars", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // DAV is governed by its own setting.
    let (status, _) = send(&app, "PROPFIND", "/dav/calendars/alice/", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
}

/// Migration 20261208000101 lets the company directory have no owner; on SQLite that rebuilds
/// `dav_collections` with foreign keys off. Nothing may be lost or cut loose: members, the
/// change log and dead properties still hang off their collection (and go with it), sync
/// tokens stay valid, and AUTOINCREMENT's high-water mark survives, so an old token can never
/// name a collection made after the upgrade.
async fn collections_survive_the_derived_collections_migration(db: &TestDb) {
    {
        let foundation = migrate_to(db, 20261121000003).await;
        insert_old_user(db, "alice", "old-password-1").await;
        foundation.close().await;
        // The binary just before the derived collections.
        let old = migrate_to(db, 20261207000011).await;
        let at = "'2026-01-01T00:00:00+00:00'";
        let legacy = "(SELECT id FROM dav_collections WHERE slug = 'legacy')";
        execute_old(
            db,
            &format!(
                "INSERT INTO dav_homes (user_id, provisioned_at) VALUES ((SELECT id FROM users), {at}); \
                 INSERT INTO dav_collections (owner_id, kind, slug, components, revision, bytes, created_at, \
                 updated_at) VALUES ((SELECT id FROM users), 'calendar', 'legacy', 'VEVENT', 1, 5, {at}, {at}), \
                 ((SELECT id FROM users), 'calendar', 'gone', 'VEVENT', 0, 0, {at}, {at}); \
                 INSERT INTO dav_objects (collection_id, name, uid, component, etag, size, data, range_exact, \
                 revision, created_at, modified_at) VALUES ({legacy}, 'a.ics', 'a', 'VEVENT', '\"a\"', 5, 'HELLO', \
                 FALSE, 1, {at}, {at}); \
                 INSERT INTO dav_changes (collection_id, name, revision, deleted, changed_at) \
                 VALUES ({legacy}, 'a.ics', 1, FALSE, {at}); \
                 INSERT INTO dav_properties (collection_id, object_name, namespace, local_name, xml, size) \
                 VALUES ({legacy}, '', 'urn:x', 'p', '<p xmlns=\"urn:x\"/>', 20); \
                 DELETE FROM dav_collections WHERE slug = 'gone';"
            ),
        )
        .await;
        old.close().await;
    }
    let highest = db.scalar("SELECT CAST(MAX(id) AS BIGINT) + 1 FROM dav_collections").await;
    let app = TestApp::new(db).await;
    let (status, body) = send(&app, "GET", "/dav/calendars/alice/legacy/a.ics", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "HELLO"));
    let legacy = "(SELECT id FROM dav_collections WHERE slug = 'legacy')";
    let sync = format!(
        r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>urn:x-madang:sync:{}:0</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
        db.scalar(&format!("SELECT CAST({legacy} AS BIGINT)")).await
    );
    let (status, body) = send(&app, "REPORT", "/dav/calendars/alice/legacy/", &sync).await;
    assert!(status == StatusCode::MULTI_STATUS && body.contains("a.ics"), "{body}");
    let props = r#"<D:propfind xmlns:D="DAV:"><D:prop><X:p xmlns:X="urn:x"/></D:prop></D:propfind>"#;
    let (_, body) = send(&app, "PROPFIND", "/dav/calendars/alice/legacy/", props).await;
    assert!(body.contains("200 OK"), "{body}");
    // A collection made now gets an id above every one handed out before, the deleted one's included.
    let (status, body) = send(&app, "MKCALENDAR", "/dav/calendars/alice/fresh/", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fresh = db.scalar("SELECT CAST(id AS BIGINT) FROM dav_collections WHERE slug = 'fresh'").await;
    assert!(fresh > highest, "id {fresh} reuses one at or below {highest}");
    // The members still belong to their collection: deleting it takes them along.
    let (status, _) = send(&app, "DELETE", "/dav/calendars/alice/legacy/", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for table in ["dav_objects", "dav_changes", "dav_properties"] {
        let left = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE collection_id NOT IN (SELECT id FROM dav_collections)"
            ))
            .await;
        assert_eq!(left, 0, "{table} rows cut loose from their collection");
    }
    if db.url.starts_with("sqlite") {
        assert_eq!(db.scalar("SELECT COUNT(*) FROM pragma_foreign_key_check").await, 0);
    }
}

on_both_databases!(
    collections_survive_the_derived_collections_migration,
    modules_keep_their_defaults_after_the_settings_migration,
    accounts_survive_the_dav_migration,
    accounts_get_a_subject_in_the_identity_migration,
    issue19_dead_properties_are_counted_after_the_upgrade,
);
