//! External calendar subscriptions: a user's `webcal://`/`https://` feed fetched by Madang and served as a read-only calendar in their home, so every CalDAV client sees it without subscription support of its own.
//!
//! The calendar is a derived collection (`Derived::Subscription`): its members
//! are the feed's objects, one per UID (overrides and referenced VTIMEZONEs
//! with it, `collections::ics::split`), written by `Store::sync_derived`, which
//! writes only what changed, so clients get ordinary `sync-collection` deltas.
//!
//! Fetching: a conditional GET (the last `ETag`/`Last-Modified`; a 304 touches
//! nothing but a counter), at most `dav.subscription_max_size` bytes within
//! `dav.subscription_timeout`, redirects followed here (at most
//! `dav.subscription_max_redirects`), each target checked again; every host
//! name is resolved by the outbound guard inside the HTTP client (`crate::outbound`,
//! the same guard as the mail image proxy), so no internal address is reached
//! unless `dav.subscription_allowed_networks` allows it. A fetch that fails in
//! any way (status, size, time, not iCalendar) is recorded as the subscription's
//! `last_error` and leaves the stored calendar as it was.
//!
//! The URL may be a secret (Google's "secret address in iCal format"): it is
//! sealed at rest with the instance's secret box, shown only to its owner, and
//! never logged; logs and errors name the host.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::auth::secretbox::SecretBox;
use crate::collections::{Collections, etag_of, ics};
use crate::config::SubscriptionConfig;
use crate::domain::UserId;
use crate::outbound::{OutboundError, OutboundPolicy};
use crate::store::dav::{CollectionProps, DerivedMember, FetchOutcome, Subscription};
use crate::store::{Store, StoreError};

/// The longest feed URL accepted.
pub const MAX_URL: usize = 2048;
/// What the remote server sees of Madang.
const USER_AGENT: &str = concat!("Madang/", env!("CARGO_PKG_VERSION"), " (calendar subscription)");
/// Sealing context: a sealed URL cannot be passed off as another secret.
const SEAL_CONTEXT: &str = "dav-subscription-url";

/// Why a subscription cannot be made or refreshed now.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Limit(String),
    /// Another fetch of it is under way.
    #[error("this calendar is being fetched already; try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service: configuration, the guarded HTTP client and the box that seals URLs.
pub struct Subscriptions {
    pub config: SubscriptionConfig,
    client: http_client::Client,
    secretbox: SecretBox,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A feed URL as fetched (`webcal` turned into `https`) and the host it names.
pub fn checked_url(raw: &str) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(format!("url: at most {MAX_URL} characters"));
    }
    let mut url = url::Url::parse(raw).map_err(|e| format!("url: not a URL ({e})"))?;
    // `webcal` names a calendar to subscribe to, not a protocol: it is fetched over HTTPS
    // (as Apple's and Google's clients do).
    if matches!(url.scheme(), "webcal" | "webcals") {
        let rest = &raw[raw.find(':').unwrap_or(0)..];
        url = url::Url::parse(&format!("https{rest}")).map_err(|e| format!("url: not a URL ({e})"))?;
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url: only webcal://, https:// and http:// feeds can be subscribed to".into());
    }
    if url.host().is_none() {
        return Err("url: the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url: a URL with a user name or password is not supported".into());
    }
    url.set_fragment(None);
    Ok(url)
}

/// A fetched feed, or how it ended without one.
enum Fetched {
    Body { text: String, etag: Option<String>, last_modified: Option<String> },
    NotModified,
}

