//! The web sign-in and account pages through the real router, on both
//! databases: a small cookie-keeping "browser" submits the forms as a
//! person would.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use chrono::Utc;
use common::{TestApp, TestDb, test_auth_config};
use madang::accounts::NewAccount;
use madang::auth::totp;
use madang::clock::ManualClock;
use madang::config::{AuthConfig, SmtpConfig, SmtpSecurity, WebConfig};
use madang::domain::{Role, UserState, Username};
use madang::mailer::{Mailer, SentMail};
use tower::ServiceExt;

use common::browser::{Browser, between};

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn api_me(app: &TestApp, user: &str, password: &str) -> StatusCode {
    let req = Request::get("/api/v1/me").header(header::AUTHORIZATION, basic(user, password)).body(Body::empty());
    app.router().oneshot(req.unwrap()).await.unwrap().status()
}

/// RFC 4648 base32 (no padding), to read the key the enrolment page shows.
fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

async fn app_with(db: &TestDb, auth: AuthConfig, clock: Arc<ManualClock>, web: WebConfig) -> TestApp {
    let mut app = TestApp::with(db, auth, clock).await;
    app.state = app.state.clone().with_web(web, None);
    app
}

async fn manual_app(db: &TestDb) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    (app_with(db, test_auth_config(), clock.clone(), WebConfig::default()).await, clock)
}

/// See: issue 19 — sign-up accepted `.` and `..`, whose DAV URLs are unusable.
async fn issue19_sign_up_refuses_dot_segment_names(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    let mut b = Browser::new(&app);
    for name in [".", ".."] {
        let fields = [
            ("username", name),
            ("email", "dots@example.com"),
            ("password", "a long password"),
            ("confirm", "a long password"),
        ];
        let r = b.submit("/signup", "/signup", &fields).await;
        assert!(r.text.contains("invalid user name"), "{name}: {}", r.text);
    }
    assert!(app.store.users().await.unwrap().is_empty(), "no account was created");
}

