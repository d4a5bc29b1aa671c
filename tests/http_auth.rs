//! Authentication and the HTTP surface, driven through the real router
//! without a socket, on both databases.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use chrono::Utc;
use common::{Backend, TestApp, TestDb, test_auth_config};
use http_body_util::BodyExt;
use madang::clock::ManualClock;
use madang::config::AuthConfig;
use madang::domain::{Email, NewUser, Role, UserState, Username};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: serde_json::Value,
    text: String,
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn send(app: &TestApp, req: Request<Body>) -> Reply {
    let response = app.router().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Reply { status, headers, body, text }
}

fn get(path: &str, auth: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    req.body(Body::empty()).unwrap()
}

fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

async fn me(app: &TestApp, user: &str, password: &str) -> Reply {
    send(app, get("/api/v1/me", Some(&basic(user, password)))).await
}

async fn create_app_password(app: &TestApp, user: &str, password: &str, label: &str) -> Reply {
    let req = Request::post("/api/v1/me/app-passwords")
        .header(header::AUTHORIZATION, basic(user, password))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({ "label": label }).to_string()))
        .unwrap();
    send(app, req).await
}

/// A new app password's secret, created with the account password.
async fn new_secret(app: &TestApp, user: &str, password: &str, label: &str) -> String {
    let created = create_app_password(app, user, password, label).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.body["password"].as_str().unwrap().to_string()
}

async fn missing_credentials_get_a_basic_challenge(db: &TestDb) {
    let app = TestApp::new(db).await;
    let r = send(&app, get("/api/v1/me", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], r#"Basic realm="Madang", charset="UTF-8""#);
    let r = send(&app, get("/api/v1/me", Some("Basic !!!notbase64"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&app, get("/api/v1/me", Some("Bearer some-token"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no bearer verifier is installed yet");
}

async fn account_password_and_app_password_both_work(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("alice", "correct horse").await;
    let r = me(&app, "alice", "correct horse").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["username"], "alice");
    assert_eq!(r.body["authenticated_with"], "password");
    // The limits a client checks before uploading (the web client's mail attachments).
    assert_eq!(r.body["limits"]["max_body_size"], app.state.settings.max_body_size as u64);
    assert_eq!(r.body["limits"]["mail_max_message_size"], 50u64 << 20);
    // User names are case-insensitive in sign-in too.
    assert_eq!(me(&app, "ALICE", "correct horse").await.status, StatusCode::OK);

    let secret = new_secret(&app, "alice", "correct horse", "iPhone").await;
    let r = me(&app, "alice", &secret).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["authenticated_with"], "app_password");
    // Typed by hand on a phone: without dashes, in capitals.
    let typed = secret.replace('-', "").to_uppercase();
    assert_eq!(me(&app, "alice", &typed).await.status, StatusCode::OK);

    let list = send(&app, get("/api/v1/me/app-passwords", Some(&basic("alice", &secret)))).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body[0]["label"], "iPhone");
    assert!(list.body[0]["last_used_at"].is_string(), "last use is recorded: {}", list.text);
    assert!(!list.text.contains(&secret), "the secret is never shown again");
}

async fn wrong_and_unknown_users_look_the_same(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("alice", "correct horse").await;
    let wrong = me(&app, "alice", "wrong password").await;
    let unknown = me(&app, "mallory", "wrong password").await;
    let invalid_name = me(&app, "not a user name!", "x").await;
    for r in [&wrong, &unknown, &invalid_name] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], r#"Basic realm="Madang", charset="UTF-8""#);
    }
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.text, invalid_name.text);
}

