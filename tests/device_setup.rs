//! One-step device set-up through the real router, on both databases: Mozilla autoconfig and
//! Autodiscover as mail apps fetch them (fields read back from the parsed XML, the domain from
//! the address or the Host, 404 while mail apps cannot connect, the same answer for any
//! address), and the Apple configuration profile from `/account/devices` (read back as a
//! property list; its app password works over CalDAV and through `MailProxy::login` by
//! address, is listed, audited and revocable; CSRF and sessions keep it to its own user).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::browser::Browser;
use common::dav::{PASSWORD, basic, users};
use common::{TestApp, TestDb};
use http_body_util::BodyExt;
use madang::config::MailProxyConfig;
use madang::mailproxy::{LoginError, Secret};
use madang::modules::Module;
use madang_dav::xml::{Element, Node, parse_document};
use tower::ServiceExt;

on_both_databases!(
    autoconfig_answers_only_when_mail_apps_can_connect,
    autoconfig_tells_the_servers_for_the_domain_asked_about,
    autodiscover_answers_a_thunderbird_request,
    the_profile_sets_up_calendar_and_contacts_with_a_device_password,
    the_profile_adds_mail_for_linked_accounts,
    profiles_are_only_for_the_signed_in_user,
);

const WELL_KNOWN: &str = "/.well-known/autoconfig/mail/config-v1.1.xml";
const AUTOCONFIG_HOST: &str = "/mail/config-v1.1.xml";

fn listeners() -> MailProxyConfig {
    let addr = |port: u16| Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    MailProxyConfig {
        imaps_listen: addr(1993),
        imap_listen: addr(1143),
        submissions_listen: addr(1465),
        submission_listen: addr(1587),
        hostname: "mail.example.com".into(),
        ..MailProxyConfig::default()
    }
}

/// Users alice and bob; mail apps can connect (listeners configured, the mail module on).
async fn app_with_mail(db: &TestDb) -> TestApp {
    let mut app = TestApp::new(db).await;
    users(&app, &["alice", "bob"]).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    app.state = app.state.clone().with_mailproxy(listeners());
    app
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

async fn send(app: &TestApp, req: Request<Body>) -> Answer {
    let response = app.router().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(app: &TestApp, path: &str, host: &str) -> Answer {
    send(app, Request::get(path).header(header::HOST, host).body(Body::empty()).unwrap()).await
}

fn xml(text: &str) -> Element {
    parse_document(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}")).expect("a document")
}

fn child<'a>(e: &'a Element, local: &str) -> &'a Element {
    e.elements().find(|c| c.name.local == local).unwrap_or_else(|| panic!("no <{local}> in {e:?}"))
}

fn children<'a>(e: &'a Element, local: &'a str) -> Vec<&'a Element> {
    e.elements().filter(|c| c.name.local == local).collect()
}

fn text(e: &Element, local: &str) -> String {
    child(e, local).text()
}

// ----- autoconfig -----