async fn sign_up_waits_for_approval_then_signs_in(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    let mut b = Browser::new(&app);
    let r = b
        .submit(
            "/signup",
            "/signup",
            &[
                ("username", "minsu"),
                ("email", "minsu@example.com"),
                ("display_name", "Kim Minsu"),
                ("password", "a long password"),
                ("confirm", "a long password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("administrator must approve"), "{}", r.text);
    let user = app.store.user_by_name(&Username::parse("minsu").unwrap()).await.unwrap();
    assert_eq!(user.state, UserState::Pending);

    // The right password learns that the account waits; a wrong one learns nothing.
    let r = b.sign_in("minsu", "a long password").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("waiting for an administrator"), "{}", r.text);
    assert!(!b.cookies.contains_key("madang_session"));
    let r = b.sign_in("minsu", "wrong password").await;
    assert!(r.text.contains("Wrong user name or password") && !r.text.contains("waiting"), "{}", r.text);

    // The same name cannot be requested twice.
    let r = b
        .submit(
            "/signup",
            "/signup",
            &[("username", "minsu"), ("email", "x@example.com"), ("password", "another pw"), ("confirm", "another pw")],
        )
        .await;
    assert!(r.text.contains("not available"), "{}", r.text);

    app.accounts.approve("minsu").await.unwrap();
    let r = b.sign_in("minsu", "a long password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/account");
    let cookie = r.set_cookies().into_iter().find(|c| c.starts_with("madang_session=")).expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP test server: {cookie}");
    let token = cookie.split(';').next().unwrap().trim_start_matches("madang_session=");
    assert!(token.len() >= 43, "at least 256 bits: {token}");

    let r = b.get("/account").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("Kim Minsu") && r.text.contains("minsu@example.com"), "{}", r.text);
    // Signed in, the sign-in page sends the browser on.
    assert_eq!(b.get("/signin").await.status, StatusCode::SEE_OTHER);

    // Disabled accounts lose their sessions' worth at once.
    app.accounts.disable("minsu").await.unwrap();
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    let r = b.sign_in("minsu", "a long password").await;
    assert!(r.text.contains("disabled"), "{}", r.text);
}

async fn secure_cookies_under_https(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let web = WebConfig { secure_cookies: true, ..WebConfig::default() };
    let app = app_with(db, test_auth_config(), clock, web).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    let r = b.sign_in("alice", "alice password").await;
    let cookie = r.set_cookies().into_iter().find(|c| c.starts_with("__Host-madang_session=")).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn wrong_password_and_unknown_user_read_the_same(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    let wrong = b.sign_in("alice", "nope").await;
    let unknown = b.sign_in("mallory", "nope").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text.contains("Wrong user name or password"), "{}", r.text);
        assert!(r.set_cookies().iter().all(|c| !c.starts_with("madang_session=")));
    }
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

async fn forms_without_a_valid_csrf_token_are_refused(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    // Signed out: no token, a made-up token, a token without its cookie.
    let r = b.post("/signin", &[("username", "alice"), ("password", "alice password")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let form = b.get("/signin").await;
    let good = form.csrf();
    let r = b.post("/signin", &[("csrf", "forged"), ("username", "alice"), ("password", "alice password")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&app);
    let r = stranger.post("/signin", &[("csrf", &good), ("username", "alice"), ("password", "alice password")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a token is worthless without its cookie");
    assert_eq!(b.post("/signup", &[("username", "x")]).await.status, StatusCode::FORBIDDEN);

    // Signed in: the session's token only.
    assert_eq!(b.sign_in("alice", "alice password").await.status, StatusCode::SEE_OTHER);
    let r = b.post("/signout", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post("/account/password", &[("csrf", &good), ("current", "alice password"), ("new", "x"), ("confirm", "x")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the signed-out token does not work signed in");
    let mut other = Browser::new(&app);
    other.sign_in("alice", "alice password").await;
    let other_token = other.get("/account").await.csrf();
    let r = b.post("/account/app-passwords", &[("csrf", &other_token), ("action", "create"), ("label", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another session's token does not work");
    assert!(app.store.app_passwords(app.accounts.user("alice").await.unwrap().id).await.unwrap().is_empty());
    assert_eq!(b.get("/account").await.status, StatusCode::OK, "still signed in");

    let token = b.get("/account").await.csrf();
    let r = b.post("/signout", &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/signin");
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

/// Enrols TOTP for a browser signed in as alice (password "alice
/// password"); returns the secret and the recovery codes.
async fn enrol_totp(b: &mut Browser<'_>, clock: &ManualClock) -> (Vec<u8>, Vec<String>) {
    let r = b.submit("/account/totp", "/account/totp", &[("action", "start")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = b.get("/account/totp").await;
    assert!(page.text.contains("data:image/svg+xml;base64,"), "QR code shown: {}", page.text);
    assert!(page.text.contains("otpauth://totp/Madang:"), "{}", page.text);
    let secret = base32_decode(&between(&page.text, r#"<span class="secret">"#, "</span>").unwrap());
    assert_eq!(secret.len(), 20);

    let csrf = page.csrf();
    let confirm =
        |code| [("csrf", csrf.as_str()), ("action", "confirm"), ("code", code), ("password", "alice password")];
    let wrong = b.post("/account/totp", &confirm("000000")).await;
    assert!(wrong.text.contains("not correct"), "{}", wrong.text);
    let code = totp::code_at_step(&secret, totp::step_at(clock.now_ts()));
    let r = b.post("/account/totp", &confirm(&code)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = between(&r.text, r#"<ul class="codes">"#, "</ul>").unwrap();
    let codes: Vec<String> = list.split("<li>").skip(1).map(|s| s.trim_end_matches("</li>").to_string()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

trait Timestamp {
    fn now_ts(&self) -> i64;
}

impl Timestamp for ManualClock {
    fn now_ts(&self) -> i64 {
        madang::clock::Clock::now(self).timestamp()
    }
}

async fn totp_enrolment_sign_in_replay_and_recovery_codes(db: &TestDb) {
    let (app, clock) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let alice = app.accounts.user("alice").await.unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("alice", "alice password").await;
    let (secret, codes) = enrol_totp(&mut b, &clock).await;
    assert!(b.get("/account/totp").await.text.contains("Recovery codes left: 10"));
    let enrol_step = totp::step_at(clock.now_ts());

    // Password alone no longer makes a session.
    let mut c = Browser::new(&app);
    let r = c.sign_in("alice", "alice password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/signin/totp"), "{}", r.location());
    assert!(!c.cookies.contains_key("madang_session"));
    assert_eq!(c.get("/account").await.status, StatusCode::SEE_OTHER);

    // The code used for enrolment is spent: replay refused.
    let used = totp::code_at_step(&secret, enrol_step);
    let r = c.submit("/signin/totp", "/signin/totp", &[("code", &used)]).await;
    assert!(r.text.contains("not correct") && !r.text.contains("already used"), "{}", r.text);
    assert!(!c.cookies.contains_key("madang_session"));

    clock.advance(Duration::from_secs(30));
    let fresh = totp::code_at_step(&secret, enrol_step + 1);
    let r = c.submit("/signin/totp", "/signin/totp", &[("code", &fresh)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/account");
    assert_eq!(c.get("/account").await.status, StatusCode::OK);
    let sessions = app.store.web_sessions(alice.id).await.unwrap();
    assert!(sessions.iter().any(|s| s.amr == ["pwd", "otp"]), "{sessions:?}");

    // The same code again, in another browser: refused.
    let mut d = Browser::new(&app);
    d.sign_in("alice", "alice password").await;
    let r = d.submit("/signin/totp", "/signin/totp", &[("code", &fresh)]).await;
    assert!(r.text.contains("not correct"), "{}", r.text);

    // A recovery code works once.
    let r = d.submit("/signin/totp", "/signin/totp", &[("code", &codes[3].to_uppercase())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let mut e = Browser::new(&app);
    e.sign_in("alice", "alice password").await;
    let r = e.submit("/signin/totp", "/signin/totp", &[("code", &codes[3])]).await;
    assert!(r.text.contains("not correct"), "{}", r.text);
    assert_eq!(app.store.recovery_codes_left(alice.id).await.unwrap(), 9);

    // Turning it off needs the password.
    let r = b.submit("/account/totp", "/account/totp", &[("action", "disable"), ("password", "wrong")]).await;
    assert!(r.text.contains("current password is wrong"), "{}", r.text);
    let r = b.submit("/account/totp", "/account/totp", &[("action", "disable"), ("password", "alice password")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!app.store.totp_enabled(alice.id).await.unwrap());
    let mut f = Browser::new(&app);
    assert_eq!(f.sign_in("alice", "alice password").await.location(), "/account");
}

async fn totp_on_refuses_the_account_password_over_basic(db: &TestDb) {
    let (app, clock) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let (_, secret) = app.accounts.add_app_password("alice", "phone").await.unwrap();
    // Both credentials verified and cached before TOTP is turned on.
    assert_eq!(api_me(&app, "alice", "alice password").await, StatusCode::OK);
    assert_eq!(api_me(&app, "alice", &secret).await, StatusCode::OK);

    let mut b = Browser::new(&app);
    b.sign_in("alice", "alice password").await;
    enrol_totp(&mut b, &clock).await;
    assert_eq!(api_me(&app, "alice", "alice password").await, StatusCode::UNAUTHORIZED, "cache entry dropped");
    assert_eq!(api_me(&app, "alice", "alice password").await, StatusCode::UNAUTHORIZED);
    assert_eq!(api_me(&app, "alice", &secret).await, StatusCode::OK, "app passwords keep working");
    // Refusals of the right password do not count as guesses.
    for _ in 0..10 {
        api_me(&app, "alice", "alice password").await;
    }
    assert_eq!(api_me(&app, "alice", &secret).await, StatusCode::OK);
    let mut c = Browser::new(&app);
    assert!(c.sign_in("alice", "alice password").await.location().starts_with("/signin/totp"));
}

// See: issue 19, "Turning TOTP on (and off) needs only a signed-in session,
// so a stolen session can lock the owner out".
async fn issue19_turning_totp_on_or_off_needs_the_password(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let auth = AuthConfig { account_failures_before_backoff: 4, ..test_auth_config() };
    let app = app_with(db, auth, clock.clone(), WebConfig::default()).await;
    app.add_user("alice", "alice password").await;
    let alice = app.accounts.user("alice").await.unwrap();
    let mut owner = Browser::new(&app);
    owner.sign_in("alice", "alice password").await;
    // Whoever copied the session cookie holds a session as good as the owner's.
    let mut thief = Browser::new(&app);
    thief.cookies = owner.cookies.clone();

    let r = thief.submit("/account/totp", "/account/totp", &[("action", "start")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = thief.get("/account/totp").await;
    assert!(page.text.contains(r#"name="password""#), "the confirm form asks for the password: {}", page.text);
    let secret = base32_decode(&between(&page.text, r#"<span class="secret">"#, "</span>").unwrap());
    let code = totp::code_at_step(&secret, totp::step_at(clock.now_ts()));
    let csrf = page.csrf();
    for password in [None, Some(""), Some("a guess")] {
        let mut fields = vec![("csrf", csrf.as_str()), ("action", "confirm"), ("code", code.as_str())];
        fields.extend(password.map(|p| ("password", p)));
        let r = thief.post("/account/totp", &fields).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text.contains("current password is wrong"), "{}", r.text);
        assert!(r.text.contains("otpauth://"), "the enrolment form is shown again: {}", r.text);
        assert!(!app.store.totp_enabled(alice.id).await.unwrap(), "a right code alone does not turn TOTP on");
    }

    // The owner turns it on (with the password); the thief cannot turn it off.
    enrol_totp(&mut owner, &clock).await;
    let r = thief.submit("/account/totp", "/account/totp", &[("action", "disable")]).await;
    assert!(r.text.contains("current password is wrong"), "{}", r.text);
    assert!(app.store.totp_enabled(alice.id).await.unwrap());

    // Wrong passwords here are guesses like any other: the throttle that
    // guards the sign-in stops them, and then the right password waits too.
    for _ in 0..3 {
        let r = thief.submit("/account/totp", "/account/totp", &[("action", "disable"), ("password", "x")]).await;
        assert!(r.text.contains("current password is wrong"), "{}", r.text);
    }
    let r = thief.submit("/account/totp", "/account/totp", &[("action", "disable"), ("password", "x")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let disable = [("action", "disable"), ("password", "alice password")];
    assert_eq!(owner.submit("/account/totp", "/account/totp", &disable).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(app.store.totp_enabled(alice.id).await.unwrap());

    let query =
        madang::store::audit::AuditQuery { action: Some("reauth.failure".into()), limit: 100, ..Default::default() };
    let failures = app.store.audit_records(&query).await.unwrap();
    let details: Vec<&str> = failures.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(details, [&["totp.disable"; 4][..], &["totp.enable"; 3]].concat(), "{failures:?}");
    assert!(failures.iter().all(|r| r.actor_name == "alice"));

    clock.advance(Duration::from_secs(2));
    let r = owner.submit("/account/totp", "/account/totp", &disable).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(!app.store.totp_enabled(alice.id).await.unwrap());
}

async fn password_change_signs_out_other_sessions(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut a = Browser::new(&app);
    let mut b = Browser::new(&app);
    a.sign_in("alice", "alice password").await;
    b.sign_in("alice", "alice password").await;
    let r = a
        .submit(
            "/account/password",
            "/account/password",
            &[("current", "wrong"), ("new", "new password"), ("confirm", "new password")],
        )
        .await;
    assert!(r.text.contains("current password is wrong"), "{}", r.text);
    let r = a
        .submit(
            "/account/password",
            "/account/password",
            &[("current", "alice password"), ("new", "new password"), ("confirm", "new password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("Your password was changed"), "{}", r.text);
    assert_eq!(a.get("/account").await.status, StatusCode::OK, "the changing browser stays in");
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER, "the other one is out");
    let mut c = Browser::new(&app);
    assert!(c.sign_in("alice", "alice password").await.text.contains("Wrong user name or password"));
    assert_eq!(c.sign_in("alice", "new password").await.status, StatusCode::SEE_OTHER);
    assert_eq!(api_me(&app, "alice", "new password").await, StatusCode::OK);
}

async fn revoking_a_session_signs_it_out(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let alice = app.accounts.user("alice").await.unwrap();
    let mut a = Browser::new(&app);
    let mut b = Browser::new(&app);
    a.sign_in("alice", "alice password").await;
    b.sign_in("alice", "alice password").await;
    let page = a.get("/account/sessions").await;
    assert!(page.text.contains("This browser") && page.text.contains("TestBrowser/1.0"), "{}", page.text);
    let sessions = app.store.web_sessions(alice.id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    // b signed in last, so is listed first (most recent).
    let b_id = sessions.iter().map(|s| s.id).max().unwrap().to_string();
    let r = a.post("/account/sessions", &[("csrf", &page.csrf()), ("action", "revoke"), ("id", &b_id)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(a.get("/account").await.status, StatusCode::OK);

    let mut c = Browser::new(&app);
    c.sign_in("alice", "alice password").await;
    a.submit("/account/sessions", "/account/sessions", &[("action", "revoke_others")]).await;
    assert_eq!(c.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.web_sessions(alice.id).await.unwrap().len(), 1);
}

async fn sessions_expire_when_idle_and_at_their_lifetime(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let web = WebConfig {
        session_idle_timeout: Duration::from_secs(3600),
        session_lifetime: Duration::from_secs(3 * 3600),
        ..WebConfig::default()
    };
    let app = app_with(db, test_auth_config(), clock.clone(), web).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    b.sign_in("alice", "alice password").await;
    clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(61 * 60));
    let r = b.get("/account").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "idle for an hour");
    assert_eq!(r.location(), "/signin?next=/account");

    b.sign_in("alice", "alice password").await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(50 * 60));
        assert_eq!(b.get("/account").await.status, StatusCode::OK, "active, within the lifetime");
    }
    // Active all along, but past the absolute lifetime.
    clock.advance(Duration::from_secs(50 * 60));
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER, "3 h after sign-in");
}

async fn reset_links_work_once_and_expire(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut app = TestApp::with(db, test_auth_config(), clock.clone()).await;
    let (mailer, outbox) = Mailer::memory();
    let web = WebConfig { public_url: "https://madang.example/".into(), ..WebConfig::default() };
    app.state = app.state.clone().with_web(web, Some(mailer));
    app.add_user("alice", "alice password").await;
    let mut signed_in = Browser::new(&app);
    signed_in.sign_in("alice", "alice password").await;

    let mut b = Browser::new(&app);
    let r = b.submit("/reset", "/reset", &[("login", "alice@example.com")]).await;
    assert!(r.text.contains("If an account matches"), "{}", r.text);
    let same = b.submit("/reset", "/reset", &[("login", "nobody@example.com")]).await;
    assert_eq!(r.text, same.text, "unknown addresses get the same answer");
    let mut mail = None;
    for _ in 0..200 {
        if let Some(m) = outbox.lock().unwrap().first().cloned() {
            mail = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mail = mail.expect("a reset mail");
    assert_eq!(mail.to, "alice@example.com");
    let link = mail.body.lines().find(|l| l.starts_with("https://")).unwrap().to_string();
    let path = link.strip_prefix("https://madang.example").unwrap();
    assert!(path.starts_with("/reset/confirm?token="), "{path}");

    let form = b.get(path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    let token = between(&form.text, r#"name="token" value=""#, "\"").unwrap();
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("token".to_string(), token.clone()),
            ("new".to_string(), "brand new password".to_string()),
            ("confirm".to_string(), "brand new password".to_string()),
        ]
    };
    let f = fields(&form.csrf());
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post("/reset/confirm", &f).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Your password was changed"), "{}", r.text);
    assert_eq!(signed_in.get("/account").await.status, StatusCode::SEE_OTHER, "sessions end on reset");
    assert_eq!(b.sign_in("alice", "brand new password").await.status, StatusCode::SEE_OTHER);
    // Following a link mailed to the address proves the address (Gitea links
    // accounts by verified e-mail); a link an admin hands out proves nothing.
    assert!(app.accounts.user("alice").await.unwrap().email_verified, "a mailed link verifies the address");
    app.add_user("bob", "bob password").await;
    let bob = app.accounts.user("bob").await.unwrap();
    let handed = madang::web::reset::issue_link(&app.state, &bob, None).await.unwrap();
    let mut c = Browser::new(&app);
    let form = c.get(handed.strip_prefix("https://madang.example").unwrap()).await;
    let token = between(&form.text, r#"name="token" value=""#, "\"").unwrap();
    let fields = [
        ("csrf", form.csrf()),
        ("token", token),
        ("new", "bob new password".into()),
        ("confirm", "bob new password".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(c.post("/reset/confirm", &fields).await.status, StatusCode::OK);
    assert!(!app.accounts.user("bob").await.unwrap().email_verified, "an admin's link does not verify the address");

    // Used once: dead.
    let r = b.post("/reset/confirm", &f).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(Browser::new(&app).get(path).await.status, StatusCode::NOT_FOUND);

    // Expired.
    let alice = app.accounts.user("alice").await.unwrap();
    let link = madang::web::reset::issue_link(&app.state, &alice, None).await.unwrap();
    let path = link.strip_prefix("https://madang.example").unwrap().to_string();
    assert_eq!(Browser::new(&app).get(&path).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(3601));
    assert_eq!(Browser::new(&app).get(&path).await.status, StatusCode::NOT_FOUND);
}

async fn without_smtp_the_reset_page_sends_people_to_an_admin(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    let r = Browser::new(&app).get("/reset").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("ask an administrator"), "{}", r.text);
}

async fn reset_link_from_the_command_line(db: &TestDb) {
    let store = db.store().await;
    let (app, _) = {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        (app_with(db, test_auth_config(), clock.clone(), WebConfig::default()).await, clock)
    };
    app.add_user("alice", "alice password").await;
    let mut env = db.env();
    env.push(("MADANG_PUBLIC_URL".into(), "https://madang.example".into()));
    let out = common::madang(&env, &["user", "reset-link", "alice"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let path = link.strip_prefix("https://madang.example").expect(&link).to_string();
    assert!(path.starts_with("/reset/confirm?token="));
    assert_eq!(Browser::new(&app).get(&path).await.status, StatusCode::OK);
    let out = common::madang(&db.env(), &["user", "reset-link", "nobody"], "");
    assert!(!out.status.success());
    drop(store);
}

async fn pages_carry_the_security_headers(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    let mut b = Browser::new(&app);
    for path in ["/signin", "/account", "/signup", "/reset"] {
        let r = b.get(path).await;
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(r.headers[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store", "{path}");
    }
    let css = b.get("/static/madang.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));

    // Korean for a Korean browser, and a `lang` cookie that overrides it.
    b.language = Some("ko-KR,ko;q=0.9,en;q=0.5");
    let r = b.get("/signin").await;
    assert!(r.text.contains(r#"<html lang="ko">"#) && r.text.contains("로그인"), "{}", r.text);
    b.get("/lang/en").await;
    assert!(b.get("/signin").await.text.contains(r#"<html lang="en">"#));
}

async fn sign_in_redirects_only_to_local_paths(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    let form = b.get("/signin?next=%2F%2Fevil.example%2F").await;
    let r = b
        .post(
            "/signin",
            &[
                ("csrf", &form.csrf()),
                ("username", "alice"),
                ("password", "alice password"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/account");
    let mut c = Browser::new(&app);
    let form = c.get("/signin").await;
    let next = "/oauth2/authorize?client_id=x&state=y";
    let r = c
        .post(
            "/signin",
            &[("csrf", &form.csrf()), ("username", "alice"), ("password", "alice password"), ("next", next)],
        )
        .await;
    assert_eq!(r.location(), next);
    // `reauth=1` shows the form although signed in, and makes a new session.
    let r = c.get("/signin?reauth=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains(r#"name="reauth" value="1""#));
}

async fn brute_force_is_throttled_with_429(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let auth = AuthConfig { account_failures_before_backoff: 3, ..test_auth_config() };
    let app = app_with(db, auth, clock.clone(), WebConfig::default()).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    for _ in 0..3 {
        assert!(b.sign_in("alice", "guess").await.text.contains("Wrong user name or password"));
    }
    let r = b.sign_in("alice", "guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    assert!(r.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    // One throttle for both doors: HTTP Basic waits too, even with the right password.
    assert_eq!(api_me(&app, "alice", "alice password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.sign_in("alice", "alice password").await.status, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.sign_in("alice", "alice password").await.status, StatusCode::SEE_OTHER);
}

async fn app_passwords_are_shown_once_listed_and_revoked(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    b.sign_in("alice", "alice password").await;
    let r = b
        .submit("/account/app-passwords", "/account/app-passwords", &[("action", "create"), ("label", "iPhone")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let secret = between(&r.text, r#"<span class="secret">"#, "</span>").unwrap();
    assert_eq!(api_me(&app, "alice", &secret).await, StatusCode::OK);
    let list = b.get("/account/app-passwords").await;
    assert!(list.text.contains("iPhone") && !list.text.contains(&secret), "shown once: {}", list.text);
    assert!(!list.text.contains("<td>Never</td>"), "last use is listed: {}", list.text);
    let id = between(&list.text, r#"name="id" value=""#, "\"").unwrap();
    let r = b.post("/account/app-passwords", &[("csrf", &list.csrf()), ("action", "revoke"), ("id", &id)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(api_me(&app, "alice", &secret).await, StatusCode::UNAUTHORIZED);
}

async fn sign_in_and_failures_are_audited(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    b.sign_in("alice", "wrong").await;
    b.sign_in("alice", "alice password").await;
    let query = madang::store::audit::AuditQuery { limit: 100, ..Default::default() };
    let log = format!("{:?}", app.store.audit_records(&query).await.unwrap());
    assert!(log.contains("signin.failure") && log.contains("signin.success"), "{log}");
}

/// A six-digit code that is none of the codes valid now.
fn wrong_code(secret: &[u8], clock: &ManualClock) -> String {
    let step = totp::step_at(clock.now_ts());
    let valid: Vec<String> = (step - 2..=step + 2).map(|s| totp::code_at_step(secret, s)).collect();
    (0..).map(|n: u32| format!("{:06}", 123_456 + n)).find(|c| !valid.contains(c)).unwrap()
}

/// The session, CSRF and second-factor cookies under HTTPS.
fn secure_web() -> WebConfig {
    WebConfig { secure_cookies: true, ..WebConfig::default() }
}

// See: review H1 — a correct password cleared the throttle that wrong codes counted on.
async fn review_h1_a_correct_password_does_not_reset_the_second_factor_throttle(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let auth = AuthConfig { account_failures_before_backoff: 3, ..test_auth_config() };
    let app = app_with(db, auth, clock.clone(), WebConfig::default()).await;
    app.add_user("alice", "alice password").await;
    let mut owner = Browser::new(&app);
    owner.sign_in("alice", "alice password").await;
    let (secret, _) = enrol_totp(&mut owner, &clock).await;
    let enrol_step = totp::step_at(clock.now_ts());
    clock.advance(Duration::from_secs(30));

    // An attacker who knows the password guesses codes, proving the password
    // again before every guess; the replayed enrolment code reads like a
    // wrong one.
    let replayed = totp::code_at_step(&secret, enrol_step);
    let mut texts = Vec::new();
    for guess in [wrong_code(&secret, &clock), replayed, wrong_code(&secret, &clock)] {
        let mut m = Browser::new(&app);
        assert!(m.sign_in("alice", "alice password").await.location().starts_with("/signin/totp"));
        let r = m.submit("/signin/totp", "/signin/totp", &[("code", &guess)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text.contains("not correct") && !r.text.contains("already used"), "{}", r.text);
        texts.push(r.text.replace(&r.csrf(), ""));
    }
    assert_eq!(texts[0], texts[1], "a replayed right code answers exactly like a wrong one");
    let mut m = Browser::new(&app);
    assert!(m.sign_in("alice", "alice password").await.location().starts_with("/signin/totp"));
    let right = totp::code_at_step(&secret, totp::step_at(clock.now_ts()));
    let r = m.submit("/signin/totp", "/signin/totp", &[("code", &right)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "three wrong codes back off, password or not");
    assert!(!m.cookies.contains_key("madang_session"));

    // After the wait the right code signs in and clears the count.
    clock.advance(Duration::from_secs(1));
    let r = m.submit("/signin/totp", "/signin/totp", &[("code", &right)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(m.get("/account").await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(30));
    let mut n = Browser::new(&app);
    n.sign_in("alice", "alice password").await;
    let r = n.submit("/signin/totp", "/signin/totp", &[("code", &wrong_code(&secret, &clock))]).await;
    assert_eq!(r.status, StatusCode::OK, "the count started over: {}", r.text);
}

// See: review H1 — one proved password allowed unlimited codes.
async fn review_h1_each_proved_password_allows_a_few_codes(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let auth = AuthConfig { account_failures_before_backoff: 100, ..test_auth_config() };
    let app = app_with(db, auth, clock.clone(), WebConfig::default()).await;
    app.add_user("alice", "alice password").await;
    let mut owner = Browser::new(&app);
    owner.sign_in("alice", "alice password").await;
    let (secret, _) = enrol_totp(&mut owner, &clock).await;
    clock.advance(Duration::from_secs(30));

    let mut m = Browser::new(&app);
    m.sign_in("alice", "alice password").await;
    for _ in 0..madang::web::signin::MFA_ATTEMPTS {
        let r = m.submit("/signin/totp", "/signin/totp", &[("code", &wrong_code(&secret, &clock))]).await;
        assert!(r.text.contains("not correct"), "{}", r.text);
    }
    let form = m.get("/signin").await;
    let right = totp::code_at_step(&secret, totp::step_at(clock.now_ts()));
    let r = m.post("/signin/totp", &[("csrf", &form.csrf()), ("code", &right)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/signin?"), "back to the password: {}", r.location());
    assert!(!m.cookies.contains_key("madang_session") && !m.cookies.contains_key("madang_mfa"));
    assert_eq!(m.get("/signin/totp").await.status, StatusCode::SEE_OTHER);
    // Proving the password again gives a fresh allowance.
    m.sign_in("alice", "alice password").await;
    let r = m.submit("/signin/totp", "/signin/totp", &[("code", &right)]).await;
    assert_eq!(r.location(), "/account", "{}", r.text);
}

// See: review L5 — the second-factor cookie was stateless: reusable, and it
// outlived a password change.
async fn review_l5_the_second_factor_cookie_is_single_use_and_bound_to_the_credentials(db: &TestDb) {
    let (app, clock) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut owner = Browser::new(&app);
    owner.sign_in("alice", "alice password").await;
    let (secret, _) = enrol_totp(&mut owner, &clock).await;
    let code_now = |clock: &ManualClock| totp::code_at_step(&secret, totp::step_at(clock.now_ts()));

    // Used once, the cookie is worthless, even with a fresh code.
    clock.advance(Duration::from_secs(30));
    let mut a = Browser::new(&app);
    a.sign_in("alice", "alice password").await;
    let stolen = a.cookies["madang_mfa"].clone();
    let r = a.submit("/signin/totp", "/signin/totp", &[("code", &code_now(&clock))]).await;
    assert_eq!(r.location(), "/account");
    clock.advance(Duration::from_secs(30));
    let mut thief = Browser::new(&app);
    let csrf = thief.get("/signin").await.csrf();
    thief.cookies.insert("madang_mfa".into(), stolen);
    let r = thief.post("/signin/totp", &[("csrf", &csrf), ("code", &code_now(&clock))]).await;
    assert!(r.location().starts_with("/signin?"), "{} {}", r.location(), r.text);
    assert!(!thief.cookies.contains_key("madang_session"));

    // A password change (or a TOTP reset) between the password and the code
    // kills the cookie.
    clock.advance(Duration::from_secs(30));
    let mut b = Browser::new(&app);
    b.sign_in("alice", "alice password").await;
    app.accounts.set_password("alice", "changed password", None).await.unwrap();
    let form = b.get("/signin").await;
    let r = b.post("/signin/totp", &[("csrf", &form.csrf()), ("code", &code_now(&clock))]).await;
    assert!(r.location().starts_with("/signin?"), "{} {}", r.location(), r.text);
    assert!(!b.cookies.contains_key("madang_session"));
}

// See: review M2 — reset requests were neither throttled nor deduplicated.
async fn review_m2_reset_requests_are_throttled_and_not_resent_at_once(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut app = TestApp::with(db, test_auth_config(), clock.clone()).await;
    let (mailer, outbox) = Mailer::memory();
    let web = WebConfig { public_url: "https://madang.example/".into(), ..WebConfig::default() };
    app.state = app.state.clone().with_web(web, Some(mailer));
    app.add_user("alice", "alice password").await;
    let mails = |n: usize| {
        let outbox = outbox.clone();
        async move {
            for _ in 0..200 {
                if outbox.lock().unwrap().len() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Give a wrongly sent extra mail the time to arrive.
            tokio::time::sleep(Duration::from_millis(100)).await;
            outbox.lock().unwrap().len()
        }
    };
    let mut b = Browser::new(&app);
    let first = b.submit("/reset", "/reset", &[("login", "alice")]).await;
    assert_eq!(mails(1).await, 1);
    let again = b.submit("/reset", "/reset", &[("login", "alice")]).await;
    assert_eq!(first.text, again.text, "the same answer");
    assert_eq!(mails(2).await, 1, "no second link minutes after the first");
    clock.advance(Duration::from_secs(6 * 60));
    b.submit("/reset", "/reset", &[("login", "alice")]).await;
    assert_eq!(mails(2).await, 2, "a new link once the last one is minutes old");

    // Five requests for one login are free; then it waits.
    for _ in 0..2 {
        assert_eq!(b.submit("/reset", "/reset", &[("login", "alice")]).await.status, StatusCode::OK);
    }
    let r = b.submit("/reset", "/reset", &[("login", "alice")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(b.submit("/reset", "/reset", &[("login", "bob")]).await.status, StatusCode::OK);
    // Asking for links never locks the owner out of signing in.
    assert_eq!(b.sign_in("alice", "alice password").await.status, StatusCode::SEE_OTHER);
}

// See: review M2 — every sign-up request ran argon2 unthrottled.
async fn review_m2_sign_up_is_throttled_before_hashing(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let auth = AuthConfig { account_failures_before_backoff: 3, ..test_auth_config() };
    let app = app_with(db, auth, clock.clone(), WebConfig::default()).await;
    let mut b = Browser::new(&app);
    let fields =
        [("username", "minsu"), ("email", "m@example.com"), ("password", "a long pw"), ("confirm", "a long pw")];
    assert!(b.submit("/signup", "/signup", &fields).await.text.contains("administrator must approve"));
    for _ in 0..2 {
        assert!(b.submit("/signup", "/signup", &fields).await.text.contains("not available"));
    }
    let r = b.submit("/signup", "/signup", &fields).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    clock.advance(Duration::from_secs(1));
    assert!(b.submit("/signup", "/signup", &fields).await.text.contains("not available"));
}

// See: review L6 — reset confirm did not re-check the account's state, and a
// failure after consuming the link lost it.
async fn review_l6_reset_needs_an_active_account_and_a_failed_reset_keeps_its_link(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let alice = app.accounts.user("alice").await.unwrap();
    let link = madang::web::reset::issue_link(&app.state, &alice, None).await.unwrap();
    let path = link.split_once("/reset/").map(|(_, p)| format!("/reset/{p}")).unwrap();
    let token = path.split_once("token=").unwrap().1.to_string();
    let mut b = Browser::new(&app);
    let csrf = b.get(&path).await.csrf();
    app.accounts.disable("alice").await.unwrap();
    let f = [("csrf", csrf.as_str()), ("token", &token), ("new", "brand new pw"), ("confirm", "brand new pw")];
    assert_eq!(b.post("/reset/confirm", &f).await.status, StatusCode::NOT_FOUND, "disabled: the link does nothing");
    app.accounts.enable("alice").await.unwrap();
    assert!(Browser::new(&app).sign_in("alice", "alice password").await.location() == "/account");

    // The link is consumed before the password is set; a failure reopens it.
    let hash = madang::tokens::token_hash(&token);
    let now = madang::clock::Clock::now(app.state.clock.as_ref());
    assert_eq!(app.store.consume_password_reset(&hash, now).await.unwrap(), Some(alice.id));
    assert_eq!(app.store.password_reset_user(&hash, now).await.unwrap(), None);
    app.store.restore_password_reset(&hash, alice.id).await.unwrap();
    let r = b.post("/reset/confirm", &f).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Your password was changed"), "{}", r.text);
    assert_eq!(b.post("/reset/confirm", &f).await.status, StatusCode::NOT_FOUND, "and then it is spent");
}

// See: review L4 — Secure cookies did not use the `__Host-` prefix.
async fn review_l4_secure_cookies_use_the_host_prefix(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = app_with(db, test_auth_config(), clock, secure_web()).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    let form = b.get("/signin").await;
    let csrf = form.set_cookies().into_iter().find(|c| c.starts_with("__Host-madang_csrf=")).expect("csrf cookie");
    assert!(csrf.contains("; Path=/") && csrf.contains("; Secure") && !csrf.contains("Domain"), "{csrf}");
    let r = b.sign_in("alice", "alice password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let session = r.set_cookies().into_iter().find(|c| c.starts_with("__Host-madang_session=")).unwrap();
    assert!(session.contains("; Path=/") && session.contains("; Secure") && !session.contains("Domain"));
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    // The plain name is not read in this mode (a plain-HTTP page could set it).
    let token = b.cookies.remove("__Host-madang_session").unwrap();
    b.cookies.insert("madang_session".into(), token);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    // And without HTTPS the prefixed name is not read (browsers would refuse it).
    let (plain, _) = manual_app(db).await;
    plain.add_user("bob", "bob password").await;
    let mut c = Browser::new(&plain);
    c.sign_in("bob", "bob password").await;
    let token = c.cookies.remove("madang_session").unwrap();
    c.cookies.insert("__Host-madang_session".into(), token);
    assert_eq!(c.get("/account").await.status, StatusCode::SEE_OTHER);
}

// See: review L12 — a failed sign-in recorded whatever was typed as the name.
async fn review_l12_unknown_names_are_not_recorded_as_typed(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let mut b = Browser::new(&app);
    b.sign_in("Correct-Horse-Battery", "x").await;
    b.sign_in("Correct-Horse-Battery", "y").await;
    b.sign_in("alice", "wrong").await;
    let query = madang::store::audit::AuditQuery { limit: 100, ..Default::default() };
    let records = app.store.audit_records(&query).await.unwrap();
    let failures: Vec<_> = records.iter().filter(|r| r.action == "signin.failure").collect();
    assert_eq!(failures.len(), 3, "{records:?}");
    assert!(!format!("{records:?}").to_lowercase().contains("correct-horse"), "{records:?}");
    let unknown: Vec<_> = failures.iter().filter(|r| r.actor_name == "(unknown)").collect();
    assert_eq!(unknown.len(), 2);
    assert_eq!(unknown[0].detail, unknown[1].detail, "one name, one marker");
    assert!(failures.iter().any(|r| r.actor_name == "alice"), "known names are kept");
}

// See: review L2 — form-action was widened with any redirect_uri.
async fn review_l2_sign_in_widens_form_action_only_for_web_origins(db: &TestDb) {
    let (app, _) = manual_app(db).await;
    let mut b = Browser::new(&app);
    let csp = |r: &common::browser::Reply| r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    let r = b.get("/signin?next=%2Foauth2%2Fauthorize%3Fredirect_uri%3Djavascript%253Aalert(1)").await;
    assert!(csp(&r).contains("form-action 'self';"), "{}", csp(&r));
    let r = b.get("/signin?next=%2Foauth2%2Fauthorize%3Fredirect_uri%3Dhttps%253A%252F%252Frp.example%252Fcb").await;
    assert!(csp(&r).contains("form-action 'self' https://rp.example;"), "{}", csp(&r));
}

// See: review M3 — used and expired reset links were never deleted.
async fn review_m3_the_purge_removes_spent_reset_links_and_challenges(db: &TestDb) {
    let (app, clock) = manual_app(db).await;
    app.add_user("alice", "alice password").await;
    let alice = app.accounts.user("alice").await.unwrap();
    let token_of = |link: String| madang::tokens::token_hash(link.split_once("token=").unwrap().1);
    let now = madang::clock::Clock::now(clock.as_ref());
    let used = token_of(madang::web::reset::issue_link(&app.state, &alice, None).await.unwrap());
    app.store.consume_password_reset(&used, now).await.unwrap();
    let old = token_of(madang::web::reset::issue_link(&app.state, &alice, None).await.unwrap());
    let open = {
        clock.advance(Duration::from_secs(50 * 60));
        token_of(madang::web::reset::issue_link(&app.state, &alice, None).await.unwrap())
    };
    // A used link comes back with `restore_password_reset` only if its row
    // survived the purge.
    let later = now + chrono::Duration::minutes(61);
    madang::web::session::purge(&app.store, later, Duration::from_secs(3600)).await;
    app.store.restore_password_reset(&used, alice.id).await.unwrap();
    assert_eq!(app.store.password_reset_user(&used, now).await.unwrap(), None, "used link deleted");
    assert_eq!(app.store.password_reset_user(&old, now).await.unwrap(), None, "expired link deleted");
    assert_eq!(app.store.password_reset_user(&open, later).await.unwrap(), Some(alice.id), "open link kept");
}

/// Asks for an account `name` in a fresh browser.
async fn request_account(app: &TestApp, name: &str) -> StatusCode {
    let email = format!("{name}@example.com");
    let fields =
        [("username", name), ("email", &email), ("password", "a long password"), ("confirm", "a long password")];
    let r = Browser::new(app).submit("/signup", "/signup", &fields).await;
    assert!(r.text.contains("administrator must approve"), "{}", r.text);
    r.status
}

async fn add_account(app: &TestApp, name: &str, role: Role, state: UserState) {
    let new = NewAccount {
        username: name.into(),
        email: format!("{name}@example.com"),
        display_name: None,
        role,
        state,
        password: Some(format!("{name} password")),
    };
    app.accounts.add_user(new).await.unwrap();
}

/// Waits up to `within` for the outbox to hold `n` mails; returns them.
async fn mails(outbox: &std::sync::Mutex<Vec<SentMail>>, n: usize, within: Duration) -> Vec<SentMail> {
    let start = std::time::Instant::now();
    while outbox.lock().unwrap().len() < n && start.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outbox.lock().unwrap().clone()
}

// See: issue 19, "Administrators learn about sign-up requests only by
// visiting /admin: notify them (mail to admins, and a count on their pages)".
async fn issue19_admins_are_told_about_sign_up_requests(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut app = TestApp::with(db, test_auth_config(), clock).await;
    let (mailer, outbox) = Mailer::memory();
    let interval = Duration::from_secs(1);
    let web = WebConfig {
        public_url: "https://madang.example/".into(),
        signup_notify_interval: interval,
        ..WebConfig::default()
    };
    app.state = app.state.clone().with_web(web, Some(mailer));
    add_account(&app, "root", Role::Admin, UserState::Active).await;
    add_account(&app, "ops", Role::Admin, UserState::Active).await;
    add_account(&app, "retired", Role::Admin, UserState::Disabled).await;
    add_account(&app, "alice", Role::Member, UserState::Active).await;
    let mut admin = Browser::new(&app);
    assert_eq!(admin.sign_in("root", "root password").await.status, StatusCode::SEE_OTHER);
    let mut member = Browser::new(&app);
    assert_eq!(member.sign_in("alice", "alice password").await.status, StatusCode::SEE_OTHER);
    let page = admin.get("/account").await.text;
    assert!(page.contains(r#"<a href="/admin">Administration</a>"#) && !page.contains("Sign-up requests ("), "{page}");

    // The first request is mailed at once, to each active administrator on
    // their own, with the count and the link and nothing the requester typed.
    let started = std::time::Instant::now();
    assert_eq!(request_account(&app, "minsu").await, StatusCode::OK);
    let answered = started.elapsed();
    let sent = mails(&outbox, 2, Duration::from_secs(5)).await;
    let mut to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["ops@example.com", "root@example.com"], "{sent:?}");
    for mail in &sent {
        assert_eq!(mail.subject, "Sign-up requests are waiting on Madang");
        assert!(
            mail.body.contains("waiting for an administrator: 1.")
                && mail.body.contains("https://madang.example/admin\n")
        );
        assert!(!mail.body.contains("minsu"), "no name or address of the requester: {}", mail.body);
    }
    println!("sign-up answered in {answered:?}; first notice sent {:?} after the request", started.elapsed());

    // Every page an administrator sees counts the requests; a member's does not.
    for path in ["/account", "/account/totp", "/admin", "/admin/audit", "/admin/clients"] {
        let page = admin.get(path).await.text;
        assert!(
            page.contains(r##"<a class="waiting" href="/admin#pending">Sign-up requests (1)</a>"##),
            "{path}: {page}"
        );
    }
    assert!(admin.get("/admin").await.text.contains(r#"<h2 id="pending">"#));
    let page = member.get("/account").await.text;
    assert!(!page.contains("Sign-up requests") && !page.contains(r#"href="/admin"#), "{page}");
    admin.language = Some("ko");
    assert!(admin.get("/account").await.text.contains("가입 요청 (1)"));
    admin.language = None;

    // More requests within the interval: no mail now, one mail per
    // administrator at its end, counting all that still wait.
    request_account(&app, "jiwoo").await;
    request_account(&app, "seoyeon").await;
    tokio::time::sleep(interval / 4).await;
    assert_eq!(outbox.lock().unwrap().len(), 2, "nothing more within the interval");
    let sent = mails(&outbox, 4, interval * 5).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent[2..].iter().all(|m| m.body.contains("waiting for an administrator: 3.")), "{sent:?}");
    tokio::time::sleep(interval / 2).await;
    assert_eq!(outbox.lock().unwrap().len(), 4, "one mail per administrator per interval");
    assert!(admin.get("/account").await.text.contains("Sign-up requests (3)"));

    // Decided on, the count goes away.
    for name in ["minsu", "jiwoo", "seoyeon"] {
        app.accounts.approve(name).await.unwrap();
    }
    assert!(!admin.get("/account").await.text.contains("Sign-up requests ("));
}

/// A mail server that accepts connections and never says a word.
async fn silent_mail_server() -> (tokio::task::JoinHandle<()>, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (task, port)
}

// See: issue 19: telling the administrators must not hold up or fail the
// sign-up, whatever the mail server does.
async fn issue19_a_silent_mail_server_does_not_hold_up_sign_up(db: &TestDb) {
    let (server, port) = silent_mail_server().await;
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Madang <madang@example.org>".into(),
    };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut app = TestApp::with(db, test_auth_config(), clock).await;
    app.state = app.state.clone().with_web(WebConfig::default(), Some(Mailer::from_config(&smtp).unwrap()));
    add_account(&app, "root", Role::Admin, UserState::Active).await;
    let started = std::time::Instant::now();
    assert_eq!(request_account(&app, "minsu").await, StatusCode::OK);
    let answered = started.elapsed();
    println!("sign-up with a silent mail server answered in {answered:?}");
    // The SMTP client waits up to 20 s for a greeting; the answer does not.
    assert!(answered < Duration::from_secs(5), "{answered:?}");
    assert_eq!(app.store.count_pending_users().await.unwrap(), 1);
    server.abort();
}

on_both_databases!(
    sign_up_waits_for_approval_then_signs_in,
    issue19_sign_up_refuses_dot_segment_names,
    secure_cookies_under_https,
    wrong_password_and_unknown_user_read_the_same,
    forms_without_a_valid_csrf_token_are_refused,
    totp_enrolment_sign_in_replay_and_recovery_codes,
    totp_on_refuses_the_account_password_over_basic,
    issue19_turning_totp_on_or_off_needs_the_password,
    password_change_signs_out_other_sessions,
    revoking_a_session_signs_it_out,
    sessions_expire_when_idle_and_at_their_lifetime,
    reset_links_work_once_and_expire,
    without_smtp_the_reset_page_sends_people_to_an_admin,
    reset_link_from_the_command_line,
    pages_carry_the_security_headers,
    sign_in_redirects_only_to_local_paths,
    brute_force_is_throttled_with_429,
    app_passwords_are_shown_once_listed_and_revoked,
    sign_in_and_failures_are_audited,
    review_h1_a_correct_password_does_not_reset_the_second_factor_throttle,
    review_h1_each_proved_password_allows_a_few_codes,
    review_l5_the_second_factor_cookie_is_single_use_and_bound_to_the_credentials,
    review_m2_reset_requests_are_throttled_and_not_resent_at_once,
    review_m2_sign_up_is_throttled_before_hashing,
    review_l6_reset_needs_an_active_account_and_a_failed_reset_keeps_its_link,
    review_l4_secure_cookies_use_the_host_prefix,
    review_l12_unknown_names_are_not_recorded_as_typed,
    review_l2_sign_in_widens_form_action_only_for_web_origins,
    review_m3_the_purge_removes_spent_reset_links_and_challenges,
    issue19_admins_are_told_about_sign_up_requests,
    issue19_a_silent_mail_server_does_not_hold_up_sign_up,
);
