//! Finding a domain's mail servers in its DNS, for the set-up suggestion: RFC 6186 SRV records
//! (implicit TLS first, RFC 8314 §5.1), else MX records that show the domain's mail is at
//! Google Workspace or Microsoft 365 — the usual case for a small company's own domain.
//!
//! A minimal stub resolver: the messages are `madang_mail::dns` (pure, fuzzed by its tests); here
//! are only the sockets. Queries go over UDP to the nameservers of `/etc/resolv.conf` (or
//! `mail.dns_server`) with a random id from a fresh socket, so a random source port (RFC 5452
//! §9.2); answers whose id or question differ are ignored; a truncated answer is asked again over
//! TCP (RFC 7766 §5). The whole look-up is bounded by one timeout, and results are kept per
//! process for [`CACHE_TTL`], at most [`CACHE_ENTRIES`] domains, so the suggest endpoint stays
//! fast. Anything that fails is simply "nothing found": the caller falls back to its guess.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use madang_mail::dns::{self, QType, RData, Srv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::connect::Security;

/// How long a domain's result is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(600);
/// A result that came from failed look-ups (timeouts, SERVFAIL) is retried sooner.
const FAILED_TTL: Duration = Duration::from_secs(60);
/// Domains kept at most; when full, expired entries go, then everything.
pub const CACHE_ENTRIES: usize = 1024;
/// Nameservers read from resolv.conf, as glibc's MAXNS.
const MAX_NAMESERVERS: usize = 3;
/// Largest UDP answer read; the query offers `dns::UDP_PAYLOAD`, this leaves room for servers
/// that send more.
const UDP_BUFFER: usize = 4096;

/// One side (IMAP or submission) as the SRV records describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Server {
        host: String,
        port: u16,
        security: Security,
    },
    /// A target of "." (RFC 2782, as RFC 6186 §3 uses it): the domain says it has no such service.
    NotOffered,
    /// No records (or no usable ones).
    Unknown,
}

/// Mail hosts recognised from MX records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosted {
    Google,
    Microsoft,
}

/// What DNS says about a domain's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// RFC 6186 records: at least one side found or declared not offered.
    Srv {
        imap: Side,
        smtp: Side,
    },
    Hosted(Hosted),
    Nothing,
}

/// Why a look-up gave nothing; only logged, the suggestion falls back either way.
#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error(transparent)]
    Message(#[from] dns::DnsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer in time")]
    Timeout,
    #[error("the nameserver answered with RCODE {0}")]
    Rcode(u8),
    #[error("the TCP answer is not the one asked for")]
    Mismatch,
}

/// The stub resolver and its cache (one per process, in `MailService`).
pub struct Discovery {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<HashMap<String, (Instant, Found)>>,
}

impl Discovery {
    /// `server`: `mail.dns_server`, else the nameservers of `/etc/resolv.conf`. `timeout`
    /// bounds a whole discovery.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Discovery {
        let servers = match server {
            Some(s) => vec![s],
            None => nameservers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()),
        };
        Discovery { servers, timeout, cache: Mutex::new(HashMap::new()) }
    }

    /// What `domain`'s DNS says about its mail, from the cache when it is fresh.
    pub async fn find(&self, domain: &str) -> Found {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        if let Some((until, found)) = self.lock().get(&domain)
            && *until > now
        {
            return found.clone();
        }
        let (found, failed) =
            tokio::time::timeout(self.timeout, self.look_up(&domain)).await.unwrap_or((Found::Nothing, true));
        let mut cache = self.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(domain, (now + if failed { FAILED_TTL } else { CACHE_TTL }, found.clone()));
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Found)>> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The five look-ups at once; also whether any of them failed (rather than found nothing).
    async fn look_up(&self, domain: &str) -> (Found, bool) {
        let [imaps, imap, submissions, submission] =
            ["imaps", "imap", "submissions", "submission"].map(|service| format!("_{service}._tcp.{domain}"));
        let (imaps, imap, submissions, submission, mx) = tokio::join!(
            self.lookup(&imaps, QType::Srv),
            self.lookup(&imap, QType::Srv),
            self.lookup(&submissions, QType::Srv),
            self.lookup(&submission, QType::Srv),
            self.lookup(domain, QType::Mx),
        );
        let failed = [&imaps, &imap, &submissions, &submission, &mx].iter().any(|r| r.is_err());
        if failed {
            let errors: Vec<String> = [&imaps, &imap, &submissions, &submission, &mx]
                .iter()
                .filter_map(|r| r.as_ref().err().map(ToString::to_string))
                .collect();
            tracing::debug!(domain, ?errors, "mail DNS discovery: look-ups failed");
        }
        let srvs = |r: Result<Vec<RData>, LookupError>| -> Vec<Srv> {
            r.unwrap_or_default()
                .into_iter()
                .filter_map(|d| match d {
                    RData::Srv(s) => Some(s),
                    _ => None,
                })
                .collect()
        };
        let imap = side(srvs(imaps), srvs(imap), random);
        let smtp = side(srvs(submissions), srvs(submission), random);
        let exchanges: Vec<String> = mx
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| match d {
                RData::Mx(m) => Some(m.exchange),
                _ => None,
            })
            .collect();
        let found = match (&imap, &smtp, hosted(&exchanges)) {
            (Side::Server { .. }, _, _) | (_, Side::Server { .. }, _) => Found::Srv { imap, smtp },
            (_, _, Some(h)) => Found::Hosted(h),
            (Side::NotOffered, _, None) | (_, Side::NotOffered, None) => Found::Srv { imap, smtp },
            _ => Found::Nothing,
        };
        (found, failed)
    }

    /// The records for `name`, asking each nameserver in turn (each gets an equal share of the
    /// time). NXDOMAIN is an empty answer, not an error.
    async fn lookup(&self, name: &str, qtype: QType) -> Result<Vec<RData>, LookupError> {
        let share = self.timeout / u32::try_from(self.servers.len().max(1)).unwrap_or(1);
        let mut last = LookupError::Timeout;
        for server in &self.servers {
            match tokio::time::timeout(share, ask(*server, name, qtype)).await {
                Ok(Ok(records)) => return Ok(records),
                Ok(Err(e)) => last = e,
                Err(_) => last = LookupError::Timeout,
            }
        }
        Err(last)
    }
}