async fn autoconfig_answers_only_when_mail_apps_can_connect(db: &TestDb) {
    let mut app = TestApp::new(db).await;
    // No listener configured.
    for path in [WELL_KNOWN, AUTOCONFIG_HOST] {
        assert_eq!(get(&app, path, "example.com").await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let body = r#"<Autodiscover><Request><EMailAddress>kim@example.com</EMailAddress></Request></Autodiscover>"#;
    let post = |path: &str| Request::post(path).body(Body::from(body)).unwrap();
    assert_eq!(send(&app, post("/autodiscover/autodiscover.xml")).await.status, StatusCode::NOT_FOUND);
    // Listeners, but the mail module off: still nothing to offer.
    app.state = app.state.clone().with_mailproxy(listeners());
    assert_eq!(get(&app, WELL_KNOWN, "example.com").await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&app, post("/autodiscover/autodiscover.xml")).await.status, StatusCode::NOT_FOUND);
    // Only IMAP: a mail app needs SMTP too.
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    let imap_only = MailProxyConfig { submissions_listen: None, submission_listen: None, ..listeners() };
    app.state = app.state.clone().with_mailproxy(imap_only);
    assert_eq!(get(&app, WELL_KNOWN, "example.com").await.status, StatusCode::NOT_FOUND);
    app.state = app.state.clone().with_mailproxy(listeners());
    assert_eq!(get(&app, WELL_KNOWN, "example.com").await.status, StatusCode::OK);
    assert_eq!(send(&app, post("/autodiscover/autodiscover.xml")).await.status, StatusCode::OK);
}

/// The servers of an autoconfig document: `(type, hostname, port, socketType, username, auth)`.
fn servers(provider: &Element, element: &str) -> Vec<(String, String, String, String, String, String)> {
    children(provider, element)
        .into_iter()
        .map(|s| {
            (
                s.attr("type").unwrap_or_default().to_string(),
                text(s, "hostname"),
                text(s, "port"),
                text(s, "socketType"),
                text(s, "username"),
                text(s, "authentication"),
            )
        })
        .collect()
}

async fn autoconfig_tells_the_servers_for_the_domain_asked_about(db: &TestDb) {
    let app = app_with_mail(db).await;
    let r = get(&app, &format!("{WELL_KNOWN}?emailaddress=Kim%40Example.ORG"), "example.org").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/xml; charset=utf-8");
    let root = xml(&r.text);
    assert_eq!((root.name.local.as_ref(), root.attr("version")), ("clientConfig", Some("1.1")));
    let provider = child(&root, "emailProvider");
    assert_eq!(provider.attr("id"), Some("example.org"));
    assert_eq!(children(provider, "domain").iter().map(|d| d.text()).collect::<Vec<_>>(), ["example.org"]);
    let row = |kind: &str, port: &str, socket: &str| {
        (
            kind.to_string(),
            "mail.example.com".to_string(),
            port.to_string(),
            socket.to_string(),
            "%EMAILADDRESS%".to_string(),
            "password-cleartext".to_string(),
        )
    };
    // Implicit TLS first (RFC 8314 §5.1), STARTTLS as the alternative.
    assert_eq!(servers(provider, "incomingServer"), [row("imap", "1993", "SSL"), row("imap", "1143", "STARTTLS")]);
    assert_eq!(servers(provider, "outgoingServer"), [row("smtp", "1465", "SSL"), row("smtp", "1587", "STARTTLS")]);
    assert!(!r.text.contains("plain") && !r.text.contains("<password"), "{}", r.text);

    // Without the address, from the Host (Thunderbird for Android): `autoconfig.` dropped.
    let r = get(&app, AUTOCONFIG_HOST, "autoconfig.example.net:443").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(child(&xml(&r.text), "emailProvider").attr("id"), Some("example.net"));
    let r = get(&app, WELL_KNOWN, "Example.NET").await;
    assert_eq!(child(&xml(&r.text), "emailProvider").attr("id"), Some("example.net"));
    // A Host that is no host name: the mail host name. A broken address: the Host.
    let r = get(&app, WELL_KNOWN, "127.0.0.1:8080").await;
    assert_eq!(child(&xml(&r.text), "emailProvider").attr("id"), Some("127.0.0.1"));
    let r = get(&app, &format!("{WELL_KNOWN}?emailaddress=kim"), "example.net").await;
    assert_eq!(child(&xml(&r.text), "emailProvider").attr("id"), Some("example.net"));
    let r = get(&app, &format!("{WELL_KNOWN}?emailaddress=kim%40exa%3Cmple.com"), "[::1]").await;
    assert_eq!(child(&xml(&r.text), "emailProvider").attr("id"), Some("mail.example.com"));

    // Whether an address has an account is not told: alice@example.com is a user, nobody is not.
    let known = get(&app, &format!("{WELL_KNOWN}?emailaddress=alice%40example.com"), "example.com").await;
    let unknown = get(&app, &format!("{WELL_KNOWN}?emailaddress=nobody%40example.com"), "example.com").await;
    assert_eq!((known.status, known.text), (unknown.status, unknown.text));
}

// ----- Autodiscover -----

const THUNDERBIRD_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>kim@example.com</EMailAddress>
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
      </Request>
    </Autodiscover>"#;

fn autodiscover_request(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
        // Thunderbird sends the password it was given; it is never read.
        .header(header::AUTHORIZATION, basic("kim@example.com", "whatever"))
        .body(body.into())
        .unwrap()
}

async fn autodiscover_answers_a_thunderbird_request(db: &TestDb) {
    let app = app_with_mail(db).await;
    for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"] {
        let r = send(&app, autodiscover_request(path, THUNDERBIRD_REQUEST)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/xml; charset=utf-8");
        let root = xml(&r.text);
        assert!(root.is("http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006", "Autodiscover"));
        let response = child(&root, "Response");
        assert_eq!(response.name.ns, "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a");
        let account = child(response, "Account");
        assert_eq!((text(account, "AccountType"), text(account, "Action")), ("email".into(), "settings".into()));
        let protocols: Vec<Vec<String>> = children(account, "Protocol")
            .into_iter()
            .map(|p| {
                ["Type", "Server", "Port", "LoginName", "SSL", "SPA", "AuthRequired"]
                    .iter()
                    .map(|f| text(p, f))
                    .collect()
            })
            .collect();
        let row = |kind: &str, port: &str| {
            [kind, "mail.example.com", port, "kim@example.com", "on", "off", "on"].map(String::from).to_vec()
        };
        assert_eq!(protocols, [row("IMAP", "1993"), row("IMAP", "1143"), row("SMTP", "1465"), row("SMTP", "1587")]);
        assert!(!r.text.contains("whatever"));
    }
    // Not XML, not a request, no address, a DOCTYPE: 400.
    for bad in [
        "<Autodiscover><Request>",
        "just text",
        "<Autodiscover><Request><EMailAddress>kim</EMailAddress></Request></Autodiscover>",
        "<Autodiscover><Request></Request></Autodiscover>",
        r#"<!DOCTYPE x [<!ENTITY e "kim@example.com">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>"#,
    ] {
        let r = send(&app, autodiscover_request("/autodiscover/autodiscover.xml", bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Too large: 413 before it is parsed (the real ones are about 400 bytes).
    let padding = " ".repeat(20 * 1024);
    let big = THUNDERBIRD_REQUEST.replace("<Request>", &format!("<Request>{padding}"));
    let r = send(&app, autodiscover_request("/autodiscover/autodiscover.xml", big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // POST only.
    assert_eq!(get(&app, "/autodiscover/autodiscover.xml", "example.com").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ----- the Apple profile -----

/// A property-list value, read back from the XML (Apple's PropertyList-1.0 DTD).
#[derive(Debug, Clone, PartialEq)]
enum Plist {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Plist>),
    Dict(Vec<(String, Plist)>),
}

impl Plist {
    fn read(e: &Element) -> Plist {
        match e.name.local.as_ref() {
            "string" => Plist::Str(e.text()),
            "integer" => Plist::Int(e.text().trim().parse().expect("an integer")),
            "true" => Plist::Bool(true),
            "false" => Plist::Bool(false),
            "array" => Plist::Array(e.elements().map(Plist::read).collect()),
            "dict" => {
                let items: Vec<&Element> = e.elements().collect();
                assert!(items.len().is_multiple_of(2), "a dict alternates keys and values");
                let pairs = items.chunks(2).map(|kv| {
                    assert_eq!(kv[0].name.local, "key");
                    (kv[0].text(), Plist::read(kv[1]))
                });
                let pairs: Vec<(String, Plist)> = pairs.collect();
                let mut keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
                keys.sort();
                keys.dedup();
                assert_eq!(keys.len(), pairs.len(), "duplicate keys");
                Plist::Dict(pairs)
            }
            other => panic!("unexpected plist element {other}"),
        }
    }

    /// The document: the DOCTYPE line dropped (the bounded reader refuses DOCTYPEs by design).
    fn parse(text: &str) -> Plist {
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC"), "{text}");
        let without: String = text.lines().filter(|l| !l.starts_with("<!DOCTYPE")).collect::<Vec<_>>().join("\n");
        let root = xml(&without);
        assert_eq!((root.name.local.as_ref(), root.attr("version")), ("plist", Some("1.0")));
        assert!(
            root.children
                .iter()
                .all(|n| matches!(n, Node::Element(_)) || matches!(n, Node::Text(t) if t.trim().is_empty()))
        );
        let mut items = root.elements();
        let top = Plist::read(items.next().expect("a value"));
        assert!(items.next().is_none());
        top
    }

    fn get(&self, key: &str) -> &Plist {
        match self {
            Plist::Dict(pairs) => {
                pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no {key}"))
            }
            _ => panic!("not a dict"),
        }
    }

    fn has(&self, key: &str) -> bool {
        matches!(self, Plist::Dict(pairs) if pairs.iter().any(|(k, _)| k == key))
    }

    fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Plist::Str(s) => s,
            other => panic!("{key} is {other:?}"),
        }
    }

    fn payloads(&self) -> Vec<&Plist> {
        match self.get("PayloadContent") {
            Plist::Array(items) => items.iter().collect(),
            other => panic!("PayloadContent is {other:?}"),
        }
    }

    fn payload(&self, kind: &str) -> Option<&Plist> {
        self.payloads().into_iter().find(|p| p.str("PayloadType") == kind)
    }
}

/// Signs `user` in and downloads a profile for `device`.
async fn download(b: &mut Browser<'_>, device: &str) -> common::browser::Reply {
    b.submit("/account/devices", "/account/devices", &[("device", device)]).await
}

/// Checks what every profile must be and returns it parsed.
fn profile(r: &common::browser::Reply) -> Plist {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/x-apple-aspen-config");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"madang") && disposition.ends_with(".mobileconfig\""));
    let p = Plist::parse(&r.text);
    assert_eq!(p.str("PayloadType"), "Configuration");
    assert_eq!(p.get("PayloadVersion"), &Plist::Int(1));
    let mut uuids = vec![p.str("PayloadUUID").to_string()];
    for inner in p.payloads() {
        assert!(inner.str("PayloadIdentifier").starts_with(&format!("{}.", p.str("PayloadIdentifier"))));
        assert_eq!(inner.get("PayloadVersion"), &Plist::Int(1));
        uuids.push(inner.str("PayloadUUID").to_string());
    }
    for u in &uuids {
        assert_eq!(u.len(), 36, "{u}");
    }
    let count = uuids.len();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), count, "every payload has its own UUID");
    p
}

/// The status of a PROPFIND on the user's principal with Basic credentials.
async fn caldav_status(app: &TestApp, user: &str, password: &str) -> StatusCode {
    let req = Request::builder()
        .method("PROPFIND")
        .uri(format!("/dav/principals/{user}/"))
        .header(header::AUTHORIZATION, basic(user, password))
        .header("Depth", "0")
        .body(Body::empty())
        .unwrap();
    send(app, req).await.status
}

async fn the_profile_sets_up_calendar_and_contacts_with_a_device_password(db: &TestDb) {
    let app = app_with_mail(db).await;
    let mut b = Browser::new(&app);
    b.sign_in("alice", PASSWORD).await;
    let page = b.get("/account/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("mail.example.com") && page.text.contains("1993"), "{}", page.text);
    assert!(page.text.contains("Link a mail account"), "{}", page.text);
    // A QR code of this page's URL (never of the profile, which has none).
    assert!(page.text.contains(r#"alt="http://127.0.0.1:8080/account/devices""#), "{}", page.text);

    let r = download(&mut b, "Alice's iPhone").await;
    let p = profile(&r);
    // No linked mail account: calendar and contacts only.
    assert!(p.payload("com.apple.mail.managed").is_none());
    let caldav = p.payload("com.apple.caldav.account").expect("CalDAV");
    let carddav = p.payload("com.apple.carddav.account").expect("CardDAV");
    assert_eq!(caldav.str("CalDAVHostName"), "127.0.0.1");
    assert_eq!(caldav.get("CalDAVPort"), &Plist::Int(8080));
    assert_eq!(caldav.get("CalDAVUseSSL"), &Plist::Bool(false));
    assert_eq!(caldav.str("CalDAVPrincipalURL"), "http://127.0.0.1:8080/dav/principals/alice/");
    assert_eq!(caldav.str("CalDAVUsername"), "alice");
    assert_eq!(carddav.str("CardDAVPrincipalURL"), "http://127.0.0.1:8080/dav/principals/alice/");
    let password = caldav.str("CalDAVPassword").to_string();
    assert_eq!(carddav.str("CardDAVPassword"), password);
    assert_ne!(password, PASSWORD);

    // The device password works over CalDAV, is listed under its device's name, and audited.
    assert_eq!(caldav_status(&app, "alice", &password).await, StatusCode::MULTI_STATUS);
    let list = b.get("/account/app-passwords").await;
    assert!(list.text.contains("Alice&#39;s iPhone"), "{}", list.text);
    let audited = "SELECT COUNT(*) FROM audit_log WHERE action = 'app_password.create' \
                   AND detail = 'apple-profile' AND actor_name = 'alice' AND target = 'Alice''s iPhone'";
    assert_eq!(db.scalar(audited).await, 1);

    // The same device again: the same identifier (the profile replaces the older one) and a
    // new password; another device: another identifier.
    let again = profile(&download(&mut b, "alice's iphone").await);
    assert_eq!(again.str("PayloadIdentifier"), p.str("PayloadIdentifier"));
    assert_ne!(again.payload("com.apple.caldav.account").unwrap().str("CalDAVPassword"), password);
    let ipad = profile(&download(&mut b, "Alice's iPad").await);
    assert_ne!(ipad.str("PayloadIdentifier"), p.str("PayloadIdentifier"));

    // Revoked like any other app password.
    let (_, list) = app.accounts.app_passwords("alice").await.unwrap();
    let id = list.iter().find(|a| a.label == "Alice's iPhone").unwrap().id.0.to_string();
    let r = b.submit("/account/app-passwords", "/account/app-passwords", &[("action", "revoke"), ("id", &id)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(caldav_status(&app, "alice", &password).await, StatusCode::UNAUTHORIZED);

    // A name the app-password rules refuse: the page again with the reason, no profile.
    let r = download(&mut b, "").await;
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");

    // Modules off: their payloads are left out.
    app.state.modules.set(&[(Module::Calendar, false)]).await.unwrap();
    let p = profile(&download(&mut b, "Alice's Mac").await);
    assert!(p.payload("com.apple.caldav.account").is_none());
    assert!(p.payload("com.apple.carddav.account").is_some());
}

async fn the_profile_adds_mail_for_linked_accounts(db: &TestDb) {
    let app = app_with_mail(db).await;
    let alice = app.store.user_by_name(&madang::domain::Username::parse("alice").unwrap()).await.unwrap();
    let fields = madang::store::mail::MailAccountFields {
        email: "alice@example.test".into(),
        display_name: "Alice Kim".into(),
        imap_host: "imap.example.test".into(),
        imap_port: 993,
        imap_security: "tls".into(),
        smtp_host: "smtp.example.test".into(),
        smtp_port: 465,
        smtp_security: "tls".into(),
        username: "alice@example.test".into(),
        oauth_provider: None,
    };
    let now = chrono::Utc::now();
    let account = app.store.create_mail_account(alice.id, &fields, 5, now, |_| Ok("sealed".into())).await.unwrap();

    let mut b = Browser::new(&app);
    b.sign_in("alice", PASSWORD).await;
    let page = b.get("/account/devices").await;
    assert!(page.text.contains("alice@example.test") && !page.text.contains("Link a mail account"), "{}", page.text);
    let p = profile(&download(&mut b, "Alice's iPhone").await);
    let mail = p.payload("com.apple.mail.managed").expect("a mail payload");
    for (key, want) in [
        ("EmailAccountType", "EmailTypeIMAP"),
        ("EmailAddress", "alice@example.test"),
        ("EmailAccountName", "Alice Kim"),
        ("IncomingMailServerHostName", "mail.example.com"),
        ("OutgoingMailServerHostName", "mail.example.com"),
        ("IncomingMailServerAuthentication", "EmailAuthPassword"),
        ("OutgoingMailServerAuthentication", "EmailAuthPassword"),
        ("IncomingMailServerUsername", "alice@example.test"),
        ("OutgoingMailServerUsername", "alice@example.test"),
    ] {
        assert_eq!(mail.str(key), want, "{key}");
    }
    // The implicit-TLS listeners, with their ports spelt out.
    assert_eq!(mail.get("IncomingMailServerPortNumber"), &Plist::Int(1993));
    assert_eq!(mail.get("OutgoingMailServerPortNumber"), &Plist::Int(1465));
    assert_eq!(mail.get("IncomingMailServerUseSSL"), &Plist::Bool(true));
    assert_eq!(mail.get("OutgoingMailServerUseSSL"), &Plist::Bool(true));
    assert!(!mail.has("IncomingMailServerIMAPPathPrefix"));
    let password = mail.str("IncomingPassword").to_string();
    assert_eq!(mail.str("OutgoingPassword"), password);
    assert_eq!(p.payload("com.apple.caldav.account").unwrap().str("CalDAVPassword"), password);

    // The mail listeners accept the address and the device password, and pick that account.
    let proxy = app.state.mail_proxy();
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let login = proxy.login("alice@example.test", Secret::Password(&password), ip, "imap").await.expect("login");
    assert_eq!((login.user.username.as_str(), login.account.id), ("alice", account.id));
    drop(login);
    let login = proxy.login("alice", Secret::Password(&password), ip, "smtp").await.expect("login by name");
    assert_eq!(login.account.id, account.id);
    drop(login);
    assert_eq!(
        proxy.login("alice@example.test", Secret::Password("wrong"), ip, "imap").await.err(),
        Some(LoginError::Failed)
    );

    // Mail apps cannot connect (no listeners): the mail payload is left out, the page says so.
    let mut app = app;
    app.state = app.state.clone().with_mailproxy(MailProxyConfig::default());
    let mut b = Browser::new(&app);
    b.sign_in("alice", PASSWORD).await;
    let page = b.get("/account/devices").await;
    assert!(page.text.contains("Mail apps cannot connect to this server yet"), "{}", page.text);
    let p = profile(&download(&mut b, "Alice's iPad").await);
    assert!(p.payload("com.apple.mail.managed").is_none());
    assert!(p.payload("com.apple.caldav.account").is_some());
}

async fn profiles_are_only_for_the_signed_in_user(db: &TestDb) {
    let app = app_with_mail(db).await;
    let count = "SELECT COUNT(*) FROM app_passwords";
    // Not signed in: to the sign-in page, nothing made.
    let mut stranger = Browser::new(&app);
    let r = stranger.post("/account/devices", &[("device", "x")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/signin?next=/account/devices"));
    let mut alice = Browser::new(&app);
    alice.sign_in("alice", PASSWORD).await;
    // No CSRF token, a forged one, or another session's: 403, nothing made.
    let r = alice.post("/account/devices", &[("device", "Phone")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = alice.post("/account/devices", &[("csrf", "forged"), ("device", "Phone")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut bob = Browser::new(&app);
    bob.sign_in("bob", PASSWORD).await;
    let bobs_token = bob.get("/account/devices").await.csrf();
    let r = alice.post("/account/devices", &[("csrf", &bobs_token), ("device", "Phone")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(db.scalar(count).await, 0);
    // Whatever the form says, the profile is the session's user's: there is no user field to
    // name another, and a `username` field is ignored.
    let r = bob.submit("/account/devices", "/account/devices", &[("device", "Phone"), ("username", "alice")]).await;
    let p = profile(&r);
    let caldav = p.payload("com.apple.caldav.account").unwrap();
    assert_eq!(caldav.str("CalDAVUsername"), "bob");
    assert_eq!(caldav.str("CalDAVPrincipalURL"), "http://127.0.0.1:8080/dav/principals/bob/");
    assert!(!r.text.contains("alice"), "{}", r.text);
    let password = caldav.str("CalDAVPassword");
    assert_eq!(caldav_status(&app, "bob", password).await, StatusCode::MULTI_STATUS);
    assert_eq!(caldav_status(&app, "alice", password).await, StatusCode::UNAUTHORIZED);
    let (_, alices) = app.accounts.app_passwords("alice").await.unwrap();
    assert!(alices.is_empty());
}
