//! Reaching a linked account's servers: the connection test a user runs before saving, step by
//! step, so a failure names what failed (DNS, TCP, TLS certificate, authentication, a missing
//! capability) instead of "could not connect".
//!
//! Every connection goes to addresses the outbound guard resolved (`crate::outbound`), never to
//! the name again; TLS verifies the certificate against the name (rustls, the public roots plus
//! `mail.ca_file`). Plain, unencrypted connections are only allowed to a server on this machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use utoipa::ToSchema;

use crate::config::MailConfig;

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465; RFC 8314 prefers it).
    Tls,
    /// Plain, then `STARTTLS` before anything else (IMAP 143, SMTP 587).
    Starttls,
    /// No encryption: only to a server on this machine (a local relay, tests).
    Plain,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "tls" => Some(Security::Tls),
            "starttls" => Some(Security::Starttls),
            "plain" => Some(Security::Plain),
            _ => None,
        }
    }
}

/// Where a server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// The step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The name did not resolve.
    Dns,
    /// It resolved to an address Madang may not connect to (`mail.allowed_networks`).
    Blocked,
    /// No TCP connection (refused, unreachable, timed out).
    Tcp,
    /// TLS failed: usually the certificate (expired, wrong name, unknown authority).
    Tls,
    /// The server did not speak the protocol as expected (greeting, `STARTTLS`).
    Protocol,
    /// The user name or password was refused.
    Authentication,
    /// A capability Madang needs is missing.
    Capability,
    /// Madang's own limit on open connections (`mail.max_connections`,
    /// `mail.max_connections_per_account`) was reached and no place came free in time.
    Limit,
}

/// Why reaching a server failed: the step and the server's or the system's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Failure {
    pub step: Step,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(step: Step, message: impl Into<String>) -> Failure {
        Failure { step, message: message.into() }
    }
}

/// What a successful IMAP login showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImapInfo {
    /// The extensions Madang uses when there (`IDLE`, `CONDSTORE`, `QRESYNC`, `MOVE`, `SPECIAL-USE`,
    /// `UIDPLUS`), as the server announced them.
    pub capabilities: Vec<String>,
}

/// How Madang signs in to a linked server.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Password(String),
    /// An OAuth 2.0 access token: OAUTHBEARER or XOAUTH2 to IMAP, XOAUTH2 to SMTP.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    // Neither a password nor a token reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(<redacted>)",
            Credential::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

/// A bearer-token exchange for async-imap: the initial response, then, to the error challenge a
/// server sends before its `NO`, what ends the exchange: an empty line for XOAUTH2 (as Google
/// documents it), `%x01` for OAUTHBEARER (RFC 7628 §3.2.3).
struct BearerExchange {
    response: Option<String>,
    name: &'static str,
}

impl async_imap::Authenticator for BearerExchange {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        match self.response.take() {
            Some(first) => first,
            None if self.name == "OAUTHBEARER" => "\x01".to_string(),
            None => String::new(),
        }
    }
}

/// The SASL mechanisms a server offers before login (`AUTH=` capabilities, RFC 9051 §6.2.2),
/// upper case. Asked for, not taken from the greeting: after STARTTLS what came before does not
/// count (RFC 9051 §6.2.1).
async fn pre_login_capabilities<S>(client: &mut async_imap::Client<S>) -> Result<Vec<String>, async_imap::error::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use async_imap::imap_proto::{Capability, Response};
    let (tx, rx) = async_channel::bounded(16);
    client.run_command_and_check_ok("CAPABILITY", Some(tx)).await?;
    let mut mechanisms = Vec::new();
    while let Ok(answer) = rx.try_recv() {
        if let async_imap::types::UnsolicitedResponse::Other(data) = answer
            && let Response::Capabilities(list) = data.parsed()
        {
            mechanisms.extend(list.iter().filter_map(|c| match c {
                Capability::Auth(m) => Some(m.to_ascii_uppercase()),
                _ => None,
            }));
        }
    }
    Ok(mechanisms)
}

