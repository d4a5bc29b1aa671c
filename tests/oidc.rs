//! The OpenID Connect provider through the real router, on both databases:
//! discovery, the code flow with PKCE, id_tokens verified against the JWKS
//! with an independent JWT library, refresh rotation, replay and reuse
//! detection, client authentication, consent, logout, and Bearer tokens on
//! the JSON API and DAV.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use common::{TestApp, TestDb, test_auth_config};
use http_body_util::BodyExt;
use madang::app::AppState;
use madang::clock::{Clock, ManualClock};
use madang::config::OidcConfig;
use madang::domain::User;
use madang::oidc::clients::NewClient;
use madang::store::oidc::{PkcePolicy, SigningAlg};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const ISSUER: &str = "https://id.example.test/";
const CB: &str = "https://rp.example.test/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    /// The parameters of the redirect's query.
    fn query(&self) -> HashMap<String, String> {
        let location = self.location();
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// `name=value` of the cookie this reply sets, if any.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .find(|pair| pair.split_once('=').is_some_and(|(k, _)| k == name))
    }

    fn csrf(&self) -> String {
        let start = r#"name="csrf" value=""#;
        let from = self.text.find(start).unwrap_or_else(|| panic!("no CSRF field in {}", self.text)) + start.len();
        let to = self.text[from..].find('"').unwrap() + from;
        self.text[from..to].to_string()
    }
}

struct Env {
    /// Keeps the app (and its store) alive for the test.
    _app: TestApp,
    state: AppState,
    clock: Arc<ManualClock>,
    user: User,
    /// `madang_session=…` of a signed-in browser.
    cookie: String,
}

impl Env {
    async fn new(db: &TestDb) -> Env {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = TestApp::with(db, test_auth_config(), clock.clone()).await;
        let state = app.state.clone().with_oidc(OidcConfig { issuer: ISSUER.into(), ..OidcConfig::default() });
        let user = app.add_user("alice", "correct horse").await;
        let mut env = Env { _app: app, state, clock, user, cookie: String::new() };
        env.cookie = env.sign_in(&["pwd"]).await;
        env
    }

    async fn sign_in(&self, amr: &[&str]) -> String {
        let client = madang::web::Client { address: None, secure: false, user_agent: "test".into() };
        let (_, set_cookie) = madang::web::session::start(&self.state, &self.user, amr, &client).await.unwrap();
        set_cookie.to_str().unwrap().split(';').next().unwrap().to_string()
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let response = madang::app::app(self.state.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post_form(&self, uri: &str, form: &[(&str, &str)], auth: Option<String>, cookie: Option<&str>) -> Reply {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            s.append_pair(k, v);
        }
        let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(s.finish())).unwrap()).await
    }

    async fn client(&self, id: &str, f: impl FnOnce(&mut NewClient)) -> Option<String> {
        let mut new = NewClient {
            client_id: id.into(),
            redirect_uris: vec![CB.into(), "http://127.0.0.1:8000/cb".into()],
            post_logout_redirect_uris: vec!["https://rp.example.test/bye".into()],
            first_party: true,
            ..NewClient::default()
        };
        f(&mut new);
        self.state.oidc.clients().create(new, None).await.unwrap().1
    }

    /// `GET /oauth2/authorize` with the usual parameters plus `extra`.
    async fn authorize(&self, client_id: &str, extra: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("response_type", "code");
        s.append_pair("client_id", client_id);
        if !extra.iter().any(|(k, _)| *k == "redirect_uri") {
            s.append_pair("redirect_uri", CB);
        }
        if !extra.iter().any(|(k, _)| *k == "scope") {
            s.append_pair("scope", "openid profile email groups");
        }
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        self.get(&format!("/oauth2/authorize?{}", s.finish()), cookie).await
    }

    /// A code for `client_id` with PKCE, state and nonce.
    async fn code(&self, client_id: &str) -> String {
        let reply = self
            .authorize(
                client_id,
                &[
                    ("state", "st"),
                    ("nonce", "n-0S6"),
                    ("code_challenge", &challenge()),
                    ("code_challenge_method", "S256"),
                ],
                Some(&self.cookie),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text);
        let q = reply.query();
        assert!(reply.location().starts_with(CB), "{}", reply.location());
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], ISSUER, "RFC 9207");
        q["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
        let auth = basic.map(|(id, secret)| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
        self.post_form("/oauth2/token", form, auth, None).await
    }

    async fn redeem(&self, code: &str, id: &str, secret: &str) -> Reply {
        self.token(
            &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB), ("code_verifier", VERIFIER)],
            Some((id, secret)),
        )
        .await
    }

    async fn userinfo(&self, token: &str) -> Reply {
        let req = Request::get("/oauth2/userinfo").header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// Verifies an id_token against the published JWKS with `jsonwebtoken`.
    async fn verify(&self, id_token: &str, aud: &str) -> Value {
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&self.get("/oauth2/jwks", None).await.text).unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        let kid = header.kid.clone().expect("kid");
        let jwk = jwks.find(&kid).unwrap_or_else(|| panic!("kid {kid} not published"));
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[aud]);
        jsonwebtoken::decode::<Value>(id_token, &key, &validation).unwrap().claims
    }
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

async fn discovery_and_jwks(db: &TestDb) {
    let env = Env::new(db).await;
    let d = env.get("/.well-known/openid-configuration", None).await.json();
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(d["token_endpoint"], "https://id.example.test/oauth2/token");
    assert_eq!(d["jwks_uri"], "https://id.example.test/oauth2/jwks");
    assert_eq!(d["end_session_endpoint"], "https://id.example.test/oauth2/logout");
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let jwks = env.get("/oauth2/jwks", None).await.json();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"ES256"), "{jwks}");
    assert!(keys.iter().all(|k| k["kid"].as_str().is_some_and(|s| !s.is_empty()) && k.get("d").is_none()));
}