/// One question to one nameserver: UDP, then TCP if the answer was truncated.
async fn ask(server: SocketAddr, name: &str, qtype: QType) -> Result<Vec<RData>, LookupError> {
    let id = u16::try_from(random(u32::from(u16::MAX))).unwrap_or(0);
    let query = dns::query(id, name, qtype)?;
    let local: IpAddr = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    // A fresh socket on port 0 gets a random ephemeral port; connecting it makes the kernel
    // drop datagrams from anyone but the nameserver.
    let socket = tokio::net::UdpSocket::bind((local, 0)).await?;
    socket.connect(server).await?;
    socket.send(&query).await?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Garbage, or an answer to another question: keep waiting for ours (RFC 5452 §9.1).
        let Some(message) = dns::parse(&buf[..n]).ok().filter(|m| m.is_answer_to(id, name, qtype)) else {
            continue;
        };
        if message.truncated {
            return ask_tcp(server, id, &query, name, qtype).await;
        }
        return records(&message, name);
    }
}

/// The same question over TCP, with the two-byte length prefix (RFC 1035 §4.2.2).
async fn ask_tcp(
    server: SocketAddr,
    id: u16,
    query: &[u8],
    name: &str,
    qtype: QType,
) -> Result<Vec<RData>, LookupError> {
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    let len = u16::try_from(query.len()).map_err(|_| dns::DnsError::BadName(name.into()))?;
    stream.write_all(&[&len.to_be_bytes()[..], query].concat()).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    let message = dns::parse(&buf)?;
    if !message.is_answer_to(id, name, qtype) {
        return Err(LookupError::Mismatch);
    }
    records(&message, name)
}

fn records(message: &dns::Message, name: &str) -> Result<Vec<RData>, LookupError> {
    match message.rcode {
        // NOERROR (maybe no records: NODATA), NXDOMAIN: nothing there.
        0 | 3 => Ok(message.records_for(name).into_iter().cloned().collect()),
        rcode => Err(LookupError::Rcode(rcode)),
    }
}

/// A number in `0..=max` from the operating system's generator (it also makes the query ids,
/// which must not be guessable: RFC 5452 §9.2).
fn random(max: u32) -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0;
    }
    let n = u32::from_be_bytes(bytes);
    match max.checked_add(1) {
        Some(m) => n % m,
        None => n,
    }
}

/// One side from its implicit-TLS records and its STARTTLS records: RFC 8314 §5.1 prefers
/// implicit TLS, so those are used when there are any; within a set, RFC 2782 order. A set whose
/// only target is "." says the service is not offered that way (RFC 2782).
pub fn side(tls: Vec<Srv>, starttls: Vec<Srv>, random: impl FnMut(u32) -> u32 + Copy) -> Side {
    let mut not_offered = false;
    for (records, security) in [(tls, Security::Tls), (starttls, Security::Starttls)] {
        if records.is_empty() {
            continue;
        }
        let dot_only = records.iter().all(|r| r.target == ".");
        let usable: Vec<Srv> =
            records.into_iter().filter(|r| r.target != "." && r.port != 0 && host_name(&r.target)).collect();
        match dns::order_srv(usable, random).into_iter().next() {
            Some(first) => return Side::Server { host: first.target, port: first.port, security },
            None => not_offered |= dot_only,
        }
    }
    if not_offered { Side::NotOffered } else { Side::Unknown }
}