async fn disabled_pending_and_revoked_are_refused_even_when_cached(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("bob", "bob's password").await;
    let secret = new_secret(&app, "bob", "bob's password", "DAVx5").await;
    // Both credentials are now in the verification cache.
    assert_eq!(me(&app, "bob", &secret).await.status, StatusCode::OK);

    // Revoked through another store handle, as another process would.
    let other = db.store().await;
    let bob = other.user_by_name(&Username::parse("bob").unwrap()).await.unwrap();
    let id = other.app_passwords(bob.id).await.unwrap()[0].id;
    other.revoke_app_password(bob.id, id, Utc::now()).await.unwrap();
    assert_eq!(me(&app, "bob", &secret).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, "bob", "bob's password").await.status, StatusCode::OK);

    app.accounts.disable("bob").await.unwrap();
    assert_eq!(me(&app, "bob", "bob's password").await.status, StatusCode::UNAUTHORIZED);
    app.accounts.enable("bob").await.unwrap();
    assert_eq!(me(&app, "bob", "bob's password").await.status, StatusCode::OK);

    other.set_state(bob.id, UserState::Pending, Utc::now()).await.unwrap();
    assert_eq!(me(&app, "bob", "bob's password").await.status, StatusCode::UNAUTHORIZED);
}

async fn a_changed_password_drops_the_old_one_at_once(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("carol", "old password").await;
    assert_eq!(me(&app, "carol", "old password").await.status, StatusCode::OK);
    app.accounts.set_password("carol", "new password", None).await.unwrap();
    assert_eq!(me(&app, "carol", "old password").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, "carol", "new password").await.status, StatusCode::OK);
}