async fn code_flow_with_pkce_and_verified_id_token(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    let reply = env.redeem(&code, "rp", &secret).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    let t = reply.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 600);
    assert_eq!(t["scope"], "openid profile email groups");
    let access = t["access_token"].as_str().unwrap();
    let claims = env.verify(t["id_token"].as_str().unwrap(), "rp").await;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], "rp");
    assert_eq!(claims["nonce"], "n-0S6");
    assert!(claims["exp"].is_i64() && claims["iat"].is_i64() && claims["auth_time"].is_i64());
    let expected_at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
    assert_eq!(claims["at_hash"], expected_at_hash.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["nickname"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], false, "never claimed verified unless proved");
    assert_eq!(claims["groups"], serde_json::json!([]));
    let subject = env.state.store.user_subject(env.user.id).await.unwrap();
    assert_eq!(claims["sub"], subject.as_str());

    let info = env.userinfo(access).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);
    assert_eq!(info.json()["sub"], subject.as_str());
    assert_eq!(info.json()["email"], "alice@example.com");
    let posted = env.post_form("/oauth2/userinfo", &[("access_token", access)], None, None).await;
    assert_eq!(posted.json()["sub"], subject.as_str());
    assert_eq!(env.userinfo("nope").await.status, StatusCode::UNAUTHORIZED);
}

async fn es256_id_tokens_and_otp_amr(db: &TestDb) {
    let mut env = Env::new(db).await;
    env.cookie = env.sign_in(&["pwd", "otp"]).await;
    let secret = env.client("rp", |c| c.id_token_alg = Some(SigningAlg::ES256)).await.unwrap();
    let code = env.code("rp").await;
    let t = env.redeem(&code, "rp", &secret).await.json();
    let id_token = t["id_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(id_token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
    let claims = env.verify(id_token, "rp").await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

async fn nonce_only_when_sent(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |c| c.pkce = Some(PkcePolicy::Optional)).await.unwrap();
    let reply = env.authorize("rp", &[], Some(&env.cookie)).await;
    let code = reply.query()["code"].clone();
    assert!(!reply.query().contains_key("state"));
    let t = env
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)], Some(("rp", &secret)))
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let claims = env.verify(t.json()["id_token"].as_str().unwrap(), "rp").await;
    assert!(claims.get("nonce").is_none());
}

async fn refresh_rotation_and_reuse_revokes_the_family(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let first = env.redeem(&env.code("rp").await, "rp", &secret).await.json();
    let r1 = first["refresh_token"].as_str().unwrap();
    let refreshed = env.token(&[("grant_type", "refresh_token"), ("refresh_token", r1)], Some(("rp", &secret))).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let second = refreshed.json();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let claims = env.verify(second["id_token"].as_str().unwrap(), "rp").await;
    assert!(claims.get("nonce").is_none(), "no nonce on refresh");
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(env.userinfo(a2).await.status, StatusCode::OK);
    // Reusing the rotated token kills the family: r2 and a2 too.
    let reuse = env.token(&[("grant_type", "refresh_token"), ("refresh_token", r1)], Some(("rp", &secret))).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let after = env.token(&[("grant_type", "refresh_token"), ("refresh_token", r2)], Some(("rp", &secret))).await;
    assert_eq!(after.json()["error"], "invalid_grant");
    assert_eq!(env.userinfo(a2).await.status, StatusCode::UNAUTHORIZED);
    // A narrower scope may be asked for, a wider one not.
    let other = env.redeem(&env.code("rp").await, "rp", &secret).await.json();
    let r = other["refresh_token"].as_str().unwrap();
    let wide = env
        .token(&[("grant_type", "refresh_token"), ("refresh_token", r), ("scope", "openid api")], Some(("rp", &secret)))
        .await;
    assert_eq!(wide.json()["error"], "invalid_scope");
    let narrow = env
        .token(&[("grant_type", "refresh_token"), ("refresh_token", r), ("scope", "openid")], Some(("rp", &secret)))
        .await;
    assert_eq!(narrow.json()["scope"], "openid");
}

async fn code_replay_revokes_what_it_issued(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    let t = env.redeem(&code, "rp", &secret).await.json();
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(env.userinfo(access).await.status, StatusCode::OK);
    let replay = env.redeem(&code, "rp", &secret).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(env.userinfo(access).await.status, StatusCode::UNAUTHORIZED);
    let refresh = t["refresh_token"].as_str().unwrap();
    let r = env.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("rp", &secret))).await;
    assert_eq!(r.json()["error"], "invalid_grant");
}

async fn basic_then_post_with_the_same_code(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    // Go's oauth2 (Gitea): basic first; on failure, post with the same code.
    let wrong = env.redeem(&code, "rp", "not-the-secret").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(wrong.headers.contains_key(header::WWW_AUTHENTICATE));
    let post = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                ("client_id", "rp"),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text);
    // Both methods at once are refused.
    let both = env
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_secret", &secret)],
            Some(("rp", &secret)),
        )
        .await;
    assert_eq!(both.json()["error"], "invalid_request");
}

async fn pkce_rules(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let no_pkce = env.authorize("rp", &[("state", "s")], Some(&env.cookie)).await;
    assert_eq!(no_pkce.query()["error"], "invalid_request", "required by default");
    assert_eq!(no_pkce.query()["state"], "s");
    let plain = env
        .authorize("rp", &[("code_challenge", VERIFIER), ("code_challenge_method", "plain")], Some(&env.cookie))
        .await;
    assert_eq!(plain.query()["error"], "invalid_request", "plain refused");
    let code = env.code("rp").await;
    let wrong = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &"x".repeat(43)),
            ],
            Some(("rp", &secret)),
        )
        .await;
    assert_eq!(wrong.json()["error"], "invalid_grant");
    // Public clients: PKCE, no secret.
    env.client("app", |c| c.public = true).await;
    let code = env.code("app").await;
    let t = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
}