/// The mechanism and initial response for a bearer token: OAUTHBEARER (RFC 7628 §3.1: a GS2
/// header naming the user, then host, port and the token, `%x01`-separated) when offered,
/// else XOAUTH2.
pub(crate) fn bearer_mechanism(
    mechanisms: &[String],
    user: &str,
    host: &str,
    port: u16,
    token: &str,
) -> (&'static str, String) {
    if mechanisms.iter().any(|m| m == "OAUTHBEARER") {
        // RFC 5801 §4: `,` and `=` in the authzid are escaped as =2C and =3D.
        let authzid = user.replace('=', "=3D").replace(',', "=2C");
        ("OAUTHBEARER", format!("n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"))
    } else {
        ("XOAUTH2", super::oauth::xoauth2(user, token))
    }
}

/// A connection that holds its places under Madang's connection limits for as long as it
/// lives: dropping the session (or losing it) gives them back, whichever way it ends.
#[derive(Debug)]
pub(super) struct Limited<S> {
    pub(crate) inner: S,
    pub(crate) _places: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection to a mail server, plain or TLS, behind one type.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Box<dyn Io>>;

/// The TLS settings for linked servers: the public roots and `mail.ca_file`.
#[derive(Clone)]
pub struct Connector {
    tls: tokio_rustls::TlsConnector,
    /// For OAuth token endpoints, with the same trust (a company CA in `mail.ca_file` works
    /// for its identity provider too).
    http: http_client::Client,
    /// Places for connections to mail servers, all accounts together (`mail.max_connections`).
    places: Arc<tokio::sync::Semaphore>,
    /// For remote images of messages (`mail::images`): every host name resolved by the outbound
    /// guard, no proxy, no redirects followed on its own, no cookies, no Referer.
    images: http_client::Client,
    config: MailConfig,
    extra_roots: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("extra_roots", &self.extra_roots.len()).finish_non_exhaustive()
    }
}

const WANTED: [&str; 6] = ["IDLE", "CONDSTORE", "QRESYNC", "MOVE", "SPECIAL-USE", "UIDPLUS"];