/// Whether a name from DNS can be offered as a host: letters, digits, `-` and dots only (the
/// parser escapes anything else, so an escaped byte fails here).
fn host_name(name: &str) -> bool {
    name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Google Workspace (`aspmx.l.google.com`, `smtp.google.com`, `*.googlemail.com`) or Microsoft
/// 365 (`*.mail.protection.outlook.com`, and `*.mx.microsoft` of its DNSSEC-signed MX) from the
/// domain's MX hosts, if all of them agree.
pub fn hosted(exchanges: &[String]) -> Option<Hosted> {
    let of = |mx: &str| {
        let mx = mx.trim_end_matches('.').to_ascii_lowercase();
        if mx.ends_with(".google.com") || mx.ends_with(".googlemail.com") {
            Some(Hosted::Google)
        } else if mx.ends_with(".mail.protection.outlook.com") || mx.ends_with(".mx.microsoft") {
            Some(Hosted::Microsoft)
        } else {
            None
        }
    };
    // A domain whose MX hosts are partly elsewhere (a filtering service in front, a migration)
    // may keep its mailboxes anywhere: no hint then.
    let first = of(exchanges.first()?)?;
    exchanges.iter().all(|mx| of(mx) == Some(first)).then_some(first)
}

/// The `nameserver` lines of resolv.conf(5), at most three; none means the local machine, as
/// the C library assumes.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut found: Vec<SocketAddr> = resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        // A scoped IPv6 address (`fe80::1%eth0`) does not parse and is skipped.
        .filter_map(|addr| addr.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .take(MAX_NAMESERVERS)
        .collect();
    if found.is_empty() {
        found.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 53));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv { priority, weight, port, target: target.into() }
    }

    fn server(host: &str, port: u16, security: Security) -> Side {
        Side::Server { host: host.into(), port, security }
    }

    #[test]
    fn implicit_tls_first_then_starttls() {
        let first = |_| 0;
        let tls = vec![srv(10, 0, 993, "b.example.test"), srv(0, 0, 993, "a.example.test")];
        let starttls = vec![srv(0, 0, 143, "plain.example.test")];
        assert_eq!(side(tls.clone(), starttls.clone(), first), server("a.example.test", 993, Security::Tls));
        assert_eq!(side(vec![], starttls.clone(), first), server("plain.example.test", 143, Security::Starttls));
        // "." for implicit TLS, STARTTLS offered: that one.
        assert_eq!(
            side(vec![srv(0, 0, 0, ".")], starttls, first),
            server("plain.example.test", 143, Security::Starttls)
        );
        assert_eq!(side(vec![srv(0, 0, 0, ".")], vec![], first), Side::NotOffered);
        assert_eq!(side(vec![srv(0, 0, 0, ".")], vec![srv(0, 0, 0, ".")], first), Side::NotOffered);
        assert_eq!(side(vec![], vec![], first), Side::Unknown);
        // A target that is no host name (escaped bytes) or port 0 is not used, nor taken for "not
        // offered".
        let unusable = vec![srv(0, 0, 993, "a\\032b.example.test"), srv(1, 0, 0, "c.test")];
        assert_eq!(side(unusable.clone(), vec![], first), Side::Unknown);
        assert_eq!(side(unusable, vec![srv(0, 0, 587, "s.test")], first), server("s.test", 587, Security::Starttls));
    }

    #[test]
    fn mx_hosts_of_google_and_microsoft() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(hosted(&v(&["aspmx.l.google.com", "alt1.aspmx.l.google.com."])), Some(Hosted::Google));
        assert_eq!(hosted(&v(&["smtp.google.com"])), Some(Hosted::Google));
        assert_eq!(hosted(&v(&["example-com.mail.protection.outlook.com"])), Some(Hosted::Microsoft));
        assert_eq!(hosted(&v(&["example-com.r-v1.mx.microsoft"])), Some(Hosted::Microsoft));
        assert_eq!(hosted(&v(&["mx.example.com"])), None);
        assert_eq!(hosted(&v(&["filter.example.net", "aspmx.l.google.com"])), None);
        assert_eq!(hosted(&v(&["google.com.evil.test", "notgoogle.com"])), None);
        assert_eq!(hosted(&[]), None);
    }

    #[test]
    fn resolv_conf() {
        let text = "# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver ::1\n\
                    nameserver fe80::1%eth0\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n";
        assert_eq!(
            nameservers(text),
            vec!["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap(), "192.0.2.1:53".parse().unwrap()]
        );
        assert_eq!(nameservers(""), vec!["127.0.0.1:53".parse().unwrap()]);
    }

    #[test]
    fn random_stays_in_range() {
        assert!((0..200).all(|_| random(3) <= 3));
        assert_eq!(random(0), 0);
        let _ = random(u32::MAX);
    }
}
