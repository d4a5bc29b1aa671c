//! Remote images of opened messages: shown only when the user asks (for a message, or always for
//! a sender), and then fetched by Madang, never by the reader's browser, through a signed proxy
//! URL (`/api/v1/mail/image?u=…&s=…`, docs/mail.md).
//!
//! Why a proxy: an image loaded by the browser tells the sender when, where (the IP address) and
//! in which browser the message was read, and sends along whatever the browser adds. Through the
//! proxy the remote server sees only Madang, with a neutral User-Agent, no cookies and no Referer.
//!
//! Why signed: the proxy fetches what it is given, so only URLs Madang itself put in a message it
//! showed to this user are fetched. The signature is HMAC-SHA256 (RFC 2104) over the user and the
//! URL under an instance key kept in the database (`mail-image-key`), so every process on the
//! database accepts the URLs any of them made, and another user's URL is refused.
//!
//! Why guarded: the remote server is the sender's choice. Every host name is resolved by the
//! outbound guard (`crate::outbound`, the same as for mail servers) inside the HTTP client, so
//! no connection reaches loopback, private or link-local addresses unless an administrator
//! allowed them (`mail.allowed_networks`); an address in the URL itself is checked before
//! anything is sent; redirects (at most [`MAX_REDIRECTS`]) are followed here, each one checked
//! again. Only raster images are passed on (SVG can carry script), with `nosniff` and
//! `Content-Security-Policy: sandbox`, and at most `mail.image_proxy_max_size` bytes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{MailError, MailResult, MailService};
use crate::auth::app_password::KeyedHasher;
use crate::config::MailConfig;
use crate::domain::UserId;
use crate::outbound::{OutboundError, OutboundPolicy};

/// Redirects followed for one image (each checked by the guard like the first URL).
pub const MAX_REDIRECTS: usize = 3;
/// The longest remote URL proxied; a longer one is dropped from the message (browsers and
/// servers commonly stop at 2,000-odd characters, and no real image needs more).
pub const MAX_URL: usize = 2048;
/// How many senders one user may trust with their images.
pub const MAX_TRUSTED_SENDERS: u64 = 5000;
/// The image types passed on: raster formats every current browser decodes, none of which can
/// run script. SVG is left out on purpose (it is a document that may hold `<script>`).
const SERVED: [&str; 5] = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"];
/// What the remote server learns of the reader: nothing but that Madang asked.
const USER_AGENT: &str = "Madang-Image-Proxy/1";
/// Where the proxy answers (relative to the origin): what message HTML points at.
pub const PROXY_PATH: &str = "/api/v1/mail/image";

/// Why an image is not passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A missing or malformed parameter, or a URL that is not `http(s)`.
    #[error("{0}")]
    Invalid(String),
    /// The signature does not match this user and URL (changed, or another user's link).
    #[error("this image link was not made for you, or it was changed")]
    BadSignature,
    /// The guard refused the address (`mail.allowed_networks`).
    #[error("{0}")]
    Blocked(String),
    /// The remote server could not be reached, or did not answer 2xx.
    #[error("the image could not be fetched: {0}")]
    Upstream(String),
    /// It answered with something other than a raster image.
    #[error("the remote server did not answer with an image (`{0}`); only PNG, JPEG, GIF, WebP and AVIF are shown")]
    NotAnImage(String),
    /// More than `mail.image_proxy_max_size`.
    #[error("the image is larger than {0} bytes (mail.image_proxy_max_size)")]
    TooLarge(u64),
}

/// A fetched image, ready to pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub bytes: Vec<u8>,
    /// One of [`SERVED`].
    pub content_type: &'static str,
}

/// A sender whose images the user always wants shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageSender {
    /// The address, lower case.
    pub address: String,
    pub created_at: DateTime<Utc>,
}

/// What `POST /api/v1/mail/image-senders` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewImageSender {
    /// The sender's address, as in a message's `from.email`.
    pub address: String,
}

/// Makes and checks proxy URLs: HMAC-SHA256 under the instance key `mail-image-key`.
#[derive(Clone)]
pub struct Signer(Arc<KeyedHasher>);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(****)")
    }
}