impl Connector {
    pub fn new(config: &MailConfig) -> Result<Connector, String> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let mut extra_roots = Vec::new();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&config.extra_roots) {
            let cert = cert.map_err(|e| format!("mail.ca_file: {e}"))?;
            extra_roots.push(cert.to_vec());
            roots.add(cert).map_err(|e| format!("mail.ca_file: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // reqwest is built without a crypto provider of its own: it gets this configuration,
        // so no process-wide default is needed (its absence would be a panic).
        let http = http_client::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .redirect(http_client::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| format!("mail: the HTTP client: {e}"))?;
        let images = super::images::client(tls.clone(), config)?;
        Ok(Connector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            http,
            places: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            images,
            config: config.clone(),
            extra_roots,
        })
    }

    /// A place under `limit`, waiting at most the step timeout for one to come free.
    pub async fn place(
        &self,
        limit: &Arc<tokio::sync::Semaphore>,
        what: &str,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
        match tokio::time::timeout(self.timeout(), limit.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("madang_mail_connection_limit_refusals_total").increment(1);
                Err(Failure::new(
                    Step::Limit,
                    format!("{what}: no connection came free within {} s; try again shortly", self.timeout().as_secs()),
                ))
            }
        }
    }

    /// A place among all connections to mail servers.
    pub(crate) async fn global_place(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
        self.place(&self.places, "Madang's connections to mail servers are all in use").await
    }

    /// The HTTP client for OAuth token requests.
    pub fn http(&self) -> &http_client::Client {
        &self.http
    }

    /// The HTTP client for remote images, behind the outbound guard.
    pub fn images(&self) -> &http_client::Client {
        &self.images
    }

    pub(super) fn timeout(&self) -> Duration {
        self.config.connect_timeout
    }

    /// Resolves through the outbound guard and opens TCP to the first address that answers.
    pub(crate) async fn tcp(&self, endpoint: &Endpoint) -> Result<(TcpStream, SocketAddr), Failure> {
        let resolved =
            tokio::time::timeout(self.timeout(), self.config.outbound.resolve(&endpoint.host, endpoint.port))
                .await
                .map_err(|_| {
                    Failure::new(
                        Step::Dns,
                        format!("no answer for `{}` within {} s", endpoint.host, self.timeout().as_secs()),
                    )
                })?;
        let addrs = resolved.map_err(|e| match e {
            crate::outbound::OutboundError::Dns(..) => Failure::new(Step::Dns, e.to_string()),
            crate::outbound::OutboundError::Internal { .. } => Failure::new(Step::Blocked, e.to_string()),
        })?;
        if endpoint.security == Security::Plain && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(Failure::new(
                Step::Blocked,
                "an unencrypted connection is only allowed to a server on this machine; use TLS or STARTTLS",
            ));
        }
        let mut last = String::new();
        for addr in addrs {
            match tokio::time::timeout(self.timeout(), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok((stream, addr)),
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: no answer within {} s", self.timeout().as_secs()),
            }
        }
        Err(Failure::new(Step::Tcp, last))
    }

    pub(crate) async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        host: &str,
        stream: S,
    ) -> Result<tokio_rustls::client::TlsStream<S>, Failure> {
        let name =
            rustls_pki_types::ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
                .map_err(|e| {
                    Failure::new(Step::Tls, format!("`{host}` cannot be checked against a certificate: {e}"))
                })?;
        match tokio::time::timeout(self.timeout(), self.tls.connect(name, stream)).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => Err(Failure::new(Step::Tls, e.to_string())),
            Err(_) => Err(Failure::new(Step::Tls, "the TLS handshake timed out")),
        }
    }

    /// Logs in to the IMAP server (RFC 9051/3501; STARTTLS §6.2.1) and returns the session with
    /// the extensions Madang uses that the server announced (see [`WANTED`]).
    pub async fn imap_session(
        &self,
        endpoint: &Endpoint,
        username: &str,
        credential: &Credential,
        account_place: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<(Session, Vec<String>), Failure> {
        let mut places = vec![self.global_place().await?];
        places.extend(account_place);
        let (tcp, _) = self.tcp(endpoint).await?;
        let tcp = Limited { inner: tcp, _places: places };
        let mut client = match endpoint.security {
            Security::Tls => {
                let tls = self.tls(&endpoint.host, tcp).await?;
                async_imap::Client::new(Box::new(tls) as Box<dyn Io>)
            }
            Security::Plain => async_imap::Client::new(Box::new(tcp) as Box<dyn Io>),
            Security::Starttls => {
                let mut client = async_imap::Client::new(tcp);
                self.greeting(&mut client).await?;
                self.step(Step::Protocol, client.run_command_and_check_ok("STARTTLS", None))
                    .await
                    .map_err(|f| Failure::new(Step::Capability, format!("STARTTLS refused: {}", f.message)))?;
                // What the server sent before the handshake is dropped with the buffer (a
                // response injected before TLS must not be read as if it came after).
                let tls = self.tls(&endpoint.host, client.into_inner()).await?;
                async_imap::Client::new(Box::new(tls) as Box<dyn Io>)
            }
        };
        if endpoint.security != Security::Starttls {
            self.greeting(&mut client).await?;
        }
        let login = async {
            match credential {
                Credential::Password(password) => client.login(username, password).await,
                Credential::Bearer(token) => {
                    // RFC 7628's OAUTHBEARER where the server offers it; else Google's XOAUTH2,
                    // which Gmail and Microsoft 365 both take.
                    let mechanisms = match pre_login_capabilities(&mut client).await {
                        Ok(m) => m,
                        Err(e) => return Err((e, client)),
                    };
                    let (name, response) =
                        bearer_mechanism(&mechanisms, username, &endpoint.host, endpoint.port, token);
                    client.authenticate(name, BearerExchange { response: Some(response), name }).await
                }
            }
        };
        let mut session = match tokio::time::timeout(self.timeout(), login).await {
            Ok(Ok(session)) => session,
            Ok(Err((async_imap::error::Error::No(text), _))) => {
                return Err(Failure::new(Step::Authentication, format!("the server refused the login: {text}")));
            }
            Ok(Err((e, _))) => return Err(Failure::new(Step::Protocol, e.to_string())),
            Err(_) => return Err(Failure::new(Step::Authentication, "no answer to the login")),
        };
        let capabilities = self.step(Step::Protocol, session.capabilities()).await?;
        if !capabilities.has_str("IMAP4rev1") && !capabilities.has_str("IMAP4rev2") {
            return Err(Failure::new(Step::Capability, "the server announces neither IMAP4rev1 nor IMAP4rev2"));
        }
        let found = WANTED.iter().filter(|c| capabilities.has_str(c)).map(|c| c.to_string()).collect();
        Ok((session, found))
    }

    /// The connection test's IMAP half: log in, note the extensions, log out.
    pub async fn test_imap(
        &self,
        endpoint: &Endpoint,
        username: &str,
        credential: &Credential,
    ) -> Result<ImapInfo, Failure> {
        let (mut session, capabilities) = self.imap_session(endpoint, username, credential, None).await?;
        // A failed LOGOUT changes nothing about what the test showed.
        let _ = tokio::time::timeout(self.timeout(), session.logout()).await;
        Ok(ImapInfo { capabilities })
    }

    /// Runs one exchange with the step timeout, naming `step` when it fails.
    pub async fn step<T, E: std::fmt::Display>(
        &self,
        step: Step,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout(), f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::new(step, e.to_string())),
            Err(_) => Err(Failure::new(step, format!("no answer within {} s", self.timeout().as_secs()))),
        }
    }

    async fn greeting<S>(&self, client: &mut async_imap::Client<S>) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        use async_imap::imap_proto::{Response, Status};
        let greeting = self.step(Step::Protocol, client.read_response()).await?;
        match greeting.as_ref().map(|g| g.parsed()) {
            Some(Response::Data { status: Status::Ok | Status::PreAuth, .. }) => Ok(()),
            Some(other) => Err(Failure::new(Step::Protocol, format!("the server refused the connection: {other:?}"))),
            None => Err(Failure::new(Step::Protocol, "the server closed the connection without a greeting")),
        }
    }

    /// Connects to the SMTP submission server, secures it and authenticates (RFC 6409, 4954).
    /// An SMTP submission transport to the address the guard vetted, TLS checked against the
    /// name (lettre, rustls).
    async fn smtp_transport(
        &self,
        endpoint: &Endpoint,
        username: &str,
        credential: &Credential,
    ) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, Failure> {
        use lettre::transport::smtp::authentication::{Credentials, Mechanism};
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        // Which address answers is checked here (guard, TCP); lettre is then pointed at it.
        let (probe, addr) = self.tcp(endpoint).await?;
        drop(probe);
        let tls = || {
            let mut params = TlsParameters::builder(endpoint.host.clone());
            for der in &self.extra_roots {
                match Certificate::from_der(der.clone()) {
                    Ok(cert) => params = params.add_root_certificate(cert),
                    Err(e) => return Err(Failure::new(Step::Tls, e.to_string())),
                }
            }
            params.build_rustls().map_err(|e| Failure::new(Step::Tls, e.to_string()))
        };
        let tls = match endpoint.security {
            Security::Tls => Tls::Wrapper(tls()?),
            Security::Starttls => Tls::Required(tls()?),
            Security::Plain => Tls::None,
        };
        let (secret, mechanisms) = match credential {
            Credential::Password(p) => (p.clone(), vec![Mechanism::Plain, Mechanism::Login]),
            // RFC 4954 AUTH with XOAUTH2, as Gmail and Exchange Online take it.
            Credential::Bearer(t) => (t.clone(), vec![Mechanism::Xoauth2]),
        };
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .tls(tls)
            .timeout(Some(self.timeout()))
            .credentials(Credentials::new(username.to_string(), secret))
            .authentication(mechanisms)
            .build::<Tokio1Executor>())
    }

    pub async fn test_smtp(&self, endpoint: &Endpoint, username: &str, credential: &Credential) -> Result<(), Failure> {
        let _place = self.global_place().await?;
        let transport = self.smtp_transport(endpoint, username, credential).await?;
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::new(Step::Protocol, "the server did not answer NOOP")),
            Err(e) => Err(smtp_failure(&e)),
        }
    }

    /// Submits one message (RFC 6409): the envelope's sender and recipients, the bytes as they are.
    pub async fn send_smtp(
        &self,
        endpoint: &Endpoint,
        username: &str,
        credential: &Credential,
        envelope: &lettre::address::Envelope,
        message: &[u8],
    ) -> Result<(), Failure> {
        use lettre::AsyncTransport;
        let _place = self.global_place().await?;
        let transport = self.smtp_transport(endpoint, username, credential).await?;
        transport.send_raw(envelope, message).await.map(drop).map_err(|e| smtp_failure(&e))
    }
}