impl Subscriptions {
    pub fn new(config: SubscriptionConfig, secretbox: SecretBox) -> Result<Subscriptions, String> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = http_client::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(crate::mail::images::Guard(config.outbound.clone()))
            // A proxy from the environment would connect elsewhere than the guard vetted.
            .no_proxy()
            .redirect(http_client::redirect::Policy::none())
            .referer(false)
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("dav: the subscriptions' HTTP client: {e}"))?;
        Ok(Subscriptions { config, client, secretbox })
    }

    /// The service with other settings, same key.
    pub fn reconfigured(&self, config: SubscriptionConfig) -> Result<Subscriptions, String> {
        Subscriptions::new(config, self.secretbox.clone())
    }

    /// The subscription's URL, opened; for its owner's eyes only.
    pub fn url_of(&self, s: &Subscription) -> Result<String, SubscriptionError> {
        let owner = s.collection.owner.map(|o| o.0).unwrap_or_default();
        let bytes = self
            .secretbox
            .open(&s.url_sealed, &format!("{SEAL_CONTEXT}\0{owner}"))
            .map_err(|e| StoreError::Internal(format!("a subscription URL cannot be opened: {e}")))?;
        String::from_utf8(bytes).map_err(|e| StoreError::Internal(e.to_string()).into())
    }

    /// Subscribes `user` to the feed at `raw` as calendar `slug` and fetches it once; the
    /// subscription is made even when that first fetch fails (its error is in the state).
    pub async fn subscribe(
        &self,
        store: &Store,
        collections: &Collections,
        user: UserId,
        (raw, slug, props): (&str, &str, CollectionProps),
        now: DateTime<Utc>,
    ) -> Result<Subscription, SubscriptionError> {
        if self.config.max_per_user == 0 {
            return Err(SubscriptionError::Limit("calendar subscriptions are turned off on this server".into()));
        }
        let url = checked_url(raw).map_err(SubscriptionError::Invalid)?;
        if store.subscriptions(user).await?.len() >= self.config.max_per_user {
            return Err(SubscriptionError::Limit(format!(
                "at most {} calendar subscriptions per user (dav.subscription_max_per_user)",
                self.config.max_per_user
            )));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let sealed = self
            .secretbox
            .seal(url.as_str().as_bytes(), &format!("{SEAL_CONTEXT}\0{}", user.0))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let created = store.create_subscription(user, slug, &props, (&sealed, &host), now).await?;
        tracing::info!(subscription = created.collection.id.0, %host, "calendar subscription made");
        self.refresh_now(store, collections, &created, now).await
    }

    /// Fetches `s` now, due or not; `Busy` when another fetch of it is under way.
    pub async fn refresh_now(
        &self,
        store: &Store,
        collections: &Collections,
        s: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<Subscription, SubscriptionError> {
        if !store.claim_subscription(s.collection.id, now, now + self.lease()).await? {
            return Err(SubscriptionError::Busy);
        }
        self.fetch_claimed(store, collections, s, now).await?;
        let owner = s.collection.owner.unwrap_or(UserId(0));
        store.subscription(owner, &s.collection.slug).await?.ok_or(SubscriptionError::Store(StoreError::NotFound))
    }

    /// Fetches every subscription due at `now`, one after the other; how many were fetched.
    /// Each is claimed first, so processes sharing a database share the work without doubling it.
    pub async fn refresh_due(
        &self,
        store: &Store,
        collections: &Collections,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut done = 0;
        while let Some(s) = store.claim_due_subscription(now, now + self.lease()).await? {
            self.fetch_claimed(store, collections, &s, now).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Longer than any fetch may take, so a claim outlives its fetch unless the process died.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.timeout * 2 + Duration::from_secs(60))
            .unwrap_or(chrono::Duration::minutes(5))
    }

    /// Fetches a subscription this process claimed and records the outcome (which releases it).
    async fn fetch_claimed(
        &self,
        store: &Store,
        collections: &Collections,
        s: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = s.collection.id;
        let outcome = match self.url_of(s) {
            Err(e) => FetchOutcome::Failed(e.to_string()),
            Ok(url) => match self.fetch(&url, s).await {
                Err(e) => FetchOutcome::Failed(e),
                Ok(Fetched::NotModified) => FetchOutcome::NotModified,
                Ok(Fetched::Body { text, etag, last_modified }) => {
                    let limits = collections.limits();
                    let max_member = collections.config.max_resource_size;
                    let parsed = tokio::task::spawn_blocking(move || members_of(&text, &limits, max_member))
                        .await
                        .map_err(|e| StoreError::Internal(e.to_string()))?;
                    match parsed {
                        Err(e) => FetchOutcome::Failed(e),
                        Ok(feed) => {
                            store
                                .sync_derived(
                                    id,
                                    &crate::collections::derived::members_fingerprint(&feed.members),
                                    &feed.members,
                                    now,
                                )
                                .await?;
                            FetchOutcome::Fetched { etag, last_modified, feed_interval: feed.interval }
                        }
                    }
                }
            },
        };
        let interval = match &outcome {
            FetchOutcome::Failed(_) => self.config.min_refresh,
            FetchOutcome::Fetched { feed_interval, .. } => self.interval(*feed_interval),
            FetchOutcome::NotModified => self.interval(s.feed_interval),
        };
        match &outcome {
            FetchOutcome::Failed(e) => {
                tracing::info!(subscription = id.0, host = %s.host, error = %e, "calendar subscription fetch failed");
                metrics::counter!("madang_subscription_fetches_total", "outcome" => "failed").increment(1);
            }
            FetchOutcome::NotModified => {
                metrics::counter!("madang_subscription_fetches_total", "outcome" => "not_modified").increment(1)
            }
            FetchOutcome::Fetched { .. } => {
                metrics::counter!("madang_subscription_fetches_total", "outcome" => "fetched").increment(1)
            }
        }
        let next = now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::hours(6));
        store.finish_subscription_fetch(id, &outcome, now, next).await
    }

    /// The feed's interval (or the configured one) within the configured bounds.
    fn interval(&self, feed: Option<i64>) -> Duration {
        let wanted = feed.map(|s| Duration::from_secs(s.max(0) as u64)).unwrap_or(self.config.refresh);
        wanted.clamp(self.config.min_refresh, self.config.max_refresh.max(self.config.min_refresh))
    }

    /// One conditional GET with redirects, all within the time limit. The error is for the
    /// user's eyes and the log: it never contains the URL.
    async fn fetch(&self, raw: &str, s: &Subscription) -> Result<Fetched, String> {
        let work = async {
            let mut url = checked_url(raw)?;
            for _ in 0..=self.config.max_redirects {
                check_literal(&self.config.outbound, &url)?;
                let mut request =
                    self.client.get(url.clone()).header(http_client::header::ACCEPT, "text/calendar, */*;q=0.5");
                if let Some(etag) = &s.etag {
                    request = request.header(http_client::header::IF_NONE_MATCH, etag);
                }
                if let Some(modified) = &s.last_modified {
                    request = request.header(http_client::header::IF_MODIFIED_SINCE, modified);
                }
                let mut response = request.send().await.map_err(classify)?;
                let status = response.status();
                if status == http_client::StatusCode::NOT_MODIFIED {
                    return Ok(Fetched::NotModified);
                }
                if status.is_redirection() {
                    let location = response
                        .headers()
                        .get(http_client::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .ok_or_else(|| format!("a redirect ({status}) without a Location"))?;
                    let next = url.join(location).map_err(|_| "a redirect to a malformed URL".to_string())?;
                    url = checked_url(next.as_str())
                        .map_err(|e| format!("a redirect to a URL that is not fetched: {e}"))?;
                    continue;
                }
                if !status.is_success() {
                    return Err(format!("the server answered {status}"));
                }
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v: &http_client::header::HeaderValue| v.to_str().ok())
                        .map(str::to_string)
                };
                let etag = header(http_client::header::ETAG);
                let last_modified = header(http_client::header::LAST_MODIFIED);
                let max = self.config.max_size;
                let too_large = || format!("the feed is larger than {max} bytes (dav.subscription_max_size)");
                if response.content_length().is_some_and(|n| n > max as u64) {
                    return Err(too_large());
                }
                // Read in chunks and stop past the limit, whatever Content-Length said.
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(classify)? {
                    if bytes.len() + chunk.len() > max {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes).map_err(|_| "the feed is not UTF-8 text".to_string())?;
                return Ok(Fetched::Body { text, etag, last_modified });
            }
            Err(format!("more than {} redirects (dav.subscription_max_redirects)", self.config.max_redirects))
        };
        tokio::time::timeout(self.config.timeout, work).await.unwrap_or_else(|_| {
            Err(format!("no complete answer within {:?} (dav.subscription_timeout)", self.config.timeout))
        })
    }
}