impl Signer {
    pub fn new(key: KeyedHasher) -> Signer {
        Signer(Arc::new(key))
    }

    /// The key, for a service rebuilt with other settings.
    pub fn key(&self) -> KeyedHasher {
        (*self.0).clone()
    }

    /// The purpose label keeps this key's MACs apart from any other use of it; the user id
    /// binds the URL to the one user it was shown to.
    fn mac(&self, user: UserId, url: &str) -> [u8; 32] {
        self.0.hash(format!("mail-image\0{}\0{url}", user.0).as_bytes())
    }

    pub fn sign(&self, user: UserId, url: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.mac(user, url))
    }

    /// Compared in constant time, so the answer's timing does not reveal a valid signature
    /// byte by byte.
    pub fn verify(&self, user: UserId, url: &str, signature: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature.trim()) else {
            return false;
        };
        given.len() == 32 && bool::from(given.ct_eq(&self.mac(user, url)))
    }

    /// The proxy URL that shows `url` to `user`; `None` for a URL the proxy would refuse, so
    /// the image is dropped from the message instead of shown broken.
    pub fn proxy_url(&self, user: UserId, url: &str) -> Option<String> {
        checked_url(url).ok()?;
        Some(format!("{PROXY_PATH}?u={}&s={}", query_escape(url), self.sign(user, url)))
    }
}

/// `s` for a query string: RFC 3986 §2.3 unreserved characters kept, every other byte %-encoded.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL the proxy may fetch: absolute `http` or `https`, a host, no user name or password
/// (which would be sent to the remote server), at most [`MAX_URL`] characters.
fn checked_url(raw: &str) -> Result<url::Url, ImageError> {
    if raw.len() > MAX_URL {
        return Err(ImageError::Invalid(format!("u: at most {MAX_URL} characters")));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| ImageError::Invalid(format!("u: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ImageError::Invalid("u: only http and https images are fetched".into()));
    }
    if url.host().is_none() {
        return Err(ImageError::Invalid("u: the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ImageError::Invalid("u: a URL with a user name or password is not fetched".into()));
    }
    Ok(url)
}

/// The guard for a host name, inside the HTTP client: reqwest connects only to the addresses
/// this returns, so a name that resolves (now, or on a redirect) to an internal address fails
/// before any connection, and nothing resolves the name a second time (DNS rebinding).
pub(crate) struct Guard(pub(crate) OutboundPolicy);

impl http_client::dns::Resolve for Guard {
    fn resolve(&self, name: http_client::dns::Name) -> http_client::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) on each address.
            let addrs = policy.resolve(&host, 0).await?;
            let addrs: http_client::dns::Addrs = Box::new(addrs.into_iter());
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(addrs)
        })
    }
}

/// The HTTP client the proxy fetches with ([`super::connect::Connector`] keeps it).
pub(super) fn client(tls: rustls::ClientConfig, config: &MailConfig) -> Result<http_client::Client, String> {
    http_client::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(Guard(config.outbound.clone()))
        // An `HTTP_PROXY` in the environment would connect to the proxy instead of the
        // addresses the guard vetted.
        .no_proxy()
        .redirect(http_client::redirect::Policy::none())
        .referer(false)
        .user_agent(USER_AGENT)
        .connect_timeout(config.connect_timeout)
        .timeout(config.image_proxy_timeout)
        .build()
        .map_err(|e| format!("mail: the image proxy's HTTP client: {e}"))
}

/// An address written in the URL is never resolved, so the client's guard does not see it:
/// checked here, before anything is sent.
fn check_literal(policy: &OutboundPolicy, url: &url::Url) -> Result<(), ImageError> {
    literal_refusal(policy, url).map_or(Ok(()), |refused| Err(ImageError::Blocked(refused.to_string())))
}

/// The guard's refusal of an IP address written in `url` (never resolved, so the client's
/// resolver does not see it); `None` for a host name or an address the policy permits. Also
/// used by calendar subscriptions (`crate::subscriptions`).
pub(crate) fn literal_refusal(policy: &OutboundPolicy, url: &url::Url) -> Option<OutboundError> {
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        _ => return None,
    };
    let host = url.host_str().unwrap_or_default().to_string();
    (!policy.permits(ip)).then_some(OutboundError::Internal { host, ip })
}