/// Which step an SMTP error belongs to.
fn smtp_failure(e: &lettre::transport::smtp::Error) -> Failure {
    match e {
        // lettre reports a handshake after STARTTLS as a connection error: the rustls
        // message (`invalid peer certificate: …`) is what tells.
        e if e.is_tls() || e.to_string().contains("peer certificate") => Failure::new(Step::Tls, e.to_string()),
        e if e.is_timeout() => Failure::new(Step::Tcp, e.to_string()),
        // 535 (RFC 4954 §6) and friends: the credentials; 5xx before AUTH would be caught
        // as a protocol error by the greeting or EHLO, which lettre reports the same way.
        e if e.status().is_some_and(|c| c.to_string().starts_with("53")) => {
            Failure::new(Step::Authentication, e.to_string())
        }
        e if e.to_string().contains("authentication") || e.to_string().contains("mechanism") => {
            Failure::new(Step::Authentication, e.to_string())
        }
        e => Failure::new(Step::Protocol, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauthbearer_is_preferred_and_laid_out_as_rfc_7628_says() {
        let offered = vec!["PLAIN".to_string(), "XOAUTH2".into(), "OAUTHBEARER".into()];
        let (name, first) = bearer_mechanism(&offered, "kim,a=b@example.com", "imap.example.com", 993, "tok");
        assert_eq!(name, "OAUTHBEARER");
        assert_eq!(
            first,
            "n,a=kim=2Ca=3Db@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        let (name, first) = bearer_mechanism(&offered[..2], "kim@example.com", "imap.example.com", 993, "tok");
        assert_eq!(name, "XOAUTH2");
        assert_eq!(first, "user=kim@example.com\x01auth=Bearer tok\x01\x01");
        // Nothing announced (a server that lists mechanisms only after STARTTLS it was not
        // asked for): XOAUTH2, what the big providers take.
        assert_eq!(bearer_mechanism(&[], "k", "h", 1, "t").0, "XOAUTH2");
    }

    #[test]
    fn an_oauthbearer_error_challenge_is_answered_with_0x01() {
        use async_imap::Authenticator;
        let mut x = BearerExchange { response: Some("first".into()), name: "OAUTHBEARER" };
        assert_eq!(x.process(b""), "first");
        assert_eq!(x.process(b"{\"status\":\"invalid_token\"}"), "\x01");
        let mut x = BearerExchange { response: Some("first".into()), name: "XOAUTH2" };
        x.process(b"");
        assert_eq!(x.process(b"{}"), "");
    }
}