async fn failures_are_throttled_per_account(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let config = AuthConfig { account_failures_before_backoff: 3, ..test_auth_config() };
    let app = TestApp::with(db, config, clock.clone()).await;
    app.add_user("dan", "dan's password").await;
    for _ in 0..3 {
        assert_eq!(me(&app, "dan", "guess").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = me(&app, "dan", "guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    // Even the right password waits: the attacker cannot tell it was right.
    assert_eq!(me(&app, "dan", "dan's password").await.status, StatusCode::TOO_MANY_REQUESTS);
    // An unknown account is throttled the same way, revealing nothing.
    for _ in 0..3 {
        me(&app, "ghost", "guess").await;
    }
    assert_eq!(me(&app, "ghost", "guess").await.status, StatusCode::TOO_MANY_REQUESTS);

    clock.advance(Duration::from_secs(1));
    assert_eq!(me(&app, "dan", "guess").await.status, StatusCode::UNAUTHORIZED);
    let r = me(&app, "dan", "guess").await;
    assert_eq!(r.headers[header::RETRY_AFTER], "2", "the wait doubles with every failure");
    clock.advance(Duration::from_secs(2));
    assert_eq!(me(&app, "dan", "dan's password").await.status, StatusCode::OK);
    assert_eq!(me(&app, "dan", "guess").await.status, StatusCode::UNAUTHORIZED, "success cleared the record");
}

async fn failures_are_throttled_per_address(db: &TestDb) {
    let config = AuthConfig { address_failures_before_backoff: 4, ..test_auth_config() };
    let app = TestApp::with(db, config, Arc::new(madang::clock::SystemClock)).await;
    app.add_user("erin", "erin's password").await;
    for name in ["a1", "a2", "a3", "a4"] {
        let r = send(&app, from(get("/api/v1/me", Some(&basic(name, "x"))), "198.51.100.7")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&app, from(get("/api/v1/me", Some(&basic("erin", "erin's password"))), "198.51.100.7")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = send(&app, from(get("/api/v1/me", Some(&basic("erin", "erin's password"))), "198.51.100.8")).await;
    assert_eq!(r.status, StatusCode::OK, "other addresses are not affected");
}

async fn cached_devices_keep_working_during_an_attack(db: &TestDb) {
    let config = AuthConfig { account_failures_before_backoff: 2, ..test_auth_config() };
    let app = TestApp::with(db, config, Arc::new(madang::clock::SystemClock)).await;
    app.add_user("fay", "fay's password").await;
    assert_eq!(me(&app, "fay", "fay's password").await.status, StatusCode::OK);
    for _ in 0..5 {
        me(&app, "fay", "attacker guess").await;
    }
    assert_eq!(me(&app, "fay", "attacker guess").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(me(&app, "fay", "fay's password").await.status, StatusCode::OK);
}

async fn imported_bcrypt_hashes_are_upgraded_on_sign_in(db: &TestDb) {
    let app = TestApp::new(db).await;
    let hash = bcrypt::hash("from the old server", 4).unwrap();
    let user = app
        .store
        .create_user(
            &NewUser {
                username: Username::parse("gus").unwrap(),
                email: Email::parse("gus@example.com").unwrap(),
                display_name: "Gus".into(),
                role: Role::Member,
                state: UserState::Active,
                password_hash: Some(hash),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(me(&app, "gus", "wrong").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, "gus", "from the old server").await.status, StatusCode::OK);
    let stored = app.store.credentials_by_name(&user.username).await.unwrap().password_hash.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    // And the upgraded hash works from a fresh process (no cache).
    let fresh = TestApp::new(db).await;
    assert_eq!(me(&fresh, "gus", "from the old server").await.status, StatusCode::OK);
}

async fn app_passwords_cannot_manage_app_passwords(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("hal", "hal's password").await;
    let secret = new_secret(&app, "hal", "hal's password", "Thunderbird").await;
    let r = create_app_password(&app, "hal", &secret, "sneaky").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &app,
        Request::delete("/api/v1/me/app-passwords/1")
            .header(header::AUTHORIZATION, basic("hal", &secret))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn revoking_through_the_api(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("ida", "ida's password").await;
    app.add_user("jon", "jon's password").await;
    let created = create_app_password(&app, "ida", "ida's password", "Mac").await;
    let id = created.body["id"].as_i64().unwrap();
    let secret = created.body["password"].as_str().unwrap().to_string();
    let delete = |user: &str, password: &str| {
        Request::delete(format!("/api/v1/me/app-passwords/{id}"))
            .header(header::AUTHORIZATION, basic(user, password))
            .body(Body::empty())
            .unwrap()
    };
    // Jon cannot revoke Ida's app password; it is not his to see.
    assert_eq!(send(&app, delete("jon", "jon's password")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(me(&app, "ida", &secret).await.status, StatusCode::OK);
    assert_eq!(send(&app, delete("ida", "ida's password")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(me(&app, "ida", &secret).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&app, delete("ida", "ida's password")).await.status, StatusCode::NOT_FOUND);
}

async fn bad_request_bodies_get_json_errors(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("kim", "kim's password").await;
    let post = |body: Vec<u8>| {
        Request::post("/api/v1/me/app-passwords")
            .header(header::AUTHORIZATION, basic("kim", "kim's password"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let r = send(&app, post(b"{not json".to_vec())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "bad_json");
    let r = send(&app, post(br#"{"label": ""}"#.to_vec())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"], "invalid");
    // The test app's body limit is 64 KiB.
    let big = format!(r#"{{"label": "{}"}}"#, "x".repeat(100 * 1024));
    let r = send(&app, post(big.into_bytes())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn probes_and_metrics(db: &TestDb) {
    let app = TestApp::new(db).await;
    let r = send(&app, get("/healthz", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, get("/readyz", None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "ready");
    assert!(r.headers.contains_key("x-request-id"));

    let r = send(&app, Request::get("/healthz").header("x-request-id", "from-the-proxy").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.headers["x-request-id"], "from-the-proxy");

    let r = send(&app, get("/no/such/thing", None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");

    me(&app, "nobody", "x").await;
    let r = send(&app, from_loopback(get("/metrics", None))).await;
    assert_eq!(r.status, StatusCode::OK);
    for needle in [
        "madang_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}",
        "madang_http_request_duration_seconds_bucket",
        "madang_auth_failures_total{reason=\"invalid_credentials\"}",
        "madang_db_pool_connections",
        "route=\"unmatched\"",
    ] {
        assert!(r.text.contains(needle), "metrics lack {needle}:\n{}", r.text);
    }
}

async fn readyz_is_503_when_the_database_is_gone(db: &TestDb) {
    let app = TestApp::new(db).await;
    assert_eq!(send(&app, get("/readyz", None)).await.status, StatusCode::OK);
    if db.backend == Backend::Postgres {
        // The schema (and with it every table) disappears under the server.
        let schema = db.url.rsplit('=').next().unwrap().to_string();
        let base = std::env::var("MADANG_TEST_DATABASE_URL").unwrap();
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut c).await.unwrap();
        let r = send(&app, get("/readyz", None)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut c).await.unwrap();
    }
    app.store.close().await;
    let r = send(&app, get("/readyz", None)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["status"], "unavailable");
    assert_eq!(send(&app, get("/healthz", None)).await.status, StatusCode::OK, "the process itself is fine");
    // Authentication reports the outage rather than "wrong password".
    assert_eq!(me(&app, "anyone", "x").await.status, StatusCode::SERVICE_UNAVAILABLE);
}

/// A phone opening many connections at once with the same password costs one
/// argon2 verification, not one each (about 19 MiB and a core per hash).
async fn concurrent_sign_ins_with_the_same_password_verify_once(db: &TestDb) {
    let app = TestApp::new(db).await;
    app.add_user("alice", "correct horse").await;
    let before = app.auth.verifications();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let router = app.router();
        tasks.push(tokio::spawn(async move {
            let req = Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, basic("alice", "correct horse"))
                .body(Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(app.auth.verifications() - before, 1);
    // A wrong password is not cached: each attempt is verified (and counted).
    let before = app.auth.verifications();
    assert_eq!(me(&app, "alice", "wrong").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.auth.verifications() - before, 1);
}

on_both_databases!(
    concurrent_sign_ins_with_the_same_password_verify_once,
    missing_credentials_get_a_basic_challenge,
    account_password_and_app_password_both_work,
    wrong_and_unknown_users_look_the_same,
    disabled_pending_and_revoked_are_refused_even_when_cached,
    a_changed_password_drops_the_old_one_at_once,
    failures_are_throttled_per_account,
    failures_are_throttled_per_address,
    cached_devices_keep_working_during_an_attack,
    imported_bcrypt_hashes_are_upgraded_on_sign_in,
    app_passwords_cannot_manage_app_passwords,
    revoking_through_the_api,
    bad_request_bodies_get_json_errors,
    probes_and_metrics,
    issue19_metrics_exposure_is_a_setting,
    issue17_trusted_proxies_decide_whose_forwarding_is_believed,
    readyz_is_503_when_the_database_is_gone,
);

/// A request as the server sees one from a local TCP peer.
fn from_loopback(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

/// See: issue 19 — `/metrics` was public. By default (`server.metrics = local`) only a local
/// scraper that did not come through a proxy reads it; `token` wants the bearer token; `off`
/// hides it from everyone.
async fn issue19_metrics_exposure_is_a_setting(db: &TestDb) {
    use madang::config::MetricsAccess;
    let app = TestApp::new(db).await;
    let remote = |mut req: Request<Body>| {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40000))));
        req
    };
    // Default: local and unproxied only.
    assert_eq!(send(&app, from_loopback(get("/metrics", None))).await.status, StatusCode::OK);
    assert_eq!(send(&app, remote(get("/metrics", None))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&app, get("/metrics", None)).await.status, StatusCode::NOT_FOUND, "no peer known");
    for proxy_header in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let req = Request::get("/metrics").header(proxy_header, "for=203.0.113.9").body(Body::empty()).unwrap();
        let r = send(&app, from_loopback(req)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "a reverse proxy on this host must not publish /metrics");
    }
    let with = |access: MetricsAccess| {
        let mut settings = (*app.state.settings).clone();
        settings.metrics = access;
        let mut state = app.state.clone();
        state.settings = Arc::new(settings);
        TestApp { state, store: app.store.clone(), auth: app.auth.clone(), accounts: app.accounts.clone() }
    };
    let token = "t".repeat(40);
    let app2 = with(MetricsAccess::Token(token.clone()));
    let r = send(&app2, from_loopback(get("/metrics", None))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key("www-authenticate"));
    let bad = Request::get("/metrics").header("authorization", "Bearer nope").body(Body::empty()).unwrap();
    assert_eq!(send(&app2, remote(bad)).await.status, StatusCode::UNAUTHORIZED);
    let good = Request::get("/metrics").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let r = send(&app2, remote(good)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("madang_http_requests_total"), "{}", r.text);
    let app3 = with(MetricsAccess::Off);
    assert_eq!(send(&app3, from_loopback(get("/metrics", None))).await.status, StatusCode::NOT_FOUND);
    let app4 = with(MetricsAccess::Public);
    assert_eq!(send(&app4, remote(get("/metrics", None))).await.status, StatusCode::OK);
}

/// Issue 17: behind a load balancer, only the proxies named in `server.trusted_proxies` have
/// their `X-Forwarded-*` believed, and the client is the first address in the
/// `X-Forwarded-For` chain (from the right) that is not one of them: a client cannot pick
/// the address it is throttled under, nor claim HTTPS or another host.
async fn issue17_trusted_proxies_decide_whose_forwarding_is_believed(db: &TestDb) {
    let config = AuthConfig { address_failures_before_backoff: 3, ..test_auth_config() };
    let app = TestApp::with(db, config, Arc::new(madang::clock::SystemClock)).await;
    let mut settings = (*app.state.settings).clone();
    settings.proxies = madang::proxies::TrustedProxies::parse_networks("10.0.0.0/8, 192.168.0.0/16").unwrap();
    let mut state = app.state.clone();
    state.settings = Arc::new(settings);
    let app = TestApp { state, store: app.store.clone(), auth: app.auth.clone(), accounts: app.accounts.clone() };
    app.add_user("ivy", "ivy's password").await;
    let through = |peer: &str, chain: &str, user: &str, password: &str| {
        let req = Request::get("/api/v1/me")
            .header(header::AUTHORIZATION, basic(user, password))
            .header("x-forwarded-for", chain)
            .body(Body::empty())
            .unwrap();
        from(req, peer)
    };
    // Failures from 198.51.100.7 behind two proxies, each with a different forged first entry.
    for (n, forged) in ["1.1.1.1", "2.2.2.2", "3.3.3.3"].iter().enumerate() {
        let chain = format!("{forged}, 198.51.100.7, 192.168.4.4");
        let r = send(&app, through("10.0.0.2", &chain, &format!("x{n}"), "guess")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&app, through("10.0.0.2", "9.9.9.9, 198.51.100.7", "ivy", "ivy's password")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the address behind the proxies is throttled");
    let r = send(&app, through("10.0.0.2", "198.51.100.7, 198.51.100.8", "ivy", "ivy's password")).await;
    assert_eq!(r.status, StatusCode::OK, "another client behind the same proxy is not");
    // A peer that is not a proxy is itself the client, whatever it claims.
    let r = send(&app, through("203.0.113.50", "198.51.100.8", "ivy", "ivy's password")).await;
    assert_eq!(r.status, StatusCode::OK);
    for n in 0..3 {
        send(&app, through("203.0.113.50", "198.51.100.9", &format!("y{n}"), "guess")).await;
    }
    let r = send(&app, through("10.0.0.2", "198.51.100.9", "ivy", "ivy's password")).await;
    assert_eq!(r.status, StatusCode::OK, "the direct peer's failures were counted under its own address");

    // `X-Forwarded-Proto: https` makes cookies `__Host-` only when a trusted proxy says it.
    let signin = |peer: &str| {
        let req = Request::get("/signin").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
        from(req, peer)
    };
    let cookies = |r: &Reply| {
        r.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let trusted = send(&app, signin("192.168.1.1")).await;
    assert!(
        cookies(&trusted).iter().any(|c| c.starts_with("__Host-") && c.contains("Secure")),
        "{:?}",
        cookies(&trusted)
    );
    let direct = send(&app, signin("203.0.113.50")).await;
    assert!(
        !cookies(&direct).is_empty() && cookies(&direct).iter().all(|c| !c.starts_with("__Host-")),
        "{:?}",
        cookies(&direct)
    );

    // `X-Forwarded-Host` names the public host for the same-origin check only from a proxy.
    let api_call = |peer: &str| {
        let req = Request::get("/api/v1/me")
            .header("x-madang-csrf", "1")
            .header(header::ORIGIN, "https://cal.example.com")
            .header(header::HOST, "10.0.0.9:8080")
            .header("x-forwarded-host", "cal.example.com")
            .body(Body::empty())
            .unwrap();
        from(req, peer)
    };
    assert_eq!(send(&app, api_call("10.0.0.2")).await.status, StatusCode::UNAUTHORIZED, "same origin, no session");
    assert_eq!(
        send(&app, api_call("203.0.113.50")).await.status,
        StatusCode::FORBIDDEN,
        "a client's own X-Forwarded-Host is not believed"
    );
}