/// What went wrong with a request: the guard's refusal (found in the error's causes) is
/// `Blocked`; anything else the remote side's fault.
fn classify(e: &http_client::Error) -> ImageError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<OutboundError>() {
            return match refused {
                OutboundError::Internal { .. } => ImageError::Blocked(refused.to_string()),
                OutboundError::Dns(..) => ImageError::Upstream(refused.to_string()),
            };
        }
        last = c.to_string();
        cause = c.source();
    }
    if e.is_timeout() { ImageError::Upstream("timed out".into()) } else { ImageError::Upstream(last) }
}

/// The media type of a `Content-Type` value, lower case, parameters left off.
fn media_type(value: &str) -> String {
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Fetches `raw` through the guard: redirects followed and checked, the type and size checked.
pub async fn fetch(
    client: &http_client::Client,
    policy: &OutboundPolicy,
    raw: &str,
    max_size: u64,
    timeout: Duration,
) -> Result<Image, ImageError> {
    let work = async {
        let mut url = checked_url(raw)?;
        for _ in 0..=MAX_REDIRECTS {
            check_literal(policy, &url)?;
            let mut response = client
                .get(url.clone())
                .header(http_client::header::ACCEPT, "image/avif,image/webp,image/png,image/jpeg,image/gif")
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http_client::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| ImageError::Upstream(format!("a redirect ({status}) without a Location")))?;
                let next = url
                    .join(location)
                    .map_err(|_| ImageError::Upstream(format!("a redirect to a malformed URL: {location}")))?;
                url = checked_url(next.as_str())
                    .map_err(|e| ImageError::Upstream(format!("a redirect to a URL that is not fetched: {e}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(ImageError::Upstream(format!("the server answered {status}")));
            }
            let declared = response
                .headers()
                .get(http_client::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(media_type)
                .unwrap_or_default();
            let content_type =
                SERVED.iter().copied().find(|t| *t == declared).ok_or_else(|| {
                    ImageError::NotAnImage(if declared.is_empty() { "none".into() } else { declared })
                })?;
            if response.content_length().is_some_and(|n| n > max_size) {
                return Err(ImageError::TooLarge(max_size));
            }
            // Read in chunks and stop past the limit: a wrong or absent Content-Length does
            // not make Madang hold more than `max_size`.
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
                if (bytes.len() + chunk.len()) as u64 > max_size {
                    return Err(ImageError::TooLarge(max_size));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(Image { bytes, content_type });
        }
        Err(ImageError::Upstream(format!("more than {MAX_REDIRECTS} redirects")))
    };
    tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| Err(ImageError::Upstream("timed out".into())))
}

/// A sender's address as the list keeps it: trimmed, lower case, one `@`, nothing odd.
fn sender_address(address: &str) -> MailResult<String> {
    let address = address.trim().to_ascii_lowercase();
    let ok = address.len() <= 254
        && address.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(address) } else { Err(MailError::Invalid("address: a sender's address such as kim@example.com".into())) }
}

impl MailService {
    /// Rewrites remote image URLs of a message shown to `user` to the proxy's.
    pub(super) fn image_proxy(&self, user: UserId) -> madang_mail::body::ProxyUrl {
        let signer = self.image_signer.clone();
        Arc::new(move |url: &str| signer.proxy_url(user, url))
    }

    /// The signer, for a service rebuilt with other settings.
    pub fn image_key(&self) -> KeyedHasher {
        self.image_signer.key()
    }

    /// Whether `user` always shows images from `address` (a message's sender).
    pub(super) async fn sender_trusted(&self, user: UserId, address: &str) -> MailResult<bool> {
        match sender_address(address) {
            Ok(address) => Ok(self.store.mail_image_sender_trusted(user, &address).await?),
            Err(_) => Ok(false),
        }
    }

    /// An image for the proxy: the signature checked for this user first, then fetched.
    pub async fn image(&self, user: UserId, url: &str, signature: &str) -> Result<Image, ImageError> {
        if !self.image_signer.verify(user, url, signature) {
            return Err(ImageError::BadSignature);
        }
        fetch(
            self.connector.images(),
            &self.config.outbound,
            url,
            self.config.image_proxy_max_size,
            self.config.image_proxy_timeout,
        )
        .await
    }

    pub async fn image_senders(&self, user: UserId) -> MailResult<Vec<ImageSender>> {
        let rows = self.store.mail_image_senders(user).await?;
        Ok(rows.into_iter().map(|r| ImageSender { address: r.address, created_at: r.created_at }).collect())
    }

    /// "Always show images from this sender"; already trusted is fine.
    pub async fn trust_sender(&self, user: UserId, address: &str) -> MailResult<ImageSender> {
        let address = sender_address(address)?;
        let row = self.store.add_mail_image_sender(user, &address, MAX_TRUSTED_SENDERS, self.clock.now()).await?;
        Ok(ImageSender { address: row.address, created_at: row.created_at })
    }

    /// Takes a sender off the list.
    pub async fn distrust_sender(&self, user: UserId, address: &str) -> MailResult<()> {
        let address = sender_address(address)?;
        self.store.remove_mail_image_sender(user, &address).await.map_err(|e| match e {
            crate::store::StoreError::NotFound => MailError::SenderNotFound,
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(KeyedHasher::new(b"test key").unwrap())
    }

    #[test]
    fn signatures_bind_the_user_and_the_url() {
        let s = signer();
        let url = "https://a.example/x.png";
        let sig = s.sign(UserId(1), url);
        assert!(s.verify(UserId(1), url, &sig));
        assert!(!s.verify(UserId(2), url, &sig), "another user's link");
        assert!(!s.verify(UserId(1), "https://a.example/y.png", &sig), "another URL");
        assert!(!s.verify(UserId(1), url, &sig[1..]));
        assert!(!s.verify(UserId(1), url, "not base64 !"));
        let other = Signer::new(KeyedHasher::new(b"other key").unwrap());
        assert!(!other.verify(UserId(1), url, &sig), "another instance's key");
    }

    #[test]
    fn proxy_urls_are_escaped_and_only_for_fetchable_urls() {
        let s = signer();
        let proxied = s.proxy_url(UserId(7), "https://a.example/x.png?a=1&b=2 3").unwrap();
        let sig = s.sign(UserId(7), "https://a.example/x.png?a=1&b=2 3");
        assert_eq!(proxied, format!("{PROXY_PATH}?u=https%3A%2F%2Fa.example%2Fx.png%3Fa%3D1%26b%3D2%203&s={sig}"));
        for refused in [
            "ftp://a.example/x.png".to_string(),
            "https://user:pw@a.example/x.png".into(),
            "javascript:alert(1)".into(),
            format!("https://a.example/{}", "x".repeat(MAX_URL)),
        ] {
            assert_eq!(s.proxy_url(UserId(7), &refused), None, "{refused}");
        }
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_before_connecting() {
        let config = MailConfig::default();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = client(tls, &config).unwrap();
        let closed = OutboundPolicy::default();
        let get = |url: &'static str| fetch(&client, &closed, url, 1024, Duration::from_secs(5));
        // In the URL: checked here. By name: checked by the client's resolver.
        for url in ["http://169.254.169.254/latest/meta-data", "http://[::1]/x.png", "http://10.0.0.1/x.png"] {
            assert!(matches!(get(url).await, Err(ImageError::Blocked(_))), "{url}");
        }
        assert!(matches!(get("http://localhost:9/x.png").await, Err(ImageError::Blocked(_))));
        assert!(matches!(get("gopher://a.example/").await, Err(ImageError::Invalid(_))));
    }

    #[test]
    fn sender_addresses_are_normalised() {
        assert_eq!(sender_address(" Kim@Example.COM ").unwrap(), "kim@example.com");
        for bad in ["", "kim", "@example.com", "kim@", "k m@example.com", "kim@exa\u{7}mple.com"] {
            assert!(sender_address(bad).is_err(), "{bad:?}");
        }
    }
}