async fn bad_redirect_uris_are_shown_not_followed(db: &TestDb) {
    let env = Env::new(db).await;
    env.client("rp", |_| {}).await;
    for uri in ["https://evil.example/cb", "https://rp.example.test/cb/", "https://rp.example.test/cb?x=1"] {
        let reply = env.authorize("rp", &[("redirect_uri", uri)], Some(&env.cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(reply.location().is_empty(), "{uri}");
        assert!(reply.text.contains("not a registered redirect URI"), "{}", reply.text);
    }
    let unknown = env.authorize("nobody", &[], Some(&env.cookie)).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.location().is_empty());
    // See: issue 19 — loopback ports. RFC 8252 §7.3 lets a *native* app (a public client) listen
    // on any loopback port; a confidential client is a server with a fixed address, so its
    // redirect URIs match exactly, port included (RFC 9700 §2.1).
    let secret = env.client("server", |c| c.pkce = Some(PkcePolicy::Optional)).await.unwrap();
    let reply = env.authorize("server", &[("redirect_uri", "http://127.0.0.1:53123/cb")], Some(&env.cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "confidential client, other port: {}", reply.location());
    assert!(reply.location().is_empty());
    let registered = "http://127.0.0.1:8000/cb";
    let reply = env.authorize("server", &[("redirect_uri", registered)], Some(&env.cookie)).await;
    assert!(reply.location().starts_with("http://127.0.0.1:8000/cb?code="), "{}", reply.location());
    let code = reply.query()["code"].clone();
    let t = env
        .token(
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", registered)],
            Some(("server", &secret)),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    env.client("native", |c| c.public = true).await;
    let loopback = "http://127.0.0.1:53123/cb";
    let challenge = challenge();
    let pkce = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
    let reply = env.authorize("native", &[&pkce[..], &[("redirect_uri", loopback)]].concat(), Some(&env.cookie)).await;
    assert!(reply.location().starts_with("http://127.0.0.1:53123/cb?code="), "{}", reply.location());
    let code = reply.query()["code"].clone();
    let t = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", loopback),
                ("code_verifier", VERIFIER),
                ("client_id", "native"),
            ],
            None,
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let other_path = env
        .authorize(
            "native",
            &[&pkce[..], &[("redirect_uri", "http://127.0.0.1:53123/other")]].concat(),
            Some(&env.cookie),
        )
        .await;
    assert_eq!(other_path.status, StatusCode::BAD_REQUEST);
}

async fn sign_in_prompt_and_max_age(db: &TestDb) {
    let env = Env::new(db).await;
    env.client("rp", |c| c.pkce = Some(PkcePolicy::Optional)).await;
    let none = env.authorize("rp", &[("prompt", "none"), ("state", "s")], None).await;
    assert_eq!(none.status, StatusCode::FOUND);
    assert_eq!(none.query()["error"], "login_required");
    assert_eq!(none.query()["state"], "s");
    assert_eq!(none.query()["iss"], ISSUER);
    let signed_out = env.authorize("rp", &[], None).await;
    assert!(signed_out.location().starts_with("/signin?next=/oauth2/authorize%3F"), "{}", signed_out.location());
    // max_age exceeded: sign in again, then the same request goes through.
    env.clock.advance(Duration::from_secs(120));
    let stale = env.authorize("rp", &[("max_age", "60")], Some(&env.cookie)).await;
    let location = stale.location().to_string();
    assert!(location.starts_with("/signin?next=") && location.ends_with("&reauth=1"), "{location}");
    let next: String = form_urlencoded::parse(location.trim_start_matches("/signin?").as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(next.starts_with("/oauth2/authorize?") && next.contains("madang_login_after="), "{next}");
    // The marker is bound to a cookie of this browser.
    let browser = stale.set_cookie("madang_oidc_browser").expect("browser cookie");
    // The old session still cannot pass; a fresh one can.
    let old = format!("{}; {browser}", env.cookie);
    assert!(env.get(&next, Some(&old)).await.location().starts_with("/signin"));
    let fresh = format!("{}; {browser}", env.sign_in(&["pwd"]).await);
    let done = env.get(&next, Some(&fresh)).await;
    assert!(done.location().starts_with(CB) && done.query().contains_key("code"), "{}", done.location());
    // prompt=login always asks once.
    let login = env.authorize("rp", &[("prompt", "login")], Some(&fresh)).await;
    assert!(login.location().starts_with("/signin?"), "{}", login.location());
}

async fn consent_is_asked_remembered_and_skipped_for_first_party(db: &TestDb) {
    let env = Env::new(db).await;
    env.client("third", |c| {
        c.first_party = false;
        c.pkce = Some(PkcePolicy::Optional);
    })
    .await;
    let none = env.authorize("third", &[("prompt", "none")], Some(&env.cookie)).await;
    assert_eq!(none.query()["error"], "consent_required");
    let reply = env.authorize("third", &[("state", "s")], Some(&env.cookie)).await;
    assert!(reply.location().starts_with("/oauth2/consent?"), "{}", reply.location());
    let page = env.get(reply.location(), Some(&env.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Your e-mail address"), "{}", page.text);
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("form-action 'self' https://rp.example.test"), "{csp}");
    let request = reply.location().trim_start_matches("/oauth2/consent?").to_string();
    let no_csrf = env
        .post_form("/oauth2/consent", &[("request", &request), ("decision", "allow")], None, Some(&env.cookie))
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let deny = env
        .post_form(
            "/oauth2/consent",
            &[("request", &request), ("decision", "deny"), ("csrf", &page.csrf())],
            None,
            Some(&env.cookie),
        )
        .await;
    assert_eq!(deny.status, StatusCode::SEE_OTHER);
    assert_eq!(deny.query()["error"], "access_denied");
    let allow = env
        .post_form(
            "/oauth2/consent",
            &[("request", &request), ("decision", "allow"), ("csrf", &page.csrf())],
            None,
            Some(&env.cookie),
        )
        .await;
    assert_eq!(allow.status, StatusCode::SEE_OTHER);
    assert!(allow.query().contains_key("code") && allow.query()["state"] == "s", "{}", allow.location());
    // Remembered for the same (or a smaller) scope set; asked for more.
    let again = env.authorize("third", &[("scope", "openid email")], Some(&env.cookie)).await;
    assert!(again.query().contains_key("code"), "{}", again.location());
    let more = env.authorize("third", &[("scope", "openid offline_access")], Some(&env.cookie)).await;
    assert!(more.location().starts_with("/oauth2/consent?"), "{}", more.location());
    let forced = env.authorize("third", &[("prompt", "consent")], Some(&env.cookie)).await;
    assert!(forced.location().starts_with("/oauth2/consent?"), "{}", forced.location());
}

async fn revocation_and_introspection(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let t = env.redeem(&env.code("rp").await, "rp", &secret).await.json();
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    let anonymous = env.post_form("/oauth2/introspect", &[("token", access)], None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let basic = Some(format!("Basic {}", STANDARD.encode(format!("rp:{secret}"))));
    let info = env.post_form("/oauth2/introspect", &[("token", access)], basic.clone(), None).await.json();
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "rp");
    assert_eq!(info["username"], "alice");
    assert_eq!(info["scope"], "openid profile email groups");
    let revoked = env.post_form("/oauth2/revoke", &[("token", access)], basic.clone(), None).await;
    assert_eq!(revoked.status, StatusCode::OK);
    let info = env.post_form("/oauth2/introspect", &[("token", access)], basic.clone(), None).await.json();
    assert_eq!(info, serde_json::json!({ "active": false }));
    assert_eq!(env.userinfo(access).await.status, StatusCode::UNAUTHORIZED);
    // Unknown tokens are not an error (RFC 7009 §2.2).
    let unknown = env.post_form("/oauth2/revoke", &[("token", "whatever")], basic.clone(), None).await;
    assert_eq!(unknown.status, StatusCode::OK);
    // Revoking the refresh token ends the grant.
    env.post_form("/oauth2/revoke", &[("token", refresh), ("token_type_hint", "refresh_token")], basic, None).await;
    let r = env.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("rp", &secret))).await;
    assert_eq!(r.json()["error"], "invalid_grant");
}

async fn end_session_without_id_token_hint(db: &TestDb) {
    let env = Env::new(db).await;
    env.client("rp", |_| {}).await;
    let bye = "https://rp.example.test/bye";
    let unregistered = env
        .get("/oauth2/logout?client_id=rp&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", Some(&env.cookie))
        .await;
    assert_eq!(unregistered.status, StatusCode::BAD_REQUEST);
    assert!(unregistered.location().is_empty());
    let uri = format!("/oauth2/logout?client_id=rp&post_logout_redirect_uri={}&state=xyz", urlencode(bye));
    let confirm = env.get(&uri, Some(&env.cookie)).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    let form = [
        ("client_id", "rp"),
        ("post_logout_redirect_uri", bye),
        ("state", "xyz"),
        ("decision", "signout"),
        ("csrf", &confirm.csrf()),
    ];
    let out = env.post_form("/oauth2/logout", &form, None, Some(&env.cookie)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "https://rp.example.test/bye?state=xyz");
    assert!(madang::web::session::current(&env.state, &cookie_headers(&env.cookie)).await.is_none());
    // Nobody signed in: straight back.
    let direct = env.get(&uri, None).await;
    assert_eq!(direct.status, StatusCode::FOUND);
    assert_eq!(direct.location(), "https://rp.example.test/bye?state=xyz");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn cookie_headers(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::COOKIE, cookie.parse().unwrap());
    h
}

async fn bearer_tokens_on_the_api_and_dav(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |c| c.scopes = Some(vec!["openid api dav".into()])).await.unwrap();
    let code = env
        .authorize(
            "rp",
            &[("scope", "openid api dav"), ("code_challenge", &challenge()), ("code_challenge_method", "S256")],
            Some(&env.cookie),
        )
        .await
        .query()["code"]
        .clone();
    let t = env.redeem(&code, "rp", &secret).await.json();
    let access = t["access_token"].as_str().unwrap().to_string();
    let me = env
        .send(
            Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["authenticated_with"], "bearer");
    let dav = env
        .send(
            Request::builder()
                .method("PROPFIND")
                .uri("/dav/calendars/alice/")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .header("Depth", "0")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(dav.status.as_u16(), 207, "{}", dav.text);
    // An identity-only token opens neither.
    let secret2 = env.client("idonly", |_| {}).await.unwrap();
    let t2 = env.redeem(&env.code("idonly").await, "idonly", &secret2).await.json();
    let id_only = t2["access_token"].as_str().unwrap();
    let refused = env
        .send(
            Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, format!("Bearer {id_only}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // Short-lived: refused after `oidc.access_token_lifetime`.
    env.clock.advance(Duration::from_secs(601));
    let expired = env
        .send(
            Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.userinfo(&access).await.status, StatusCode::UNAUTHORIZED);
    // The refresh token still works.
    let r = env
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
            Some(("rp", &secret)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn expired_codes_are_refused(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    env.clock.advance(Duration::from_secs(61));
    assert_eq!(env.redeem(&code, "rp", &secret).await.json()["error"], "invalid_grant");
}

async fn key_rotation_keeps_the_old_key_published(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let before = env.redeem(&env.code("rp").await, "rp", &secret).await.json();
    let old_token = before["id_token"].as_str().unwrap().to_string();
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();
    let new_kids = env.state.oidc.keys.rotate(env.clock.now(), env.state.oidc.key_retention()).await.unwrap();
    let after = env.redeem(&env.code("rp").await, "rp", &secret).await.json();
    let new_kid = jsonwebtoken::decode_header(after["id_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(new_kids.contains(&new_kid));
    env.verify(&old_token, "rp").await;
    let kids = |v: Value| {
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert!(kids(env.get("/oauth2/jwks", None).await.json()).contains(&old_kid));
    // Once every token it signed has expired (plus a margin), it goes.
    env.clock.advance(Duration::from_secs(600 + 3600 + 1));
    let published = kids(env.get("/oauth2/jwks", None).await.json());
    assert!(!published.contains(&old_kid) && published.contains(&new_kid), "{published:?}");
}

async fn audit_records_token_reuse_and_client_changes(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    env.redeem(&code, "rp", &secret).await;
    env.redeem(&code, "rp", &secret).await;
    let new = env.state.oidc.clients().rotate_secret("rp", None).await.unwrap();
    assert_ne!(new, secret);
    let wrong = env.redeem(&env.code("rp").await, "rp", &secret).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "the old secret stops working");
    let query = madang::store::audit::AuditQuery { before: None, action: Some("oidc.".into()), user: None, limit: 100 };
    let log = serde_json::to_string(&env.state.store.audit_records(&query).await.unwrap()).unwrap();
    for action in ["oidc.client.create", "oidc.token_reuse", "oidc.client.rotate_secret"] {
        assert!(log.contains(action), "{action} missing from {log}");
    }
}

/// Conformance finding F1 (Authlib suite): inside the nested `/api/v1`
/// router the path had lost its prefix, so a DAV-only token opened the JSON
/// API and an API-only token did not. Each scope opens exactly its resource,
/// and refusals carry the Bearer challenge (RFC 6750 §3.1).
async fn each_scope_opens_only_its_resource_conformance_f1(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |c| c.scopes = Some(vec!["openid api dav".into()])).await.unwrap();
    let mut tokens = Vec::new();
    for scope in ["openid dav", "openid api"] {
        let code = env
            .authorize(
                "rp",
                &[("scope", scope), ("code_challenge", &challenge()), ("code_challenge_method", "S256")],
                Some(&env.cookie),
            )
            .await
            .query()["code"]
            .clone();
        let t = env.redeem(&code, "rp", &secret).await.json();
        tokens.push(t["access_token"].as_str().unwrap().to_string());
    }
    let api = |token: &str| {
        Request::get("/api/v1/me").header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap()
    };
    let dav = |token: &str| {
        Request::builder()
            .method("PROPFIND")
            .uri("/dav/calendars/alice/")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("Depth", "0")
            .body(Body::empty())
            .unwrap()
    };
    let (dav_only, api_only) = (&tokens[0], &tokens[1]);
    let refused = env.send(api(dav_only)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "a DAV-only token must not open the JSON API");
    let challenge = refused.headers.get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap();
    assert!(challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_eq!(env.send(dav(dav_only)).await.status.as_u16(), 207);
    assert_eq!(env.send(api(api_only)).await.status, StatusCode::OK);
    assert_eq!(env.send(dav(api_only)).await.status, StatusCode::UNAUTHORIZED);
}

/// The `authorization_code` and `refresh_token` grants for `client`, as
/// `(access_token, refresh_token, id_token)`.
async fn tokens(env: &Env, client: &str, secret: &str) -> (String, String, String) {
    let t = env.redeem(&env.code(client).await, client, secret).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let t = t.json();
    let get = |k: &str| t[k].as_str().unwrap().to_string();
    (get("access_token"), get("refresh_token"), get("id_token"))
}

async fn refresh(env: &Env, refresh_token: &str, client: &str, secret: &str) -> Reply {
    env.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)], Some((client, secret))).await
}

/// Review finding H2: a password change or reset left every OAuth grant
/// alive, so whoever had signed in to a client with a stolen password kept
/// access after the owner changed it.
async fn review_h2_password_change_revokes_oauth_grants(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let (access, refresh_token, _) = tokens(&env, "rp", &secret).await;
    let pending_code = env.code("rp").await;
    // Turning TOTP off is deliberately no reason to revoke (go-gitea/gitea#34742).
    env.state.store.disable_totp(env.user.id, env.clock.now()).await.unwrap();
    assert_eq!(env.userinfo(&access).await.status, StatusCode::OK);

    env.state.accounts.set_password("alice", "a brand new password", None).await.unwrap();
    assert_eq!(env.userinfo(&access).await.status, StatusCode::UNAUTHORIZED, "access tokens stop at once");
    let r = refresh(&env, &refresh_token, "rp", &secret).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_grant");
    let basic = Some(format!("Basic {}", STANDARD.encode(format!("rp:{secret}"))));
    let info = env.post_form("/oauth2/introspect", &[("token", &refresh_token)], basic, None).await.json();
    assert_eq!(info, serde_json::json!({ "active": false }));
    let late = env.redeem(&pending_code, "rp", &secret).await;
    assert_eq!(late.json()["error"], "invalid_grant", "a code issued before the change is worthless");
    // A new sign-in gets new, working tokens.
    let mut env = env;
    env.cookie = env.sign_in(&["pwd"]).await;
    let (access, _, _) = tokens(&env, "rp", &secret).await;
    assert_eq!(env.userinfo(&access).await.status, StatusCode::OK);
}

/// Review finding M3: codes, tokens and grants were never deleted. The
/// purge removes what is dead and never a grant whose refresh token works.
async fn review_m3_purge_removes_dead_rows_and_keeps_live_grants(db: &TestDb) {
    let env = Env::new(db).await;
    let store = &env.state.store;
    let hash = |t: &str| env.state.oidc.hash(t);
    let secret = env.client("rp", |_| {}).await.unwrap();
    let (live_access, live_refresh, _) = tokens(&env, "rp", &secret).await;
    let (_, revoked_refresh, _) = tokens(&env, "rp", &secret).await;
    let basic = Some(format!("Basic {}", STANDARD.encode(format!("rp:{secret}"))));
    env.post_form("/oauth2/revoke", &[("token", &revoked_refresh)], basic, None).await;
    let (_, rotated, _) = tokens(&env, "rp", &secret).await;
    let successor = refresh(&env, &rotated, "rp", &secret).await.json();
    let successor = successor["refresh_token"].as_str().unwrap().to_string();
    let unused_code = env.code("rp").await;
    assert_eq!(store.purge_oauth(env.clock.now()).await.unwrap(), 0, "nothing is dead yet");

    // Two days on: every access token has expired, the refresh tokens live.
    env.clock.advance(Duration::from_secs(2 * 86_400));
    assert!(store.purge_oauth(env.clock.now()).await.unwrap() > 0);
    assert!(store.oauth_token(&hash(&live_access)).await.unwrap().is_none(), "expired access token");
    assert!(store.oauth_token(&hash(&revoked_refresh)).await.unwrap().is_none(), "revoked grant");
    assert!(store.oauth_code(&hash(&unused_code)).await.unwrap().is_none(), "expired code");
    let kept = store.oauth_token(&hash(&rotated)).await.unwrap();
    assert!(kept.is_some(), "a rotated refresh token stays until it would expire, so reuse is still caught");
    assert_eq!(refresh(&env, &live_refresh, "rp", &secret).await.status, StatusCode::OK, "live grant kept");
    assert_eq!(refresh(&env, &successor, "rp", &secret).await.status, StatusCode::OK);

    // Past the refresh lifetime (30 days) and the margin, nothing is left.
    env.clock.advance(Duration::from_secs(40 * 86_400));
    store.purge_oauth(env.clock.now()).await.unwrap();
    assert!(store.oauth_token(&hash(&rotated)).await.unwrap().is_none());
    assert_eq!(store.purge_oauth(env.clock.now()).await.unwrap(), 0);
    // The flow still works afterwards.
    let mut env = env;
    env.cookie = env.sign_in(&["pwd"]).await;
    tokens(&env, "rp", &secret).await;
}

/// Review finding M4: `GET /oauth2/jwks` wrote to the database on every
/// call. It now only reads; retired keys are deleted by the next rotation.
async fn review_m4_jwks_only_reads_and_rotation_prunes(db: &TestDb) {
    let env = Env::new(db).await;
    let oidc = &env.state.oidc;
    let kids = |v: Value| {
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let first = kids(env.get("/oauth2/jwks", None).await.json());
    assert_eq!(first.len(), 2, "first use makes one key per algorithm");
    oidc.keys.rotate(env.clock.now(), oidc.key_retention()).await.unwrap();
    env.clock.advance(Duration::from_secs(600 + 3600 + 1));
    let published = kids(env.get("/oauth2/jwks", None).await.json());
    assert!(first.iter().all(|k| !published.contains(k)), "expired keys are no longer published");
    let stored: Vec<String> = env.state.store.oidc_signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert!(first.iter().all(|k| stored.contains(k)), "the GET deleted nothing");
    oidc.keys.rotate(env.clock.now(), oidc.key_retention()).await.unwrap();
    let stored: Vec<String> = env.state.store.oidc_signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert!(first.iter().all(|k| !stored.contains(k)), "the rotation deleted them");
    assert_eq!(stored.len(), 4, "two current keys and the two just retired: {stored:?}");

    // Another process rotates: this one publishes the new key as soon as it
    // signs with it, although its copy of the key set is still fresh.
    let secret = env.client("rp", |_| {}).await.unwrap();
    env.get("/oauth2/jwks", None).await;
    let other = madang::oidc::keys::KeyRing::new(env.state.store.clone(), env.state.web.secretbox.clone());
    let fresh = other.rotate(env.clock.now(), oidc.key_retention()).await.unwrap();
    // Conformance (Authlib, after `madang oidc rotate-keys`): a key another
    // process just made is in this process's JWK Set at once, before this
    // process signs anything with it — behind a load balancer the relying
    // party may fetch the set from a process that has not signed yet.
    let jwks = env.get("/oauth2/jwks", None).await.json();
    for kid in &fresh {
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()), "{kid} not published");
    }
    let (_, _, id_token) = tokens(&env, "rp", &secret).await;
    env.verify(&id_token, "rp").await;
}

/// Review finding M6: `madang_login_after` was taken on trust, so adding
/// `&madang_login_after=0` to a link skipped `prompt=login` and `max_age`.
async fn review_m6_login_marker_cannot_be_forged_or_borrowed(db: &TestDb) {
    let env = Env::new(db).await;
    env.client("rp", |c| c.pkce = Some(PkcePolicy::Optional)).await;
    env.clock.advance(Duration::from_secs(120));
    for (name, value) in [("forged", "0"), ("forged with a MAC", "0.AAAA"), ("no MAC", "1")] {
        let reply = env.authorize("rp", &[("prompt", "login"), ("madang_login_after", value)], Some(&env.cookie)).await;
        assert!(reply.location().starts_with("/signin?"), "{name}: {}", reply.location());
        let reply = env.authorize("rp", &[("max_age", "60"), ("madang_login_after", value)], Some(&env.cookie)).await;
        assert!(reply.location().starts_with("/signin?"), "{name}: {}", reply.location());
    }
    // A real marker, made for the attacker's browser, is worthless in the
    // victim's: the victim's recent session does not pass prompt=login.
    let attacker = env.authorize("rp", &[("prompt", "login")], None).await;
    let location = attacker.location().to_string();
    let next: String = form_urlencoded::parse(location.trim_start_matches("/signin?").as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let victim = env.sign_in(&["pwd"]).await;
    assert!(env.get(&next, Some(&victim)).await.location().starts_with("/signin?"));
    let other_browser = format!("{victim}; madang_oidc_browser=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert!(env.get(&next, Some(&other_browser)).await.location().starts_with("/signin?"));
    // In the browser it was made for, it does its job.
    let own = format!("{victim}; {}", attacker.set_cookie("madang_oidc_browser").unwrap());
    assert!(env.get(&next, Some(&own)).await.query().contains_key("code"));
}

/// Review finding M5: `invalid_grant` is also the answer to a wrong
/// redirect_uri or code_verifier, and the code stays redeemable then
/// (docs/rfcs/rfc6749.md says so now).
async fn review_m5_mismatches_are_invalid_grant_and_keep_the_code(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let code = env.code("rp").await;
    let wrong_uri = env
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:8000/cb"),
                ("code_verifier", VERIFIER),
            ],
            Some(("rp", &secret)),
        )
        .await;
    assert_eq!(wrong_uri.json()["error"], "invalid_grant");
    let bad_verifier = env
        .token(
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", "short")],
            Some(("rp", &secret)),
        )
        .await;
    assert_eq!(bad_verifier.json()["error"], "invalid_grant", "RFC 7636 §4.6, also for a malformed verifier");
    assert_eq!(env.redeem(&code, "rp", &secret).await.status, StatusCode::OK);
}

/// Review finding L1: lifetimes were added with a panicking `+`. Even a
/// lifetime no configuration may hold any more gives tokens, not a panic.
async fn review_l1_huge_lifetimes_saturate(db: &TestDb) {
    let mut env = Env::new(db).await;
    let forever = Duration::from_secs(100_000 * 365 * 86_400);
    let config = OidcConfig { issuer: ISSUER.into(), access_token_lifetime: forever, refresh_token_lifetime: forever };
    env.state = env.state.clone().with_oidc(config);
    let secret = env.client("rp", |_| {}).await.unwrap();
    let (access, refresh_token, id_token) = tokens(&env, "rp", &secret).await;
    assert_eq!(env.userinfo(&access).await.status, StatusCode::OK);
    assert_eq!(refresh(&env, &refresh_token, "rp", &secret).await.status, StatusCode::OK);
    assert_eq!(env.get("/oauth2/jwks", None).await.status, StatusCode::OK);
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(id_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(claims["exp"].as_i64().unwrap() > Utc::now().timestamp());
}

/// Review finding L7: introspection called a refresh token's type
/// "refresh_token"; `token_type` is an access token's type (RFC 7662 §2.2).
async fn review_l7_introspection_has_no_token_type_for_refresh_tokens(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let (access, refresh_token, _) = tokens(&env, "rp", &secret).await;
    let basic = Some(format!("Basic {}", STANDARD.encode(format!("rp:{secret}"))));
    let info = env.post_form("/oauth2/introspect", &[("token", &access)], basic.clone(), None).await.json();
    assert_eq!(info["token_type"], "Bearer");
    let info = env.post_form("/oauth2/introspect", &[("token", &refresh_token)], basic, None).await.json();
    assert_eq!(info["active"], true);
    assert!(info.get("token_type").is_none(), "{info}");
}

/// Review finding L8: prompt=consent was ignored for first-party clients,
/// and prompt=none answered for whoever was signed in, even when the
/// id_token_hint named someone else (OIDC Core §3.1.2.1, §3.1.2.6).
async fn review_l8_prompt_consent_and_id_token_hint(db: &TestDb) {
    let env = Env::new(db).await;
    let secret = env.client("rp", |_| {}).await.unwrap();
    let forced = env
        .authorize(
            "rp",
            &[("prompt", "consent"), ("code_challenge", &challenge()), ("code_challenge_method", "S256")],
            Some(&env.cookie),
        )
        .await;
    assert!(forced.location().starts_with("/oauth2/consent?"), "{}", forced.location());
    let page = env.get(forced.location(), Some(&env.cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);

    let (_, _, alice_token) = tokens(&env, "rp", &secret).await;
    let bob = env._app.add_user("bob", "bob's password").await;
    let client = madang::web::Client { address: None, secure: false, user_agent: "test".into() };
    let (_, bob_cookie) = madang::web::session::start(&env.state, &bob, &["pwd"], &client).await.unwrap();
    let bob_cookie = bob_cookie.to_str().unwrap().split(';').next().unwrap().to_string();
    let silent = |hint: String, cookie: String| {
        let env = &env;
        async move {
            env.authorize(
                "rp",
                &[
                    ("prompt", "none"),
                    ("id_token_hint", &hint),
                    ("code_challenge", &challenge()),
                    ("code_challenge_method", "S256"),
                ],
                Some(&cookie),
            )
            .await
        }
    };
    let other = silent(alice_token.clone(), bob_cookie).await;
    assert_eq!(other.query()["error"], "login_required", "{}", other.location());
    let same = silent(alice_token.clone(), env.cookie.clone()).await;
    assert!(same.query().contains_key("code"), "{}", same.location());
    // A hint that is not ours is ignored, as without one.
    let tampered = format!("{alice_token}x");
    assert!(silent(tampered, env.cookie.clone()).await.query().contains_key("code"));
}

/// Review finding L10: new signing keys took their time from `Utc::now()`
/// instead of the clock.
async fn review_l10_signing_keys_use_the_clock(db: &TestDb) {
    let env = Env::new(db).await;
    env.clock.advance(Duration::from_secs(10 * 365 * 86_400));
    let now = env.clock.now();
    env.state.oidc.keys.rotate(now, env.state.oidc.key_retention()).await.unwrap();
    let keys = env.state.store.oidc_signing_keys().await.unwrap();
    let newest = keys.iter().filter(|k| k.retired_at.is_none()).collect::<Vec<_>>();
    assert_eq!(newest.len(), 2);
    assert!(newest.iter().all(|k| (k.created_at - now).num_seconds().abs() < 1), "{:?}", newest[0].created_at);
}

/// Review finding L11: a redirect URI with non-ASCII characters could be
/// registered, and the 302 to it went out without a `Location`.
async fn review_l11_redirect_uris_must_be_ascii(db: &TestDb) {
    let env = Env::new(db).await;
    let new =
        |uri: &str| NewClient { client_id: "intl".into(), redirect_uris: vec![uri.into()], ..NewClient::default() };
    let refused = env.state.oidc.clients().create(new("https://rp.example.test/콜백"), None).await;
    assert!(
        matches!(refused, Err(madang::oidc::clients::ClientError::Invalid(ref m)) if m.contains("ASCII")),
        "{refused:?}"
    );
    let idn = env.state.oidc.clients().create(new("https://마당.example/cb"), None).await;
    assert!(idn.is_err(), "{idn:?}");
    let encoded = "https://rp.example.test/%EC%BD%9C%EB%B0%B1";
    env.state
        .oidc
        .clients()
        .create(NewClient { first_party: true, pkce: Some(PkcePolicy::Optional), ..new(encoded) }, None)
        .await
        .unwrap();
    let reply = env.authorize("intl", &[("redirect_uri", encoded)], Some(&env.cookie)).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert!(reply.location().starts_with(&format!("{encoded}?code=")), "{}", reply.location());
}

/// An administrator with two-step verification cannot use the admin API
/// with the account password (Basic refuses it once TOTP is on), so the
/// admin API also takes a token with the `admin` scope — which only a
/// first-party client may be allowed, and which opens nothing else.
async fn admin_scope_opens_the_admin_api_for_administrators_only(db: &TestDb) {
    let env = Env::new(db).await;
    // Only first-party clients may be allowed `admin`.
    let third = NewClient {
        client_id: "third".into(),
        redirect_uris: vec![CB.into()],
        scopes: Some(vec!["openid admin".into()]),
        ..NewClient::default()
    };
    let refused = env.state.oidc.clients().create(third, None).await;
    assert!(matches!(refused, Err(madang::oidc::clients::ClientError::Invalid(_))), "{refused:?}");
    let secret = env
        .client("console", |c| {
            c.scopes = Some(vec!["openid api admin".into()]);
            c.first_party = true;
        })
        .await
        .unwrap();
    let token = |scope: &'static str| {
        let env = &env;
        let secret = secret.clone();
        async move {
            let code = env
                .authorize(
                    "console",
                    &[("scope", scope), ("code_challenge", &challenge()), ("code_challenge_method", "S256")],
                    Some(&env.cookie),
                )
                .await
                .query()["code"]
                .clone();
            env.redeem(&code, "console", &secret).await.json()["access_token"].as_str().unwrap().to_string()
        }
    };
    let get = |path: &'static str, token: String| {
        Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap()
    };
    // alice is a member: an `admin` token opens nothing of the admin API.
    let member_admin = token("openid admin").await;
    assert_eq!(env.send(get("/api/v1/admin/users", member_admin)).await.status, StatusCode::FORBIDDEN);
    env.state.accounts.set_role("alice", madang::domain::Role::Admin).await.unwrap();
    let admin = token("openid admin").await;
    let api = token("openid api").await;
    let users = env.send(get("/api/v1/admin/users", admin.clone())).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text);
    // Each scope opens only its own part.
    assert_eq!(env.send(get("/api/v1/me", admin)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.send(get("/api/v1/admin/users", api.clone())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.send(get("/api/v1/me", api)).await.status, StatusCode::OK);
}

on_both_databases!(
    admin_scope_opens_the_admin_api_for_administrators_only,
    each_scope_opens_only_its_resource_conformance_f1,
    discovery_and_jwks,
    code_flow_with_pkce_and_verified_id_token,
    es256_id_tokens_and_otp_amr,
    nonce_only_when_sent,
    refresh_rotation_and_reuse_revokes_the_family,
    code_replay_revokes_what_it_issued,
    basic_then_post_with_the_same_code,
    pkce_rules,
    bad_redirect_uris_are_shown_not_followed,
    sign_in_prompt_and_max_age,
    consent_is_asked_remembered_and_skipped_for_first_party,
    revocation_and_introspection,
    end_session_without_id_token_hint,
    bearer_tokens_on_the_api_and_dav,
    expired_codes_are_refused,
    key_rotation_keeps_the_old_key_published,
    audit_records_token_reuse_and_client_changes,
    review_h2_password_change_revokes_oauth_grants,
    review_m3_purge_removes_dead_rows_and_keeps_live_grants,
    review_m4_jwks_only_reads_and_rotation_prunes,
    review_m5_mismatches_are_invalid_grant_and_keep_the_code,
    review_m6_login_marker_cannot_be_forged_or_borrowed,
    review_l1_huge_lifetimes_saturate,
    review_l7_introspection_has_no_token_type_for_refresh_tokens,
    review_l8_prompt_consent_and_id_token_hint,
    review_l10_signing_keys_use_the_clock,
    review_l11_redirect_uris_must_be_ascii,
);