/// An address written in the URL is never resolved, so the client's guard does not see it.
fn check_literal(policy: &OutboundPolicy, url: &url::Url) -> Result<(), String> {
    match crate::mail::images::literal_refusal(policy, url) {
        None => Ok(()),
        Some(refused) => Err(guard_words(&refused)),
    }
}

/// The guard's refusal naming this feature's setting (the guard's own text names mail's).
fn guard_words(refused: &OutboundError) -> String {
    refused.to_string().replace("mail.allowed_networks", "dav.subscription_allowed_networks")
}

/// A request error in words, without the URL (reqwest puts it in its message).
fn classify(e: http_client::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let e = e.without_url();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut last = e.to_string();
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<OutboundError>() {
            return guard_words(refused);
        }
        last = c.to_string();
        cause = c.source();
    }
    format!("the server could not be reached: {last}")
}

/// A feed's members and the refresh interval it asks for.
#[derive(Debug)]
struct Feed {
    members: Vec<DerivedMember>,
    interval: Option<i64>,
}

/// Splits a feed into one member per UID. Components that cannot be stored (no UID, invalid,
/// larger than `dav.max_resource_size`) are left out; a body that is not iCalendar at all, or
/// has nothing storable, is an error, so a garbage answer never empties the calendar.
fn members_of(text: &str, limits: &madang_ical::Limits, max_member: usize) -> Result<Feed, String> {
    let items = ics::split(text).map_err(|e| format!("the feed is not an iCalendar file ({e})"))?;
    let calendar = ics::parse_vcalendar(text).map_err(|e| format!("the feed is not an iCalendar file ({e})"))?;
    let interval = ["REFRESH-INTERVAL", "X-PUBLISHED-TTL"]
        .iter()
        .find_map(|name| calendar.prop(name).and_then(|p| iso_duration(p.text().trim())));
    let total = items.len();
    let mut members = Vec::new();
    for (uid, data) in items.into_iter().flatten() {
        if data.len() > max_member {
            continue;
        }
        let Ok(object) = madang_ical::parse_object(&data) else { continue };
        if object.check_limits(limits).is_err() {
            continue;
        }
        let index = object.index(limits);
        let key: String = Sha256::digest(uid.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
        members.push(DerivedMember {
            name: format!("{key}.ics"),
            component: object.kind().name().to_string(),
            uid,
            etag: etag_of(&data),
            data,
            range_start: index.start,
            range_end: index.end,
            range_exact: index.exact,
        });
    }
    if members.is_empty() && total > 0 {
        return Err("none of the feed's events could be read".into());
    }
    Ok(Feed { members, interval })
}

/// An RFC 5545 §3.3.6 duration (`P1W`, `PT12H`, `P1DT30M`) in seconds; `None` for anything
/// else or a negative one.
fn iso_duration(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('+').unwrap_or(text).strip_prefix('P')?;
    let (mut total, mut number, mut in_time, mut any) = (0i64, String::new(), false, false);
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' if number.is_empty() && !in_time => in_time = true,
            _ => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                let unit = match (c, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    (any && number.is_empty()).then_some(total)
}

/// Starts the background refresher (the server calls this once): every minute, the due
/// subscriptions are fetched.
pub fn spawn(
    store: Store,
    collections: std::sync::Arc<Collections>,
    subscriptions: std::sync::Arc<Subscriptions>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = subscriptions.refresh_due(&store, &collections, clock.now()).await {
                tracing::warn!(error = %e, "refreshing calendar subscriptions failed");
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(checked_url("webcal://example.com/a.ics").unwrap().as_str(), "https://example.com/a.ics");
        assert_eq!(checked_url(" https://example.com/a.ics#x ").unwrap().as_str(), "https://example.com/a.ics");
        assert_eq!(checked_url("http://127.0.0.1:8080/a").unwrap().as_str(), "http://127.0.0.1:8080/a");
        for bad in ["ftp://example.com/a.ics", "file:///etc/passwd", "https://u:p@example.com/", "not a url", "webcal:"]
        {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
        assert!(checked_url(&format!("https://example.com/{}", "a".repeat(MAX_URL))).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(iso_duration("P1W"), Some(604_800));
        assert_eq!(iso_duration("PT12H"), Some(43_200));
        assert_eq!(iso_duration("P1DT30M"), Some(88_200));
        assert_eq!(iso_duration("PT90S"), Some(90));
        for bad in ["", "P", "1H", "PT", "P1H", "-P1D", "PT1X", "P1D2"] {
            assert_eq!(iso_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn intervals_are_bounded() {
        let key = crate::auth::secretbox::EncryptionKey([7; 32]);
        let config = SubscriptionConfig {
            refresh: Duration::from_secs(6 * 3600),
            min_refresh: Duration::from_secs(900),
            max_refresh: Duration::from_secs(86_400),
            ..SubscriptionConfig::default()
        };
        let s = Subscriptions::new(config, SecretBox::new(&key)).unwrap();
        assert_eq!(s.interval(None), Duration::from_secs(6 * 3600), "the feed names none: the configured one");
        assert_eq!(s.interval(Some(60)), Duration::from_secs(900), "never below the minimum");
        assert_eq!(s.interval(Some(7 * 86_400)), Duration::from_secs(86_400), "never above the maximum");
        assert_eq!(s.interval(Some(7200)), Duration::from_secs(7200));
        assert_eq!(s.interval(Some(-5)), Duration::from_secs(900));
    }

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nREFRESH-INTERVAL;VALUE=DURATION:PT2H\r\n\
        BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:A\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T120000Z\r\nSUMMARY:A moved\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:b@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260110\r\nSUMMARY:B\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260110\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";

    #[test]
    fn feeds_split_per_uid() {
        let limits = crate::config::DavConfig::default().limits();
        let feed = members_of(FEED, &limits, 1 << 20).unwrap();
        assert_eq!(feed.interval, Some(7200));
        assert_eq!(feed.members.len(), 2, "one member per UID, the UID-less event left out");
        let a = feed.members.iter().find(|m| m.uid == "a@x").unwrap();
        assert_eq!(a.data.matches("BEGIN:VEVENT").count(), 2, "the override goes with its master");
        assert_eq!(a.component, "VEVENT");
        // Stable names: the same UID is the same member in the next fetch.
        assert_eq!(members_of(FEED, &limits, 1 << 20).unwrap().members[0].name, feed.members[0].name);
        assert!(members_of("<html>oops</html>", &limits, 1 << 20).is_err());
        assert!(members_of(FEED, &limits, 10).is_err(), "nothing storable is an error, not an empty calendar");
    }
}
